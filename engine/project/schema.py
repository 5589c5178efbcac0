"""JSON Schemas (Draft 2020-12) shipped with the package; validation returns every problem."""
from __future__ import annotations

import json
import math
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from ..errors import Problem
from ..hints import did_you_mean
from .loader import Document

KINDS = ("project", "metrics", "thresholds", "facts", "rules", "playbook", "portfolio", "priority", "tests")


@cache
def schema(kind: str) -> dict[str, Any]:
    text = resources.files("engine.project").joinpath("schemas").joinpath(f"{kind}.schema.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@cache
def _validator(kind: str) -> Draft202012Validator:
    s = schema(kind)
    Draft202012Validator.check_schema(s)
    return Draft202012Validator(s)


def _breadcrumb(doc: Document, path: tuple[Any, ...]) -> str:
    """Name objects by their id, not their index: `rule 'low_nps' → when`."""
    parts: list[str] = []
    node: Any = doc.data
    for key in path:
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            break
        if isinstance(key, int) and isinstance(node, dict) and isinstance(node.get("id"), str):
            parts[-1:] = [f"{parts[-1][:-1] if parts and parts[-1].endswith('s') else 'item'} '{node['id']}'"]
        else:
            parts.append(str(key) if not isinstance(key, int) else f"[{key}]")
    return " → ".join(parts)


def _message(err: ValidationError) -> tuple[tuple[Any, ...], str]:
    """The position to point at and a message a person understands."""
    path = tuple(err.absolute_path)
    if err.validator == "additionalProperties" and isinstance(err.instance, dict):
        assert isinstance(err.schema, Mapping)  # the keyword sits in an object schema
        allowed = list(err.schema.get("properties", {}))
        extra = [k for k in err.instance if k not in allowed]
        if extra:
            key = extra[0]
            tip = did_you_mean(str(key), allowed, otherwise=f" (allowed: {', '.join(allowed)})")
            return path + (key,), f"unknown key '{key}'{tip}"
    if err.validator == "required":
        return path, err.message.replace("is a required property", "is required")
    if err.validator == "oneOf" and err.context:
        best = min(err.context, key=lambda e: len(list(e.absolute_path)))
        return path, best.message
    if err.validator == "enum":
        assert isinstance(err.validator_value, list)  # an enum's value is an array (the schemas are JSON)
        return path, f"{err.instance!r} is not one of {', '.join(map(repr, err.validator_value))}"
    if err.validator == "const":
        return path, f"{err.instance!r} should be {err.validator_value!r}"
    if err.validator == "pattern" and "^[a-z]" in str(err.validator_value):
        return path, (f"{err.instance!r} is not a valid id "
                      "(lower-case letters, digits and '_', starting with a letter)")
    return path, err.message


def validate(doc: Document, kind: str) -> list[Problem]:
    """Every schema violation of one document, positioned and named by breadcrumb."""
    problems: list[Problem] = []
    for err in _validator(kind).iter_errors(doc.data):
        problems.append(_problem(doc, *_message(err)))
    # JSON Schema's "number" admits YAML's .nan and .inf; no threshold, weight or bound may be one
    problems += [_problem(doc, path, f"{_YAML_FLOAT.get(repr(v), repr(v))} is not a number; write a "
                                     "finite number") for path, v in _non_finite(doc.data, ())]
    return problems


_YAML_FLOAT = {"nan": ".nan", "inf": ".inf", "-inf": "-.inf"}


def _non_finite(data: Any, path: tuple[Any, ...]) -> list[tuple[tuple[Any, ...], float]]:
    if isinstance(data, float):
        return [] if math.isfinite(data) else [(path, data)]
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    return [found for k, v in items for found in _non_finite(v, path + (k,))]


def _problem(doc: Document, path: tuple[Any, ...], message: str) -> Problem:
    crumb = _breadcrumb(doc, path[:-1] if path and not isinstance(path[-1], int) else path)
    field = path[-1] if path and not isinstance(path[-1], int) else None
    where = " → ".join(p for p in (crumb, str(field) if field is not None else "") if p)
    return doc.problem(path, f"{where}: {message}" if where else message)
