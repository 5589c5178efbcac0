"""What an .xlsx workbook would take to read, checked before calamine reads it.

calamine holds a sheet whole, as a dense grid from its first used cell to its last, and a
shared text (sharedStrings.xml) once per cell that shows it. So a few kilobytes can ask for
any amount of memory - a cell at XFD1048576 is a grid of 17 billion cells, one megabyte of
text shown by 3,000 cells three gigabytes - and calamine aborts the process when it cannot
have it, beyond any `except`. These limits (engine/io/limits.py) are checked on the zip's
bytes, streamed, before it does:

- the parts unpack to at most MAX_UNPACKED bytes together, and a part over a megabyte to at
  most MAX_RATIO times its packed size (a zip bomb);
- the sheet's used range, first used cell to last, spans at most MAX_SHEET_CELLS cells;
- the shared texts, as the sheet's cells repeat them, come to at most MAX_UNPACKED bytes.

The common case costs a few searches of the sheet's XML in C (about a second for 100,000
rows of 39 columns): every cell and row written with its `r` reference first, as Excel,
LibreOffice, openpyxl and xlsxwriter write them, none beyond column AZ (52) or row 999,999 -
a range within 52 x 999,999 cells; the shared texts within the limit if each cell showed the
longest, or counting the values that may show the few long ones. A sheet written otherwise,
or one these cannot bound, is walked cell by cell the way calamine places cells (slower),
which also finds the cell to name.
"""
from __future__ import annotations

import re
import zipfile
import zlib
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import KamError, Problem
from .limits import MAX_RATIO, MAX_SHEET_CELLS, MAX_UNPACKED

BLOCK = 1 << 22
GRACE = 1 << 20  # a part this small may compress any amount (styles, themes)
_ERROR = (b't="e"', b"t='e'")  # the XML of an error cell's type; never in text (it would be &quot;)
_SI = re.compile(rb"<(?:[\w.-]+:)?si\s*>")  # a shared text starts ('<' is never in text)
_PREFIXED = re.compile(rb":(?:c|row|v)[\s/>]")  # a cell, row or value with a namespace prefix (or such text)
_FAR = re.compile(rb'<c r="(?:[A-Za-z]{3}|[B-Zb-z][A-Za-z]|[A-Za-z]{0,2}[0-9]{7})')  # beyond AZ, or row 1,000,000
_FAR_ROW = re.compile(rb'<row r="[0-9]{7}')
_NAMED = (b"<co", b"<cf", b"<cu", b"<ce")  # elements whose names start with c: cols, cfRule, customPr, cellWatch...
_START = re.compile(rb"</?(?:[\w.-]+:)?(?:c|row)[\s/>]")  # where a piece may end: before a cell or row tag
# the slow walk: row, cell and value tags, a value with its text
_TAGS = re.compile(rb"<(/?)(?:[\w.-]+:)?(row|c|v)(?=[\s/>])([^>]*)>([^<]*)")
_REF = re.compile(rb"""(?:^|\s)r\s*=\s*["']([A-Za-z]*)([0-9]*)["']""")
_TYPE_S = re.compile(rb"""(?:^|\s)t\s*=\s*["']s["']""")


@dataclass
class Workbook:
    """What check_workbook learnt of a workbook: its shared texts' sizes (bytes of each
    <si> element, at least its text), and the zip members."""

    source: str
    shared: array[int] = field(default_factory=lambda: array("Q"))
    members: set[str] = field(default_factory=set)


def check_workbook(path: Path, source: str) -> Workbook:
    """The zip's sizes, and every part calamine reads on opening it (all but the sheets)
    streamed: the sizes it declares are the sizes it has (a CRC check), and each shared
    text measured."""
    book = Workbook(source)
    try:
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
            total = sum(i.file_size for i in infos)
            if total > MAX_UNPACKED:
                raise KamError(Problem(source, 0, 0, f"the workbook unpacks to {total} bytes; kam reads at most "
                                                     f"{MAX_UNPACKED} (a zip bomb?)"))
            for i in infos:
                if i.file_size > GRACE and i.file_size > MAX_RATIO * max(i.compress_size, 1):
                    raise KamError(Problem(source, 0, 0, (
                        f"the workbook's part {i.filename} unpacks to {i.file_size} bytes from {i.compress_size} "
                        f"({i.file_size // max(i.compress_size, 1)} times): kam reads parts that unpack to at most "
                        f"{MAX_RATIO} times their size (a zip bomb?)")))
            book.members = {i.filename for i in infos}
            for i in infos:
                if i.filename.lower().endswith((".xml", ".rels")) and "/worksheets/" not in i.filename.lower():
                    if i.filename.lower().endswith("sharedstrings.xml"):
                        book.shared = _shared(z, i.filename)
                    else:
                        for _ in _stream(z, i.filename):
                            pass
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, zlib.error, NotImplementedError) as exc:
        raise KamError(Problem(source, 0, 0, f"not a readable .xlsx workbook (damaged, or not an Excel "
                                             f"2007+ file): {str(exc)[:200]}")) from None
    return book


def _stream(z: zipfile.ZipFile, name: str) -> Iterator[bytes]:
    with z.open(name) as f:
        while block := f.read(BLOCK):
            yield block


def _shared(z: zipfile.ZipFile, name: str) -> array[Any]:
    """The size in bytes of each shared text's <si> element, in order."""
    sizes = array("Q")
    current = -1  # bytes of the element being read; -1: before the first
    carry = b""
    for block in _stream(z, name):
        parts = _SI.split(carry + block)
        carry = parts.pop()  # may go on in the next block (and may end with half a tag)
        for part in parts:
            if current >= 0:
                sizes.append(current + len(part))
            current = 0
        if len(carry) > BLOCK:  # a long text: counted, and only its tail kept
            current += len(carry) - 64 if current >= 0 else 0
            carry = carry[-64:]
    if current >= 0:
        sizes.append(current + len(carry))
    return sizes


@dataclass
class Sheet:
    errors: bool  # it has error cells (#N/A): engine/io/xlsx_reader.py reads them with openpyxl


def check_sheet(path: Path, book: Workbook, title: str, part: str | None) -> Sheet:
    """The sheet `title` (its XML at `part`; None: not known, every sheet is checked) within
    the limits, and whether it has error cells."""
    where = f"{book.source}[{title}]"
    parts = [part] if part in book.members else sorted(m for m in book.members if "/worksheets/" in m.lower()
                                                       and m.lower().endswith(".xml"))
    errors = False
    try:
        with zipfile.ZipFile(path) as z:
            for name in parts:
                errors = _check(z, name, book, where) or errors
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, zlib.error, NotImplementedError) as exc:
        raise KamError(Problem(where, 0, 0, f"cannot read the sheet: {str(exc)[:200]}")) from None
    return Sheet(errors)


def _pieces(z: zipfile.ZipFile, name: str) -> Iterator[bytes]:
    """The part's XML in pieces cut before a cell or row tag, so that no pattern looked for
    spans two pieces; in a long run without such a tag, anywhere but its last 64 bytes."""
    carry = b""
    for block in _stream(z, name):
        data = carry + block
        cut = _cut(data)
        if cut <= 0 and len(data) > BLOCK:
            cut = len(data) - 64
        if cut > 0:
            yield data[:cut]
            carry = data[cut:]
        else:
            carry = data
    if carry:
        yield carry


def _cut(data: bytes) -> int:
    """The last cell or row tag of `data` among its last 64 tags; -1 if none is."""
    at = len(data)
    for _ in range(64):
        at = data.rfind(b"<", 0, at)
        if at < 0 or _START.match(data, at):
            return at
    return -1


def _check(z: zipfile.ZipFile, name: str, book: Workbook, where: str) -> bool:
    """Walk the sheet (_walk) unless a few searches show it within the limits; whether it has
    error cells."""
    errors = uncommon = False
    cells = 0
    for piece in _pieces(z, name):
        errors = errors or any(e in piece for e in _ERROR)
        if uncommon:
            continue
        common = piece.count(b'<c r="')
        cells += common
        others = piece.count(b"<c") - common  # not a cell with its r first: another element, or a cell
        rows = piece.count(b"<row") - piece.count(b'<row r="') - piece.count(b"<rowBreaks")
        uncommon = bool((others and others != sum(piece.count(n) for n in _NAMED)) or rows
                        or _PREFIXED.search(piece) or _FAR.search(piece) or _FAR_ROW.search(piece))
    if uncommon or not _texts_fit(z, name, book, cells):
        _walk(z, name, book, where)
    return errors


def _texts_fit(z: zipfile.ZipFile, name: str, book: Workbook, cells: int) -> bool:
    """Whether `cells` cells surely show shared texts of at most MAX_UNPACKED bytes: each
    at most the longest text; or, counting the values that could show each of the few long
    ones (any <v>k</v>: numbers too, so at most), the rest at most the longest short one."""
    if not cells or not book.shared or cells * max(book.shared) <= MAX_UNPACKED:
        return True
    floor = MAX_UNPACKED // (2 * cells)
    long = [k for k, size in enumerate(book.shared) if size > floor]
    if len(long) > 32:
        return False
    shown = dict.fromkeys(long, 0)
    for piece in _pieces(z, name):
        for k in long:
            shown[k] += piece.count(b"<v>%d</v>" % k)
    rest = max((size for k, size in enumerate(book.shared) if k not in shown), default=0)
    return sum(book.shared[k] * n for k, n in shown.items()) + rest * cells <= MAX_UNPACKED


def _walk(z: zipfile.ZipFile, name: str, book: Workbook, where: str) -> None:
    """Every cell placed as calamine places it (its r reference, or the next column of the
    row; a row's r, or the row after the last), counting the used range and the shared
    texts shown; the first limit passed is the error, at the row that passes it."""
    row = col = 0
    top = left = 1 << 62
    bottom = right = -1
    texts = 0
    shared = book.shared
    cell: tuple[int, int] | None = None  # the cell whose values count as shared texts
    for piece in _pieces(z, name):
        for m in _TAGS.finditer(piece):
            closing, tag, attrs, value = m.groups()
            if tag == b"v":
                if cell is not None and not closing and not attrs.endswith(b"/"):
                    k = int(value) if value.isdigit() else -1
                    texts += shared[k] if 0 <= k < len(shared) else 0
                    if texts > MAX_UNPACKED:
                        raise KamError(Problem(where, cell[0] + 1, cell[1] + 1, (
                            f"the sheet's cells repeat its shared texts to more than {MAX_UNPACKED} bytes by this "
                            f"cell, {_name(*cell)}; kam reads at most {MAX_UNPACKED} (one long text shown by many "
                            f"cells?)")))
                continue
            if tag == b"row":
                if closing:
                    row, col = row + 1, 0
                elif not attrs.endswith(b"/"):
                    ref = _REF.search(attrs)
                    if ref and ref.group(2):
                        row = int(ref.group(2)) - 1
                continue
            if closing or attrs.endswith(b"/"):  # an empty <c/>: calamine skips it
                cell = None
                continue
            ref = _REF.search(attrs)
            if ref and ref.group(2):
                r, c = int(ref.group(2)) - 1, _column(ref.group(1)) - 1
            else:
                r, c = row, col
            col = c + 1
            top, bottom, left, right = min(top, r), max(bottom, r), min(left, c), max(right, c)
            cells = (bottom - top + 1) * (right - left + 1)
            if cells > MAX_SHEET_CELLS:
                raise KamError(Problem(where, r + 1, c + 1, (
                    f"the sheet's cells span {_name(top, left)}:{_name(bottom, right)}, {cells} cells; kam reads "
                    f"sheets of at most {MAX_SHEET_CELLS} cells (is this cell, {_name(r, c)}, a stray one?)")))
            cell = (r, c) if _TYPE_S.search(attrs) else None


def _column(letters: bytes) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + ch - 64
    return n


def _name(row: int, col: int) -> str:
    """A 0-based cell as Excel names it: (0, 27) -> 'AB1'."""
    letters, n = "", col + 1
    while n:
        n, rem = divmod(n - 1, 26)
        letters = chr(65 + rem) + letters
    return f"{letters}{row + 1}"
