"""Conditioning vector = static-parameter embedding (or the learned null embedding) + timestep embedding.

Classifier-free guidance: for samples whose ``drop_condition`` is True the static embedding is replaced by a
learned null embedding (one decision per sample). The caller decides, or — in training mode with no mask given —
each sample is dropped with probability ``cond_drop_prob``. The timestep embedding is never dropped.
"""

from __future__ import annotations

import torch
from torch import nn

from abrnet.models.common import sinusoidal_embedding


class StaticParamEmbedding(nn.Module):
    """MLP embedding of the normalised static parameters (age, intensity, stimulus rate, FMP): (B, 4) → (B, D).

    A parameter a recording lacks (NaN, e.g. FMP from a device that reports none) enters as 0 plus a "missing"
    indicator, never as a made-up value. Training hides the optional parameters on a share of rows
    (`hide_optional`), so the model learns to work without them instead of meeting "missing" first at inference.
    """

    def __init__(self, n_static: int, dim: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(2 * n_static, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, static_params: torch.Tensor) -> torch.Tensor:
        missing = torch.isnan(static_params)  # (B, S)
        values = torch.where(missing, torch.zeros_like(static_params), static_params)
        return self.mlp(torch.cat([values, missing.to(values.dtype)], dim=-1))  # (B, D)


def hide_optional(
    static_params: torch.Tensor, optional: tuple[int, ...], prob: float, generator: torch.Generator
) -> torch.Tensor:
    """(B, S) copy with each optional column set to NaN ("not measured") on a ``prob`` share of rows (seeded)."""
    if prob <= 0 or not optional:
        return static_params
    hide = torch.zeros(static_params.shape, dtype=torch.bool)
    hide[:, list(optional)] = torch.rand((static_params.shape[0], len(optional)), generator=generator) < prob
    return torch.where(hide.to(static_params.device), torch.nan, static_params)


def jitter_column(
    static_params: torch.Tensor, column: int, sigma: float, rows: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """(B, S) copy with ``column`` shifted by N(0, sigma) (normalised units) on ``rows`` (B,) only (seeded).

    Why: a network that knows the level exactly learns "loud ⇒ wave V" as a prior and can say V where the trace
    has none; known only to ±sigma, the level stays a hint and the waveform has to carry the decision. One draw per
    row whatever ``rows`` is, so the random stream does not depend on which rows are jittered.
    """
    if sigma <= 0:
        return static_params
    shift = torch.randn(static_params.shape[0], generator=generator) * sigma  # (B,)
    shift = torch.where(rows.cpu(), shift, torch.zeros_like(shift)).to(static_params)
    jittered = static_params.clone()
    jittered[:, column] = jittered[:, column] + shift
    return jittered


class TimestepEmbedding(nn.Module):
    """Sinusoidal features of the diffusion step, then an MLP: (B,) → (B, D)."""

    def __init__(self, dim: int, sinusoid_dim: int | None = None) -> None:
        super().__init__()
        self.sinusoid_dim = sinusoid_dim or dim
        self.mlp = nn.Sequential(nn.Linear(self.sinusoid_dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.mlp(sinusoidal_embedding(t, self.sinusoid_dim))  # (B, D)


class ConditionEncoder(nn.Module):
    """Builds the (B, D) conditioning vector used by every FiLM layer, with classifier-free-guidance dropping."""

    def __init__(
        self,
        n_static: int,
        dim: int,
        cond_drop_prob: float = 0.1,
        separate_analysis: bool = False,
    ) -> None:
        super().__init__()
        self.static = StaticParamEmbedding(n_static, dim)
        # the conditioning is additive (static + time), so without its own embedding the analysis path (t = 0, where
        # the level is jittered in training) and the diffusion path share one map from level to every FiLM layer
        self.static_analysis = StaticParamEmbedding(n_static, dim) if separate_analysis else None
        self.time = TimestepEmbedding(dim)
        self.null_embedding = nn.Parameter(torch.randn(dim) * 0.02)  # (D) stands in for "no condition"
        self.cond_drop_prob = cond_drop_prob

    def drop_mask(self, batch: int, device: torch.device, drop_condition: torch.Tensor | None) -> torch.Tensor:
        """(B,) bool: the caller's mask, else a random one in training mode, else all False."""
        if drop_condition is not None:
            return drop_condition.to(device=device, dtype=torch.bool).reshape(batch)
        if self.training and self.cond_drop_prob > 0:
            return torch.rand(batch, device=device) < self.cond_drop_prob
        return torch.zeros(batch, dtype=torch.bool, device=device)

    def forward(
        self, static_params: torch.Tensor, timesteps: torch.Tensor, drop_condition: torch.Tensor | None = None
    ) -> torch.Tensor:
        """static_params (B, 4) normalised, timesteps (B,) → cond (B, D)."""
        s = self.static(static_params)  # (B, D)
        if self.static_analysis is not None:
            analysis = (timesteps == 0).unsqueeze(-1)  # (B, 1) the recording as observed, not a diffusion step
            s = torch.where(analysis, self.static_analysis(static_params), s)  # (B, D)
        drop = self.drop_mask(s.shape[0], s.device, drop_condition)  # (B)
        s = torch.where(drop.unsqueeze(-1), self.null_embedding.to(s.dtype).expand_as(s), s)  # (B, D)
        return s + self.time(timesteps)  # (B, D)
