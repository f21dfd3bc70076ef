"""Series-informed latencies/amplitudes: the leave-one-out neighbour fit and the fitted blend."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import r2_score

from abrnet.metrics.task_metrics import compute_metrics
from abrnet.series.classifier import SeriesClassifier, fit_series_classifier
from abrnet.series.peaks import apply_peak_blend, fit_peak_blend, neighbour_estimate
from tests.test_evaluation_toy import make_cohort, noisy_predictions


def test_neighbour_estimate_follows_a_line_leaves_one_out_and_keeps_ears_apart() -> None:
    level = np.array([100, 90, 80, 70, 60, 50, 40, 80.0, 60.0])
    ear = np.array([0, 0, 0, 0, 0, 0, 0, 1, 1])
    line = 5.5 + 0.03 * (100 - level)  # a latency–intensity line (ms)
    value = np.where(ear == 0, line, 9.0)  # ear 1 sits far from ear 0's line
    w = np.ones_like(value)
    w[8] = 0.0  # ear 1's second record is "wave absent": the first has no neighbour
    est, var = neighbour_estimate(value, np.full(9, 0.01), w, level, ear)
    assert np.all(np.abs(est[:7] - line[:7]) < 0.01)  # local-linear: a line is followed to its ends
    assert var[0] > var[3]  # extrapolating past the loudest level is less certain than interpolating
    assert np.isnan(est[7]) and np.isinf(var[7])  # no weighted neighbour in its ear
    assert est[8] == pytest.approx(9.0)  # ear 0 never leaks into ear 1
    assert np.all(np.isfinite(est[:7])) and np.all(var[:7] > 0)
    outlier = value.copy()
    outlier[3] += 1.0  # the 70 dB record's own value never enters its own estimate
    est_out, _ = neighbour_estimate(outlier, np.full(9, 0.01), w, level, ear)
    assert est_out[3] == est[3]
    assert est_out[2] > est[2]  # but it does enter its neighbours'


def test_blend_beats_the_record_alone_when_its_series_carries_information() -> None:
    """Noisy per-record estimates of a smooth level function: the series blend must lower the error."""
    fit_data, test_data = (
        make_cohort(60, levels=(90.0, 80.0, 70.0, 60.0, 50.0, 40.0), seed=3),
        make_cohort(40, levels=(90.0, 80.0, 70.0, 60.0, 50.0, 40.0), seed=4),
    )
    blend = fit_peak_blend(noisy_predictions(fit_data, noise=1.5, seed=5), fit_data)
    assert {"latency_V", "amplitude_V"} <= set(blend)
    pred = noisy_predictions(test_data, noise=1.5, seed=6)
    series = apply_peak_blend(pred, test_data, blend)
    for name in ("latency_ms", "amplitude_uv"):
        y = getattr(test_data, name)[:, 2]
        m = np.isfinite(y)
        alone = r2_score(y[m], getattr(pred, name)[m, 2])
        with_series = r2_score(y[m], getattr(series, name)[m, 2])
        assert with_series > alone + 0.05, (name, alone, with_series)
    assert np.array_equal(series.class_prob, pred.class_prob)  # nothing else changes


def test_series_classifier_carries_the_blend_into_metrics_and_back() -> None:
    data = make_cohort(50, levels=(90.0, 80.0, 70.0, 60.0, 50.0, 40.0), seed=7)
    pred = noisy_predictions(data, noise=1.5, seed=8)
    model = SeriesClassifier.from_dict(fit_series_classifier(pred, data, source="toy").to_dict())
    assert model.peak_blend is not None and "latency_V" in model.peak_blend
    m = compute_metrics(pred, data, split="t", n_bootstrap=20, series_model=model)
    assert m["peaks_series"]["V"]["latency_r2"] > m["peaks"]["V"]["latency_r2"]
    assert m["intervals"]["peaks_series.V.latency_r2"] is not None
    assert "peaks_series" not in compute_metrics(pred, data, split="t", n_bootstrap=0)  # no series model, no section


def test_ear_factor_reads_a_constant_multiple_of_the_population_curve_from_the_other_levels() -> None:
    """An ear whose wave V is twice the population's at every level: each record's estimate from its *other*
    records is twice the curve at its own level (amplitudes multiply; latencies would shift)."""
    from abrnet.series.peaks import ear_factor_estimate
    from tests.test_evaluation_toy import flat_predictions, tiny_cohort

    level = np.array([80.0, 60.0, 40.0, 80.0, 60.0])
    curve = ([40.0, 60.0, 80.0], [0.1, 0.2, 0.3])
    amp = np.zeros((5, 3))
    amp[:3, 2] = 2 * np.interp(level[:3], *curve)
    amp[3:, 2] = 0.5 * np.interp(level[3:], *curve)
    amp[0, 2] = 5.0  # an outlier never enters its own estimate
    static = np.column_stack([np.full(5, 30.0), level, np.full(5, 21.1), np.full(5, 2.0)]).astype(np.float32)
    data = tiny_cohort(5, static=static, patient_id=np.array(["a", "a", "a", "b", "b"]), ear=np.array(["L"] * 5))
    pred = flat_predictions(5, amplitude_uv=amp, peak_presence_prob=np.full((5, 3), 0.9))
    est, support = ear_factor_estimate(pred, data, "amplitude", "V", curve)
    assert est[0] == pytest.approx(2 * 0.3)  # from records 1 and 2 only
    assert est[3] == pytest.approx(0.5 * 0.3) and est[4] == pytest.approx(0.5 * 0.2)  # ear b keeps its own factor
    assert support.tolist() == pytest.approx([1.8, 1.8, 1.8, 0.9, 0.9])
