"""Account files -> raw records (column -> cell text), each with its file and row number."""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

from ..errors import KamError, Problem

ENCODINGS = ("utf-8-sig", "cp1251")
MAX_FIELD = 1_000_000


@dataclass
class RawRecord:
    source: str
    row: int  # 1-based line of the record in its file (header = 1)
    cells: dict[str, Any]
    extra: list[str]  # cells beyond the header (a malformed row)


@dataclass
class Table:
    source: str
    columns: list[str]
    decimal_comma: bool
    records: Iterator[RawRecord]


def _decode(raw: bytes, source: str) -> str:
    for enc in ENCODINGS:
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    raise KamError(Problem(source, 0, 0, "cannot decode the file as UTF-8 or Windows-1251"))


def _dialect(sample: str, suffix: str) -> str:
    if suffix == ".tsv":
        return "\t"
    first = sample.splitlines()[0] if sample else ""
    counts = {d: first.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def read_csv(path: Path, columns: Mapping[str, str] | None = None) -> Table:
    """CSV/TSV: encoding (UTF-8, BOM, Windows-1251) and delimiter are sniffed; ';' files
    are taken as Russian-locale exports with a decimal comma."""
    source = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise KamError(Problem(source, 0, 0, f"cannot read: {exc.strerror}")) from None
    if b"\x00" in raw[:4096]:
        raise KamError(Problem(source, 0, 0, "this is not a text (CSV) file"))
    text = _decode(raw, source)
    delimiter = _dialect(text[:65536], path.suffix.lower())
    csv.field_size_limit(MAX_FIELD)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise KamError(Problem(source, 1, 1, "the file is empty: expected a header row")) from None
    except csv.Error as exc:
        raise KamError(Problem(source, 1, 1, f"malformed CSV: {exc}")) from None
    names = [(columns or {}).get(h.strip(), h.strip()) for h in header]
    if not any(names):
        raise KamError(Problem(source, 1, 1, "the header row is empty"))
    seen: dict[str, int] = {}
    for i, n in enumerate(names, start=1):
        if n and n in seen:
            raise KamError(Problem(source, 1, i, f"column '{n}' appears twice (columns {seen[n]} and {i})"))
        seen[n] = i

    def records() -> Iterator[RawRecord]:
        while True:
            line = reader.line_num + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield RawRecord(source, line, {}, [f"malformed CSV: {exc}"])
                continue
            if not cells or all(not c.strip() for c in cells):
                continue  # blank line
            row = {n: c for n, c in zip(names, cells) if n}
            yield RawRecord(source, line, row, cells[len(names):])

    return Table(source, names, delimiter == ";", records())


def read_table(path: Path, columns: Mapping[str, str] | None = None) -> Table:
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv", ".txt"):
        return read_csv(path, columns)
    raise KamError(Problem(str(path), 0, 0, f"unsupported file type '{suffix}' (expected .csv or .tsv)"))
