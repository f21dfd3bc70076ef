"""Combine the per-record predictions of an ear's intensity series into one prediction per ear.

Clinicians diagnose an ear, not a single averaged sweep: the hearing-loss class and the threshold are properties of
the ear and are repeated on every record of its series. Scoring per ear (and `predict`'s series mode) needs one
answer per ear, built here so both use the same rule:

* class: normalised geometric mean of the record probabilities (mean log-probability, then softmax). Every record
  counts as equal, independent evidence; a record that confidently rules a class out vetoes it more strongly than an
  arithmetic mean would. No evidence weighting — kept simple on purpose.
* threshold: read from the waveforms, as an audiologist reads a series: the lowest tested level whose wave V
  presence probability exceeds 0.5 (NaN when no level has one). Its 90 % interval comes from the presence
  probabilities themselves: records are drawn present/absent with their probabilities (independently, seeded) and
  the lowest present level of each draw gives the interval's 5th/95th percentiles and the SD. It never reads how
  many levels were tested or where the series starts and stops (a protocol shortcut), only what each record shows.
* p_no_response: mean over the records at the ear's highest level ("no response at the maximum level" is decided
  there, as a clinician decides it; softer levels have no response in every ear).
* class and p_no_response, series mode: a fitted `evaluation.series.SeriesClassifier` reads `series_features` of
  the whole series.
* truth: taken from the ear's first record that carries it (the schema repeats ear labels on each record).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from abrnet.constants import PRESENCE_THRESHOLD
from abrnet.data.schema import ABRCohort
from abrnet.evaluation.predictions import Predictions

_LOG_FLOOR = 1e-12  # probabilities are clipped here before taking logs, so a hard 0 cannot give -inf
NO_V_LEVEL_DB = 110.0  # "lowest level with a V" of an ear with none: above any level a protocol records


@dataclass
class EarTable:
    """One row per ear (E ears), in sorted `ear_key` order; `record_ear` maps each record to its row."""

    ear_key: np.ndarray  # (E,) str "patient/ear"
    patient_id: np.ndarray  # (E,) str
    n_records: np.ndarray  # (E,) int
    class_prob: np.ndarray  # (E, C)
    threshold_db: np.ndarray  # (E,)
    threshold_sd_db: np.ndarray  # (E,)
    threshold_lo_db: np.ndarray  # (E,) 90 % interval (NaN bound = the draw had no response)
    threshold_hi_db: np.ndarray  # (E,)
    p_no_response: np.ndarray  # (E,)
    true_class: np.ndarray  # (E,) int, -1 = unknown
    true_threshold_db: np.ndarray  # (E,) NaN = no response or unknown
    true_no_response: np.ndarray  # (E,) bool
    record_ear: np.ndarray  # (N,) int index into the rows above

    @property
    def n_ears(self) -> int:
        return int(self.ear_key.shape[0])

    @property
    def predicted_class(self) -> np.ndarray:
        return np.argmax(self.class_prob, axis=1)


def _first_valid(values: np.ndarray, valid: np.ndarray, inverse: np.ndarray, n_groups: int, fill: object) -> np.ndarray:
    """Value of the first record per group where `valid` holds, `fill` where none does."""
    out = np.full(n_groups, fill, dtype=values.dtype)
    rows = np.flatnonzero(valid)
    # reversed assignment: the last write wins, so writing in reverse keeps the first valid record of each group
    out[inverse[rows[::-1]]] = values[rows[::-1]]
    return out


def aggregate_ears(pred: Predictions, data: ABRCohort, series_model: SeriesModel | None = None) -> EarTable:
    """Group records by `data.ear_key` and combine their predictions (rules in the module docstring).

    With a fitted `series_model` (see `evaluation.series`) the ear's class is read from features of the whole
    series (latency shift against the normal L–I curve, threshold, presence pattern…) instead of the geometric mean.
    """
    if pred.n_records != data.n_records:
        raise ValueError(f"{pred.n_records} predictions for {data.n_records} records")
    keys, first, inverse = np.unique(data.ear_key, return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    n_ears = keys.shape[0]
    counts = np.bincount(inverse, minlength=n_ears).astype(np.float64)

    log_p = np.log(np.clip(np.asarray(pred.class_prob, dtype=np.float64), _LOG_FLOOR, 1.0))
    mean_log = np.stack([np.bincount(inverse, log_p[:, c], n_ears) for c in range(log_p.shape[1])], axis=1)
    mean_log /= counts[:, None]
    mean_log -= mean_log.max(axis=1, keepdims=True)
    class_prob = np.exp(mean_log)
    class_prob /= class_prob.sum(axis=1, keepdims=True)

    intensity = np.asarray(data.static[:, 1], dtype=np.float64)
    p_v = np.asarray(pred.peak_presence_prob, dtype=np.float64)[:, 2]
    threshold, thr_lo, thr_hi, thr_sd = series_threshold(inverse, n_ears, intensity, p_v)
    intensity = np.asarray(data.static[:, 1], dtype=np.float64)
    max_db = np.full(n_ears, -np.inf)
    np.maximum.at(max_db, inverse, intensity)
    above = max_db + 5.0  # no V at any tested level: "above the highest level tested", as a report says
    threshold, thr_lo, thr_hi = (np.where(np.isfinite(x), x, above) for x in (threshold, thr_lo, thr_hi))
    loud = (intensity >= max_db[inverse] - 1e-6).astype(np.float64)  # the ear's highest-level records
    p_nr = np.bincount(inverse, loud * np.asarray(pred.p_no_response, dtype=np.float64), n_ears)
    p_nr /= np.bincount(inverse, loud, n_ears)

    thr_truth = np.asarray(data.threshold_db, dtype=np.float64)
    table = EarTable(
        ear_key=keys,
        patient_id=np.asarray(data.patient_id)[first].astype(str),
        n_records=counts.astype(np.int64),
        class_prob=class_prob,
        threshold_db=threshold,
        threshold_sd_db=thr_sd,
        threshold_lo_db=thr_lo,
        threshold_hi_db=thr_hi,
        p_no_response=p_nr,
        true_class=_first_valid(np.asarray(data.class_id, dtype=np.int64), data.class_id >= 0, inverse, n_ears, -1),
        true_threshold_db=_first_valid(thr_truth, np.isfinite(thr_truth), inverse, n_ears, np.nan),
        true_no_response=_first_valid(
            np.asarray(data.no_response, dtype=bool), data.no_response, inverse, n_ears, False
        ),
        record_ear=inverse,
    )
    if series_model is not None:
        X = series_features(pred, data, table)
        table.class_prob = series_model.predict_proba(X)
        p_nr_series = series_model.predict_no_response(X)
        if p_nr_series is not None:
            table.p_no_response = p_nr_series
    return table


def series_threshold(
    inverse: np.ndarray, n_ears: int, intensity: np.ndarray, p_v: np.ndarray, draws: int = 400, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(E,) threshold, 90 % interval low/high and SD from the records' wave V presence probabilities.

    Point: the lowest level with p(V) > PRESENCE_THRESHOLD. Interval: percentiles over Bernoulli draws of the
    records' presence (a draw without any present record counts as "above every tested level", so its upper bound
    is NaN = open). SD over the draws that have a threshold.
    """
    present = p_v > PRESENCE_THRESHOLD
    point = np.full(n_ears, np.inf)
    np.minimum.at(point, inverse[present], intensity[present])
    rng = np.random.default_rng(seed)
    sampled = np.full((draws, n_ears), np.inf)
    for d in range(draws):
        hit = rng.uniform(size=p_v.size) < p_v
        np.minimum.at(sampled[d], inverse[hit], intensity[hit])
    ok = np.isfinite(sampled)
    open_ended = np.where(ok, sampled, 1e9)  # a draw without a V: above every tested level
    lo, hi = np.percentile(open_ended, [5, 95], axis=0)
    n_ok = np.maximum(ok.sum(axis=0), 1)
    mean = np.where(ok, sampled, 0.0).sum(axis=0) / n_ok
    sd = np.sqrt(np.where(ok, (np.where(ok, sampled, 0.0) - mean) ** 2, 0.0).sum(axis=0) / n_ok)
    inf_to_nan = lambda x: np.where(np.isfinite(x) & (x < 1e8), x, np.nan)
    return inf_to_nan(point), inf_to_nan(lo), inf_to_nan(hi), sd


class SeriesModel(Protocol):
    def predict_proba(self, features: np.ndarray) -> np.ndarray: ...

    def predict_no_response(self, features: np.ndarray) -> np.ndarray | None: ...


def _normal_latency_v(intensity_db: np.ndarray) -> np.ndarray:
    """Adult wave V latency–intensity fit (reference §0): 5.07 + 4.35·exp(−x/37.2) ms."""
    return 5.07 + 4.35 * np.exp(-np.asarray(intensity_db, dtype=np.float64) / 37.2)


SERIES_FEATURES: tuple[str, ...] = (
    *(f"mean_p_{c}" for c in range(5)),
    *(f"geo_p_{c}" for c in range(5)),
    *(f"loud_p_{c}" for c in range(5)),
    "threshold_db", "threshold_sd_db", "p_no_response", "loud_p_no_response",
    "loud_p_V", "mean_p_V", "frac_V", "lowest_V_db",
    "V_shift_ms", "loud_V_shift_ms", "loud_I_V_ms", "loud_p_I", "loud_p_III", "log_age",
)  # fmt: skip


def series_features(pred: Predictions, data: ABRCohort, table: EarTable) -> np.ndarray:
    """What an audiologist reads off a series, from the per-record predictions: (E, len(SERIES_FEATURES))."""
    inv, E = table.record_ear, table.n_ears
    n = table.n_records.astype(np.float64)
    mean = lambda x: np.bincount(inv, x, E) / n
    intensity = data.static[:, 1].astype(np.float64)
    max_db = np.full(E, -np.inf)
    np.maximum.at(max_db, inv, intensity)
    min_db = np.full(E, np.inf)
    np.minimum.at(min_db, inv, intensity)
    loud = intensity >= max_db[inv] - 1e-6  # records at the ear's highest level
    n_loud = np.bincount(inv, loud.astype(np.float64), E)
    loud_mean = lambda x: np.bincount(inv, x * loud, E) / n_loud
    prob = np.asarray(pred.class_prob, dtype=np.float64)
    log_p = np.log(np.clip(prob, _LOG_FLOOR, 1.0))
    p_v = np.asarray(pred.peak_presence_prob, dtype=np.float64)[:, 2]
    lat = np.asarray(pred.latency_ms, dtype=np.float64)
    shift = lat[:, 2] - _normal_latency_v(intensity)
    w_sum = np.bincount(inv, p_v, E)
    v_shift = np.bincount(inv, p_v * shift, E) / np.maximum(w_sum, 1e-6)
    lowest_v = np.full(E, np.inf)
    np.minimum.at(lowest_v, inv, np.where(p_v > 0.5, intensity, np.inf))
    lowest_v = np.where(np.isfinite(lowest_v), lowest_v, NO_V_LEVEL_DB)
    cols = [
        *(mean(prob[:, c]) for c in range(5)),
        *(np.exp(mean(log_p[:, c])) for c in range(5)),
        *(loud_mean(prob[:, c]) for c in range(5)),
        table.threshold_db,
        table.threshold_sd_db,
        table.p_no_response,
        loud_mean(np.asarray(pred.p_no_response, dtype=np.float64)),
        loud_mean(p_v),
        mean(p_v),
        mean((p_v > 0.5).astype(np.float64)),
        lowest_v,
        v_shift,
        loud_mean(shift),
        loud_mean(lat[:, 2] - lat[:, 0]),
        loud_mean(np.asarray(pred.peak_presence_prob, dtype=np.float64)[:, 0]),
        loud_mean(np.asarray(pred.peak_presence_prob, dtype=np.float64)[:, 1]),
        mean(np.log1p(data.static[:, 0].astype(np.float64))),
    ]
    return np.stack(cols, axis=1)
