"""Prediction tables with the clinical read-outs of `abrnet.metrics.clinical` (record, ear and patient level).

Waves count as present where the model's presence probability reaches `PRESENCE_THRESHOLD` (0.5, as on the plots);
absent waves give NaN, never a number read from noise.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from abrnet.constants import PRESENCE_THRESHOLD, WAVES
from abrnet.data.grouping import group_indices
from abrnet.data.schema import ABRCohort
from abrnet.metrics.clinical import ear_numbers, interaural_v, peak_to_trough

if TYPE_CHECKING:  # annotation only: no import of the (higher) evaluation layer at run time
    from abrnet.models.predictions import Predictions


def present_latency(pred: Predictions) -> np.ndarray:
    """(N, 3) predicted latencies where the wave is present, NaN elsewhere."""
    return np.where(pred.peak_presence_prob >= PRESENCE_THRESHOLD, pred.latency_ms, np.nan).astype(np.float64)


def group_rows(keys: np.ndarray) -> dict[str, np.ndarray]:
    """Row indices of each distinct key as a dict (`abrnet.data.grouping.group_indices`)."""
    distinct, rows = group_indices(keys)
    return {str(k): idx for k, idx in zip(distinct.tolist(), rows, strict=True)}


def clinical_record_columns(pred: Predictions, cohort: ABRCohort) -> dict[str, np.ndarray]:
    """``<W>_peak_trough_uv`` (I–I′, III–III′, V–V′) read on the recording at the predicted peak latencies."""
    amp, _ = peak_to_trough(cohort.signals, cohort.time_ms, present_latency(pred))
    return {f"{w}_peak_trough_uv": amp[:, j] for j, w in enumerate(WAVES)}


def clinical_ear_columns(pred: Predictions, cohort: ABRCohort, ear_keys: np.ndarray) -> dict[str, np.ndarray]:
    """Per ear (rows in the order of ``ear_keys``, 'patient/ear'): inter-peak intervals, wave V latency–intensity
    function and slope (µs/dB), amplitude–intensity (I/O) function and slope."""
    lat = present_latency(pred)
    amp, _ = peak_to_trough(cohort.signals, cohort.time_ms, lat)
    level = cohort.static_column("intensity_db").astype(np.float64)
    groups = group_rows(cohort.ear_key.astype(str))
    empty = np.zeros(0, dtype=np.intp)
    rows = []
    for k in np.asarray(ear_keys).astype(str).tolist():
        idx = groups.get(k, empty)
        rows.append(ear_numbers(level[idx], lat[idx], amp[idx]))
    names = list(rows[0]) if rows else []
    return {n: np.array([r[n] for r in rows]) for n in names}


def patient_columns(pred: Predictions, cohort: ABRCohort) -> dict[str, np.ndarray]:
    """One row per patient with both ears: the interaural wave V latency difference (right − left, ms) at the
    highest level where both ears show wave V, and that level."""
    lat_v = present_latency(pred)[:, WAVES.index("V")]
    level = cohort.static_column("intensity_db").astype(np.float64)
    ear = np.asarray(cohort.ear)
    pids, lv, left, right, diff = [], [], [], [], []
    for pid, idx in group_rows(cohort.patient_id.astype(str)).items():
        lm, rm = idx[ear[idx] == "L"], idx[ear[idx] == "R"]
        if not (lm.size and rm.size):
            continue
        top, d = interaural_v(level[lm], lat_v[lm], level[rm], lat_v[rm])
        pids.append(pid)
        lv.append(top)
        diff.append(d)
        left.append(lat_v[lm][level[lm] == top][0] if np.isfinite(top) else np.nan)
        right.append(lat_v[rm][level[rm] == top][0] if np.isfinite(top) else np.nan)
    return {
        "patient_id": np.array(pids, dtype=str),
        "level_db": np.array(lv),
        "V_latency_L_ms": np.array(left),
        "V_latency_R_ms": np.array(right),
        "interaural_V_ms": np.array(diff),
    }
