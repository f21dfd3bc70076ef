"""A training run leaves what the README promises in its folder."""

from __future__ import annotations

import yaml

from abrnet.training.config import TrainConfig


def test_run_folder_contents(tiny_run: dict) -> None:
    run = tiny_run["dir"]
    for name in ("best.ckpt", "last.ckpt", "config.yaml", "alerts.jsonl", "run.json"):
        assert (run / name).is_file(), name
    assert any((run / "tensorboard").rglob("events.out.tfevents.*"))
    header = (run / "csv" / "metrics.csv").read_text().splitlines()[0].split(",")
    assert "step" in header and "val/score" in header
    resolved = TrainConfig.model_validate(yaml.safe_load((run / "config.yaml").read_text()))
    assert resolved == tiny_run["config"]
