"""Generic exports with a time column and one waveform per column (``8 kHz waveform.txt``,
``873_2_1st column time.txt``, ``KG_fzmaABR.csv``).

Layout: a header row whose first cell starts with ``time``, then one row per sample; tab- or comma-separated.
The level of each column is the last ``<number> dB`` in its name (``8kHz80dB``, ``90 dBSPL``); without one,
``level_db`` must be given. Repeated levels are kept as separate records (replicate runs).

Units are not written in these files, so by default they are inferred and recorded in ``attrs["units_in_file"]``:

* time: seconds when the whole time column spans < 0.5 (no ABR window lasts 0.5 ms), else milliseconds;
* amplitude: volts when every |value| < 1e-3 (an ABR in µV peaks at 0.01-100, in volts at 1e-8-1e-4), else µV.

Pass ``time_units`` / ``units`` explicitly when you know better (CLI ``--units``).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from abrnet.data.importers._common import build_cohort, parse_float, read_text, split_lines, to_microvolts
from abrnet.data.schema import ABRCohort, DataError

_LEVEL = re.compile(r"(-?\d+(?:\.\d+)?)\s*dB", re.IGNORECASE)


def read_time_columns(
    path: str | Path,
    *,
    age_years: float | None = None,
    stimulus_rate_hz: float | None = None,
    ear: str | None = None,
    fmp: float | None = None,
    units: str = "auto",
    time_units: str = "auto",
    level_db: float | None = None,
) -> ABRCohort:
    """One record per waveform column; t0 and the sampling rate come from the time column (must be uniform)."""
    path = Path(path)
    src = str(path)
    lines = [ln for ln in split_lines(read_text(path)) if ln.strip()]
    if not lines:
        raise DataError(src, "<header>", "file is empty", 1)
    sep = "\t" if "\t" in lines[0] else ","
    cols = [c.strip() for c in lines[0].split(sep)]
    if not cols[0].lower().startswith("time"):
        raise DataError(src, cols[0] or "<column 1>", "first column must be the time column ('time...')", 1)
    if len(cols) < 2:
        raise DataError(src, "<header>", "no waveform columns after the time column", 1)
    rows = []
    for k, ln in enumerate(lines[1:], start=2):
        cells = ln.split(sep)
        while len(cells) > len(cols) and not cells[-1].strip():
            cells.pop()
        if len(cells) != len(cols):
            raise DataError(src, "<row length>", f"line {k} has {len(cells)} values, header has {len(cols)}", k)
        rows.append([parse_float(src, cols[j], c, k) for j, c in enumerate(cells)])
    arr = np.asarray(rows, dtype=np.float64)
    if arr.shape[0] < 8:
        raise DataError(src, cols[0], f"only {arr.shape[0]} samples")
    t = arr[:, 0]
    tu = time_units.strip().lower()
    if tu == "auto":
        tu = "s" if (t[-1] - t[0]) < 0.5 else "ms"
    if tu not in ("s", "ms"):
        raise DataError(src, "time_units", f"must be auto, s or ms, got {time_units!r}")
    t_ms = t * (1000.0 if tu == "s" else 1.0)
    step = np.diff(t_ms)
    dt = float(np.median(step))
    if not dt > 0 or np.any(np.abs(step - dt) > 0.01 * dt):
        bad = int(np.flatnonzero(~(np.abs(step - dt) <= 0.01 * dt))[0]) if dt > 0 else 0
        raise DataError(src, cols[0], f"time column is not uniformly increasing (line {bad + 3})", bad + 3)
    levels = []
    for name in cols[1:]:
        found = _LEVEL.findall(name)
        if found:
            levels.append(float(found[-1]))
        elif level_db is not None:
            levels.append(float(level_db))
        else:
            raise DataError(src, name, "column name has no '<number> dB' level; pass level_db=...", 1)
    signals, unit = to_microvolts(src, arr[:, 1:].T, units)
    attrs: dict[str, str | float | int] = {
        "format": "time_columns",
        "units_in_file": unit,
        "units_inferred": int(units.strip().lower() == "auto"),
        "time_units_in_file": tu,
        "columns": ";".join(cols[1:]),
    }
    return build_cohort(
        path,
        signals,
        np.asarray(levels),
        sampling_rate_hz=1000.0 / dt,
        t0_ms=float(t_ms[0]),
        age_years=age_years,
        stimulus_rate_hz=stimulus_rate_hz,
        ear=ear,
        fmp=fmp,
        attrs=attrs,
    )
