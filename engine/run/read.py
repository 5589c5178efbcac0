"""Reading account input: the one way every command turns input files into typed accounts.

    read (streaming, chunks) -> [A] normalise a chunk -> totals rows relabelled (their sums)
                             -> duplicate ids -> the portfolio pass (total revenue, ABC)
                             -> accepted accounts with the pass's values, and rejected records

`kam evaluate` runs stage A on its workers (engine/run/pipeline.py) with the functions below;
`read_accounts` runs them in this process for the commands that read accounts themselves
(diff, explain, explain --run, inspect), so every command accepts and rejects the same
records for the same reasons. The whole-portfolio part of the pass needs every account
before any one is final: the first pass keeps what it needs (one revenue, one id hash and
one row number per account) and spills each chunk's records to disk; the second pass hands
the chunks back one at a time, so memory stays flat in the number of accounts.
"""
from __future__ import annotations

import os
import pickle
import shutil
import tempfile
from array import array
from bisect import bisect_right
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from math import nan
from pathlib import Path
from typing import Any

from ..io.batch import normalize_columns, normalize_many
from ..io.csv_reader import Block, Rows
from ..io.records import shown_id
from ..io.table import Table
from ..io.totals import Sums, Tally, keyword, no_id, replay
from ..project.model import Project
from .accounts import money_metrics, read_input, reject, relabel, required_columns
from .portfolio import RowPass, abc_codes, revenue_total

CHUNK_SIZE = 5_000  # small chunks: fewer raw records in flight (memory), same speed


# ---- what reading gives ----------------------------------------------------------------------

@dataclass(frozen=True)
class Accepted:
    """A record every check passed: its typed metric values, with the portfolio pass's
    values written in (engine/run/portfolio.py WRITTEN), ready for the rules."""

    source: str
    row: int
    values: dict[str, Any]

    @property
    def account_id(self) -> Any:
        return self.values["account_id"]  # as typed: text, unless a project declares it otherwise


@dataclass(frozen=True)
class FieldError:
    field: str | None  # None: the record as a whole (a totals row, a malformed line)
    reason: str


@dataclass(frozen=True)
class Rejected:
    """A record that is not evaluated, and why; `as_dict` is its line of rejected.jsonl."""

    source: str
    row: int
    account_id: Any  # the id as the file has it (None when blank)
    reason: str  # the errors joined, as people read them
    errors: tuple[FieldError, ...]

    @classmethod
    def of(cls, r: dict[str, Any]) -> Rejected:
        return cls(r["source"], r["row"], r["account_id"], r["reason"],
                   tuple(FieldError(e["field"], e["reason"]) for e in r["errors"]))

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.source, "row": self.row, "account_id": self.account_id, "reason": self.reason,
                "errors": [{"field": e.field, "reason": e.reason} for e in self.errors]}


@dataclass
class ReadChunk:
    """Consecutive records of one file: each record is in `accepted` or in `rejected`."""

    source: str
    read: int
    accepted: list[Accepted]
    rejected: list[Rejected]  # in row order

    def records(self) -> list[Accepted | Rejected]:
        """Both, in row order (a row holds one record)."""
        return sorted([*self.accepted, *self.rejected], key=lambda r: r.row)


# ---- stage A: normalise ----------------------------------------------------------------------

@dataclass
class Normalised:
    index: int
    read: int
    rejected: list[dict[str, Any]]
    ids: list[Any] | None  # account ids of accepted records, in order; in the main process
    # only as `compact()` leaves them: one hash each and the list pickled
    source: str  # a chunk never spans two files
    rows: array[int]  # row of each accepted record in its file (compact: one int each)
    revenue: array[float]  # revenue_current of each accepted record, NaN when missing:
    # all the whole-portfolio part of the pass reads (the rest is per account, in stage B)
    spill: str | None = None  # pickle of the accepted values (process mode)
    values: list[dict[str, Any]] | None = None  # the accepted values (in-process / Dask)
    hashes: array[int] = field(default_factory=lambda: array("q"))  # hash(id) per record
    ids_pickled: bytes = b""
    totals: list[tuple[Any, ...]] = field(default_factory=list)  # the chunk's Tally (engine/io/totals.py)

    def compact(self) -> None:
        """What the main process keeps of the ids of a million accounts: 8 bytes of hash and
        a pickled list (~16 bytes) per account, not a Python object each."""
        if self.ids is not None:
            self.hashes = array("q", map(hash, self.ids))
            self.ids_pickled = pickle.dumps(self.ids, protocol=pickle.HIGHEST_PROTOCOL)
            self.ids = None

    def account_ids(self) -> list[Any]:
        if self.ids is not None:
            return self.ids
        ids: list[Any] = pickle.loads(self.ids_pickled)
        return ids


def normalise_chunk(project: Project, index: int, records: list[tuple[Any, ...]] | Block | Rows, decimal_comma: bool,
                    spill_dir: str | None) -> Normalised:
    """Type-check a chunk of raw records (source, row, cells, problem), a Block of lines or
    the Rows of a CSV file."""
    source = records.source if isinstance(records, (Block, Rows)) else (records[0][0] if records else "")
    if isinstance(records, (Block, Rows)):
        table = records.columns()
        if table is not None:
            lines, columns = table
            return _normalise_columns(project, index, source, lines, columns, decimal_comma, spill_dir)
        records = [(r.source, r.row, r.cells, r.problem) for r in records.records()]
    rejected: list[dict[str, Any]] = []
    accepted: list[dict[str, Any]] = []
    rows = array("q")
    tally = Tally(money_metrics(project))
    words = [keyword(r[2]) for r in records]
    clean = [r for r, w in zip(records, words) if r[3] is None and w is None]
    normalised = iter(normalize_many(project, [r[2] for r in clean], decimal_comma))
    for (_, row, cells, problem), totals_row in zip(records, words):
        if totals_row is not None or problem is not None:
            rejected.append(reject(source, row, shown_id(cells.get("account_id")), [(None, totals_row or problem)]))
            if totals_row is not None:
                tally.words()
            continue
        values, errors = next(normalised)
        (tally.no_id if no_id(cells) else tally.row)(row, values)
        if errors:
            aid = values.get("account_id")
            rejected.append(reject(source, row, aid if aid is not None else shown_id(cells.get("account_id")),
                                   [(e.field, e.reason) for e in errors]))
            continue
        accepted.append(values)
        rows.append(row)
    return _finish(index, len(records), rejected, accepted, source, rows, spill_dir, tally)


def _finish(index: int, read: int, rejected: list[dict[str, Any]], accepted: list[dict[str, Any]], source: str,
            rows: array[int], spill_dir: str | None, tally: Tally) -> Normalised:
    revenue = array("d", (nan if (r := v.get("revenue_current")) is None else r for v in accepted))
    out = Normalised(index, read, rejected, [v.get("account_id") for v in accepted], source, rows, revenue,
                     totals=tally.done())
    if spill_dir is not None:
        path = os.path.join(spill_dir, f"chunk{index:06d}.pkl")
        with open(path, "wb") as f:
            pickle.dump(accepted, f, protocol=pickle.HIGHEST_PROTOCOL)
        out.spill = path
    else:
        out.values = accepted
    return out


def _normalise_columns(project: Project, index: int, source: str, lines: range | list[int],
                       columns: dict[str, tuple[Any, ...]],
                       decimal_comma: bool, spill_dir: str | None) -> Normalised:
    """normalise_chunk for a block read as columns: every line a record, none malformed."""
    rejected: list[dict[str, Any]] = []
    accepted: list[dict[str, Any]] = []
    rows = array("q")
    tally = Tally(money_metrics(project))
    ids = columns["account_id"]  # none is blank here (csv_reader._as_columns)
    names = columns.get("name")
    for i, (values, errors) in enumerate(normalize_columns(project, columns.get, len(lines), decimal_comma)):
        totals_row = keyword({"account_id": ids[i], "name": names[i]} if names else {"account_id": ids[i]})
        if totals_row is not None:
            rejected.append(reject(source, lines[i], shown_id(ids[i]), [(None, totals_row)]))
            tally.words()
            continue
        tally.row(lines[i], values)
        if errors:
            aid = values.get("account_id")
            rejected.append(reject(source, lines[i], aid if aid is not None else shown_id(ids[i]),
                                   [(e.field, e.reason) for e in errors]))
            continue
        accepted.append(values)
        rows.append(lines[i])
    return _finish(index, len(lines), rejected, accepted, source, rows, spill_dir, tally)


def chunks(project: Project, inputs: Sequence[Path | Table], sheet: str | None,
           ignored_columns: dict[str, list[str]], size: int = CHUNK_SIZE,
           check_header: bool = True) -> Iterator[tuple[list[tuple[Any, ...]] | Block | Rows, bool]]:
    """Raw records of every input, `size` at a time (a chunk never spans two files); for a
    CSV file that can be cut at line feeds, blocks of `size` lines the workers parse. An
    input is a path, or a table the caller opened with read_input (to look at it first).
    Each file's columns that name no metric go into `ignored_columns` once it is read;
    `check_header`: a header without a required column is the file's error (kam inspect
    reports it instead)."""
    for given in inputs:
        table = given if isinstance(given, Table) else read_input(project, given, sheet)
        if check_header:
            required_columns(project, table)
        split = table.blocks(size) if table.blocks is not None else None
        if split is not None:  # the workers finish reading: blocks of lines, or parsed rows
            close = getattr(table.records, "close", None)
            if close is not None:  # not read: a table the caller looked into holds its file open
                close()
            for block in split:
                yield block, table.decimal_comma
            if table.unknown:
                ignored_columns[table.source] = list(dict.fromkeys(table.unknown))
            continue
        batch: list[tuple[Any, ...]] = []
        for rec in table.records:
            batch.append((rec.source, rec.row, rec.cells, rec.problem))
            if len(batch) >= size:
                yield batch, table.decimal_comma
                batch = []
        if batch:
            yield batch, table.decimal_comma
        if table.unknown:
            ignored_columns[table.source] = list(dict.fromkeys(table.unknown))


class TotalsBySums:
    """The sums rule of totals rows (engine/io/totals.py) over the chunks' tallies, in file
    order: the rows without an id it finds say so in rejected.jsonl."""

    def __init__(self, project: Project):
        self.sums, self.source = Sums(money_metrics(project)), ""

    def relabel(self, n: Normalised) -> None:
        if n.source != self.source:  # each file on its own; a chunk never spans two
            self.sums, self.source = Sums(self.sums.money), n.source
        relabel(n.rejected, n.source, replay(n.totals, self.sums))
        n.totals = []


# ---- duplicates and the whole-portfolio part of the pass --------------------------------------

def duplicates(stage_a: list[Normalised], rejected: Callable[[int, dict[str, Any]], None]) -> dict[int, set[int]]:
    """Second and later records of an account_id are rejected, naming the first: handed to
    `rejected(chunk index, record)`; returns the positions they take in each chunk's accepted
    records (chunk index -> positions). Found by sorting one hash per account; only records
    whose hashes meet compare their ids."""
    import numpy as np
    if not stage_a:
        return {}
    hashes = np.concatenate([np.frombuffer(n.hashes, dtype=np.int64) for n in stage_a])
    order = np.argsort(hashes, kind="stable")  # equal hashes stay in input order
    sorted_hashes = hashes[order]
    same = np.flatnonzero(sorted_hashes[1:] == sorted_hashes[:-1])
    if same.size == 0:
        return {}
    ids = _Ids(stage_a)
    starts = ids.starts
    drops: dict[int, set[int]] = {}
    # runs of equal hashes, each in input order; within a run, equal ids are duplicates
    run_starts = same[np.concatenate(([True], same[1:] != same[:-1] + 1))]
    for first in run_starts.tolist():
        end = first + 1
        while end < len(order) and sorted_hashes[end] == sorted_hashes[first]:
            end += 1
        seen: dict[Any, int] = {}
        for position in order[first:end].tolist():
            k = bisect_right(starts, position) - 1
            n, i = stage_a[k], position - starts[k]
            aid = ids[position]
            if aid not in seen:
                seen[aid] = position
                continue
            fk = bisect_right(starts, seen[aid]) - 1
            f = stage_a[fk]
            first_row = f.rows[seen[aid] - starts[fk]]
            rejected(n.index, reject(n.source, n.rows[i], aid, [(
                "account_id", f"duplicate account_id '{aid}' (first at {f.source} row {first_row})")]))
            drops.setdefault(n.index, set()).add(i)
    return drops


def portfolio_pass(project: Project, stage_a: list[Normalised], drops: dict[int, set[int]]
                   ) -> tuple[float, list[bytes]]:
    """The whole-portfolio part of the pass, in this process over one float per account:
    the exact total revenue, and each chunk's ABC classes (one byte per accepted record)."""
    import numpy as np
    parts = []
    for n in stage_a:
        rev = np.frombuffer(n.revenue, dtype=np.float64) if len(n.revenue) else np.empty(0)
        d = drops.get(n.index)
        if d:
            rev = rev.copy()
            rev[list(d)] = np.nan  # a duplicate counts nowhere
        parts.append(rev)
    revenue = np.concatenate(parts) if parts else np.empty(0)
    config = project.portfolio
    codes = abc_codes(revenue, config.boundary("abc_a_pct"), config.boundary("abc_b_pct"), _Ids(stage_a))
    total = float(revenue_total(revenue[~np.isnan(revenue)]))
    out, start = [], 0
    for n in stage_a:
        out.append(codes[start:start + len(n.rows)])
        start += len(n.rows)
    return total, out


class _Ids:
    """All accepted ids by position in the run, read from the chunks' pickled lists only
    where asked (ABC needs the ids of equal revenues at a class boundary)."""

    def __init__(self, stage_a: list[Normalised]):
        self.stage_a = stage_a
        self.starts = list(accumulate((len(n.rows) for n in stage_a), initial=0))
        self.cached: tuple[int, list[Any]] = (-1, [])

    def __getitem__(self, position: int) -> Any:
        k = bisect_right(self.starts, position) - 1
        if self.cached[0] != k:
            self.cached = (k, self.stage_a[k].account_ids())
        return self.cached[1][position - self.starts[k]]


# ---- the stream ------------------------------------------------------------------------------

class AccountStream:
    """Every record of the inputs, typed, as `kam evaluate` reads them: iterate `chunks()`
    (consecutive records of one file), or the stream itself for the records one by one, in
    input order. The first chunk comes once every record is read (duplicates and the
    portfolio pass need them all); `read` and `ignored_columns` are final from then on.
    Close it (or use it as a context manager) when stopping early: that removes the spill."""

    def __init__(self, project: Project, inputs: Sequence[Path | Table], sheet: str | None = None,
                 chunk_size: int = CHUNK_SIZE, check_header: bool = True):
        self.read = 0
        self.ignored_columns: dict[str, list[str]] = {}
        self._chunks = self._generate(project, inputs, sheet, chunk_size, check_header)

    def chunks(self) -> Iterator[ReadChunk]:
        return self._chunks

    def __iter__(self) -> Iterator[Accepted | Rejected]:
        for chunk in self._chunks:
            yield from chunk.records()

    def close(self) -> None:
        self._chunks.close()

    def __enter__(self) -> AccountStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _generate(self, project: Project, inputs: Sequence[Path | Table], sheet: str | None, chunk_size: int,
                  check_header: bool) -> Generator[ReadChunk, None, None]:
        spill: _Spill | None = None
        try:
            stage_a: list[Normalised] = []
            totals = TotalsBySums(project)
            for index, (records, decimal_comma) in enumerate(
                    chunks(project, inputs, sheet, self.ignored_columns, chunk_size, check_header)):
                n = normalise_chunk(project, index, records, decimal_comma, None)
                n.compact()
                totals.relabel(n)  # the chunks come in input order
                self.read += n.read
                if stage_a:  # the chunk before goes to disk: one chunk of records in memory at most
                    spill = spill or _Spill()
                    spill.put(stage_a[-1])
                stage_a.append(n)
            late: dict[int, list[dict[str, Any]]] = {}
            drops = duplicates(stage_a, lambda index, r: late.setdefault(index, []).append(r))
            total, abc = portfolio_pass(project, stage_a, drops)
            row_pass = RowPass(project.portfolio)
            for n, letters in zip(stage_a, abc):
                values, rejected = spill.take(n) if spill is not None and n.values is None else (n.values, n.rejected)
                n.values, n.rejected, n.revenue, n.hashes, n.ids_pickled = None, [], array("d"), array("q"), b""
                drop = drops.get(n.index, set())
                classes = letters.decode("ascii")  # " ": no ABC class
                accepted = []
                for i, v in enumerate(values or []):
                    if i not in drop:
                        row_pass.apply(v, total, None if classes[i] == " " else classes[i])
                        accepted.append(Accepted(n.source, n.rows[i], v))
                # the duplicates among the chunk's rows, where the file has them
                rejected = sorted(rejected + late.pop(n.index, []), key=lambda r: int(r["row"]))
                yield ReadChunk(n.source, n.read, accepted, [Rejected.of(r) for r in rejected])
        finally:
            if spill is not None:
                spill.remove()


class _Spill:
    """Stage A's records of each chunk (accepted values and rejections), on disk between the
    two passes, in a temporary folder."""

    def __init__(self) -> None:
        self.folder = tempfile.mkdtemp(prefix="kam-read-")

    def put(self, n: Normalised) -> None:
        with open(os.path.join(self.folder, f"chunk{n.index:06d}.pkl"), "wb") as f:
            pickle.dump((n.values, n.rejected), f, protocol=pickle.HIGHEST_PROTOCOL)
        n.values, n.rejected = None, []

    def take(self, n: Normalised) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        path = os.path.join(self.folder, f"chunk{n.index:06d}.pkl")
        with open(path, "rb") as f:
            data: tuple[list[dict[str, Any]], list[dict[str, Any]]] = pickle.load(f)
        os.unlink(path)
        return data

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def read_accounts(project: Project, inputs: Sequence[Path | Table], sheet: str | None = None,
                  chunk_size: int = CHUNK_SIZE, check_header: bool = True) -> AccountStream:
    """The one way to read account input: every record of every input accepted (typed, with
    the portfolio pass's values) or rejected with its file, row, field and reason - the
    records and reasons of `kam evaluate`, from the same functions (stage A, the totals rows'
    sums, duplicates, the portfolio pass). Memory holds one chunk of records at a time."""
    return AccountStream(project, inputs, sheet, chunk_size, check_header)
