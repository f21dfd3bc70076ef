"""EPL CFTS 3 "Fast ABR" TSV exports (``XYZ999-ABR-15-1000.tsv``).

Layout: ``[FAST ABR]`` then ``key=value`` lines (``Levels=20;25;...;``, ``Threshold=29.22``, ``[Params]`` with
``Stimulus.Rep rate (/sec)``, ``Stimulus.Destination=Right ear``, ``Response.Fs (Hz)``), then ``[DATA]`` and a
tab-separated table ``Time (ms), Neural_<level>..., CM_<level>...``.

Units: µV (values are gain-corrected: the averaged noise floor is 0.1-0.2 µV and the neural response grows
monotonically from there to 20 µV at 80 dB; in volts these numbers would be megavolts).
The neural columns are the records; the cochlear-microphonic columns go to ``extras["cm_uv"]`` (same rows).
t0 is the first value of the Time column.
The file's algorithmic threshold (``Threshold=``) is stored in ``threshold_db`` for every record. An empty value,
``NaN`` or ``None`` (how programs write a missing number; the sibling EPL analysis files write ``None``; the one
fixture states a value, so no token is documented) means "no threshold stated" → NaN. Anything else that is not a
finite number (``29,2``, ``inf``, ``high``) is an error at its line: a typo read as "no threshold" would silently
drop a label the file holds.
Stimulus rate: one ``Stimulus.Rep rate (/sec)`` per file (the Fast ABR sequence interleaves levels and frequencies
at one rate), so it stays one per file; ``stimulus_rate_hz=`` overrides it (and ``ear=`` the
``Stimulus.Destination``), noted in ``attrs["overridden_options"]`` where they differ.
Metadata: levels in dB SPL (CFTS calibrates in SPL); ``Frequency (kHz)`` > 0 is a tone pip of that frequency;
``Stimulus.Alternate Polarity=TRUE`` → alternating (FALSE: one polarity, not named, so "unknown").
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

from abrnet.data.importers._common import (
    build_cohort,
    note_override,
    parse_float,
    read_text,
    split_lines,
    to_microvolts,
)
from abrnet.data.metadata import DB_SPL
from abrnet.data.schema import ABRCohort, DataError


def read_fast_abr(
    path: str | Path,
    *,
    age_years: float | None = None,
    stimulus_rate_hz: float | None = None,
    ear: str | None = None,
    fmp: float | None = None,
    units: str = "uV",
) -> ABRCohort:
    """One record per ``Neural_<level>`` column; arguments override or supply what the header lacks."""
    path = Path(path)
    src = str(path)
    lines = split_lines(read_text(path))
    if not lines or lines[0].strip() != "[FAST ABR]":
        raise DataError(src, "<format>", "not a Fast ABR export (first line is not '[FAST ABR]')", 1)
    try:
        data_at = next(i for i, ln in enumerate(lines) if ln.strip() == "[DATA]")
    except StopIteration:
        raise DataError(src, "[DATA]", "section missing: no waveform table") from None
    meta = {k.strip(): v.strip() for k, _, v in (ln.partition("=") for ln in lines[:data_at] if "=" in ln)}
    key_at = {ln.partition("=")[0].strip(): i for i, ln in enumerate(lines[:data_at], start=1) if "=" in ln}
    value = lambda key: parse_float(src, key, meta[key], key_at[key])  # a header number; errors name its line
    # (file line, text) of the table: errors name the line the user finds, blank lines and CR ends included
    table = [(i + 1, ln) for i, ln in enumerate(lines[data_at + 1 :], start=data_at + 1) if ln.strip()]
    if len(table) < 9:
        raise DataError(src, "[DATA]", f"only {max(len(table) - 1, 0)} samples", data_at + 1)
    head_at, head = table[0]
    cols = [c.strip() for c in head.split("\t")]
    if not cols[0].lower().startswith("time"):
        raise DataError(src, cols[0], "first column of [DATA] must be 'Time (ms)'", head_at)
    rows = []
    for k, (at, ln) in enumerate(table[1:], start=1):
        cells = ln.strip().split("\t")
        if len(cells) != len(cols):
            raise DataError(src, "[DATA]", f"sample {k} has {len(cells)} values, header has {len(cols)}", at)
        rows.append([parse_float(src, cols[j], c, at) for j, c in enumerate(cells)])
    arr = np.asarray(rows, dtype=np.float64)
    t_ms = arr[:, 0]
    neural = [(j, c) for j, c in enumerate(cols) if c.startswith("Neural_")]
    cm = {c.removeprefix("CM_"): j for j, c in enumerate(cols) if c.startswith("CM_")}
    if not neural:
        raise DataError(src, "Neural_<level>", "no neural response columns in [DATA]")
    level_db = np.array([parse_float(src, c, c.removeprefix("Neural_"), head_at) for _, c in neural])
    header_levels = [s for s in meta.get("Levels", "").split(";") if s.strip()]
    said = sorted(parse_float(src, "Levels", s, key_at.get("Levels")) for s in header_levels)
    if header_levels and said != sorted(level_db.tolist()):
        msg = f"header levels {header_levels} do not match the Neural_ columns"
        raise DataError(src, "Levels", msg, key_at["Levels"])
    fs = value("Response.Fs (Hz)") if meta.get("Response.Fs (Hz)") else 1000.0 / float(np.median(np.diff(t_ms)))
    step = np.diff(t_ms)
    off = ~(np.abs(step - 1000.0 / fs) <= 0.01 * 1000.0 / fs)  # NaN time is off too, never passed silently
    if not np.isfinite(t_ms[0]) or off.any():
        at = table[1 + (int(np.flatnonzero(off)[0]) + 1 if np.isfinite(t_ms[0]) else 0)][0]
        raise DataError(src, cols[0], f"time steps do not match Response.Fs = {fs:g} Hz (line {at})", at)
    signals, unit = to_microvolts(src, arr[:, [j for j, _ in neural]].T, units)
    cm_bad = ~np.isfinite(arr[:, list(cm.values())])  # the records' NaNs are located by `build_cohort`, these here
    if cm_bad.any():
        i, j = np.argwhere(cm_bad)[0]
        at = table[i + 1][0]
        raise DataError(src, f"CM_{list(cm)[j]}", f"not a finite number (line {at})", at)
    extras = {}
    if len(cm) == len(neural) and all(c.removeprefix("Neural_") in cm for _, c in neural):
        extras["cm_uv"] = to_microvolts(src, arr[:, [cm[c.removeprefix("Neural_")] for _, c in neural]].T, unit)[
            0
        ].astype(np.float32)
    # the line of each record-level value the file states: levels in the [DATA] header, the rest in key=value lines
    stated: dict[str, int | None] = {"intensity_db": head_at, "threshold_db": key_at.get("Threshold")}
    rate_key = "Stimulus.Rep rate (/sec)"
    dest = meta.get("Stimulus.Destination", "").lower()
    file_ear = "R" if re.search(r"\bright\b", dest) else "L" if re.search(r"\bleft\b", dest) else None
    overridden: dict[str, str | float | int] = {}  # an option differing from the header: kept, and warned about
    note_override(overridden, "stimulus_rate_hz", meta.get(rate_key), stimulus_rate_hz)
    note_override(overridden, "ear", file_ear, ear)
    if stimulus_rate_hz is None and rate_key in meta:
        stimulus_rate_hz, stated["stimulus_rate_hz"] = value(rate_key), key_at[rate_key]
    ear = file_ear if ear is None else ear
    threshold = _threshold(src, meta.get("Threshold", ""), key_at.get("Threshold"))
    attrs: dict[str, str | float | int] = {
        "format": "fast_abr",
        "units_in_file": unit,
        "stimulus_frequency_khz": meta.get("Frequency (kHz)", ""),
        "threshold_method": meta.get("ThrResult", ""),
        "averages": meta.get("Avgs", ""),
        **overridden,
    }
    info: dict[str, object] = {"level_unit": DB_SPL}
    try:
        khz = float(meta.get("Frequency (kHz)", ""))
        if khz > 0:
            info.update(stimulus="tone_pip", stimulus_freq_hz=khz * 1000.0)
    except ValueError:
        pass
    if meta.get("Stimulus.Alternate Polarity", "").upper() == "TRUE":
        info["polarity"] = "alternating"
    return build_cohort(
        path,
        signals,
        level_db,
        sampling_rate_hz=fs,
        t0_ms=float(t_ms[0]),
        age_years=age_years,
        stimulus_rate_hz=stimulus_rate_hz,
        ear=ear,
        fmp=fmp,
        threshold_db=threshold,
        extras=extras,
        attrs=attrs,
        metadata=info,
        locate=lambda r, j: (neural[r][1], None if j is None else table[j + 1][0]),
        lines=stated,
    )


NO_THRESHOLD = ("", "nan", "none")  # `Threshold=` values meaning "no threshold found" (see the module docstring)


def _threshold(src: str, text: str, line: int | None) -> float:
    """The file's threshold in dB, NaN where it states none; an unreadable value is an error at its line, never NaN."""
    if text.strip().lower() in NO_THRESHOLD:
        return math.nan
    value = parse_float(src, "Threshold", text, line)
    if not math.isfinite(value):
        raise DataError(src, "Threshold", f"must be a finite level in dB or empty/NaN/None, got {text!r}", line)
    return value
