"""A bootstrap of 1 to 19 resamples is refused in one line; 0 (no intervals) and 20 or more are taken.

Why: ``--bootstrap 1`` printed the one resample's value as a 95 % interval ("6.2 [6.2, 6.2]" reads as certain), and
2 resamples gave the percentiles of two draws.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from abrnet.cli.main import app
from abrnet.evaluation.evaluate import evaluate_checkpoint
from abrnet.metrics.builder import Builder, Undefined, bootstrap_intervals, record_metric
from abrnet.metrics.kernels import weighted_mean


def _intervals(n_bootstrap: int) -> dict:
    b = Builder(10)
    b.add("m", record_metric(np.arange(10), lambda W: weighted_mean(W, np.arange(10.0))), "r")
    return bootstrap_intervals(
        b, ("m",), {"m": 4.5}, np.zeros(10, np.int64), n_bootstrap, 0, Undefined()
    )  # one stratum


@pytest.mark.parametrize("n", [1, 2, 19])
def test_too_few_resamples_are_refused(n: int) -> None:
    with pytest.raises(ValueError, match=rf"n_bootstrap must be 0 \(no intervals\) or at least 20, got {n}"):
        _intervals(n)


def test_none_or_enough_resamples_are_taken() -> None:
    assert _intervals(0) == {}
    lo, hi = _intervals(20)["m"]
    assert lo < 4.5 < hi


def test_cli_and_api_refuse_before_anything_is_read_or_written(tmp_path: Path) -> None:
    """No checkpoint needed: the count is refused with the other option checks."""
    out = tmp_path / "e"
    res = CliRunner().invoke(app, ["evaluate", "--checkpoint", str(tmp_path / "none.ckpt"), "--out", str(out),
                                   "--bootstrap", "2"])  # fmt: skip
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert res.exit_code == 2 and len(lines) == 1, res.output
    assert "--bootstrap" in lines[0] and "must be 0 (no intervals) or at least 20, got 2" in lines[0]
    with pytest.raises(ValueError, match="at least 20, got 1"):
        evaluate_checkpoint(tmp_path / "none.ckpt", out_dir=out, n_bootstrap=1)
    assert not out.exists()
