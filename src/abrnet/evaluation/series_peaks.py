"""Series-informed wave latencies and amplitudes: a record's estimate combined with the rest of its ear's series.

Within one ear, wave latencies and amplitudes change smoothly with the stimulus level (the latency– and
amplitude–intensity functions clinicians read), so the other levels of the same series carry information that a
single averaged trace cannot: near threshold a wave is small against the residual noise, and its neighbours 5–20 dB
above pin it down. For each record and wave:

1. `neighbour_estimate`: a leave-one-out local-linear fit in level through the ear's *other* records, each weighted
   by its predicted presence (records predicted without the wave are left out), its inverse predicted variance and
   a Gaussian kernel in level (15 dB), and a tiny ridge on the slope (neighbours at one level give their mean);
   its variance is the weighted-least-squares variance of the intercept, so extrapolating past the ear's loudest or
   softest level counts as less certain; `share` = own variance / (own variance + neighbour variance), 0 where no
   other record of the ear shows the wave.
2. `fit_peak_blend`: per quantity and wave, a linear blend fitted by least squares on the series-fitting ears (those
   of the series classifier, never trained on): value = c · [own, neighbour, share·own, share·neighbour, level, 1].

The record-alone estimate stays in `peaks`; the blended one is `peaks_series` in the metrics and the `*_series`
columns of `abrnet predict --group-by`. The blend is plain lists inside the checkpoint (no pickle).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from abrnet.constants import WAVES
from abrnet.data.schema import ABRCohort
from abrnet.evaluation.predictions import Predictions

BANDWIDTH_DB: float = 15.0  # Gaussian kernel in level: records 30 dB away weigh e^-2 ≈ 0.14 of a same-level one
SLOPE_RIDGE_DB2: float = 1.0  # slope penalty (dB²): a fit through one level only falls back to a mean
PRESENCE_CUT: float = 0.5
MIN_LABELLED: int = 30  # fewer labelled records than this: no blend for that quantity and wave
_VAR_FLOOR: float = 1e-8
QUANTITIES: dict[str, tuple[str, str, str]] = {  # name → (Predictions mean, Predictions sd, ABRCohort label)
    "latency": ("latency_ms", "latency_sd_ms", "latency_ms"),
    "amplitude": ("amplitude_uv", "amplitude_sd_uv", "amplitude_uv"),
}


def neighbour_estimate(
    value: np.ndarray, var: np.ndarray, weight: np.ndarray, level: np.ndarray, ear: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Leave-one-out local-linear estimate at each record's level from the other records of its ear.

    value, var, weight (0 = ignore), level (dB), ear (int group id): (N,) each → (estimate (N,), its variance (N,)),
    NaN / inf where no other record of the ear has weight.
    """
    est, est_var = np.full(len(value), np.nan), np.full(len(value), np.inf)
    order = np.argsort(ear, kind="stable")
    for idx in np.split(order, np.flatnonzero(np.diff(ear[order])) + 1):
        if len(idx) < 2:
            continue
        lv, v = level[idx], value[idx]
        w = weight[idx] / np.maximum(var[idx], _VAR_FLOOR)  # (n)
        d = lv[None, :] - lv[:, None]  # (n, n): d[i, j] = level_j - level_i
        k = w[None, :] * np.exp(-0.5 * (d / BANDWIDTH_DB) ** 2)  # (n, n)
        np.fill_diagonal(k, 0.0)  # leave one out: a record never explains itself
        s0, s1, s2 = k.sum(1), (k * d).sum(1), (k * d * d).sum(1)  # (n)
        t0, t1 = k @ v, (k * d) @ v  # (n)
        a = s2 + SLOPE_RIDGE_DB2 * s0
        det = s0 * a - s1**2
        ok = (s0 > 0) & (det > 0)
        est[idx] = np.where(ok, (t0 * a - s1 * t1) / np.where(ok, det, 1.0), np.nan)
        est_var[idx] = np.where(ok, a / np.where(ok, det, 1.0), np.inf)  # Var(intercept) of weighted LS
    return est, est_var


def blend_features(pred: Predictions, data: ABRCohort, quantity: str, wave: str) -> np.ndarray:
    """(N, 6) design matrix [own, neighbour, share·own, share·neighbour, level/100, 1] for one quantity and wave."""
    mean_name, sd_name, _ = QUANTITIES[quantity]
    j = WAVES.index(wave)
    own = np.asarray(getattr(pred, mean_name), np.float64)[:, j]
    var = np.asarray(getattr(pred, sd_name), np.float64)[:, j] ** 2
    p = np.asarray(pred.peak_presence_prob, np.float64)[:, j]
    level = np.asarray(data.static_column("intensity_db"), np.float64)
    _, ear = np.unique(np.asarray(data.ear_key), return_inverse=True)
    nb, nb_var = neighbour_estimate(own, var, np.where(p >= PRESENCE_CUT, p, 0.0), level, ear.ravel())
    has_nb = np.isfinite(nb)
    nb = np.where(has_nb, nb, own)
    share = np.where(has_nb, var / (var + np.where(has_nb, nb_var, 1.0)), 0.0)
    return np.stack([own, nb, share * own, share * nb, level / 100.0, np.ones_like(own)], axis=1)


def fit_peak_blend(pred: Predictions, data: ABRCohort, ridge: float = 1e-3) -> dict[str, list[float]]:
    """Least-squares blend per "quantity_wave" on the labelled records of `data` (skipped when too few)."""
    blend: dict[str, list[float]] = {}
    for quantity, (_, _, label_name) in QUANTITIES.items():
        for j, wave in enumerate(WAVES):
            y = np.asarray(getattr(data, label_name), np.float64)[:, j]
            m = np.isfinite(y)
            if m.sum() < MIN_LABELLED:
                continue
            X = blend_features(pred, data, quantity, wave)[m]  # (n, 6)
            coef = np.linalg.solve(X.T @ X + ridge * len(X) * np.eye(X.shape[1]), X.T @ y[m])  # (6)
            blend[f"{quantity}_{wave}"] = coef.tolist()
    return blend


def apply_peak_blend(pred: Predictions, data: ABRCohort, blend: dict[str, list[float]]) -> Predictions:
    """A copy of `pred` whose latencies / amplitudes use the series blend where one was fitted."""
    new = {name: np.array(getattr(pred, name), dtype=np.float32) for name in ("latency_ms", "amplitude_uv")}
    for key, coef in blend.items():
        quantity, wave = key.split("_")
        X = blend_features(pred, data, quantity, wave)
        new[QUANTITIES[quantity][0]][:, WAVES.index(wave)] = X @ np.asarray(coef, np.float64)
    return dataclasses.replace(pred, **new)
