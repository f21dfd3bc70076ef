"""U-Net stages: encoder block, bottleneck, decoder block, and the two kinds of skip connection.

Lengths are tracked, not patched: each encoder stage halves the length with a stride-2 conv (ceil(T/2), so
200 → 100 → 50 → 25 → 13), and each decoder stage doubles it with a transposed conv and crops the one surplus
sample to the skip's length (13 → 26 → 25). Nothing is interpolated.
"""

from __future__ import annotations

import torch
from torch import nn

from abrnet.models.attention import AttentionGated, CrossAttentionTransformerBlock, TransformerLayer, make_attention
from abrnet.models.common import ChannelLayerNorm
from abrnet.models.config import ModelConfig
from abrnet.models.film import FiLM
from abrnet.models.s4d import S4Block


def s4_block(dim: int, cfg: ModelConfig) -> S4Block:
    """An `S4Block` of width ``dim`` configured from ``cfg``: one place for the options every stage shares."""
    return S4Block(
        dim, cfg.s4_state_size, dropout=cfg.dropout, bidirectional=cfg.s4_bidirectional, init=cfg.s4_init,
        lr=cfg.s4_lr,
    )  # fmt: skip


def transformer_layer(dim: int, cfg: ModelConfig) -> TransformerLayer:
    """A `TransformerLayer` of width ``dim`` configured from ``cfg``: one place for the options every stage shares."""
    return TransformerLayer(
        dim, cfg.n_heads, mlp_ratio=cfg.mlp_ratio, dropout=cfg.dropout, multi_scale=cfg.use_multi_scale_attention
    )


class ResConv(nn.Module):
    """Pre-norm residual conv: proj(x) + Conv(SiLU(LN x)). The linear path keeps the signal's absolute scale,
    which the amplitude and threshold heads need (a GroupNorm here would divide it out)."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.proj = nn.Conv1d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()
        self.body = nn.Sequential(
            ChannelLayerNorm(in_ch), nn.SiLU(), nn.Conv1d(in_ch, out_ch, kernel_size, padding=kernel_size // 2)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x) + self.body(x)  # (B, C_out, T)


class AttentionSkipConnection(AttentionGated):
    """Decoder features (query) attend to the encoder skip (key/value); a per-channel, per-time sigmoid gate then
    mixes the attended and the raw skip, and a 1×1 conv fuses the result with the decoder features.

    Curriculum: the attention-mixed skip is blended in by ``attention_gate`` (skip + a·(mixed − skip)); at 0 the
    fusion sees the raw skip, exactly like `ConcatSkipConnection`, and the attention does not run.
    """

    def __init__(self, dim: int, cfg: ModelConfig) -> None:
        super().__init__()
        self.norm_q, self.norm_kv = ChannelLayerNorm(dim), ChannelLayerNorm(dim)
        self.attn = make_attention(dim, cfg.n_heads, cfg.dropout, cfg.use_multi_scale_attention)
        self.gate = nn.Conv1d(3 * dim, dim, 1)
        self.fuse = nn.Conv1d(2 * dim, dim, 1)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        """x (B, C, T) decoder features, skip (B, C, T) → (B, C, T)."""
        a = self.attention_gate
        if a == 0.0:  # S4-only warm-up: no attention, the raw skip is fused
            return self.fuse(torch.cat([x, skip], dim=1))  # (B, C, T)
        q, kv = self.norm_q(x).transpose(1, 2), self.norm_kv(skip).transpose(1, 2)  # (B, T, C)
        attended = self.attn(q, kv).transpose(1, 2)  # (B, C, T)
        g = torch.sigmoid(self.gate(torch.cat([x, skip, attended], dim=1)))  # (B, C, T)
        mixed = g * attended + (1 - g) * skip  # (B, C, T)
        if a != 1.0:
            mixed = skip + a * (mixed - skip)
        return self.fuse(torch.cat([x, mixed], dim=1))  # (B, C, T)


class ConcatSkipConnection(nn.Module):
    """Plain U-Net skip (``use_attention_skip_connections=False``): concat, then a 1×1 conv."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.fuse = nn.Conv1d(2 * dim, dim, 1)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.fuse(torch.cat([x, skip], dim=1))  # (B, C, T)


class OptimizedEncoderBlock(nn.Module):
    """Conv → transformer layers (only if ``length ≥ transformer_min_length``) → S4 → skip out → Downsample ×2 →
    FiLM. Attention is global but quadratic; at the coarse levels the S4 already spans the whole sequence."""

    def __init__(self, in_ch: int, out_ch: int, length: int, cfg: ModelConfig) -> None:
        super().__init__()
        self.length = length
        self.conv = ResConv(in_ch, out_ch)
        n_layers = cfg.n_transformer_layers if cfg.has_transformer(length) else 0
        self.transformers = nn.ModuleList(transformer_layer(out_ch, cfg) for _ in range(n_layers))
        self.s4 = s4_block(out_ch, cfg)
        self.down = nn.Conv1d(out_ch, out_ch, 3, stride=2, padding=1)  # T → ceil(T/2)
        self.film = FiLM(out_ch, cfg.cond_dim)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, C_in, T), cond (B, D) → (down (B, C, ceil(T/2)), skip (B, C, T))."""
        h = self.conv(x)  # (B, C, T)
        for layer in self.transformers:
            h = layer(h)  # (B, C, T)
        skip = self.s4(h)  # (B, C, T)
        return self.film(self.down(skip), cond), skip


class GlobalContext(nn.Module):
    """Whole-sequence summary (mean and max over time) broadcast back as a bias, plus squeeze-excite gating."""

    def __init__(self, dim: int, reduction: int = 4) -> None:
        super().__init__()
        self.norm = ChannelLayerNorm(dim)
        self.summary = nn.Sequential(nn.Linear(2 * dim, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.excite = nn.Sequential(nn.Linear(2 * dim, max(dim // reduction, 1)), nn.SiLU())
        self.excite_out = nn.Linear(max(dim // reduction, 1), dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm(x)  # (B, C, T)
        pooled = torch.cat([h.mean(-1), h.amax(-1)], dim=-1)  # (B, 2C)
        x = x + self.summary(pooled).unsqueeze(-1)  # (B, C, T)
        return x * 2 * torch.sigmoid(self.excite_out(self.excite(pooled))).unsqueeze(-1)  # (B, C, T)


class OptimizedBottleneckProcessor(nn.Module):
    """S4 only (no attention at the coarsest length) → global context → FiLM."""

    def __init__(self, dim: int, cfg: ModelConfig) -> None:
        super().__init__()
        self.s4 = nn.ModuleList(s4_block(dim, cfg) for _ in range(cfg.bottleneck_s4_layers))
        self.context = GlobalContext(dim)
        self.film = FiLM(dim, cfg.cond_dim)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        for layer in self.s4:
            x = layer(x)  # (B, C, T_b)
        return self.film(self.context(x), cond)  # (B, C, T_b)


class OptimizedDecoderBlock(nn.Module):
    """S4 → Upsample ×2 (crop to the skip length) → cross-attention transformer (long sequences only) → skip
    fusion → FiLM. With ``use_cross_attention=False`` the transformer is a self-attention ``TransformerLayer``."""

    def __init__(self, in_ch: int, out_ch: int, length: int, cfg: ModelConfig) -> None:
        super().__init__()
        self.length, self.cross = length, cfg.use_cross_attention
        self.s4 = s4_block(in_ch, cfg)
        self.up = nn.ConvTranspose1d(in_ch, out_ch, 4, stride=2, padding=1)  # T → 2T
        n_layers = cfg.n_transformer_layers if cfg.has_transformer(length) else 0
        make = self.cross_block if cfg.use_cross_attention else transformer_layer
        self.transformers = nn.ModuleList(make(out_ch, cfg) for _ in range(n_layers))
        use_attn_skip = cfg.use_attention_skip_connections
        self.skip = AttentionSkipConnection(out_ch, cfg) if use_attn_skip else ConcatSkipConnection(out_ch)
        self.film = FiLM(out_ch, cfg.cond_dim)

    @staticmethod
    def cross_block(dim: int, cfg: ModelConfig) -> CrossAttentionTransformerBlock:
        return CrossAttentionTransformerBlock(
            dim, cfg.n_heads, mlp_ratio=cfg.mlp_ratio, dropout=cfg.dropout, multi_scale=cfg.use_multi_scale_attention
        )

    def forward(self, x: torch.Tensor, skip: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """x (B, C_in, ceil(T/2)), skip (B, C, T), cond (B, D) → (B, C, T)."""
        T = skip.shape[-1]
        h = self.up(self.s4(x))  # (B, C, 2·ceil(T/2))
        if not 0 <= h.shape[-1] - T <= 1:
            raise RuntimeError(f"decoder length {h.shape[-1]} does not match skip length {T}")
        h = h[..., :T]  # (B, C, T) explicit crop of the odd-length surplus
        for layer in self.transformers:
            h = layer(h, skip) if self.cross else layer(h)  # (B, C, T)
        return self.film(self.skip(h, skip), cond)  # (B, C, T)
