"""Which numbers of a worksheet's first rows are percent-formatted, from the workbook's XML.

openpyxl gives number formats too, but its read-only mode scans the whole of every sheet on
opening a workbook that does not record the sheets' sizes (<dimension>; openpyxl's own
write-only mode records none): 9 s of the 100,000-row benchmark, for formats of 100 rows.
This reads only what it needs, with the standard library's XML parser: the workbook's list
of sheets and its relationships, the styles (each cell style's number format), and the
sheet's XML up to the last row asked for.
"""
from __future__ import annotations

import posixpath
import zipfile
import zlib
from collections.abc import Iterator
from typing import Any
from xml.etree.ElementTree import Element, fromstring, iterparse

PERCENT_BUILTIN = {9, 10}  # Excel's built-in "0%" and "0.00%" (ids 0-163 have no stored code)


def percent_numbers(path: Any, title: str, first: int, last: int) -> Iterator[tuple[int, int, bool]]:
    """(row, column from 0, percent-formatted?) of every number in rows first..last of the
    sheet named `title`."""
    with zipfile.ZipFile(path) as z:
        member, rels = _sheet_member(z, title)
        percent = _percent_styles(z, next((t for k, t in rels.values() if k == "styles"), None))
        with z.open(member) as xml:
            yield from _numbers(xml, percent, first, last)


def sheet_part(path: Any, title: str) -> str | None:
    """The zip member that holds the sheet named `title`; None when the workbook does not say."""
    try:
        with zipfile.ZipFile(path) as z:
            return _sheet_member(z, title)[0]
    except (KeyError, ValueError, SyntaxError, zipfile.BadZipFile, OSError, EOFError, zlib.error):
        return None


def _sheet_member(z: zipfile.ZipFile, title: str) -> tuple[str, dict[str, tuple[str, str]]]:
    """The zip member of the sheet named `title`, and the workbook's relationships."""
    book = _target("", _office_document(z))
    rels = _relationships(z, book)
    sheet = next((s for s in _children(fromstring(z.read(book)), "sheets", "sheet") if s.get("name") == title), None)
    if sheet is None:
        raise KeyError(f"no sheet '{title}' in the workbook's part {book}")
    return rels[_attribute(sheet, "id") or ""][1], rels


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]  # the same in transitional and strict OOXML namespaces


def _children(node: Element, *path: str) -> Iterator[Element]:
    if not path:
        yield node
        return
    for child in node:
        if _local(child.tag) == path[0]:
            yield from _children(child, *path[1:])


def _attribute(node: Element, name: str) -> str | None:
    return next((v for k, v in node.attrib.items() if _local(k) == name), None)


def _target(base: str, target: str) -> str:
    """A relationship's target as a member of the zip, relative to the part at `base`."""
    if target.startswith("/"):
        return target[1:]
    return posixpath.normpath(posixpath.join(posixpath.dirname(base), target))


def _office_document(z: zipfile.ZipFile) -> str:
    for rel in _children(fromstring(z.read("_rels/.rels")), "Relationship"):
        if (rel.get("Type") or "").endswith("/officeDocument"):
            return rel.get("Target") or ""
    raise KeyError("no workbook part")


def _relationships(z: zipfile.ZipFile, part: str) -> dict[str, tuple[str, str]]:
    """Id -> (kind, zip member) of a part's relationships ("worksheet", "styles", ...)."""
    name = posixpath.join(posixpath.dirname(part), "_rels", posixpath.basename(part) + ".rels")
    return {rel.get("Id") or "": ((rel.get("Type") or "").rpartition("/")[2], _target(part, rel.get("Target") or ""))
            for rel in _children(fromstring(z.read(name)), "Relationship")}


def _percent_styles(z: zipfile.ZipFile, styles: str | None) -> set[int]:
    """The cell styles (positions in cellXfs, a cell's s=) whose number format is a percent."""
    if styles is None:
        return set()
    root = fromstring(z.read(styles))
    codes = {int(f.get("numFmtId") or -1): f.get("formatCode") or "" for f in _children(root, "numFmts", "numFmt")}
    return {i for i, xf in enumerate(_children(root, "cellXfs", "xf"))
            if (n := int(xf.get("numFmtId") or 0)) in PERCENT_BUILTIN or is_percent(codes.get(n, ""))}


def _numbers(xml: Any, percent: set[int], first: int, last: int) -> Iterator[tuple[int, int, bool]]:
    row = col = 0
    style, number = 0, False
    for event, node in iterparse(xml, events=("start", "end")):
        tag = _local(node.tag)
        if event == "start":
            if tag == "row":
                row = int(node.get("r") or row + 1)
                col = 0
                if row > last:
                    return
            elif tag == "c":
                ref = node.get("r")
                col = _column(ref) if ref else col + 1
                style, number = int(node.get("s") or 0), (node.get("t") or "n") == "n"
            continue
        if tag == "c":
            if first <= row and number and any(_local(v.tag) == "v" and (v.text or "").strip() for v in node):
                yield row, col - 1, style in percent
        elif tag == "row":
            node.clear()


def _column(ref: str) -> int:
    """'AB12' -> 28."""
    n = 0
    for ch in ref:
        if not ch.isalpha():
            break
        n = n * 26 + ord(ch.upper()) - 64
    return n


def is_percent(code: str) -> bool:
    """A number format that shows a percentage: a % outside quotes, escapes and [brackets]."""
    shown, quoted, bracket, escaped = [], False, False, False
    for ch in code:
        if escaped:
            escaped = False
        elif ch == "\\" and not quoted:
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif not quoted and ch in "[]":
            bracket = ch == "["
        elif not quoted and not bracket:
            shown.append(ch)
    return "%" in shown
