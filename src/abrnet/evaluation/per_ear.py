"""Combine the per-record predictions of an ear's intensity series into one prediction per ear.

Clinicians diagnose an ear, not a single averaged sweep: the hearing-loss class and the threshold are properties of
the ear and are repeated on every record of its series. Scoring per ear (and `predict`'s series mode) needs one
answer per ear, built here so both use the same rule:

* class: normalised geometric mean of the record probabilities (mean log-probability, then softmax). Every record
  counts as equal, independent evidence; a record that confidently rules a class out vetoes it more strongly than an
  arithmetic mean would. No evidence weighting — kept simple on purpose.
* threshold: inverse-variance weighted mean of the record predictions (weights 1 / threshold_sd²); its sd is
  1 / sqrt(Σ weights), which assumes independent record errors and is therefore a lower bound.
* p_no_response: arithmetic mean over the records.
* truth: taken from the ear's first record that carries it (the schema repeats ear labels on each record).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from abrnet.data.schema import ABRCohort
from abrnet.evaluation.predictions import Predictions

_LOG_FLOOR = 1e-12  # probabilities are clipped here before taking logs, so a hard 0 cannot give -inf
_SD_FLOOR = 1e-3  # dB; a zero sd would give an infinite weight


@dataclass
class EarTable:
    """One row per ear (E ears), in sorted `ear_key` order; `record_ear` maps each record to its row."""

    ear_key: np.ndarray  # (E,) str "patient/ear"
    patient_id: np.ndarray  # (E,) str
    n_records: np.ndarray  # (E,) int
    class_prob: np.ndarray  # (E, C)
    threshold_db: np.ndarray  # (E,)
    threshold_sd_db: np.ndarray  # (E,)
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


def aggregate_ears(pred: Predictions, data: ABRCohort) -> EarTable:
    """Group records by `data.ear_key` and combine their predictions (rules in the module docstring)."""
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

    sd = np.maximum(np.asarray(pred.threshold_sd_db, dtype=np.float64), _SD_FLOOR)
    w = 1.0 / sd**2
    w_sum = np.bincount(inverse, w, n_ears)
    threshold = np.bincount(inverse, w * np.asarray(pred.threshold_db, dtype=np.float64), n_ears) / w_sum
    p_nr = np.bincount(inverse, np.asarray(pred.p_no_response, dtype=np.float64), n_ears) / counts

    thr_truth = np.asarray(data.threshold_db, dtype=np.float64)
    return EarTable(
        ear_key=keys,
        patient_id=np.asarray(data.patient_id)[first].astype(str),
        n_records=counts.astype(np.int64),
        class_prob=class_prob,
        threshold_db=threshold,
        threshold_sd_db=1.0 / np.sqrt(w_sum),
        p_no_response=p_nr,
        true_class=_first_valid(np.asarray(data.class_id, dtype=np.int64), data.class_id >= 0, inverse, n_ears, -1),
        true_threshold_db=_first_valid(thr_truth, np.isfinite(thr_truth), inverse, n_ears, np.nan),
        true_no_response=_first_valid(
            np.asarray(data.no_response, dtype=bool), data.no_response, inverse, n_ears, False
        ),
        record_ear=inverse,
    )
