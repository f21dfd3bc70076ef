"""The static head (p(s | x) of joint generation) is trained where joint generation reads it: on the diffusion rows'
x_t of the clean response at their own timestep, with the condition dropped — never on the analysis rows' noisy
observed recordings at t = 0."""

from __future__ import annotations

from typing import Any

import torch

import abrnet.training.module as module_mod
from abrnet.config.train_config import load_config
from abrnet.training.losses import static_head_rows, static_loss

from .conftest import make_toy_cohort
from .test_training_module import BASE, _batch, _module


def test_static_head_rows_are_dropped_diffusion_rows() -> None:
    drop = torch.tensor([True, True, False, False])
    is_diff = torch.tensor([True, False, True, False])
    assert static_head_rows(drop, is_diff).tolist() == [True, False, False, False]


def _step(module: Any, batch: dict[str, torch.Tensor], monkeypatch: Any) -> dict[str, Any]:
    """One training step; returns the model call's inputs, the static loss's target and the static term."""
    seen: dict[str, Any] = {}
    forward = type(module.model).forward.__get__(module.model)  # the real one, not an earlier call's spy

    def spy_forward(x: torch.Tensor, static: torch.Tensor, t: torch.Tensor, **kw: Any) -> dict[str, torch.Tensor]:
        seen.update(x=x.clone(), t=t.clone(), drop=kw["drop_condition"].clone())
        return forward(x, static, t, **kw)

    def spy_loss(mean: torch.Tensor, logvar: torch.Tensor, target: torch.Tensor, *a: Any) -> torch.Tensor:
        seen["target"] = target.clone()
        out = static_loss(mean, logvar, target, *a)
        seen["loss"] = float(out)
        return out

    monkeypatch.setattr(module.model, "forward", spy_forward)
    monkeypatch.setattr(module_mod, "static_loss", spy_loss)
    module.model.eval()
    with torch.no_grad():
        module.training_step({k: v.clone() for k, v in batch.items()}, 0)
    return seen


def test_static_loss_reads_dropped_diffusion_rows_at_their_timestep(monkeypatch: Any) -> None:
    cfg = load_config(
        None, [*BASE, "curriculum.task_floor=1", "diffusion.analysis_fraction=0.5", "diffusion.cond_drop_prob=0.5"]
    )
    module, dm = _module(cfg, make_toy_cohort(n_patients=8))
    batch = _batch(dm, 16)
    seen = _step(module, batch, monkeypatch)
    rows = torch.isfinite(seen["target"]).all(dim=1)  # (B,) rows the static loss reads
    is_diff = torch.arange(16) >= 8  # analysis_fraction 0.5: the second half are diffusion rows
    assert torch.equal(rows, seen["drop"] & is_diff)  # condition dropped, diffusion rows only
    assert 0 < int(rows.sum()) < 8 and bool((seen["drop"] & ~is_diff).any())  # dropped analysis rows exist: excluded
    assert torch.isnan(seen["target"][~rows]).all()
    torch.testing.assert_close(seen["target"][rows], batch["static"][rows])  # the true static, not the shown one
    # the rows it reads are forward-process draws of the clean response at their own timestep, not the observation
    assert bool((seen["t"][rows] > 0).all()) and bool((seen["t"][~is_diff] == 0).all())
    assert not torch.allclose(seen["x"][rows], batch["signal"][rows])

    # behaviour: the static of analysis rows and of conditioned diffusion rows cannot move the static loss
    moved = {k: v.clone() for k, v in batch.items()}
    moved["static"][~rows] += 1.0
    again = _step(module, moved, monkeypatch)
    assert again["loss"] == seen["loss"]
    moved["static"][rows] += 1.0
    assert _step(module, moved, monkeypatch)["loss"] != seen["loss"]
