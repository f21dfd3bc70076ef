"""psiexperiment / CFTS ABR recordings, as exported by cftsdata's ABR summary (``cftsdata.summarize_abr``).

Why this form: psiexperiment saves an ABR run as a folder (``... abr_io``) holding the continuous EEG
(``eeg.zarr``, older runs a bcolz ``eeg/`` carray) and ``erp_metadata.csv`` (one row per epoch: ``t0`` in seconds,
``target_tone_frequency``/``target_tone_level``/``target_tone_polarity`` or the ``target_click_`` equivalents).
Epochs, filtering (the run's saved 300-3000 Hz band), artefact rejection and averaging are done afterwards by
cftsdata, which writes ``<folder> ABR average waveforms.csv`` (plus ``processing settings.json``, ``experiment
settings.json``) next to the other processed files. That CSV is the published, processed result every psi/cfts
lab has, so abrnet reads it and does not re-implement psi's epoch extraction from the raw EEG.

Supported: a folder holding ``* average waveforms.csv`` (exactly one), or that CSV itself. Its layout is pandas'
CSV of a frame with one column per (frequency, level[, epoch_n, epoch_reject_ratio]) and one row per time point:
header lines ``frequency,...``, ``level,...``, optional ``epoch_n,...``/``epoch_reject_ratio,...``, then ``time,,,``
and rows ``<time in s>,<value>,...``. Each column is already the mean over polarities of the per-polarity means
(cftsdata's way of handling alternating polarity), so no further averaging happens here.
Not supported: a raw folder with only ``erp_metadata.csv`` + ``eeg.zarr``/``eeg`` (a DataError says how to export).

Units: psi records the EEG in volts, so ``units="auto"`` (values below 1e-3 are volts) converts to µV; pass
``units=`` if the export was gain-scaled otherwise. Metadata: levels in dB SPL (psi calibrates in SPL); frequency
"click" (or -1, cftsdata's click code) → click, otherwise a tone pip of that frequency in Hz; polarity is
"alternating" when the folder's ``erp_metadata.csv`` shows both polarities, otherwise "unknown"; species unknown.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from abrnet.data.importers._common import build_cohort, parse_float, read_text, split_lines, to_microvolts
from abrnet.data.metadata import DB_SPL
from abrnet.data.schema import ABRCohort, DataError

AVERAGE_SUFFIX = "average waveforms.csv"  # cftsdata: f"{file_template} average waveforms.csv"
RAW_METADATA = "erp_metadata.csv"  # psiexperiment: one row per ABR epoch
_CLICK_CODES = ("click", "-1", "-1.0")
_OPTIONAL_ROWS = ("epoch_n", "epoch_reject_ratio")


def looks_like_psi_average(head: str) -> bool:
    """True when a CSV's first lines are cftsdata's average-waveform header (``frequency`` then ``level`` rows)."""
    lines = [ln.strip() for ln in head.replace("\r", "\n").split("\n") if ln.strip()]
    return len(lines) >= 3 and lines[0].startswith("frequency,") and lines[1].startswith("level,")


def is_psi_folder(path: Path) -> bool:
    """A psi ABR run (raw: ``erp_metadata.csv``) or its cftsdata output (``* average waveforms.csv``): one recording."""
    if not path.is_dir():
        return False
    return (path / RAW_METADATA).is_file() or any(
        f.is_file() and f.name.lower().endswith(AVERAGE_SUFFIX) for f in path.iterdir()
    )


def _average_file(folder: Path) -> Path:
    """The folder's one average-waveform CSV; a raw-only folder gets an error that says how to make it."""
    found = sorted(f for f in folder.iterdir() if f.is_file() and f.name.lower().endswith(AVERAGE_SUFFIX))
    if len(found) > 1:
        names = ", ".join(f.name for f in found)
        raise DataError(str(folder), "<file>", f"several average-waveform exports ({names}); name one of them")
    if not found:
        raise DataError(
            str(folder), AVERAGE_SUFFIX,
            f"raw psiexperiment ABR run ({RAW_METADATA} + continuous EEG) is not read; export the averages with "
            "cftsdata's ABR summary (cftsdata.summarize_abr) and import the folder holding "
            f"'... {AVERAGE_SUFFIX}'",
        )  # fmt: skip
    return found[0]


def _polarity(folder: Path) -> str | None:
    """ "alternating" when the run's epoch table holds both polarities (what cftsdata averaged over), else None."""
    table = folder / RAW_METADATA
    if not table.is_file():
        return None
    lines = [ln for ln in split_lines(read_text(table)) if ln.strip()]
    cols = [c.strip() for c in lines[0].split(",")] if lines else []
    names = [c for c in cols if c in ("polarity", "target_tone_polarity", "target_click_polarity")]
    if not names:
        return None
    j = cols.index(names[0])
    values = {ln.split(",")[j].strip() for ln in lines[1:] if len(ln.split(",")) > j}
    try:
        signs = {np.sign(float(v)) for v in values if v}
    except ValueError:
        return None
    return "alternating" if signs == {1.0, -1.0} else None


def _settings(csv_path: Path, name: str) -> dict[str, object]:
    """A cftsdata JSON written next to the CSV (same name stem), or {} when absent or unreadable."""
    prefix = csv_path.name[: -len(AVERAGE_SUFFIX)]
    target = csv_path.with_name(f"{prefix}{name}")
    try:
        value = json.loads(target.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _parse_average_csv(path: Path, units: str) -> tuple[dict[str, list[str]], np.ndarray, np.ndarray, str, list[int]]:
    """Header rows by name, time (s), signals (N, T) in µV, the unit found and each sample's file line, with line
    numbers on every error (the lines are for `build_cohort`'s ``locate``: a value out of range is found there)."""
    src = str(path)
    lines = split_lines(read_text(path))
    if not lines or not looks_like_psi_average("\n".join(lines[:4])):
        raise DataError(src, "frequency", "not a cftsdata average-waveform CSV (no 'frequency'/'level' rows)", 1)
    header: dict[str, list[str]] = {}
    k = 0
    while k < len(lines) and not lines[k].strip().lower().startswith("time"):
        cells = [c.strip() for c in lines[k].split(",")]
        if cells[0] not in ("frequency", "level", *_OPTIONAL_ROWS):
            raise DataError(src, cells[0] or "<header>", "unexpected header row before the 'time' row", k + 1)
        header[cells[0]] = cells[1:]
        k += 1
    if k == len(lines):
        raise DataError(src, "time", "no 'time' row: the waveform table is missing")
    n = len(header["frequency"])
    for name, cells in header.items():
        if len(cells) != n:
            raise DataError(src, name, f"{len(cells)} values, the frequency row has {n}", list(header).index(name) + 1)
    times, rows, at = [], [], []
    for row, ln in enumerate(lines[k + 1 :], start=k + 2):
        if not ln.strip():
            continue
        at.append(row)
        cells = ln.split(",")
        if len(cells) != n + 1:
            raise DataError(src, "time", f"{len(cells) - 1} values, the header has {n} columns", row)
        times.append(parse_float(src, "time", cells[0], row))
        rows.append([parse_float(src, f"{header['frequency'][j]}/{header['level'][j]}", c, row)
                     for j, c in enumerate(cells[1:])])  # fmt: skip
    if len(times) < 8:
        raise DataError(src, "time", f"only {len(times)} samples")
    t_s = np.asarray(times, np.float64)
    data = np.asarray(rows, np.float64).T
    if not np.all(np.isfinite(data)):
        j, i = np.argwhere(~np.isfinite(data))[0]
        msg = f"non-finite sample (an average with no accepted epochs?) (line {at[i]})"
        raise DataError(src, column_name(header, j), msg, at[i])
    if not np.all(np.isfinite(t_s)):
        i = int(np.flatnonzero(~np.isfinite(t_s))[0])
        raise DataError(src, "time", f"time is not a finite number (line {at[i]})", at[i])
    signals, unit = to_microvolts(src, data, units)
    return header, t_s, signals, unit, at


def column_name(header: dict[str, list[str]], j: int) -> str:
    """Record ``j``'s column as the user finds it: its frequency/level and its column in the CSV (the first is time)."""
    return f"{header['frequency'][j]}/{header['level'][j]} (column {j + 2})"


def _stimulus(src: str, header: dict[str, list[str]]) -> tuple[np.ndarray, np.ndarray]:
    """Per-column stimulus name and frequency (Hz, NaN for clicks), from the ``frequency`` header row."""
    kinds, freqs = [], []
    for j, cell in enumerate(header["frequency"]):
        if cell.lower() in _CLICK_CODES:
            kinds.append("click")
            freqs.append(math.nan)
            continue
        hz = parse_float(src, "frequency", cell, 1)
        if not hz > 0:
            raise DataError(src, "frequency", f"column {j + 1}: {cell!r} is neither a frequency (Hz) nor click", 1)
        kinds.append("tone_pip")
        freqs.append(hz)
    return np.array(kinds).astype(str), np.array(freqs, np.float64)


def read_psi_abr(
    path: str | Path,
    *,
    age_years: float | None = None,
    stimulus_rate_hz: float | None = None,
    ear: str | None = None,
    fmp: float | None = None,
    units: str = "auto",
) -> ABRCohort:
    """One record per (frequency, level) column of the cftsdata average; ``path`` is the run folder or the CSV."""
    path = Path(path)
    if not path.exists():
        raise DataError(str(path), "<file>", "no such file or folder")
    csv_path = _average_file(path) if path.is_dir() else path
    src = str(csv_path)
    header, t_s, signals, unit, at = _parse_average_csv(csv_path, units)
    steps = np.diff(t_s)
    step = float(np.mean(steps))
    uneven = ~(np.abs(steps - step) <= 0.01 * step) if step > 0 else np.ones(steps.size, bool)
    if uneven.any():
        line = at[int(np.flatnonzero(uneven)[0]) + 1]
        raise DataError(src, "time", f"time rows are not evenly spaced and increasing (line {line})", line)
    processing = _settings(csv_path, "processing settings.json")
    fs = float(processing.get("actual_fs", 0) or 0)  # type: ignore[arg-type]
    if not (fs > 0 and abs(1.0 / fs - step) <= 0.01 * step):
        fs = 1.0 / step
    level_at = list(header).index("level") + 1  # header rows are the file's first lines, one each
    levels = np.array([parse_float(src, "level", c, level_at) for c in header["level"]], np.float64)
    kinds, freqs = _stimulus(src, header)
    folder = path if path.is_dir() else csv_path.parent
    polarity = _polarity(folder)
    extras: dict[str, np.ndarray] = {"stimulus": kinds, "stimulus_freq_hz": freqs}
    for name in _OPTIONAL_ROWS:
        if name in header:
            row = list(header).index(name) + 1
            extras[name] = np.array([parse_float(src, name, c, row) for c in header[name]], np.float32)
    attrs: dict[str, str | float | int] = {
        "format": "psi_abr",
        "units_in_file": unit,
        "source_file": folder.name if path.is_dir() else csv_path.name,
        "export_file": csv_path.name,
    }
    for key in ("filter_settings", "offset", "duration", "gain_correction", "latency_correction"):
        if key in processing and isinstance(processing[key], (str, int, float)):
            attrs[f"psi_{key}"] = processing[key]  # type: ignore[assignment]
    try:
        return build_cohort(
            folder if path.is_dir() else csv_path,
            signals,
            levels,
            sampling_rate_hz=fs,
            t0_ms=float(t_s[0]) * 1000.0,
            age_years=age_years,
            stimulus_rate_hz=stimulus_rate_hz,
            ear=ear,
            fmp=fmp,
            extras=extras,
            attrs=attrs,
            metadata={"level_unit": DB_SPL, "polarity": polarity},
            locate=lambda r, j: (column_name(header, r), None if j is None else at[j]),
            lines={"intensity_db": level_at},
        )
    except DataError as exc:
        if exc.row is None or exc.source == src:
            raise
        # a located error is at a line of the CSV, not of the run folder the records are named after
        message = str(exc).removeprefix(f"{exc.source}: field '{exc.field}', row {exc.row}: ")
        raise DataError(src, exc.field, message, exc.row) from None
