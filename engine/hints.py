"""The "did you mean" hint on an unknown name: written once, so every message words it alike."""
from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence


def nearest(word: str, choices: Iterable[str], n: int = 1, cutoff: float = 0.6) -> list[str]:
    """The choices closest to word, best first (none when nothing is close)."""
    return difflib.get_close_matches(word, list(choices), n=n, cutoff=cutoff)


def mean(names: Sequence[str]) -> str:
    """The bare hint, "did you mean 'x'?" ('x' or 'y' for several), "" for none: for a message
    that places it itself."""
    quoted = " or ".join(f"'{n}'" for n in names)
    return f"did you mean {quoted}?" if names else ""


def did_you_mean(word: str, choices: Iterable[str], otherwise: str = "") -> str:
    """The hint " (did you mean 'x'?)" for the choice closest to word; otherwise (e.g. " (allowed: …)")
    when none is close."""
    near = nearest(word, choices)
    return f" ({mean(near)})" if near else otherwise
