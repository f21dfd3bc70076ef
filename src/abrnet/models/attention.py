"""Attention modules on (B, T, C) tokens, and the gated transformer layers built from them.

Every attention module keeps the mean normalised entropy of its last forward pass (entropy / log(n_keys), in
[0, 1]; 1 = uniform, 0 = one-hot) in ``last_entropy`` so training can alert on attention collapse. The forward pass
uses ``scaled_dot_product_attention`` (fast fused kernel, no weights kept for backward); the entropy is then
recomputed explicitly, without gradients, on the first ``entropy_samples`` (default 8) batch elements. At batch 64
and T = 200 this was ~2× faster on 2 CPU cores than materialising all weights with autograd.

Every attention path is gated for the curriculum's S4-only warm-up (set model-wide by
``OptimizedHierarchicalUNet.set_transformer_gate``): the transformer layers multiply their residual branches by a
``gate`` buffer, and the other attention users (skip fusion, peak features, cross-task attention) derive from
`AttentionGated` and scale their attention term by ``attention_gate``. At gate 0 no attention module runs at all,
so the warm-up really is attention-free (attention on an untrained representation tends to collapse onto a few
positions, and a branch multiplied by 0 would still cost its forward pass).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

ENTROPY_SAMPLES: int = 8  # batch elements of the entropy estimate (set per model by set_attention_monitoring)


class MultiHeadAttention(nn.Module):
    """Plain multi-head attention: queries from x, keys/values from ``context`` (x itself when None)."""

    def __init__(self, dim: int, n_heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if dim % n_heads:
            raise ValueError(f"dim {dim} is not divisible by n_heads {n_heads}")
        self.n_heads, self.head_dim = n_heads, dim // n_heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.out = nn.Linear(dim, dim)
        self.dropout = nn.Dropout(dropout)
        self.entropy_samples: int | None = ENTROPY_SAMPLES  # batch elements of the entropy estimate; 0 = off
        self.last_entropy: torch.Tensor | None = None

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        B, T, _ = x.shape  # (B, T, C) → (B, H, T, d)
        return x.view(B, T, self.n_heads, self.head_dim).transpose(1, 2)  # (B, H, T, d)

    def keys_values(self, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        k, v = self.kv(context).chunk(2, dim=-1)  # (B, S, C) each
        return self.split_heads(k), self.split_heads(v)  # (B, H, S, d)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, T, C), context (B, S, C) → (B, T, C)."""
        context = x if context is None else context
        q = self.split_heads(self.q(x))  # (B, H, T, d)
        k, v = self.keys_values(context)  # (B, H, S, d)
        y = F.scaled_dot_product_attention(q, k, v)  # (B, H, T, d)  no weight dropout: keeps the fused kernel
        if self.entropy_samples != 0:
            self.last_entropy = self.entropy(q, k)
        y = y.transpose(1, 2).reshape(x.shape[0], x.shape[1], -1)  # (B, T, C)
        return self.dropout(self.out(y))

    def uniform(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """What this attention would output with uniform weights (the mean of the values), without attending.

        The attention-free stand-in while the module is gated off: it reads the context through the same value
        and output projections, so what those learn in the warm-up carries over when attention is switched on
        (uniform weights are also where a freshly initialised attention starts). x (B, T, C), context (B, S, C) →
        (B, T, C), the same row for every query.
        """
        context = x if context is None else context
        _, v = self.keys_values(context)  # (B, H, S, d)
        v = v.mean(dim=2, keepdim=True).transpose(1, 2).reshape(x.shape[0], 1, -1)  # (B, 1, C)
        return self.dropout(self.out(v)).expand(-1, x.shape[1], -1)  # (B, T, C)

    @torch.no_grad()
    def weights(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """The attention weights SDPA applies but does not return, for heads-split q (B, H, T, d) and k (B, H, S, d):
        (B, H, T, S), rows summing to 1, in float32 and without gradients (for monitoring and diagnostics)."""
        return ((q.float() * (1.0 / math.sqrt(self.head_dim))) @ k.float().transpose(-2, -1)).softmax(dim=-1)

    def entropy(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """Normalised entropy of the attention weights on the first ``entropy_samples`` batch elements (all when
        None): a monitoring estimate at a fraction of the cost of materialising every (B, H, T, S) weight with
        gradients."""
        n = q.shape[0] if self.entropy_samples is None else min(self.entropy_samples, q.shape[0])
        return normalised_entropy(self.weights(q[:n], k[:n]))  # weights (n, H, T, S)


class MultiScaleAttention(MultiHeadAttention):
    """Multi-head attention whose heads see keys/values at different temporal scales.

    Head h is assigned scale ``scales[h % len(scales)]`` (default 1, 3, 5, 7 samples = 0.05–0.35 ms at 20 kHz):
    its keys and values pass through a depthwise convolution of that kernel size, so a head can match a query to a
    short local waveform shape (a peak and its flanks) instead of a single sample. One depthwise conv of the
    largest size with a fixed tap mask implements all scales at once; it starts as the identity.
    """

    def __init__(self, dim: int, n_heads: int, dropout: float = 0.0, scales: tuple[int, ...] = (1, 3, 5, 7)) -> None:
        super().__init__(dim, n_heads, dropout)
        if any(s < 1 or s % 2 == 0 for s in scales):
            raise ValueError(f"scales must be odd and positive, got {scales}")
        self.scales, kmax = tuple(scales), max(scales)
        head_scale = torch.tensor([scales[h % len(scales)] for h in range(n_heads)])  # (H)
        channel_scale = head_scale.repeat_interleave(self.head_dim).repeat(2)  # (2C) for k and v
        offset = (torch.arange(kmax) - kmax // 2).abs()  # (kmax)
        self.register_buffer("tap_mask", (2 * offset.unsqueeze(0) < channel_scale.unsqueeze(1)).float().unsqueeze(1))
        self.scale_conv = nn.Conv1d(2 * dim, 2 * dim, kmax, padding=kmax // 2, groups=2 * dim)
        with torch.no_grad():
            self.scale_conv.weight.normal_(0.0, 0.02)
            self.scale_conv.weight[..., kmax // 2] += 1.0
            self.scale_conv.bias.zero_()

    def keys_values(self, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        kv = self.kv(context).transpose(1, 2)  # (B, 2C, S)
        weight = self.scale_conv.weight * self.tap_mask  # (2C, 1, kmax)
        kv = F.conv1d(kv, weight, self.scale_conv.bias, padding=self.scale_conv.padding, groups=kv.shape[1])
        k, v = kv.transpose(1, 2).contiguous().chunk(2, dim=-1)  # (B, S, C) each; SDPA's fused kernel needs stride 1
        return self.split_heads(k), self.split_heads(v)  # (B, H, S, d)


def normalised_entropy(att: torch.Tensor) -> torch.Tensor:
    """Mean of H(p)/log(n_keys) over all queries and heads of (…, S) attention rows; detached scalar."""
    n_keys = att.shape[-1]
    if n_keys < 2:
        return att.new_zeros(())
    with torch.no_grad():
        ent = -(att * torch.log(att.clamp_min(1e-12))).sum(-1)  # (…)
        return (ent.mean() / math.log(n_keys)).detach()


def make_attention(dim: int, n_heads: int, dropout: float, multi_scale: bool) -> MultiHeadAttention:
    """MultiScaleAttention or plain MultiHeadAttention per the ``use_multi_scale_attention`` flag."""
    return MultiScaleAttention(dim, n_heads, dropout) if multi_scale else MultiHeadAttention(dim, n_heads, dropout)


class AttentionGated(nn.Module):
    """Base of a module whose attention term the curriculum scales by ``attention_gate`` ∈ [0, 1].

    At 0 the module must not call any attention module (test: forward hooks); in between the attention term is
    blended in linearly. A plain float, not a buffer: it is run-time state set every step by the training module
    (not saved, no device sync to read it), and a loaded model is used at 1.
    """

    attention_gate: float = 1.0

    @property
    def attention_on(self) -> bool:
        return self.attention_gate > 0.0


class MLP(nn.Sequential):
    def __init__(self, dim: int, ratio: float, dropout: float) -> None:
        hidden = max(int(dim * ratio), 1)
        super().__init__(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim), nn.Dropout(dropout))


class TransformerLayer(nn.Module):
    """Pre-norm transformer layer on (B, C, T): x + g·Attn(LN x), then x + g·MLP(LN x), g = transformer gate."""

    def __init__(self, dim: int, n_heads: int, *, mlp_ratio: float, dropout: float, multi_scale: bool) -> None:
        super().__init__()
        self.register_buffer("gate", torch.ones(()))
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = make_attention(dim, n_heads, dropout, multi_scale)
        self.mlp = MLP(dim, mlp_ratio, dropout)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if float(self.gate) == 0.0:  # S4-only warm-up: the branch adds exactly zero, so skip its cost
            return x
        h = x.transpose(1, 2)  # (B, T, C)
        h = h + self.gate * self.dropout(self.attn(self.norm1(h)))
        h = h + self.gate * self.mlp(self.norm2(h))
        return h.transpose(1, 2)  # (B, C, T)


class CrossAttentionTransformerBlock(nn.Module):
    """Decoder transformer block: self-attention on decoder features, cross-attention (query = decoder, key/value
    = encoder output of the same level), MLP; pre-norm, every residual branch multiplied by the transformer gate.
    """

    def __init__(self, dim: int, n_heads: int, *, mlp_ratio: float, dropout: float, multi_scale: bool) -> None:
        super().__init__()
        self.register_buffer("gate", torch.ones(()))
        self.norm_self, self.norm_q, self.norm_ctx, self.norm_mlp = (nn.LayerNorm(dim) for _ in range(4))
        self.self_attn = make_attention(dim, n_heads, dropout, multi_scale)
        self.cross_attn = make_attention(dim, n_heads, dropout, multi_scale)
        self.mlp = MLP(dim, mlp_ratio, dropout)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """x (B, C, T) decoder features, context (B, C, S) encoder skip → (B, C, T)."""
        if float(self.gate) == 0.0:  # S4-only warm-up: every branch adds exactly zero, so skip their cost
            return x
        h, ctx = x.transpose(1, 2), self.norm_ctx(context.transpose(1, 2))  # (B, T, C), (B, S, C)
        h = h + self.gate * self.dropout(self.self_attn(self.norm_self(h)))
        h = h + self.gate * self.dropout(self.cross_attn(self.norm_q(h), ctx))
        h = h + self.gate * self.mlp(self.norm_mlp(h))
        return h.transpose(1, 2)  # (B, C, T)


GATED_TRANSFORMER_TYPES: tuple[type[nn.Module], ...] = (TransformerLayer, CrossAttentionTransformerBlock)

__all__ = [
    "ENTROPY_SAMPLES",
    "GATED_TRANSFORMER_TYPES",
    "AttentionGated",
    "CrossAttentionTransformerBlock",
    "MultiHeadAttention",
    "MultiScaleAttention",
    "TransformerLayer",
    "make_attention",
    "normalised_entropy",
]
