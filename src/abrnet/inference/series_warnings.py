"""Warnings about intensity series that contradict themselves or cannot support the reading printed for them.

Why: the series reading (`abrnet.series.per_ear`) answers every series with a threshold, a 90 % interval and a
call, and it assumes a physiological series: a larger level is a louder stimulus, a response seen at one level is
there at every louder one, and the tested levels are close enough to place a threshold between them. Hunt 14 (items
6–8) fed it series that break those assumptions and got confident answers with no word:

* a failed loud run (electrode off, artifact at the top levels) under a clear wave V at softer levels was called
  "no response" (decided at the loudest level);
* a threshold above an untested gap (30–50 dB skipped, or only 80 and 20 dB recorded) was placed at the tested level
  above the gap with a 90 % interval of zero width that excluded the truth;
* levels in dB attenuation read as dB nHL turned the ear upside down, with wave V getting *later* as the stimulus
  got "louder".

Each check below only reads what the series already holds (records' p(V) and V latencies, the series table); none
changes a threshold, call or class. The limits were set on simulated cohorts so that a physiological series
(nearly) never warns: read by the shipped model, 300 patients each (``abrnet simulate --seed 101``, mixed protocol;
``--seed 202 --protocol fixed --balanced``), the failed-loud-run check names 2 and 5 of 600 series, the other two
none (the steepest rising latency +7 µs/dB). Each warning names a few series (`MAX_NAMED`), as the
other series warnings do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from abrnet.constants import WAVES, is_present
from abrnet.data.grouping import group_indices
from abrnet.data.schema import ABRCohort
from abrnet.metrics.clinical import level_means
from abrnet.models.predictions import Predictions
from abrnet.series.per_ear import EarTable, highest_levels

WAVE_V = WAVES.index("V")
MAX_NAMED = 3  # series named in a warning line, then "and N more"
LEVEL_TOL_DB = 1e-6

CLEAR_V = 0.9  # a level whose mean p(V) reaches this reads a clear wave V
LOUD_LEVELS = 2  # a failed loud run: this many loudest levels ...
LOUD_ABSENT_V = 0.15  # ... each with a mean p(V) under this (clearly no V, not a borderline record)
MAX_BRACKET_DB = 10.0  # a threshold with more than this untested below it cannot be placed (5/10-dB steps are fine)
RISE_MIN_LEVELS = 3  # a latency–intensity trend needs this many levels with a clear wave V ...
RISE_MIN_SPAN_DB = 20.0  # ... spanning at least this much
RISE_MIN_US_PER_DB = 10.0  # latency rising faster than this with level (a normal wave V falls by ~30–40 µs/dB)
LEVEL_UNIT_HINT = '--level-unit "dB attenuation"'


@dataclass
class LevelReadings:
    """One series' records pooled per tested level (K levels, ascending)."""

    levels: np.ndarray  # (K,) dB, ascending
    p_v: np.ndarray  # (K,) mean p(V) of the level's records
    latency_v: np.ndarray  # (K,) mean wave V latency (ms) of the level's records with V present; NaN: none


def level_readings(pred: Predictions, cohort: ABRCohort, ears: EarTable) -> list[LevelReadings]:
    """(E,) per series (in `ears` row order) its records pooled per level: mean p(V) and mean present V latency.

    Why per level: replicates at a level are one observation of the ear there (`metrics.clinical.level_means`, the
    rule the series table's functions use; absent latencies skipped)."""
    level = cohort.static_column("intensity_db").astype(np.float64)  # (N,)
    p_v = np.asarray(pred.peak_presence_prob, dtype=np.float64)[:, WAVE_V]  # (N,)
    lat = np.where(is_present(p_v), np.asarray(pred.latency_ms, dtype=np.float64)[:, WAVE_V], np.nan)  # (N,)
    out = []
    for rows in group_indices(ears.record_ear)[1]:  # each series' records, series in table row order
        levels, means = level_means(level[rows], np.stack([p_v[rows], lat[rows]], axis=1))  # (K,) descending, (K, 2)
        out.append(LevelReadings(levels[::-1].copy(), means[::-1, 0].copy(), means[::-1, 1].copy()))
    return out


def _named(keys: list[str]) -> str:
    more = f" and {len(keys) - MAX_NAMED} more" if len(keys) > MAX_NAMED else ""
    return ", ".join(keys[:MAX_NAMED]) + more


# ------------------------------------------------------------------------------------------------ 1. failed loud run
def failed_loud_runs(ears: EarTable, readings: list[LevelReadings]) -> list[str]:
    """One line for the series whose `LOUD_LEVELS` loudest tested levels each read no wave V (mean p(V) <
    `LOUD_ABSENT_V`) while a softer level reads a clear one (mean p(V) ≥ `CLEAR_V`).

    Why: a response at 50 dB is there at 80 dB; "none at 80 and 70, clear at 50" is a failed loud run (electrode
    off, artifact), and the no-response probability and the call are decided at the loudest level, on those records.
    Two loud levels, not one, and a strict "no V": a single loud record of a simulated series misses its V now and
    then (37 of 600 mixed-protocol series read p(V) < 0.5 at the loudest level under a clear V softer)."""
    found = []
    for e, r in enumerate(readings):
        if r.levels.size <= LOUD_LEVELS:
            continue
        loud, softer = r.p_v[-LOUD_LEVELS:], r.p_v[:-LOUD_LEVELS]  # (2,), (K-2,)
        clear = np.flatnonzero(softer >= CLEAR_V)
        if (loud < LOUD_ABSENT_V).all() and clear.size:
            at = clear[-1]
            found.append(f"{ears.ear_key[e]} (p(V) {loud.max():.2f} at {r.levels[-LOUD_LEVELS]:g}–{r.levels[-1]:g} dB, "
                         f"{softer[at]:.2f} at {r.levels[at]:g} dB; {ears.response[e]})")  # fmt: skip
    if not found:
        return []
    return [
        f"{len(found)} series read no wave V at their {LOUD_LEVELS} loudest levels but a clear one (p(V) ≥ "
        f"{CLEAR_V:g}) softer: {_named(found)}. A response seen at a soft level is there at louder ones, so the "
        "loudest records look like a failed run (electrode off, artifact); the response call and p_no_response rest "
        "on them: check or re-record those levels"
    ]


# ------------------------------------------------------------------------------------------------ 2. sparse levels
def lower_brackets(ears: EarTable, cohort: ABRCohort) -> np.ndarray:
    """(E,) the highest tested level below each series' ``threshold_db`` (NaN where none: the threshold is at the
    lowest level tested). The threshold lies in (this level, threshold_db]: a crossing can only be placed at a
    tested level, so nothing between the two says where in the gap it is. For the "above the highest level"
    placeholder it is the highest level tested."""
    level = cohort.static_column("intensity_db").astype(np.float64)  # (N,)
    below = level < np.asarray(ears.threshold_db, dtype=np.float64)[ears.record_ear] - LEVEL_TOL_DB  # (N,)
    out = np.full(ears.n_ears, -np.inf)
    np.maximum.at(out, ears.record_ear[below], level[below])
    return np.where(np.isfinite(out), out, np.nan)


def sparse_level_brackets(ears: EarTable, cohort: ABRCohort) -> list[str]:
    """One line for the series whose threshold (a crossing at a tested level) has more than `MAX_BRACKET_DB`
    untested below it while its 90 % interval stops above the gap.

    Why: with 30–50 dB untested, a threshold of 20 dB is read "60 [60, 60]": the interval is drawn on tested levels
    only, so its zero width claims a precision that the grid cannot give."""
    level = cohort.static_column("intensity_db").astype(np.float64)  # (N,)
    top = highest_levels(ears.record_ear, level, ears.n_ears)  # (E,)
    thr, lo = np.asarray(ears.threshold_db, np.float64), np.asarray(ears.threshold_lo_db, np.float64)  # (E,)
    bracket = lower_brackets(ears, cohort)  # (E,) NaN: threshold at the lowest level (no gap below it)
    measured = thr <= top + LEVEL_TOL_DB  # not the "above the highest level" placeholder
    with np.errstate(invalid="ignore"):
        flagged = measured & (thr - bracket > MAX_BRACKET_DB) & (lo > bracket + LEVEL_TOL_DB)
    found = [
        f"{ears.ear_key[e]} ({thr[e]:g} dB, next softer tested level {bracket[e]:g} dB)"
        for e in np.flatnonzero(flagged)
    ]
    if not found:
        return []
    return [
        f"{len(found)} series have their threshold at a tested level with more than {MAX_BRACKET_DB:g} dB untested "
        f"below it: {_named(found)}. The threshold lies anywhere in (next softer tested level, threshold], and the "
        "printed 90 % interval does not include that untested gap (series table: threshold_bracket_lo_db); record "
        "the levels in between to place it"
    ]


# ------------------------------------------------------------------------------------------------ 3. rising latency
def rising_latency_slope(r: LevelReadings) -> float:
    """Wave V latency–intensity slope (µs/dB, least squares) over the levels with a clear V (mean p(V) ≥
    `CLEAR_V`); NaN with fewer than `RISE_MIN_LEVELS` such levels or a span under `RISE_MIN_SPAN_DB`.

    Clear levels only, at every level (not only above the threshold, as ``V_li_slope_us_per_db`` reads): an ear
    read upside down is often called "no response", which has no latency–intensity function in the table."""
    keep = (r.p_v >= CLEAR_V) & np.isfinite(r.latency_v)
    x, y = r.levels[keep], r.latency_v[keep]
    if x.size < RISE_MIN_LEVELS or x[-1] - x[0] < RISE_MIN_SPAN_DB:
        return float("nan")
    return float(np.polyfit(x, y, 1)[0] * 1000.0)


def rising_latency(ears: EarTable, readings: list[LevelReadings]) -> list[str]:
    """One line for the series whose wave V gets later as the level rises (`rising_latency_slope` above
    `RISE_MIN_US_PER_DB`).

    Why: wave V shortens with level in every ear; the reverse is what levels in dB attenuation (a larger number is a
    softer stimulus) read as dB nHL give, and then the threshold, call and class are read upside down."""
    found = []
    for e, r in enumerate(readings):
        slope = rising_latency_slope(r)
        if slope > RISE_MIN_US_PER_DB:
            found.append(f"{ears.ear_key[e]} (+{slope:.0f} µs/dB)")
    if not found:
        return []
    return [
        f"{len(found)} series have a wave V latency that grows with level: {_named(found)}. That is not "
        "physiological (wave V shortens as the stimulus gets louder); levels in dB attenuation (a larger number is a "
        "softer stimulus) read as dB nHL give exactly this, and then every threshold and call is read upside down. "
        f"If so, convert the levels to dB (nHL or SPL) or state the unit with {LEVEL_UNIT_HINT}"
    ]


def series_warnings(pred: Predictions, cohort: ABRCohort, ears: EarTable) -> list[str]:
    """Every check of this module on one series reading, in order: failed loud run, sparse levels, rising latency."""
    readings = level_readings(pred, cohort, ears)
    return [
        *failed_loud_runs(ears, readings),
        *sparse_level_brackets(ears, cohort),
        *rising_latency(ears, readings),
    ]
