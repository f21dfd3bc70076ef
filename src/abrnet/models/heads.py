"""Output heads. Regression outputs are in physical units through fixed affine buffers
(value = centre + scale·linear, log-variance = 2·log(scale) + linear), never squashed, so no range is cut off."""

from __future__ import annotations

import math

import torch
from torch import nn

from abrnet.models.common import ChannelLayerNorm


def mlp(in_dim: int, hidden: int, out_dim: int) -> nn.Sequential:
    """Linear → SiLU → Linear: the small MLP every pooled head uses."""
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.SiLU(), nn.Linear(hidden, out_dim))


class SignalHead(nn.Module):
    """Per-time-step output (v or ε, whichever the training objective uses; the head is the same)."""

    def __init__(self, in_ch: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            ChannelLayerNorm(in_ch), nn.SiLU(), nn.Conv1d(in_ch, in_ch, 3, padding=1), nn.SiLU(), nn.Conv1d(in_ch, 1, 1)
        )

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.net(h)[:, 0]  # (B, T)


class PeakHead(nn.Module):
    """Waves I, III, V: presence logit, latency (ms) mean/log-variance, amplitude (µV) mean/log-variance.

    Reads one feature vector per wave (B, W, D) with per-wave output weights."""

    def __init__(
        self, in_dim: int, n_waves: int, latency_center_ms: tuple[float, ...], latency_scale_ms: float,
        amplitude_center_uv: float, amplitude_scale_uv: float,
    ) -> None:  # fmt: skip
        super().__init__()
        self.hidden = nn.Sequential(nn.Linear(in_dim, in_dim), nn.SiLU())
        self.weight = nn.Parameter(torch.randn(n_waves, in_dim, 5) / math.sqrt(in_dim))  # (W, D, 5)
        self.bias = nn.Parameter(torch.zeros(n_waves, 5))  # (W, 5)
        self.register_buffer("latency_center", torch.tensor(latency_center_ms, dtype=torch.float32))  # (W)
        self.latency_scale, self.amplitude_center, self.amplitude_scale = (
            latency_scale_ms,
            amplitude_center_uv,
            amplitude_scale_uv,
        )

    def forward(self, h: torch.Tensor) -> dict[str, torch.Tensor]:
        out = torch.einsum("bwd,wdk->bwk", self.hidden(h), self.weight) + self.bias  # (B, W, 5)
        logit, lat, lat_lv, amp, amp_lv = out.unbind(-1)  # (B, W) each
        return {
            "peak_logits": logit,
            "peak_latency": self.latency_center + self.latency_scale * lat,
            "peak_latency_logvar": 2 * math.log(self.latency_scale) + lat_lv,
            "peak_amplitude": self.amplitude_center + self.amplitude_scale * amp,
            "peak_amplitude_logvar": 2 * math.log(self.amplitude_scale) + amp_lv,
        }


class ClassHead(nn.Module):
    """Hearing-loss class logits (NORMAL, NEUROPATHY, SNHL, TOTAL, CONDUCTIVE)."""

    def __init__(self, in_dim: int, n_classes: int) -> None:
        super().__init__()
        self.net = mlp(in_dim, in_dim, n_classes)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.net(h)  # (B, n_classes)


class ThresholdHead(nn.Module):
    """Hearing threshold (dB) mean and log-variance, plus a no-response logit (no threshold within the range)."""

    def __init__(self, in_dim: int, center_db: float, scale_db: float) -> None:
        super().__init__()
        self.net = mlp(in_dim, in_dim, 3)
        self.center, self.scale = center_db, scale_db

    def forward(self, h: torch.Tensor) -> dict[str, torch.Tensor]:
        mean, logvar, no_response = self.net(h).unbind(-1)  # (B,) each
        return {
            "threshold": self.center + self.scale * mean,
            "threshold_logvar": 2 * math.log(self.scale) + logvar,
            "no_response_logit": no_response,
        }


class StaticParamHead(nn.Module):
    """Mean and log-variance of the static parameters in the normalised conditioning space (joint generation).

    The features it reads are FiLM-conditioned on those very parameters, so train it (and sample from it) on
    condition-dropped passes, or it learns to copy its input."""

    def __init__(self, in_dim: int, n_static: int) -> None:
        super().__init__()
        self.net = mlp(in_dim, in_dim, 2 * n_static)

    def forward(self, h: torch.Tensor) -> dict[str, torch.Tensor]:
        mean, logvar = self.net(h).chunk(2, dim=-1)  # (B, n_static) each
        return {"static_params": mean, "static_params_logvar": logvar}
