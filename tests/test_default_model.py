"""The model abrnet ships: current with the code, small, and used by `abrnet predict` when no checkpoint is given."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from abrnet.cli.main import app
from abrnet.inference.checkpoint import load_checkpoint
from abrnet.inference.default_model import (
    DEFAULT_CARD,
    DEFAULT_CHECKPOINT,
    code_versions,
    export_checkpoint,
    recorded_versions,
)
from tests.test_reader_contract import FIXTURES

runner = CliRunner()
CLI_OPTS = ["--age", "1.0", "--rate", "21", "--level", "80"]  # what the device files do not state


def test_shipped_model_is_trained_on_this_simulator_and_architecture() -> None:
    """Fails when the simulator or the network changes and the shipped weights were not retrained (README)."""
    assert DEFAULT_CHECKPOINT.exists(), f"{DEFAULT_CHECKPOINT} missing: retrain and export it (README, Default model)"
    assert recorded_versions(DEFAULT_CHECKPOINT) == code_versions()
    assert DEFAULT_CHECKPOINT.stat().st_size < 10e6  # a slim copy: weights, config, series stage
    loaded = load_checkpoint(DEFAULT_CHECKPOINT)
    assert loaded.series_model is not None and loaded.config.model.preset == "cpu"
    assert DEFAULT_CARD.exists() and '"headline"' in DEFAULT_CARD.read_text()


@pytest.mark.parametrize(("fmt", "make"), [f[1:] for f in FIXTURES], ids=[f[0] for f in FIXTURES])
def test_predict_without_checkpoint_reads_every_format(fmt: str, make, tmp_path: Path) -> None:
    path = make(tmp_path)
    if not path.exists():
        pytest.skip(f"{path} not present")
    out = tmp_path / "r.csv"
    res = runner.invoke(app, ["predict", str(path), "--out", str(out), *([] if fmt in ("h5", "csv") else CLI_OPTS)])
    assert res.exit_code == 0, res.output
    with out.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows
    p_v = np.array([float(r["V_presence_prob"]) for r in rows])
    assert np.all((p_v >= 0) & (p_v <= 1))


def test_export_writes_a_slim_loadable_copy(tiny_run: dict, tmp_path: Path) -> None:
    src = tiny_run["dir"] / "best.ckpt"
    dst = export_checkpoint(src, tmp_path / "m.ckpt", card={"command": "test"})
    assert recorded_versions(dst) == code_versions() and recorded_versions(src) == {}
    assert dst.stat().st_size < src.stat().st_size  # no optimizer state
    full, slim = load_checkpoint(src), load_checkpoint(dst)
    for (k, a), (_, b) in zip(full.model.state_dict().items(), slim.model.state_dict().items(), strict=True):
        assert torch.equal(a, b), k
    assert slim.series_model is not None
    with pytest.raises(FileExistsError, match="--force"):
        export_checkpoint(src, dst)
    fresh = tmp_path / "fresh.ckpt"
    fresh.with_suffix(".json").write_text("{}")  # only the card exists: refused before the checkpoint is written
    with pytest.raises(FileExistsError, match=r"fresh\.json"):
        export_checkpoint(src, fresh, card={"command": "test"})
    assert not fresh.exists()
