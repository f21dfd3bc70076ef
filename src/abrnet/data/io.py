"""The abrnet dataset file: one self-describing HDF5 file per cohort (no pickle, schema-versioned).

Layout (all datasets have N rows):
    /signals (N, T) float32 µV            /clean (N, T) float32 µV (optional)
    /buffers (N, 2, T) float32 µV (optional: the A/B interleaved sub-averages)
    /static (N, 4) float32, attrs["columns"] = age_years, intensity_db, stimulus_rate_hz, fmp (NaN = not measured)
    /latency_ms, /amplitude_uv (N, 3) float32, attrs["columns"] = I, III, V (NaN = not labelled)
    /class (N,) str (class names; "UNKNOWN" if unlabelled)   /threshold_db (N,) float32   /no_response (N,) bool
    /patient_id (N,) str   /ear (N,) str   /extras/<name> (N, ...)
    root attrs: schema_version, sampling_rate_hz, t0_ms, n_samples, plus provenance attrs.

Files written by other tools are read as carefully as abrnet's own: a `columns` attribute in another order is
followed (not ignored), and a group, scalar or text where a number is expected is a one-line `DataError`.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np

from abrnet.constants import CLASS_NAMES, STATIC_PARAMS, WAVES
from abrnet.data.files import COHORT_SUFFIXES, check_fname, check_suffix, staged_write
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
    """Validate and write `cohort`; refuses to overwrite an existing file unless `force`, and a name that does not
    say HDF5 (`COHORT_SUFFIXES`): ``--out g.csv`` once wrote HDF5 bytes under a CSV name."""
    path = check_fname(check_cohort_name(path), overwrite=force)
    cohort.validate(source=str(path))
    with staged_write(path, overwrite=force) as staged, h5py.File(staged, "w") as f:
        _write(f, cohort)  # a write that fails (disk full, an attr HDF5 cannot store) leaves the old file as it was
    return path


def _write(f: h5py.File, cohort: ABRCohort) -> None:
    """Every dataset and attribute of the layout in the module docstring."""
    f.attrs["schema_version"] = SCHEMA_VERSION
    f.attrs["format"] = "abrnet-cohort"
    f.attrs["sampling_rate_hz"] = float(cohort.sampling_rate_hz)
    f.attrs["t0_ms"] = float(cohort.t0_ms)
    f.attrs["n_samples"] = cohort.n_samples
    for key, value in cohort.attrs.items():
        f.attrs[f"meta_{key}"] = _attr_value(value)
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


def _attr_value(value: object) -> int | float | str:
    """An attr as HDF5 stores it: an int beyond int64 (``--seed 2**70``) as its text, which HDF5 has no type for
    (it raised mid-write), anything else not a number or text as JSON."""
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**63:
        return str(value)
    return value if isinstance(value, (int, float, str)) else json.dumps(value)


def check_cohort_name(path: str | Path, field: str = "<file>") -> Path:
    """``path`` if it is named as an abrnet dataset (.h5/.hdf5), else a one-line DataError naming ``field`` (the
    option it came from); commands that compute before they save call it first, so a wrong name fails before the
    work, not after it."""
    hint = "abrnet data export writes a wide CSV"
    return check_suffix(path, COHORT_SUFFIXES, "an abrnet dataset (HDF5)", hint, field=field)


def _put(f: h5py.File, name: str, arr: np.ndarray) -> h5py.Dataset:
    return f.create_dataset(name, data=arr, compression="gzip", compression_opts=1, shuffle=True)


def load_cohort(path: str | Path, *, with_clean: bool = True) -> ABRCohort:
    """Read and validate an abrnet dataset file; any problem is a one-line `DataError` naming file, field, row."""
    path = Path(path)
    src = str(path)
    if not path.exists():
        raise DataError(src, "<file>", "no such file")
    if path.is_dir():  # h5py's own message for a folder is an errno and a timestamp
        raise DataError(src, "<file>", "is a folder, not an abrnet .h5 file (abrnet data import reads folders)")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        with path.open("rb") as fh:
            hdf5 = fh.read(8).startswith(b"\x89HDF")
        if not hdf5:  # a CSV or a device export: "truncated?" sent its user looking for damage (hunt 50e #3)
            raise DataError(
                src, "<file>", "not an HDF5 file: this command reads abrnet .h5 files (abrnet data import FILE "
                "--out FILE.h5 converts a CSV or a device export)",
            ) from None  # fmt: skip
        raise DataError(
            src, "<file>", f"not a readable HDF5 file ({_short(exc)}); truncated or wrong format?"
        ) from None
    with f:
        version = _number_attr(f, "schema_version", src, int)
        if version is None:
            raise DataError(src, "schema_version", "missing: not an abrnet dataset file")
        if version > SCHEMA_VERSION:
            raise DataError(src, "schema_version", f"{version} is newer than this abrnet ({SCHEMA_VERSION})")
        for name in _REQUIRED:
            if name not in f:
                raise DataError(src, name, "missing field")
        sampling_rate_hz = _number_attr(f, "sampling_rate_hz", src, float)
        if sampling_rate_hz is None:
            raise DataError(src, "sampling_rate_hz", "missing attribute")
        t0_ms = _number_attr(f, "t0_ms", src, float)
        try:
            signals = _read(f, "signals", src, np.float32)
            n_samples = _number_attr(f, "n_samples", src, int)
            if n_samples is not None and signals.ndim == 2 and signals.shape[1] != n_samples:
                raise DataError(src, "signals", f"rows have {signals.shape[1]} samples, header says {n_samples}")
            clean = _read(f, "clean", src, np.float32) if (with_clean and "clean" in f) else None
            class_names = np.array([s for s in _strings(f, "class", src)], dtype=object)
            extras = f.get("extras", {})
            if not isinstance(extras, (h5py.Group, dict)):
                raise DataError(src, "extras", "expected a group of per-record datasets")
            cohort = ABRCohort(
                signals=signals,
                static=_read(f, "static", src, np.float32, STATIC_PARAMS),
                patient_id=np.array(_strings(f, "patient_id", src), dtype=str),
                ear=np.array(_strings(f, "ear", src), dtype=str),
                latency_ms=_read(f, "latency_ms", src, np.float32, WAVES),
                amplitude_uv=_read(f, "amplitude_uv", src, np.float32, WAVES),
                class_id=_class_ids(class_names, src),
                threshold_db=_read(f, "threshold_db", src, np.float32),
                no_response=_read(f, "no_response", src, bool),
                sampling_rate_hz=sampling_rate_hz,
                t0_ms=0.0 if t0_ms is None else t0_ms,
                clean=clean,
                buffers=_read(f, "buffers", src, np.float32) if "buffers" in f else None,
                extras={k: _read_any(_dataset(f, f"extras/{k}", src)) for k in extras},
                attrs={k[5:]: _attr(v) for k, v in f.attrs.items() if k.startswith("meta_")},
            )
        except (OSError, KeyError, TypeError) as exc:
            raise DataError(src, "<file>", f"cannot read ({_short(exc)}); truncated or corrupt?") from None
    return cohort.validate(source=src)


def _number_attr(f: h5py.File, name: str, src: str, kind: type[int] | type[float]) -> int | float | None:
    """A numeric root attribute (None if absent): files from other tools store text such as "20kHz" or "two"."""
    value = f.attrs.get(name)
    if value is None:
        return None
    try:
        number = kind(value)
        if kind is int and number != float(value):
            raise ValueError
        return number
    except (TypeError, ValueError):
        raise DataError(src, name, f"attribute must be {'an integer' if kind is int else 'a number'}, got "
                        f"{_attr(value)!r:.60}") from None  # fmt: skip


def _dataset(f: h5py.File, name: str, src: str) -> h5py.Dataset:
    """``f[name]`` when it is a dataset: another tool may have written a group (or a scalar) in its place."""
    ds = f[name]
    if not isinstance(ds, h5py.Dataset):
        raise DataError(src, name, "expected a dataset, found a group")
    if ds.shape is None or ds.ndim == 0:
        raise DataError(src, name, "expected one value per record, found a scalar")
    return ds


def _strings(f: h5py.File, name: str, src: str) -> list[str]:
    ds = _dataset(f, name, src)
    if h5py.check_string_dtype(ds.dtype) is None:
        raise DataError(src, name, f"expected strings, found dtype {ds.dtype}")
    return list(ds.asstr()[()])


def _read(f: h5py.File, name: str, src: str, dtype: type, columns: tuple[str, ...] | None = None) -> np.ndarray:
    """A numeric dataset; ``no_response`` must hold bools or 0/1 (text such as b"no" would read as True). With
    ``columns``, the dataset's ``columns`` attribute (when present) must name them: a file whose columns are in
    another order is reordered, never misread."""
    ds = _dataset(f, name, src)
    if dtype is bool:
        if ds.dtype.kind not in "biu":
            raise DataError(src, name, f"expected bool or 0/1, found dtype {ds.dtype}")
        raw = np.asarray(ds[()])
        if (bad := np.flatnonzero((raw != 0) & (raw != 1))).size:
            raise DataError(src, name, f"expected bool or 0/1, got {raw[bad[0]]}", int(bad[0]))
        return raw.astype(bool)
    if ds.dtype.kind not in "fiu":
        raise DataError(src, name, f"expected numbers, found dtype {ds.dtype}")
    arr = np.asarray(ds[()], dtype=dtype)
    if columns is None or "columns" not in ds.attrs:
        return arr
    names = [str(_attr(c)) for c in np.atleast_1d(ds.attrs["columns"])]
    if sorted(names) != sorted(columns) or len(names) != len(set(names)):
        raise DataError(src, name, f"columns attribute {names} does not name {list(columns)}")
    if arr.ndim != 2 or arr.shape[1] != len(names):
        return arr  # the shape check in validate() names the problem
    return np.ascontiguousarray(arr[:, [names.index(c) for c in columns]])


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
