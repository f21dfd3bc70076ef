"""The headline and baseline columns score through the network's own metric kernels, with its 'undefined' reasons.

Why: they used scikit-learn (``zero_division=0``, a plain ``<= 10``, R² of a constant truth 0.0, float32 arithmetic),
so an undefined F1 printed 0 beside the network's "—", and an error of 10 dB stored in float32 missed "within 10 dB"
in the baseline column while the network's figure counted it.
"""

from __future__ import annotations

import numpy as np

from abrnet.evaluation.classical_threshold import ear_threshold_scores
from abrnet.evaluation.trivial_baselines import TrivialBaselines, ear_scores, ear_table_scores, record_scores
from abrnet.metrics.builder import no_response_f1_reason, r2_reason, within
from abrnet.metrics.task_metrics import compute_metrics
from abrnet.series.per_ear import aggregate_ears
from tests.test_evaluation_toy import make_cohort, noisy_predictions


def _truth(threshold: np.ndarray, no_response: np.ndarray, cls: np.ndarray) -> dict[str, np.ndarray]:
    return {"threshold": threshold, "no_response": no_response, "class": cls}


def test_an_undefined_f1_is_none_with_the_networks_reason_not_0() -> None:
    """No ear is a no-response and none is called one: F1 is 0/0."""
    truth = _truth(np.array([20.0, 30.0]), np.zeros(2, bool), np.array([0, 1]))
    reasons: dict[str, str] = {}
    s = ear_scores(truth, np.array([20.0, 30.0]), np.zeros(2, bool), np.array([0, 1]), reasons)
    assert s["ear_no_response_f1"] is None
    assert reasons["ear_no_response_f1"] == no_response_f1_reason("ear")


def test_within_10_db_keeps_the_tolerance_of_the_networks_figure() -> None:
    """0.1 and 10.1 stored as float32 are 10.00000038 dB apart: within 10 dB for the network (`within`), so here too."""
    t, p = np.array([0.1], np.float32), np.array([10.1], np.float32).astype(np.float64)  # a label; a reading
    assert within(p - np.float64(t), 10.0)[0] == 1.0 and (p - t)[0] > 10.0
    s = ear_scores(_truth(t, np.zeros(1, bool), np.array([0])), p, np.zeros(1, bool), np.array([0]))
    assert s["ear_threshold_within_10_db"] == 1.0


def test_r2_of_a_constant_truth_is_undefined_not_0() -> None:
    """One level: every labelled wave V has the same latency, so R² is undefined (sklearn said 0.0)."""
    data = make_cohort(n_patients=4, levels=(80.0,), seed=0)
    data.latency_ms[:, 2] = np.where(np.isfinite(data.latency_ms[:, 2]), 6.0, np.nan)
    present = np.isfinite(data.latency_ms[:, 2])
    assert present.sum() > 1
    lat = np.where(present, 6.0 + np.linspace(-0.5, 0.5, data.n_records), 6.0)
    reasons: dict[str, str] = {}
    s = record_scores(data, np.ones(data.n_records), lat, np.full(data.n_records, 30.0), reasons)
    assert s["v_latency_r2"] is None
    assert reasons["v_latency_r2"] == r2_reason(data.latency_ms[present, 2], "wave V latency labelled")


def test_headline_equals_the_networks_figures_in_float32() -> None:
    """The headline column and the metrics of the same ears agree exactly (float32 predictions and labels)."""
    data = make_cohort(n_patients=12, seed=2)
    pred = noisy_predictions(data, noise=1.0)
    pred.threshold_db = np.asarray(pred.threshold_db, np.float32)
    m = compute_metrics(pred, data, split="t", n_bootstrap=0)
    h = ear_table_scores(aggregate_ears(pred, data))
    thr = m["per_ear"]["threshold"]
    assert h["ear_threshold_mae_db"] == thr["mae_db"]
    assert h["ear_threshold_within_10_db"] == thr["within_10_db"]
    assert h["ear_no_response_f1"] == thr["no_response_f1"]
    assert h["ear_class_macro_f1"] == m["per_ear"]["classification"]["macro_f1"]


def test_baselines_carry_their_reasons_by_name() -> None:
    """Trained and scored where no ear is a no-response: every baseline's no-response F1 is None, with the reason
    under ``<baseline>.<figure>``; a classical detector's reason too."""
    full = make_cohort(n_patients=16, seed=1)
    data = full.subset(np.flatnonzero(~full.no_response))
    data.class_id[:] = 0  # one class: class macro-F1 undefined for every baseline
    reasons: dict[str, str] = {}
    out = TrivialBaselines.fit(data, 0).score(data, reasons)
    for name in ("levels_only", "prior"):
        assert out[name]["ear_class_macro_f1"] is None
        assert "needs at least 2" in reasons[f"{name}.ear_class_macro_f1"]
    assert out["prior"]["ear_no_response_f1"] is None
    assert reasons["prior.ear_no_response_f1"] == no_response_f1_reason("ear")
    assert all(k.split(".")[0] in out and out[k.split(".")[0]][k.split(".")[1]] is None for k in reasons)
    why: dict[str, str] = {}
    E = len(np.unique(data.ear_key))
    s = ear_threshold_scores(data, np.full(E, 40.0), np.zeros(E, bool), why)
    assert s["ear_no_response_f1"] is None and why == {"ear_no_response_f1": no_response_f1_reason("ear")}


def test_no_measurable_ear_gives_none_with_reason() -> None:
    """Every ear a no-response: threshold MAE and within 10 dB are undefined, said in the network's words."""
    truth = _truth(np.full(2, np.nan), np.ones(2, bool), np.array([3, 3]))
    reasons: dict[str, str] = {}
    s = ear_scores(truth, np.full(2, 40.0), np.ones(2, bool), np.array([3, 3]), reasons)
    assert s["ear_threshold_mae_db"] is None and s["ear_threshold_within_10_db"] is None
    assert reasons["ear_threshold_mae_db"] == "no ear in split has a measurable threshold"
    assert s["ear_no_response_f1"] == 1.0
