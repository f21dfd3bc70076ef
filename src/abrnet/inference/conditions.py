"""The conditions file of `abrnet generate --conditions` (and `abrnet.inference.api.read_conditions`): one row of
physical static parameters per condition, read and checked in full before the model runs.

Why a module of its own: its errors must point at the line the user sees in an editor, which means counting the
blank lines the reader skips, and it keeps `api` (the model object) under the size limit.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from abrnet.constants import PHYSICAL_RANGES, STATIC_PARAMS
from abrnet.data.schema import OPTIONAL_STATIC, DataError


def _rows_with_lines(path: Path) -> list[tuple[int, list[str]]]:
    """(file line where the row starts, cells) of every row that is not blank.

    Why the reader's own count: skipping blank rows and then numbering what was left by position put an error below
    blank lines on the wrong line (line 3 for a value on line 5); ``line_num`` also counts the extra lines of a
    quoted cell that spans several."""
    rows: list[tuple[int, list[str]]] = []
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        last = 0
        for cells in reader:
            if any(c.strip() for c in cells):
                rows.append((last + 1, cells))
            last = reader.line_num
    return rows


def _cell_value(src: str, name: str, cells: list[str], col: int, row: int, line: int, width: int) -> float:
    """One cell as a number in the parameter's physical range. An empty FMP cell is NaN, "not measured", as
    ``--fmp nan``, `check_conditions` and the wide CSV read it; an empty age, level or rate is still an error."""
    if col >= len(cells):
        raise DataError(
            src, name, f"no value: the row has {len(cells)} of the header's {width} cells (line {line})", row
        )
    text = cells[col].strip()
    optional = name in OPTIONAL_STATIC
    if optional and not text:
        return math.nan
    try:
        value = float(text)
    except ValueError:
        raise DataError(src, name, f"{text!r} is not a number (line {line})", row) from None
    if optional and math.isnan(value):
        return value
    lo, hi = PHYSICAL_RANGES[name]
    if not (math.isfinite(value) and lo <= value <= hi):
        nan = " or empty (not measured)" if optional else ""
        raise DataError(src, name, f"value {value:g} outside [{lo:g}, {hi:g}]{nan} (line {line})", row)
    return value


def read_conditions(path: str | Path) -> np.ndarray:
    """(M, 4) physical static rows from a CSV with header age_years, intensity_db, stimulus_rate_hz, fmp (an empty
    fmp cell: NaN, not measured). Errors name the file, the column, the condition's row (1 = the first below the
    header) and its line in the file."""
    path = Path(path)
    src = str(path)
    if not path.exists():
        raise DataError(src, "<file>", "no such file")
    rows = _rows_with_lines(path)
    if not rows:
        raise DataError(src, "<header>", "file is empty: expected a header row (line 1)", 0)
    header_line, header_cells = rows[0]
    header = [c.strip() for c in header_cells]
    if len(header) == 1 and set(STATIC_PARAMS) <= {c.strip().strip('"') for c in header[0].split(";")}:
        msg = "separated by ';' (a spreadsheet's export): save it comma-separated, decimal point '.'"
        msg += f" (line {header_line})"
        raise DataError(src, "<format>", msg, 0)  # was "age_years: required column missing", beside that column
    for name in STATIC_PARAMS:
        if name not in header:
            raise DataError(
                src, name, f"required column missing (header: {', '.join(STATIC_PARAMS)}; line {header_line})", 0
            )
    if len(rows) < 2:
        raise DataError(src, "<rows>", f"no conditions below the header (line {header_line + 1})", 1)
    out = np.empty((len(rows) - 1, len(STATIC_PARAMS)), np.float32)
    for i, (line, cells) in enumerate(rows[1:], start=1):
        for j, name in enumerate(STATIC_PARAMS):
            out[i - 1, j] = _cell_value(src, name, cells, header.index(name), i, line, len(header))
    return out
