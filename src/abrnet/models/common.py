"""Small shared pieces: channel LayerNorm for (B, C, T) features and sinusoidal embeddings."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class ChannelLayerNorm(nn.Module):
    """LayerNorm over the channel axis of (B, C, T) features (per time step, unlike GroupNorm)."""

    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.layer_norm(x.transpose(1, 2), x.shape[1:2], self.weight, self.bias, self.eps)  # (B, T, C)
        return x.transpose(1, 2)  # (B, C, T)


def sinusoidal_embedding(t: torch.Tensor, dim: int, max_period: float = 10_000.0) -> torch.Tensor:
    """Transformer-style sin/cos features of a (B,) tensor of positions or diffusion steps → (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float().unsqueeze(-1) * freqs  # (B, half)
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)  # (B, 2·half)
    return F.pad(emb, (0, dim - 2 * half))  # (B, dim)


def position_channels(length: int, n_channels: int, ref_length: int, device: torch.device) -> torch.Tensor:
    """(n_channels, T) fixed sin/cos of the sample position relative to ``ref_length``.

    Attention and convolutions are shift-equivariant, but ABR peak latencies are absolute times; these channels,
    concatenated to the input, give every block access to where in the sweep a sample lies.
    """
    pos = torch.arange(length, device=device, dtype=torch.float32) / ref_length  # (T)
    k = torch.arange(n_channels // 2, device=device, dtype=torch.float32)
    args = math.pi * (2.0**k).unsqueeze(-1) * pos  # (n/2, T)
    return torch.cat([torch.sin(args), torch.cos(args)], dim=0)  # (n, T)
