"""Cell-level checks of abrnet's wide CSV (`abrnet.data.csv_io`), kept apart so the reader stays readable.

Every check names what the user edits: the column as the header spells it and the file line (``where``), never an
internal array (``signals``) or a record index. Numbers are checked as read (float64) before they are stored as
float32: a cell of ``1e39`` used to overflow to inf in the cast, warn from numpy and then be reported as "contains
NaN or inf", which the cell never held.
"""

from __future__ import annotations

import math
import re

import numpy as np

from abrnet.constants import DEFAULT_SAMPLING_RATE_HZ, DEFAULT_T0_MS, PHYSICAL_RANGES, STATIC_PARAMS
from abrnet.data.schema import DataError

SAMPLE = re.compile(r"^(a_|b_)?s(\d+)$")
FLOAT32_MAX = float(np.finfo(np.float32).max)


def where(row: int) -> str:
    """Row k of the records (row 0: the header) as the file line an editor shows."""
    return "header, line 1" if row == 0 else f"line {row + 1}"


def check_sample_columns(src: str, names: list[str], prefix: str) -> list[int]:
    """Column positions of ``{prefix}s0..s{T-1}``; error if any index is missing, repeated or out of order."""
    found = [
        (j, int(m.group(2))) for j, n in enumerate(names) if (m := SAMPLE.match(n)) and (m.group(1) or "") == prefix
    ]
    for expect, (_j, idx) in enumerate(found):
        if idx != expect:
            name, span = f"{prefix}s{expect}", f"{prefix}s0..{prefix}sT-1"
            msg = f"sample columns must be contiguous {span} in order; found {prefix}s{idx} where {name} was expected"
            raise DataError(src, name, f"{msg} ({where(0)})", 0)
    return [j for j, _ in found]


def check_row_lengths(src: str, rows: list[str] | list[list[str]], width: int) -> None:
    """Every record has the header's number of cells (rows as split cells, or as raw lines of an unquoted file)."""
    for i, r in enumerate(rows):
        cells = len(r) if isinstance(r, list) else (r.count(",") + 1 if r else 0)
        if cells != width:
            raise DataError(
                src, "<row length>", f"has {cells} cells but the header has {width} ({where(i + 1)})", i + 1
            )


def float32_texts(values: np.ndarray) -> list[str]:
    """Each value as the shortest text that reads back to the same float32 ('' for NaN: missing), the rule of
    `abrnet.data.schema.float32_as_typed`. Why: ``.9g`` wrote a typed rate of 33.1 Hz as 33.0999985, exact on
    reading back but a number nobody typed; ``str`` of a float32 scalar is numpy's shortest unique form (33.1)."""
    return ["" if text == "nan" else text for text in map(str, np.asarray(values, np.float32))]


def _block(name: str) -> str:
    """The prefix of a sample column: "" for ``s*``, "a_"/"b_" for the split buffers."""
    match = SAMPLE.match(name)
    return (match.group(1) or "") if match else ""


def _empty_cell(cells: list[str], header: list[str], cols: list[int], k: int) -> str:
    """The message for the empty sample cell ``cols[k]``: when the rest of its block (``s*``, ``a_s*`` or ``b_s*``)
    is empty too, the row is a shorter record padded with blank cells, and the message says why that is refused."""
    prefix = _block(header[cols[k]])
    block = [j for j in cols if _block(header[j]) == prefix]
    if any(cells[j].strip() for j in block[block.index(cols[k]) :]):
        return "empty cell"  # a blank amid values: a missing sample, not a shorter record
    return (
        f"empty cell, as are the rest of this row's {prefix}s* cells: every row of a wide CSV holds the same "
        f"number of samples ({prefix}s0..{prefix}s{len(block) - 1} here), so a record of another length goes in a "
        "file of its own"
    )


def samples_per_cell(src: str, header: list[str], body: list[list[str]], cols: list[int]) -> np.ndarray:
    """The sample cells ``cols`` of every row as float64 (N, len(cols)), cell by cell: slow, but names the first
    cell that is no number (and says when an empty one starts a shorter record's blank tail: `_empty_cell`)."""
    values = np.empty((len(body), len(cols)), np.float64)
    for i, cells in enumerate(body):
        for k, j in enumerate(cols):
            text = cells[j].strip()
            try:
                values[i, k] = float(text)
            except ValueError:
                what = _empty_cell(cells, header, cols, k) if text == "" else f"{text!r} is not a number"
                raise DataError(src, header[j], f"{what} ({where(i + 1)})", i + 1) from None
    return values


def check_samples(src: str, header: list[str], values: np.ndarray, cols: list[int], n_signal: int) -> None:
    """Refuse the first bad sample cell of ``values`` (float64, as read; columns ``cols`` of ``header``, the first
    ``n_signal`` of them ``s*``, the rest split buffers), naming its column and line: NaN/inf anywhere, a value
    float32 cannot hold anywhere, and an ``s*`` value outside the physical range (`ABRCohort.validate`'s bounds)."""
    lo, hi = PHYSICAL_RANGES["signal_uv"]
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(values) | (np.abs(values) > FLOAT32_MAX)
        bad[:, :n_signal] |= (values[:, :n_signal] < lo) | (values[:, :n_signal] > hi)
    if not bad.any():
        return
    i, k = divmod(int(np.argmax(bad.ravel())), values.shape[1])
    x, row = float(values[i, k]), i + 1
    if not math.isfinite(x):
        what = f"value {x} is not a finite number"
    elif abs(x) > FLOAT32_MAX:
        limit = f"at most {FLOAT32_MAX:.4g}; samples lie in [{lo:g}, {hi:g}] µV"
        what = f"value {x:g} is too large for float32 µV ({limit})"
    else:
        what = f"value {x:g} outside [{lo:g}, {hi:g}] µV"
    raise DataError(src, header[cols[k]], f"{what} ({where(row)})", row)


def float32_cell(src: str, name: str, value: float, row: int) -> float:
    """``value`` (a static or label cell) if float32 holds it, else the range error `ABRCohort.validate` gives for
    a value outside it, stating the value as written: the cast would have made it inf."""
    if not (math.isfinite(value) and abs(value) > FLOAT32_MAX):
        return value
    if name in STATIC_PARAMS or name == "threshold_db":
        key, unit = name, " dB" if name == "threshold_db" else ""
    else:  # {I,III,V}_latency_ms / _amplitude_uv
        key, unit = ("latency_ms", " ms") if name.endswith("latency_ms") else ("amplitude_uv", " µV")
    lo, hi = PHYSICAL_RANGES[key]
    raise DataError(src, name, f"value {value:g} outside [{lo:g}, {hi:g}]{unit} ({where(row)})", row)


def file_value(src: str, name: str, values: np.ndarray | None, option: float | None, flag: str) -> float:
    """The file's one ``sampling_rate_hz``/``t0_ms`` (``values``: the column, None if absent) agreeing with the
    ``option`` when given; the option, else the default, for a file without the column."""
    if values is None:
        default = DEFAULT_SAMPLING_RATE_HZ if name == "sampling_rate_hz" else DEFAULT_T0_MS
        return float(default if option is None else option)
    bad = ~np.isfinite(values) | (values != values[0]) | ((values <= 0) if name == "sampling_rate_hz" else False)
    if bad.any():
        row = int(np.flatnonzero(bad)[0]) + 1
        what = "one finite value > 0" if name == "sampling_rate_hz" else "one finite value"
        raise DataError(src, name, f"must be {what} for the whole file, got {values[row - 1]:g} ({where(row)})", row)
    if option is not None and option != values[0]:
        raise DataError(src, name, f"the file says {values[0]:g} but {flag} is {option:g} ({where(1)})", 1)
    return float(values[0])
