"""Waveless negatives in training, and what a trained model says about noise-only records at any level."""

from __future__ import annotations

import numpy as np
import torch

from abrnet.constants import STATIC_PARAMS
from abrnet.evaluation.trivial_baselines import counterfactual_inputs
from abrnet.inference.checkpoint import load_checkpoint
from abrnet.inference.predictor import predict_cohort
from abrnet.training.losses import MultiTaskLoss
from abrnet.training.module import _mask_rows
from abrnet.training.negatives import waveless_negatives

FMP = STATIC_PARAMS.index("fmp")


def _batch(b: int = 400) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {
        "signal": torch.randn(b, 20, generator=g),
        "noise_only": torch.randn(b, 20, generator=g),
        "static": torch.rand(b, 4, generator=g),
        "latency": torch.full((b, 3), 5.0),
        "amplitude": torch.full((b, 3), 0.3),
        "class_id": torch.zeros(b, dtype=torch.long),
        "threshold": torch.full((b,), 20.0),
        "no_response": torch.zeros(b),
    }


def test_negatives_replace_only_analysis_rows_and_say_no_wave() -> None:
    batch = _batch()
    analysis = torch.arange(400) < 200
    out, neg = waveless_negatives(batch, analysis, 0.2, 0.1, torch.Generator().manual_seed(1), FMP)
    assert not neg[~analysis].any() and 40 < int(neg.sum()) < 80  # ~30 % of the 200 analysis rows
    noise_rows = neg & (out["signal"] == batch["noise_only"]).all(dim=1)
    rev_rows = neg & (out["signal"] == batch["signal"].flip(-1)).all(dim=1)
    assert noise_rows.sum() > 0 and rev_rows.sum() > 0 and bool((noise_rows | rev_rows)[neg].all())
    assert torch.isnan(out["latency"][neg]).all() and torch.isnan(out["threshold"][neg]).all()
    assert (out["class_id"][neg] == -1).all() and torch.isnan(out["static"][neg, FMP]).all()
    keep = ~neg
    assert torch.equal(out["signal"][keep], batch["signal"][keep]) and torch.equal(
        out["latency"][keep], batch["latency"][keep]
    )


def test_without_buffers_only_reversed_negatives() -> None:
    batch = _batch()
    del batch["noise_only"]
    out, neg = waveless_negatives(
        batch, torch.ones(400, dtype=torch.bool), 0.2, 0.1, torch.Generator().manual_seed(1), FMP
    )
    assert 20 < int(neg.sum()) < 60 and torch.equal(out["signal"][neg], batch["signal"][neg].flip(-1))


def test_negatives_train_presence_through_the_training_masks() -> None:
    """The path `training_step` takes: negatives → `_mask_rows` → loss. Every negative row must get a presence
    gradient towards "absent" (an AND of two masks once kept them all out), diffusion rows none."""
    batch = _batch(64)
    analysis = torch.arange(64) < 40
    out, neg = waveless_negatives(batch, analysis, 0.3, 0.2, torch.Generator().manual_seed(2), FMP)
    heads = _mask_rows(out, keep=analysis, waveless=neg)
    g = torch.Generator().manual_seed(3)
    outputs = {k: torch.randn(s, generator=g) for k, s in [("signal", (64, 20)), ("peak_latency", (64, 3)),
               ("peak_amplitude", (64, 3)), ("peak_latency_logvar", (64, 3)), ("peak_amplitude_logvar", (64, 3)),
               ("threshold_logvar", (64,)), ("class_logits", (64, 5)), ("threshold", (64,)),
               ("no_response_logit", (64,))]}  # fmt: skip
    outputs["peak_logits"] = torch.zeros(64, 3, requires_grad=True)
    raw = MultiTaskLoss().raw_losses(outputs, heads)
    (grad,) = torch.autograd.grad(raw["peak_presence"], [outputs["peak_logits"]])
    assert int(neg.sum()) >= 10
    assert (grad[neg] > 0).all()  # d BCE(0 logit, target 0) > 0: pushes every negative towards "absent"
    assert (grad[~analysis] == 0).all()


def test_trained_model_p_v_on_noise_only_does_not_rise_with_intensity(tiny_run: dict) -> None:
    """Noise-only records ((A − B)/2 of real simulated recordings) labelled 0…100 dB: p(V) must not follow the level."""
    loaded = load_checkpoint(tiny_run["dir"] / "best.ckpt")
    cohort = tiny_run["cohort"].subset(np.arange(200))
    means = []
    for name, variant in counterfactual_inputs(cohort).items():
        if name.startswith("noise_only_"):
            pred = predict_cohort(
                loaded.model, variant, loaded.normalizer, with_denoise=False, with_reconstruction=False
            )
            means.append(float(pred.peak_presence_prob[:, 2].mean()))
    assert len(means) == 6
    slope = np.polyfit(np.arange(0, 101, 20), means, 1)[0] * 100.0  # change of mean p(V) from 0 to 100 dB
    assert slope < 0.05, means
