"""Split-level evaluation metrics that are never NaN.

Why this module exists: averaging metrics per batch is biased (R² of a batch is not the R² of the split) and one
batch without a labelled peak turns the average into NaN. Here every metric is computed once over the whole split;
a metric that is mathematically undefined is reported as `None` and the reason is stored under `"undefined"`
(keyed by the metric's dotted path), so the output always passes `json.dumps(..., allow_nan=False)`.

All metrics are written as *weighted* statistics of the records. The point estimate uses weight 1 per record; the
bootstrap draws patients with replacement within each class stratum of the split (`builder.bootstrap_intervals`) and
gives each record the number of times its patient was drawn: records of one patient are correlated (same ears, same
session), so resampling records would give far too narrow intervals. The same code for the point and the resamples
keeps the two consistent; all resamples as one (B, N) weight matrix keep 200 resamples of 10k records under a second.

Conventions (documented once here, used everywhere):
* a wave is present where its probability is >= 0.5 (`constants.is_present`, results.csv's rule); a no-response is
  called where P(no response) > 0.5 (`series.per_ear.is_no_response`, the ear's ``response`` call);
* "within x" counts |error| <= x (with a 1e-6 tolerance for float32 labels);
* signal correlations are averaged over records where both series vary (a constant row has no correlation);
* a record's no-response truth is known when `no_response` is True or its threshold is finite;
* classification macro-F1 and balanced accuracy average over the classes present in the split's truth (macro-F1:
  `kernels.class_macro_f1`, the baselines' too; the confusion matrix always has all 5 classes, `labels=range(5)`);
  a class without support has per-class F1 `None` with the reason recorded. Predictions into an absent class still
  cost recall of the true class. Fewer than 2 classes in the truth: both undefined. A resample that lost a class
  of the split is undefined (`kernels._truth_class_mean`), so such an interval is refused, never made easier.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from abrnet.constants import CLASS_NAMES, WAVES, is_present
from abrnet.data.schema import ABRCohort
from abrnet.data.splits import patient_strata
from abrnet.metrics.builder import (
    MEASURABLE,
    Builder,
    Undefined,
    bootstrap_intervals,
    class_reason,
    get_path,
    no_response_f1_reason,
    presence_f1_reason,
    r2_reason,
    record_metric,
    sanitise,
    within,
)
from abrnet.metrics.calibration import coverage_report
from abrnet.metrics.kernels import (
    SILENT_TARGET_RMS_UV,
    class_balanced_accuracy,
    class_macro_f1,
    has_waveform,
    per_class_f1,
    rowwise_correlation,
    weighted_binary_f1,
    weighted_confusion,
    weighted_mean,
    weighted_r2,
)
from abrnet.models.predictions import Predictions
from abrnet.series.classifier import adjusted_record_probs
from abrnet.series.peaks import apply_peak_blend
from abrnet.series.per_ear import RESPONSE_CALLS, EarTable, SeriesModel, aggregate_ears, is_no_response

__all__ = ["BOOTSTRAP_PATHS", "SILENT_TARGET_RMS_UV", "compute_metrics", "has_waveform", "rowwise_correlation"]

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
    "per_ear.threshold.within_10_db",
    "per_ear.threshold.no_response_f1",
    "per_ear.threshold.r2",
    "threshold.r2",
    "threshold.mae_db",
)


def _signal_section(pred: Predictions, data: ABRCohort, pidx: np.ndarray, b: Builder, und: Undefined) -> dict:
    out: dict[str, float | None] = {}
    if pred.reconstruction is None:
        b.add("signal.correlation", lambda c: np.full(c.shape[0], np.nan), "model gave no reconstruction")
        b.add("signal.mse", lambda c: np.full(c.shape[0], np.nan), "model gave no reconstruction")
    else:
        r = rowwise_correlation(pred.reconstruction, data.signals)
        ok = np.isfinite(r) & has_waveform(data.signals)
        b.add(
            "signal.correlation",
            record_metric(pidx[ok], lambda W, x=r[ok]: weighted_mean(W, x)),
            "correlation undefined: every target (< 1 nV RMS) or reconstruction is flat"
            if data.n_records
            else "no record in split",
        )
        out["n_records_scored"] = int(ok.sum())
        mse = ((np.asarray(pred.reconstruction, np.float64) - data.signals) ** 2).mean(axis=1)
        b.add("signal.mse", record_metric(pidx, lambda W, x=mse: weighted_mean(W, x)), "no record in split")
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
    pred: Predictions, data: ABRCohort, pidx: np.ndarray, b: Builder, und: Undefined, section: str = "peaks"
) -> dict:
    out: dict[str, dict] = {}
    # a file with no wave labelled anywhere (an imported recording) carries no peak labels: there an absent wave
    # cannot be told from an unlabelled one, so presence is undefined, not an F1 of 0 against "all absent"
    any_wave_labelled = bool(np.isfinite(data.latency_ms).any())
    for wave in ("V", "I", "III"):
        j = WAVES.index(wave)
        p = f"{section}.{wave}"
        labelled = np.isfinite(data.latency_ms[:, j])
        present_hat = is_present(pred.peak_presence_prob[:, j])
        unscored = lambda W: np.full(W.shape[0], np.nan)  # (B,): nothing to score against
        b.add(
            f"{p}.presence_f1",
            record_metric(
                pidx,
                (lambda W, t=labelled, h=present_hat: weighted_binary_f1(W, t, h)) if any_wave_labelled else unscored,
            ),
            presence_f1_reason(wave, any_wave_labelled),
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
                record_metric(pidx[m], lambda W, y=y, h=y_hat: weighted_r2(W, y, h)),
                r2_reason(y, label),
            )
            err = y_hat - y
            b.add(
                f"{p}.{what}_mae_{unit}",
                record_metric(pidx[m], lambda W, e=np.abs(err): weighted_mean(W, e)),
                f"no record in split has {label}",
            )
            sec[f"{what}_r2"] = b.point(f"{p}.{what}_r2", und)
            sec[f"{what}_mae_{unit}"] = b.point(f"{p}.{what}_mae_{unit}", und)
            if what == "latency":
                hit = within(err, 0.1)
                b.add(
                    f"{p}.within_0_1_ms",
                    record_metric(pidx[m], lambda W, x=hit: weighted_mean(W, x)),
                    f"no record in split has {label}",
                )
                sec["within_0_1_ms"] = b.point(f"{p}.within_0_1_ms", und)
        out[wave] = sec
    return out


def _classification_metrics(
    prefix: str, truth: np.ndarray, prob: np.ndarray, pidx: np.ndarray, b: Builder, und: Undefined, unit: str
) -> dict:
    k = len(CLASS_NAMES)
    known = truth >= 0
    t = truth[known]
    h = np.argmax(prob[known], axis=1)
    present = np.unique(t)
    none_reason = class_reason(t, unit)
    resampled = f"a class of the split's truth ({present.size} classes) is absent from {{pct}}% of patient resamples"
    for key, fn in (("macro_f1", class_macro_f1), ("balanced_accuracy", class_balanced_accuracy)):
        b.add(
            f"{prefix}.{key}",
            record_metric(pidx[known], lambda W, fn=fn: fn(t, h, W, k)),
            none_reason,
            resampled,
        )
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
    b: Builder,
    und: Undefined,
    unit: str,
    with_r2: bool = True,
) -> dict:
    out: dict[str, Any] = {}
    m = np.isfinite(truth) & ~no_response
    y = truth[m].astype(np.float64)
    err = np.asarray(hat, np.float64)[m] - y
    what = MEASURABLE
    out[f"n_{unit}s_measurable"] = int(m.sum())
    if with_r2:
        b.add(f"{prefix}.r2", record_metric(pidx[m], lambda W: weighted_r2(W, y, y + err)), r2_reason(y, what))
        out["r2"] = b.point(f"{prefix}.r2", und)
    b.add(
        f"{prefix}.mae_db",
        record_metric(pidx[m], lambda W: weighted_mean(W, np.abs(err))),
        f"no {unit} in split has {what}",
    )
    out["mae_db"] = b.point(f"{prefix}.mae_db", und)
    for lim in (5, 10):
        if lim == 5 and not with_r2:
            continue
        hit = within(err, lim)
        b.add(
            f"{prefix}.within_{lim}_db",
            record_metric(pidx[m], lambda W, x=hit: weighted_mean(W, x)),
            f"no {unit} in split has {what}",
        )
        out[f"within_{lim}_db"] = b.point(f"{prefix}.within_{lim}_db", und)
    known = no_response | np.isfinite(truth)
    t_nr = no_response[known]
    h_nr = is_no_response(np.asarray(p_nr)[known])
    b.add(
        f"{prefix}.no_response_f1",
        record_metric(pidx[known], lambda W: weighted_binary_f1(W, t_nr, h_nr)),
        no_response_f1_reason(unit),
    )
    out["no_response_f1"] = b.point(f"{prefix}.no_response_f1", und)
    return out


def _per_ear_section(ears: EarTable, patients: np.ndarray, b: Builder, und: Undefined) -> dict:
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
    )
    measurable = np.isfinite(ears.true_threshold_db) & ~ears.true_no_response
    truth = ears.true_threshold_db[measurable]
    inside = (ears.threshold_lo_db[measurable] <= truth) & (truth <= ears.threshold_hi_db[measurable])
    thr["interval_90_coverage"] = float(inside.mean()) if measurable.any() else None
    # SD and width over the same ears, the measurable ones; an undefined SD (p(V) never passes 0.5: 0 dB was printed)
    # ranks above every defined one, as its ear is the least known, so the median is undefined once half are
    defined = np.ones(ears.n_ears, bool) if ears.threshold_sd_defined is None else ears.threshold_sd_defined
    sd = np.where(defined, ears.threshold_sd_db, np.inf)[measurable]
    no_ear = "no ear in split has a measurable threshold"
    why = "SD undefined on half the measurable ears or more (p(V) never passes 0.5)" if sd.size else no_ear
    thr["median_sd_db"] = und.value("per_ear.threshold.median_sd_db", np.median(sd) if sd.size else None, why)
    thr["n_ears_sd_undefined"] = int((~defined[measurable]).sum())
    width = (ears.threshold_hi_db - ears.threshold_lo_db)[measurable]
    thr["median_interval_90_width_db"] = float(np.median(width)) if measurable.any() else None
    return {
        "n_ears": ears.n_ears,
        "response_calls": response_call_table(ears),
        "classification": {k: cls[k] for k in ("macro_f1", "per_class_f1", "balanced_accuracy", "confusion_matrix")},
        "threshold": thr,
    }


def response_call_table(ears: EarTable) -> dict[str, dict[str, float | int | None]]:
    """Per call (`series.per_ear.response_calls`): its ears and the share of them, among ears whose answer is known,
    that have no response: what "uncertain" means in numbers."""
    known = np.isfinite(ears.true_threshold_db) | ears.true_no_response
    out: dict[str, dict[str, float | int | None]] = {}
    for call in RESPONSE_CALLS:
        m = ears.response == call
        out[call] = {
            "ears": int(m.sum()),
            "share_no_response": float(ears.true_no_response[m & known].mean()) if (m & known).any() else None,
        }
    return out


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
    und = Undefined()
    patients, pidx = np.unique(np.asarray(data.patient_id).astype(str), return_inverse=True)
    pidx = pidx.ravel()
    b = Builder(len(patients))

    metrics: dict[str, Any] = {"split": split, "n_records": data.n_records, "n_patients": int(len(patients))}
    metrics["signal"] = _signal_section(pred, data, pidx, b, und)
    metrics["peaks"] = _peaks_section(pred, data, pidx, b, und)
    blend = getattr(series_model, "peak_blend", None)
    if blend:  # the same record's waves read with the rest of its ear's series (abrnet.series.peaks)
        series_pred = apply_peak_blend(pred, data, blend)
        metrics["peaks_series"] = _peaks_section(series_pred, data, pidx, b, und, section="peaks_series")
    bias = getattr(series_model, "record_class_bias", None)  # the record decision rule tuned on validation
    probs = adjusted_record_probs(pred.class_prob, bias)
    metrics["classification"] = _classification_metrics(
        "classification", np.asarray(data.class_id), probs, pidx, b, und, "record"
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

    points = {path: get_path(metrics, path) for path in BOOTSTRAP_PATHS}
    if data.n_records == 0:
        n_bootstrap = 0
    stratum_of = patient_strata(data)  # the split's strata (the patients' rarest class): kept in every resample
    strata = np.array([stratum_of[p] for p in patients])  # (P,)
    metrics["intervals"] = bootstrap_intervals(b, BOOTSTRAP_PATHS, points, strata, n_bootstrap, seed, und)
    out = sanitise(metrics, und.reasons)
    out["undefined"] = dict(und.reasons)
    return out
