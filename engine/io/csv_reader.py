"""CSV/TSV: encoding, delimiter and decimal mark are sniffed, then the file is streamed.

Encoding: a BOM decides (UTF-8, UTF-16); otherwise UTF-8 if the whole file decodes as
UTF-8, else Windows-1251 (checked in a streaming pass, so a Cyrillic byte on the last line
still switches it). Delimiter: the one of , ; TAB | that splits a header into columns
giving the required metrics, and into the most columns with the rows agreeing on the width
(quotes respected); Excel's `sep=;` first line wins. The header is found as
engine/io/header.py says (titles above it skipped, sub-headers joined). Decimal mark: the
numbers of the first rows below the header vote ('12,5' vs '12.5'); on a tie a `;` file is
taken as a Russian-locale export with decimal commas.
"""
from __future__ import annotations

import codecs
import csv
import io
import re
from dataclasses import dataclass
from functools import partial
from itertools import islice
from pathlib import Path
from typing import Any, Iterator

from ..errors import KamError, Problem
from .header import Header, find_header, head
from .table import Columns, Layout, RawRecord, Table, row_problem

SAMPLE = 1 << 16
CHUNK = 1 << 20
MAX_FIELD = 1_000_000
DELIMITERS = (",", ";", "\t", "|")
BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_SEP_LINE = re.compile(r"sep=([^\r\n])\r?(\n|$)")
_NUM = r"[-+\u2212]?\d[\d\s\u00a0\u202f{}]*"
_COMMA_DECIMAL = re.compile(_NUM.format(".") + r",\d+")
_DOT_DECIMAL = re.compile(_NUM.format(",") + r"\.\d+")
_AMBIGUOUS = re.compile(r"[-+]?[1-9]\d{0,2}([,.]\d{3})+")  # '1,234' / '1.234': thousands or not

csv.field_size_limit(MAX_FIELD)


def read_csv(path: Path, columns: Columns, layout: Layout = Layout()) -> Table:
    source = str(path)
    with open(path, "rb") as f:
        start = f.read(SAMPLE)
    if not start.strip():
        raise KamError(Problem(source, 1, 1, "the file is empty: expected a header row"))
    encoding = _encoding(path, start, source)
    sample = _sample(start, encoding, complete=len(start) < SAMPLE)
    sep = _SEP_LINE.match(sample)
    skip = 1 if sep else 0
    body = sample[sep.end():] if sep else sample
    delimiter = sep.group(1) if sep else _delimiter(body, path.suffix.lower(), columns, layout)
    with open(path, encoding=encoding, newline="") as f:
        reader = _reader(f, skip, delimiter)
        header, top = _header(reader, source, skip, columns, layout)
    # the decimal mark is voted by the rows below the header (titles above it have no say)
    above = sum(1 for line, cells in top if line <= header.last and any(c.strip() for c in cells))
    table = Table(source, [], None, _decimal_comma(_rows(body, delimiter, 200)[above:], delimiter), iter(()))
    names = columns.header(table, header.names, header.first)
    table.records = _records(path, encoding, skip, delimiter, header.last, names, source)
    table.blocks = partial(_blocks, path, source, encoding, skip, delimiter, header.last, names)
    return table


def _reader(f: io.TextIOBase, skip: int, delimiter: str) -> "csv._reader":
    for _ in range(skip):
        f.readline()
    return csv.reader(f, delimiter=delimiter)


def _header(reader: "csv._reader", source: str, skip: int, columns: Columns, layout: Layout
            ) -> tuple[Header, list[tuple[int, list[str]]]]:
    """The header (engine/io/header.py) and the rows looked at for it, with their lines."""
    top = head(_top(reader, source, skip), layout)
    header = find_header(source, top, columns, layout)
    if header is None:
        raise KamError(Problem(source, 1, 1, "the file is empty: expected a header row"))
    return header, top


def _top(reader: "csv._reader", source: str, skip: int) -> Iterator[tuple[int, list[str]]]:
    """(line, cells) from the top, up to the first malformed row: below the header that is a
    rejected record, read again with the data; before any header, the file's error."""
    started = False
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            if not started:
                raise KamError(Problem(source, reader.line_num + skip, 0, f"malformed CSV header: {exc}")) from None
            return
        started = started or any(c.strip() for c in cells)
        yield reader.line_num + skip, cells


def _records(path: Path, encoding: str, skip: int, delimiter: str, header_line: int,
             names: list[str | None], source: str) -> Iterator[RawRecord]:
    with open(path, encoding=encoding, newline="") as f:
        reader = _reader(f, skip, delimiter)
        while reader.line_num + skip < header_line:
            next(reader)
        yield from _parse(reader, skip, names, source)


def _parse(reader: "csv._reader", skip: int, names: list[str | None], source: str) -> Iterator[RawRecord]:
    """Records from a csv reader whose first line is line `skip + 1` of the file."""
    width = len(names)
    for line, cells, error in _lines(reader, skip, source):
        record = _record(source, names, width, line, cells, error)
        if record is not None:
            yield record


def _lines(reader: "csv._reader", skip: int, source: str) -> Iterator[tuple[int, list[str], str | None]]:
    """(line, cells, csv error) of every row: the part of reading that needs the whole
    stream in order (quotes may hold line breaks)."""
    while True:
        line = reader.line_num + skip + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            if reader.line_num + skip < line:  # nothing consumed: cannot move on safely
                raise KamError(Problem(source, line, 0, f"malformed CSV: {exc}")) from None
            yield line, [], f"malformed CSV: {exc}"
            continue
        yield line, cells, None


def _record(source: str, names: list[str | None], width: int, line: int, cells: list[str],
            error: str | None) -> RawRecord | None:
    """A row as a record, or None for a blank line (or only delimiters): no record."""
    if error is not None:
        return RawRecord(source, line, {}, error)
    if not any(c.strip() for c in cells):
        return None
    row = {n: c for n, c in zip(names, cells) if n}
    if len(cells) < width or any(c.strip() for c in cells[width:]):
        return RawRecord(source, line, row, row_problem(len(cells), width))  # cells: for its id
    return RawRecord(source, line, row)


def _as_columns(names: list[str | None], rows: list[list[str]], lines: Any) -> tuple[Any, dict[str, tuple]] | None:
    """Rows as columns (metric id -> cells) when every row is a record of exactly the
    header's width with an id; None otherwise (then record by record)."""
    width = len(names)
    if any(len(r) != width for r in rows):  # a blank line reads as [], a ragged row otherwise
        return None
    columns = {name: cells for name, cells in zip(names, zip(*rows)) if name}
    if len(columns) != len([n for n in names if n]):  # no rows, or a name twice
        return None
    # a line of only delimiters (and spaces) is no record; its id cell is blank too
    ids = columns.get("account_id")
    if ids is None or any(not c.strip() for c in ids):
        return None
    return lines, columns


# ---- blocks: a large file read by the workers, not the main process ------------------------

@dataclass
class Block:
    """Whole lines of a CSV file, parsed where they are evaluated. Only for files where a
    line break always ends a record (no quote characters, no lone CR) in an encoding where
    the byte 0x0A is always a line feed: then cutting at line feeds cuts between records,
    and a block parses exactly as the same lines would in the whole file."""

    source: str
    data: bytes
    lines_before: int  # physical lines of the file before the block's first
    encoding: str
    delimiter: str
    names: list[str | None]

    def records(self) -> Iterator[RawRecord]:
        text = self.data.decode(self.encoding)
        yield from _parse(csv.reader(io.StringIO(text, newline=""), delimiter=self.delimiter),
                          self.lines_before, self.names, self.source)

    def columns(self) -> tuple[range, dict[str, tuple]] | None:
        """The block as columns (metric id -> cells) with each record's line, when every line
        is a record of exactly the header's width - the common case, read without a dict per
        record. None otherwise (a blank line, a ragged row, a CSV error): then `records`."""
        try:
            rows = list(csv.reader(io.StringIO(self.data.decode(self.encoding), newline=""),
                                   delimiter=self.delimiter))
        except csv.Error:
            return None
        # no quotes and no lone CR in the file (see Block): line k of the block is record k
        return _as_columns(self.names, rows, range(self.lines_before + 1, self.lines_before + 1 + len(rows)))


@dataclass
class Rows:
    """Rows of a CSV file the main process had to parse (quotes may hold line breaks), as
    plain cell lists with their lines: the workers make them records."""

    source: str
    names: list[str | None]
    rows: list[tuple[int, list[str], str | None]]  # (line, cells, csv error)

    def records(self) -> Iterator[RawRecord]:
        width = len(self.names)
        for line, cells, error in self.rows:
            record = _record(self.source, self.names, width, line, cells, error)
            if record is not None:
                yield record

    def columns(self) -> tuple[list[int], dict[str, tuple]] | None:
        if any(error is not None for _, _, error in self.rows):
            return None
        return _as_columns(self.names, [cells for _, cells, _ in self.rows], [line for line, _, _ in self.rows])


_SPLITTABLE = {"utf-8", "utf-8-sig", "cp1251"}  # ASCII-compatible: 0x0A is only ever a line feed


def _blocks(path: Path, source: str, encoding: str, skip: int, delimiter: str, header_line: int,
            names: list[str | None], lines: int) -> Iterator[Block | Rows]:
    """The file's records as blocks of `lines` lines the workers parse, or, when the file
    cannot be cut safely (see Block), as rows parsed here, `lines` rows at a time."""
    if encoding not in _SPLITTABLE or not _plain_lines(path):
        return _row_chunks(path, source, encoding, skip, delimiter, header_line, names, lines)

    def generate() -> Iterator[Block]:
        with open(path, "rb") as f:
            for _ in range(header_line):
                f.readline()  # the header's line and the ones before it (sep=, blank lines)
            before = header_line
            while True:
                chunk = list(islice(f, lines))
                if not chunk:
                    return
                # a BOM belongs to the first line only: later blocks are plain UTF-8
                yield Block(source, b"".join(chunk), before,
                            "utf-8" if encoding == "utf-8-sig" else encoding, delimiter, names)
                before += len(chunk)
    return generate()


def _row_chunks(path: Path, source: str, encoding: str, skip: int, delimiter: str, header_line: int,
                names: list[str | None], size: int) -> Iterator[Rows]:
    with open(path, encoding=encoding, newline="") as f:
        reader = _reader(f, skip, delimiter)
        while reader.line_num + skip < header_line:
            next(reader)
        rows = _lines(reader, skip, source)
        while chunk := list(islice(rows, size)):
            yield Rows(source, names, chunk)


def _plain_lines(path: Path) -> bool:
    """No quote character and no CR without its LF anywhere in the file."""
    tail = b""
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            if b'"' in chunk:
                return False
            both = tail + chunk
            if both.count(b"\r") != both.count(b"\r\n") + (1 if both.endswith(b"\r") else 0):
                return False
            tail = chunk[-1:] if chunk.endswith(b"\r") else b""
    return not tail


def _encoding(path: Path, head: bytes, source: str) -> str:
    for bom, name in BOMS:
        if head.startswith(bom):
            return _checked(path, name, source)
    if b"\x00" in head:
        raise KamError(Problem(source, 0, 0, "this is not a text (CSV) file: it contains binary data "
                                             "(an .xlsx or .parquet file under another name?)"))
    if _first_bad_byte(path, "utf-8") is None:
        return "utf-8"
    return _checked(path, "cp1251", source)


def _checked(path: Path, encoding: str, source: str) -> str:
    bad = _first_bad_byte(path, encoding)
    if bad is None:
        return encoding
    line = _line_of(path, bad)
    raise KamError(Problem(source, line, 0, f"cannot decode the file as UTF-8 or Windows-1251 "
                                            f"(byte {bad} on line {line})"))


def _first_bad_byte(path: Path, encoding: str) -> int | None:
    """Offset of the first byte that does not decode, streaming the file in chunks."""
    decoder = codecs.getincrementaldecoder(encoding)()
    done = 0
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                return done + max(exc.start, 0)
            done += len(chunk)
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return done
    return None


def _line_of(path: Path, offset: int) -> int:
    lines, done = 1, 0
    with open(path, "rb") as f:
        while done < offset and (chunk := f.read(min(CHUNK, offset - done))):
            lines += chunk.count(b"\n")
            done += len(chunk)
    return lines


def _sample(head: bytes, encoding: str, complete: bool) -> str:
    text = codecs.getincrementaldecoder(encoding)(errors="replace").decode(head, final=complete)
    if not complete and "\n" in text:
        text = text[:text.rindex("\n") + 1]  # a cut last line would skew the vote
    return text


def _rows(sample: str, delimiter: str, limit: int) -> list[list[str]]:
    rows: list[list[str]] = []
    reader = csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter)
    try:
        for cells in reader:
            if any(c.strip() for c in cells):
                rows.append(cells)
                if len(rows) >= limit:
                    break
    except csv.Error:
        pass
    return rows


def _width(cells: list[str]) -> int:
    n = len(cells)
    while n and not cells[n - 1].strip():
        n -= 1
    return n


def _delimiter(sample: str, suffix: str, columns: Columns, layout: Layout) -> str:
    """The delimiter that splits the header into columns giving the required metrics, and
    into the most columns with the rows below agreeing on the width."""
    if suffix == ".tsv":
        return "\t"
    best, best_score = ",", (False, 0.0, 1)
    wanted = Layout(required=layout.required)  # header_row counts lines; these rows skip blank ones
    for d in DELIMITERS:
        rows = _rows(sample, d, 50)
        header = find_header("", list(enumerate(rows, start=1)), columns, wanted)
        if header is None:
            continue
        first = rows[header.first - 1]
        width = _width(first)
        if width < 2:
            continue
        body = rows[header.last:]
        fit = sum(1 for r in body if _width(r) <= width <= len(r) or len(r) == len(first)) / (len(body) or 1)
        if (header.found, fit, width) > best_score:
            best, best_score = d, (header.found, fit, width)
    return best


def _decimal_comma(rows: list[list[str]], delimiter: str) -> bool:
    comma = dot = 0
    for cells in rows:
        for c in cells:
            c = c.strip()
            if not c or not c[-1].isdigit() or _AMBIGUOUS.fullmatch(c):
                continue
            if _COMMA_DECIMAL.fullmatch(c):
                comma += 1
            elif _DOT_DECIMAL.fullmatch(c):
                dot += 1
    if comma != dot:
        return comma > dot
    return delimiter == ";"
