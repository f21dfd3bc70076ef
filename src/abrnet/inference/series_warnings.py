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

The first and the last can look alike: a series read upside down has no V at its highest numbers (its softest
levels) and a V at its lowest. The wave V latency tells them apart, as it tells an audiologist: over the levels with
a V it shortens with level under a failed loud run and grows under reversed levels. So a series is named by at most
one of the two, the one its latency supports (hunt 15 #6: a reversed series got the failed-run advice, "re-record
those levels"), and by neither where the latency cannot say (a V at levels under 20 dB apart, rising).

Each check below only reads what the series already holds (records' p(V) and V latencies, the series table); none
changes a threshold, call or class. The limits were chosen on simulated cohorts read by the shipped model (seeds
1001–1004 and 2001–2005, fixed and clinical protocol, 4,300 series; with their two loudest levels replaced by noise
or their levels flipped as attenuation would be) so that a physiological series (nearly) never warns, and measured on
others (``abrnet simulate --seed 3001``–``3005``: fixed 0:80:10 300 patients, clinical 300, fixed balanced 150,
clinical balanced 200, fixed 0:80:10 balanced 200; 2,300 series): the failed-run check names 2 (the rule before this
one, a clear V at any one softer level: 7), both ears with a response that the model does not see at their two
loudest levels, and the reversed-levels check 1 (before: 0). With each series' two loudest levels replaced by
band-passed noise (0.2 or 2 µV RMS, hunt 14's electrode off) the first names 1,695 of 2,424 series with a labelled V
at ≥ 2 other levels (70 %; before 77 %); with the levels flipped the second names 1,022 of 1,412 with a labelled V at
≥ 3 levels (72 %; before 58 %), and the failed-run advice reaches 7 of them (before 436). On the README's own
cohorts (seed 101 mixed, 202 fixed balanced, 1,200 series) the first names 2 (before 7), the second none. Each
warning names a few series (`MAX_NAMED`), as the other series warnings do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from abrnet.constants import LEVEL_TOL_DB, WAVES, is_present
from abrnet.data.grouping import group_indices
from abrnet.data.schema import ABRCohort
from abrnet.metrics.clinical import level_means
from abrnet.models.predictions import Predictions
from abrnet.series.per_ear import EarTable, highest_levels

WAVE_V = WAVES.index("V")
MAX_NAMED = 3  # series named in a warning line, then "and N more"

CLEAR_V = 0.9  # a level whose mean p(V) reaches this reads a clear wave V
LOUD_LEVELS = 2  # a failed loud run: this many loudest levels ...
LOUD_ABSENT_V = 0.15  # ... each with a mean p(V) under this (clearly no V, not a borderline record) ...
LOUD_SOFTER_V_LEVELS = 2  # ... under a V (`is_present`) at this many softer levels, one of them clear, ...
V_PERSISTS = 0.5  # ... read at this share (or more) of the levels from the softest with a V up (not scattered)
RISE_MIN_SPAN_DB = 20.0  # a latency–intensity trend needs levels with a V spanning at least this much ...
RISE_MIN_LEVELS = 4  # ... and this many of them (one clear) over the whole series, or
RISE_MIN_CLEAR_LEVELS = 3  # this many clear ones, or `LOUD_SOFTER_V_LEVELS` under a loud end without a V
MIN_CLEAR_SPAN_DB = 10.0  # clear levels spanning this much that shorten with level outvote a rising trend
RISE_MIN_US_PER_DB = 10.0  # latency rising faster than this with level (a normal wave V falls by ~30–40 µs/dB)
MAX_BRACKET_DB = 10.0  # a threshold with more than this untested below it cannot be placed (5/10-dB steps are fine)
LEVEL_UNIT_HINT = '--level-unit "dB attenuation"'


@dataclass
class LevelReadings:
    """One series' records pooled per tested level (K levels, ascending)."""

    levels: np.ndarray  # (K,) dB, ascending
    p_v: np.ndarray  # (K,) mean p(V) of the level's records
    latency_v: np.ndarray  # (K,) mean wave V latency (ms) of the level's records with V present; NaN: none

    def softer(self, k: int) -> LevelReadings:
        """The levels below the `k` loudest."""
        return LevelReadings(self.levels[:-k], self.p_v[:-k], self.latency_v[:-k])

    def with_v(self) -> LevelReadings:
        """The levels that read a wave V (mean p(V) `is_present`) and carry its latency."""
        keep = is_present(self.p_v) & np.isfinite(self.latency_v)
        return LevelReadings(self.levels[keep], self.p_v[keep], self.latency_v[keep])

    def clear(self) -> LevelReadings:
        """The levels that read a clear wave V (mean p(V) ≥ `CLEAR_V`) and carry its latency."""
        keep = (self.p_v >= CLEAR_V) & np.isfinite(self.latency_v)
        return LevelReadings(self.levels[keep], self.p_v[keep], self.latency_v[keep])

    @property
    def n_clear(self) -> int:
        return int(np.count_nonzero(self.p_v >= CLEAR_V))

    @property
    def span_db(self) -> float:
        return float(self.levels[-1] - self.levels[0]) if self.levels.size else 0.0


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


def _verb(n: int, one: str, many: str) -> str:
    return one if n == 1 else many


def _named(keys: list[str]) -> str:
    more = f" and {len(keys) - MAX_NAMED} more" if len(keys) > MAX_NAMED else ""
    return ", ".join(keys[:MAX_NAMED]) + more


def latency_slope(r: LevelReadings) -> float:
    """Wave V latency–intensity slope (µs/dB, least squares) over the levels of `r`; NaN under two levels."""
    if r.levels.size < 2 or r.span_db <= 0:
        return float("nan")
    return float(np.polyfit(r.levels, r.latency_v, 1)[0] * 1000.0)


def silent_loud_end(r: LevelReadings) -> bool:
    """Whether the `LOUD_LEVELS` loudest levels each read clearly no wave V (mean p(V) < `LOUD_ABSENT_V`) with a
    softer level left below them."""
    return r.levels.size > LOUD_LEVELS and bool((r.p_v[-LOUD_LEVELS:] < LOUD_ABSENT_V).all())


def response_levels(r: LevelReadings, min_levels: int, *, up_to_top: bool = False) -> LevelReadings | None:
    """The levels of `r` that read a V (mean p(V) `is_present`, with a latency) where they look like one response:
    ≥ `min_levels` of them, one clear (mean p(V) ≥ `CLEAR_V`), and not scattered: a V at ≥ `V_PERSISTS` of the
    levels of `r` from the softest of them to the loudest (or to the top of `r`: `up_to_top`, a response is there at
    every level above its threshold). A reader misses a V now and then, hence a share, not every level. None where
    they do not.

    Why not scattered: a deaf ear's noise reads a V now and then (seed 1001, 0–100 dB in 5-dB steps, no response
    labelled: p(V) 0.50, 0.70 and 0.94 at 30, 45 and 60 dB, under 0.25 at the other 10 levels from 30 to 90 dB),
    and a V read far below an ear's threshold has no latency of that ear (seed 202, balanced: 0.84 at 40 dB, 6.7 ms,
    under a response at 85–100 dB, 7.6 ms); such levels drew a failed run or a latency "rising" with level."""
    has_v = is_present(r.p_v) & np.isfinite(r.latency_v)  # (K,)
    at = np.flatnonzero(has_v)
    if at.size < min_levels:
        return None
    run = has_v[at[0] :] if up_to_top else has_v[at[0] : at[-1] + 1]
    v = r.with_v()
    return v if v.n_clear >= 1 and run.mean() >= V_PERSISTS else None


def clear_levels_agree(v: LevelReadings) -> bool:
    """False where the clear levels among `v` (≥ 2, spanning ≥ `MIN_CLEAR_SPAN_DB`) shorten with level (slope ≤
    0): a rising trend drawn by borderline levels is not trusted against the levels read best (seed 2001: p(V) 0.52
    at 20 dB, 6.6 ms, under 0.96/1.00 at 70/80 dB, 7.4/7.2 ms, a threshold of 70 dB)."""
    c = v.clear()
    return not (c.levels.size >= 2 and c.span_db >= MIN_CLEAR_SPAN_DB and latency_slope(c) <= 0)


# ------------------------------------------------------------------------------- 1. reversed levels (rising latency)
def rising_latency_slope(r: LevelReadings) -> float:
    """The wave V latency–intensity slope (µs/dB) that says a series' levels are read upside down, or NaN where the
    series holds no such evidence: a trend over levels with a V spanning ≥ `RISE_MIN_SPAN_DB`, read on

    * its levels with a clear V (mean p(V) ≥ `CLEAR_V`), ≥ `RISE_MIN_CLEAR_LEVELS` of them, or
    * its levels with a V (`response_levels`: one response, one level clear), ≥ `RISE_MIN_LEVELS` of them, or
    * under a loud end without a V (`silent_loud_end`), its softer levels with a V (`response_levels`), ≥
      `LOUD_SOFTER_V_LEVELS` of them: a series read upside down has no V at its (really softest) loudest levels,
      so that pattern and a latency growing with level are two readings of one cause,

    the last two where their clear levels agree (`clear_levels_agree`). The largest of the slopes that can be read
    (each > `RISE_MIN_US_PER_DB` says "reversed"). At every level, not only above the threshold as
    ``V_li_slope_us_per_db`` reads: an ear read upside down is often called "no response", which has no
    latency–intensity function in the table. Why more than the clear levels: they alone missed series with two clear
    levels and more borderline ones (hunt 15 #6: p(V) 0.85, 0.66, 0.93, 0.98 at 0–30 dB, +19 µs/dB)."""
    slopes = []
    clear = r.clear()
    if clear.levels.size >= RISE_MIN_CLEAR_LEVELS and clear.span_db >= RISE_MIN_SPAN_DB:
        slopes.append(latency_slope(clear))
    for v in (
        response_levels(r, RISE_MIN_LEVELS),
        response_levels(r.softer(LOUD_LEVELS), LOUD_SOFTER_V_LEVELS) if silent_loud_end(r) else None,
    ):
        if v is not None and v.span_db >= RISE_MIN_SPAN_DB and clear_levels_agree(v):
            slopes.append(latency_slope(v))
    return max(slopes) if slopes else float("nan")


def levels_reversed(r: LevelReadings) -> bool:
    """Whether a series' wave V latency grows with level (`rising_latency_slope` > `RISE_MIN_US_PER_DB`)."""
    return bool(rising_latency_slope(r) > RISE_MIN_US_PER_DB)


def rising_latency(ears: EarTable, readings: list[LevelReadings]) -> list[str]:
    """One line for the series whose wave V gets later as the level rises (`levels_reversed`).

    Why: wave V shortens with level in every ear; the reverse is what levels in dB attenuation (a larger number is a
    softer stimulus) read as dB nHL give, and then the threshold, call and class are read upside down. Such a series
    often reads no V at its loudest levels too (they are its softest): that is said here, as part of the same cause,
    and `failed_loud_runs` leaves the series out, whose advice (re-record the loud runs) would be wrong."""
    found = []
    for e, r in enumerate(readings):
        slope = rising_latency_slope(r)
        if not slope > RISE_MIN_US_PER_DB:
            continue
        silent = f"; no V at {r.levels[-LOUD_LEVELS]:g}–{r.levels[-1]:g} dB" if silent_loud_end(r) else ""
        found.append(f"{ears.ear_key[e]} (+{slope:.0f} µs/dB{silent})")
    if not found:
        return []
    return [
        f"{len(found)} series {_verb(len(found), 'has', 'have')} a wave V latency that grows with level, so "
        f"{_verb(len(found), 'its', 'their')} levels look reversed: "
        f"{_named(found)}. That is not physiological (wave V shortens as the stimulus gets louder); levels in dB "
        "attenuation (a larger number is a softer stimulus) read as dB nHL give exactly this, and then every threshold "
        "and call is read upside down, and no V at the highest numbers is the softest end of the series, not a failed "
        f"loud run. If so, convert the levels to dB (nHL or SPL) or state the unit with {LEVEL_UNIT_HINT}"
    ]


# ------------------------------------------------------------------------------------------------ 2. failed loud run
def failed_loud_run(r: LevelReadings) -> bool:
    """Whether a series reads as a failed loud run: a loud end without a V over a response at softer levels
    (`response_levels`: a V at ≥ `LOUD_SOFTER_V_LEVELS` of them, one clear, seen up to the loud end) whose
    latency does not grow with level (slope ≤ `RISE_MIN_US_PER_DB`), and no sign of reversed levels
    (`levels_reversed`).

    Why this much evidence: one clear V at a single soft level under a silent loud end is what a deaf ear's noise
    gives now and then (seed 1003, 0–80 dB in 10-dB steps, balanced: p(V) 0.93 at 60 dB, under 0.25 everywhere
    else, no response labelled), so the rule asks what an audiologist would before blaming the loud runs: the
    response repeats at a second level and is seen at most levels above its softest one, and its latency runs the
    right way (a wave V shortens as the level rises; a rising one says the levels are reversed, `rising_latency`,
    and one rising over under `RISE_MIN_SPAN_DB` is evidence of neither, so the series is not named here)."""
    v = response_levels(r.softer(LOUD_LEVELS), LOUD_SOFTER_V_LEVELS, up_to_top=True) if silent_loud_end(r) else None
    if v is None or levels_reversed(r):
        return False
    return not latency_slope(v) > RISE_MIN_US_PER_DB


def failed_loud_runs(ears: EarTable, readings: list[LevelReadings]) -> list[str]:
    """One line for the series that read as a failed loud run (`failed_loud_run`).

    Why: a response at 50 dB is there at 80 dB; "none at 80 and 70, clear at 50 and 60" is a failed loud run
    (electrode off, artifact), and the no-response probability and the call are decided at the loudest level, on
    those records. Two loud levels, not one, and a strict "no V": a single loud record of a simulated series misses
    its V now and then (37 of 600 mixed-protocol series read p(V) < 0.5 at the loudest level under a clear V
    softer)."""
    found = []
    for e, r in enumerate(readings):
        if not failed_loud_run(r):
            continue
        softer = r.softer(LOUD_LEVELS)
        at = int(np.argmax(softer.p_v))
        found.append(f"{ears.ear_key[e]} (p(V) {r.p_v[-LOUD_LEVELS:].max():.2f} at {r.levels[-LOUD_LEVELS]:g}–"
                     f"{r.levels[-1]:g} dB, {softer.p_v[at]:.2f} at {softer.levels[at]:g} dB and a V at "
                     f"{softer.with_v().levels.size} softer levels; {ears.response[e]})")  # fmt: skip
    if not found:
        return []
    return [
        f"{len(found)} series {_verb(len(found), 'reads', 'read')} no wave V at {_verb(len(found), 'its', 'their')} "
        f"{LOUD_LEVELS} loudest levels but a V at "
        f"{LOUD_SOFTER_V_LEVELS} or more softer ones (one clear, p(V) ≥ {CLEAR_V:g}, its latency not growing "
        f"with level): {_named(found)}. A response seen at a soft level is there at louder ones, so the loudest "
        "records look like a failed run (electrode off, artifact); the response call and p_no_response rest on them: "
        "check or re-record those levels"
    ]


# ------------------------------------------------------------------------------------------------ 3. sparse levels
def lower_brackets(ears: EarTable, cohort: ABRCohort) -> np.ndarray:
    """(E,) the highest tested level below each series' measured ``threshold_db``: the threshold lies in (this
    level, threshold_db], since a crossing can only be placed at a tested level and nothing between the two says
    where in the gap it is. NaN where there is no such bracket: the threshold is at the lowest level tested
    (nothing tested below it), or above the highest (``threshold_above_max_level``: ``threshold_db`` is a
    placeholder, so "(highest level, placeholder]" would bound a threshold that is only known to be above the
    highest level, which ``threshold_lo_db`` = ``max_level_db`` already says; hunt 15 #8)."""
    level = cohort.static_column("intensity_db").astype(np.float64)  # (N,)
    thr = np.asarray(ears.threshold_db, dtype=np.float64)  # (E,)
    below = level < thr[ears.record_ear] - LEVEL_TOL_DB  # (N,)
    out = np.full(ears.n_ears, -np.inf)
    np.maximum.at(out, ears.record_ear[below], level[below])
    measured = thr <= highest_levels(ears.record_ear, level, ears.n_ears) + LEVEL_TOL_DB  # not the placeholder
    return np.where(np.isfinite(out) & measured, out, np.nan)


def sparse_level_brackets(ears: EarTable, cohort: ABRCohort) -> list[str]:
    """One line for the series whose threshold (a crossing at a tested level) has more than `MAX_BRACKET_DB`
    untested below it while its 90 % interval stops above the gap.

    Why: with 30–50 dB untested, a threshold of 20 dB is read "60 [60, 60]": the interval is drawn on tested levels
    only, so its zero width claims a precision that the grid cannot give."""
    level = cohort.static_column("intensity_db").astype(np.float64)  # (N,)
    top = highest_levels(ears.record_ear, level, ears.n_ears)  # (E,)
    thr, lo = np.asarray(ears.threshold_db, np.float64), np.asarray(ears.threshold_lo_db, np.float64)  # (E,)
    bracket = lower_brackets(ears, cohort)  # (E,) NaN: threshold at the lowest level or above the highest
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
        f"{len(found)} series {_verb(len(found), 'has its', 'have their')} threshold at a tested level with more "
        f"than {MAX_BRACKET_DB:g} dB untested "
        f"below it: {_named(found)}. The threshold lies anywhere in (next softer tested level, threshold], and the "
        "printed 90 % interval does not include that untested gap (series table: threshold_bracket_lo_db); record "
        "the levels in between to place it"
    ]


def series_warnings(pred: Predictions, cohort: ABRCohort, ears: EarTable) -> list[str]:
    """Every check of this module on one series reading, in order: failed loud run, sparse levels, rising latency."""
    readings = level_readings(pred, cohort, ears)
    return [
        *failed_loud_runs(ears, readings),
        *sparse_level_brackets(ears, cohort),
        *rising_latency(ears, readings),
    ]
