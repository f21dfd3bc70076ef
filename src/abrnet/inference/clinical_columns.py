"""Prediction tables with the clinical read-outs of `abrnet.metrics.clinical` (record, ear and patient level).

Waves count as present where the model's presence probability reaches 0.5 (`constants.is_present`, as on the plots);
absent waves give NaN, never a number read from noise. In series mode the per-ear functions and the interaural
difference are read, in addition, only where the ear's series reading has a response (`reading_floor`). "Ear" in the
per-ear tables is one intensity series (`abrnet.data.series_key`: an ear under one stimulus); the patient table
compares the two ears under the same stimulus.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from abrnet.constants import PRESENCE_THRESHOLD, WAVES, is_present
from abrnet.data.grouping import group_indices
from abrnet.data.noise_estimate import estimate_residual_noise
from abrnet.data.schema import ABRCohort, float32_column_as_typed
from abrnet.data.series_key import series_keys, series_labels
from abrnet.metrics.clinical import ear_numbers, function_points, interaural_v_latencies, peak_to_trough, replicate_r
from abrnet.series.per_ear import RESPONSE_CALLS, EarTable

if TYPE_CHECKING:  # annotation only: no import of the (higher) evaluation layer at run time
    from abrnet.models.predictions import Predictions


def present_latency(pred: Predictions, values: np.ndarray | None = None) -> np.ndarray:
    """(N, 3) predicted latencies (or other per-wave ``values``) where the wave is present, NaN elsewhere."""
    x = pred.latency_ms if values is None else values
    return np.where(is_present(pred.peak_presence_prob), x, np.nan).astype(np.float64)


def reading_floor(ears: EarTable) -> np.ndarray:
    """(E,) the level from which each ear's waves are read as the ear's: its series threshold (as <out>.series.csv gives
    it; the placeholder of an ear with no crossing lies above every tested level), +inf for an ear called
    "no response".

    Why: a single false-positive V below threshold, or in a "no response" ear, entered the latency–intensity
    function and flipped its slope; the ear's own reading says where it has a V."""
    no_response = np.asarray(ears.response).astype(str) == RESPONSE_CALLS[1]
    return np.where(no_response, np.inf, np.asarray(ears.threshold_db, dtype=np.float64))


def ear_floors(ears: EarTable | None, ear_keys: np.ndarray) -> np.ndarray:
    """(len(ear_keys),) `reading_floor` of each key in ``ear_keys``; -inf (read every level) without an ear table
    or for a key it lacks."""
    keys = np.asarray(ear_keys).astype(str)
    if ears is None:
        return np.full(keys.size, -np.inf)
    floor = dict(zip(ears.ear_key.astype(str).tolist(), reading_floor(ears).tolist(), strict=True))
    return np.array([floor.get(k, -np.inf) for k in keys.tolist()], dtype=np.float64)


def ear_latency_points(
    pred: Predictions, cohort: ABRCohort, rows: np.ndarray, from_db: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One ear's latency–intensity points for waves I, III, V: levels (L,) descending, mean latency (L, 3) and mean
    latency SD (L, 3) of the replicates with the wave present, at levels ≥ ``from_db`` (`function_points`).

    The points <out>.series.csv's ``V_latency_intensity`` lists (its wave V column) and the ``--plot`` figure draws."""
    level = cohort.static_column("intensity_db").astype(np.float64)[rows]
    levels, lat = function_points(level, present_latency(pred)[rows], from_db)
    _, sd = function_points(level, present_latency(pred, pred.latency_sd_ms)[rows], from_db)
    return levels, lat, sd


def group_rows(keys: np.ndarray) -> dict[str, np.ndarray]:
    """Row indices of each distinct key as a dict (`abrnet.data.grouping.group_indices`)."""
    distinct, rows = group_indices(keys)
    return {str(k): idx for k, idx in zip(distinct.tolist(), rows, strict=True)}


def clinical_record_columns(pred: Predictions, cohort: ABRCohort) -> dict[str, np.ndarray]:
    """``<W>_peak_trough_uv`` (I–I′, III–III′, V–V′) read on the recording at the predicted peak latencies;
    ``replicate_r``: each record's correlation with the mean of the other records of its ear at its level over
    1–8 ms (`abrnet.metrics.clinical.replicate_r`; NaN where the level has one record); ``fmp`` as the model read it;
    ``recording_noise_nv`` with ``recording_noise_from``: the residual noise read from the recording (split buffers,
    else the late window, an overestimate; NaN from ``missing`` where too little was recorded to read it:
    `abrnet.data.noise_estimate`), never the simulator's own truth. Why the
    last two: an audiologist accepts an absent response only where the residual noise is low (≤ ~40 nV for
    adults), and the table showed neither."""
    amp, _ = peak_to_trough(cohort.signals, cohort.time_ms, present_latency(pred))
    cols = {f"{w}_peak_trough_uv": amp[:, j] for j, w in enumerate(WAVES)}
    level = cohort.static_column("intensity_db").astype(np.float64)
    keys = np.char.add(np.char.add(series_keys(cohort), "@"), level.astype(str))  # one series at one level
    cols["replicate_r"] = replicate_r(cohort.signals, cohort.time_ms, keys)
    noise_uv, source = recording_noise(cohort)  # (N,) each from the recording itself (NaN: unknown)
    cols["fmp"] = cohort.static_column("fmp")  # the value the model read (NaN: not measured)
    cols["recording_noise_nv"] = np.asarray(noise_uv, dtype=np.float64) * 1000.0
    cols["recording_noise_from"] = np.asarray(source).astype(str)
    return cols


def recording_noise(cohort: ABRCohort) -> tuple[np.ndarray, np.ndarray]:
    """(N,) residual noise µV and (N,) its source, as `estimate_residual_noise` reads it from the recording, except
    for a cohort `abrnet denoise` wrote (``attrs["denoised_by"]``): its traces are estimates whose late window is
    smoothed (20 nV read where the recording had 63), so the noise of the recording each started from, which denoise
    keeps per record (``extras["recording_noise_nv"]``, ``["recording_noise_from"]``), is the one to report. Why:
    a low residual noise is what lets an audiologist accept an absent response (hunt 43)."""
    kept = ("recording_noise_nv", "recording_noise_from")
    if cohort.attrs.get("denoised_by") and all(k in cohort.extras for k in kept):
        noise_nv, source = (np.asarray(cohort.extras[k]) for k in kept)
        return noise_nv.astype(np.float64) / 1000.0, source.astype(str)
    return estimate_residual_noise(cohort)


def clinical_ear_columns(
    pred: Predictions, cohort: ABRCohort, ear_keys: np.ndarray, from_db: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Per series (rows in the order of ``ear_keys``, `series_keys`: 'patient/ear'[, stimulus]): inter-peak
    intervals, wave V latency–intensity function and slope (µs/dB, with ``V_li_slope_positive``),
    amplitude–intensity (I/O) function and slope.

    ``from_db`` (one per key; `ear_floors`): the functions are read at levels ≥ it, replicates combined
    (`abrnet.metrics.clinical.ear_numbers`); None reads every level."""
    lat = present_latency(pred)
    amp, _ = peak_to_trough(cohort.signals, cohort.time_ms, lat)
    level = cohort.static_column("intensity_db").astype(np.float64)
    groups = group_rows(series_keys(cohort))
    empty = np.zeros(0, dtype=np.intp)
    keys = np.asarray(ear_keys).astype(str).tolist()
    floors = np.full(len(keys), -np.inf) if from_db is None else np.asarray(from_db, dtype=np.float64)
    rows = []
    for k, floor in zip(keys, floors.tolist(), strict=True):
        idx = groups.get(k, empty)
        rows.append(ear_numbers(level[idx], lat[idx], amp[idx], floor))
    names = list(rows[0]) if rows else []
    return {n: np.array([r[n] for r in rows]) for n in names}


def patient_columns(pred: Predictions, cohort: ABRCohort, ears: EarTable | None = None) -> dict[str, np.ndarray]:
    """One row per patient and stimulus with both ears recorded under that stimulus: the interaural wave V latency
    difference (right − left, ms) at the highest level where both ears show wave V, that level and the two
    latencies (each the mean of the ear's replicates with V there, so ``interaural_V_ms`` = ``V_latency_R_ms`` −
    ``V_latency_L_ms``). With the `ears` table, each ear's V is read only at levels ≥ its series' `reading_floor`,
    as in <out>.series.csv. ``note`` says why a row has no difference (`interaural_note`), empty where it has one.

    Why per stimulus: wave V of a 16 kHz tone pip comes earlier than an 8 kHz one, so comparing the left ear's 8 kHz
    series with the right ear's 16 kHz one (or pooling them) would read a frequency difference as an interaural one.
    A patient with one stimulus (every click cohort) keeps its one row; ``stimulus`` names it
    (`series_labels`: "click", "tone_pip 8000 Hz", "unknown"; unstated rows join an ear's one stated stimulus)."""
    lat_v = present_latency(pred)[:, WAVES.index("V")]
    level = cohort.static_column("intensity_db").astype(np.float64)
    floor = ear_floors(ears, series_keys(cohort))  # (N,) per record: its series' floor
    lat_v = np.where(level >= floor - 1e-6, lat_v, np.nan)
    ear = np.asarray(cohort.ear)
    stimulus = series_labels(cohort)[0]  # (N,) as the series table names them
    pids, stims, lv, left, right, diff, notes = [], [], [], [], [], [], []
    for pid, rows in group_rows(cohort.patient_id.astype(str)).items():
        for stim in np.unique(stimulus[rows]).tolist():
            idx = rows[stimulus[rows] == stim]
            lm, rm = idx[ear[idx] == "L"], idx[ear[idx] == "R"]
            if not (lm.size and rm.size):
                continue
            top, v_l, v_r = interaural_v_latencies(level[lm], lat_v[lm], level[rm], lat_v[rm])
            pids.append(pid)
            stims.append(stim)
            lv.append(top)
            left.append(v_l)
            right.append(v_r)
            diff.append(v_r - v_l)
            notes.append(interaural_note(np.isfinite(lat_v[lm]).any(), np.isfinite(lat_v[rm]).any(), top))
    return {
        "patient_id": np.array(pids, dtype=str),
        "stimulus": np.array(stims, dtype=str),
        "level_db": float32_column_as_typed(np.array(lv, dtype=np.float64)),  # a tested level, as typed: 57.3
        "V_latency_L_ms": np.array(left),
        "V_latency_R_ms": np.array(right),
        "interaural_V_ms": np.array(diff),
        "note": np.array(notes, dtype=str),
    }


def interaural_note(v_left: bool, v_right: bool, level_db: float) -> str:
    """Why a patients-table row has no interaural difference (its numbers blank), "" where it has one: no wave V read
    in an ear (``v_left``/``v_right``: at levels ≥ the ear's series floor, so a "no response" ear has none), or V in
    both ears but at no common level (``level_db`` NaN). The note names the per-record criterion: an ear's series can
    pass its fitted crossing (0.35–0.4) without any record reaching p(V) 0.5, and "no wave V" beside a series
    "response" read as a contradiction (hunt 48).

    Why a cell: a row of blanks beside the patient's id (one ear "no response") looked like a lost result, where
    the other tables say why a number is missing (``recording_noise_from`` "missing", the series ``response``)."""
    if np.isfinite(level_db):
        return ""
    seen = f"no record with wave V (p ≥ {PRESENCE_THRESHOLD:g})"  # a series can cross its threshold below that
    if not (v_left or v_right):
        return f"{seen} in either ear"
    if not (v_left and v_right):
        return f"{seen} in the {'right' if v_left else 'left'} ear"
    return "no level with wave V in both ears"
