"""Exact resume in process: N steps straight == N/2 steps, a crash, then `resume=last.ckpt` to N.

"Exact" means bit-identical raw weights, EMA weights, optimizer state and scheduler state. It holds because every
source of randomness is a function of (seed, global step): the per-step generator in `ABRLitModule`, the
`StepSampler` data order, and a step-based progress (``max_minutes=null``) for the curriculum and LR schedule.
The real-process version (SIGKILL of `abrnet train`) is in test_training_cli.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch

import abrnet.training.run as run_mod
from abrnet.config.train_config import TrainConfig, load_config
from abrnet.data.schema import ABRCohort
from abrnet.data.simulate import SimulationConfig, simulate_cohort


class CrashError(Exception):
    """Stands in for the process dying after a checkpoint was written."""


class CrashAt(L.Callback):
    """Raise when step `k` is about to run: last.ckpt (written every val_every_n_steps) holds step k."""

    def __init__(self, k: int) -> None:
        self.k = k

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, idx: int) -> None:
        if trainer.global_step == self.k:
            raise CrashError(f"crash at step {self.k}")


def assert_same_training_state(a: dict, b: dict) -> None:
    """Bit-identical model (raw and EMA), optimizer and scheduler state and step of two Lightning checkpoints."""
    assert a["global_step"] == b["global_step"]
    for key in ("state_dict", "current_model_state", "averaging_state"):
        assert a[key].keys() == b[key].keys(), key
        diff = [k for k in a[key] if not torch.equal(a[key][k], b[key][k])]
        assert not diff, f"{key} differs in {diff[:5]}"
    assert len(a["optimizer_states"]) == len(b["optimizer_states"]) == 1
    oa, ob = a["optimizer_states"][0], b["optimizer_states"][0]
    assert oa["param_groups"] == ob["param_groups"]
    assert oa["state"].keys() == ob["state"].keys()
    for i in oa["state"]:
        for k, v in oa["state"][i].items():
            assert torch.equal(v, ob["state"][i][k]), f"optimizer state {i}.{k} differs"
    assert a["lr_schedulers"] == b["lr_schedulers"]


def overrides(data: Path | None, steps: int, every: int) -> list[str]:
    """The tiny, step-based config shared by the resume tests (and the CLI kill test)."""
    out = [
        "seed=11",
        "model.preset=tiny",
        "data.batch_size=16",
        f"trainer.max_steps={steps}",
        "trainer.max_minutes=null",
        f"trainer.val_every_n_steps={every}",
        "optim.warmup_fraction=0.2",
        "curriculum.s4_warmup=0.2",
        "curriculum.transformer_ramp=0.2",
    ]
    return out + ([f"data.path={data}"] if data is not None else [])


@pytest.fixture(scope="module")
def cohort() -> ABRCohort:
    return simulate_cohort(SimulationConfig(n_patients=20), seed=11)


def _train(cfg: TrainConfig, out: Path, cohort: ABRCohort, **kw: Any) -> dict:
    return run_mod.train(cfg, out, enable_progress_bar=False, cohort=cohort, **kw)


def test_resume_after_crash_is_bit_identical(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cohort) -> None:
    n = 10
    # the series stage (fitted after the fit on 300 simulated patients) writes best.ckpt only; last.ckpt is compared
    cfg = load_config(None, [*overrides(None, n, 5), "series.enabled=false"])
    _train(cfg, tmp_path / "straight", cohort)

    orig = run_mod.build_trainer

    def crashing(cfg: TrainConfig, out_dir: Path, **kw: Any) -> L.Trainer:
        trainer = orig(cfg, out_dir, **kw)
        trainer.callbacks.insert(0, CrashAt(n // 2))
        return trainer

    monkeypatch.setattr(run_mod, "build_trainer", crashing)
    with pytest.raises(CrashError):
        _train(cfg, tmp_path / "resumed", cohort)
    monkeypatch.setattr(run_mod, "build_trainer", orig)
    mid = torch.load(tmp_path / "resumed" / "last.ckpt", map_location="cpu", weights_only=True)
    assert mid["global_step"] == n // 2

    summary = _train(cfg, tmp_path / "resumed", cohort, resume=tmp_path / "resumed" / "last.ckpt")
    assert summary["global_step"] == n
    # the fit time is the model's whole fit: the checkpoint's earlier leg plus this one (was this leg's alone)
    wall = summary["wall_time"]
    assert mid["abrnet"]["elapsed_s"] > 0
    assert wall["fit_before_resume_s"] == pytest.approx(mid["abrnet"]["elapsed_s"], abs=1e-3)
    assert wall["fit_s"] > wall["fit_before_resume_s"]
    a = torch.load(tmp_path / "straight" / "last.ckpt", map_location="cpu", weights_only=True)
    b = torch.load(tmp_path / "resumed" / "last.ckpt", map_location="cpu", weights_only=True)
    assert_same_training_state(a, b)
    # and the halfway state really is different from the end (the comparison is not vacuous)
    assert not all(torch.equal(v, b["current_model_state"][k]) for k, v in mid["current_model_state"].items())
