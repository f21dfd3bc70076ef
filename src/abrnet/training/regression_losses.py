"""Regression losses with a predicted variance: Gaussian NLL, β-NLL and Huber's robust likelihood.

Every regression head (peak latency / amplitude, threshold, static parameters) predicts a mean and a
log-variance, and the log-variance is what the calibration intervals and the per-ear series weighting read. So
every regression loss here is a *likelihood* in both: a loss that ignored the log-variance (plain Huber on the
mean) would leave those heads untrained at their initial value while the intervals still quoted them.

* ``gaussian_nll``: ``0.5·(lv + r²·e^(−lv))`` per entry, r = target − mean, without the constant ``0.5·log 2π``
  (as ``torch.nn.GaussianNLLLoss(full=False)``).
* ``huber``: Huber's least-favourable density ``p(r) ∝ exp(−ρ_δ(r/σ)) / σ`` (Gaussian core, Laplace tails), NLL
  ``0.5·lv + ρ_δ(r/σ)`` with ``ρ_δ(z) = z²/2`` for |z| ≤ δ, ``δ·(|z| − δ/2)`` beyond. δ is in units of σ (a
  standardised residual), so the robustness is the same for ms, µV and dB; as δ → ∞ it is the Gaussian NLL. An
  outlier label pulls the mean with a bounded force (δ/σ) instead of one growing with the residual, and σ is
  still fitted. σ is then a robust scale, not the standard deviation: at Gaussian residuals its optimum is
  0.87·sd at δ = 1.345 (computed), so intervals read from it are ~13 % narrow; the default gaussian_nll has no
  such bias.

``logvar`` is clamped to [logvar_min, logvar_max] so a collapsing variance cannot blow the loss up. ``nll_beta``
> 0 gives β-NLL (Seitzer et al. 2022): each entry's loss is multiplied by ``stop_grad(σ²)^β``. The plain
likelihood (β = 0) scales the mean's gradient by 1/σ², so the network learns the mean poorly exactly where the
records are noisy (low-level, small waves); β = 0.5 restores a gradient closer to MSE's there while the variance
is still fitted. The factors are divided by their mean over the task's labelled entries: σ is in physical units
(ms, µV, dB), and without that β-NLL would re-weight the tasks against each other (threshold σ ≈ 5 dB vs latency
σ ≈ 0.2 ms: measured, the threshold took 96-98 % of the weighted loss).

Unlabelled entries (NaN targets) are selected away before any arithmetic (see `abrnet.training.losses`); with
nothing labelled the loss is an exact 0.0 that keeps a (zero) gradient path.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

__all__ = [
    "LOGVAR_MAX",
    "LOGVAR_MIN",
    "RegressionKind",
    "beta_weights",
    "gaussian_nll",
    "huber_nll",
    "masked_mean",
    "peak_regression_loss",
    "regression_loss",
    "static_loss",
    "threshold_loss",
]

RegressionKind = Literal["gaussian_nll", "huber"]

LOGVAR_MIN: float = -10.0
LOGVAR_MAX: float = 10.0
HUBER_DELTA: float = 1.345  # Huber's classical constant: 95 % efficiency at Gaussian residuals


def masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``values[mask]``; an empty selection gives an exact 0.0 that keeps a (zero) gradient path."""
    sel = values[mask]
    if sel.numel() == 0:
        return sel.sum()
    return sel.mean()


def gaussian_nll(
    mean: Tensor, logvar: Tensor, target: Tensor, logvar_min: float = LOGVAR_MIN, logvar_max: float = LOGVAR_MAX
) -> Tensor:
    """Element-wise Gaussian NLL (no reduction), ``0.5 * (lv + (t - m)² · exp(-lv))`` with ``lv`` clamped."""
    lv = logvar.clamp(logvar_min, logvar_max)
    return 0.5 * (lv + (target - mean).pow(2) * torch.exp(-lv))


def huber_nll(
    mean: Tensor,
    logvar: Tensor,
    target: Tensor,
    delta: float = HUBER_DELTA,
    logvar_min: float = LOGVAR_MIN,
    logvar_max: float = LOGVAR_MAX,
) -> Tensor:
    """Element-wise NLL of Huber's density (no reduction): ``0.5·lv + ρ_δ((t − m)/σ)``, σ = exp(lv/2), lv clamped.

    Equals `gaussian_nll` where |t − m| ≤ δ·σ; linear in the standardised residual beyond (module doc).
    """
    lv = logvar.clamp(logvar_min, logvar_max)
    z = (target - mean).abs() * torch.exp(-0.5 * lv)  # standardised |residual|
    rho = torch.where(z <= delta, 0.5 * z.pow(2), delta * (z - 0.5 * delta))
    return 0.5 * lv + rho


def beta_weights(logvar: Tensor, beta: float, logvar_min: float = LOGVAR_MIN, logvar_max: float = LOGVAR_MAX) -> Tensor:
    """β-NLL factors ``stop_grad(σ²)^β`` over the selected entries, divided by their mean (unit-free; module doc)."""
    w = torch.exp(beta * logvar.detach().clamp(logvar_min, logvar_max))
    return w / w.mean()


def regression_loss(
    mean: Tensor,
    logvar: Tensor | None,
    target: Tensor,
    kind: RegressionKind = "gaussian_nll",
    logvar_min: float = LOGVAR_MIN,
    logvar_max: float = LOGVAR_MAX,
    huber_delta: float = HUBER_DELTA,
    beta: float = 0.0,
) -> Tensor:
    """Mean likelihood loss over the finite targets only; mean, logvar, target: same shape (any)."""
    if logvar is None:
        raise ValueError(f"{kind} needs a log-variance prediction (the variance heads are trained by it)")
    mask = torch.isfinite(target)
    m, lv, t = mean[mask], logvar[mask], target[mask]
    if m.numel() == 0:
        return m.sum() + lv.sum()
    if kind == "gaussian_nll":
        per = gaussian_nll(m, lv, t, logvar_min, logvar_max)
    elif kind == "huber":
        per = huber_nll(m, lv, t, huber_delta, logvar_min, logvar_max)
    else:
        raise ValueError(f"unknown regression loss {kind!r}; expected 'gaussian_nll' or 'huber'")
    return (per * beta_weights(lv, beta, logvar_min, logvar_max)).mean() if beta > 0 else per.mean()


def peak_regression_loss(
    mean: Tensor,
    logvar: Tensor | None,
    target: Tensor,
    kind: RegressionKind = "gaussian_nll",
    logvar_min: float = LOGVAR_MIN,
    logvar_max: float = LOGVAR_MAX,
    huber_delta: float = HUBER_DELTA,
    nll_beta: float = 0.0,
) -> Tensor:
    """Peak latency (ms) or amplitude (µV) loss over labelled waves only; no labelled wave → exact 0.

    mean, logvar, target: (B, W); target NaN = wave not labelled.
    """
    return regression_loss(mean, logvar, target, kind, logvar_min, logvar_max, huber_delta, nll_beta)


def threshold_loss(
    mean: Tensor,
    logvar: Tensor | None,
    target: Tensor,
    kind: RegressionKind = "gaussian_nll",
    logvar_min: float = LOGVAR_MIN,
    logvar_max: float = LOGVAR_MAX,
    huber_delta: float = HUBER_DELTA,
    nll_beta: float = 0.0,
) -> Tensor:
    """Hearing-threshold (dB) loss over ears with a measurable threshold (target finite).

    mean, logvar, target: (B,); NaN target = no response or unknown (no_response_loss covers the former).
    """
    return regression_loss(mean, logvar, target, kind, logvar_min, logvar_max, huber_delta, nll_beta)


def static_loss(
    mean: Tensor, logvar: Tensor, target: Tensor, logvar_min: float = LOGVAR_MIN, logvar_max: float = LOGVAR_MAX
) -> Tensor:
    """Gaussian NLL of the reconstructed (normalised) static parameters; mean, logvar, target: (B, S)."""
    return regression_loss(mean, logvar, target, "gaussian_nll", logvar_min, logvar_max)
