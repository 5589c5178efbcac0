"""The limits every reader keeps, in one place: docs/limits.md lists them with
these numbers (tests/test_hostile_input.py checks that it does)."""
from __future__ import annotations

MAX_FIELD = 1_000_000  # characters in one cell
MAX_LINE = 16_000_000  # bytes in one line of a text file (CSV, JSON Lines)
MAX_COLUMNS = 16_384  # columns of a header (Excel's own limit), keys of a JSON object
MAX_ID = 256  # characters of an account id
MAX_UNPACKED = 1_000_000_000  # bytes a Parquet file's data, or an .xlsx workbook's parts, take unpacked
MAX_RATIO = 100  # times its packed size an .xlsx part over a megabyte may unpack to (a zip bomb)
MAX_SHEET_CELLS = 60_000_000  # cells of an .xlsx sheet's used range (calamine holds it whole)
