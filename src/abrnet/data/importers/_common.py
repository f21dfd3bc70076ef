"""Shared pieces of the device importers: text splitting, unit handling and one honest cohort builder.

Policy for what a device export does not record (the same for every format, so users learn it once):

* ``age_years``: never in these files and it changes ABR latencies, so it must be passed (``age_years=``);
  without it the importer raises a DataError instead of guessing.
* ``stimulus_rate_hz``: read from the file when present; otherwise it must be passed, like the age.
* ``ear``: read from the file when present; otherwise "R" with ``attrs["ear_unknown"] = 1``.
* ``fmp``: computed from the split buffers (`ABRCohort.buffers`, `fmp_from_buffers`) when the file has them,
  the device's value or the one passed otherwise; without any, NaN ("not measured", never a placeholder).
  ``attrs["fmp_source"]`` is one of `FMP_SOURCES`.
* recording metadata (level unit, stimulus and its frequency, polarity, species): what the file states, "unknown"
  otherwise (`abrnet.data.metadata`); arguments override the file.
* labels: class -1, latencies/amplitudes NaN, threshold NaN unless the file states one, no_response False.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

from abrnet.constants import STATIC_PARAMS, WAVES
from abrnet.data.fmp import fmp_from_buffers
from abrnet.data.metadata import METADATA_FIELDS, metadata_columns
from abrnet.data.schema import ABRCohort, DataError

_LINES = re.compile(r"\r\n|\r|\n")
UNIT_SCALE_TO_UV: dict[str, float] = {"nv": 1e-3, "uv": 1.0, "µv": 1.0, "mv": 1e3, "v": 1e6}
_UNIT_NAME = {"nv": "nV", "uv": "uV", "µv": "uV", "mv": "mV", "v": "V"}
FMP_SOURCES: tuple[str, ...] = ("split_buffers", "device", "given", "missing")

# An averaged ABR/ECochG in µV peaks somewhere in 0.01-100; the same waveform in volts peaks in 1e-8-1e-4.
# Anything whose largest |value| is below this bound cannot be a µV recording (it would be below 1 nV rms).
VOLT_DETECT_MAX_ABS = 1e-3


def read_text(path: Path) -> str:
    """Whole file as text; device exports are Windows-1252/Latin-1 (the µ of 'µsec'), never fail on a byte."""
    try:
        return path.read_bytes().decode("latin-1")
    except FileNotFoundError:
        raise DataError(str(path), "<file>", "file not found") from None
    except IsADirectoryError:
        raise DataError(str(path), "<file>", "is a directory, not a recording") from None


def split_lines(text: str) -> list[str]:
    """Lines split on CRLF, CR or LF (the CFTS exports mix old-Mac CR headers with CRLF data)."""
    return _LINES.split(text)


def parse_float(src: str, field: str, text: str, row: int | None = None) -> float:
    try:
        return float(text.strip())
    except ValueError:
        raise DataError(src, field, f"{text.strip()!r} is not a number", row) from None


def to_microvolts(src: str, data: np.ndarray, units: str) -> tuple[np.ndarray, str]:
    """Scale ``data`` to µV. ``units="auto"`` calls it volts when every |value| < 1e-3 (see VOLT_DETECT_MAX_ABS)."""
    key = units.strip().lower().replace("μ", "µ")
    if key == "auto":
        peak = float(np.nanmax(np.abs(data))) if data.size else 0.0
        key = "v" if 0.0 < peak < VOLT_DETECT_MAX_ABS else "uv"
    if key not in UNIT_SCALE_TO_UV:
        raise DataError(src, "units", f"unknown unit {units!r}; use auto, V, mV, uV or nV (CLI --units)")
    return data * UNIT_SCALE_TO_UV[key], _UNIT_NAME[key]


def require(src: str, name: str, value: float | None, hint: str) -> float:
    if value is None:
        raise DataError(src, name, f"not recorded in this file; pass {name}=... ({hint})")
    value = float(value)
    if not math.isfinite(value):
        raise DataError(src, name, f"must be finite, got {value}")
    return value


def build_cohort(
    src: Path,
    signals_uv: np.ndarray,
    levels_db: np.ndarray | None,
    *,
    sampling_rate_hz: float,
    t0_ms: float,
    age_years: float | None,
    stimulus_rate_hz: float | None,
    ear: str | None,
    fmp: np.ndarray | float | None,
    threshold_db: float = math.nan,
    extras: dict[str, np.ndarray] | None = None,
    attrs: dict[str, str | float | int] | None = None,
    buffers: np.ndarray | None = None,
    fmp_window: tuple[int, int] | None = None,
    device_fmp: bool = False,
    metadata: dict[str, object] | None = None,
) -> ABRCohort:
    """Assemble and validate a cohort from one file's records, applying the policy in the module docstring.

    ``buffers`` (N, 2, T) µV are the split sub-averages; Fmp comes from them over ``fmp_window`` (sample indices)
    unless ``fmp`` is given. ``device_fmp`` says a given ``fmp`` was read from the file. ``metadata`` holds the
    `abrnet.data.metadata` fields the file states (``level_unit=``, ``stimulus=``, ...).
    """
    name = str(src)
    n = signals_uv.shape[0]
    attrs = dict(attrs or {})
    attrs.setdefault("source_file", src.name)
    age = require(name, "age_years", age_years, "the export has no subject age; CLI --age")
    rate = require(name, "stimulus_rate_hz", stimulus_rate_hz, "the export has no repetition rate; CLI --rate")
    if ear is None:
        ear = "R"
        attrs["ear_unknown"] = 1
    ear = ear.strip().upper()[:1]
    if ear not in ("L", "R"):
        raise DataError(name, "ear", f"must be L or R, got {ear!r}")
    if fmp is not None:
        fmp_arr = np.broadcast_to(np.asarray(fmp, np.float32), (n,)).copy()
        attrs["fmp_source"] = "device" if device_fmp else "given"
    elif buffers is not None:
        fmp_arr = fmp_from_buffers(buffers[:, 0], buffers[:, 1], window=fmp_window).astype(np.float32)
        fmp_arr[~np.isfinite(fmp_arr)] = np.nan  # identical buffers: no noise estimate, so no FMP
        attrs["fmp_source"] = "split_buffers"
    else:
        fmp_arr = np.full(n, np.nan, np.float32)
        attrs["fmp_source"] = "missing"
    if levels_db is None:
        raise DataError(name, "level_db", "the file names no stimulus level; pass level_db=... (CLI --level)")
    extras = dict(extras or {})
    meta = dict(metadata or {})
    try:
        columns = metadata_columns(n, **{k: meta.get(k) for k in METADATA_FIELDS})  # type: ignore[arg-type]
    except ValueError as exc:
        raise DataError(name, str(exc).split(" ", 1)[0], str(exc)) from None
    for key in METADATA_FIELDS:
        extras.setdefault(key, columns[key])
    static = np.zeros((n, len(STATIC_PARAMS)), np.float32)
    static[:, STATIC_PARAMS.index("age_years")] = age
    static[:, STATIC_PARAMS.index("intensity_db")] = levels_db
    static[:, STATIC_PARAMS.index("stimulus_rate_hz")] = rate
    static[:, STATIC_PARAMS.index("fmp")] = fmp_arr
    cohort = ABRCohort(
        signals=np.ascontiguousarray(signals_uv, dtype=np.float32),
        static=static,
        patient_id=np.full(n, src.stem, dtype=object).astype(str),
        ear=np.full(n, ear).astype(str),
        latency_ms=np.full((n, len(WAVES)), np.nan, np.float32),
        amplitude_uv=np.full((n, len(WAVES)), np.nan, np.float32),
        class_id=np.full(n, -1, np.int64),
        threshold_db=np.full(n, threshold_db, np.float32),
        no_response=np.zeros(n, bool),
        sampling_rate_hz=float(sampling_rate_hz),
        t0_ms=float(t0_ms),
        buffers=None if buffers is None else np.ascontiguousarray(buffers, dtype=np.float32),
        extras=extras,
        attrs=attrs,
    )
    return cohort.validate(source=name)
