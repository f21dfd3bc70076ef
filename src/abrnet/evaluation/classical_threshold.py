"""Classical per-ear threshold detectors beside the network: what the tools a lab runs today read from a series.

The per-ear threshold is the number a clinic reports, and ABRpresto, a device's Fmp criterion or a reader following
wave V down the series get it from one detection statistic per record, not from a trained network. Each detector here
computes its statistic from the recording alone, fits it non-decreasing in level per ear (the series stage's
`presence_cdfs`, as the network's p(V) is fitted), and reads the ear's threshold as the lowest level where the fit
passes a criterion; an ear where it never does is a no-response ("above the highest level tested"). The criterion
is the one learnt thing: the grid value (quantiles of the statistic on the training records) with the lowest per-ear
threshold MAE on the training split's ears, the rule `fit_threshold_point` uses for the network's crossing, never
read from the evaluated records. Scores come from `trivial_baselines.ear_scores`, the network's own metric code.

* ``split_buffer_correlation``: Pearson correlation of the A and B sub-averages over 1–9 ms after a 100–3000 Hz
  band-pass. ABRpresto (Shaheen et al. 2024) correlates many random half-splits of the single trials and fits a
  sigmoid; exports keep one split, so this is its one-split form, with the isotonic fit in place of the sigmoid.
* ``fmp_criterion``: log of the file's Fmp (the split-buffer variance ratio, `abrnet.data.fmp`): the clinical
  "Fsp/Fmp above a criterion" rule (Elberling & Don 1984), at the criterion that fits the training ears best.
* ``adjacent_level_correlation``: the best correlation of each record with the mean of the ear's next
  ADJACENT_LOUDER louder records, the louder template shifted up to ADJACENT_MAX_LAG_MS later (a softer response
  comes later), as a reader follows V down the series (Suthakar & Liberman 2019 cross-correlate adjacent levels).
  It needs no buffers; the loudest record is compared with its next softer one.

A detector whose statistic a file cannot give (no buffers, Fmp not measured) is left out, with the reason.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from abrnet.data.filters import bandpass_filter
from abrnet.data.grouping import group_indices
from abrnet.data.schema import ABRCohort
from abrnet.data.series_key import series_keys
from abrnet.evaluation.trivial_baselines import ear_level_features, ear_scores
from abrnet.series.classifier import EarCurves, lowest_mae_crossing
from abrnet.series.per_ear import ABOVE_HIGHEST_DB, crossing_levels, highest_levels, presence_cdfs

BUFFER_BAND_HZ: tuple[float, float] = (100.0, 3000.0)  # the clinical ABR band
BUFFER_WINDOW_MS: tuple[float, float] = (1.0, 9.0)  # waves I–V, after the stimulus artifact
ADJACENT_BAND_HZ: tuple[float, float] = (100.0, 1500.0)  # wave V's energy; less high-frequency noise to match
ADJACENT_WINDOW_MS: tuple[float, float] = (3.0, 10.0)  # waves III–V and the slow negativity after V
ADJACENT_MAX_LAG_MS = 0.8  # wave V moves ~0.2–0.4 ms per 10 dB, and the template is up to two steps louder
ADJACENT_LOUDER = 2  # louder levels averaged into the template
NO_EVIDENCE = -1.0  # a record with nothing to compare with (a one-level ear): the lowest correlation
CRITERION_QUANTILES = np.linspace(0.02, 0.98, 49)  # candidate criteria: quantiles of the training statistic
DETECTORS: tuple[str, ...] = ("split_buffer_correlation", "fmp_criterion", "adjacent_level_correlation")


def _correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation along the last axis; (..., W) × (..., W) → (...)."""
    a = a - a.mean(axis=-1, keepdims=True)
    b = b - b.mean(axis=-1, keepdims=True)
    return (a * b).sum(axis=-1) / np.sqrt((a * a).sum(axis=-1) * (b * b).sum(axis=-1) + 1e-24)


def _window(data: ABRCohort, window_ms: tuple[float, float]) -> np.ndarray:
    t = data.time_ms
    return np.flatnonzero((t >= window_ms[0]) & (t <= window_ms[1]))  # (W,) sample indices


def split_buffer_correlation(data: ABRCohort) -> np.ndarray | None:
    """(N,) correlation of the two sub-averages in BUFFER_WINDOW_MS; None without buffers."""
    if data.buffers is None:
        return None
    fs, w = data.sampling_rate_hz, _window(data, BUFFER_WINDOW_MS)
    a = bandpass_filter(data.buffers[:, 0], fs, *BUFFER_BAND_HZ)  # (N, T)
    b = bandpass_filter(data.buffers[:, 1], fs, *BUFFER_BAND_HZ)
    return _correlation(a[:, w], b[:, w])


def log_fmp(data: ABRCohort) -> np.ndarray | None:
    """(N,) log Fmp; None when any record's Fmp was not measured."""
    fmp = data.static_column("fmp").astype(np.float64)
    return np.log(np.maximum(fmp, 1e-6)) if np.isfinite(fmp).all() else None


def adjacent_level_correlation(data: ABRCohort) -> np.ndarray:
    """(N,) best lagged correlation of each record with the mean of its ear's next louder records (module doc)."""
    fs = data.sampling_rate_hz
    x = bandpass_filter(data.signals, fs, *ADJACENT_BAND_HZ)  # (N, T)
    max_lag = int(round(ADJACENT_MAX_LAG_MS * fs / 1000.0))
    w = _window(data, ADJACENT_WINDOW_MS)
    w = w[w >= max_lag]  # every lagged copy stays on the record
    shifted = w[None, :] - np.arange(max_lag + 1)[:, None]  # (L, W): the window moved earlier by each lag
    level = data.static_column("intensity_db").astype(np.float64)
    out = np.full(data.n_records, NO_EVIDENCE)
    for rows in group_indices(series_keys(data))[1]:  # each series' records (`series_keys`), in file order
        levels = np.unique(level[rows])
        for lv in levels:
            here = rows[level[rows] == lv]
            louder = levels[levels > lv][:ADJACENT_LOUDER]
            if louder.size:  # template louder, so its V is earlier: compare x[w] with template[w - lag]
                tmpl = x[rows[np.isin(level[rows], louder)]].mean(axis=0)  # (T,)
                out[here] = _correlation(x[here][:, None, w], tmpl[shifted][None]).max(axis=1)
            elif levels.size > 1:  # the loudest: its next softer record is later, so move the loud one instead
                tmpl = x[rows[level[rows] == levels[-2]]].mean(axis=0)
                out[here] = _correlation(x[here][:, shifted], tmpl[None, None, w]).max(axis=1)
    return out


def _ear_curves(data: ABRCohort, statistic: np.ndarray) -> tuple[EarCurves, np.ndarray]:
    """Each ear's `statistic` (N,) fitted non-decreasing in level (`presence_cdfs`, ears in sorted-key order, as
    `ear_level_features`), and (E,) the fill "above the highest level" for a curve that never passes."""
    _, ear = np.unique(series_keys(data), return_inverse=True)  # a label per record, series as `ear_level_features`
    ear = ear.ravel()
    level = data.static_column("intensity_db").astype(np.float64)
    return presence_cdfs(ear, level, statistic), highest_levels(ear, level, int(ear.max()) + 1) + ABOVE_HIGHEST_DB


def ear_thresholds(data: ABRCohort, statistic: np.ndarray, criterion: float) -> tuple[np.ndarray, np.ndarray]:
    """(E,) threshold (the ear's highest level + ABOVE_HIGHEST_DB where the fit never passes) and (E,) no-response,
    ears in `ear_level_features` order (sorted ear keys)."""
    cdfs, above = _ear_curves(data, statistic)
    point = crossing_levels(cdfs, above.shape[0], criterion)
    return np.where(np.isfinite(point), point, above), ~np.isfinite(point)


def fit_criterion(train: ABRCohort, statistic: np.ndarray) -> float:
    """The candidate criterion with the lowest per-ear threshold MAE on `train`'s measurable ears (ties: lower), by
    the series stage's own rule (`lowest_mae_crossing`); the ears' curves are fitted once for every candidate."""
    truth = ear_level_features(train)[2]
    keep = np.isfinite(truth["threshold"]) & ~truth["no_response"]
    grid = np.unique(np.quantile(statistic, CRITERION_QUANTILES))  # ascending: a tie keeps the lower
    cdfs, above = _ear_curves(train, statistic)
    q = lowest_mae_crossing(cdfs, above, truth["threshold"], keep, grid)
    return float(np.median(statistic)) if q is None else q


def ear_threshold_scores(
    data: ABRCohort, threshold: np.ndarray, no_response: np.ndarray, reasons: dict[str, str] | None = None
) -> dict[str, float | None]:
    """Per-ear threshold MAE / within 10 dB and no-response F1 of (E,) thresholds and no-response calls, ears in
    `ear_level_features` order, by the network's metric code (`ear_scores`, without its class figure: a threshold
    reader has no class); why a figure is None goes into `reasons`."""
    why: dict[str, str] = {}
    scores = ear_scores(ear_level_features(data)[2], threshold, no_response, np.zeros(threshold.size, np.int64), why)
    scores.pop("ear_class_macro_f1")
    if reasons is not None:
        reasons.update({k: v for k, v in why.items() if k in scores})
    return scores


def detector_scores(
    data: ABRCohort, statistic: np.ndarray, criterion: float, reasons: dict[str, str] | None = None
) -> dict[str, float | None]:
    """`ear_threshold_scores` of one detector read at `criterion`."""
    return ear_threshold_scores(data, *ear_thresholds(data, statistic, criterion), reasons)


STATISTICS = {
    "split_buffer_correlation": split_buffer_correlation,
    "fmp_criterion": log_fmp,
    "adjacent_level_correlation": adjacent_level_correlation,
}


def fit_classical_criteria(train: ABRCohort) -> dict[str, float | None]:
    """Each detector's criterion fitted on `train` (None: the training records lack what it reads)."""
    out: dict[str, float | None] = {}
    for name, statistic in STATISTICS.items():
        s_train = statistic(train)
        out[name] = None if s_train is None else fit_criterion(train, s_train)
    return out


def classical_threshold_scores(
    criteria: dict[str, float | None], data: ABRCohort, reasons: dict[str, str] | None = None
) -> dict[str, Any]:
    """Each detector read at its fitted criterion (`fit_classical_criteria`): per-ear threshold and no-response on
    `data`; why a figure is None goes into `reasons` as ``<detector>.<figure>``."""
    out: dict[str, Any] = {}
    for name, statistic in STATISTICS.items():
        criterion, s_data = criteria.get(name), statistic(data)
        if criterion is None or s_data is None:
            which = "training records" if criterion is None else "evaluated records"
            out[name] = {"skipped": f"the {which} lack what it reads (split buffers / a measured Fmp)"}
            continue
        why: dict[str, str] = {}
        out[name] = {"criterion": criterion, **detector_scores(data, s_data, criterion, why)}
        if reasons is not None:
            reasons.update({f"{name}.{k}": v for k, v in why.items()})
    return out


def classical_threshold_baselines(train: ABRCohort, data: ABRCohort) -> dict[str, Any]:
    """Each detector's criterion fitted on `train`, its per-ear threshold and no-response scored on `data`."""
    return classical_threshold_scores(fit_classical_criteria(train), data)
