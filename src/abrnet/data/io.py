"""The abrnet dataset file: one self-describing HDF5 file per cohort (no pickle, schema-versioned).

Layout (all datasets have N rows):
    /signals (N, T) float32 µV            /clean (N, T) float32 µV (optional)
    /buffers (N, 2, T) float32 µV (optional: the A/B interleaved sub-averages)
    /static (N, 4) float32, attrs["columns"] = age_years, intensity_db, stimulus_rate_hz, fmp (NaN = not measured)
    /latency_ms, /amplitude_uv (N, 3) float32, attrs["columns"] = I, III, V (NaN = not labelled)
    /class (N,) str (class names; "UNKNOWN" if unlabelled)   /threshold_db (N,) float32   /no_response (N,) bool
    /patient_id (N,) str   /ear (N,) str   /extras/<name> (N, ...)
    root attrs: schema_version, sampling_rate_hz, t0_ms, n_samples, plus provenance attrs.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np

from abrnet.constants import CLASS_NAMES, STATIC_PARAMS, WAVES
from abrnet.data.files import check_fname
from abrnet.data.schema import SCHEMA_VERSION, ABRCohort, DataError

_STR = h5py.string_dtype(encoding="utf-8")
_REQUIRED = (
    "signals",
    "static",
    "latency_ms",
    "amplitude_uv",
    "class",
    "threshold_db",
    "no_response",
    "patient_id",
    "ear",
)


def save_cohort(cohort: ABRCohort, path: str | Path, *, force: bool = False) -> Path:
    """Validate and write `cohort`; refuses to overwrite an existing file unless `force`."""
    path = check_fname(path, overwrite=force)
    cohort.validate(source=str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    with h5py.File(tmp, "w") as f:
        f.attrs["schema_version"] = SCHEMA_VERSION
        f.attrs["format"] = "abrnet-cohort"
        f.attrs["sampling_rate_hz"] = float(cohort.sampling_rate_hz)
        f.attrs["t0_ms"] = float(cohort.t0_ms)
        f.attrs["n_samples"] = cohort.n_samples
        for key, value in cohort.attrs.items():
            f.attrs[f"meta_{key}"] = value if isinstance(value, (int, float, str)) else json.dumps(value)
        _put(f, "signals", cohort.signals.astype(np.float32))
        if cohort.clean is not None:
            _put(f, "clean", cohort.clean.astype(np.float32))
        if cohort.buffers is not None:
            _put(f, "buffers", cohort.buffers.astype(np.float32))
        _put(f, "static", cohort.static.astype(np.float32)).attrs["columns"] = list(STATIC_PARAMS)
        _put(f, "latency_ms", cohort.latency_ms.astype(np.float32)).attrs["columns"] = list(WAVES)
        _put(f, "amplitude_uv", cohort.amplitude_uv.astype(np.float32)).attrs["columns"] = list(WAVES)
        f.create_dataset("class", data=cohort.class_names.astype(object), dtype=_STR)
        _put(f, "threshold_db", cohort.threshold_db.astype(np.float32))
        _put(f, "no_response", cohort.no_response.astype(bool))
        f.create_dataset("patient_id", data=cohort.patient_id.astype(str).astype(object), dtype=_STR)
        f.create_dataset("ear", data=cohort.ear.astype(str).astype(object), dtype=_STR)
        extras = f.create_group("extras")
        for key, arr in cohort.extras.items():
            if arr.dtype.kind in "USO":
                extras.create_dataset(key, data=arr.astype(str).astype(object), dtype=_STR)
            else:
                extras.create_dataset(key, data=arr)
    tmp.replace(path)
    return path


def _put(f: h5py.File, name: str, arr: np.ndarray) -> h5py.Dataset:
    return f.create_dataset(name, data=arr, compression="gzip", compression_opts=1, shuffle=True)


def load_cohort(path: str | Path, *, with_clean: bool = True) -> ABRCohort:
    """Read and validate an abrnet dataset file; any problem is a one-line `DataError` naming file, field, row."""
    path = Path(path)
    src = str(path)
    if not path.exists():
        raise DataError(src, "<file>", "no such file")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise DataError(
            src, "<file>", f"not a readable HDF5 file ({_short(exc)}); truncated or wrong format?"
        ) from None
    with f:
        version = f.attrs.get("schema_version")
        if version is None:
            raise DataError(src, "schema_version", "missing: not an abrnet dataset file")
        if int(version) > SCHEMA_VERSION:
            raise DataError(src, "schema_version", f"{int(version)} is newer than this abrnet ({SCHEMA_VERSION})")
        for name in _REQUIRED:
            if name not in f:
                raise DataError(src, name, "missing field")
        if "sampling_rate_hz" not in f.attrs:
            raise DataError(src, "sampling_rate_hz", "missing attribute")
        try:
            signals = _read(f, "signals", src, np.float32)
            n = signals.shape[0] if signals.ndim else 0
            n_samples = f.attrs.get("n_samples")
            if n_samples is not None and signals.ndim == 2 and signals.shape[1] != int(n_samples):
                raise DataError(src, "signals", f"rows have {signals.shape[1]} samples, header says {int(n_samples)}")
            clean = _read(f, "clean", src, np.float32) if (with_clean and "clean" in f) else None
            class_names = np.array([s for s in f["class"].asstr()[()]], dtype=object)
            class_id = _class_ids(class_names, src)
            cohort = ABRCohort(
                signals=signals,
                static=_read(f, "static", src, np.float32),
                patient_id=np.array(f["patient_id"].asstr()[()], dtype=str),
                ear=np.array(f["ear"].asstr()[()], dtype=str),
                latency_ms=_read(f, "latency_ms", src, np.float32),
                amplitude_uv=_read(f, "amplitude_uv", src, np.float32),
                class_id=class_id,
                threshold_db=_read(f, "threshold_db", src, np.float32),
                no_response=_read(f, "no_response", src, bool),
                sampling_rate_hz=float(f.attrs["sampling_rate_hz"]),
                t0_ms=float(f.attrs.get("t0_ms", 0.0)),
                clean=clean,
                buffers=_read(f, "buffers", src, np.float32) if "buffers" in f else None,
                extras={k: _read_any(f["extras"][k]) for k in f.get("extras", {})},
                attrs={k[5:]: _attr(v) for k, v in f.attrs.items() if k.startswith("meta_")},
            )
        except (OSError, KeyError, TypeError) as exc:
            raise DataError(src, "<file>", f"cannot read ({_short(exc)}); truncated or corrupt?") from None
        if cohort.signals.shape[0] != n:
            raise DataError(src, "signals", "inconsistent row count")
    return cohort.validate(source=src)


def _read(f: h5py.File, name: str, src: str, dtype: type) -> np.ndarray:
    ds = f[name]
    if dtype is not bool and ds.dtype.kind not in "fiu":
        raise DataError(src, name, f"expected numbers, found dtype {ds.dtype}")
    return np.asarray(ds[()], dtype=dtype)


def _read_any(ds: h5py.Dataset) -> np.ndarray:
    if h5py.check_string_dtype(ds.dtype) is not None:
        return np.array(ds.asstr()[()], dtype=str)
    return np.asarray(ds[()])


def _attr(value: object) -> str | float | int:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    return value  # type: ignore[return-value]


def _class_ids(names: np.ndarray, src: str) -> np.ndarray:
    lookup = {name: i for i, name in enumerate(CLASS_NAMES)} | {"UNKNOWN": -1}
    ids = np.empty(len(names), dtype=np.int64)
    for row, name in enumerate(names):
        if name not in lookup:
            raise DataError(src, "class", f"unknown class {name!r} (expected one of {', '.join(CLASS_NAMES)})", row)
        ids[row] = lookup[name]
    return ids


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
