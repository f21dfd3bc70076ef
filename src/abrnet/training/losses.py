"""Masked multi-task losses for the ABR model (the likelihood losses of the regression heads live in
`abrnet.training.regression_losses` and are re-exported here).

Real cohorts label only some records (a wave not marked, class unknown, no threshold), so every loss selects the
labelled entries first and averages over those alone. Why the selection is done by boolean indexing rather than
by multiplying with a 0/1 mask: a NaN label times 0 is still NaN, and a NaN in the forward pass poisons the
gradient even where it is multiplied away. Indexing never touches unlabelled entries, and when nothing is labelled
the sum over the empty selection is an exact 0.0 that still has a grad_fn (its gradient is all zeros), so a batch
without labels for a task contributes nothing and can never produce NaN.

Peak presence is the one target made from the *absence* of labels ("no latency = no wave"), so it is trusted only
on records that carry some annotation (`annotated_records`): a record from a real file with no labels at all
would otherwise teach "no waves" to a response nobody marked.

Conventions: B records, T samples, W = 3 waves, C = 5 classes, S = 4 static parameters. Every function returns a
0-dim tensor.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from abrnet.constants import CLASS_NAMES
from abrnet.training.regression_losses import (
    HUBER_DELTA,
    LOGVAR_MAX,
    LOGVAR_MIN,
    RegressionKind,
    beta_weights,
    gaussian_nll,
    huber_nll,
    masked_mean,
    peak_regression_loss,
    static_loss,
    threshold_loss,
)

__all__ = [
    "LOGVAR_MAX",
    "LOGVAR_MIN",
    "TASKS",
    "MultiTaskLoss",
    "annotated_records",
    "beta_weights",
    "class_weights_from_counts",
    "classification_loss",
    "gaussian_nll",
    "huber_nll",
    "no_response_loss",
    "peak_presence_loss",
    "peak_regression_loss",
    "signal_loss",
    "static_head_rows",
    "static_loss",
    "task_gradient_norms",
    "threshold_loss",
]

TASKS: tuple[str, ...] = (
    "signal",
    "peak_presence",
    "peak_latency",
    "peak_amplitude",
    "classification",
    "threshold",
    "no_response",
    "static",
)

ClassificationKind = Literal["focal", "class_balanced", "ce"]
_masked_mean = masked_mean


def annotated_records(latency: Tensor, class_id: Tensor, threshold: Tensor, no_response: Tensor) -> Tensor:
    """(B,) bool: records whose missing wave labels mean "no wave" — any wave, class, threshold or no-response label.

    latency (B, W) NaN = not labelled; class_id (B,) -1 = unknown; threshold (B,) NaN = unknown; no_response (B,)
    1 = no response (0 / NaN say nothing: a file without annotations stores False). A record with none of these is
    unannotated, and its presence targets are masked.
    """
    return (
        torch.isfinite(latency).any(dim=-1)
        | (class_id >= 0)
        | torch.isfinite(threshold)
        | (torch.nan_to_num(no_response.float(), nan=0.0) > 0.5)
    )


def static_head_rows(drop: Tensor, is_diffusion: Tensor) -> Tensor:
    """(B,) bool: the rows `static_loss` trains the static head on — diffusion rows whose condition was dropped.

    drop, is_diffusion: (B,) bool. Why these rows: the head serves joint generation, which reads p(s | x) off a
    *clean generated* signal (`abrnet.diffusion.sampling.generate_joint`, at a small timestep on a forward-process
    draw). Diffusion rows are x_t = α_t·x0 + σ_t·ε of the clean response at their own timestep — that domain; the
    analysis rows are noisy observed recordings at t = 0 (and waveless negatives), which a generated signal never
    looks like. The condition must be dropped, or the FiLM-conditioned features carry the answer. Cost: none — the
    rows are already in the batch's one forward pass; only the mask changes (about half the rows it had before).
    """
    return drop.bool() & is_diffusion.bool()


def signal_loss(pred: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
    """MSE between predicted and target v/ε (or clean signal), over the selected records or samples.

    pred, target: (B, T). mask: None (all), (B,) per record, or (B, T) per sample; bool or 0/1.
    """
    finite = torch.isfinite(target)
    if mask is not None:
        m = mask.bool()
        if m.dim() == 1:
            m = m[:, None].expand_as(target)
        finite = finite & m
    return _masked_mean((pred - torch.where(finite, target, torch.zeros_like(target))).pow(2), finite)


def peak_presence_loss(logits: Tensor, latency: Tensor, known: Tensor | None = None) -> Tensor:
    """BCE of wave presence; the target is "this wave has a finite latency label".

    logits, latency: (B, W). known: optional (B,) bool = records whose peak labels are trustworthy (an unlabelled
    real record would otherwise teach "no waves"); default all records.
    """
    target = torch.isfinite(latency).to(logits.dtype)
    elem = F.binary_cross_entropy_with_logits(logits, target, reduction="none")  # (B, W)
    if known is None:
        mask = torch.ones_like(target, dtype=torch.bool)
    else:
        mask = known.bool()[:, None].expand_as(target)
    return _masked_mean(elem, mask)


def no_response_loss(logit: Tensor, target: Tensor) -> Tensor:
    """BCE of "no response at the maximum level"; logit, target: (B,), target NaN = unknown (ignored)."""
    mask = torch.isfinite(target)
    return _masked_mean(
        F.binary_cross_entropy_with_logits(
            logit, torch.where(mask, target, torch.zeros_like(target)), reduction="none"
        ),
        mask,
    )


def class_weights_from_counts(
    counts: Sequence[float] | Tensor,
    method: Literal["inverse", "effective_number"] = "inverse",
    beta: float = 0.999,
) -> Tensor:
    """Per-class weights from training-set class counts, normalised to mean 1 over the classes present.

    ``inverse``: w_c ∝ 1 / n_c. ``effective_number`` (Cui et al. 2019, class-balanced loss): w_c ∝ (1 - β) /
    (1 - β^n_c), which saturates for large classes instead of growing without bound. Classes with no example get
    weight 0 (they cannot appear in the targets anyway). Returns a float32 (C,) tensor.
    """
    n = torch.as_tensor(counts, dtype=torch.float64).flatten()
    if n.numel() == 0 or bool((n < 0).any()) or not bool(torch.isfinite(n).all()):
        raise ValueError(f"class counts must be finite and >= 0, got {n.tolist()}")
    present = n > 0
    if not bool(present.any()):
        raise ValueError("class counts are all zero")
    w = torch.zeros_like(n)
    if method == "inverse":
        w[present] = 1.0 / n[present]
    elif method == "effective_number":
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"beta must be in [0, 1), got {beta}")
        w[present] = (1.0 - beta) / (1.0 - beta ** n[present])
    else:
        raise ValueError(f"unknown method {method!r}; expected 'inverse' or 'effective_number'")
    w = w * (present.sum() / w.sum())
    return w.float()


def classification_loss(
    logits: Tensor,
    class_id: Tensor,
    kind: ClassificationKind = "focal",
    gamma: float = 2.0,
    class_weights: Tensor | None = None,
    beta: float = 0.999,
) -> Tensor:
    """Hearing-loss class loss over records with a known class (class_id >= 0).

    logits: (B, C); class_id: (B,) long, -1 = unknown. Per record ``l_i = α_y · (1 - p_y)^γ · (-log p_y)``,
    reduced as ``sum(l_i) / N_known`` (the weights keep their scale instead of being normalised away, so the
    focal α really shifts emphasis between classes):
      * ``focal``: γ = gamma, α = class_weights (or 1). γ = 0 and no weights is exactly cross-entropy.
      * ``class_balanced``: γ = 0, α = class_weights, which should be effective-number weights from the training
        counts (`class_weights_from_counts(counts, "effective_number")`); if None they are computed from this
        batch's counts.
      * ``ce``: γ = 0, α = class_weights (or 1).
    """
    valid = class_id >= 0
    lg = logits[valid]  # (N, C)
    y = class_id[valid]
    if y.numel() == 0:
        return lg.sum()
    logp = F.log_softmax(lg.float(), dim=-1).gather(1, y[:, None]).squeeze(1)  # (N,)
    per = -logp
    if kind == "focal":
        if gamma > 0:
            per = per * (1.0 - logp.exp()).clamp_min(0.0).pow(gamma)
        weights = class_weights
    elif kind == "class_balanced":
        weights = class_weights
        if weights is None:
            counts = torch.bincount(y, minlength=logits.shape[-1])
            weights = class_weights_from_counts(counts, "effective_number", beta)
    elif kind == "ce":
        weights = class_weights
    else:
        raise ValueError(f"unknown classification loss {kind!r}; expected 'focal', 'class_balanced' or 'ce'")
    if weights is not None:
        per = per * weights.to(device=per.device, dtype=per.dtype)[y]
    return per.sum() / y.numel()


class MultiTaskLoss(nn.Module):
    """Weighted sum of the task losses: ``total = Σ_task base_weight · multiplier · loss_task``.

    ``forward`` returns ``(total, parts)`` where parts[task] is the task's *weighted* contribution as a detached
    float (for logging; a likelihood term can be negative, so shares of it mean nothing); ``last_raw`` keeps the
    unweighted values, and `terms` gives the weighted, differentiable terms whose gradient norms on the shared
    trunk the task-dominance alert compares.

    Peak presence is trained on the rows the batch's ``peak_known`` marks (it replaces the rule: a waveless negative
    has no other label), else on `annotated_records`.

    The signal target (v or ε) is made by the diffusion step, not by the DataModule, so it is passed in explicitly;
    without it the signal term is 0. An output key that the model does not produce (e.g. ``static_params``) gives 0.
    """

    class_weights: Tensor | None

    def __init__(
        self,
        weights: Mapping[str, float] | Any | None = None,
        classification_kind: ClassificationKind = "focal",
        focal_gamma: float = 2.0,
        class_weights: Tensor | Sequence[float] | None = None,
        regression_kind: RegressionKind = "gaussian_nll",
        logvar_min: float = LOGVAR_MIN,
        logvar_max: float = LOGVAR_MAX,
        huber_delta: float = HUBER_DELTA,
        class_balanced_beta: float = 0.999,
        nll_beta: float = 0.0,
    ) -> None:
        super().__init__()
        if weights is None:
            w = dict.fromkeys(TASKS, 1.0)
        elif isinstance(weights, Mapping):
            w = {k: float(v) for k, v in weights.items()}
        else:  # a pydantic LossWeights
            w = {k: float(v) for k, v in weights.model_dump().items()}
        unknown = set(w) - set(TASKS)
        if unknown:
            raise ValueError(f"unknown task weight(s) {sorted(unknown)}; tasks: {list(TASKS)}")
        self.weights: dict[str, float] = {t: w.get(t, 0.0) for t in TASKS}
        self.classification_kind = classification_kind
        self.focal_gamma = float(focal_gamma)
        self.regression_kind = regression_kind
        self.logvar_min, self.logvar_max = float(logvar_min), float(logvar_max)
        self.huber_delta = float(huber_delta)
        if not 0.0 <= nll_beta <= 1.0:
            raise ValueError(f"nll_beta must be in [0, 1], got {nll_beta}")
        self.nll_beta = float(nll_beta)
        self.class_balanced_beta = float(class_balanced_beta)
        cw = None if class_weights is None else torch.as_tensor(class_weights, dtype=torch.float32).flatten()
        if cw is not None and cw.numel() != len(CLASS_NAMES):
            raise ValueError(f"class_weights needs {len(CLASS_NAMES)} values, got {cw.numel()}")
        self.register_buffer("class_weights", cw, persistent=False)
        self.last_raw: dict[str, float] = {}

    @classmethod
    def from_config(cls, loss_cfg: Any, class_counts: Sequence[float] | Tensor | None = None) -> MultiTaskLoss:
        """Build from a `LossConfig`; ``class_weights: balanced`` needs the training-set ``class_counts`` (C,)."""
        cw: Tensor | None = None
        spec = loss_cfg.class_weights
        if isinstance(spec, list):
            cw = torch.tensor(spec, dtype=torch.float32)
        elif spec == "balanced" and class_counts is not None:
            method = "effective_number"  # inverse frequency (1/0.008) would let NEUROPATHY swamp the loss
            cw = class_weights_from_counts(class_counts, method, loss_cfg.class_balanced_beta)
        return cls(
            weights=loss_cfg.weights,
            classification_kind=loss_cfg.classification_loss,
            focal_gamma=loss_cfg.focal_gamma,
            class_weights=cw,
            regression_kind=loss_cfg.regression_loss,
            logvar_min=loss_cfg.logvar_min,
            logvar_max=loss_cfg.logvar_max,
            huber_delta=loss_cfg.huber_delta,
            class_balanced_beta=loss_cfg.class_balanced_beta,
            nll_beta=loss_cfg.nll_beta,
        )

    def raw_losses(
        self,
        outputs: Mapping[str, Tensor],
        batch: Mapping[str, Tensor],
        signal_target: Tensor | None = None,
        signal_mask: Tensor | None = None,
    ) -> dict[str, Tensor]:
        """Unweighted per-task losses (0-dim tensors, each exactly 0 when nothing is labelled for it)."""
        reg = dict(
            kind=self.regression_kind,
            logvar_min=self.logvar_min,
            logvar_max=self.logvar_max,
            huber_delta=self.huber_delta,
            nll_beta=self.nll_beta,
        )
        ref = outputs["signal"]
        zero = ref.sum() * 0.0 if torch.isfinite(ref).all() else ref.new_zeros(())
        out: dict[str, Tensor] = {}
        out["signal"] = signal_loss(ref, signal_target, signal_mask) if signal_target is not None else zero
        if batch.get("peak_known") is not None:  # the caller knows more (a waveless negative has no other label)
            known = batch["peak_known"].bool()
        else:
            known = annotated_records(batch["latency"], batch["class_id"], batch["threshold"], batch["no_response"])
        out["peak_presence"] = peak_presence_loss(outputs["peak_logits"], batch["latency"], known)
        out["peak_latency"] = peak_regression_loss(
            outputs["peak_latency"], outputs.get("peak_latency_logvar"), batch["latency"], **reg
        )
        out["peak_amplitude"] = peak_regression_loss(
            outputs["peak_amplitude"], outputs.get("peak_amplitude_logvar"), batch["amplitude"], **reg
        )
        out["classification"] = classification_loss(
            outputs["class_logits"],
            batch["class_id"],
            self.classification_kind,
            self.focal_gamma,
            self.class_weights,
            self.class_balanced_beta,
        )
        out["threshold"] = threshold_loss(
            outputs["threshold"], outputs.get("threshold_logvar"), batch["threshold"], **reg
        )
        out["no_response"] = no_response_loss(outputs["no_response_logit"], batch["no_response"].to(ref.dtype))
        if "static_params" in outputs and "static_params_logvar" in outputs:
            out["static"] = static_loss(
                outputs["static_params"],
                outputs["static_params_logvar"],
                batch["static"],
                self.logvar_min,
                self.logvar_max,
            )
        else:
            out["static"] = zero
        return out

    def terms(
        self,
        outputs: Mapping[str, Tensor],
        batch: Mapping[str, Tensor],
        multipliers: Mapping[str, float] | None = None,
        signal_target: Tensor | None = None,
        signal_mask: Tensor | None = None,
    ) -> dict[str, Tensor]:
        """Weighted, differentiable per-task terms ``base_weight · multiplier · loss`` (for per-task grad norms)."""
        raw = self.raw_losses(outputs, batch, signal_target, signal_mask)
        self.last_raw = {k: float(v.detach()) for k, v in raw.items()}
        mult = multipliers or {}
        return {t: raw[t] * (self.weights[t] * float(mult.get(t, 1.0))) for t in TASKS}

    def forward(
        self,
        outputs: Mapping[str, Tensor],
        batch: Mapping[str, Tensor],
        multipliers: Mapping[str, float] | None = None,
        signal_target: Tensor | None = None,
        signal_mask: Tensor | None = None,
    ) -> tuple[Tensor, dict[str, float]]:
        """Total loss (0-dim, differentiable) and the detached weighted contribution of each task."""
        terms = self.terms(outputs, batch, multipliers, signal_target, signal_mask)
        total = torch.stack([v.float() for v in terms.values()]).sum()
        parts = {k: float(v.detach()) for k, v in terms.items()}
        return total, parts


def task_gradient_norms(terms: Mapping[str, Tensor], shared: Sequence[Tensor]) -> dict[str, float]:
    """L2 norm of each weighted task term's gradient on the shared trunk parameters ``shared`` (GradNorm's W).

    Why gradients and not loss values: the gradient is what each task actually pushes into the shared weights,
    and it is non-negative and unit-free, whereas a likelihood term can be negative or tiny while steering the
    trunk. Each norm is one extra partial backward (graph kept), so callers compute it every few steps only.
    A term without a path to ``shared`` (a constant 0) gets 0.
    """
    params = [p for p in shared if p.requires_grad]
    out: dict[str, float] = {}
    for task, term in terms.items():
        if not term.requires_grad:
            out[task] = 0.0
            continue
        grads = torch.autograd.grad(term, params, retain_graph=True, allow_unused=True)
        sq = [g.detach().float().pow(2).sum() for g in grads if g is not None]
        out[task] = float(torch.stack(sq).sum().sqrt()) if sq else 0.0
    return out
