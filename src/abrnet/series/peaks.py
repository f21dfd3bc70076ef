"""Series-informed wave latencies and amplitudes: a record's estimate combined with the rest of its ear's series.

"Ear" here is one intensity series (`abrnet.data.series_key`): an ear's 8 kHz records never lend their latencies to
its 16 kHz ones, whose waves come at other latencies.

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
2. `ear_factor_estimate`: the ear's other records read through one ear-level factor on the cohort's population
   curve (amplitudes: a constant multiple, as the log-normal ear factor of the physiology; latencies: a constant
   shift), which uses every level of the ear, not only the near ones.
3. `fit_peak_blend`: per quantity and wave, a linear blend of the record's own estimate with both neighbour
   estimates, weighted by their shares (`blend_features`), fitted by least squares on held-out records (the
   validation split for the default data).

The record-alone estimate stays in `peaks`; the blended one is `peaks_series` in the metrics and the `*_series`
columns of `abrnet predict --group-by`. The blend is plain lists inside the checkpoint (no pickle).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from abrnet.constants import WAVES, is_present
from abrnet.data.grouping import group_indices
from abrnet.data.schema import ABRCohort
from abrnet.data.series_key import series_keys
from abrnet.models.predictions import Predictions

BANDWIDTH_DB: float = 15.0  # Gaussian kernel in level: records 30 dB away weigh e^-2 ≈ 0.14 of a same-level one
SLOPE_RIDGE_DB2: float = 1.0  # slope penalty (dB²): a fit through one level only falls back to a mean
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
    for idx in group_indices(ear)[1]:
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


def population_curve(pred: Predictions, data: ABRCohort, quantity: str, wave: str) -> tuple[list[float], list[float]]:
    """(levels, median predicted value) over the records where the wave is predicted present: the cohort's
    latency– or amplitude–intensity function, against which an ear's own factor is read."""
    own, _, weight, level, _ = _inputs(pred, data, quantity, wave)
    seen = weight > 0
    levels = np.unique(level[seen])
    return levels.tolist(), [float(np.median(own[seen & (level == lv)])) for lv in levels]


def ear_factor_estimate(
    pred: Predictions, data: ABRCohort, quantity: str, wave: str, curve: tuple[list[float], list[float]]
) -> tuple[np.ndarray, np.ndarray]:
    """Leave-one-out estimate from the ear's other records through one ear-level factor on the population curve.

    Amplitudes: an ear's waves are a constant multiple of the population's at every level (log-normal ear factor),
    so factor = weighted mean of own / curve; latencies: a constant shift, own − curve. Returns (estimate (N,),
    support (N,) = the other records' presence weight, 0 where none); the estimate is the record's own value there.
    """
    own, _, weight, level, ear = _inputs(pred, data, quantity, wave)
    return _ear_factor(own, weight, level, ear, curve, multiplicative=quantity == "amplitude")


def _ear_factor(
    own: np.ndarray,
    weight: np.ndarray,
    level: np.ndarray,
    ear: np.ndarray,
    curve: tuple[list[float], list[float]],
    multiplicative: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """`ear_factor_estimate` on arrays: own, weight, level, ear (N,) each → (estimate (N,), support (N,))."""
    prior = np.interp(level, np.asarray(curve[0], np.float64), np.asarray(curve[1], np.float64))  # (N)
    prior = np.maximum(prior, 1e-3) if multiplicative else prior
    r = own / prior if multiplicative else own - prior  # (N)
    support = np.bincount(ear, weight)[ear] - weight  # leave one out
    factor = (np.bincount(ear, weight * r)[ear] - weight * r) / np.where(support > 0, support, 1.0)
    est = factor * prior if multiplicative else prior + factor
    return np.where(support > 0, est, own), support


def _inputs(pred: Predictions, data: ABRCohort, quantity: str, wave: str) -> tuple[np.ndarray, ...]:
    """(own mean, own variance, presence weight, level, ear index), (N,) each, for one quantity and wave.

    The presence weight is the predicted presence probability where the wave is predicted present, else 0: a record
    without the wave says nothing about its neighbours' latency or amplitude.
    """
    mean_name, sd_name, _ = QUANTITIES[quantity]
    j = WAVES.index(wave)
    own = np.asarray(getattr(pred, mean_name), np.float64)[:, j]
    var = np.asarray(getattr(pred, sd_name), np.float64)[:, j] ** 2
    p = np.asarray(pred.peak_presence_prob, np.float64)[:, j]
    # an integer series label per record (for bincount and `group_indices`), not the row groups themselves
    _, ear = np.unique(series_keys(data), return_inverse=True)
    level = np.asarray(data.static_column("intensity_db"), np.float64)
    return own, var, np.where(is_present(p), p, 0.0), level, ear.ravel()


def blend_features(
    pred: Predictions, data: ABRCohort, quantity: str, wave: str, curve: tuple[list[float], list[float]]
) -> np.ndarray:
    """(N, 9) design matrix: [own, local, s·own, s·local, level/100, 1, factor, k·factor, k·own] for one quantity
    and wave; local = `neighbour_estimate` (s its variance share), factor = `ear_factor_estimate` (k = its support
    share, support / (support + 1))."""
    own, var, weight, level, ear = _inputs(pred, data, quantity, wave)
    nb, nb_var = neighbour_estimate(own, var, weight, level, ear)
    has_nb = np.isfinite(nb)
    nb = np.where(has_nb, nb, own)
    share = np.where(has_nb, var / (var + np.where(has_nb, nb_var, 1.0)), 0.0)
    factor, support = _ear_factor(own, weight, level, ear, curve, multiplicative=quantity == "amplitude")
    k = support / (support + 1.0)
    return np.stack(
        [own, nb, share * own, share * nb, level / 100.0, np.ones_like(own), factor, k * factor, k * own], axis=1
    )


def fit_peak_blend(pred: Predictions, data: ABRCohort, ridge: float = 1e-3) -> dict[str, dict[str, list[float]]]:
    """Least-squares blend per "quantity_wave" on the labelled records of `data` (skipped when too few):
    {"coef": (9,), "curve_levels": …, "curve_values": …}, plain lists."""
    blend: dict[str, dict[str, list[float]]] = {}
    for quantity, (_, _, label_name) in QUANTITIES.items():
        for j, wave in enumerate(WAVES):
            y = np.asarray(getattr(data, label_name), np.float64)[:, j]
            m = np.isfinite(y)
            curve = population_curve(pred, data, quantity, wave)
            if m.sum() < MIN_LABELLED or len(curve[0]) == 0:
                continue
            X = blend_features(pred, data, quantity, wave, curve)[m]  # (n, 9)
            coef = np.linalg.solve(X.T @ X + ridge * len(X) * np.eye(X.shape[1]), X.T @ y[m])  # (9)
            blend[f"{quantity}_{wave}"] = {"coef": coef.tolist(), "curve_levels": curve[0], "curve_values": curve[1]}
    return blend


def apply_peak_blend(pred: Predictions, data: ABRCohort, blend: dict[str, dict[str, list[float]]]) -> Predictions:
    """A copy of `pred` whose latencies / amplitudes use the series blend where one was fitted."""
    new = {name: np.array(getattr(pred, name), dtype=np.float32) for name in ("latency_ms", "amplitude_uv")}
    for key, fit in blend.items():
        quantity, wave = key.split("_")
        X = blend_features(pred, data, quantity, wave, (fit["curve_levels"], fit["curve_values"]))
        new[QUANTITIES[quantity][0]][:, WAVES.index(wave)] = X @ np.asarray(fit["coef"], np.float64)
    return dataclasses.replace(pred, **new)
