"""ModelConfig: every size, flag and output scaling of the hierarchical U-Net in one validated dataclass."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from abrnet.constants import CLASS_NAMES, DEFAULT_N_SAMPLES, MODEL_PRESETS, STATIC_PARAMS, WAVES

# Bump when a change to the network or its training makes earlier weights stale (the shipped model records it).
ARCHITECTURE_VERSION = "5"  # 5: every record read centred (`Normalizer.recording`), in training too


@dataclass
class ModelConfig:
    """Configuration of ``OptimizedHierarchicalUNet``. The defaults are the ``cpu`` preset.

    Component flags switch a part off cleanly: attention skips → concat + 1×1 conv; task extractors → heads read
    pooled decoder/bottleneck features; multi-scale attention → plain multi-head attention everywhere; cross
    attention → the decoder's long-sequence transformer is self-attention only; joint generation → no
    static-parameter head. `separate_analysis_embedding` (off) adds a part instead: a static embedding of its own
    for the t = 0 analysis path (benchmarks/results/config_choice.md, stop 30).
    """

    # data
    input_length: int = DEFAULT_N_SAMPLES
    n_static: int = len(STATIC_PARAMS)
    n_classes: int = len(CLASS_NAMES)
    n_waves: int = len(WAVES)
    # size
    levels: int = 4
    base_channels: int = 24
    channel_mults: tuple[int, ...] = (1, 2, 3, 4)
    s4_state_size: int = 32
    s4_init: str = "lin"
    s4_bidirectional: bool = True
    s4_lr: float = 1e-3
    bottleneck_s4_layers: int = 2
    n_transformer_layers: int = 1
    transformer_min_length: int = 50
    n_heads: int = 4
    mlp_ratio: float = 2.0
    cond_dim: int = 64
    head_dim: int = 64
    position_channels: int = 8
    dropout: float = 0.1
    cond_drop_prob: float = 0.1
    static_missing_prob: float = 0.3  # share of training rows whose optional inputs (FMP) are hidden
    # flags
    use_task_specific_extractors: bool = True
    use_attention_skip_connections: bool = True
    use_multi_scale_attention: bool = True
    use_cross_attention: bool = True
    enable_joint_generation: bool = True
    separate_analysis_embedding: bool = False  # the t = 0 analysis path gets its own static-parameter embedding
    # physical output scaling: value = centre + scale · linear (log-variances get + 2·log(scale))
    latency_center_ms: tuple[float, ...] = (1.6, 3.8, 5.8)
    latency_scale_ms: float = 2.0
    amplitude_center_uv: float = 0.0
    amplitude_scale_uv: float = 0.5
    threshold_center_db: float = 40.0
    threshold_scale_db: float = 30.0

    def __post_init__(self) -> None:
        self.channel_mults = tuple(int(m) for m in self.channel_mults)
        self.latency_center_ms = tuple(float(v) for v in self.latency_center_ms)
        positive = (
            "input_length", "n_static", "n_classes", "n_waves", "levels", "base_channels",
            "s4_state_size", "n_heads", "cond_dim", "head_dim", "transformer_min_length",
        )  # fmt: skip
        for name in positive:
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be ≥ 1, got {getattr(self, name)}")
        for name in ("bottleneck_s4_layers", "n_transformer_layers", "position_channels"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be ≥ 0, got {getattr(self, name)}")
        if self.position_channels % 2:
            raise ValueError(f"position_channels must be even, got {self.position_channels}")
        if len(self.channel_mults) != self.levels or min(self.channel_mults) < 1:
            raise ValueError(
                f"channel_mults must hold {self.levels} (= levels) positive ints, got {self.channel_mults}"
            )
        for c in self.channels:
            if c % self.n_heads:
                raise ValueError(f"n_heads {self.n_heads} must divide every level's channels {self.channels}")
        if self.head_dim % self.n_heads:
            raise ValueError(f"head_dim {self.head_dim} must be divisible by n_heads {self.n_heads}")
        if self.input_length < 2**self.levels:
            raise ValueError(f"input_length {self.input_length} is too short for {self.levels} levels")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        for name in ("cond_drop_prob", "static_missing_prob"):  # shares of training rows
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.s4_init not in ("lin", "inv"):
            raise ValueError(f"s4_init must be 'lin' or 'inv', got {self.s4_init!r}")
        if self.s4_lr < 0:
            raise ValueError(f"s4_lr must be ≥ 0, got {self.s4_lr}")
        if self.mlp_ratio <= 0:
            raise ValueError(f"mlp_ratio must be > 0, got {self.mlp_ratio}")
        if len(self.latency_center_ms) != self.n_waves:
            raise ValueError(f"latency_center_ms needs {self.n_waves} (= n_waves) values")
        for name in ("latency_scale_ms", "amplitude_scale_uv", "threshold_scale_db"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")

    @property
    def channels(self) -> tuple[int, ...]:
        """Channels of each encoder level (and of the decoder at the same level)."""
        return tuple(self.base_channels * m for m in self.channel_mults)

    @property
    def lengths(self) -> tuple[int, ...]:
        """Sequence length at each level plus the bottleneck: 200 → (200, 100, 50, 25, 13)."""
        out = [self.input_length]
        for _ in range(self.levels):
            out.append((out[-1] + 1) // 2)
        return tuple(out)

    def has_transformer(self, length: int) -> bool:
        """Placement rule: attention only where the sequence is long enough to be worth it."""
        return self.n_transformer_layers > 0 and length >= self.transformer_min_length

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> ModelConfig:
        """A named preset (tiny, cpu, base, large) with field overrides; unknown fields raise TypeError."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose from {sorted(PRESETS)}")
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = set(overrides) - fields
        if unknown:
            raise TypeError(f"unknown ModelConfig fields: {sorted(unknown)}")
        return cls(**{**PRESETS[name], **overrides})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


PRESETS: dict[str, dict[str, Any]] = {
    # unit tests: a few hundred thousand parameters at most, runs in milliseconds
    "tiny": dict(
        base_channels=8, channel_mults=(1, 2, 2, 4), s4_state_size=8, n_heads=2, cond_dim=32, head_dim=32,
        bottleneck_s4_layers=1, dropout=0.0,
    ),
    # default: trains on 2 CPU cores (~1.0M parameters); no dropout: the main job sees each record about once, so
    # there is nothing to over-fit, and dropout only slowed learning (chosen on validation, 2026-12-04).
    # 2 heads, not 4: attention on CPU costs about heads × T² whatever the head width (softmax-bound), and 4 heads
    # of 6 channels at T = 200 were a quarter of the training step (benchmarks/results/train.md)
    "cpu": dict(dropout=0.0, n_heads=2),
    # the published design's size class: 64 base channels, 4 levels
    "base": dict(
        base_channels=64, channel_mults=(1, 2, 3, 4), s4_state_size=64, n_heads=8, cond_dim=256, head_dim=128,
        n_transformer_layers=2, bottleneck_s4_layers=3,
    ),
    # GPU
    "large": dict(
        base_channels=96, channel_mults=(1, 2, 3, 4), s4_state_size=64, n_heads=8, cond_dim=384, head_dim=192,
        n_transformer_layers=3, bottleneck_s4_layers=4, mlp_ratio=4.0,
    ),
}  # fmt: skip
if tuple(PRESETS) != MODEL_PRESETS:  # the CLI lists MODEL_PRESETS without importing this module
    raise RuntimeError(f"PRESETS {tuple(PRESETS)} differ from constants.MODEL_PRESETS {MODEL_PRESETS}")
