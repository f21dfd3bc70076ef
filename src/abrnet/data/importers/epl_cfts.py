"""Eaton-Peabody Laboratories CFTS text exports (``ABR-<animal>-<run>``, ``CAP-...``) and their analysis files.

Layout (learned from the fixtures): a header whose fields are separated by tabs and old-Mac CRs, e.g.
``:SW EAR: R``, ``SW FREQ: 16.00`` (kHz, or ``clicks``/``noise``/a .wav path), ``REP RATE (/sec): 40``,
``SAMPLE (µsec): 10`` (the sampling *period*), ``:LEVELS:10;15;...;`` (dB SPL, one per data column, ``-Inf`` =
no-stimulus control), then ``:DATA`` and one tab-separated line per sample, one column per level, in µV.

Units: µV. Checked against physiology: mouse ABR peaks are 0.5-5 µV at 70-80 dB (ABR-52-3: 4.2 µV, ABR-136-1:
2.6 µV) and the CAP in CAP-139-5 peaks at 73 µV at 80 dB where the expert analysis file reads P1 = 68 µV.
t0: the export stores no pre-stimulus time, the first sample is taken as stimulus onset (t0 = 0 ms).

Metadata: levels are dB SPL (the EPL analysis files of these runs say "Threshold (dB SPL)"); ``SW FREQ`` gives the
stimulus (``clicks`` → click, a number → tone pip of that many kHz, ``noise``, a ``*chirp*.wav`` → chirp). The
vestibular (VsEP) runs have no ``SW FREQ`` but ``dB ATT @ 1g/ms``: a jerk stimulus, levels in dB re 1 g/ms.
Species is not written (CFTS is a rodent system, but the file does not say which): "unknown" unless passed.
An EP export with an empty ``:LEVELS:`` (one column, e.g. ``AAP2044-1_Fz``) needs ``level_db``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from abrnet.data.ears import ear_of
from abrnet.data.importers._common import (
    build_cohort,
    note_override,
    parse_float,
    read_text,
    split_lines,
    to_microvolts,
)
from abrnet.data.importers.needed import check_recorded
from abrnet.data.importers.options import note_ignored
from abrnet.data.metadata import DB_SPL
from abrnet.data.schema import ABRCohort, DataError

_REP_RATE = r"REP RATE \(/sec\):\s*([-+0-9.eE]+)"  # the header's stimulus rate


def _field(header: str, pattern: str) -> str | None:
    m = re.search(pattern, header)
    return m.group(1).strip() if m else None


def _line(header: str, label: str) -> int | None:
    """File line (1-based; CR, LF and CRLF each end one) of the header field ``label``, None when absent."""
    return len(split_lines(header[: header.index(label)])) if label in header else None


def read_epl_cfts(
    path: str | Path,
    *,
    age_years: float | None = None,
    stimulus_rate_hz: float | None = None,
    ear: str | None = None,
    fmp: float | None = None,
    units: str = "uV",
    level_db: float | None = None,
) -> ABRCohort:
    """One record per stimulus level, in file column order; ``-Inf`` (no-stimulus) columns are dropped (a file of
    controls only is refused: nothing to analyse). Errors name the file line and ``DATA column`` of a bad sample.

    ``stimulus_rate_hz``/``ear`` override the header, noted in ``attrs["overridden_options"]`` where they differ
    (`note_override`); FMP is NaN unless ``fmp`` is given (CFTS exports keep no split buffers). ``attrs`` keeps
    the stimulus (``SW FREQ``), averages and the dropped control columns.
    """
    path = Path(path)
    src = str(path)
    text = read_text(path)
    if not text.startswith(":RUN"):
        raise DataError(src, "<format>", "not an EPL CFTS export (first line does not start with ':RUN')", 1)
    if ":DATA" not in text:
        raise DataError(src, ":DATA", "marker missing: no waveform block")
    header, body = text.split(":DATA", 1)
    period = _field(header, r"SAMPLE \([^)]*sec\):\s*([-+0-9.eE]+)")
    if period is None:
        raise DataError(src, "SAMPLE (µsec)", "sampling period missing from header")
    period_at = _line(header, "SAMPLE (")
    period_us = parse_float(src, "SAMPLE (µsec)", period, period_at)
    if not period_us > 0:
        raise DataError(src, "SAMPLE (µsec)", f"sampling period must be > 0, got {period_us:g}", period_at)
    levels_txt = _field(header, r":LEVELS:([^:\r\n]*)")
    levels = [s for s in (levels_txt or "").split(";") if s.strip()]
    if not levels and level_db is None:  # with the age and rate, if they are missing too: one error for all
        no_levels = DataError(src, "LEVELS", "no stimulus levels in the header; pass level_db=... (CLI --level)")
        stated_rate = stimulus_rate_hz if stimulus_rate_hz is not None else _field(header, _REP_RATE)
        check_recorded(src, age_years=age_years, stimulus_rate_hz=stated_rate, levels=no_levels)
    stated = {"intensity_db": _line(header, ":LEVELS:")} if levels else {}  # the line of each value the file states
    if not levels:
        levels = [repr(float(level_db))]  # type: ignore[arg-type]
    level_arr = np.array([parse_float(src, "LEVELS", s, stated.get("intensity_db")) for s in levels])
    rows: list[list[float]] = []
    first_line = len(split_lines(header))  # the ':DATA' line; errors name the file's lines (CR, LF, CRLF)
    numbered = [(first_line + b, ln) for b, ln in enumerate(split_lines(body)) if ln.strip()]
    for k, (at, line) in enumerate(numbered):
        cells = line.strip().split("\t")
        if len(cells) != len(levels):
            raise DataError(
                src, "DATA", f"sample {k + 1} has {len(cells)} columns but LEVELS lists {len(levels)} levels", at
            )
        rows.append([parse_float(src, f"DATA column {j + 1}", c, at) for j, c in enumerate(cells)])
    if len(rows) < 8:
        raise DataError(src, "DATA", f"only {len(rows)} samples")
    data = np.asarray(rows, dtype=np.float64).T  # (levels, T)
    keep = ~np.isneginf(level_arr)  # -Inf: a no-stimulus control; NaN/+Inf stay, for `build_cohort` to refuse
    kept = np.flatnonzero(keep)  # file column of each record
    data_uv, unit = to_microvolts(src, data[keep], units)
    rate_txt = _field(header, _REP_RATE)
    file_ear = _field(header, r"SW EAR:\s*((?i:left|right|[lr]))\b")  # "Left" too (hunt 48 #4)
    file_ear = None if file_ear is None else ear_of(file_ear)
    overridden: dict[str, str | float | int] = {}  # an option differing from the header: kept, and warned about
    note_override(overridden, "stimulus_rate_hz", rate_txt, stimulus_rate_hz)
    note_override(overridden, "ear", file_ear, ear)
    if stimulus_rate_hz is None and rate_txt is not None:
        stated["stimulus_rate_hz"] = _line(header, "REP RATE")
        stimulus_rate_hz = parse_float(src, "REP RATE (/sec)", rate_txt, stated["stimulus_rate_hz"])
    ear = file_ear if ear is None else ear
    sw_freq = _field(header, r"SW FREQ:\s*([^\t\r\n]*)") or ""
    meta = _stimulus(sw_freq)
    if "dB ATT @ 1g/ms" in header:
        meta = {"stimulus": "jerk", "level_unit": "dB re 1 g/ms"}
    attrs: dict[str, str | float | int] = {
        "format": "epl_cfts",
        "units_in_file": unit,
        "stimulus": sw_freq,
        "averages": _field(header, r":Avgs:\s*([^\r\n:]*)") or _field(header, r"# AVERAGES:\s*(\d+)") or "",
        "dropped_no_stimulus_columns": ",".join(str(j + 1) for j in np.flatnonzero(~keep)),
        "t0_assumed": "first sample = stimulus onset",
        **overridden,
    }
    if "intensity_db" in stated and level_db is not None:  # the header states them: --level was moot (hunt 48 #6)
        note_ignored(attrs, "level_db")
    return build_cohort(
        path,
        data_uv,
        level_arr[keep],
        sampling_rate_hz=1e6 / period_us,
        t0_ms=0.0,
        age_years=age_years,
        stimulus_rate_hz=stimulus_rate_hz,
        ear=ear,
        fmp=fmp,
        attrs=attrs,
        metadata=meta,
        locate=lambda r, j: (f"DATA column {kept[r] + 1}", None if j is None else numbered[j][0]),
        lines=stated,
        empty_reason=f"all {len(levels)} columns are no-stimulus controls (LEVELS -Inf)",
    )


def _stimulus(sw_freq: str) -> dict[str, object]:
    """Stimulus metadata from the ``SW FREQ`` field (kHz number, ``clicks``, ``noise`` or a .wav file)."""
    text = sw_freq.strip().lower()
    meta: dict[str, object] = {"level_unit": DB_SPL}
    try:
        meta.update(stimulus="tone_pip", stimulus_freq_hz=float(text) * 1000.0)
    except ValueError:
        if text.startswith("click"):
            meta["stimulus"] = "click"
        elif text == "noise":
            meta["stimulus"] = "noise"
        elif "chirp" in text:
            meta["stimulus"] = "chirp"
    return meta


@dataclass
class EPLAnalysis:
    """An expert's peak readings from an EPL ``*-analyzed.txt`` file, one row per level (file order).

    Latencies in ms, amplitudes in µV; NaN where the file's latency is negative ("no peak"). ``threshold_db`` is NaN
    when the file says ``None``; ``estimated_threshold_db`` is the lowest level with a P1 peak, a fallback only.
    """

    level_db: np.ndarray
    peaks: dict[str, tuple[np.ndarray, np.ndarray]]  # "P1" -> (latency_ms, amplitude_uv)
    threshold_db: float
    frequency_khz: float

    @property
    def estimated_threshold_db(self) -> float:
        first = next(iter(self.peaks.values()), None)
        if first is None or not np.isfinite(first[0]).any():
            return math.nan
        return float(self.level_db[np.isfinite(first[0])].min())


def read_epl_analysis(path: str | Path) -> EPLAnalysis:
    """Read an EPL analysis file: ``Threshold (dB SPL):``, ``Frequency (kHz):`` and a tab table
    ``Level, 1msec Avg, 1msec StDev, P1 Latency, P1 Amplitude, N1 Latency, ...``."""
    path = Path(path)
    src = str(path)
    lines = [ln for ln in split_lines(read_text(path)) if ln.strip()]
    thr_txt = next((ln.split(":", 1)[1] for ln in lines if ln.startswith("Threshold")), None)
    freq_txt = next((ln.split(":", 1)[1] for ln in lines if ln.startswith("Frequency")), None)
    start = next((i for i, ln in enumerate(lines) if ln.startswith("Level\t")), None)
    if thr_txt is None or start is None:
        raise DataError(src, "<format>", "not an EPL analysis file (no 'Threshold' line or 'Level' table)")
    thr_txt = thr_txt.strip()
    threshold = math.nan if thr_txt.lower() in ("none", "", "nan") else parse_float(src, "Threshold", thr_txt)
    freq = math.nan if freq_txt is None else parse_float(src, "Frequency (kHz)", freq_txt)
    cols = [c.strip() for c in lines[start].split("\t") if c.strip()]
    table = []
    for k, ln in enumerate(lines[start + 1 :], start=1):
        cells = [c for c in ln.split("\t") if c.strip()]
        if len(cells) != len(cols):
            raise DataError(src, "table", f"has {len(cells)} values, header has {len(cols)}", k)
        table.append([parse_float(src, cols[j], c, k) for j, c in enumerate(cells)])
    arr = np.asarray(table, dtype=np.float64).reshape(-1, len(cols))
    peaks: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for j, name in enumerate(cols):
        if name.endswith(" Latency"):
            peak = name.removesuffix(" Latency")
            amp_name = f"{peak} Amplitude"
            if amp_name not in cols:
                raise DataError(src, amp_name, "column missing next to its latency")
            lat, amp = arr[:, j].copy(), arr[:, cols.index(amp_name)].copy()
            absent = lat < 0
            lat[absent], amp[absent] = np.nan, np.nan
            peaks[peak] = (lat, amp)
    return EPLAnalysis(level_db=arr[:, cols.index("Level")], peaks=peaks, threshold_db=threshold, frequency_khz=freq)


def dropped_column_warnings(attrs: Mapping[str, object], src: str) -> list[str]:
    """A line for the columns of a device export this read did not make records of: an EPL CFTS file's no-stimulus
    controls (LEVELS ``-Inf``). Why: a 24-column file imported as 19 records,
    silently; a control column counted as missing data, or looked for in the results, must be explained.
    An .h5 keeps the import's note as history (`read_h5`), so it is said once, by the read that dropped them."""
    columns = [c for c in str(attrs.get("dropped_no_stimulus_columns", "")).split(",") if c]
    if not columns:
        return []
    return [
        f"{src}: {len(columns)} no-stimulus control column(s) (LEVELS -Inf: column(s) {', '.join(columns)}) not read "
        "as records"
    ]
