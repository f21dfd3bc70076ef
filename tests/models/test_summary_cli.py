from __future__ import annotations

import json
from pathlib import Path

import torch
from typer.testing import CliRunner

from abrnet.cli.model import app


def test_summary_json_has_params_and_flops() -> None:
    torch.manual_seed(0)
    result = CliRunner().invoke(app, ["summary", "--preset", "tiny", "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    per = info["parameters_per_component"]
    assert sum(per.values()) == info["parameters"]
    assert {"encoder.0", "bottleneck", "decoder.3", "signal_head"} <= set(per)
    flops = info["flops_per_sample"]
    assert flops["total"] >= flops["counted"] > 0 and flops["fft_estimate"] > 0
    assert "matmul" in flops["note"]
    assert [r["length"] for r in info["transformer_placement"] if r["transformer_layers"]] == [
        200,
        100,
        50,
        50,
        100,
        200,
    ]


def test_summary_table_and_bad_preset() -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["summary", "--preset", "tiny"])
    assert result.exit_code == 0 and "transformer placement" in result.output
    assert runner.invoke(app, ["summary", "--preset", "nope"]).exit_code != 0


def test_summary_of_a_config_and_of_a_trained_model(tmp_path: Path) -> None:
    """A run's network is its preset with ``model.overrides``: --config and --checkpoint summarise that network
    (the shipped model's: the network its weights load into); two sources at once are refused in one line."""
    from abrnet.inference.checkpoint import load_checkpoint
    from abrnet.inference.default_model import default_checkpoint
    from abrnet.models.summary import model_summary

    runner = CliRunner()
    cfg = tmp_path / "small.yaml"
    cfg.write_text("model:\n  preset: tiny\n  overrides:\n    base_channels: 4\n")
    small = json.loads(runner.invoke(app, ["summary", "--config", str(cfg), "--json"]).output)
    assert small["config"]["base_channels"] == 4 and small["parameters"] < model_summary("tiny")["parameters"]
    shipped = default_checkpoint()
    result = runner.invoke(app, ["summary", "--checkpoint", str(shipped), "--json"])
    held = sum(p.numel() for p in load_checkpoint(shipped).model.parameters())  # the network its weights load into
    assert result.exit_code == 0 and json.loads(result.output)["parameters"] == held
    both = runner.invoke(app, ["summary", "--preset", "tiny", "--config", str(cfg)])
    assert both.exit_code == 2 and "field '--config': give one of --preset, --config, --checkpoint" in both.output
