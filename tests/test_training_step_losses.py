"""One training step's losses: which rows carry which loss (analysis vs diffusion rows), unannotated records kept
out of peak presence, and the variance heads trained under ``regression_loss: huber``."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from abrnet.config.train_config import load_config
from abrnet.training.module import ABRLitModule

from .conftest import make_toy_cohort
from .test_training_module import BASE, _batch, _module


def _step_parts(module: ABRLitModule, batch: dict[str, torch.Tensor]) -> dict[str, float]:
    """The weighted per-task terms of one (deterministic: eval-mode model, step-seeded noise) training step."""
    seen: dict[str, float] = {}
    orig = module.loss_fn.terms

    def spy(*args: Any, **kw: Any) -> dict[str, torch.Tensor]:
        terms = orig(*args, **kw)
        seen.update({k: float(v.detach()) for k, v in terms.items()})
        return terms

    module.loss_fn.terms = spy  # type: ignore[method-assign]
    module.model.eval()
    with torch.no_grad():
        module.training_step({k: v.clone() for k, v in batch.items()}, 0)
    module.loss_fn.terms = orig  # type: ignore[method-assign]
    return seen


def test_analysis_and_diffusion_rows_carry_their_own_losses() -> None:
    """The first half of a batch (analysis rows, t = 0) carries the head losses and no signal loss; the second half
    (diffusion rows) carries the signal loss and no head loss: each row's other labels cannot reach the loss."""
    cfg = load_config(None, [*BASE, "curriculum.task_floor=1", "diffusion.analysis_fraction=0.5"])
    module, dm = _module(cfg, make_toy_cohort(n_patients=8))
    batch = _batch(dm, 16)
    ana, dif = slice(0, 8), slice(8, 16)
    base = _step_parts(module, batch)
    assert all(base[t] != 0.0 for t in ("signal", "peak_presence", "classification", "threshold"))

    def changed(rows: slice, **new: Any) -> dict[str, float]:
        b = {k: v.clone() for k, v in batch.items()}
        for key, value in new.items():
            b[key][rows] = value
        return _step_parts(module, b)

    heads = ("peak_presence", "peak_latency", "peak_amplitude", "classification", "threshold", "no_response")
    relabel = {"latency": 3.0, "amplitude": 1.0, "class_id": 4, "threshold": 70.0, "no_response": 1.0}
    assert changed(dif, **relabel) == pytest.approx(base)  # diffusion rows' labels: no effect at all
    moved = changed(ana, **relabel)
    assert [t for t in heads if moved[t] == pytest.approx(base[t])] == []
    assert moved["signal"] == pytest.approx(base["signal"])
    assert changed(ana, clean=0.0)["signal"] == pytest.approx(base["signal"])  # analysis rows: no diffusion target
    assert changed(dif, clean=0.0)["signal"] != pytest.approx(base["signal"])


def test_unannotated_rows_do_not_train_peak_presence() -> None:
    """Rows with no label at all (as real files without annotations give) are masked from peak presence. Waveless
    negatives are off here: they are known to have no wave and do train it (tests/test_negatives.py)."""
    no_negatives = ["diffusion.noise_negative_fraction=0", "diffusion.reversed_negative_fraction=0"]
    cfg = load_config(None, [*BASE, "curriculum.task_floor=1", *no_negatives])
    module, dm = _module(cfg, make_toy_cohort(n_patients=8))
    batch = _batch(dm, 16)
    batch["latency"][:] = torch.nan  # nothing marked anywhere ...
    batch["amplitude"][:] = torch.nan
    batch["class_id"][:] = -1
    batch["threshold"][:] = torch.nan
    batch["no_response"][:] = 0.0  # ... and the file's default "responded"
    assert _step_parts(module, batch)["peak_presence"] == 0.0
    batch["class_id"][:2] = 1  # two analysis rows annotated (with a class, no wave): they teach "no wave"
    assert _step_parts(module, batch)["peak_presence"] > 0.0


def test_huber_trains_the_variance_heads() -> None:
    """regression_loss: huber must give the log-variance heads a gradient, and an optimizer step moves them."""
    cfg = load_config(None, [*BASE, "loss.regression_loss=huber", "curriculum.task_floor=1"])
    module, dm = _module(cfg, make_toy_cohort(n_patients=8))
    batch = _batch(dm, 16)
    peak, thr = module.model.peak_head, module.model.threshold_head

    def variance_weights() -> list[torch.Tensor]:  # the weights that feed only the log-variance outputs
        return [peak.weight[..., 2], peak.weight[..., 4], thr.net[-1].weight[1]]

    before = [w.detach().clone() for w in variance_weights()]
    module.model.train()
    loss = module.training_step(batch, 0)
    assert loss is not None
    loss.backward()
    assert peak.weight.grad is not None and thr.net[-1].weight.grad is not None
    grads = [peak.weight.grad[..., 2], peak.weight.grad[..., 4], thr.net[-1].weight.grad[1]]
    assert all(float(g.abs().sum()) > 0 for g in grads)
    torch.optim.SGD(module.parameters(), lr=1e-2).step()
    assert all(not torch.equal(b, a) for b, a in zip(before, variance_weights(), strict=True))
