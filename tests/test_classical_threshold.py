"""Classical per-ear threshold detectors (ABRpresto-style split-buffer correlation, Fmp criterion, adjacent levels)."""

from __future__ import annotations

import numpy as np
import pytest

from abrnet.data.simulate import SimulationConfig, simulate_cohort
from abrnet.evaluation.classical_threshold import (
    DETECTORS,
    NO_EVIDENCE,
    adjacent_level_correlation,
    classical_threshold_baselines,
    ear_thresholds,
    split_buffer_correlation,
)
from abrnet.evaluation.report import comparison_rows
from abrnet.evaluation.trivial_baselines import trivial_baselines


@pytest.fixture(scope="module")
def cohorts() -> tuple:
    train = simulate_cohort(SimulationConfig(n_patients=60, balanced=True, protocol="mixed"), seed=1)
    levels = tuple(float(x) for x in range(0, 101, 10))
    fixed = simulate_cohort(SimulationConfig(n_patients=60, balanced=True, protocol="fixed", fixed_levels_db=levels), 2)
    return train, fixed


def test_detectors_read_the_waveform_on_a_fixed_grid(cohorts) -> None:
    """Where the levels say nothing, each detector still beats the training prior: it reads the recordings."""
    train, fixed = cohorts
    out = classical_threshold_baselines(train, fixed)
    prior = trivial_baselines(train, fixed)["prior"]
    assert set(out) == set(DETECTORS)
    for name in DETECTORS:
        b = out[name]
        assert b["ear_threshold_within_10_db"] > prior["ear_threshold_within_10_db"] + 0.1, name
        assert b["ear_threshold_mae_db"] < prior["ear_threshold_mae_db"], name
        assert b["ear_no_response_f1"] > 0.3, name  # prior's is 0: it never calls a no-response
        assert "ear_class_macro_f1" not in b


def test_criterion_comes_from_the_training_ears_only(cohorts) -> None:
    train, fixed = cohorts
    a = classical_threshold_baselines(train, fixed)
    b = classical_threshold_baselines(train, fixed.subset(np.arange(fixed.n_records // 2)))
    assert all(a[k]["criterion"] == b[k]["criterion"] for k in DETECTORS)
    c = classical_threshold_baselines(fixed, fixed)  # fitted on other ears: another criterion
    assert any(a[k]["criterion"] != c[k]["criterion"] for k in DETECTORS)


def test_without_buffers_or_fmp_only_the_adjacent_level_detector_runs(cohorts) -> None:
    train, fixed = cohorts
    bare = fixed.subset(np.arange(fixed.n_records))
    bare.buffers = None
    bare.static[:, 3] = np.nan
    out = classical_threshold_baselines(train, bare)
    assert "split buffers" in out["split_buffer_correlation"]["skipped"]
    assert "evaluated records" in out["fmp_criterion"]["skipped"]
    assert out["adjacent_level_correlation"]["ear_threshold_mae_db"] > 0
    assert split_buffer_correlation(bare) is None


def test_adjacent_level_correlation_follows_a_response_down_the_series(cohorts) -> None:
    """A response that repeats (later) at the next softer level correlates; its own noise (A − B)/2 does not."""
    _, fixed = cohorts
    ear = fixed.subset(fixed.ear_key == fixed.ear_key[np.argmax(np.nan_to_num(fixed.latency_ms[:, 2]) > 0)])
    has_v = np.isfinite(ear.latency_ms[:, 2])
    r = adjacent_level_correlation(ear)
    noise = ear.subset(np.arange(ear.n_records))
    noise.signals = ((ear.buffers[:, 0] - ear.buffers[:, 1]) / 2.0).astype(np.float32)
    assert r[has_v].mean() > 0.5 and r[has_v].mean() > adjacent_level_correlation(noise)[has_v].mean() + 0.3
    one = ear.subset(np.array([0]))  # a single record: nothing to compare with
    assert adjacent_level_correlation(one)[0] == NO_EVIDENCE


def test_ear_thresholds_read_the_lowest_passing_level_and_call_no_response_above_the_top() -> None:
    from tests.conftest import make_toy_cohort

    toy = make_toy_cohort(n_patients=2, levels=(80, 60, 40, 20))  # levels per ear, every ear the same
    level = toy.static[:, 1].astype(np.float64)
    statistic = np.where(level >= 60, 1.0, 0.0)
    statistic[toy.ear_key == toy.ear_key[0]] = 0.0  # the first ear never passes
    thr, nr = ear_thresholds(toy, statistic, 0.5)
    first = np.unique(toy.ear_key) == toy.ear_key[0]
    assert np.all(thr[first] == 85.0) and np.all(nr[first])
    assert np.all(thr[~first] == 60.0) and not nr[~first].any()


def test_report_puts_the_detectors_beside_the_network(cohorts) -> None:
    train, fixed = cohorts
    baselines = trivial_baselines(train, fixed) | classical_threshold_baselines(train, fixed)
    metrics = {"headline": {"network": {"ear_threshold_mae_db": 5.0}}, "baselines": baselines}
    (row,) = [r for r in comparison_rows(metrics) if r[1] == "threshold MAE per ear, dB"]
    assert row[2] == "5" and all(name in row[3] for name in ("levels_only", "prior", *DETECTORS))
    # the fixed-protocol section carries its own bootstrap intervals: the network's cell shows them
    metrics["fixed_protocol"] = {**metrics, "intervals": {"per_ear.threshold.mae_db": [4.25, 6.5]}}
    rows = [r for r in comparison_rows(metrics) if r[1] == "threshold MAE per ear, dB"]
    assert [r[2] for r in rows] == ["5", "5 [4.25, 6.5]"]
    assert rows[1][0].startswith("fixed protocol")


def test_unlabelled_recordings_get_no_scores_rather_than_zeros(cohorts) -> None:
    """A user's file without thresholds: every per-ear figure is None (not an F1 of 0 that reads as a failure)."""
    train, fixed = cohorts
    bare = fixed.subset(np.arange(fixed.n_records))
    bare.threshold_db[:] = np.nan
    bare.no_response[:] = False
    out = classical_threshold_baselines(train, bare)
    for name in DETECTORS:
        assert out[name]["ear_threshold_mae_db"] is None and out[name]["ear_no_response_f1"] is None
    assert trivial_baselines(train, bare)["levels_only"]["ear_no_response_f1"] is None
