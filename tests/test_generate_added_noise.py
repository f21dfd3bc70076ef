"""`generate --add-noise-nv` has an upper bound, checked before sampling (hunt 48)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import abrnet
from abrnet.cli.main import app
from tests.test_denoise_generate import GEN_ONE, _refused

runner = CliRunner()


def test_an_added_noise_no_record_can_hold_is_refused_naming_the_option(tiny_run: dict, tmp_path: Path) -> None:
    """1e9 nV sampled for minutes, then failed as "<generated>: field 'signals', row 0: value -89885.7 outside
    [-10000, 10000] µV", naming nothing the user typed (hunt 48); now refused first, in the CLI and the API."""
    ckpt = str(tiny_run["dir"] / "best.ckpt")
    args = ["generate", "--checkpoint", ckpt, *GEN_ONE, "--out", str(tmp_path / "n.h5"), "--add-noise-nv"]
    line = _refused(runner.invoke(app, [*args, "1e9"]))
    assert line == "error: abrnet generate: field '--add-noise-nv': must be >= 0 and <= 1e+06 nV, got 1e+09", line
    assert not (tmp_path / "n.h5").exists()
    with pytest.raises(ValueError, match=r"^add_noise_nv must be a finite number >= 0 and <= 1e\+06 \(residual"):
        abrnet.load(ckpt).generate(1, conditions=[[30.0, 60.0, 21.1, 2.0]], steps=1, add_noise_nv=1e9)
    assert runner.invoke(app, [*args, "1e6"]).exit_code == 0  # the largest: every draw inside the signal range
