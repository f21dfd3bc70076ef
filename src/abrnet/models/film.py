"""FiLM: feature-wise affine modulation of (B, C, T) features by the conditioning vector."""

from __future__ import annotations

import torch
from torch import nn


class FiLM(nn.Module):
    """x·(1 + γ(c)) + β(c). The projection starts small (not zero) so the block is near-identity at init while
    gradients still reach the conditioning path from the first step."""

    def __init__(self, dim: int, cond_dim: int, init_std: float = 0.02) -> None:
        super().__init__()
        self.proj = nn.Sequential(nn.SiLU(), nn.Linear(cond_dim, 2 * dim))
        nn.init.normal_(self.proj[1].weight, std=init_std)
        nn.init.zeros_(self.proj[1].bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """x (B, C, T), cond (B, D) → (B, C, T)."""
        gamma, beta = self.proj(cond).unsqueeze(-1).chunk(2, dim=1)  # (B, C, 1) each
        return x * (1 + gamma) + beta
