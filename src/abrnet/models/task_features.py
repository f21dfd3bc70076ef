"""Task-specific feature extractors: one small module per output family, then cross-task attention.

Each task looks at the decoder output differently: the signal wants temporal continuity (dilated convs), peaks
want local shapes (multi-scale attention, then one learned query per wave), the hearing-loss class wants global
patterns (pooled decoder + bottleneck), the threshold wants amplitude ranges (windowed peak-to-peak and spread of
the input and the features). Their summary tokens then attend to each other, so e.g. a "no wave V" peak token can
inform the threshold token.
"""

from __future__ import annotations

import torch
from torch import nn

from abrnet.models.attention import MLP, AttentionGated, MultiHeadAttention, make_attention
from abrnet.models.common import ChannelLayerNorm
from abrnet.models.config import ModelConfig


def signed_log(x: torch.Tensor) -> torch.Tensor:
    """sign(x)·log(1 + |x|): keeps amplitude information but tames ±1e3 inputs."""
    return torch.sign(x) * torch.log1p(x.abs())


class SignalFeatures(nn.Module):
    """Residual dilated depthwise-separable convs (dilations 1, 2, 4; kernel 5): smooth per-time features."""

    def __init__(self, in_ch: int, dim: int) -> None:
        super().__init__()
        self.inp = nn.Conv1d(in_ch, dim, 1)
        self.layers = nn.ModuleList(
            nn.Sequential(
                ChannelLayerNorm(dim), nn.Conv1d(dim, dim, 5, padding=2 * d, dilation=d, groups=dim), nn.SiLU(),
                nn.Conv1d(dim, dim, 1),
            )
            for d in (1, 2, 4)
        )  # fmt: skip

    def forward(self, dec: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.inp(dec)  # (B, F, T)
        for layer in self.layers:
            h = h + layer(h)  # (B, F, T)
        return h, h.mean(-1)  # (B, F, T), token (B, F)


class PeakFeatures(AttentionGated):
    """Local conv + (multi-scale) self-attention over time, then one learned query per wave pools the sequence.

    Curriculum: both attentions are scaled by ``attention_gate``; at 0 neither runs, the self-attention term is
    dropped and the wave queries pool by uniform weights (`MultiHeadAttention.uniform`, the mean of the values).
    """

    def __init__(self, in_ch: int, dim: int, cfg: ModelConfig) -> None:
        super().__init__()
        self.inp = nn.Conv1d(in_ch, dim, 5, padding=2)
        self.norm, self.norm_pool = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = make_attention(dim, cfg.n_heads, cfg.dropout, cfg.use_multi_scale_attention)
        self.wave_queries = nn.Parameter(torch.randn(cfg.n_waves, dim) * 0.02)  # (W, F)
        self.pool = MultiHeadAttention(dim, cfg.n_heads, cfg.dropout)

    def forward(self, dec: torch.Tensor) -> torch.Tensor:
        a = self.attention_gate
        h = self.inp(dec).transpose(1, 2)  # (B, T, F)
        if a > 0.0:
            h = h + a * self.attn(self.norm(h))  # (B, T, F)
        q = self.wave_queries.unsqueeze(0).expand(h.shape[0], -1, -1)  # (B, W, F)
        ctx = self.norm_pool(h)  # (B, T, F)
        if a == 0.0:
            return q + self.pool.uniform(q, ctx)  # (B, W, F)
        if a == 1.0:
            return q + self.pool(q, ctx)  # (B, W, F)
        return q + a * self.pool(q, ctx) + (1.0 - a) * self.pool.uniform(q, ctx)  # (B, W, F)


class ClassificationFeatures(nn.Module):
    """Global patterns: mean and max over time of the decoder output and the bottleneck, through an MLP."""

    def __init__(self, in_ch: int, bottleneck_ch: int, dim: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(2 * (in_ch + bottleneck_ch), dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, dec: torch.Tensor, bott: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([dec.mean(-1), dec.amax(-1), bott.mean(-1), bott.amax(-1)], dim=-1)  # (B, 2(C+C_b))
        return self.mlp(pooled)  # (B, F)


class ThresholdFeatures(nn.Module):
    """Amplitude ranges: peak-to-peak, max, min and std of the input in ``n_windows`` time windows, and per-channel
    std and peak-to-peak of the decoder features, on a signed-log scale, through an MLP."""

    def __init__(self, in_ch: int, dim: int, n_windows: int = 4) -> None:
        super().__init__()
        self.n_windows = n_windows
        self.mlp = nn.Sequential(nn.Linear(4 * n_windows + 2 * in_ch, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, dec: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """dec (B, C, T), x (B, 1, T) the model input."""
        windows = torch.tensor_split(x[:, 0], min(self.n_windows, x.shape[-1]), dim=-1)  # n × (B, T/n)
        stats = [torch.stack([w.amax(-1) - w.amin(-1), w.amax(-1), w.amin(-1), w.std(-1, correction=0)], -1)
                 for w in windows]  # fmt: skip
        stats += [stats[-1]] * (self.n_windows - len(windows))  # inputs shorter than n_windows samples
        spread = torch.cat([dec.std(-1, correction=0), dec.amax(-1) - dec.amin(-1)], dim=-1)  # (B, 2C)
        return self.mlp(signed_log(torch.cat([*stats, spread], dim=-1)))  # (B, F)


class CrossTaskAttention(AttentionGated):
    """Self-attention (+ MLP) among the task tokens [signal, wave I, III, V, class, threshold].

    Curriculum: the attention term is scaled by ``attention_gate`` (at 0 it does not run: each token keeps its own
    features, refined by the per-token MLP).
    """

    def __init__(self, dim: int, cfg: ModelConfig) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = MultiHeadAttention(dim, cfg.n_heads, cfg.dropout)
        self.mlp = MLP(dim, cfg.mlp_ratio, cfg.dropout)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        if self.attention_on:
            tokens = tokens + self.attention_gate * self.attn(self.norm1(tokens))  # (B, K, F)
        return tokens + self.mlp(self.norm2(tokens))  # (B, K, F)


class TaskSpecificFeatureExtractor(nn.Module):
    """Returns {"signal": (B, F, T), "peaks": (B, W, F), "classification", "threshold", "static": (B, F)}."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        C, C_b, F = cfg.channels[0], cfg.channels[-1], cfg.head_dim
        self.n_waves = cfg.n_waves
        self.signal = SignalFeatures(C, F)
        self.peaks = PeakFeatures(C, F, cfg)
        self.classification = ClassificationFeatures(C, C_b, F)
        self.threshold = ThresholdFeatures(C, F)
        self.cross_task = CrossTaskAttention(F, cfg)
        self.signal_token = nn.Linear(F, F)

    def forward(self, dec: torch.Tensor, bott: torch.Tensor, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """dec (B, C, T) decoder output, bott (B, C_b, T_b) bottleneck, x (B, 1, T) model input."""
        signal_seq, signal_tok = self.signal(dec)  # (B, F, T), (B, F)
        tokens = torch.cat(
            [signal_tok.unsqueeze(1), self.peaks(dec), self.classification(dec, bott).unsqueeze(1),
             self.threshold(dec, x).unsqueeze(1)],
            dim=1,
        )  # (B, 3 + W, F)  # fmt: skip
        tokens = self.cross_task(tokens)  # (B, 3 + W, F)
        W = self.n_waves
        return {
            "signal": signal_seq + self.signal_token(tokens[:, 0]).unsqueeze(-1),  # (B, F, T)
            "peaks": tokens[:, 1 : 1 + W],  # (B, W, F)
            "classification": tokens[:, 1 + W],  # (B, F)
            "threshold": tokens[:, 2 + W],  # (B, F)
            "static": tokens.mean(1),  # (B, F)
        }
