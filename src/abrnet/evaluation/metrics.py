"""Split-level evaluation metrics that are never NaN.

Why this module exists: averaging metrics per batch is biased (R² of a batch is not the R² of the split) and one
batch without a labelled peak turns the average into NaN. Here every metric is computed once over the whole split;
a metric that is mathematically undefined is reported as `None` and the reason is stored under `"undefined"`
(keyed by the metric's dotted path), so the output always passes `json.dumps(..., allow_nan=False)`.

All metrics are written as *weighted* statistics of the records. The point estimate uses weight 1 per record; the
bootstrap draws patients with replacement and gives each record the number of times its patient was drawn. Records
of one patient are correlated (same ears, same session), so resampling records would give intervals that are far too
narrow. Using the same code for the point estimate and the resamples keeps the two consistent, and computing all
resamples as one (B, N) weight matrix keeps 200 resamples of 10k records well under a second per metric.

Conventions (documented once here, used everywhere):
* probabilities are thresholded at > 0.5;
* "within x" counts |error| <= x (with a 1e-6 tolerance for float32 labels);
* signal correlations are averaged over records where both series vary (a constant row has no correlation);
* a record's no-response truth is known when `no_response` is True or its threshold is finite;
* classification macro-F1 and balanced accuracy average over the classes present in the split's truth (the
  confusion matrix always has all 5 classes, `labels=range(5)`); a class without support has per-class F1 `None`
  with the reason recorded. Predictions into an absent class still cost recall of the true class.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from abrnet.constants import CLASS_NAMES, WAVES
from abrnet.data.schema import ABRCohort
from abrnet.evaluation.calibration import coverage_report
from abrnet.evaluation.per_ear import EarTable, SeriesModel, aggregate_ears
from abrnet.evaluation.predictions import Predictions
from abrnet.evaluation.series import adjusted_record_probs
from abrnet.evaluation.series_peaks import apply_peak_blend

_TOL = 1e-6
_PROB_CUT = 0.5
_MIN_DEFINED_RESAMPLES = 0.95  # an interval needs the metric defined in at least this share of resamples

# metric paths that get a bootstrap interval
BOOTSTRAP_PATHS: tuple[str, ...] = (
    "signal.correlation",
    "peaks.V.presence_f1",
    "peaks.V.latency_r2",
    "peaks.V.latency_mae_ms",
    "peaks.V.amplitude_r2",
    "peaks_series.V.latency_r2",
    "peaks_series.V.amplitude_r2",
    "classification.macro_f1",
    "classification.balanced_accuracy",
    "per_ear.classification.macro_f1",
    "per_ear.threshold.mae_db",
    "threshold.r2",
    "threshold.mae_db",
)

# A metric as a function of patient multiplicities: (B, P) counts -> (B,) values (NaN where undefined).
MetricFn = Callable[[np.ndarray], np.ndarray]


# ---------------------------------------------------------------------------------------------- weighted kernels
def weighted_mean(W: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Σ w·x / Σ w per row of W; NaN where the row's weights sum to 0."""
    sw = W.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(sw > 0, W @ x / np.where(sw > 0, sw, 1.0), np.nan)


def weighted_r2(W: np.ndarray, y: np.ndarray, y_hat: np.ndarray) -> np.ndarray:
    """Coefficient of determination 1 − SS_res/SS_tot per weight row; NaN when the weighted truth has no variance."""
    y = np.asarray(y, dtype=np.float64)
    y_hat = np.asarray(y_hat, dtype=np.float64)
    sw = W.sum(axis=1)
    if y.size == 0:
        return np.full(W.shape[0], np.nan)
    yc = y - y.mean()
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_c = np.where(sw > 0, W @ yc / np.where(sw > 0, sw, 1.0), 0.0)
        ss_tot = np.einsum("bn,bn->b", W, (yc[None, :] - mean_c[:, None]) ** 2)
        ss_res = W @ (y - y_hat) ** 2
        scale = max(1.0, float(np.abs(y).mean()))
        degenerate = ss_tot <= sw * (1e-9 * scale) ** 2
        return np.where(degenerate, np.nan, 1.0 - ss_res / np.where(degenerate, 1.0, ss_tot))


def weighted_binary_f1(W: np.ndarray, truth: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """F1 = 2TP / (2TP + FP + FN) with weighted counts; NaN when there is no positive in truth or prediction."""
    truth = np.asarray(truth, dtype=bool)
    pred = np.asarray(pred, dtype=bool)
    tp = W @ (truth & pred).astype(np.float64)
    fp = W @ (~truth & pred).astype(np.float64)
    fn = W @ (truth & ~pred).astype(np.float64)
    den = 2 * tp + fp + fn
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, 2 * tp / np.where(den > 0, den, 1.0), np.nan)


def weighted_confusion(W: np.ndarray, truth: np.ndarray, pred: np.ndarray, k: int) -> np.ndarray:
    """(B, k, k) weighted confusion matrices, rows = truth."""
    code = np.asarray(truth, dtype=np.int64) * k + np.asarray(pred, dtype=np.int64)
    onehot = np.zeros((code.shape[0], k * k))
    onehot[np.arange(code.shape[0]), code] = 1.0
    return (W @ onehot).reshape(W.shape[0], k, k)


def per_class_f1(C: np.ndarray) -> np.ndarray:
    """(B, k) F1 per class from (B, k, k) confusion matrices; NaN for classes without support."""
    tp = np.diagonal(C, axis1=1, axis2=2)
    support = C.sum(axis=2)
    predicted = C.sum(axis=1)
    den = support + predicted
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, 2 * tp / np.where(den > 0, den, 1.0), np.nan)


def macro_f1(C: np.ndarray) -> np.ndarray:
    """Mean per-class F1 over the classes with support, per confusion matrix."""
    return _nanmean_rows(per_class_f1(C))


def balanced_accuracy(C: np.ndarray) -> np.ndarray:
    """Mean recall over the classes with support, per confusion matrix."""
    tp = np.diagonal(C, axis1=1, axis2=2)
    support = C.sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(support > 0, tp / np.where(support > 0, support, 1.0), np.nan)
    return _nanmean_rows(recall)


def _nanmean_rows(x: np.ndarray) -> np.ndarray:
    ok = np.isfinite(x)
    n = ok.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, np.where(ok, x, 0.0).sum(axis=1) / np.maximum(n, 1), np.nan)


SILENT_TARGET_RMS_UV: float = 1e-3  # 1 nV RMS, ~1/80 of a typical residual noise


def has_waveform(target: np.ndarray) -> np.ndarray:
    """(N,) bool: the record's target carries a waveform to correlate with (RMS ≥ 1 nV about its mean).

    A clean target below threshold is an exact zero (TOTAL) or the float-dust tail of a response tens of dB below
    threshold (~1e-7 µV): a correlation with it measures the reconstruction's noise alone, so it is undefined.
    """
    t = np.asarray(target, dtype=np.float64)
    return np.sqrt(((t - t.mean(axis=1, keepdims=True)) ** 2).mean(axis=1)) >= SILENT_TARGET_RMS_UV


def rowwise_correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of each row of `a` with the same row of `b`; NaN for a constant row."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    den = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 1e-20, (a * b).sum(axis=1) / np.where(den > 1e-20, den, 1.0), np.nan)


# ---------------------------------------------------------------------------------------------- NaN-free output
class _Undefined:
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
        undefined.setdefault(path, "value was not finite")
        return None
    return obj


# ---------------------------------------------------------------------------------------------- metric builders
def _record_metric(pidx: np.ndarray, kernel: Callable[[np.ndarray], np.ndarray]) -> MetricFn:
    """Lift a kernel over record weights (B, n) to a function of patient counts (B, P)."""
    return lambda counts: kernel(counts[:, pidx].astype(np.float64))


def _r2_reason(y: np.ndarray, what: str) -> str:
    if y.size == 0:
        return f"no record in split has {what}"
    if y.size == 1:
        return f"R² undefined: only 1 record has {what}"
    return "R² undefined: truth has zero variance"


def _empty_reason(n: int, what: str, otherwise: str) -> str:
    return f"no record in split has {what}" if n == 0 else otherwise


def _within(err: np.ndarray, limit: float) -> np.ndarray:
    return (np.abs(err) <= limit + _TOL).astype(np.float64)


class _Builder:
    """Registers metric functions with their 'undefined' reason, then evaluates points and bootstrap intervals."""

    def __init__(self, n_patients: int) -> None:
        self.fns: dict[str, tuple[MetricFn, str]] = {}
        self.ones = np.ones((1, n_patients))

    def add(self, path: str, fn: MetricFn, reason: str) -> None:
        self.fns[path] = (fn, reason)

    def point(self, path: str, und: _Undefined) -> float | None:
        fn, reason = self.fns[path]
        return und.value(path, fn(self.ones)[0], reason)


def _signal_section(pred: Predictions, data: ABRCohort, pidx: np.ndarray, b: _Builder, und: _Undefined) -> dict:
    out: dict[str, float | None] = {}
    if pred.reconstruction is None:
        b.add("signal.correlation", lambda c: np.full(c.shape[0], np.nan), "model gave no reconstruction")
        b.add("signal.mse", lambda c: np.full(c.shape[0], np.nan), "model gave no reconstruction")
    else:
        r = rowwise_correlation(pred.reconstruction, data.signals)
        ok = np.isfinite(r) & has_waveform(data.signals)
        b.add(
            "signal.correlation",
            _record_metric(pidx[ok], lambda W, x=r[ok]: weighted_mean(W, x)),
            "correlation undefined: every target (< 1 nV RMS) or reconstruction is flat"
            if data.n_records
            else "no record in split",
        )
        out["n_records_scored"] = int(ok.sum())
        mse = ((np.asarray(pred.reconstruction, np.float64) - data.signals) ** 2).mean(axis=1)
        b.add("signal.mse", _record_metric(pidx, lambda W, x=mse: weighted_mean(W, x)), "no record in split")
    out["correlation"] = b.point("signal.correlation", und)
    out["mse"] = b.point("signal.mse", und)

    if pred.denoised is None or data.clean is None:
        why = "model gave no denoised signal" if pred.denoised is None else "split has no clean ground truth"
        out["denoise_correlation_to_clean"] = und.value("signal.denoise_correlation_to_clean", None, why)
        out["snr_gain_db"] = und.value("signal.snr_gain_db", None, why)
    else:
        den = np.asarray(pred.denoised, np.float64)
        clean = np.asarray(data.clean, np.float64)
        r_clean = rowwise_correlation(den, clean)
        scored = np.isfinite(r_clean) & has_waveform(clean)
        out["denoise_correlation_to_clean"] = und.value(
            "signal.denoise_correlation_to_clean",
            r_clean[scored].mean() if scored.any() else None,
            "correlation undefined: every clean target (< 1 nV RMS) or denoised record is flat",
        )
        r_raw = rowwise_correlation(data.signals, clean)  # the reference: the recording itself, same records
        out["raw_correlation_to_clean"] = float(r_raw[scored].mean()) if scored.any() else None
        before = float(np.mean((data.signals - clean) ** 2)) if clean.size else 0.0
        after = float(np.mean((den - clean) ** 2)) if clean.size else 0.0
        if before > 0 and after > 0:
            gain = 10.0 * math.log10(before / after)
            reason = ""
        else:
            gain = None
            reason = (
                "SNR gain undefined: observed signals equal clean (no noise)"
                if before <= 0
                else "SNR gain undefined: denoised equals clean exactly (infinite gain)"
            )
        out["snr_gain_db"] = und.value("signal.snr_gain_db", gain, reason)
    return out


def _peaks_section(
    pred: Predictions, data: ABRCohort, pidx: np.ndarray, b: _Builder, und: _Undefined, section: str = "peaks"
) -> dict:
    out: dict[str, dict] = {}
    for wave in ("V", "I", "III"):
        j = WAVES.index(wave)
        p = f"{section}.{wave}"
        labelled = np.isfinite(data.latency_ms[:, j])
        present_hat = pred.peak_presence_prob[:, j] > _PROB_CUT
        b.add(
            f"{p}.presence_f1",
            _record_metric(pidx, lambda W, t=labelled, h=present_hat: weighted_binary_f1(W, t, h)),
            f"F1 undefined: no record has wave {wave} labelled and none is predicted present",
        )
        sec: dict[str, Any] = {"n_labelled": int(labelled.sum())}
        sec["presence_f1"] = b.point(f"{p}.presence_f1", und)
        for what, truth_all, hat_all, unit in (
            ("latency", data.latency_ms, pred.latency_ms, "ms"),
            ("amplitude", data.amplitude_uv, pred.amplitude_uv, "uv"),
        ):
            m = np.isfinite(truth_all[:, j])
            y = truth_all[m, j].astype(np.float64)
            y_hat = np.asarray(hat_all, np.float64)[m, j]
            label = f"wave {wave} {what} labelled"
            b.add(
                f"{p}.{what}_r2",
                _record_metric(pidx[m], lambda W, y=y, h=y_hat: weighted_r2(W, y, h)),
                _r2_reason(y, label),
            )
            err = y_hat - y
            b.add(
                f"{p}.{what}_mae_{unit}",
                _record_metric(pidx[m], lambda W, e=np.abs(err): weighted_mean(W, e)),
                f"no record in split has {label}",
            )
            sec[f"{what}_r2"] = b.point(f"{p}.{what}_r2", und)
            sec[f"{what}_mae_{unit}"] = b.point(f"{p}.{what}_mae_{unit}", und)
            if what == "latency":
                hit = _within(err, 0.1)
                b.add(
                    f"{p}.within_0_1_ms",
                    _record_metric(pidx[m], lambda W, x=hit: weighted_mean(W, x)),
                    f"no record in split has {label}",
                )
                sec["within_0_1_ms"] = b.point(f"{p}.within_0_1_ms", und)
        out[wave] = sec
    return out


def _classification_metrics(
    prefix: str, truth: np.ndarray, prob: np.ndarray, pidx: np.ndarray, b: _Builder, und: _Undefined, unit: str
) -> dict:
    k = len(CLASS_NAMES)
    known = truth >= 0
    t = truth[known]
    h = np.argmax(prob[known], axis=1)
    none_reason = f"no {unit} in split has a known class"
    conf = lambda W: weighted_confusion(W, t, h, k)
    b.add(f"{prefix}.macro_f1", _record_metric(pidx[known], lambda W: macro_f1(conf(W))), none_reason)
    b.add(f"{prefix}.balanced_accuracy", _record_metric(pidx[known], lambda W: balanced_accuracy(conf(W))), none_reason)
    C = weighted_confusion(np.ones((1, t.size)), t, h, k)
    f1 = per_class_f1(C)[0]
    per_class: dict[str, float | None] = {}
    for c, name in enumerate(CLASS_NAMES):
        n_pred = int(C[0, :, c].sum())
        per_class[name] = und.value(
            f"{prefix}.per_class_f1.{name}",
            f1[c],
            f"no {unit} of class {name} in split (support 0; {n_pred} predicted as {name}); "
            "excluded from macro-F1 and balanced accuracy",
        )
    return {
        f"n_{unit}s_with_class": int(known.sum()),
        "macro_f1": b.point(f"{prefix}.macro_f1", und),
        "balanced_accuracy": b.point(f"{prefix}.balanced_accuracy", und),
        "per_class_f1": per_class,
        "confusion_matrix": C[0].round().astype(int).tolist(),
    }


def _threshold_metrics(
    prefix: str,
    truth: np.ndarray,
    no_response: np.ndarray,
    hat: np.ndarray,
    p_nr: np.ndarray,
    pidx: np.ndarray,
    b: _Builder,
    und: _Undefined,
    unit: str,
    with_r2: bool = True,
) -> dict:
    out: dict[str, Any] = {}
    m = np.isfinite(truth) & ~no_response
    y = truth[m].astype(np.float64)
    err = np.asarray(hat, np.float64)[m] - y
    what = "a measurable threshold"
    out[f"n_{unit}s_measurable"] = int(m.sum())
    if with_r2:
        b.add(f"{prefix}.r2", _record_metric(pidx[m], lambda W: weighted_r2(W, y, y + err)), _r2_reason(y, what))
        out["r2"] = b.point(f"{prefix}.r2", und)
    b.add(
        f"{prefix}.mae_db",
        _record_metric(pidx[m], lambda W: weighted_mean(W, np.abs(err))),
        f"no {unit} in split has {what}",
    )
    out["mae_db"] = b.point(f"{prefix}.mae_db", und)
    for lim in (5, 10):
        if lim == 5 and not with_r2:
            continue
        hit = _within(err, lim)
        b.add(
            f"{prefix}.within_{lim}_db",
            _record_metric(pidx[m], lambda W, x=hit: weighted_mean(W, x)),
            f"no {unit} in split has {what}",
        )
        out[f"within_{lim}_db"] = b.point(f"{prefix}.within_{lim}_db", und)
    known = no_response | np.isfinite(truth)
    t_nr = no_response[known]
    h_nr = np.asarray(p_nr)[known] > _PROB_CUT
    b.add(
        f"{prefix}.no_response_f1",
        _record_metric(pidx[known], lambda W: weighted_binary_f1(W, t_nr, h_nr)),
        f"F1 undefined: no {unit} in split is a no-response and none is predicted as one",
    )
    out["no_response_f1"] = b.point(f"{prefix}.no_response_f1", und)
    return out


def _per_ear_section(ears: EarTable, patients: np.ndarray, b: _Builder, und: _Undefined) -> dict:
    epidx = np.searchsorted(patients, ears.patient_id)
    cls = _classification_metrics("per_ear.classification", ears.true_class, ears.class_prob, epidx, b, und, "ear")
    thr = _threshold_metrics(
        "per_ear.threshold",
        ears.true_threshold_db,
        ears.true_no_response,
        ears.threshold_db,
        ears.p_no_response,
        epidx,
        b,
        und,
        "ear",
        with_r2=False,
    )
    measurable = np.isfinite(ears.true_threshold_db) & ~ears.true_no_response
    truth = ears.true_threshold_db[measurable]
    inside = (ears.threshold_lo_db[measurable] <= truth) & (truth <= ears.threshold_hi_db[measurable])
    thr["interval_90_coverage"] = float(inside.mean()) if measurable.any() else None
    thr["median_sd_db"] = float(np.median(ears.threshold_sd_db)) if ears.n_ears else None
    return {
        "n_ears": ears.n_ears,
        "classification": {k: cls[k] for k in ("macro_f1", "per_class_f1", "balanced_accuracy", "confusion_matrix")},
        "threshold": thr,
    }


def _bootstrap_intervals(
    b: _Builder,
    paths: tuple[str, ...],
    points: dict[str, float | None],
    n_patients: int,
    n_bootstrap: int,
    seed: int,
    und: _Undefined,
) -> dict[str, list[float] | None]:
    """Percentile 95% intervals from resampling patients with replacement."""
    out: dict[str, list[float] | None] = {}
    if n_bootstrap <= 0:
        return out
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n_patients, np.full(n_patients, 1.0 / n_patients), size=n_bootstrap).astype(np.float64)
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
            und.reasons.setdefault(key, f"metric undefined in {100 * (1 - ok.mean()):.0f}% of patient resamples")
            out[path] = None
            continue
        lo, hi = np.percentile(reps[ok], [2.5, 97.5])
        out[path] = [float(lo), float(hi)]
    return out


def _get(d: dict, path: str) -> Any:
    for part in path.split("."):
        d = d.get(part) if isinstance(d, dict) else None
    return d


# ---------------------------------------------------------------------------------------------- entry point
def compute_metrics(
    pred: Predictions,
    data: ABRCohort,
    *,
    split: str,
    n_bootstrap: int = 200,
    seed: int = 0,
    series_model: SeriesModel | None = None,
) -> dict:
    """All evaluation metrics of one split, as a JSON-serialisable dict without NaN (see module docstring).

    `series_model` (a fitted `evaluation.series.SeriesClassifier`) gives the per-ear class from the whole series.
    """
    if not isinstance(pred, Predictions) or not isinstance(data, ABRCohort):
        raise TypeError("compute_metrics(pred: Predictions, data: ABRCohort, ...): arguments of the wrong type")
    pred.validate(data.n_records, data.n_samples)
    und = _Undefined()
    patients, pidx = np.unique(np.asarray(data.patient_id).astype(str), return_inverse=True)
    pidx = pidx.ravel()
    b = _Builder(len(patients))

    metrics: dict[str, Any] = {"split": split, "n_records": data.n_records, "n_patients": int(len(patients))}
    metrics["signal"] = _signal_section(pred, data, pidx, b, und)
    metrics["peaks"] = _peaks_section(pred, data, pidx, b, und)
    blend = getattr(series_model, "peak_blend", None)
    if blend:  # the same record's waves read with the rest of its ear's series (evaluation.series_peaks)
        series_pred = apply_peak_blend(pred, data, blend)
        metrics["peaks_series"] = _peaks_section(series_pred, data, pidx, b, und, section="peaks_series")
    bias = getattr(series_model, "record_class_bias", None)  # the record decision rule tuned on validation
    metrics["classification"] = _classification_metrics(
        "classification",
        np.asarray(data.class_id),
        adjusted_record_probs(pred.class_prob, bias),
        pidx,
        b,
        und,
        "record",
    )
    metrics["classification"]["decision"] = "argmax" if bias is None else "validation-tuned class priors"
    metrics["threshold"] = _threshold_metrics(
        "threshold",
        np.asarray(data.threshold_db, np.float64),
        np.asarray(data.no_response, bool),
        pred.threshold_db,
        pred.p_no_response,
        pidx,
        b,
        und,
        "record",
    )
    metrics["per_ear"] = _per_ear_section(aggregate_ears(pred, data, series_model), patients, b, und)
    metrics["per_ear"]["class_method"] = "series classifier" if series_model is not None else "geometric mean"
    calib, calib_reasons = coverage_report(pred, data, level=0.90)
    metrics["calibration"] = calib
    for key, reason in calib_reasons.items():
        und.reasons.setdefault(f"calibration.{key}", reason)

    points = {path: _get(metrics, path) for path in BOOTSTRAP_PATHS}
    if data.n_records == 0:
        n_bootstrap = 0
    metrics["intervals"] = _bootstrap_intervals(b, BOOTSTRAP_PATHS, points, len(patients), n_bootstrap, seed, und)
    out = sanitise(metrics, und.reasons)
    out["undefined"] = dict(und.reasons)
    return out
