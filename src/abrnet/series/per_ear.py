"""Combine the per-record predictions of an ear's intensity series into one prediction per ear.

A series is one patient's ear under one stimulus (`abrnet.data.series_key`): an ear with 8 and 16 kHz tone pips
gives two rows, each with its own threshold; "ear" below means such a series.

Clinicians diagnose an ear, not a single averaged sweep: the hearing-loss class and the threshold are properties of
the ear and are repeated on every record of its series. Scoring per ear (and `predict`'s series mode) needs one
answer per ear, built here so both use the same rule:

* class: normalised geometric mean of the record probabilities (mean log-probability, then softmax). Every record
  counts as equal, independent evidence; a record that confidently rules a class out vetoes it more strongly than an
  arithmetic mean would. No evidence weighting — kept simple on purpose.
* threshold: read from the waveforms, as an audiologist reads a series: the ear's wave V presence probabilities
  fitted non-decreasing in level (`threshold_from_cdfs`), the threshold the lowest level where the fit passes 0.5
  (or the crossing a fitted series stage chose on its own ears), its 90 % interval where it passes 0.05 and 0.95
  (or the fitted pair; long grids, `dense_series`, have their own). The point never reads how many levels were
  tested or where the series starts and stops (a protocol shortcut), only what each record shows; only the
  interval's width knows whether the grid was long.
* p_no_response: mean over the records at the ear's highest level ("no response at the maximum level" is decided
  there, as a clinician decides it; softer levels have no response in every ear).
* response: "response", "no response" or "uncertain" where the threshold (a crossing at a tested level or none)
  and p_no_response (> 0.5 or not) disagree (`response_calls`).
* class and p_no_response, series mode: a fitted `series.classifier.SeriesClassifier` reads `series_features` of
  the whole series (the network's outputs, plus one classical waveform cue, `series.microphonic`).
* truth: `ear_truth`, the one rule for the network's ear table and every per-ear baseline.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from abrnet.constants import PRESENCE_THRESHOLD, is_present
from abrnet.data.schema import ABRCohort
from abrnet.data.series_key import series_keys, series_labels
from abrnet.models.predictions import Predictions
from abrnet.series.microphonic import loud_microphonic

_LOG_FLOOR = 1e-12  # probabilities are clipped here before taking logs, so a hard 0 cannot give -inf
DEFAULT_THRESHOLD_QUANTILES: tuple[float, float] = (0.05, 0.95)
NO_V_LEVEL_DB = 110.0  # "lowest level with a V" of an ear with none: above any level a protocol records
ABOVE_HIGHEST_DB = 5.0  # threshold of an ear with no V at any tested level: "above the highest level tested"
RESPONSE_CALLS: tuple[str, ...] = ("response", "no response", "uncertain")
NO_RESPONSE_CUT = 0.5  # P(no response) above this calls a no-response (`is_no_response`)
DENSE_SERIES_LEVELS = 12  # this many distinct levels or more: a long grid (e.g. 0–60 or 0–100 dB in 5-dB steps)


@dataclass
class EarTable:
    """One row per series (E series: an ear under one stimulus), in sorted key order; `record_ear` maps each record
    to its row."""

    ear_key: np.ndarray  # (E,) str series key (`series_keys`): "patient/ear", ", <stimulus>" where an ear has several
    patient_id: np.ndarray  # (E,) str
    ear: np.ndarray  # (E,) str "L"/"R": the ear as given, never parsed back out of `ear_key` (ids may hold '/')
    n_records: np.ndarray  # (E,) int
    class_prob: np.ndarray  # (E, C)
    threshold_db: np.ndarray  # (E,)
    threshold_sd_db: np.ndarray  # (E,)
    threshold_lo_db: np.ndarray  # (E,) 90 % interval (NaN bound = the draw had no response)
    threshold_hi_db: np.ndarray  # (E,)
    p_no_response: np.ndarray  # (E,)
    response: np.ndarray  # (E,) str, one of RESPONSE_CALLS (`response_calls`)
    true_class: np.ndarray  # (E,) int, -1 = unknown
    true_threshold_db: np.ndarray  # (E,) NaN = no response or unknown
    true_no_response: np.ndarray  # (E,) bool
    record_ear: np.ndarray  # (N,) int index into the rows above
    cm_log_snr: np.ndarray  # (E,) cochlear-microphonic cue at the loudest levels (`series.microphonic`; ~0: none)
    stimulus: np.ndarray  # (E,) str the series' stimulus (`series_labels`: "click", "tone_pip 8000 Hz", "unknown")
    threshold_sd_defined: np.ndarray | None = None  # (E,) p(V) passes 0.5: elsewhere the SD is only a stage input

    @property
    def n_ears(self) -> int:
        return int(self.ear_key.shape[0])

    @property
    def predicted_class(self) -> np.ndarray:
        return np.argmax(self.class_prob, axis=1)


@dataclass
class EarTruth:
    """Each ear's labels (E rows, sorted series-key order, as `aggregate_ears`) and how many ears carry two different
    values of a label on their records (`conflicts`, keyed by the file's column: threshold_db, class, no_response)."""

    class_id: np.ndarray  # (E,) int, -1 = unknown
    threshold_db: np.ndarray  # (E,) float, NaN = no response or unknown
    no_response: np.ndarray  # (E,) bool
    conflicts: dict[str, int]


def ear_truth(data: ABRCohort, inverse: np.ndarray | None = None) -> EarTruth:
    """Each ear's labels from its records, by one rule for the network's ear table and every per-ear baseline: the
    class and threshold of the ear's first record that carries one (file order), a no-response where any record says
    so. `inverse`: (N,) record → ear row (`np.unique(series_keys(data))`'s), computed here when None.

    Why one rule: a lab sheet often writes the ear's labels on one of its rows only; the baselines read the ear's
    first record and went "—" where the network, reading the first labelled one, was scored. Where an ear's records
    disagree the rule still picks one, so `conflicts` lets the caller say so (`abrnet evaluate` warns). A record's
    no-response is known where it says so or has a threshold (`metrics.task_metrics`): a blank cell reads as 0."""
    inverse = np.asarray(np.unique(series_keys(data), return_inverse=True)[1] if inverse is None else inverse).ravel()
    n = int(inverse.max()) + 1 if inverse.size else 0
    cls = np.asarray(data.class_id, dtype=np.int64)  # (N,)
    thr = np.asarray(data.threshold_db, dtype=np.float64)  # (N,)
    nr = np.asarray(data.no_response, dtype=bool)  # (N,)

    def first(values: np.ndarray, valid: np.ndarray, fill: object) -> np.ndarray:  # (E,) first valid value per ear
        out, rows = np.full(n, fill, dtype=values.dtype), np.flatnonzero(valid)[::-1]  # reversed: last write wins
        out[inverse[rows]] = values[rows]
        return out

    has_thr = np.isfinite(thr)
    truth = EarTruth(first(cls, cls >= 0, -1), first(thr, has_thr, np.nan), first(nr, nr, False), {})
    for name, values, known, chosen in (
        ("threshold_db", thr, has_thr, truth.threshold_db),
        ("class", cls, cls >= 0, truth.class_id),
        ("no_response", nr, nr | has_thr, truth.no_response),
    ):  # ears with a known value other than the one chosen
        truth.conflicts[name] = int(np.unique(inverse[known & (values != chosen[inverse])]).size)
    return truth


def aggregate_ears(pred: Predictions, data: ABRCohort, series_model: SeriesModel | None = None) -> EarTable:
    """Group records by series (`series_keys`: the ear, and the stimulus where an ear holds more than one) and
    combine their predictions (rules in the module docstring).

    With a fitted `series_model` (see `evaluation.series`) the ear's class is read from features of the whole
    series (latency shift against the normal L–I curve, threshold, presence pattern…) instead of the geometric mean.
    """
    if pred.n_records != data.n_records:
        raise ValueError(f"{pred.n_records} predictions for {data.n_records} records")
    keys, first, inverse = np.unique(series_keys(data), return_index=True, return_inverse=True)
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
    quantiles = getattr(series_model, "threshold_quantiles", None) or DEFAULT_THRESHOLD_QUANTILES
    cdfs = presence_cdfs(inverse, intensity, p_v)
    threshold, _, _, thr_sd = threshold_from_cdfs(cdfs, n_ears, tuple(quantiles))
    max_db = highest_levels(inverse, intensity, n_ears)
    above = max_db + ABOVE_HIGHEST_DB  # no V at any tested level: "above the highest level tested", as a report says
    no_crossing = ~np.isfinite(threshold)
    threshold = np.where(no_crossing, above, threshold)
    thr_lo, thr_hi = interval_bounds(cdfs, n_ears, quantiles, above)
    dense_quantiles = getattr(series_model, "dense_threshold_quantiles", None)
    if dense_quantiles is not None:  # long level grids: their own fitted interval (`fit_threshold_quantiles`)
        dense = dense_series(cdfs, n_ears)
        lo_d, hi_d = interval_bounds(cdfs, n_ears, dense_quantiles, above)
        thr_lo, thr_hi = np.where(dense, lo_d, thr_lo), np.where(dense, hi_d, thr_hi)
    loud = (intensity >= max_db[inverse] - 1e-6).astype(np.float64)  # the ear's highest-level records
    p_nr = np.bincount(inverse, loud * np.asarray(pred.p_no_response, dtype=np.float64), n_ears)
    p_nr /= np.bincount(inverse, loud, n_ears)

    truth = ear_truth(data, inverse)
    table = EarTable(
        ear_key=keys,
        patient_id=np.asarray(data.patient_id)[first].astype(str),
        ear=np.asarray(data.ear)[first].astype(str),
        n_records=counts.astype(np.int64),
        class_prob=class_prob,
        threshold_db=threshold,
        threshold_sd_db=thr_sd,
        threshold_lo_db=thr_lo,
        threshold_hi_db=thr_hi,
        p_no_response=p_nr,
        response=response_calls(no_crossing, p_nr),
        true_class=truth.class_id,
        true_threshold_db=truth.threshold_db,
        true_no_response=truth.no_response,
        record_ear=inverse,
        cm_log_snr=loud_microphonic(data, inverse, max_db),
        stimulus=series_labels(data)[0][first],  # an unstated first record carries its series' label
        threshold_sd_defined=~no_crossing,
    )
    if series_model is not None:
        X = series_features(pred, data, table)  # with the 0.5 crossing, as the classifier was fitted
        point = getattr(series_model, "threshold_point", None)
        if point is not None:  # the crossing fitted on the series-stage ears (`fit_threshold_point`)
            fitted = crossing_levels(cdfs, n_ears, point)
            no_crossing = ~np.isfinite(fitted)
            table.threshold_db = np.clip(np.where(no_crossing, above, fitted), thr_lo, thr_hi)  # inside the interval
        table.class_prob = series_model.predict_proba(X)
        p_nr_series = series_model.predict_no_response(X)
        if p_nr_series is not None:
            table.p_no_response = p_nr_series
        table.response = response_calls(no_crossing, table.p_no_response)
    return table


def is_no_response(p_no_response: np.ndarray) -> np.ndarray:
    """Where a no-response probability calls a no-response: > `NO_RESPONSE_CUT`, elementwise. One rule for the
    ear's ``response`` call (`response_calls`) and the metrics' no-response F1 (strict, unlike the wave-presence
    rule `constants.is_present`, as both have always read it)."""
    return np.asarray(p_no_response) > NO_RESPONSE_CUT


def response_calls(no_crossing: np.ndarray, p_no_response: np.ndarray) -> np.ndarray:
    """(E,) each ear's call, one of RESPONSE_CALLS, from its two readings: "response" where the p(V) curve crosses at
    a tested level and the no-response probability is at most 0.5, "no response" where neither holds, "uncertain"
    where they disagree.

    Why a third call: the threshold (the p(V) curve) and p_no_response (the series classifier) are read separately,
    each the better estimate of its own figure, and on ~11 % of fixed-protocol ears they disagree: a crossing near
    the top of the series with P(no response) > 0.5. About two thirds of those ears have no response and one third
    a threshold near that crossing; a report that printed "threshold 90 dB" beside "P(no response) 0.7" without
    saying so would contradict itself. (E,) bool and (E,) float → (E,) str.
    """
    nr = is_no_response(np.asarray(p_no_response, dtype=np.float64))
    crossing = ~np.asarray(no_crossing, dtype=bool)
    return np.where(crossing & ~nr, RESPONSE_CALLS[0], np.where(~crossing & nr, RESPONSE_CALLS[1], RESPONSE_CALLS[2]))


def isotonic_increasing(y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted least-squares non-decreasing fit of ``y`` (pool adjacent violators); (K,) → (K,)."""
    blocks: list[list[float]] = []  # [weighted mean, weight, count]
    for yi, wi in zip(y, w, strict=True):
        blocks.append([float(yi), float(wi), 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            m2, w2, c2 = blocks.pop()
            m1, w1, c1 = blocks.pop()
            blocks.append([(m1 * w1 + m2 * w2) / (w1 + w2), w1 + w2, c1 + c2])
    return np.concatenate([np.full(c, m) for m, _, c in blocks])


def presence_cdfs(
    inverse: np.ndarray, intensity: np.ndarray, p_v: np.ndarray
) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """Per ear: (ear index, its tested levels (K,) ascending, p(V) fitted non-decreasing in level (K,)).

    Replicates at a level are pooled (weighted by their count) before the isotonic fit: a response seen at a level
    is there at every louder level, so a lone false positive far below the rest is averaged away.
    """
    order = np.lexsort((intensity, inverse))
    bounds = np.flatnonzero(np.diff(inverse[order], prepend=-1, append=-1) != 0)
    out = []
    for start, stop in itertools.pairwise(bounds):
        rows = order[start:stop]
        levels, idx = np.unique(intensity[rows], return_inverse=True)
        counts = np.bincount(idx, minlength=levels.size).astype(np.float64)
        mean_p = np.bincount(idx, p_v[rows], levels.size) / counts
        out.append((int(inverse[rows[0]]), levels, isotonic_increasing(mean_p, counts)))
    return out


def highest_levels(record_ear: np.ndarray, intensity: np.ndarray, n_ears: int) -> np.ndarray:
    """(E,) the highest level each ear was recorded at; record_ear, intensity: (N,)."""
    out = np.full(n_ears, -np.inf)
    np.maximum.at(out, record_ear, intensity)
    return out


def lowest_levels(record_ear: np.ndarray, intensity: np.ndarray, n_ears: int) -> np.ndarray:
    """(E,) the lowest level each ear was recorded at; record_ear, intensity: (N,)."""
    out = np.full(n_ears, np.inf)
    np.minimum.at(out, record_ear, intensity)
    return out


def dense_series(cdfs: list[tuple[int, np.ndarray, np.ndarray]], n_ears: int) -> np.ndarray:
    """(E,) bool: the ear was recorded at DENSE_SERIES_LEVELS or more distinct levels (a long fixed grid).

    Why the interval cares: the label is the lowest level with a visible V, and a long grid gives it many more
    chances to sit low (one lucky record) and the fitted p(V) curve many more noise records to pool, so the interval
    that covers 90 % of short clinical series under-covers long grids' or over-covers them. The point does not use it.
    """
    out = np.zeros(n_ears, dtype=bool)
    for e, levels, _ in cdfs:
        out[e] = levels.size >= DENSE_SERIES_LEVELS
    return out


def crossing_levels(cdfs: list[tuple[int, np.ndarray, np.ndarray]], n_ears: int, q: float) -> np.ndarray:
    """(E,) lowest tested level where each ear's fitted curve (`presence_cdfs`) passes ``q``; NaN where it never
    does ("above every tested level")."""
    out = np.full(n_ears, np.nan)
    for e, levels, cdf in cdfs:
        passed = cdf > q
        if passed.any():
            out[e] = levels[np.argmax(passed)]
    return out


def threshold_from_cdfs(
    cdfs: list[tuple[int, np.ndarray, np.ndarray]],
    n_ears: int,
    quantiles: tuple[float, float] = DEFAULT_THRESHOLD_QUANTILES,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(E,) threshold, 90 % interval low/high and SD from the ears' fitted p(V) curves (`presence_cdfs`).

    Per ear, p(V) is fitted non-decreasing in level. The fitted curve F(L) is read as the distribution function of
    the threshold on the tested levels (the chance that the lowest level with a V is at or below L): the point is
    its median (lowest level with F > PRESENCE_THRESHOLD; a fitted series stage may read another crossing, see
    `aggregate_ears`), the 90 % interval its ``quantiles`` (5th/95th by default; a fitted series stage brings the
    pair chosen on its own ears for 90 % coverage, since p(V) is not perfectly calibrated), the SD its spread.
    Where F never reaches a quantile the value is NaN ("above every tested level"); the SD is 0 where F has no
    increments (the series stage's input as fitted; `EarTable.threshold_sd_defined` says where it is an SD)."""
    point, lo, hi = (crossing_levels(cdfs, n_ears, q) for q in (PRESENCE_THRESHOLD, *quantiles))
    sd = np.full(n_ears, np.nan)
    for e, levels, cdf in cdfs:
        mass = np.diff(cdf, prepend=0.0)  # probability that the threshold sits at each level
        if mass.sum() > 0:
            mu = (mass * levels).sum() / mass.sum()
            sd[e] = np.sqrt((mass * (levels - mu) ** 2).sum() / mass.sum())
    return point, lo, hi, np.nan_to_num(sd)


def interval_bounds(
    cdfs: list[tuple[int, np.ndarray, np.ndarray]],
    n_ears: int,
    quantiles: Sequence[float],
    above: np.ndarray,
) -> tuple[np.ndarray, ...]:
    """(E,) an end of the threshold interval per quantile (low and high for a pair), as each ear's report gives them.

    Where the fitted curve never reaches a quantile the end is ``above`` (the ear's highest level + ABOVE_HIGHEST_DB).
    One function for the report and for the fit of the quantile pair (`fit_threshold_quantiles`): when the fit
    filled such ears differently (with the 0.5 crossing), a pair like (0.1, 0.99) looked as narrow as (0.1, 0.5) on
    the fitting ears and came out 80 dB wide on a 0–100 dB grid.
    """
    ends = (crossing_levels(cdfs, n_ears, float(q)) for q in quantiles)
    return tuple(np.where(np.isfinite(end), end, above) for end in ends)


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
    "V_shift_ms", "loud_V_shift_ms", "loud_I_V_ms", "loud_p_I", "loud_p_III", "log_age", "loud_cm_log_snr",
)  # fmt: skip


def series_features(pred: Predictions, data: ABRCohort, table: EarTable) -> np.ndarray:
    """What an audiologist reads off a series, from the per-record predictions: (E, len(SERIES_FEATURES))."""
    inv, E = table.record_ear, table.n_ears
    n = table.n_records.astype(np.float64)
    mean = lambda x: np.bincount(inv, x, E) / n
    intensity = data.static[:, 1].astype(np.float64)
    max_db = highest_levels(inv, intensity, E)
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
    np.minimum.at(lowest_v, inv, np.where(is_present(p_v), intensity, np.inf))
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
        mean(is_present(p_v).astype(np.float64)),
        lowest_v,
        v_shift,
        loud_mean(shift),
        loud_mean(lat[:, 2] - lat[:, 0]),
        loud_mean(np.asarray(pred.peak_presence_prob, dtype=np.float64)[:, 0]),
        loud_mean(np.asarray(pred.peak_presence_prob, dtype=np.float64)[:, 1]),
        mean(np.log1p(data.static[:, 0].astype(np.float64))),
        table.cm_log_snr,  # the waveform's own cue for ANSD vs TOTAL (`series.microphonic`)
    ]
    return np.stack(cols, axis=1)
