"""The machinery behind `abrnet.metrics.task_metrics`: NaN-free output with reasons, metrics as functions of
patient multiplicities, and the patient bootstrap that turns them into intervals (see that module's docstring).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from abrnet.constants import CLASS_NAMES
from abrnet.metrics.kernels import MIN_CLASSES

_TOL = 1e-6
_MIN_DEFINED_RESAMPLES = 0.95  # an interval needs the metric defined in at least this share of resamples

# A metric as a function of patient multiplicities: (B, P) counts -> (B,) values (NaN where undefined).
MetricFn = Callable[[np.ndarray], np.ndarray]


# ---------------------------------------------------------------------------------------------- NaN-free output
class Undefined:
    """Collects the reason for every metric reported as None."""

    def __init__(self) -> None:
        self.reasons: dict[str, str] = {}

    def value(self, path: str, x: Any, reason: str) -> float | None:
        """`x` as a float, or None (recording `reason`) when it is None, NaN or infinite."""
        if x is not None:
            x = float(np.asarray(x).reshape(-1)[0])
            if math.isfinite(x):
                return x
        self.reasons.setdefault(path, reason)
        return None


# The reason `sanitise` gives a value that was computed and came out NaN/inf, unlike a metric the split does not define
# (no no-response ear, a class absent), whose builder states why: training alerts tell the two apart
NOT_FINITE_REASON = "value was not finite"


def sanitise(obj: Any, undefined: dict[str, str], path: str = "") -> Any:
    """Recursively turn numpy scalars/arrays into Python types and any leftover NaN/inf into None (with a reason)."""
    if isinstance(obj, dict):
        return {k: sanitise(v, undefined, f"{path}.{k}" if path else str(k)) for k, v in obj.items()}
    if isinstance(obj, list | tuple | np.ndarray):
        return [sanitise(v, undefined, path) for v in (obj.tolist() if isinstance(obj, np.ndarray) else obj)]
    if isinstance(obj, np.bool_ | bool):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        if math.isfinite(float(obj)):
            return float(obj)
        undefined.setdefault(path, NOT_FINITE_REASON)
        return None
    return obj


# ---------------------------------------------------------------------------------------------- metric builders
def record_metric(pidx: np.ndarray, kernel: Callable[[np.ndarray], np.ndarray]) -> MetricFn:
    """Lift a kernel over record weights (B, n) to a function of patient counts (B, P)."""
    return lambda counts: kernel(counts[:, pidx].astype(np.float64))


def r2_reason(y: np.ndarray, what: str) -> str:
    """Why R² is undefined for truth ``y``: the 'undefined' reason stored beside an R² metric that has no value."""
    if y.size == 0:
        return f"no record in split has {what}"
    if y.size == 1:
        return f"R² undefined: only 1 record has {what}"
    return "R² undefined: truth has zero variance"


def empty_reason(n: int, what: str, otherwise: str) -> str:
    """The 'undefined' reason: no record has ``what`` when ``n`` is 0, else ``otherwise`` (an empty split is not an
    undefined metric)."""
    return f"no record in split has {what}" if n == 0 else otherwise


MEASURABLE = "a measurable threshold"


def class_reason(truth: np.ndarray, unit: str) -> str:
    """Why class macro-F1 / balanced accuracy of known true classes ``truth`` is undefined: no known class, or one
    (a constant prediction of it scored 1.0 and the targets table said "met"; `kernels.MIN_CLASSES`)."""
    present = np.unique(np.asarray(truth, dtype=np.int64))
    if present.size == 0:
        return f"no {unit} in split has a known class"
    names = ", ".join(CLASS_NAMES[c] for c in present)
    return f"undefined: the split's truth holds {present.size} class ({names}); needs at least {MIN_CLASSES}"


def no_response_f1_reason(unit: str) -> str:
    """Why no-response F1 is undefined (no positive in truth or prediction)."""
    return f"F1 undefined: no {unit} in split is a no-response and none is predicted as one"


def presence_f1_reason(wave: str, any_wave_labelled: bool) -> str:
    """Why wave presence F1 is undefined: no wave labelled anywhere (no peak labels), or none of this wave."""
    if not any_wave_labelled:
        return "F1 undefined: no record in the data has any wave labelled (no peak labels to score against)"
    return f"F1 undefined: no record has wave {wave} labelled and none is predicted present"


def within(err: np.ndarray, limit: float) -> np.ndarray:
    """1.0 where |err| ≤ ``limit`` (with a float tolerance, so an error of exactly the limit counts), else 0.0."""
    return (np.abs(err) <= limit + _TOL).astype(np.float64)


class Builder:
    """Registers metric functions with their 'undefined' reason, then evaluates points and bootstrap intervals."""

    def __init__(self, n_patients: int) -> None:
        self.fns: dict[str, tuple[MetricFn, str]] = {}
        self.resample_reasons: dict[str, str] = {}
        self.ones = np.ones((1, n_patients))

    def add(self, path: str, fn: MetricFn, reason: str, resample_reason: str | None = None) -> None:
        """Register `fn` at `path`; `reason` says why its point is undefined, `resample_reason` (with ``{pct}``, the
        share of resamples without a value) why its interval is refused, where that is more specific than the
        default (a class metric: a class of the split is absent from those resamples)."""
        self.fns[path] = (fn, reason)
        if resample_reason is not None:
            self.resample_reasons[path] = resample_reason

    def point(self, path: str, und: Undefined) -> float | None:
        fn, reason = self.fns[path]
        return und.value(path, fn(self.ones)[0], reason)


MIN_BOOTSTRAP = 20  # fewer resamples: the 2.5th/97.5th percentiles are just the extremes of a handful of draws


def bootstrap_count_problem(n_bootstrap: int) -> str | None:
    """What is wrong with `n_bootstrap` resamples, said after the field's name (None: nothing): 1 to `MIN_BOOTSTRAP`
    − 1, where the "interval" was one resample's value (or the point itself) and read as a certain figure. 0 means
    no intervals. The one rule the API (`check_bootstrap_count`) and the CLI's ``--bootstrap`` both apply."""
    if 0 < n_bootstrap < MIN_BOOTSTRAP:
        return f"must be 0 (no intervals) or at least {MIN_BOOTSTRAP}, got {n_bootstrap}"
    return None


def check_bootstrap_count(n_bootstrap: int) -> None:
    """Refuse a bad resample count (`bootstrap_count_problem`) in one line naming ``n_bootstrap``."""
    problem = bootstrap_count_problem(n_bootstrap)
    if problem is not None:
        raise ValueError(f"n_bootstrap {problem}")


def bootstrap_intervals(
    b: Builder,
    paths: tuple[str, ...],
    points: dict[str, float | None],
    strata: np.ndarray,
    n_bootstrap: int,
    seed: int,
    und: Undefined,
) -> dict[str, list[float] | None]:
    """Percentile 95% intervals from resampling patients with replacement within each stratum.

    `strata` (P,) is each patient's stratum (`data.splits.patient_strata`: the rarest class of its records, which the
    split was drawn by). Each resample keeps every stratum's patient count, as every split does, so a class that is
    some patient's stratum is in every resample: drawn from all patients at once, the NEUROPATHY ears' few patients
    were missing from 7% of the test split's resamples, and the class macro-F1 had no interval. A class that is no
    patient's stratum (each holder has a rarer one) can still leave a resample, and is refused as before. With one
    patient every resample is that patient, so the "interval" is the point estimate itself, which reads as a certain
    figure (it printed as "6.2 [6.2, 6.2]"); it is undefined instead, with that reason."""
    check_bootstrap_count(n_bootstrap)
    out: dict[str, list[float] | None] = {}
    if n_bootstrap <= 0:
        return out
    n_patients = len(strata)
    if n_patients < 2:
        for path in (p for p in paths if p in b.fns):
            und.reasons.setdefault(f"intervals.{path}", "one patient: resampling patients cannot vary the figure")
            out[path] = None
        return out
    rng = np.random.default_rng(seed)
    counts = np.zeros((n_bootstrap, n_patients))  # (B, P) how often each patient is drawn
    for stratum in np.unique(strata):
        cols = np.flatnonzero(strata == stratum)
        counts[:, cols] = rng.multinomial(cols.size, np.full(cols.size, 1.0 / cols.size), size=n_bootstrap)
    for path in paths:
        key = f"intervals.{path}"
        if path not in b.fns:
            continue
        if points.get(path) is None:
            und.reasons.setdefault(key, "point estimate undefined")
            out[path] = None
            continue
        reps = b.fns[path][0](counts)
        ok = np.isfinite(reps)
        if ok.mean() < _MIN_DEFINED_RESAMPLES:
            why = b.resample_reasons.get(path, "metric undefined in {pct}% of patient resamples")
            und.reasons.setdefault(key, why.format(pct=f"{100 * (1 - ok.mean()):.0f}"))
            out[path] = None
            continue
        lo, hi = np.percentile(reps[ok], [2.5, 97.5])
        out[path] = [float(lo), float(hi)]
    return out


def get_path(d: dict, path: str) -> Any:
    """The value at dotted ``path`` in nested dict ``d``, or None where a level is missing (a metric not computed)."""
    for part in path.split("."):
        d = d.get(part) if isinstance(d, dict) else None
    return d
