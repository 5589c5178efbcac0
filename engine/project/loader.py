"""YAML -> plain data plus a map of where every value sits, for errors with line and column.

Untrusted input: only the safe loader's node tree is used, duplicate keys are errors,
timestamps stay strings, and alias expansion is bounded (a "billion laughs" file fails fast).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import KamError, Problem

# Bound on values produced by expanding a document (aliases included); real rule files
# have a few thousand, an alias bomb has billions.
MAX_NODES = 200_000
MAX_BYTES = 5_000_000

PathKey = tuple[Any, ...]  # a JSON path: ("rules", 3, "when")


class _NoDatesLoader(yaml.SafeLoader):
    """SafeLoader without the timestamp resolver: '2026-01-01' stays a string."""


_NoDatesLoader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@dataclass
class Document:
    """One loaded YAML file: its data and the (line, col) of every key and value."""

    path: str
    data: Any
    positions: dict[PathKey, tuple[int, int]] = field(default_factory=dict)

    def where(self, key: PathKey) -> tuple[int, int]:
        """Position of the nearest enclosing node that has one."""
        key = tuple(key)
        while key:
            if key in self.positions:
                return self.positions[key]
            key = key[:-1]
        return self.positions.get((), (1, 1))

    def problem(self, key: PathKey, message: str) -> Problem:
        line, col = self.where(key)
        return Problem(self.path, line, col, message)


class _Builder:
    def __init__(self, path: str):
        self.path = path
        self.positions: dict[PathKey, tuple[int, int]] = {}
        self.count = 0
        self.constructor = _NoDatesLoader("")

    def build(self, node: yaml.Node, key: PathKey) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise KamError(Problem(self.path, node.start_mark.line + 1, node.start_mark.column + 1,
                                   f"document expands to more than {MAX_NODES} values "
                                   "(an alias bomb?); refusing to load it"))
        self.positions.setdefault(key, (node.start_mark.line + 1, node.start_mark.column + 1))
        if isinstance(node, yaml.MappingNode):
            out: dict[Any, Any] = {}
            self.constructor.flatten_mapping(node)
            for knode, vnode in node.value:
                k = self.build_scalar_key(knode)
                if k in out:
                    raise KamError(Problem(self.path, knode.start_mark.line + 1,
                                           knode.start_mark.column + 1, f"duplicate key '{k}'"))
                out[k] = self.build(vnode, key + (k,))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(child, key + (i,)) for i, child in enumerate(node.value)]
        return self.constructor.construct_object(node, deep=True)

    def build_scalar_key(self, node: yaml.Node) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            raise KamError(Problem(self.path, node.start_mark.line + 1, node.start_mark.column + 1,
                                   "a mapping key must be a plain value"))
        k = self.constructor.construct_object(node)
        return k if isinstance(k, (str, int, float, bool)) or k is None else str(k)


_PLAIN_TAGS = {"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"}


def _check_graph(root: yaml.Node, path: str) -> None:
    """Refuse a document before anything is expanded: its size with every alias (and merge
    key) expanded must stay under MAX_NODES, and collections carry no tags. The builder's own
    count comes too late for merge keys: `flatten_mapping` copies merged pairs eagerly, so
    nested `<<: [*a, *a, ...]` would allocate gigabytes before the first value is counted.
    A tagged collection (`!!python/object/apply:...`) would be read as a plain list/dict
    with its tag silently dropped; it is an error instead."""
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    active: set[int] = set()
    while stack:  # iterative post-order: no recursion limit on deep nesting
        node, done = stack.pop()
        key = id(node)
        if key in sizes:
            continue
        children = ([c for pair in node.value for c in pair] if isinstance(node, yaml.MappingNode)
                    else list(node.value) if isinstance(node, yaml.SequenceNode) else [])
        if not done:
            if isinstance(node, yaml.CollectionNode) and node.tag not in _PLAIN_TAGS:
                raise KamError(Problem(path, node.start_mark.line + 1, node.start_mark.column + 1,
                                       f"YAML tag '{node.tag}' is not allowed"))
            if key in active:
                raise KamError(Problem(path, node.start_mark.line + 1, node.start_mark.column + 1,
                                       "recursive YAML alias"))
            active.add(key)
            stack.append((node, True))
            stack.extend((c, False) for c in children if id(c) not in sizes)
            continue
        active.discard(key)
        sizes[key] = 1 + sum(sizes[id(c)] for c in children)
        if sizes[key] > MAX_NODES:
            raise KamError(Problem(path, node.start_mark.line + 1, node.start_mark.column + 1,
                                   f"document expands to more than {MAX_NODES} values "
                                   "(an alias bomb?); refusing to load it"))


# PyYAML's words for a line that does not line up with its block (it has no error codes)
_MISALIGNED = ("expected <block end>", "did not find expected key", "did not find expected '-' indicator")


def _hint(text: str, exc: yaml.MarkedYAMLError, line: int) -> str:
    """Where to look: most syntax errors in a hand-edited file are indentation, and PyYAML's
    own words ('expected <block end>, but found ...') do not say so."""
    mark = exc.problem_mark
    if mark is None:
        return ""
    if text[mark.index:mark.index + 1] == "\t":
        return f"; YAML indents with spaces, not tabs: check the indentation of line {line}"
    problem = exc.problem or ""
    if problem.startswith(_MISALIGNED):
        return f"; check the indentation of line {line}"
    if problem == "mapping values are not allowed here":
        return f"; check the indentation of line {line}, or quote a value that holds ': '"
    return ""


def load_text(text: str, path: str) -> Document:
    """Parse one YAML document; raise KamError naming the file, line and column."""
    if len(text) > MAX_BYTES:
        raise KamError(Problem(path, 0, 0, f"file is larger than {MAX_BYTES} bytes"))
    try:
        node = yaml.compose(text, Loader=_NoDatesLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        message = f"YAML syntax: {exc.problem or exc.context}{_hint(text, exc, line)}"
        raise KamError(Problem(path, line, col, message)) from None
    except yaml.YAMLError as exc:
        raise KamError(Problem(path, 0, 0, f"YAML syntax: {exc}")) from None
    except RecursionError:  # the composer recurses once per nesting level: '[[[[...'
        raise KamError(Problem(path, 0, 0, "YAML nesting is too deep")) from None
    if node is None:
        return Document(path, None, {(): (1, 1)})
    builder = _Builder(path)
    try:
        _check_graph(node, path)
        data = builder.build(node, ())
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        raise KamError(Problem(path, mark.line + 1 if mark else 0, mark.column + 1 if mark else 0,
                               f"YAML: {exc.problem}")) from None
    except RecursionError:
        raise KamError(Problem(path, 0, 0, "YAML nesting is too deep")) from None
    return Document(path, data, builder.positions)


def kind_line(file: Path) -> str | None:
    """The `kind:` a file that does not parse says it is, read off its line (or None)."""
    try:
        found = re.search(r"^kind:[ \t]*['\"]?([a-z_]+)", file.read_text("utf-8", errors="replace"), re.M)
    except OSError:
        return None
    return found.group(1) if found else None


def load_file(file: Path, display: str | None = None) -> Document:
    """Read and parse a YAML file; `display` is the path shown in messages."""
    shown = display or str(file)
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise KamError(Problem(shown, 0, 0, f"cannot read: {exc.strerror}")) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise KamError(Problem(shown, 0, 0, f"not UTF-8 text (byte {exc.start})")) from None
    return load_text(text, shown)
