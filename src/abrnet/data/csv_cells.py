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
    if sorted(idx for _, idx in found) == list(range(len(found))) and any(i != n for n, (_, i) in enumerate(found)):
        k = next(n for n, (_, idx) in enumerate(found) if idx != n)  # a reordered but complete set: say so
        name, at = f"{prefix}s{found[k][1]}", found[k][0] + 1
        msg = f"sample columns out of order: {name} (column {at}) stands where {prefix}s{k} belongs"
        raise DataError(src, name, f"{msg}; write {prefix}s0..{prefix}s{len(found) - 1} in order ({where(0)})", 0)
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


def read_sample_cells(
    src: str, header: list[str], rows: list[str] | list[list[str]], cols: list[int]
) -> tuple[np.ndarray, np.ndarray]:
    """The sample cells ``cols`` of every row (raw lines of an unquoted file, or split cells) as float64 (N,
    len(cols)), 0.0 where a cell is empty, and the (N, len(cols)) bool empty cells (`samples_per_cell`)."""
    n = len(rows)
    try:  # the sample block at once, in C; numpy accepts no number text that Python's float() rejects
        if rows and isinstance(rows[0], str):
            values = np.loadtxt(rows, delimiter=",", usecols=cols, dtype=np.float64, comments=None, ndmin=2)
        else:  # quoted file: its sample cells only, re-joined (a cell holding a comma fails here and goes per cell)
            joined = [",".join(r[j] for j in cols) for r in rows]
            values = np.loadtxt(joined, delimiter=",", dtype=np.float64, comments=None, ndmin=2)
        if values.shape != (n, len(cols)):
            raise ValueError("shape")
        return values, np.zeros(values.shape, bool)
    except ValueError:  # an empty cell, a bad one (or one only float() reads): cell by cell (file, field, row)
        full = [r.split(",") if isinstance(r, str) else r for r in rows]
        return samples_per_cell(src, header, full, cols)


def samples_per_cell(
    src: str, header: list[str], body: list[list[str]], cols: list[int]
) -> tuple[np.ndarray, np.ndarray]:
    """The sample cells ``cols`` of every row as float64 (N, len(cols)), 0.0 where a cell is empty, and the (N,
    len(cols)) bool empty cells (padding or a lost sample: `abrnet.data.csv_recorded.read_padding` tells them
    apart). At once where numpy reads every cell, else cell by cell: slow, but names the first cell that is no
    number (and reads any that only Python's ``float()`` reads)."""
    text = np.char.strip(np.array([[cells[j] for j in cols] for cells in body], dtype=str).reshape(len(body), -1))
    empty = text == ""  # (N, C)
    try:
        return np.where(empty, "0", text).astype(np.float64), empty
    except ValueError:
        pass
    values = np.zeros((len(body), len(cols)), np.float64)
    for i, k in zip(*np.nonzero(~empty), strict=True):
        try:
            values[i, k] = float(text[i, k])
        except ValueError:
            msg = f"{str(text[i, k])!r} is not a number ({where(int(i) + 1)})"
            raise DataError(src, header[cols[k]], msg, int(i) + 1) from None
    return values, empty


def drop_unnamed_tail(
    src: str, header: list[str], rows: list[list[str]] | list[str]
) -> tuple[list[str], list[list[str]] | list[str]]:
    """``header`` and ``rows`` (split cells, or the raw lines of an unquoted file) without the columns at the end of
    the header that have no name and no value in any row: a spreadsheet writes one after a trailing comma. An
    unnamed column holding a value is refused, naming the first such cell: nobody can tell what the value means."""
    k = next((n for n, name in enumerate(reversed(header)) if name), len(header))  # unnamed columns at the end
    if not k:
        return header, rows
    check_row_lengths(src, rows, len(header))
    tails = [r[-k:] if isinstance(r, list) else r.rsplit(",", k)[1:] for r in rows]
    for i, tail in enumerate(tails):
        if any(c.strip() for c in tail):
            j = len(header) - k + next(n for n, c in enumerate(tail) if c.strip())
            msg = f"column {j + 1} has no name but holds a value: name it or delete it ({where(i + 1)})"
            raise DataError(src, "", msg, i + 1)
    kept = [r[:-k] if isinstance(r, list) else r.rsplit(",", k)[0] for r in rows]
    return header[:-k], kept  # type: ignore[return-value]


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
