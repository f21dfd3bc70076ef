"""Per-ear aggregation on a hand-made 2-ear example, and calibration coverage on synthetic Gaussian data."""

from __future__ import annotations

import numpy as np
import pytest

from abrnet.metrics.calibration import interval_coverage, z_for_level
from abrnet.metrics.task_metrics import compute_metrics
from abrnet.series.per_ear import aggregate_ears
from tests.test_evaluation_toy import flat_predictions, tiny_cohort

NAN = np.nan


def _two_ears() -> tuple:
    # records interleaved on purpose: ear P1/R is record 1, ear P0/L records 0 and 2
    data = tiny_cohort(
        3,
        patient_id=np.array(["P0", "P1", "P0"]),
        ear=np.array(["L", "R", "L"]),
        class_id=np.array([2, 3, 2]),
        threshold_db=np.array([35.0, NAN, 35.0], np.float32),
        no_response=np.array([False, True, False]),
    )
    data.static[:, 1] = [40.0, 70.0, 30.0]
    r1 = np.array([0.6, 0.1, 0.1, 0.1, 0.1])
    r2 = np.full(5, 0.2)
    r3 = np.array([0.05, 0.05, 0.05, 0.8, 0.05])
    pred = flat_predictions(
        3,
        class_prob=np.stack([r1, r3, r2]),
        threshold_db=np.array([30.0, 90.0, 40.0]),
        threshold_sd_db=np.array([5.0, 20.0, 10.0]),
        p_no_response=np.array([0.1, 0.9, 0.3]),
        peak_presence_prob=np.array([[0.5, 0.5, 0.9], [0.1, 0.1, 0.2], [0.5, 0.5, 0.7]]),
    )
    return data, pred, r1, r2, r3


def test_aggregate_two_ears_by_hand() -> None:
    data, pred, r1, r2, r3 = _two_ears()
    ears = aggregate_ears(pred, data)
    assert ears.n_ears == 2
    assert ears.ear_key.tolist() == ["P0/L", "P1/R"]
    assert ears.patient_id.tolist() == ["P0", "P1"]
    assert ears.record_ear.tolist() == [0, 1, 0]
    assert ears.n_records.tolist() == [2, 1]
    # class: normalised geometric mean of the ear's records
    geo = np.sqrt(r1 * r2)
    np.testing.assert_allclose(ears.class_prob[0], geo / geo.sum())
    np.testing.assert_allclose(ears.class_prob[1], r3)
    np.testing.assert_allclose(ears.class_prob.sum(axis=1), 1.0)
    # threshold: the lowest level whose p(V) > 0.5 (30 dB); the ear without one sits above its highest level
    assert ears.threshold_db[0] == pytest.approx(30.0)
    assert ears.threshold_db[1] == pytest.approx(75.0)
    # p(V) 0.7 at 30 dB, 0.9 at 40 dB read as the threshold's distribution function: the 95th percentile is never
    # reached, so the interval is open above (5 dB above the highest level); the SD spreads 0.7 / 0.2 over 30 / 40
    assert ears.threshold_lo_db[0] == pytest.approx(30.0) and ears.threshold_hi_db[0] == pytest.approx(45.0)
    assert ears.threshold_sd_db[0] == pytest.approx(np.sqrt(0.7 * 0.2) / 0.9 * 10.0)
    np.testing.assert_allclose(ears.p_no_response, [0.1, 0.9])  # decided at the ear's highest level (40 dB)
    # truth per ear
    assert ears.true_class.tolist() == [2, 3]
    assert ears.true_threshold_db[0] == pytest.approx(35.0) and np.isnan(ears.true_threshold_db[1])
    assert ears.true_no_response.tolist() == [False, True]
    assert ears.predicted_class.tolist() == [0, 3]
    assert ears.response.tolist() == ["response", "no response"]  # both readings agree on both ears


def test_per_ear_metrics_from_the_two_ears() -> None:
    data, pred, *_ = _two_ears()
    m = compute_metrics(pred, data, split="t", n_bootstrap=0)
    pe = m["per_ear"]
    assert pe["n_ears"] == 2
    assert pe["threshold"]["mae_db"] == pytest.approx(5.0)  # |30 - 35|; the no-response ear is not measurable
    assert pe["threshold"]["within_10_db"] == pytest.approx(1.0)
    assert pe["threshold"]["within_5_db"] == pytest.approx(1.0)  # an error of exactly 5 dB counts as within
    # the design's "threshold R² > 0.5" is read per ear too; one measurable ear has no variance: undefined, said why
    assert pe["threshold"]["r2"] is None and "per_ear.threshold.r2" in m["undefined"]
    assert pe["threshold"]["no_response_f1"] == pytest.approx(1.0)
    # ear P0/L (SNHL) predicted NORMAL, ear P1/R (TOTAL) right: F1 SNHL 0, TOTAL 1 -> macro 0.5
    assert pe["classification"]["macro_f1"] == pytest.approx(0.5)
    assert pe["classification"]["per_class_f1"]["TOTAL"] == pytest.approx(1.0)
    calls = pe["response_calls"]
    assert calls["response"] == {"ears": 1, "share_no_response": 0.0}
    assert calls["no response"] == {"ears": 1, "share_no_response": 1.0}
    assert calls["uncertain"] == {"ears": 0, "share_no_response": None}


def test_disagreeing_readings_are_called_uncertain() -> None:
    """A crossing at a tested level beside P(no response) > 0.5, and no crossing beside P(no response) <= 0.5, are
    both "uncertain": the report must not print a threshold and a likely no-response side by side as if they agreed."""
    data, pred, *_ = _two_ears()
    pred.p_no_response[:] = [0.8, 0.2, 0.3]  # ear P0/L crosses at 30 dB but its loudest record says no response
    ears = aggregate_ears(pred, data)
    assert ears.threshold_db[0] == pytest.approx(30.0) and ears.p_no_response[0] == pytest.approx(0.8)
    assert ears.threshold_db[1] == pytest.approx(75.0) and ears.p_no_response[1] == pytest.approx(0.2)
    assert ears.response.tolist() == ["uncertain", "uncertain"]
    calls = compute_metrics(pred, data, split="t", n_bootstrap=0)["per_ear"]["response_calls"]
    assert calls["uncertain"] == {"ears": 2, "share_no_response": 0.5}


def test_geometric_pooling_lets_a_confident_record_veto() -> None:
    data = tiny_cohort(2, patient_id=np.array(["P0", "P0"]), class_id=np.array([1, 1]))
    prob = np.array([[0.5, 0.5, 0.0, 0.0, 0.0], [0.98, 0.0001, 0.0199, 0.0, 0.0]])
    ears = aggregate_ears(flat_predictions(2, class_prob=prob), data)
    assert ears.predicted_class.tolist() == [0]  # arithmetic mean would also say 0, but:
    assert ears.class_prob[0, 1] < 0.05  # class 1 nearly ruled out by the second record
    assert np.all(np.isfinite(ears.class_prob))  # hard zeros do not produce NaN


def test_calibration_coverage_on_gaussian_data() -> None:
    rng = np.random.default_rng(0)
    n = 20_000
    mean = rng.normal(5.0, 1.0, n)
    sd = rng.uniform(0.05, 0.5, n)
    truth = mean + sd * rng.standard_normal(n)
    assert z_for_level(0.90) == pytest.approx(1.645, abs=1e-3)
    assert interval_coverage(truth, mean, sd) == pytest.approx(0.90, abs=0.01)
    assert interval_coverage(truth, mean, sd / 2) == pytest.approx(0.59, abs=0.02)  # over-confident: P(|z| < 0.82)
    truth_with_gaps = truth.copy()
    truth_with_gaps[::2] = NAN
    assert interval_coverage(truth_with_gaps, mean, sd) == pytest.approx(0.90, abs=0.015)
    assert interval_coverage(np.full(3, NAN), mean[:3], sd[:3]) is None


def test_calibration_in_compute_metrics() -> None:
    rng = np.random.default_rng(1)
    n = 4000
    lat = np.full((n, 3), NAN, np.float32)
    lat[:, 2] = rng.uniform(5.0, 7.0, n)
    thr = rng.uniform(0, 80, n).astype(np.float32)
    lat_sd = np.full((n, 3), 0.1)
    pred_lat = np.where(np.isfinite(lat), lat, 3.0) + rng.standard_normal((n, 3)) * lat_sd
    pred = flat_predictions(
        n,
        latency_ms=pred_lat,
        latency_sd_ms=lat_sd,
        threshold_db=thr + rng.normal(0, 5.0, n),
        threshold_sd_db=np.full(n, 5.0),
    )
    m = compute_metrics(pred, tiny_cohort(n, latency_ms=lat, threshold_db=thr), split="t", n_bootstrap=0)
    cal = m["calibration"]
    assert cal["latency_V_90"] == pytest.approx(0.90, abs=0.02)
    assert cal["threshold_90"] == pytest.approx(0.90, abs=0.02)
    assert cal["latency_I_90"] is None and "calibration.latency_I_90" in m["undefined"]


def test_series_threshold_ignores_a_lone_false_positive_far_below() -> None:
    from abrnet.series.per_ear import isotonic_increasing, presence_cdfs, threshold_from_cdfs

    levels = np.arange(0.0, 101.0, 10.0)
    p_v = np.array([0.1, 0.6, 0.1, 0.1, 0.2, 0.3, 0.8, 0.9, 0.95, 0.97, 0.99])  # a 0.6 at 10 dB, V from 60 dB
    point, lo, hi, _ = threshold_from_cdfs(presence_cdfs(np.zeros(11, int), levels, p_v), 1, (0.05, 0.95))
    assert point[0] == 60.0  # the lowest level with p > 0.5 alone would say 10 dB
    assert lo[0] == 0.0 and hi[0] == 90.0  # F passes 0.05 at once, 0.95 at 90 dB (0.97)
    fit = isotonic_increasing(p_v, np.ones(11))
    assert np.all(np.diff(fit) >= 0) and fit.sum() == pytest.approx(p_v.sum())
