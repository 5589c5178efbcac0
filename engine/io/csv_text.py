"""A CSV file's bytes: its encoding, decided by its lines, and the lines that are not in it.

A BOM decides (UTF-8, UTF-16). Otherwise each line that is not plain ASCII votes: UTF-8 if
it decodes as UTF-8, Windows-1251 if it does not; UTF-8 wins a tie. One line in another
encoding cannot sway the file, and is itself a line that does not belong:

- in a UTF-8 file, a line that does not decode as UTF-8 (a Windows-1251 line pasted in);
- in a Windows-1251 file, a line that decodes as UTF-8 - Cyrillic in Windows-1251 never
  does, as its letters follow each other with no UTF-8 continuation byte between them, so
  read as Windows-1251 it would be garbled - and a line with 0x98, no Windows-1251 character.

Such a line's record is rejected with the line's number and the reason; the rest of the file
reads as its encoding. A file that is all UTF-8 is read in one pass (256 KB at a time, in C);
only a file with a line that is not is looked at line by line.

The same pass finds whether the file can be cut into blocks of lines that workers parse
(csv_reader.Block): no quote character, no CR without its LF, no line as long as a cell may be.
UTF-16 files (by their BOM) decode or fail as a whole.
"""
from __future__ import annotations

import codecs
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import KamError, Problem
from .limits import MAX_FIELD, MAX_LINE

CHUNK = 1 << 18  # 256 KB: a few copies of a piece are in memory at once
BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
NAMES = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8", "cp1251": "Windows-1251", "utf-16": "UTF-16"}
_NOT_1251 = 0x98  # the one byte Windows-1251 leaves undefined

# why a line does not belong, by kind
_NOT_UTF8, _UTF8_IN_1251, _NOT_1251_BYTE = 0, 1, 2


@dataclass
class Foreign:
    """The lines of a file that are not in its encoding, in order, with why (kind, the byte's
    column and value) - arrays, as a broken file may have many."""

    lines: array[Any] = field(default_factory=lambda: array("q"))
    kinds: array[Any] = field(default_factory=lambda: array("b"))
    columns: array[Any] = field(default_factory=lambda: array("q"))
    values: array[Any] = field(default_factory=lambda: array("h"))  # the byte; -1: none to show
    guess: array[Any] = field(default_factory=lambda: array("b"))  # a line not UTF-8 reads as Windows-1251

    def add(self, line: int, kind: int, column: int = 0, value: int = -1, guess: bool = False) -> None:
        self.lines.append(line)
        self.kinds.append(kind)
        self.columns.append(column)
        self.values.append(value)
        self.guess.append(guess)

    def __bool__(self) -> bool:
        return bool(self.lines)

    def first(self, start: int, end: int) -> tuple[int, str] | None:
        """The first foreign line among lines start..end, with its reason; None if none is."""
        i = bisect_left(self.lines, start)
        if i < len(self.lines) and self.lines[i] <= end:
            return self.lines[i], self.reason(i)
        return None

    def within(self, start: int, end: int) -> dict[int, str]:
        """Line -> reason of the foreign lines among start..end."""
        lo, hi = bisect_left(self.lines, start), bisect_right(self.lines, end)
        return {self.lines[i]: self.reason(i) for i in range(lo, hi)}

    def reason(self, i: int) -> str:
        line, kind, column, value = self.lines[i], self.kinds[i], self.columns[i], self.values[i]
        if kind == _UTF8_IN_1251:
            return (f"line {line} is UTF-8 text in a Windows-1251 file (read as Windows-1251 it would be "
                    f"garbled): save the file in one encoding")
        if kind == _NOT_1251_BYTE:
            return (f"line {line} has the byte 0x{value:02X} (column {column}), which is no Windows-1251 "
                    f"character: save the file in one encoding")
        guess = "; Windows-1251?" if self.guess[i] else ""
        return (f"line {line} is not UTF-8 text like the rest of the file (byte 0x{value:02X} at column "
                f"{column}{guess}): save the file in one encoding")


@dataclass
class Scan:
    encoding: str  # a Python codec name
    foreign: Foreign  # the lines not in it
    plain: bool  # it can be cut at line feeds into blocks (see the module's doc)


def scan(path: Path, head: bytes, source: str) -> Scan:
    """The file's encoding and the lines not in it (`head`: its first bytes)."""
    for bom, name in BOMS:
        if head.startswith(bom):
            if name == "utf-16":
                _whole(path, name, source)
                return Scan(name, Foreign(), False)
            return _scan(path, source, name)
    if b"\x00" in head:
        raise KamError(Problem(source, 0, 0, "this is not a text (CSV) file: it contains binary data "
                                             "(an .xlsx or .parquet file under another name?)"))
    return _scan(path, source, None)


def _scan(path: Path, source: str, fixed: str | None) -> Scan:
    plain = Plain()
    for piece in pieces(path, source):
        plain.see(piece)
        if piece.isascii():
            continue
        try:
            piece.decode("utf-8")
        except UnicodeDecodeError:
            return _by_lines(path, source, fixed)
    return Scan(fixed or "utf-8", Foreign(), plain.ok)


def _by_lines(path: Path, source: str, fixed: str | None) -> Scan:
    """Each line that is not ASCII looked at: which encoding it decodes in."""
    plain = Plain()
    utf8 = array("q")  # non-ASCII lines that decode as UTF-8
    other = Foreign()  # ... and those that do not, as foreign lines of a UTF-8 file
    not_1251 = Foreign()  # lines with 0x98, as foreign lines of a Windows-1251 file
    line = 0
    for piece in pieces(path, source):
        plain.see(piece)
        for raw in piece.splitlines(keepends=True):  # \r, \n and \r\n: lines as the csv reader counts them
            line += 1
            if raw.isascii():
                continue
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                at = raw.find(_NOT_1251)
                other.add(line, _NOT_UTF8, exc.start + 1, raw[exc.start], guess=at < 0)
                if at >= 0:
                    not_1251.add(line, _NOT_1251_BYTE, at + 1, _NOT_1251)
                continue
            utf8.append(line)
    if fixed or len(utf8) >= len(other.lines):
        return Scan(fixed or "utf-8", other, plain.ok)
    foreign = Foreign()
    i = 0
    for n in utf8:  # merged in line order with the lines that have 0x98
        while i < len(not_1251.lines) and not_1251.lines[i] < n:
            foreign.add(not_1251.lines[i], _NOT_1251_BYTE, not_1251.columns[i], _NOT_1251)
            i += 1
        foreign.add(n, _UTF8_IN_1251)
    for j in range(i, len(not_1251.lines)):
        foreign.add(not_1251.lines[j], _NOT_1251_BYTE, not_1251.columns[j], _NOT_1251)
    return Scan("cp1251", foreign, plain.ok)


def pieces(path: Path, source: str) -> Iterator[bytes]:
    """The file in pieces of about CHUNK bytes, each ending with a line feed (but the last): a
    line, and a CR LF, is never cut. A line longer than MAX_LINE bytes is the file's error."""
    carry = b""
    done = 0  # bytes of the file before `carry`
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            data = carry + block if carry else block
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                if len(data) > MAX_LINE:
                    raise _too_long(path, source, done)
                carry = data
                continue
            piece, carry = (data[:cut], data[cut:]) if cut < len(data) else (data, b"")
            if len(carry) > MAX_LINE:
                raise _too_long(path, source, done + cut)
            if len(piece) > MAX_LINE:
                at = _long_at(piece)
                if at >= 0:
                    raise _too_long(path, source, done + at)
            done += cut
            yield piece
    if carry:
        yield carry


def _long_at(piece: bytes) -> int:
    """Where in `piece` a line longer than MAX_LINE starts; -1 if none is."""
    start = 0
    for line in piece.split(b"\n"):
        if len(line) > MAX_LINE:
            return start
        start += len(line) + 1
    return -1


def _too_long(path: Path, source: str, offset: int) -> KamError:
    """The error of the line starting at byte `offset`, too long."""
    return KamError(Problem(source, _line_at(path, offset), 0, f"the line is longer than {MAX_LINE} bytes, the most "
                                                              f"a line may be: is this an export of accounts?"))


def _line_at(path: Path, offset: int) -> int:
    """The line (as the csv reader counts them: CR, LF, CR LF) that byte `offset` is on."""
    line, done, cr = 1, 0, False
    with open(path, "rb") as f:
        while done < offset and (chunk := f.read(min(CHUNK, offset - done))):
            line += chunk.count(b"\n") + chunk.count(b"\r") - chunk.count(b"\r\n") - (cr and chunk[:1] == b"\n")
            cr = chunk.endswith(b"\r")
            done += len(chunk)
    return line


class Plain:
    """Whether a file seen piece by piece can be cut into blocks at its line feeds."""

    def __init__(self) -> None:
        self.ok = True

    def see(self, piece: bytes) -> None:
        if not self.ok:
            return
        # a piece ends with a line feed (but the last): a CR at its end is a lone one
        if b'"' in piece or (b"\r" in piece and piece.count(b"\r") != piece.count(b"\r\n")):
            self.ok = False
        elif len(piece) >= MAX_FIELD and any(len(x) >= MAX_FIELD for x in piece.split(b"\n")):
            self.ok = False  # a line that long may hold a cell over the limit: the main process stops at it


def _whole(path: Path, encoding: str, source: str) -> None:
    """A UTF-16 file decodes as a whole, or is the file's error at its first bad byte."""
    decoder = codecs.getincrementaldecoder(encoding)()
    done = 0
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                raise _undecodable(path, source, encoding, done + max(exc.start, 0)) from None
            done += len(chunk)
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise _undecodable(path, source, encoding, done) from None


def _undecodable(path: Path, source: str, encoding: str, offset: int) -> KamError:
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    line, done = 1, 0
    with open(path, "rb") as f:
        while done < offset and (chunk := f.read(min(CHUNK, offset - done))):
            line += decoder.decode(chunk).count("\n")
            done += len(chunk)
    return KamError(Problem(source, line, 0, f"cannot decode the file as {NAMES[encoding]} (byte {offset} "
                                             f"on line {line})"))
