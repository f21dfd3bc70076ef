"""Coverage of the predicted Gaussian intervals: do the model's standard deviations mean what they say?

A well-calibrated 90% interval (mean ± 1.645·sd) contains the truth in about 90% of labelled cases; 85–95% is the
target band. Coverage far below means over-confidence, far above means sds too wide to be useful.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm

from abrnet.constants import WAVES
from abrnet.data.schema import ABRCohort
from abrnet.models.predictions import Predictions

TARGET_BAND: tuple[float, float] = (0.85, 0.95)


def z_for_level(level: float) -> float:
    """Half-width of a central Gaussian interval in sds (1.645 for 90%)."""
    return float(norm.ppf(0.5 + level / 2.0))


def interval_hits(truth: np.ndarray, mean: np.ndarray, sd: np.ndarray, level: float = 0.90) -> np.ndarray:
    """Bool per element: truth inside mean ± z·sd. Callers pass only labelled (finite-truth) elements."""
    z = z_for_level(level)
    err = np.abs(np.asarray(truth, dtype=np.float64) - np.asarray(mean, dtype=np.float64))
    return err <= z * np.asarray(sd, dtype=np.float64)


def interval_coverage(truth: np.ndarray, mean: np.ndarray, sd: np.ndarray, level: float = 0.90) -> float | None:
    """Fraction of finite truths inside mean ± z·sd; None when no truth is finite."""
    truth = np.asarray(truth, dtype=np.float64)
    ok = np.isfinite(truth)
    if not ok.any():
        return None
    return float(interval_hits(truth[ok], np.asarray(mean)[ok], np.asarray(sd)[ok], level).mean())


def calibration_masks(data: ABRCohort) -> dict[str, np.ndarray]:
    """Which records are scored for each calibrated quantity (same masks as the point metrics)."""
    masks: dict[str, np.ndarray] = {}
    for j, wave in enumerate(WAVES):
        masks[f"latency_{wave}"] = np.isfinite(data.latency_ms[:, j])
        masks[f"amplitude_{wave}"] = np.isfinite(data.amplitude_uv[:, j])
    masks["threshold"] = np.isfinite(data.threshold_db) & ~np.asarray(data.no_response, dtype=bool)
    return masks


def coverage_report(
    pred: Predictions, data: ABRCohort, level: float = 0.90
) -> tuple[dict[str, float | None], dict[str, str]]:
    """Coverage per wave (latency, amplitude) and for the threshold, plus the reason for each None."""
    pct = round(level * 100)
    out: dict[str, float | None] = {}
    reasons: dict[str, str] = {}
    masks = calibration_masks(data)
    for j, wave in enumerate(WAVES):
        for what, mean, sd, truth in (
            ("latency", pred.latency_ms, pred.latency_sd_ms, data.latency_ms),
            ("amplitude", pred.amplitude_uv, pred.amplitude_sd_uv, data.amplitude_uv),
        ):
            key = f"{what}_{wave}_{pct}"
            m = masks[f"{what}_{wave}"]
            out[key] = interval_coverage(truth[m, j], mean[m, j], sd[m, j], level) if m.any() else None
            if out[key] is None:
                reasons[key] = f"no record in split has wave {wave} {what} labelled"
    m = masks["threshold"]
    key = f"threshold_{pct}"
    out[key] = interval_coverage(data.threshold_db[m], pred.threshold_db[m], pred.threshold_sd_db[m], level)
    if out[key] is None:
        reasons[key] = "no record in split has a measurable threshold"
    return out, reasons
