"""TDT BioSigRZ CSV exports as the ABRA analyser reads them (ucsdmanorlab/abranalysis, ``utils/processFiles.py``).

Layout (one row per averaged waveform): a header row of record fields - ``SGI, Rec No., ...`` as BioSigRZ writes
them, at least ``Level(dB)`` (or ``Level(db)``; ``PostAtten(dB)`` when the level is an attenuation) and usually
``Freq(Hz)`` - followed by the samples in columns named ``0, 1, ..., T-1``. ABRA also accepts the same table
below two title lines; so does this reader (the header is the first line naming a level column).

What the file does not say, and how it is handled:

* sampling rate: not a field. ``sampling_rate_hz`` (CLI ``--sampling-rate``) when given; otherwise ABRA's convention
  that the export spans 10 ms (``fs = T / 10 ms``; 244 samples → 24.4 kHz, the RZ6 rate), recorded in
  ``attrs["sampling_rate_source"]``. t0 is the first sample (0 ms).
* units: ABRA asks the user (µV or nV); here ``units`` (default "auto": volts when every |value| < 1e-3, else µV).
  Pass ``units="nV"`` for nanovolt exports.
* stimulus: ``Freq(Hz)`` > 0 is a tone pip of that frequency, ``Click`` a click, 0 or missing unknown.
* level unit: ``Level(dB)`` is dB SPL (ABRA reports it as "Sound amplitude (dB SPL)"), ``PostAtten(dB)`` dB
  attenuation (ABRA converts it with a per-frequency calibration it asks for; abrnet keeps the attenuation).
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np

from abrnet.data.importers._common import build_cohort, read_text, to_microvolts
from abrnet.data.metadata import DB_ATTENUATION, DB_SPL
from abrnet.data.schema import ABRCohort, DataError

LEVEL_COLUMNS: dict[str, str] = {"level(db)": DB_SPL, "postatten(db)": DB_ATTENUATION}
ABRA_WINDOW_MS = 10.0


def header_row(rows: list[list[str]]) -> int | None:
    """Index of the header row (the first of the first three rows naming a level column), else None."""
    for k, row in enumerate(rows[:3]):
        if any(c.strip().lower() in LEVEL_COLUMNS for c in row):
            return k
    return None


def read_biosig_csv(
    path: str | Path,
    *,
    age_years: float | None = None,
    stimulus_rate_hz: float | None = None,
    ear: str | None = None,
    fmp: float | None = None,
    units: str = "auto",
    sampling_rate_hz: float | None = None,
) -> ABRCohort:
    """One record per row; samples are the trailing ``0..T-1`` columns (layout in the module docstring)."""
    path = Path(path)
    src = str(path)
    numbered = _rows(src, read_text(path))
    rows = [r for _, r in numbered]
    at = header_row(rows)
    if at is None:
        raise DataError(src, "Level(dB)", "no BioSigRZ header row with a 'Level(dB)' or 'PostAtten(dB)' column", 1)
    head_line = numbered[at][0]
    lines = [line for line, _ in numbered[at + 1 :]]  # the file line of each record
    names = [c.strip() for c in rows[at]]
    lower = [c.lower() for c in names]
    level_col = next(j for j, c in enumerate(lower) if c in LEVEL_COLUMNS)
    if "0" not in names:
        msg = f"no sample columns '0', '1', ... after the record fields (line {head_line})"
        raise DataError(src, "0", msg, head_line)
    first = names.index("0")
    for i, name in enumerate(names[first:]):
        if name != str(i):
            msg = f"sample columns must be 0..T-1 in order; found {name!r} at sample {i}"
            raise DataError(src, name, msg, head_line)
    n_samples = len(names) - first
    body = rows[at + 1 :]
    if not body:
        raise DataError(src, "<rows>", f"no records below the header (line {head_line + 1})", head_line + 1)
    data = np.empty((len(body), n_samples), np.float64)
    level = np.empty(len(body))
    freq = np.full(len(body), np.nan)
    freq_col = lower.index("freq(hz)") if "freq(hz)" in lower else None
    click = np.zeros(len(body), bool)
    for i, (line, row) in enumerate(zip(lines, body, strict=True)):
        cells = [c.strip() for c in row]
        while len(cells) > len(names) and not cells[-1]:
            cells.pop()
        if len(cells) != len(names):
            raise DataError(src, "<row length>", f"line {line} has {len(cells)} cells, header has {len(names)}", line)
        try:
            data[i] = [float(c) for c in cells[first:]]
            level[i] = float(cells[level_col])
        except ValueError:
            j = next(j for j in [level_col, *range(first, len(cells))] if not _number(cells[j]))
            raise DataError(src, names[j], f"{cells[j]!r} is not a number (line {line})", line) from None
        if freq_col is not None:
            text = cells[freq_col]
            click[i] = text.lower() == "click"
            freq[i] = float(text) if _number(text) else math.nan
    if n_samples < 8:
        raise DataError(src, "0..T-1", f"only {n_samples} samples per record")
    signals, unit = to_microvolts(src, data, units)
    attrs: dict[str, str | float | int] = {"format": "biosig_csv", "units_in_file": unit}
    attrs["units_inferred"] = int(units.strip().lower() == "auto")
    if sampling_rate_hz is None:
        sampling_rate_hz = n_samples / (ABRA_WINDOW_MS / 1000.0)
        attrs["sampling_rate_source"] = f"assumed: {n_samples} samples span {ABRA_WINDOW_MS:g} ms (ABRA convention)"
    else:
        attrs["sampling_rate_source"] = "given"
    tone = np.isfinite(freq) & (freq > 0)
    stimulus = np.where(click, "click", np.where(tone, "tone_pip", "unknown"))
    cohort = build_cohort(
        path,
        signals,
        level,
        sampling_rate_hz=float(sampling_rate_hz),
        t0_ms=0.0,
        age_years=age_years,
        stimulus_rate_hz=stimulus_rate_hz,
        ear=ear,
        fmp=fmp,
        attrs=attrs,
        metadata={"level_unit": LEVEL_COLUMNS[lower[level_col]]},
        locate=lambda r, j: (
            f"line {lines[r]}" if j is None else f"{names[first + j]} (column {first + j + 1})",
            lines[r],
        ),
    )
    cohort.extras["stimulus"] = stimulus.astype(str)
    cohort.extras["stimulus_freq_hz"] = np.where(tone, freq, np.nan)
    return cohort


def _rows(src: str, text: str) -> list[tuple[int, list[str]]]:
    """(file line, cells) of each non-blank CSV row. Why the reader's own line count: blank lines are skipped and a
    quoted cell may span lines, so a row's index is not its line; CR, LF and CRLF all end a line (a CR-only file
    used to stop the csv module with a traceback)."""
    reader = csv.reader(io.StringIO(text, newline=None))
    try:
        return [(reader.line_num, r) for r in reader if any(c.strip() for c in r)]
    except csv.Error as exc:
        raise DataError(src, "<csv>", f"unreadable CSV ({exc}) (line {reader.line_num})", reader.line_num) from None


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
