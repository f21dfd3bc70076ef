"""Series that contradict themselves or cannot support their reading get a warning (hunt 14 items 6–8): a failed
loud run under a wave V seen at two softer levels, a threshold above an untested gap, a wave V latency that grows
with level (levels in dB attenuation read as dB nHL, said instead of the failed-run advice; hunt 15 #6). Each fires
on a constructed case and stays silent on physiological simulated series; none changes a reading."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from scipy.signal import butter, sosfiltfilt

import abrnet
from abrnet.constants import CLASS_NAMES, WAVES
from abrnet.data.schema import ABRCohort
from abrnet.data.simulate import SimulationConfig, simulate_cohort
from abrnet.inference.result_tables import series_columns
from abrnet.inference.series_warnings import (
    CLEAR_V,
    LEVEL_UNIT_HINT,
    MAX_NAMED,
    LevelReadings,
    failed_loud_run,
    failed_loud_runs,
    level_readings,
    levels_reversed,
    lower_brackets,
    rising_latency,
    series_warnings,
    sparse_level_brackets,
)
from abrnet.models.predictions import Predictions
from abrnet.series.per_ear import aggregate_ears
from tests.conftest import make_toy_cohort

V = WAVES.index("V")


def _fake_pred(p_v: np.ndarray, latency_v: np.ndarray) -> Predictions:
    """Predictions with the given p(V) and V latency per record (N,); the other outputs neutral."""
    n = p_v.shape[0]
    lat = np.tile(np.array([1.6, 3.8, 0.0], np.float32), (n, 1))
    lat[:, V] = latency_v
    presence = np.full((n, len(WAVES)), 0.05, np.float32)
    presence[:, V] = p_v
    ones = np.ones((n, len(WAVES)), np.float32)
    return Predictions(
        peak_presence_prob=presence,
        latency_ms=lat,
        latency_sd_ms=0.1 * ones,
        amplitude_uv=0.2 * ones,
        amplitude_sd_uv=0.05 * ones,
        class_prob=np.full((n, len(CLASS_NAMES)), 1.0 / len(CLASS_NAMES), np.float32),
        threshold_db=np.full(n, 30.0, np.float32),
        threshold_sd_db=np.full(n, 5.0, np.float32),
        p_no_response=np.full(n, 0.1, np.float32),
    ).validate(n)


def _normal_latency(level: np.ndarray) -> np.ndarray:
    return (5.6 + 2.0 * np.exp(-np.asarray(level, np.float64) / 30.0)).astype(np.float32)


def _toy(levels: tuple[int, ...], n_patients: int = 4) -> tuple[ABRCohort, np.ndarray, list[str]]:
    cohort = make_toy_cohort(n_patients=n_patients, levels=levels)
    keys = cohort.ear_key.astype(str)
    return cohort, cohort.static_column("intensity_db").astype(np.float64), list(dict.fromkeys(keys.tolist()))


def _read(cohort: ABRCohort, p_v: np.ndarray, latency_v: np.ndarray) -> list[str]:
    pred = _fake_pred(p_v.astype(np.float32), latency_v.astype(np.float32))
    return series_warnings(pred, cohort, aggregate_ears(pred, cohort))


def _truth_pred(cohort: ABRCohort) -> Predictions:
    """What a perfect reader says of a simulated cohort: a clear V (0.97) at its labelled latency where the
    simulator labels a visible one, an unsure one (0.6) where the response is there but not labelled visible (the
    loudest runs of some series), none (0.03) where there is no response. The unsure V is read on the ear's own
    latency–intensity function (`_normal_latency` moved to the ear's labelled latencies): a made-up latency there
    would put a trend into the series that no reader sees."""
    lat_v = np.asarray(cohort.latency_ms, np.float64)[:, V]
    visible = np.isfinite(lat_v)
    present = np.asarray(cohort.extras["v_present"], bool)
    p_v = np.where(visible, 0.97, np.where(present, 0.6, 0.03))
    normal = _normal_latency(cohort.static[:, 1]).astype(np.float64)
    keys = cohort.ear_key.astype(str)
    offset = np.zeros(cohort.n_records)
    for key in np.unique(keys[visible]):
        rows = keys == key
        offset[rows] = np.median((lat_v - normal)[rows & visible])
    return _fake_pred(p_v, np.where(visible, lat_v, normal + offset))


# ------------------------------------------------------------------------------------------------ 1. failed loud run
def test_no_wave_v_at_the_loudest_levels_under_a_clear_one_softer_is_named() -> None:
    """Ear 0: noise at 80/70 dB (p(V) 0.1), a clear V at 60–40 dB → named, with its call; ear 1: the same V at every
    level → not named; ear 2: only its single loudest record reads no V (a noisy record, as simulated series have)
    → not named; the rest respond normally."""
    cohort, level, ears = _toy((80, 70, 60, 50, 40, 30, 20, 10))
    keys = cohort.ear_key.astype(str)
    p_v = np.where(level >= 40, 0.97, 0.05)
    p_v[(keys == ears[0]) & (level >= 70)] = 0.1
    p_v[(keys == ears[2]) & (level == 80)] = 0.2
    (line,) = _read(cohort, p_v, _normal_latency(level))
    assert ears[0] in line and "failed run" in line and "electrode off" in line, line
    assert f"{ears[1]} (" not in line and f"{ears[2]} (" not in line, line
    assert line.startswith("1 series"), line


def test_failed_loud_run_names_a_few_then_counts_the_rest() -> None:
    cohort, level, ears = _toy((80, 70, 60, 50, 40), n_patients=4)
    p_v = np.where(level >= 70, 0.05, 0.95)
    pred = _fake_pred(p_v.astype(np.float32), _normal_latency(level))
    table = aggregate_ears(pred, cohort)
    (line,) = failed_loud_runs(table, level_readings(pred, cohort, table))
    assert line.startswith(f"{len(ears)} series") and f"and {len(ears) - MAX_NAMED} more" in line, line


def _levels(p_v: list[float], latency_v: list[float], levels: tuple[float, ...] = tuple(range(0, 81, 10))):
    return LevelReadings(np.asarray(levels, float), np.asarray(p_v, float), np.asarray(latency_v, float))


def test_one_clear_v_at_a_single_soft_level_is_no_failed_loud_run() -> None:
    """A deaf ear whose noise reads one clear V at one soft level (the simulated false alarms of the old rule: p(V)
    0.93 at 60 dB, under 0.25 elsewhere, no response labelled) is not named; the same ear with a V at a second
    softer level, its latency shortening with level, is."""
    nan = np.nan
    lone = _levels([0.01, 0.08, 0.02, 0.22, 0.12, 0.03, 0.93, 0.04, 0.04], [nan] * 6 + [7.29, nan, nan])
    assert not failed_loud_run(lone)
    second = _levels([0.01, 0.08, 0.02, 0.22, 0.12, 0.71, 0.93, 0.04, 0.04], [nan] * 5 + [7.6, 7.29, nan, nan])
    assert failed_loud_run(second) and not levels_reversed(second)
    cohort, level, ears = _toy((80, 70, 60, 50, 40, 30, 20, 10))
    keys = cohort.ear_key.astype(str)
    p_v = np.where(level <= 30, 0.03, np.where(level == 60, 0.93, 0.05))  # every ear: one clear V at 60 dB only
    p_v[(keys == ears[1]) & (level == 50)] = 0.7  # ear 1: a V at 50 dB too, later than at 60 dB
    (line,) = [w for w in _read(cohort, p_v, _normal_latency(level)) if "failed run" in w]
    assert line.startswith("1 series") and f"{ears[1]} (" in line and f"{ears[0]} (" not in line, line


def test_a_v_scattered_over_a_deaf_ear_is_neither_a_failed_run_nor_reversed_levels() -> None:
    """Noise of deaf ears on a 0–100 dB grid in 5-dB steps (tuning seed 1001, no response labelled): a V at 30, 45
    and 60 dB with a falling latency, or at 70 and 90 dB with a rising one, and none at the levels between them.
    A response would be there at (most of) the levels above its softest V, so neither is named. Nor is a trend
    drawn by borderline V's against the clear levels of a response."""
    nan = np.nan
    levels = tuple(range(0, 101, 5))
    p_v, lat = np.full(21, 0.05), np.full(21, nan)
    p_v[[6, 9, 12]], lat[[6, 9, 12]] = [0.50, 0.70, 0.94], [9.01, 8.11, 7.37]
    falling = _levels(list(p_v), list(lat), levels)
    assert not failed_loud_run(falling) and not levels_reversed(falling)
    p_v, lat = np.full(21, 0.05), np.full(21, nan)
    p_v[[14, 18]], lat[[14, 18]] = [0.94, 0.77], [6.39, 7.17]
    rising = _levels(list(p_v), list(lat), levels)
    assert not failed_loud_run(rising) and not levels_reversed(rising)
    p_v[15:18], lat[15:18] = 0.8, [6.5, 6.7, 6.9]  # the same V at every level from 70 to 90 dB: one response
    assert levels_reversed(_levels(list(p_v), list(lat), levels))
    nan = np.nan  # seed 2001, threshold 70 dB: borderline V's far below it, earlier than its clear V at 70/80 dB
    below = _levels(
        [0.02, 0.22, 0.52, 0.18, 0.05, 0.50, 0.36, 0.96, 1.0], [nan, nan, 6.55, nan, nan, 8.19, nan, 7.43, 7.24]
    )
    assert not levels_reversed(below)  # the clear levels shorten with level: the borderline ones draw no trend


def test_a_silent_loud_end_over_a_latency_rising_with_level_reads_as_reversed_levels_not_a_failed_run() -> None:
    """Hunt 15 #6 (SIM000001/R, levels 80 − L): no V at the highest numbers and a V at the lowest ones is what a
    reversed series looks like, and its latency then grows with level. It is named once, by the reversed-levels
    warning that says so, and left out of the failed-run advice (re-record the loud runs), which would be wrong."""
    nan = np.nan
    p_v = [0.95, 0.94, 0.37, 0.05, 0.92, 0.02, 0.18, 0.04, 0.05]  # as read, levels 0–80 dB
    reversed_ = _levels(p_v, [6.96, 7.26, nan, nan, 8.81] + [nan] * 4)
    assert levels_reversed(reversed_) and not failed_loud_run(reversed_)
    two = _levels([0.05] * 5 + [0.97, 0.8, 0.05, 0.05], [nan] * 5 + [6.4, 7.3, nan, nan])  # a V at 50 and 60 dB
    assert not levels_reversed(two)  # a 10-dB span is too short to read a trend ...
    assert not failed_loud_run(two)  # ... but a latency growing over it is no evidence of a failed run either
    falling = replace(two, latency_v=np.array([nan] * 5 + [7.3, 6.4, nan, nan]))
    assert failed_loud_run(falling) and not levels_reversed(falling)

    cohort, level, ears = _toy((80, 70, 60, 50, 40, 30, 20, 10, 0))
    as_attenuation = replace(cohort, static=cohort.static.copy())
    as_attenuation.static[:, 1] = 80.0 - level  # the true level 80 − L is written as L
    p_v = np.where(level >= 40, 0.97, 0.03)  # a V at true 40–80 dB: read at 0–40 dB, none at 50–80 dB
    adult = 5.07 + 4.35 * np.exp(-level / 37.2)  # the adult wave V latency of the true level (−24 µs/dB here)
    lines = _read(as_attenuation, p_v, adult)
    assert not [w for w in lines if "failed run" in w], lines
    (line,) = [w for w in lines if "grows with level" in w]
    assert "look reversed" in line and "not a failed loud run" in line and LEVEL_UNIT_HINT in line, line
    assert f"{ears[0]} (+" in line and "no V at 70–80 dB" in line, line


def test_hunt15_attenuation_series_with_two_clear_levels_is_named() -> None:
    """Hunt 15 #6, SIM000008/R (levels 80 − L): p(V) 0.85, 0.66, 0.93, 0.98 at 0–30 dB with a latency rising
    +19 µs/dB and no V above. Two clear levels only, so the old three-clear-level rule said nothing; four levels
    with a V (one clear) spanning 30 dB are enough."""
    nan = np.nan
    r = _levels([0.85, 0.66, 0.93, 0.98, 0.06, 0.23, 0.31, 0.08, 0.17], [5.66, 5.50, 6.00, 6.11] + [nan] * 5)
    assert levels_reversed(r) and not failed_loud_run(r)
    physiological = replace(r, latency_v=np.array([6.11, 6.00, 5.66, 5.50] + [nan] * 5))  # falling: no trend up
    assert not levels_reversed(physiological)


# ------------------------------------------------------------------------------------------------ 2. sparse levels
def test_a_threshold_above_an_untested_gap_is_bracketed_and_warned() -> None:
    """Levels 80, 60, 20 dB (30–50 untested): a V at 80 and 60 dB puts the threshold at 60 dB with 40 dB untested
    below it → warned, and the series table's bracket says 20 dB. A 10-dB grid (80, 70, ..., 20) with the same V
    → no warning, bracket 50 dB."""
    cohort, level, ears = _toy((80, 60, 20))
    p_v = np.where(level >= 60, 0.97, 0.03)
    lines = _read(cohort, p_v, _normal_latency(level))
    (line,) = [w for w in lines if "untested" in w]
    assert f"{ears[0]} (60 dB, next softer tested level 20 dB)" in line and "90 % interval" in line, line
    ears_table = aggregate_ears(_fake_pred(p_v.astype(np.float32), _normal_latency(level)), cohort)
    assert ears_table.threshold_db[0] == 60.0 and ears_table.threshold_lo_db[0] == 60.0  # the reading is unchanged
    np.testing.assert_array_equal(series_columns(ears_table, cohort)["threshold_bracket_lo_db"], 20.0)

    dense, level_d, _ = _toy((80, 70, 60, 50, 40, 30, 20))
    p_d = np.where(level_d >= 60, 0.97, 0.03)
    assert not [w for w in _read(dense, p_d, _normal_latency(level_d)) if "untested" in w]
    ears_d = aggregate_ears(_fake_pred(p_d.astype(np.float32), _normal_latency(level_d)), dense)
    np.testing.assert_array_equal(lower_brackets(ears_d, dense), 50.0)


def test_bracket_is_empty_at_the_softest_level_and_above_the_highest_level() -> None:
    """A V at every level: the threshold is the softest level, nothing tested below it (NaN). No V anywhere: the
    threshold is only known to be above the highest level, and ``threshold_db`` is a placeholder (highest + 5 dB);
    a bracket of 80 dB would read "(80, 85]" by the documented meaning (hunt 15 #8), so it is empty too (the
    series table says "above 80" with ``threshold_lo_db`` = ``max_level_db``). Neither is a gap to warn about."""
    cohort, level, ears = _toy((80, 40))
    keys = cohort.ear_key.astype(str)
    p_v = np.where(keys == ears[0], 0.97, 0.03)
    table = aggregate_ears(_fake_pred(p_v.astype(np.float32), _normal_latency(level)), cohort)
    assert table.threshold_db[1] > 80.0  # the placeholder
    bracket = lower_brackets(table, cohort)
    assert np.isnan(bracket[0]) and np.isnan(bracket[1])
    cols = series_columns(table, cohort)
    assert cols["threshold_above_max_level"][1] and np.isnan(cols["threshold_bracket_lo_db"][1])
    assert cols["threshold_lo_db"][1] == 80.0  # the lower end the bracket would have repeated
    assert sparse_level_brackets(table, cohort) == []


# ------------------------------------------------------------------------------------------------ 3. rising latency
def test_latency_growing_with_level_is_named_with_the_level_unit_hint() -> None:
    """Levels written as attenuation (100 − dB nHL) and read as dB nHL: the normal latency–intensity function runs
    backwards, and the series is named with the --level-unit spelling the CLI accepts."""
    cohort, level, ears = _toy((80, 70, 60, 50, 40, 30, 20))
    p_v = np.full(level.shape, 0.97)
    as_attenuation = replace(cohort, static=cohort.static.copy())
    as_attenuation.static[:, 1] = 100.0 - level
    lines = _read(as_attenuation, p_v, _normal_latency(level))  # latency of the true level, read at 100 − level
    (line,) = [w for w in lines if "grows with level" in w]
    assert ears[0] in line and LEVEL_UNIT_HINT in line and "dB attenuation" in line, line
    assert not [w for w in _read(cohort, p_v, _normal_latency(level)) if "grows with level" in w]


def test_level_unit_hint_is_the_spelling_the_cli_accepts() -> None:
    from abrnet.data.metadata import DB_ATTENUATION

    assert f'--level-unit "{DB_ATTENUATION}"' == LEVEL_UNIT_HINT


def test_a_flat_or_two_level_latency_is_no_trend() -> None:
    """Two clear levels, or clear levels spanning under 20 dB, are too few to call a trend."""
    cohort, level, _ = _toy((80, 40))
    ears = aggregate_ears(_fake_pred(np.full(level.shape, 0.97, np.float32), 5.0 + level / 100.0), cohort)
    readings = level_readings(_fake_pred(np.full(level.shape, 0.97, np.float32), 5.0 + level / 100.0), cohort, ears)
    assert rising_latency(ears, readings) == []


# ------------------------------------------------------------------------------------------------ simulated cohorts
@pytest.mark.parametrize("protocol", ["mixed", "fixed"])
def test_physiological_simulated_series_get_no_warning(protocol: str) -> None:
    """The simulator's own series read perfectly (`_truth_pred`): no failed run, no gap, no rising latency."""
    cohort = simulate_cohort(SimulationConfig(n_patients=40, balanced=protocol == "fixed", protocol=protocol), seed=3)
    pred = _truth_pred(cohort)
    assert series_warnings(pred, cohort, aggregate_ears(pred, cohort)) == []


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_the_shipped_model_warns_on_a_failed_loud_run_and_not_on_the_cohort_as_simulated() -> None:
    """End to end through `ABRModel.predict(series=True)`: a fixed-protocol cohort as simulated gets none of these
    warnings; with its 80/70 dB records replaced by band-passed noise (an electrode off at the loud runs, hunt 14
    #6) the hearing ears with a clear V softer are named, and the readings are those of `aggregate_ears`."""
    model = abrnet.load()
    levels = tuple(float(x) for x in range(20, 81, 10))
    cohort = simulate_cohort(SimulationConfig(n_patients=4, balanced=True, protocol="fixed", fixed_levels_db=levels), 7)
    clean = model.predict(cohort, series=True)
    marks = ("failed run", "untested below it", "grows with level")
    assert not [w for w in clean.warnings if any(m in w for m in marks)], clean.warnings
    loud = cohort.static[:, 1] >= 70
    signals = cohort.signals.copy()
    sos = butter(2, [100, 3000], btype="band", fs=20000, output="sos")
    noise = sosfiltfilt(sos, np.random.default_rng(0).standard_normal((int(loud.sum()), 600)), axis=1)[:, 200:400]
    signals[loud] = 0.2 * noise / noise.std(axis=1, keepdims=True)  # 0.2 µV RMS, no wave (the hunt's electrode off)
    broken = replace(cohort, signals=signals, buffers=None)
    report = model.predict(broken, series=True)
    (line,) = [w for w in report.warnings if "failed run" in w]
    pred = report.predictions
    p_v = pred.peak_presence_prob[:, V]
    named = [str(k) for k in np.unique(broken.ear_key) if f"{k} (" in line]
    assert named, line
    for key in named:  # each named ear reads a clear V at a softer level and none at its loudest
        rows = broken.ear_key.astype(str) == key
        assert p_v[rows & ~loud].max() >= CLEAR_V
    np.testing.assert_array_equal(
        report.ears.threshold_db, aggregate_ears(pred, broken, model.loaded.series_model).threshold_db
    )
