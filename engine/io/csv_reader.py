"""CSV/TSV: encoding, delimiter and decimal mark are sniffed, then the file is streamed.

Encoding: engine/io/csv_text.py - a BOM decides, else the lines vote (UTF-8 or Windows-1251),
and a line in another encoding than the file's is a rejected record. Delimiter: the one of
, ; TAB | that splits a header into columns
giving the required metrics, and into the most columns with the rows agreeing on the width
(quotes respected); Excel's `sep=;` first line wins. The header is found as
engine/io/header.py says (titles above it skipped, sub-headers joined). Decimal mark: the
numbers of the first rows below the header vote ('12,5' vs '12.5'); on a tie a `;` file is
taken as a Russian-locale export with decimal commas.

Strict where Python's csv is lenient: a quote never closed is the file's error at the line
it opens (Python's csv makes the rest of the file one cell), and so is a cell over MAX_FIELD
(after it Python's csv goes on from the next line, inside a quoted cell as if it were a row).
"""
from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from itertools import islice
from pathlib import Path
from typing import Any

from ..errors import KamError, Problem
from .csv_text import Foreign, scan
from .header import Header, find_header, head
from .limits import MAX_FIELD
from .table import Columns, Layout, RawRecord, Table, row_problem

SAMPLE = 1 << 16
DELIMITERS = (",", ";", "\t", "|")
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
    text = scan(path, start, source)
    sample = _sample(start, text.encoding, complete=len(start) < SAMPLE)
    sep = _SEP_LINE.match(sample)
    body = sample[sep.end():] if sep else sample
    delimiter = sep.group(1) if sep else _delimiter(body, path.suffix.lower(), columns, layout)
    file = _File(path, source, text.encoding, 1 if sep else 0, delimiter, text.foreign, text.plain)
    with file.open() as reader:
        header, top = _header(reader, file, columns, layout)
    bad = file.foreign.first(header.first, header.last)
    if bad is not None:
        raise KamError(Problem(source, bad[0], 0, f"the header: {bad[1]}"))
    # the decimal mark is voted by the rows below the header (titles above it have no say)
    above = sum(1 for line, cells in top if line <= header.last and any(c.strip() for c in cells))
    table = Table(source, [], None, _decimal_comma(_rows(body, delimiter, 200)[above:], delimiter), iter(()))
    names = columns.header(table, header.names, header.first)
    table.records = _records(file, header.last, names)
    table.blocks = partial(_blocks, file, header.last, names)
    return table


_END = "\ufdd0"  # a noncharacter, fed to the csv reader after the file's last line


class Unclosed(Exception):
    """The file ends inside a quoted cell; `cells`: the record as read up to the end."""

    def __init__(self, cells: list[str]):
        super().__init__("a quote is never closed")
        self.cells = cells


class _Reader:
    """csv.reader over a file's lines, strict where Python's csv is lenient: the end of the
    file inside a quoted cell (a quote never closed) raises Unclosed, where csv.reader would
    make the rest of the file that one cell. A marker fed after the last line shows where
    the csv reader stands at the end: it is a record of its own when the file ended between
    records, the end of the last cell when it ended inside quotes."""

    def __init__(self, lines: Iterable[str], delimiter: str):
        self.ended = False
        self._reader = csv.reader(self._feed(lines), delimiter=delimiter)

    def _feed(self, lines: Iterable[str]) -> Iterator[str]:
        yield from lines
        self.ended = True
        yield _END

    @property
    def line_num(self) -> int:
        return self._reader.line_num

    def __iter__(self) -> _Reader:
        return self

    def __next__(self) -> list[str]:
        cells = next(self._reader)
        if self.ended:  # the marker is read: only a quoted cell still open takes it in
            if cells != [_END]:
                cells[-1] = cells[-1][:-len(_END)]
                raise Unclosed(cells)
            raise StopIteration
        return cells


@dataclass(frozen=True)
class _File:
    """A CSV file as read: where, in which encoding, with which delimiter; `skip`: the lines
    before the csv reader's first (Excel's `sep=` line); `foreign`: the lines not in its
    encoding (csv_text.py), read with replacement characters and their records rejected;
    `plain`: it can be cut into blocks (see Block)."""

    path: Path
    source: str
    encoding: str
    skip: int
    delimiter: str
    foreign: Foreign
    plain: bool

    @contextmanager
    def open(self) -> Iterator[_Reader]:
        with open(self.path, encoding=self.encoding, errors="replace", newline="") as f:
            for _ in range(self.skip):
                f.readline()
            yield _Reader(f, self.delimiter)

    def unclosed(self, line: int, cells: list[str], last: int) -> KamError:
        """The error of a quote never closed, in the record that starts on `line`: at the
        line and column where its last cell's quote opens."""
        below = sum(len(_BREAKS.findall(c)) for c in cells[:-1])  # multi-line cells before it
        line += below
        return KamError(Problem(self.source, line, self._quote_column(line, inside=below > 0), (
            f"a quote opens a cell here and is never closed, so the rest of the file (to line {last}) would "
            f"read as this one cell: close the quote (a quote that is part of the text is written twice: \"\")")))

    def too_long(self, line: int, reached: int) -> KamError:
        """The error of a cell over the csv reader's MAX_FIELD in the record that starts on
        `line`; the reader stopped on line `reached`. Python's csv cannot go on after it
        safely (a quoted cell may go on below), so the file is refused."""
        if reached > line:  # only a quoted cell spans lines
            return KamError(Problem(self.source, line, self._quote_column(line, inside=False), (
                f"a quote opens a cell here and is not closed within {MAX_FIELD} characters (by line {reached}), "
                f"so the lines below would read as this one cell: close the quote (a quote that is part of the "
                f"text is written twice: \"\"), or shorten the cell")))
        return KamError(Problem(self.source, line, 0, (
            f"a cell on this line is longer than {MAX_FIELD} characters, the most a cell may hold: "
            f"shorten it (is this an export of accounts?)")))

    def _quote_column(self, line: int, inside: bool) -> int:
        """Where on `line` the quote opens that is still open at its end (1-based; 0 when none
        is). `inside`: the line starts inside a quoted cell that began above."""
        with open(self.path, encoding=self.encoding, errors="replace", newline="") as f:
            text = next(islice(f, line - 1, None), "")
        return _open_quote(text, self.delimiter, inside)


_BREAKS = re.compile(r"\r\n|\r|\n")  # line breaks as the csv reader counts lines


def _open_quote(text: str, delimiter: str, inside: bool) -> int:
    """The 1-based column of the quote that opens a cell of `text` (a line) and is still open
    at its end, as Python's csv reads quotes: one opens a cell only at its start, two in a
    quoted cell are one quote character. 0 when none is open at the end."""
    state, opened = ("quoted" if inside else "start"), 0
    for i, ch in enumerate(text):
        if state == "start":
            if ch == '"':
                state, opened = "quoted", i + 1
            elif ch != delimiter:
                state = "cell"
        elif state == "cell":
            if ch == delimiter:
                state = "start"
        elif state == "quoted":
            if ch == '"':
                state = "quote"
        else:  # a quote inside a quoted cell: doubled, the end of the cell, or text after it
            state = "quoted" if ch == '"' else "start" if ch == delimiter else "cell"
    return opened if state == "quoted" else 0


def _header(reader: _Reader, file: _File, columns: Columns, layout: Layout
            ) -> tuple[Header, list[tuple[int, list[str]]]]:
    """The header (engine/io/header.py) and the rows looked at for it, with their lines."""
    top = head(_top(reader, file), layout)
    header = find_header(file.source, top, columns, layout)
    if header is None:
        raise KamError(Problem(file.source, 1, 1, "the file is empty: expected a header row"))
    return header, top


def _top(reader: _Reader, file: _File) -> Iterator[tuple[int, list[str]]]:
    """(line, cells) from the top, up to the first malformed row: below the header, that is
    the file's error when the data is read; before any header, the file's error now."""
    started = False
    for line, cells in _cells(reader, file):
        if cells is None:
            if not started:
                raise file.too_long(line, reader.line_num + file.skip)
            return
        started = started or any(c.strip() for c in cells)
        yield reader.line_num + file.skip, cells


def _cells(reader: _Reader, file: _File) -> Iterator[tuple[int, list[str] | None]]:
    """(line a row starts on, its cells) of every row; cells None where Python's csv fails
    (a cell over MAX_FIELD), after which it cannot go on. A quote never closed: its error."""
    while True:
        line = reader.line_num + file.skip + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except Unclosed as exc:
            raise file.unclosed(line, exc.cells, reader.line_num + file.skip - 1) from None
        except csv.Error:
            yield line, None
            return
        yield line, cells


def _records(file: _File, header_line: int, names: list[str | None]) -> Iterator[RawRecord]:
    with file.open() as reader:
        while reader.line_num + file.skip < header_line:
            next(reader)
        yield from _parse(_lines(reader, file), names, file.source)


Line = tuple[int, list[str], "str | None"]  # a row: the line it starts on, its cells, why it cannot be read


def _parse(lines: Iterable[Line], names: list[str | None], source: str) -> Iterator[RawRecord]:
    width = len(names)
    for line, cells, problem in lines:
        record = _record(source, names, width, line, cells, problem)
        if record is not None:
            yield record


def _lines(reader: _Reader, file: _File) -> Iterator[Line]:
    """(line, cells, problem) of every row: the part of reading that needs the whole stream
    in order (quotes may hold line breaks). A cell over MAX_FIELD is the file's error; a row
    on a line not in the file's encoding, a record rejected for it."""
    foreign = file.foreign
    for line, cells in _cells(reader, file):
        if cells is None:
            raise file.too_long(line, reader.line_num + file.skip)
        bad = foreign.first(line, reader.line_num + file.skip) if foreign else None
        yield line, cells, (None if bad is None else bad[1])


def _record(source: str, names: list[str | None], width: int, line: int, cells: list[str],
            problem: str | None = None) -> RawRecord | None:
    """A row as a record, or None for a blank line (or only delimiters): no record."""
    if not any(c.strip() for c in cells):
        return None
    row = {n: c for n, c in zip(names, cells) if n}
    if problem is not None:
        return RawRecord(source, line, row, problem)  # cells (with replacement characters): for its id
    if len(cells) < width or any(c.strip() for c in cells[width:]):
        return RawRecord(source, line, row, row_problem(len(cells), width))  # cells: for its id
    return RawRecord(source, line, row)


def _as_columns(names: list[str | None], rows: list[list[str]],
                lines: Any) -> tuple[Any, dict[str, tuple[Any, ...]]] | None:
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
    foreign: dict[int, str] = field(default_factory=dict)  # line -> why it is not in the encoding

    def records(self) -> Iterator[RawRecord]:
        get = self.foreign.get
        yield from _parse(((line, cells, get(line)) for line, cells in
                           enumerate(self._rows(), start=self.lines_before + 1)), self.names, self.source)

    def columns(self) -> tuple[range, dict[str, tuple[Any, ...]]] | None:
        """The block as columns (metric id -> cells) with each record's line, when every line
        is a record of exactly the header's width - the common case, read without a dict per
        record. None otherwise (a blank line, a ragged row, a line not in the file's
        encoding): then `records`."""
        if self.foreign:
            return None
        rows = self._rows()
        # no quotes and no lone CR in the file (see Block): line k of the block is record k
        return _as_columns(self.names, rows, range(self.lines_before + 1, self.lines_before + 1 + len(rows)))

    def _rows(self) -> list[list[str]]:
        # no line of the file is as long as MAX_FIELD (csv_text.Plain): csv.reader cannot fail
        text = self.data.decode(self.encoding, "replace" if self.foreign else "strict")
        return list(csv.reader(io.StringIO(text, newline=""), delimiter=self.delimiter))


@dataclass
class Rows:
    """Rows of a CSV file the main process had to parse (quotes may hold line breaks), as
    plain cell lists with their lines: the workers make them records."""

    source: str
    names: list[str | None]
    rows: list[Line]

    def records(self) -> Iterator[RawRecord]:
        yield from _parse(self.rows, self.names, self.source)

    def columns(self) -> tuple[list[int], dict[str, tuple[Any, ...]]] | None:
        if any(problem is not None for _, _, problem in self.rows):
            return None
        return _as_columns(self.names, [cells for _, cells, _ in self.rows], [line for line, _, _ in self.rows])


_SPLITTABLE = {"utf-8", "utf-8-sig", "cp1251"}  # ASCII-compatible: 0x0A is only ever a line feed


def _blocks(file: _File, header_line: int, names: list[str | None], lines: int) -> Iterator[Block | Rows]:
    """The file's records as blocks of `lines` lines the workers parse, or, when the file
    cannot be cut safely (see Block), as rows parsed here, `lines` rows at a time."""
    if file.encoding not in _SPLITTABLE or not file.plain:
        return _row_chunks(file, header_line, names, lines)

    def generate() -> Iterator[Block]:
        with open(file.path, "rb") as f:
            for _ in range(header_line):
                f.readline()  # the header's line and the ones before it (sep=, blank lines)
            before = header_line
            while True:
                chunk = list(islice(f, lines))
                if not chunk:
                    return
                # a BOM belongs to the first line only: later blocks are plain UTF-8
                foreign = file.foreign.within(before + 1, before + len(chunk)) if file.foreign else {}
                yield Block(file.source, b"".join(chunk), before,
                            "utf-8" if file.encoding == "utf-8-sig" else file.encoding, file.delimiter, names,
                            foreign)
                before += len(chunk)
    return generate()


def _row_chunks(file: _File, header_line: int, names: list[str | None], size: int) -> Iterator[Rows]:
    with file.open() as reader:
        while reader.line_num + file.skip < header_line:
            next(reader)
        rows = _lines(reader, file)
        while chunk := list(islice(rows, size)):
            yield Rows(file.source, names, chunk)


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
