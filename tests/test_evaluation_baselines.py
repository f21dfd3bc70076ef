"""GBM baseline on a learnable toy cohort; figures and report rendering."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from abrnet.evaluation.baselines import features, fit_predict_gbm
from abrnet.evaluation.report import metric_rows, metrics_markdown, metrics_table
from abrnet.metrics.task_metrics import compute_metrics
from abrnet.plots.figures import save_figures
from tests.test_evaluation_toy import make_cohort, noisy_predictions, tiny_cohort


@pytest.fixture(scope="module")
def gbm_run() -> tuple:
    train = make_cohort(n_patients=40, seed=11)  # 320 records
    test = make_cohort(n_patients=12, seed=12)
    pred = fit_predict_gbm(train, test, seed=0, max_iter=60, n_threads=1)
    return train, test, pred


def test_gbm_baseline_learns_the_toy_relations(gbm_run: tuple) -> None:
    train, test, pred = gbm_run
    pred.validate(test.n_records, test.n_samples)
    m = compute_metrics(pred, test, split="test", n_bootstrap=0)
    json.dumps(m, allow_nan=False)
    v = m["peaks"]["V"]
    assert v["presence_f1"] > 0.8
    assert v["latency_r2"] > 0.8  # latency is a simple function of intensity (+ class)
    assert v["amplitude_r2"] > 0.8
    # threshold must beat the constant predictor (train mean) on the same records
    measurable = np.isfinite(test.threshold_db) & ~test.no_response
    train_mean = np.nanmean(train.threshold_db[~train.no_response])
    constant_mae = np.mean(np.abs(test.threshold_db[measurable] - train_mean))
    assert m["threshold"]["mae_db"] < constant_mae
    # classical denoising (low-pass) improves SNR but produces no reconstruction
    assert m["signal"]["snr_gain_db"] > 1.0
    assert m["signal"]["correlation"] is None and pred.reconstruction is None


def test_gbm_sds_come_from_held_out_residuals(gbm_run: tuple) -> None:
    _, test, pred = gbm_run
    assert np.all(pred.latency_sd_ms[:, 2] > 0) and np.ptp(pred.latency_sd_ms[:, 2]) == 0
    assert np.all(pred.threshold_sd_db > 0)
    cal = compute_metrics(pred, test, split="t", n_bootstrap=0)["calibration"]
    assert 0.6 < cal["latency_V_90"] <= 1.0  # held-out residuals: not wildly over-confident


def test_features_shape_and_mismatch_error() -> None:
    data = make_cohort(n_patients=2)
    assert features(data).shape == (data.n_records, 40 + 4)
    other = tiny_cohort(4, n_samples=32)
    with pytest.raises(ValueError, match="samples"):
        fit_predict_gbm(data, other, seed=0)


def test_gbm_handles_train_without_labels() -> None:
    train = tiny_cohort(12)  # nothing labelled at all
    pred = fit_predict_gbm(train, tiny_cohort(3), seed=0, max_iter=10, n_threads=1)
    pred.validate(3, 16)
    np.testing.assert_allclose(pred.class_prob.sum(axis=1), 1.0)


def test_save_figures_writes_pngs(tmp_path: Path) -> None:
    data = make_cohort(n_patients=4)
    paths = save_figures(noisy_predictions(data), data, tmp_path / "figs")
    assert [p.name for p in paths] == ["confusion_matrix.png", "latency_V.png", "threshold.png", "reconstructions.png"]
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 5_000
    # a split with nothing labelled and no clean/denoised signals still renders
    bare = tiny_cohort(3)
    pred = noisy_predictions(make_cohort(n_patients=1)).subset(np.arange(3))
    pred.reconstruction = pred.denoised = None
    assert len(save_figures(pred, bare, tmp_path / "bare")) == 4


def test_report_markdown_and_table() -> None:
    data = make_cohort(n_patients=6)
    pred = noisy_predictions(data)
    pred.reconstruction = None
    m = compute_metrics(pred, data, split="val", n_bootstrap=30)
    md = metrics_markdown(m)
    assert "### peaks V" in md and "### classification" in md and "### undefined" in md
    assert "| correlation | — |" in md  # no reconstruction -> undefined, shown as a dash
    assert "`signal.correlation`: model gave no reconstruction" in md
    lo, hi = m["intervals"]["peaks.V.latency_r2"]
    assert f"[{lo:.4g}, {hi:.4g}]" in md
    table = metrics_table(m)
    assert table.row_count == len(metric_rows(m))
    console = Console(record=True, width=140)
    console.print(table)
    assert "latency_r2" in console.export_text()
