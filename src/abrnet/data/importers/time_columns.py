"""Generic exports with a time column and one waveform per column (``8 kHz waveform.txt``,
``873_2_1st column time.txt``, ``KG_fzmaABR.csv``, ``JLH_Cztip_MLRAEP_*.csv``).

Layout: a header row whose first cell names time (`is_time_header`: ``time...``, ``t (ms)``, ``t [ms]``, ``Time_ms``,
``t_us`` or a bare unit such as ``ms``), then one row per sample; tab-, semicolon- or comma-separated
(`split_header` picks the one that splits the header and the first row alike), cells optionally quoted (R's
``write.csv``). In a tab- or semicolon-separated file a comma is a decimal comma (European exports: ``0,05``).
Several time columns may lead (``Time, Time (ms), Time (delay corrected)``): the delay-corrected one is the time
re stimulus onset and is used when present; the others are dropped.

Two column layouts:

* level series: the level of each column is the last ``<number> dB`` in its name (``8kHz80dB``, ``90 dBSPL``);
  ``dBSPL``/``dB SPL``/``dB nHL`` name the unit, ``<n>kHz`` a tone pip of that frequency, per column: one file may
  hold several frequencies (``8kHz 80dB, 16kHz 80dB``). A column naming no frequency is a tone pip of the file's
  frequency when the file names exactly one, else unknown. Repeated levels are kept as separate records
  (replicate runs).
* polarity pair: columns ``C, R, AVG`` (condensation, rarefaction, their alternating-polarity average; optionally
  ``Baseline corrected``): one record, the ``AVG`` column, polarity "alternating"; C and R are kept in
  ``extras["condensation_uv"]``/``extras["rarefaction_uv"]``. They are *not* split buffers: their difference holds
  the cochlear microphonic and stimulus artefact, so no FMP is computed from them. The level is never in these
  files: ``level_db`` must be given.

Units are not written in these files, so by default they are inferred and recorded in ``attrs["units_in_file"]``:

* time: the unit the time column's name states (``time (us)``, ``Time (s)``, ``Time [ms]``); otherwise seconds when
  the time step is < 0.002 (in ms that would be > 500 kHz, in s it is >= 500 Hz: no ABR system samples at either),
  else milliseconds. A resulting rate outside `PLAUSIBLE_FS_HZ` is an error (a misread unit), never a silent 24 Hz;
* amplitude: volts when every |value| < 1e-3 (an ABR in µV peaks at 0.01-100, in volts at 1e-8-1e-4), else µV.

Pass ``time_units`` / ``units`` explicitly when you know better (CLI ``--units``).
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np

from abrnet.data.importers._common import (
    PLAUSIBLE_FS_HZ,
    build_cohort,
    parse_float,
    read_text,
    split_lines,
    to_microvolts,
)
from abrnet.data.importers.needed import check_recorded
from abrnet.data.importers.options import note_ignored
from abrnet.data.metadata import DB_NHL, DB_PESPL, DB_SPL, STIMULUS, STIMULUS_FREQ_HZ, UNKNOWN
from abrnet.data.schema import ABRCohort, DataError

_LEVEL = re.compile(r"(-?\d+(?:\.\d+)?)\s*dB\s*(SPL|nHL|peSPL)?", re.IGNORECASE)
_KHZ = re.compile(r"(\d+(?:\.\d+)?)\s*kHz", re.IGNORECASE)
_POLARITY_COLS = ("C", "R", "AVG")
_UNITS = {"s": "s", "sec": "s", "ms": "ms", "msec": "ms", "us": "us", "µs": "us", "usec": "us", "µsec": "us"}
_TO_MS = {"s": 1000.0, "ms": 1.0, "us": 1e-3}
_HEADER_UNIT = re.compile(r"[(\[]\s*(s|sec|ms|msec|us|µs|usec|µsec)\s*[)\]]", re.IGNORECASE)
# ``Time_ms``, ``t-us``, ``t ms``, ``ms``: a unit after a separator, or alone (``times`` is not ``time`` + s).
_SUFFIX_UNIT = re.compile(r"^(?:(?:time|t)[\s_\-]+)?(sec|s|ms|msec|us|µs|usec|µsec)$", re.IGNORECASE)
_T_PREFIX = re.compile(r"^t(?:$|[\s_\-(\[])", re.IGNORECASE)
_SEPARATORS = ("\t", ";", ",")


def is_time_header(cell: str) -> bool:
    """Whether a header cell names a time column. Why more than ``time...``: exports write ``t (ms)``, ``t [ms]``,
    ``Time_ms`` or just ``ms``. ``t`` (the usual symbol) is time with or without a unit; a bare ``s`` is not taken
    for seconds (it could name a signal or sample column), and ``tone`` or ``sample`` are refused as before."""
    text = cell.strip().replace("μ", "µ")
    low = text.lower()
    if low.startswith("time") or _T_PREFIX.match(text) is not None:
        return True
    bare = low.strip("()[] ")
    return bare != "s" and _SUFFIX_UNIT.match(bare) is not None


def split_cells(line: str, sep: str) -> list[str]:
    """One line's cells, quotes removed (R's ``write.csv`` quotes every header name), blanks stripped."""
    return [c.strip() for c in next(csv.reader([line], delimiter=sep), [])]


def split_header(header: str, first_row: str | None = None) -> tuple[str, list[str]]:
    """(separator, header cells) of a time-column file. Why not one fixed rule: the detector once split on tab,
    comma or semicolon while the reader split on tab or comma, so a semicolon file was detected and then misread.
    Both call this. The separator is the one whose split of the header starts with a time column and gives the
    first row as many cells (a header name may hold another separator: ``8 kHz; 80 dB``); failing that, the one
    giving the header most cells (the reader then reports the row that does not fit); else tab or comma."""
    best: tuple[tuple[bool, int, int], str, list[str]] | None = None
    for rank, sep in enumerate(_SEPARATORS):
        cells = split_cells(header, sep)
        if len(cells) > 1 and is_time_header(cells[0]):
            row = split_cells(first_row, sep) if first_row is not None else list(cells)
            while len(row) > len(cells) and not row[-1]:
                row.pop()  # trailing separators, as the reader allows
            key = (len(row) == len(cells), len(cells), -rank)  # fits the row, then most cells, then tab first
            if best is None or key > best[0]:
                best = (key, sep, cells)
    if best is not None:
        return best[1], best[2]
    sep = "\t" if "\t" in header else ","
    return sep, split_cells(header, sep)


def _stated_unit(column: str) -> str | None:
    """The unit text a time header states (``time (us)``, ``Time [ms]``, ``Time_ms``, ``ms``), else None."""
    text = column.strip().replace("μ", "µ")
    m = _HEADER_UNIT.search(text) or _SUFFIX_UNIT.match(text.strip("()[] "))
    return m.group(1) if m else None


def _time_column(cols: list[str]) -> tuple[int, int]:
    """(index of the time column to use, number of leading time columns)."""
    n_time = 0
    while n_time < len(cols) and is_time_header(cols[n_time]):
        n_time += 1
    use = next((j for j in range(n_time) if "delay corrected" in cols[j].lower()), 0)
    return use, n_time


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
    """One record per waveform column (or one per C/R/AVG triple); t0 and the sampling rate come from the time
    column, which must be uniform."""
    path = Path(path)
    src = str(path)
    numbered = [(k + 1, ln) for k, ln in enumerate(split_lines(read_text(path))) if ln.strip()]
    lines = [ln for _, ln in numbered]  # line numbers in errors are the file's (CR, LF and CRLF all end a line)
    if not lines:
        raise DataError(src, "<header>", "file is empty", 1)
    sep, cols = split_header(lines[0], lines[1] if len(lines) > 1 else None)
    while len(cols) > 1 and not cols[-1].strip():  # a trailing separator names no column (rows' are dropped below)
        cols.pop()  # every line ending in a tab was "field '', row 2: '' is not a number" (hunt 48 #7)
    decimal_comma = sep != ","  # a comma that separates no cells is a decimal comma (0,05 in European exports)
    if not is_time_header(cols[0]):
        msg = "first column must be the time column ('time...', 't (ms)', 'Time_ms', 'ms', ...)"
        raise DataError(src, cols[0] or "<column 1>", msg, numbered[0][0])
    t_col, n_time = _time_column(cols)
    if len(cols) <= n_time:
        raise DataError(src, "<header>", "no waveform columns after the time column", 1)
    arr = np.empty((len(lines) - 1, len(cols)), np.float64)
    for i, (k, ln) in enumerate(numbered[1:]):
        cells = split_cells(ln, sep)
        while len(cells) > len(cols) and not cells[-1]:
            cells.pop()
        if len(cells) != len(cols):
            raise DataError(src, "<row length>", f"line {k} has {len(cells)} values, header has {len(cols)}", k)
        numbers = [c.replace(",", ".") for c in cells] if decimal_comma else cells
        try:
            arr[i] = [float(c) for c in numbers]
        except ValueError:
            bad = next(j for j, c in enumerate(numbers) if not _is_float(c))
            parse_float(src, cols[bad], cells[bad], k)
    if arr.shape[0] < 8:
        raise DataError(src, cols[0], f"only {arr.shape[0]} samples")
    t = arr[:, t_col]
    if not np.all(np.isfinite(t)):
        line = numbered[int(np.flatnonzero(~np.isfinite(t))[0]) + 1][0]
        raise DataError(src, cols[t_col], f"time is not a finite number (line {line})", line)
    lines_at = (numbered[0][0], numbered[2][0])  # the header (its unit) and the second sample (the first step)
    tu = _time_unit(src, cols[t_col], time_units, float(np.median(np.diff(t))), lines_at)
    t_ms = t * _TO_MS[tu]
    step = np.diff(t_ms)
    dt = float(np.median(step))
    if not dt > 0 or np.any(np.abs(step - dt) > 0.01 * dt):
        bad = int(np.flatnonzero(~(np.abs(step - dt) <= 0.01 * dt))[0]) if dt > 0 else 0
        line = numbered[bad + 2][0]
        raise DataError(src, cols[t_col], f"time column is not uniformly increasing (line {line})", line)
    names = cols[n_time:]
    data = arr[:, n_time:].T
    extras: dict[str, np.ndarray] = {}
    meta: dict[str, object] = {}
    if all(c in names for c in _POLARITY_COLS):
        record_cols = [f"AVG (column {n_time + names.index('AVG') + 1})"]
        triple, unit = to_microvolts(src, data[[names.index(c) for c in _POLARITY_COLS]], units)
        signals = triple[2:3]
        extras["condensation_uv"] = triple[0:1].astype(np.float32)
        extras["rarefaction_uv"] = triple[1:2].astype(np.float32)
        meta["polarity"] = "alternating"
        levels: list[float] | None = None if level_db is None else [float(level_db)]
        level_lines: list[int | None] = [None]  # the level is never in these files: given
        layout = "polarity_pair"
    else:
        record_cols = [f"{c} (column {n_time + r + 1})" for r, c in enumerate(names)]
        signals, unit = to_microvolts(src, data, units)
        levels, found_units, khz, level_lines = [], set(), [], []
        for name in names:
            found = _LEVEL.findall(name)
            level_lines.append(numbered[0][0] if found else None)  # a level in a column name is on the header line
            if found:
                levels.append(float(found[-1][0]))
                found_units.add(found[-1][1].lower())
            elif level_db is not None:
                levels.append(float(level_db))
            else:  # with the age and rate, if they are missing too: one error for all (`check_recorded`)
                msg = "column name has no '<number> dB' level; pass level_db=... (CLI --level)"
                no_level = DataError(src, name, msg, numbered[0][0])
                check_recorded(src, age_years=age_years, stimulus_rate_hz=stimulus_rate_hz, levels=no_level)
            named = _KHZ.findall(name)
            khz.append(float(named[-1]) * 1000.0 if named else None)  # the last, as for the level
        unit_name = {"spl": DB_SPL, "nhl": DB_NHL, "pespl": DB_PESPL}
        if len(found_units) == 1 and next(iter(found_units)) in unit_name:
            meta["level_unit"] = unit_name[next(iter(found_units))]
        extras.update(_tone_pips(khz))
        layout = "level_series"
    attrs: dict[str, str | float | int] = {
        "format": "time_columns",
        "layout": layout,
        "units_in_file": unit,
        "units_inferred": int(units.strip().lower() == "auto"),
        "time_units_in_file": tu,
        "time_column": cols[t_col],
        "columns": ";".join(names),
    }
    if level_db is not None and levels is not None and all(at is not None for at in level_lines):
        note_ignored(attrs, "level_db")  # every column names its level: --level said nothing (hunt 48 #6)
    return build_cohort(
        path,
        signals,
        None if levels is None else np.asarray(levels),
        sampling_rate_hz=1000.0 / dt,
        t0_ms=float(t_ms[0]),
        age_years=age_years,
        stimulus_rate_hz=stimulus_rate_hz,
        ear=ear,
        fmp=fmp,
        extras=extras,
        attrs=attrs,
        metadata=meta,
        locate=lambda r, j: (record_cols[r], None if j is None else numbered[j + 1][0]),
        lines={"intensity_db": level_lines},
    )


def _tone_pips(khz: list[float | None]) -> dict[str, np.ndarray]:
    """Per column ``stimulus``/``stimulus_freq_hz`` from the frequency each column name states (Hz, None: none).
    Why per column: a file of 8 and 16 kHz series once got stimulus "unknown" and no frequency for every record.
    A column naming none takes the file's one frequency; with several it stays unknown, never a guess."""
    named = {f for f in khz if f is not None}
    if not named:
        return {}
    common = next(iter(named)) if len(named) == 1 else None
    freq = np.array([common if f is None else f for f in khz], dtype=np.float64)  # None -> NaN
    return {STIMULUS: np.where(np.isnan(freq), UNKNOWN, "tone_pip"), STIMULUS_FREQ_HZ: freq}


def _time_unit(src: str, column: str, time_units: str, step: float, lines_at: tuple[int, int]) -> str:
    """The time unit: ``time_units`` when given, else the column name's (``time (us)``, ``Time [ms]``), else guessed
    from the step. A stated unit that gives an implausible rate (`PLAUSIBLE_FS_HZ`) is an error, never a silent
    24 Hz or 24 MHz recording."""
    given = _UNITS.get(time_units.strip().lower().replace("μ", "µ"))
    if given is None and time_units.strip().lower() != "auto":
        raise DataError(src, "time_units", f"must be auto, s, ms or us, got {time_units!r}")
    said = _stated_unit(column)
    stated = _UNITS.get(said.lower()) if said else None
    guess = "s" if step < 0.002 else "ms"
    unit = given or stated or guess
    fs = 1000.0 / (step * _TO_MS[unit]) if step > 0 else float("nan")
    lo, hi = PLAUSIBLE_FS_HZ
    if step > 0 and not lo <= fs <= hi:
        why = "time_units" if given else f"the header's unit {said!r}" if stated else "the time step"
        fits = [u for u in ("s", "ms", "us") if lo <= 1000.0 / (step * _TO_MS[u]) <= hi]  # the units it could be
        looks = fits[0] if fits else guess
        hint = f" (the step looks like {looks})" if stated and not given and looks != unit else ""
        # Why not "pass time_units=...": no CLI option sets it, and a header stating the wrong unit needs correcting
        fix = (
            "pass time_units=s, ms or us"
            if given
            else f"{'correct' if stated else 'state'} the header's unit, "
            f"e.g. 'time ({looks})' (from Python: time_units='{looks}')"
        )
        raise DataError(
            src, column, f"a step of {step:g} {unit} is {fs:g} Hz, implausible (expected {lo:g}-{hi:g} Hz) by "
            f"{why}{hint}; {fix}",
            lines_at[0] if stated and not given else lines_at[1],
        )  # fmt: skip
    return unit


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
