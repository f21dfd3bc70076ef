"""Figures added to metrics.json after `compute_metrics` sanitised its own are None with a reason, never NaN.

Why: `correlation_with_response` was a ``nanmean`` of all-NaN correlations (a flat reconstruction), written as a
silent null in metrics.json and "nan" in metrics.md.
"""

from __future__ import annotations

import json

import numpy as np

from abrnet.evaluation.evaluate import _signal_against_target
from abrnet.evaluation.report import metrics_markdown
from tests.test_evaluation_toy import make_cohort, noisy_predictions


def test_a_flat_reconstruction_leaves_no_nan_and_says_why() -> None:
    data = make_cohort(n_patients=3, seed=0)
    data.extras["v_present"] = np.isfinite(data.latency_ms[:, 2])
    pred = noisy_predictions(data)
    pred.reconstruction = np.zeros_like(data.signals)  # a constant row has no correlation
    metrics: dict = {"signal": {}, "undefined": {}}
    _signal_against_target(pred, data, metrics)
    sig = metrics["signal"]
    for key in ("correlation", "correlation_all_records", "correlation_with_response"):
        assert sig[key] is None, key
        assert metrics["undefined"][f"signal.{key}"], key
    assert "defined correlation" in metrics["undefined"]["signal.correlation_with_response"]
    json.dumps(metrics, allow_nan=False)
    assert "nan" not in metrics_markdown(metrics).lower().replace("nano", "")


def test_a_defined_correlation_clears_an_earlier_reason() -> None:
    data = make_cohort(n_patients=3, seed=0)
    data.extras["v_present"] = np.isfinite(data.latency_ms[:, 2])
    metrics: dict = {"signal": {}, "undefined": {"signal.correlation": "from compute_metrics"}}
    _signal_against_target(noisy_predictions(data), data, metrics)
    assert metrics["signal"]["correlation_with_response"] > 0.5
    assert metrics["undefined"] == {}
