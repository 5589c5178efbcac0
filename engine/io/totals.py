"""Totals and subtotal rows of sheets and exports: recognised, rejected, never evaluated.

A row is a totals row when, in any format:

- by its words: a totals word is Итого, Итог, Всего, Total, Subtotal or Grand total, in any
  case. The row's account_id is such a word alone ("Итого", "ИТОГО:", "Total"); or starts with
  one followed by a space, colon, full stop or bracket and more text ("Итого по Анне", "Total
  (RUB)") while the file's name column is empty in that row; or the account_id is empty and
  the name starts with such a word. "TOTAL-7" and "Totalizer" are no totals words, and an id
  like "Total Logistics" with a name, or in a file without a name column, is an account;
- by its sums: its account_id is empty, it has a non-zero money value (a metric whose unit is
  money), and every money value it has is the sum of that column over the rows since the
  previous totals row (a subtotal), or over all the rows above it that are not totals rows (a
  grand total), within a kopeck. Only a row that would be rejected anyway (it has no id) can
  be taken for a totals row by its sums, so a real account is never lost to this rule.

Rows are summed in file order, each file on its own, whatever their fate otherwise (a row
rejected for a bad NPS still counts in the sums: the sheet's SUM counted it too).
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

_WORD = r"\s*(итого|итог|всего|grand\s+total|sub-?total|total)"
_STARTS = re.compile(_WORD + r"(?=$|[\s:.(])", re.IGNORECASE)
_ALONE = re.compile(_WORD + r"\s*[:.]?\s*$", re.IGNORECASE)
KOPECK = 0.01


def keyword(cells: Mapping[str, Any]) -> str | None:
    """The reason a row is a totals row by its words, or None."""
    aid, name = cells.get("account_id"), cells.get("name")
    if aid.__class__ is str and aid.strip():
        if _ALONE.match(aid) or (_STARTS.match(aid) and "name" in cells and _empty(name)):
            return f"totals row ('{aid.strip()[:60]}' in account_id)"
        return None
    if _empty(aid) and name.__class__ is str and _STARTS.match(name):
        return f"totals row ('{name.strip()[:60]}' in name, no account_id)"
    return None


def _empty(cell: Any) -> bool:
    return cell is None or (cell.__class__ is str and not cell.strip())


def no_id(cells: Mapping[str, Any]) -> bool:
    return _empty(cells.get("account_id"))


class Sums:
    """The sums rule over one file's rows in order: `add` the rows (runs of them), `words`
    at a totals row by its words, and `check` a row without an id."""

    def __init__(self, money: Sequence[str]):
        self.money = tuple(money)
        self.group = [0.0] * len(self.money)  # since the previous totals row
        self.every = [0.0] * len(self.money)  # every row above that is no totals row
        self.group_rows: tuple[int, int] | None = None  # first and last row of the group
        self.every_rows: tuple[int, int] | None = None

    def add(self, first: int, last: int, sums: Sequence[float]) -> None:
        for i, s in enumerate(sums):
            self.group[i] += s
            self.every[i] += s
        self.group_rows = (self.group_rows[0] if self.group_rows else first, last)
        self.every_rows = (self.every_rows[0] if self.every_rows else first, last)

    def words(self) -> None:
        self.group = [0.0] * len(self.money)
        self.group_rows = None

    def check(self, row: int, values: Sequence[float | None]) -> str | None:
        """The reason the id-less row is a totals row by its sums; else None, and it is added."""
        given = [(i, v) for i, v in enumerate(values) if v is not None]
        if any(v for _, v in given):
            for sums, rows, what in ((self.group, self.group_rows, "rows {}-{}"),
                                     (self.every, self.every_rows, "all the rows above ({}-{})")):
                if rows and all(math.isclose(v, sums[i], rel_tol=1e-9, abs_tol=KOPECK) for i, v in given):
                    self.words()
                    shown = ", ".join(self.money[i] for i, _ in given)
                    one = len(given) == 1
                    return (f"totals row (no account_id; {shown} {'is the sum' if one else 'are the sums'} "
                            f"of {what.format(*rows)})")
        self.add(row, row, [v or 0.0 for v in values])
        return None


class Tally:
    """A chunk's (or a file's) rows as the sums rule needs them, to `replay` later in file
    order - in the main process when chunks are read in parallel: runs of rows summed, totals
    rows by their words, and the rows without an id."""

    def __init__(self, money: Sequence[str]):
        self.money = tuple(money)
        self.events: list[tuple[Any, ...]] = []
        self._run: list[Any] | None = None  # [first row, last row, sums]

    def row(self, row: int, values: Mapping[str, Any]) -> None:
        """An account's row (accepted or not): its typed values."""
        money = self._values(values)
        if self._run is None:
            self._run = [row, row, [0.0] * len(money)]
        self._run[1] = row
        run_sums = self._run[2]
        for i, v in enumerate(money):
            if v is not None:
                run_sums[i] += v

    def words(self) -> None:
        self._flush()
        self.events.append(("words",))

    def no_id(self, row: int, values: Mapping[str, Any]) -> None:
        self._flush()
        self.events.append(("check", row, self._values(values)))

    def done(self) -> list[tuple[Any, ...]]:
        self._flush()
        return self.events

    def _values(self, values: Mapping[str, Any]) -> list[float | None]:
        return [v if isinstance(v, (int, float)) and not isinstance(v, bool) else None
                for v in (values.get(m) for m in self.money)]

    def _flush(self) -> None:
        if self._run is not None:
            self.events.append(("add", *self._run))
            self._run = None


def replay(events: Sequence[tuple[Any, ...]], sums: Sums) -> dict[int, str]:
    """Run a chunk's Tally events through the file's Sums: row -> reason of the rows without
    an id that are totals rows by their sums."""
    found: dict[int, str] = {}
    for event in events:
        if event[0] == "add":
            sums.add(*event[1:])
        elif event[0] == "words":
            sums.words()
        else:
            reason = sums.check(event[1], event[2])
            if reason is not None:
                found[event[1]] = reason
    return found
