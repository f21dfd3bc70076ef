from __future__ import annotations

import json

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
