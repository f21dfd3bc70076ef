"""Masked multi-task losses: exact zero (with finite gradients) when nothing is labelled, hand-checked values."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from abrnet.config.train_config import LossConfig
from abrnet.training.losses import (
    TASKS,
    MultiTaskLoss,
    class_weights_from_counts,
    classification_loss,
    no_response_loss,
    peak_presence_loss,
    peak_regression_loss,
    signal_loss,
    static_loss,
    threshold_loss,
)

B, T = 4, 16
NAN = float("nan")


def _outputs(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    shapes = {
        "signal": (B, T),
        "peak_logits": (B, 3),
        "peak_latency": (B, 3),
        "peak_latency_logvar": (B, 3),
        "peak_amplitude": (B, 3),
        "peak_amplitude_logvar": (B, 3),
        "class_logits": (B, 5),
        "threshold": (B,),
        "threshold_logvar": (B,),
        "no_response_logit": (B,),
        "static_params": (B, 4),
        "static_params_logvar": (B, 4),
    }
    return {k: torch.randn(s, generator=g).requires_grad_(True) for k, s in shapes.items()}


def _unlabelled_batch() -> dict[str, torch.Tensor]:
    return {
        "signal": torch.randn(B, T),
        "static": torch.full((B, 4), NAN),
        "latency": torch.full((B, 3), NAN),
        "amplitude": torch.full((B, 3), NAN),
        "class_id": torch.full((B,), -1, dtype=torch.long),
        "threshold": torch.full((B,), NAN),
        "no_response": torch.full((B,), NAN),
    }


def _labelled_batch() -> dict[str, torch.Tensor]:
    b = _unlabelled_batch()
    b["static"] = torch.randn(B, 4)
    b["latency"] = torch.tensor([[1.5, 3.6, 5.6], [NAN, 3.8, 5.9], [NAN, NAN, 6.2], [NAN, NAN, NAN]])
    b["amplitude"] = torch.tensor([[0.2, 0.3, 0.5], [NAN, 0.2, 0.4], [NAN, NAN, 0.3], [NAN, NAN, NAN]])
    b["class_id"] = torch.tensor([0, 2, -1, 4])
    b["threshold"] = torch.tensor([20.0, NAN, 55.0, NAN])
    b["no_response"] = torch.tensor([0.0, 1.0, 0.0, NAN])
    return b


def _grads_finite(loss: torch.Tensor, outs: dict[str, torch.Tensor]) -> list[torch.Tensor]:
    tensors = list(outs.values())
    grads = torch.autograd.grad(loss, tensors, allow_unused=True)
    for name, g in zip(outs, grads, strict=True):
        assert g is None or torch.isfinite(g).all(), name
    return [g for g in grads if g is not None]


def test_no_labelled_peaks_is_exact_zero_with_finite_grads() -> None:
    outs = _outputs()
    lat = torch.full((B, 3), NAN)
    for kind in ("gaussian_nll", "huber"):
        loss = peak_regression_loss(outs["peak_latency"], outs["peak_latency_logvar"], lat, kind)
        assert loss.item() == 0.0 and loss.requires_grad
        grads = torch.autograd.grad(loss, [outs["peak_latency"], outs["peak_latency_logvar"]], allow_unused=True)
        assert all(g is None or (torch.isfinite(g).all() and (g == 0).all()) for g in grads)


def test_all_unknown_classes_is_exact_zero_with_finite_grads() -> None:
    logits = torch.randn(B, 5, requires_grad=True)
    ids = torch.full((B,), -1, dtype=torch.long)
    for kind in ("focal", "class_balanced", "ce"):
        loss = classification_loss(logits, ids, kind, 2.0, torch.ones(5))
        assert loss.item() == 0.0
        (g,) = torch.autograd.grad(loss, [logits])
        assert torch.isfinite(g).all() and (g == 0).all()


def test_other_empty_masks_are_zero() -> None:
    outs = _outputs()
    assert threshold_loss(outs["threshold"], outs["threshold_logvar"], torch.full((B,), NAN)).item() == 0.0
    assert no_response_loss(outs["no_response_logit"], torch.full((B,), NAN)).item() == 0.0
    assert static_loss(outs["static_params"], outs["static_params_logvar"], torch.full((B, 4), NAN)).item() == 0.0
    assert signal_loss(outs["signal"], torch.randn(B, T), torch.zeros(B, dtype=torch.bool)).item() == 0.0
    assert (
        peak_presence_loss(outs["peak_logits"], torch.full((B, 3), NAN), torch.zeros(B, dtype=torch.bool)).item() == 0
    )


def test_multitask_unlabelled_batch_total_and_grads_finite() -> None:
    outs = _outputs()
    loss = MultiTaskLoss.from_config(LossConfig(), class_counts=[10, 3, 5, 1, 2])
    total, parts = loss(outs, _unlabelled_batch())  # no signal target: signal term 0
    assert torch.isfinite(total)
    assert set(parts) == set(TASKS)
    for t in TASKS:  # incl. peak presence: records without any annotation do not teach "no waves"
        assert parts[t] == 0.0, t
    grads = _grads_finite(total, outs)
    assert grads  # the total is connected to the outputs


def test_multitask_weights_and_multipliers() -> None:
    outs = _outputs(1)
    batch = _labelled_batch()
    target = torch.randn(B, T)
    mtl = MultiTaskLoss.from_config(LossConfig())
    total, parts = mtl(outs, batch, multipliers={t: 0.5 for t in TASKS}, signal_target=target)
    raw = mtl.last_raw
    base = LossConfig().weights.model_dump()
    for t in TASKS:
        assert parts[t] == pytest.approx(raw[t] * base[t] * 0.5, rel=1e-5, abs=1e-7), t
    assert total.item() == pytest.approx(sum(parts.values()), rel=1e-5)
    assert raw["signal"] == pytest.approx(F.mse_loss(outs["signal"], target).item(), rel=1e-5)
    _grads_finite(total, outs)
    no_static = {k: v for k, v in outs.items() if not k.startswith("static")}
    _, parts2 = mtl(no_static, batch)
    assert parts2["static"] == 0.0


def test_nan_labels_never_leak_into_gradients() -> None:
    mean = torch.zeros(2, 3, requires_grad=True)
    logvar = torch.zeros(2, 3, requires_grad=True)
    target = torch.tensor([[1.0, NAN, 2.0], [NAN, NAN, NAN]])
    loss = peak_regression_loss(mean, logvar, target, "gaussian_nll")
    gm, gl = torch.autograd.grad(loss, [mean, logvar])
    assert torch.isfinite(gm).all() and torch.isfinite(gl).all()
    assert gm[0, 1] == 0 and gm[1].abs().sum() == 0


def test_beta_nll_scales_by_detached_variance_relative_to_the_task_mean() -> None:
    """β-NLL: each NLL times σ^(2β) / mean(σ^(2β)); β = 1 makes the mean's gradient the residual over mean(σ²)."""
    mean = torch.tensor([[1.0, 0.0]], requires_grad=True)
    logvar = torch.tensor([[math.log(4.0), math.log(0.25)]], requires_grad=True)
    target = torch.tensor([[3.0, 1.0]])
    plain = peak_regression_loss(mean, logvar, target, "gaussian_nll")
    assert peak_regression_loss(mean, logvar, target, "gaussian_nll", nll_beta=0.0).item() == plain.item()
    nll = 0.5 * (torch.log(torch.tensor([4.0, 0.25])) + torch.tensor([4.0 / 4.0, 1.0 / 0.25]))
    half = peak_regression_loss(mean, logvar, target, "gaussian_nll", nll_beta=0.5)
    w = torch.tensor([2.0, 0.5]) / 1.25  # σ / mean(σ)
    assert half.item() == pytest.approx(float((nll * w).mean()), rel=1e-6)
    (g_mean,) = torch.autograd.grad(peak_regression_loss(mean, logvar, target, "gaussian_nll", nll_beta=1.0), mean)
    assert g_mean[0].tolist() == pytest.approx([(1.0 - 3.0) / 2 / 2.125, (0.0 - 1.0) / 2 / 2.125], rel=1e-6)
    # unit-free: the same errors in other units (x10) give the same loss up to the log-variance constant
    big = peak_regression_loss(10 * mean, logvar + 2 * math.log(10), 10 * target, "gaussian_nll", nll_beta=0.5)
    assert big.item() == pytest.approx(half.item() + math.log(10) * float(w.mean()), rel=1e-5)
    with pytest.raises(ValueError, match="nll_beta"):
        MultiTaskLoss(nll_beta=1.5)


def test_gaussian_nll_hand_computed() -> None:
    mean = torch.tensor([[1.0, 0.0, 0.0]])
    logvar = torch.tensor([[0.0, math.log(4.0), 50.0]])  # 50 is clamped to logvar_max = 10
    target = torch.tensor([[3.0, 1.0, NAN]])
    # entry 1: 0.5 * (0 + 4 / 1) = 2.0 ; entry 2: 0.5 * (log 4 + 1 / 4) ; entry 3 unlabelled
    expected = (2.0 + 0.5 * (math.log(4.0) + 0.25)) / 2
    assert peak_regression_loss(mean, logvar, target, "gaussian_nll").item() == pytest.approx(expected, rel=1e-6)
    # clamping: logvar 50 behaves like 10
    lv_big = threshold_loss(torch.tensor([0.0]), torch.tensor([50.0]), torch.tensor([2.0]))
    assert lv_big.item() == pytest.approx(0.5 * (10.0 + 4.0 * math.exp(-10.0)), rel=1e-6)
    lv_small = threshold_loss(torch.tensor([0.0]), torch.tensor([-50.0]), torch.tensor([0.0]))
    assert lv_small.item() == pytest.approx(-5.0)


def test_huber_is_a_robust_likelihood_hand_computed() -> None:
    """0.5·lv + ρ_δ(r/σ): Gaussian NLL inside δσ, linear in the standardised residual beyond."""
    mean, target = torch.tensor([0.0, 0.0]), torch.tensor([0.5, 3.0])
    logvar = torch.tensor([0.0, math.log(4.0)])  # σ = 1, 2 → z = 0.5, 1.5
    # δ = 1: entry 1: 0 + 0.5·0.25 = 0.125 ; entry 2: 0.5·log 4 + 1·(1.5 − 0.5) = log 2 + 1
    got = threshold_loss(mean, logvar, target, "huber", huber_delta=1.0).item()
    assert got == pytest.approx((0.125 + math.log(2) + 1.0) / 2, rel=1e-6)
    # inside δσ it equals the Gaussian NLL; a huge δ makes it the Gaussian NLL everywhere
    small = torch.tensor([0.3])
    assert threshold_loss(torch.zeros(1), torch.zeros(1), small, "huber").item() == pytest.approx(
        threshold_loss(torch.zeros(1), torch.zeros(1), small, "gaussian_nll").item(), rel=1e-6
    )
    assert threshold_loss(mean, logvar, target, "huber", huber_delta=1e6).item() == pytest.approx(
        threshold_loss(mean, logvar, target, "gaussian_nll").item(), rel=1e-6
    )
    with pytest.raises(ValueError, match="log-variance"):
        threshold_loss(mean, None, target, "huber")


def test_huber_trains_the_variance_heads_and_bounds_outliers() -> None:
    mean = torch.zeros(4, requires_grad=True)
    logvar = torch.zeros(4, requires_grad=True)
    target = torch.tensor([0.1, -0.2, 0.3, 50.0])  # one gross outlier
    g_mean, g_lv = torch.autograd.grad(threshold_loss(mean, logvar, target, "huber", huber_delta=1.345), [mean, logvar])
    assert (g_lv != 0).all()  # every log-variance gets a gradient (plain Huber on the mean gave none)
    assert abs(float(g_mean[3])) == pytest.approx(1.345 / 4, rel=1e-6)  # the outlier's pull is bounded by δ/σ
    g_gauss, _ = torch.autograd.grad(threshold_loss(mean, logvar, target, "gaussian_nll"), [mean, logvar])
    assert abs(float(g_gauss[3])) > 30 * abs(float(g_mean[3]))


def test_annotated_records_and_presence_masking() -> None:
    """A record with no label at all (class -1, no latency, no threshold, no-response False / NaN) does not train
    peak presence; one with any annotation does, and its missing waves count as absent."""
    from abrnet.training.losses import annotated_records

    lat = torch.tensor([[NAN, NAN, 5.6], [NAN, NAN, NAN], [NAN, NAN, NAN], [NAN, NAN, NAN], [NAN, NAN, NAN]])
    cls = torch.tensor([-1, 2, -1, -1, -1])
    thr = torch.tensor([NAN, NAN, 40.0, NAN, NAN])
    nr = torch.tensor([0.0, 0.0, 0.0, 1.0, NAN])
    assert annotated_records(lat, cls, thr, nr).tolist() == [True, True, True, True, False]

    batch = {**_unlabelled_batch(), "latency": lat[:4].clone(), "class_id": cls[:4].clone()}
    batch |= {"threshold": thr[:4].clone(), "no_response": nr[:4].clone()}
    batch["latency"][0] = NAN  # record 0 now has no label at all
    batch["no_response"][0] = 0.0
    outs = _outputs()
    outs["peak_logits"] = torch.full((B, 3), 3.0, requires_grad=True)  # predicts "present" everywhere
    mtl = MultiTaskLoss()
    mtl(outs, batch)
    # records 1-3 are annotated with no wave: BCE(3, 0) per wave; record 0 is masked
    assert mtl.last_raw["peak_presence"] == pytest.approx(F.softplus(torch.tensor(3.0)).item(), rel=1e-6)
    (g,) = torch.autograd.grad(mtl(outs, batch)[0], [outs["peak_logits"]])
    assert (g[0] == 0).all() and (g[1:] != 0).all()
    batch["peak_known"] = torch.tensor([True, True, False, True])  # the caller's mask replaces the rule
    (g,) = torch.autograd.grad(mtl(outs, batch)[0], [outs["peak_logits"]])
    assert (g[2] == 0).all() and (g[1] != 0).all() and (g[0] != 0).all()  # record 0: unannotated, but marked known


def test_task_gradient_norms_on_shared_parameters() -> None:
    from abrnet.training.losses import task_gradient_norms

    w = torch.tensor([1.0, 2.0], requires_grad=True)
    unrelated = torch.ones(1, requires_grad=True)
    terms = {"a": (w * torch.tensor([3.0, 4.0])).sum(), "b": -10.0 * w[0], "c": unrelated.sum() * 2.0}
    norms = task_gradient_norms(terms | {"zero": torch.zeros(())}, [w])
    assert norms == pytest.approx({"a": 5.0, "b": 10.0, "c": 0.0, "zero": 0.0})  # a negative term: |gradient|


def test_focal_equals_ce_without_gamma_and_weights() -> None:
    logits = torch.tensor([[2.0, 0.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0]])
    ids = torch.tensor([0, 2, -1])
    # hand: record 0: p = e²/(e²+4); record 1: p = 1/(e+4); record 2 ignored
    p0 = math.exp(2) / (math.exp(2) + 4)
    p1 = 1 / (math.e + 4)
    ce = (-math.log(p0) - math.log(p1)) / 2
    assert classification_loss(logits, ids, "focal", gamma=0.0).item() == pytest.approx(ce, rel=1e-6)
    assert classification_loss(logits, ids, "ce").item() == pytest.approx(ce, rel=1e-6)
    assert F.cross_entropy(logits, ids, ignore_index=-1).item() == pytest.approx(ce, rel=1e-6)
    focal = ((1 - p0) ** 2 * -math.log(p0) + (1 - p1) ** 2 * -math.log(p1)) / 2
    assert classification_loss(logits, ids, "focal", gamma=2.0).item() == pytest.approx(focal, rel=1e-6)
    w = torch.tensor([0.5, 1.0, 3.0, 1.0, 1.0])
    weighted = ((1 - p0) ** 2 * -math.log(p0) * 0.5 + (1 - p1) ** 2 * -math.log(p1) * 3.0) / 2
    got = classification_loss(logits, ids, "focal", gamma=2.0, class_weights=w).item()
    assert got == pytest.approx(weighted, rel=1e-6)
    assert got != pytest.approx(focal, rel=1e-3)  # the alpha weights are kept


def test_class_balanced_uses_effective_number() -> None:
    counts = [1000, 10, 100, 1, 50]
    w = class_weights_from_counts(counts, "effective_number", beta=0.99)
    raw = torch.tensor([(1 - 0.99) / (1 - 0.99**n) for n in counts], dtype=torch.float64)
    assert torch.allclose(w.double(), raw * 5 / raw.sum(), rtol=1e-5)
    assert w[3] > w[1] > w[2] > w[0]
    inv = class_weights_from_counts(counts, "inverse")
    assert inv.mean().item() == pytest.approx(1.0, rel=1e-6) and inv[3] / inv[0] == pytest.approx(1000.0, rel=1e-4)
    assert class_weights_from_counts([5, 0, 5, 5, 5])[1] == 0.0
    with pytest.raises(ValueError):
        class_weights_from_counts([0, 0, 0, 0, 0])
    logits = torch.randn(6, 5)
    ids = torch.tensor([0, 0, 0, 0, 1, 2])
    cb = classification_loss(logits, ids, "class_balanced", class_weights=w)
    manual = (F.cross_entropy(logits, ids, reduction="none") * w[ids]).mean()
    assert cb.item() == pytest.approx(manual.item(), rel=1e-5)


def test_presence_and_no_response() -> None:
    logits = torch.zeros(2, 3)
    lat = torch.tensor([[1.0, NAN, 5.0], [NAN, NAN, NAN]])
    assert peak_presence_loss(logits, lat).item() == pytest.approx(math.log(2), rel=1e-6)
    # only the first record's labels are known: still log 2 at logit 0, but target pattern matters for logits != 0
    big = torch.tensor([[5.0, -5.0, 5.0], [5.0, 5.0, 5.0]])
    known = torch.tensor([True, False])
    assert peak_presence_loss(big, lat, known).item() == pytest.approx(math.log1p(math.exp(-5.0)), rel=1e-5)
    nr = no_response_loss(torch.tensor([0.0, 3.0, 1.0]), torch.tensor([1.0, NAN, 0.0]))
    assert nr.item() == pytest.approx((math.log(2) + math.log1p(math.e)) / 2, rel=1e-6)
