"""The in-memory ABR cohort: one row per averaged recording, columns as numpy arrays.

Every producer (simulator, importers, CSV reader) builds an `ABRCohort`; every consumer (file writer, DataModule,
evaluation) reads one. `validate()` is the single place where shapes, dtypes and physical ranges are checked, so a
bad record is reported the same way wherever it came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

import numpy as np

from abrnet.constants import CLASS_NAMES, PHYSICAL_RANGES, STATIC_PARAMS, WAVES
from abrnet.data.ears import ear_of

SCHEMA_VERSION = 2  # 2: optional split buffers; FMP may be NaN (not measured)

# Static parameters a recording may lack: NaN means "not measured", never a placeholder value. The model takes a
# missing FMP as its own state (a learned embedding), trained by dropping FMP on a share of rows.
OPTIONAL_STATIC: tuple[str, ...] = ("fmp",)


class DataError(ValueError):
    """A one-line, user-facing data problem: names the source, the field and the first bad row."""

    def __init__(self, source: str, field: str, message: str, row: int | None = None) -> None:
        where = f"{source}: field '{field}'" + (f", row {row}" if row is not None else "")
        super().__init__(f"{where}: {message}")
        self.source, self.field, self.row = source, field, row


@dataclass
class ABRCohort:
    """Averaged ABR recordings with their recording parameters and (optional) expert-style labels.

    Shapes: N records, T samples, W = 3 waves (I, III, V), S = 4 static parameters.
    Labels absent in real data are NaN (latency, amplitude, threshold) or -1 (class_id).
    """

    signals: np.ndarray  # (N, T) float32, µV
    static: np.ndarray  # (N, S) float32: age_years, intensity_db, stimulus_rate_hz, fmp (fmp NaN = not measured)
    patient_id: np.ndarray  # (N,) str
    ear: np.ndarray  # (N,) str, "L" or "R"
    latency_ms: np.ndarray  # (N, W) float32, NaN = wave not labelled
    amplitude_uv: np.ndarray  # (N, W) float32, baseline-referenced, NaN = not labelled
    class_id: np.ndarray  # (N,) int64 index into CLASS_NAMES, -1 = unknown
    threshold_db: np.ndarray  # (N,) float32, the ear's threshold; NaN if no response or unknown
    no_response: np.ndarray  # (N,) bool, True = no response at the maximum level tested
    sampling_rate_hz: float
    t0_ms: float = 0.0
    clean: np.ndarray | None = None  # (N, T) float32, noise-free ground truth (simulated data only)
    buffers: np.ndarray | None = (
        None  # (N, 2, T) float32 µV: the A/B interleaved sub-averages, when the device keeps them
    )
    extras: dict[str, np.ndarray] = field(default_factory=dict)  # optional per-record columns (N, ...)
    attrs: dict[str, str | float | int] = field(default_factory=dict)  # provenance: seed, simulator config...

    # ------------------------------------------------------------------ shape helpers
    @property
    def n_records(self) -> int:
        return int(self.signals.shape[0])

    @property
    def n_samples(self) -> int:
        return int(self.signals.shape[1])

    @property
    def time_ms(self) -> np.ndarray:
        return self.t0_ms + np.arange(self.n_samples) * 1000.0 / self.sampling_rate_hz

    def static_column(self, name: str) -> np.ndarray:
        return self.static[:, STATIC_PARAMS.index(name)]

    @property
    def has_fmp(self) -> np.ndarray:
        """(N,) bool: FMP measured (from split buffers or the device), False where it is NaN."""
        return np.isfinite(self.static_column("fmp"))

    @property
    def class_names(self) -> np.ndarray:
        names = np.array((*CLASS_NAMES, "UNKNOWN"))
        return names[np.where(self.class_id >= 0, self.class_id, len(CLASS_NAMES))]

    @property
    def ear_key(self) -> np.ndarray:
        """One string per record identifying its ear: 'patient/ear'."""
        return np.char.add(np.char.add(self.patient_id.astype(str), "/"), self.ear.astype(str))

    def subset(self, index: np.ndarray) -> ABRCohort:
        """Rows `index` (bool mask or integer positions) as a new cohort sharing no arrays."""
        take = lambda a: None if a is None else np.ascontiguousarray(a[index])
        return ABRCohort(
            signals=take(self.signals),
            static=take(self.static),
            patient_id=take(self.patient_id),
            ear=take(self.ear),
            latency_ms=take(self.latency_ms),
            amplitude_uv=take(self.amplitude_uv),
            class_id=take(self.class_id),
            threshold_db=take(self.threshold_db),
            no_response=take(self.no_response),
            sampling_rate_hz=self.sampling_rate_hz,
            t0_ms=self.t0_ms,
            clean=take(self.clean),
            buffers=take(self.buffers),
            extras={k: take(v) for k, v in self.extras.items()},
            attrs=dict(self.attrs),
        )

    def with_patient_prefix(self, prefix: str) -> ABRCohort:
        """This cohort with `prefix` before every patient id (the other arrays shared): how a second simulated cohort,
        whose own seed reuses the same ids, is kept apart from the first before `concat`."""
        return replace(self, patient_id=np.char.add(prefix, self.patient_id.astype(str)))

    def concat(self, other: ABRCohort) -> ABRCohort:
        """This cohort's records followed by `other`'s (same sampling; per-record extras kept where both have them).

        Patient ids must not overlap: two patients sharing an id would be split, grouped and scored as one.
        """
        if other.sampling_rate_hz != self.sampling_rate_hz or other.t0_ms != self.t0_ms:
            raise DataError("concat", "sampling_rate_hz", "the cohorts differ in sampling rate or time origin")
        if (shared := np.intersect1d(self.patient_id, other.patient_id)).size:
            raise DataError("concat", "patient_id", f"the cohorts share patient ids (e.g. {str(shared[0])!r})")
        both = lambda a, b: None if a is None or b is None else np.concatenate([a, b])
        return ABRCohort(
            signals=both(self.signals, other.signals),
            static=both(self.static, other.static),
            patient_id=both(self.patient_id, other.patient_id),
            ear=both(self.ear, other.ear),
            latency_ms=both(self.latency_ms, other.latency_ms),
            amplitude_uv=both(self.amplitude_uv, other.amplitude_uv),
            class_id=both(self.class_id, other.class_id),
            threshold_db=both(self.threshold_db, other.threshold_db),
            no_response=both(self.no_response, other.no_response),
            sampling_rate_hz=self.sampling_rate_hz,
            t0_ms=self.t0_ms,
            clean=both(self.clean, other.clean),
            buffers=both(self.buffers, other.buffers),
            extras={k: both(v, other.extras[k]) for k, v in self.extras.items() if k in other.extras},
            attrs=dict(self.attrs),
        )

    @classmethod
    def from_signals(
        cls,
        signals: np.ndarray,
        *,
        age_years: float | np.ndarray,
        intensity_db: float | np.ndarray,
        stimulus_rate_hz: float | np.ndarray,
        patient_id: str | np.ndarray,
        ear: str | np.ndarray,
        fmp: float | np.ndarray = np.nan,
        sampling_rate_hz: float = 20_000.0,
        t0_ms: float = 0.0,
    ) -> ABRCohort:
        """Unlabelled recordings from arrays: (N, T) µV traces and their recording parameters, each a scalar for
        every record or an (N,) array; FMP NaN = not measured. Validated (`DataError` names the field and row).
        Ears are read as every reader reads them (`abrnet.data.ears.ear_of`: ``"l"``, ``"Left"``...).

        Why: a user holding numpy traces (`model.predict(cohort)`) otherwise filled ten fields, labels as NaN arrays
        and `class_id = -1` included, by hand (hunt 12, #8). The traces are copied (once): a notebook that reuses its
        buffer must not change a cohort already validated (hunt A #4)."""
        x = _numbers("signals", signals, copy=True)
        n = x.shape[0] if x.ndim == 2 else -1
        if n < 0:
            raise DataError("<memory>", "signals", f"must be (records, samples), got shape {x.shape}")
        given = dict(zip(STATIC_PARAMS, (age_years, intensity_db, stimulus_rate_hz, fmp), strict=True))
        static = [_per_record(name, _numbers(name, v), n) for name, v in given.items()]
        ears = _per_record("ear", np.asarray(ear, dtype=str), n)  # a spelling no reader knows: `validate` says so
        ids = np.asarray(patient_id, dtype=object).reshape(-1)  # None (or one None) is "None" as str: a patient
        if (missing := np.flatnonzero([i is None for i in ids.tolist()])).size:
            row = int(missing[0]) if ids.size > 1 else None
            raise DataError("<memory>", "patient_id", "missing: give one id for every record or one per record", row)
        return cls(
            signals=x,
            static=np.stack(static, axis=1),  # (N, S) in STATIC_PARAMS order
            patient_id=_per_record("patient_id", np.asarray(patient_id, dtype=str), n),
            ear=np.array([ear_of(e) or e for e in ears.tolist()], dtype=str),
            latency_ms=np.full((n, len(WAVES)), np.nan, np.float32),
            amplitude_uv=np.full((n, len(WAVES)), np.nan, np.float32),
            class_id=np.full(n, -1, np.int64),
            threshold_db=np.full(n, np.nan, np.float32),
            no_response=np.zeros(n, bool),
            sampling_rate_hz=_grid_number("sampling_rate_hz", sampling_rate_hz),
            t0_ms=_grid_number("t0_ms", t0_ms),
        ).validate()

    # ------------------------------------------------------------------ validation
    def validate(self, source: str = "<memory>") -> ABRCohort:
        """Check shapes, dtypes, finiteness and physical ranges; raise `DataError` on the first problem."""
        n = self.signals.shape[0] if self.signals.ndim >= 1 else 0
        _expect_shape(source, "signals", self.signals, (n, None), 2)
        if self.n_samples < 8:
            raise DataError(source, "signals", f"only {self.n_samples} samples per record (need >= 8)")
        _expect_finite(source, "signals", self.signals)
        _expect_range(source, "signals", self.signals, PHYSICAL_RANGES["signal_uv"], "µV")
        if self.clean is not None:
            _expect_shape(source, "clean", self.clean, (n, self.n_samples), 2)
            _expect_finite(source, "clean", self.clean)
        if self.buffers is not None:
            _expect_shape(source, "buffers", self.buffers, (n, 2, self.n_samples), 3)
            _expect_finite(source, "buffers", self.buffers)
        _expect_shape(source, "static", self.static, (n, len(STATIC_PARAMS)), 2)
        for j, name in enumerate(STATIC_PARAMS):
            col = self.static[:, j]
            if name in OPTIONAL_STATIC:
                _expect_no_inf(source, name, col)
            else:
                _expect_finite(source, name, col)
            _expect_range(source, name, col, PHYSICAL_RANGES[name])
        for name in ("patient_id", "ear", "class_id", "threshold_db", "no_response"):
            _expect_shape(source, name, getattr(self, name), (n,), 1)
        empty = np.char.strip(self.patient_id.astype(str)) == ""
        if empty.any():  # the wide CSV refused it on reading: an .h5 or a cohort built in Python held it (hunt 50b #2)
            raise DataError(source, "patient_id", "empty: each record's ear series is keyed by it", _first_row(empty))
        bad_ear = ~np.isin(self.ear.astype(str), ["L", "R"])
        if bad_ear.any():
            row = int(np.flatnonzero(bad_ear)[0])
            raise DataError(source, "ear", f"must be 'L' or 'R', got {str(self.ear[row])!r}", row)
        bad_cls = (self.class_id < -1) | (self.class_id >= len(CLASS_NAMES))
        if bad_cls.any():
            row = int(np.flatnonzero(bad_cls)[0])
            raise DataError(source, "class_id", f"unknown class index {self.class_id[row]}", row)
        for name, key, unit in (("latency_ms", "latency_ms", "ms"), ("amplitude_uv", "amplitude_uv", "µV")):
            arr = getattr(self, name)
            _expect_shape(source, name, arr, (n, len(WAVES)), 2)
            _expect_no_inf(source, name, arr)
            _expect_range(source, name, arr, PHYSICAL_RANGES[key], unit)
        _expect_no_inf(source, "threshold_db", self.threshold_db)
        _expect_range(source, "threshold_db", self.threshold_db, PHYSICAL_RANGES["threshold_db"], "dB")
        if not np.isfinite(self.sampling_rate_hz) or self.sampling_rate_hz <= 0:
            raise DataError(source, "sampling_rate_hz", f"must be > 0, got {self.sampling_rate_hz}")
        if not np.isfinite(self.t0_ms):  # every time axis (and the resampler) starts here
            raise DataError(source, "t0_ms", f"must be finite, got {self.t0_ms}")
        for key, arr in self.extras.items():
            if arr.shape[:1] != (n,):
                got = f"{arr.shape[0]} rows" if arr.ndim else "a scalar"
                raise DataError(source, f"extras/{key}", f"has {got}, expected {n} rows")
        return self


def _numbers(name: str, value: object, *, copy: bool = False) -> np.ndarray:
    """``value`` as float32 for `ABRCohort.from_signals`, or a `DataError` naming the field (and the row, where one
    is given per record) of the first value that is no number: numpy's bare "could not convert string to float"
    named neither, while the docstring promised both. Rows of different lengths, complex or true/false values and a
    number beyond float32 are named as such (hunt 50b: a ragged list was "row 0: must be a number, got [all 200
    values]", a complex trace lost its imaginary part with numpy's warning only, and age 1e40 "contains NaN")."""
    try:
        raw = np.asarray(value)
    except ValueError:  # numpy refuses a ragged list
        raw = np.asarray(value, dtype=object)
    if raw.dtype == object and raw.ndim == 1 and all(np.ndim(r) == 1 for r in raw.tolist()):
        lengths = [len(r) for r in raw.tolist()]
        if k := next((i for i, m in enumerate(lengths) if m != lengths[0]), 0):
            raise DataError("<memory>", name, f"has {lengths[k]} values where row 0 has {lengths[0]}", k)
    if raw.dtype.kind in "cb":
        what = "complex" if raw.dtype.kind == "c" else "true/false"
        raise DataError("<memory>", name, f"must be real numbers, got {what} values ({raw.dtype})")
    try:  # from the array read above: the traces are converted once, copied only where asked
        with np.errstate(over="ignore"):
            out = raw.astype(np.float32, copy=copy)
    except (TypeError, ValueError):
        cells = np.asarray(value, dtype=object)
        for i, cell in enumerate(cells.ravel().tolist()):
            try:
                float(cell)
            except (TypeError, ValueError):
                row = int(np.unravel_index(i, cells.shape)[0]) if cells.ndim else None
                raise DataError("<memory>", name, f"must be a number, got {repr(cell)[:40]}", row) from None
        raise DataError("<memory>", name, f"must be numbers, got {type(value).__name__}") from None
    if np.isinf(out).any() and (over := np.isinf(out) & np.isfinite(wide := raw.astype(np.float64))).any():
        row = _first_row(over) if over.ndim else None
        first = float(wide[over].ravel()[0])
        raise DataError("<memory>", name, f"value {first:g} is beyond float32 (|x| > 3.4e38): check its unit", row)
    return out


def _grid_number(name: str, value: object) -> float:
    """`from_signals`' sampling rate or t0: one real number for every record, or a `DataError` naming it (it was a
    bare "could not convert string to float", and a list one per record a TypeError; hunt 50b #4)."""
    arr = np.asarray(value) if not isinstance(value, (str, bool)) and value is not None else None
    if arr is None or arr.ndim != 0 or arr.dtype.kind not in "iuf":
        raise DataError("<memory>", name, f"must be one number (the grid every record shares), got {value!r}"[:160])
    return float(arr)


def _per_record(name: str, arr: np.ndarray, n: int) -> np.ndarray:
    """(n,) copy of a scalar or an (n,) array given for `ABRCohort.from_signals`."""
    if arr.ndim > 1 or (arr.ndim == 1 and arr.shape[0] != n):
        raise DataError("<memory>", name, f"must be one value or one per record ({n}), got shape {arr.shape}")
    return np.broadcast_to(arr, (n,)).copy()


def _first_row(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask.reshape(mask.shape[0], -1).any(axis=1))[0])


def _expect_shape(source: str, name: str, arr: np.ndarray, shape: tuple, ndim: int) -> None:
    if not isinstance(arr, np.ndarray) or arr.ndim != ndim:
        got = getattr(arr, "shape", type(arr).__name__)
        raise DataError(source, name, f"expected {ndim}-D array, got shape {got}")
    for axis, want in enumerate(shape):
        if want is not None and arr.shape[axis] != want:
            raise DataError(source, name, f"expected shape {shape}, got {arr.shape}")


def _expect_finite(source: str, name: str, arr: np.ndarray) -> None:
    bad = ~np.isfinite(arr)
    if bad.any():
        raise DataError(source, name, "contains NaN or inf", _first_row(bad))


def _expect_no_inf(source: str, name: str, arr: np.ndarray) -> None:
    bad = np.isinf(arr)
    if bad.any():
        raise DataError(source, name, "contains inf (use NaN for a missing label)", _first_row(bad))


def _expect_range(source: str, name: str, arr: np.ndarray, bounds: tuple[float, float], unit: str = "") -> None:
    lo, hi = bounds
    with np.errstate(invalid="ignore"):
        bad = (arr < lo) | (arr > hi)
    if bad.any():
        row = _first_row(bad)
        value = np.asarray(arr[row]).ravel()
        value = value[bad[row].ravel()] if value.size > 1 else value
        raise DataError(source, name, f"value {float(value[0]):g} outside [{lo:g}, {hi:g}] {unit}".rstrip(), row)


def cohort_field_names() -> list[str]:
    """Names of the `ABRCohort` fields, in declaration order: one list for the code that walks every field."""
    return [f.name for f in fields(ABRCohort)]


def ears_assumed(cohort: ABRCohort) -> np.ndarray:
    """Which records' ear a reader assumed ("R") because the file did not say, as (N,) bool.

    Why: the wide CSV writes these ears as empty cells, so an export never turns an assumed ear into a recorded one.
    The truth per record is ``extras["attr_ear_unknown"]`` (1 = assumed, NaN = recorded) where a cohort has it - a
    folder of files with and without ears (`merge_attrs`) or a CSV mixing empty and L/R cells - else
    ``attrs["ear_unknown"]`` for every record (a device file that names no ear).
    """
    per_record = cohort.extras.get("attr_ear_unknown")
    if per_record is not None:
        return np.asarray(per_record, np.float64) == 1
    return np.full(cohort.n_records, bool(cohort.attrs.get("ear_unknown")))


def grid_assumed(cohort: ABRCohort) -> list[str]:
    """The grid columns (``sampling_rate_hz``, ``t0_ms``) a reader assumed because neither a column nor an option
    stated them (a wide CSV's ``attrs["grid_assumed"]``, kept by `data import` in the .h5 it writes); [] otherwise.
    One reading for predict, `data import`, `data describe` and `data export`, which each say it."""
    return [column for column in str(cohort.attrs.get("grid_assumed", "")).split(",") if column]


def sampling_rate_assumed(cohort: ABRCohort) -> str | None:
    """How a reader guessed the sampling rate (``attrs["sampling_rate_source"]``, e.g. a BioSig CSV's "assumed: 293
    samples span 10 ms (ABRA convention)"), None where the file gave it. One reading for every command that says it."""
    source = str(cohort.attrs.get("sampling_rate_source", "given"))
    return None if source == "given" else source


def float32_as_typed(value: float) -> float:
    """A value stored as float32 (every static column) as the shortest decimal that is that float32: 33.1 and 0.02,
    not 33.099998474 and 0.0199999995. Why: people read these numbers (describe, the viewer) and a viewer page sends
    an age back to be compared with the stored one, so it must be the number that was typed."""
    return float(str(np.float32(value)))


def float32_column_as_typed(values: np.ndarray) -> np.ndarray:
    """(N,) float64: each value that is a float32 (a level read from the static columns, or one derived from it
    exactly: a series' highest level + 5 dB) as `float32_as_typed` writes it; NaN and any other number as it is.

    Why: the result tables printed a typed 57.3 dB as 57.29999924 (and results.csv as 57.2999992), so they could
    not be joined back on level to the user's own metadata (hunt A #5). Each distinct value once: a 50k-record
    table holds a dozen levels."""
    x = np.asarray(values, dtype=np.float64)
    distinct, inverse = np.unique(x, return_inverse=True)
    with np.errstate(over="ignore"):
        is_f32 = np.isfinite(distinct) & (distinct.astype(np.float32) == distinct)
    typed = [float32_as_typed(v) if ok else v for v, ok in zip(distinct.tolist(), is_f32.tolist(), strict=True)]
    return np.array(typed, dtype=np.float64)[inverse.reshape(x.shape)]
