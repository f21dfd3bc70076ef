"""The level input known only to ±`diffusion.level_jitter_db` on analysis rows: the network must read presence from
the waveform, not from "loud ⇒ V" (issue 11: relabelled to 0 dB, the first model's p(V) where V exists fell to
0.54). Diffusion rows keep their exact level: generation is conditioned on what the user asks for."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from abrnet.config.train_config import load_config
from abrnet.constants import STATIC_PARAMS
from abrnet.models.conditioning import jitter_column
from abrnet.training.module import ABRLitModule

from .conftest import make_toy_cohort
from .test_training_module import BASE, _batch, _module

LEVEL = STATIC_PARAMS.index("intensity_db")


def test_jitter_moves_one_column_on_the_chosen_rows_only() -> None:
    static = torch.zeros(4000, 4)
    rows = torch.arange(4000) < 3000
    out = jitter_column(static, LEVEL, 0.5, rows, torch.Generator().manual_seed(1))
    again = jitter_column(static, LEVEL, 0.5, rows, torch.Generator().manual_seed(1))
    assert torch.equal(out, again)  # seeded
    assert torch.equal(static, torch.zeros(4000, 4))  # the input is not written to
    assert torch.equal(out[~rows], static[~rows])
    assert torch.equal(out[:, [c for c in range(4) if c != LEVEL]], torch.zeros(4000, 3))
    assert float(out[rows, LEVEL].std()) == pytest.approx(0.5, rel=0.05)
    assert float(out[rows, LEVEL].mean()) == pytest.approx(0.0, abs=0.03)
    assert jitter_column(static, LEVEL, 0.0, rows, torch.Generator()) is static


def seen_by_network(module: ABRLitModule, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """The (B, T) signal and (B, S) normalised static input the network receives in one training step."""
    seen: dict[str, torch.Tensor] = {}
    forward = module.model.forward

    def spy(x: torch.Tensor, static: torch.Tensor, *args: Any, **kw: Any) -> Any:
        seen["x"], seen["static"] = x.detach().clone(), static.detach().clone()
        return forward(x, static, *args, **kw)

    module.model.forward = spy  # type: ignore[method-assign]
    module.model.eval()
    with torch.no_grad():
        module.training_step({k: v.clone() for k, v in batch.items()}, 0)
    module.model.forward = forward  # type: ignore[method-assign]
    return seen["x"], seen["static"]


@pytest.mark.parametrize("jitter_db", [0.0, 15.0])
def test_training_step_jitters_the_analysis_rows_level_in_db(jitter_db: float) -> None:
    no_negatives = ["diffusion.noise_negative_fraction=0", "diffusion.reversed_negative_fraction=0"]
    overrides = [*BASE, *no_negatives, "diffusion.analysis_fraction=0.5", f"diffusion.level_jitter_db={jitter_db}"]
    module, dm = _module(load_config(None, overrides), make_toy_cohort(n_patients=8))
    batch = _batch(dm, 16)
    seen_level = seen_by_network(module, batch)[1][:, LEVEL]
    shift_db = (seen_level - batch["static"][:, LEVEL]) * module.normalizer.static_std[LEVEL]
    assert torch.equal(shift_db[8:], torch.zeros(8))  # diffusion rows: the level as asked
    if jitter_db == 0:
        assert torch.equal(shift_db[:8], torch.zeros(8))
    else:  # eight draws of N(0, 15 dB): all moved, none beyond 5 SD, not all one way
        assert bool((shift_db[:8].abs() > 1e-3).all()) and float(shift_db[:8].abs().max()) < 5 * jitter_db
        assert 0 < int((shift_db[:8] > 0).sum()) < 8


def test_level_jitter_is_bounded() -> None:
    with pytest.raises(ValueError, match="level_jitter_db"):
        load_config(None, ["diffusion.level_jitter_db=-1"])
