"""Alerts: each one provoked by a crafted input, written to alerts.jsonl, console and logger."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from rich.console import Console

from abrnet.config.train_config import AlertsConfig, TrainConfig
from abrnet.data.simulate import SimulationConfig, simulate_cohort
from abrnet.inference.checkpoint import load_checkpoint
from abrnet.inference.default_model import default_checkpoint
from abrnet.inference.predictor import predict_cohort
from abrnet.metrics.task_metrics import compute_metrics
from abrnet.training.alerts import AlertMonitor, TrainingDiverged, normalised_attention_entropy
from abrnet.training.module import alert_metrics, flat_metrics


class FakeWriter:
    def __init__(self) -> None:
        self.texts: list[tuple[str, str, int]] = []

    def add_text(self, tag: str, text: str, global_step: int) -> None:
        self.texts.append((tag, text, global_step))


class FakeLightningLogger:
    def __init__(self) -> None:
        self.experiment = FakeWriter()


def _monitor(tmp_path: Path, logger: object = None, **kw: float) -> tuple[AlertMonitor, io.StringIO]:
    buf = io.StringIO()
    cfg = AlertsConfig(**kw)
    return AlertMonitor(tmp_path, cfg, logger=logger, console=Console(file=buf, width=300)), buf


def _lines(tmp_path: Path) -> list[dict]:
    return [json.loads(line) for line in (tmp_path / "alerts.jsonl").read_text().splitlines()]


def test_nan_loss_skips_then_diverges(tmp_path: Path) -> None:
    writer = FakeWriter()
    mon, buf = _monitor(tmp_path, logger=writer, nan_patience=3)
    assert mon.check_losses(1, {"signal": 0.5, "threshold": 1.0}) is True
    assert mon.check_losses(2, {"signal": float("nan"), "threshold": 1.0}) is False
    assert mon.check_losses(3, {"signal": 0.4, "threshold": torch.tensor(float("inf"))}) is False
    assert mon.check_losses(4, {"signal": 0.4, "threshold": 1.0}) is True  # a good step resets the count
    assert mon.check_losses(5, {"signal": float("nan")}) is False
    assert mon.check_losses(6, {"signal": float("nan")}) is False
    with pytest.raises(TrainingDiverged, match="3 consecutive steps"):
        mon.check_losses(7, {"signal": float("nan")})
    rows = _lines(tmp_path)
    assert [r["kind"] for r in rows] == ["nan_loss", "nan_loss", "nan_loss", "nan_loss", "diverged"]
    assert rows[0]["step"] == 2 and rows[0]["level"] == "error" and rows[0]["value"] == "nan"
    assert rows[1]["value"] == "inf"
    assert set(rows[0]) == {"time", "step", "kind", "level", "message", "value"}
    assert rows[-1]["level"] == "critical"
    assert "step       2" in buf.getvalue() and "nan_loss" in buf.getvalue()
    assert len(buf.getvalue().strip().splitlines()) == 5  # one console line per alert
    assert [t[0] for t in writer.texts][-1] == "alerts/diverged" and writer.texts[0][2] == 2
    assert len(mon.alerts) == 5


def test_metrics_nan_and_peak_r2_fire(tmp_path: Path) -> None:
    mon, _ = _monitor(tmp_path)
    assert mon.check_metrics(10, {"val/loss": 1.0, "val/peak_latency_r2_V": 0.8}, progress=0.9) == []
    raised = mon.check_metrics(11, {"val/peak_latency_r2_I": float("nan"), "val/loss": float("inf")}, progress=0.1)
    assert [a.kind for a in raised] == ["peak_r2_nan", "nan_metric"]
    assert "val/peak_latency_r2_I" in raised[0].message
    assert [r["kind"] for r in _lines(tmp_path)] == ["peak_r2_nan", "nan_metric"]


def test_threshold_r2_negative_only_after_grace(tmp_path: Path) -> None:
    mon, _ = _monitor(tmp_path, threshold_r2_grace_fraction=0.5)
    assert mon.check_metrics(100, {"val/threshold_r2": -0.3}, progress=0.49) == []
    assert mon.check_metrics(100, {"val/threshold_r2": 0.2}, progress=0.9) == []
    raised = mon.check_metrics(200, {"val/threshold_r2": -0.3}, progress=0.5)
    assert [a.kind for a in raised] == ["threshold_r2_negative"]
    assert raised[0].value == pytest.approx(-0.3) and raised[0].level == "warning"
    assert _lines(tmp_path)[0]["kind"] == "threshold_r2_negative"


def test_attention_collapse_fires_and_names_layer(tmp_path: Path) -> None:
    logger = FakeLightningLogger()
    mon, buf = _monitor(tmp_path, logger=logger, attention_entropy_floor=0.2)
    raised = mon.check_attention(5, {"enc.attn0": 0.9, "bottleneck.attn[1]": 0.05})
    assert len(raised) == 1 and raised[0].kind == "attention_collapse"
    assert "bottleneck.attn[1]" in raised[0].message and "bottleneck.attn[1]" in buf.getvalue()
    assert logger.experiment.texts[0][0] == "alerts/attention_collapse"
    assert _lines(tmp_path)[0]["value"] == pytest.approx(0.05)


def test_normalised_attention_entropy() -> None:
    uniform = torch.full((2, 4, 8, 8), 1 / 8)
    onehot = torch.eye(8).expand(2, 4, 8, 8)
    assert normalised_attention_entropy(uniform) == pytest.approx(1.0, abs=1e-5)
    assert normalised_attention_entropy(onehot) == pytest.approx(0.0, abs=1e-5)


def test_task_dominance_fires_on_gradient_norm_share(tmp_path: Path) -> None:
    mon, _ = _monitor(tmp_path, task_dominance_ceiling=0.8)
    raised = mon.check_task_dominance(2, {"signal": 0.1, "threshold": 9.0, "classification": 0.1})
    assert [a.kind for a in raised] == ["task_dominance"] and "'threshold'" in raised[0].message
    assert "gradient norm on the shared trunk" in raised[0].message
    assert raised[0].value == pytest.approx(9.0 / 9.2)
    assert [r["kind"] for r in _lines(tmp_path)] == ["task_dominance"]


def test_task_dominance_stays_quiet(tmp_path: Path) -> None:
    mon, _ = _monitor(tmp_path, task_dominance_ceiling=0.8)
    assert mon.check_task_dominance(1, {"signal": 1.0, "threshold": 1.0, "classification": 0.5}) == []
    assert mon.check_task_dominance(2, {"signal": 0.8, "threshold": 0.2}) == []  # exactly at the ceiling
    assert mon.check_task_dominance(3, {"signal": 5.0, "threshold": 0.0}) == []  # a single active task
    # a negative value is not a gradient norm (e.g. a signed NLL passed by mistake): never makes a task dominate
    assert mon.check_task_dominance(4, {"signal": 1.0, "threshold": -50.0, "peak_latency": 1.0}) == []
    assert mon.check_task_dominance(5, {"signal": 1.0, "threshold": float("nan")}) == []
    assert not (tmp_path / "alerts.jsonl").exists()


def test_nan_loss_stays_quiet_on_finite_losses(tmp_path: Path) -> None:
    mon, _ = _monitor(tmp_path, nan_patience=1)
    for step in range(5):  # negative (a likelihood) and zero parts are finite: no alert, never diverged
        assert mon.check_losses(step, {"signal": 0.5, "threshold": -2.0, "static": 0.0, "total": -1.5}) is True
    assert mon.alerts == [] and mon.consecutive_nan == 0


def test_metrics_stay_quiet_when_finite(tmp_path: Path) -> None:
    mon, _ = _monitor(tmp_path)
    good = {"peaks.V.latency_r2": 0.7, "peaks.I.amplitude_r2": -0.2, "threshold.r2": 0.4, "signal.correlation": 0.9}
    assert mon.check_metrics(1, good, progress=1.0) == []  # a negative *peak* R² is not the threshold alert
    assert mon.alerts == []


def test_attention_collapse_stays_quiet_above_floor(tmp_path: Path) -> None:
    mon, _ = _monitor(tmp_path, attention_entropy_floor=0.2)
    assert mon.check_attention(1, {"enc.attn": 0.9, "dec.attn": 0.21}) == []
    assert mon.check_attention(2, {}) == []  # S4 warm-up: no attention ran, nothing to check
    assert mon.alerts == []


def test_monitor_accepts_whole_config_and_broken_logger(tmp_path: Path) -> None:
    class Broken:
        def add_text(self, *a: object) -> None:
            raise RuntimeError("disk full")

    mon = AlertMonitor(tmp_path / "sub", TrainConfig(), logger=Broken(), console=Console(file=io.StringIO()))
    assert mon.cfg.nan_patience == TrainConfig().alerts.nan_patience
    assert mon.check_losses(0, {"signal": math.nan}) is False  # logger failure does not stop training
    assert (tmp_path / "sub" / "alerts.jsonl").exists()


def test_metrics_the_split_does_not_define_raise_no_alert(tmp_path: Path) -> None:
    """A normal-hearing-only validation split defines no no-response F1 (no positive, none predicted): the metric
    code leaves it empty with that reason, which is no failure; a value computed NaN still alerts (hunt 44 #6)."""
    cohort = simulate_cohort(SimulationConfig(n_patients=12), seed=5)
    normal = cohort.subset(np.flatnonzero(cohort.class_id == 0))
    loaded = load_checkpoint(default_checkpoint())
    pred = predict_cohort(loaded.model, normal, loaded.normalizer, device=torch.device("cpu"), with_denoise=False)
    metrics = compute_metrics(pred, normal, split="val", n_bootstrap=0)
    flat = flat_metrics(metrics)
    assert flat["threshold.no_response_f1"] is None and "threshold.no_response_f1" in metrics["undefined"]
    watched = alert_metrics(metrics, flat)
    assert "threshold.no_response_f1" not in watched and "threshold.mae_db" in watched
    monitor, buf = _monitor(tmp_path)
    assert monitor.check_metrics(1, watched, 0.5) == [] and buf.getvalue() == ""
    broken = {**metrics, "undefined": {**metrics["undefined"], "threshold.mae_db": "value was not finite"}}
    still = alert_metrics(broken, {**flat, "threshold.mae_db": None})  # computed, came out NaN: kept for the alert
    assert [a.kind for a in monitor.check_metrics(2, still, 0.5)] == ["nan_metric"]
