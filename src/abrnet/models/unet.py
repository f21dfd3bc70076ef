"""OptimizedHierarchicalUNet: S4 + transformer U-Net over 200-sample ABR sweeps with multi-task heads.

    x (B, T) ─ stem (+ position channels) ─ encoder × levels ─ bottleneck (S4 only) ─ decoder × levels ─┐
                                   └──────── skips (attention-fused) ─────────┘                        │
    static params, t ─ condition (CFG null embedding) ─ FiLM in every stage        task extractors ─ heads

One network does both jobs: at t = 0 (``timesteps=None``) on an observed recording the heads analyse it (peaks,
class, threshold); at t > 0 the signal output is the denoiser (v or ε) for conditional generation, and with
``enable_joint_generation`` the static-parameter head lets a sampler generate the conditions too.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn

from abrnet.constants import STATIC_PARAMS
from abrnet.data.schema import OPTIONAL_STATIC
from abrnet.models.attention import GATED_TRANSFORMER_TYPES, AttentionGated, MultiHeadAttention
from abrnet.models.blocks import OptimizedBottleneckProcessor, OptimizedDecoderBlock, OptimizedEncoderBlock
from abrnet.models.common import position_channels
from abrnet.models.conditioning import ConditionEncoder
from abrnet.models.config import ModelConfig
from abrnet.models.heads import ClassHead, PeakHead, SignalHead, StaticParamHead, ThresholdHead
from abrnet.models.task_features import TaskSpecificFeatureExtractor

OUTPUT_KEYS: tuple[str, ...] = (
    "signal", "peak_logits", "peak_latency", "peak_latency_logvar", "peak_amplitude", "peak_amplitude_logvar",
    "class_logits", "threshold", "threshold_logvar", "no_response_logit", "static_params", "static_params_logvar",
)  # fmt: skip


class OptimizedHierarchicalUNet(nn.Module):
    """The abrnet model. ``config`` defaults to ``ModelConfig()`` (the ``cpu`` preset); keyword arguments override
    its fields (the four historical flags are named explicitly; ``None`` means "as in config")."""

    def __init__(
        self,
        config: ModelConfig | None = None,
        *,
        use_task_specific_extractors: bool | None = None,
        use_attention_skip_connections: bool | None = None,
        use_multi_scale_attention: bool | None = None,
        enable_joint_generation: bool | None = None,
        **overrides: Any,
    ) -> None:
        super().__init__()
        flags = dict(
            use_task_specific_extractors=use_task_specific_extractors,
            use_attention_skip_connections=use_attention_skip_connections,
            use_multi_scale_attention=use_multi_scale_attention,
            enable_joint_generation=enable_joint_generation,
        )
        overrides |= {k: v for k, v in flags.items() if v is not None}
        cfg = dataclasses.replace(config or ModelConfig(), **overrides)
        self.config = cfg
        C, L = cfg.channels, cfg.lengths
        self.register_buffer("transformer_gate", torch.ones(()))
        self.condition = ConditionEncoder(
            cfg.n_static, cfg.cond_dim, cfg.cond_drop_prob, separate_analysis=cfg.separate_analysis_embedding
        )
        self.optional_static = tuple(STATIC_PARAMS.index(name) for name in OPTIONAL_STATIC)  # may be NaN = missing
        self.stem = nn.Conv1d(1 + cfg.position_channels, C[0], 3, padding=1)
        self.encoder = nn.ModuleList(
            OptimizedEncoderBlock(C[max(i - 1, 0)], C[i], L[i], cfg) for i in range(cfg.levels)
        )
        self.bottleneck = OptimizedBottleneckProcessor(C[-1], cfg)
        self.decoder = nn.ModuleList(
            OptimizedDecoderBlock(C[min(i + 1, cfg.levels - 1)], C[i], L[i], cfg) for i in reversed(range(cfg.levels))
        )
        if cfg.use_task_specific_extractors:
            self.task_features: TaskSpecificFeatureExtractor | None = TaskSpecificFeatureExtractor(cfg)
            signal_dim = pooled_dim = cfg.head_dim
        else:
            self.task_features = None
            signal_dim, pooled_dim = C[0], 2 * (C[0] + C[-1])
        self.signal_head = SignalHead(signal_dim)
        self.peak_head = PeakHead(
            pooled_dim, cfg.n_waves, cfg.latency_center_ms, cfg.latency_scale_ms, cfg.amplitude_center_uv,
            cfg.amplitude_scale_uv,
        )  # fmt: skip
        self.class_head = ClassHead(pooled_dim, cfg.n_classes)
        self.threshold_head = ThresholdHead(pooled_dim, cfg.threshold_center_db, cfg.threshold_scale_db)
        self.static_head = StaticParamHead(pooled_dim, cfg.n_static) if cfg.enable_joint_generation else None
        self._entropy_sums: dict[str, list[float]] | None = None  # name -> [Σ entropy·rows, Σ rows] (analysis path)

    # ------------------------------------------------------------------ forward
    def forward(
        self,
        x: torch.Tensor,
        static_params: torch.Tensor,
        timesteps: torch.Tensor | None = None,
        *,
        drop_condition: torch.Tensor | None = None,
        guidance_scale: float | torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """x (B, T) or (B, 1, T) normalised signal; static_params (B, 4) normalised; timesteps (B,) in
        [0, 1000) or None (t = 0: analysis of an observed recording); drop_condition (B,) bool replaces
        the static condition by the null embedding. With ``guidance_scale`` g the conditional and null passes run
        as one batch and ``signal`` is uncond + g·(cond − uncond); the other outputs come from the conditional pass.
        """
        x = x.unsqueeze(1) if x.dim() == 2 else x  # (B, 1, T)
        if x.dim() != 3 or x.shape[1] != 1:
            raise ValueError(f"x must be (B, T) or (B, 1, T), got {tuple(x.shape)}")
        B, _, T = x.shape
        if static_params.shape != (B, self.config.n_static):
            raise ValueError(f"static_params must be ({B}, {self.config.n_static}), got {tuple(static_params.shape)}")
        if timesteps is None:
            timesteps = torch.zeros(B, dtype=torch.long, device=x.device)
        if guidance_scale is not None:
            return self.guided(x, static_params, timesteps, guidance_scale)
        for m in self.attention_modules().values():
            m.last_entropy = None

        cond = self.condition(static_params, timesteps.reshape(B), drop_condition)  # (B, D)
        pos = position_channels(T, self.config.position_channels, self.config.input_length, x.device)  # (P, T)
        h = self.stem(torch.cat([x, pos.to(x.dtype).expand(B, -1, -1)], dim=1))  # (B, C0, T)
        skips = []
        for block in self.encoder:
            h, skip = block(h, cond)  # (B, C_i, ceil(T_i/2)), (B, C_i, T_i)
            skips.append(skip)
        h = bott = self.bottleneck(h, cond)  # (B, C_L, T_L)
        for block, skip in zip(self.decoder, reversed(skips), strict=True):
            h = block(h, skip, cond)  # (B, C_i, T_i)
        out = self.heads(h, bott, x)  # h (B, C0, T)
        if self._entropy_sums is not None and not bool(timesteps.any()):  # an analysis pass (t = 0 everywhere)
            self._accumulate_entropies(B)
        return out

    def heads(self, dec: torch.Tensor, bott: torch.Tensor, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Task features (or plain pooling when extractors are off) → every head → the output dict."""
        if self.task_features is not None:
            f = self.task_features(dec, bott, x)
            signal_in, peaks_in = f["signal"], f["peaks"]  # (B, F, T), (B, W, F)
            class_in, threshold_in, static_in = f["classification"], f["threshold"], f["static"]  # (B, F)
        else:
            pooled = torch.cat([dec.mean(-1), dec.amax(-1), bott.mean(-1), bott.amax(-1)], dim=-1)  # (B, 2(C0+C_L))
            signal_in, class_in, threshold_in, static_in = dec, pooled, pooled, pooled
            peaks_in = pooled.unsqueeze(1).expand(-1, self.config.n_waves, -1)  # (B, W, D)
        out = {"signal": self.signal_head(signal_in)}  # (B, T)
        out |= self.peak_head(peaks_in)  # (B, W) × 5
        out["class_logits"] = self.class_head(class_in)  # (B, n_classes)
        out |= self.threshold_head(threshold_in)  # (B,) × 3
        if self.static_head is not None:
            out |= self.static_head(static_in)  # (B, n_static) × 2
        return out

    def guided(
        self,
        x: torch.Tensor,
        static_params: torch.Tensor,
        timesteps: torch.Tensor,
        guidance_scale: float | torch.Tensor,
    ) -> dict[str, torch.Tensor]:
        """Classifier-free guidance: conditional and null-conditioned passes in one doubled batch."""
        B = x.shape[0]
        drop = torch.cat([torch.zeros(B, dtype=torch.bool), torch.ones(B, dtype=torch.bool)]).to(x.device)
        out = self(
            torch.cat([x, x]), torch.cat([static_params, static_params]), torch.cat([timesteps, timesteps]),
            drop_condition=drop,
        )  # fmt: skip
        result = {k: v[:B] for k, v in out.items()}
        g = torch.as_tensor(guidance_scale, dtype=out["signal"].dtype, device=x.device)
        g = g.reshape(-1, 1) if g.dim() == 1 else g  # (B, 1) or scalar
        uncond = out["signal"][B:]  # (B, T)
        result["signal"] = uncond + g * (result["signal"] - uncond)
        return result

    # ------------------------------------------------------------------ training helpers
    def set_transformer_gate(self, g: float) -> None:
        """Scale every attention path by g ∈ [0, 1]: the transformer residual branches, the attention skip fusion,
        the peak features' attentions and the cross-task attention. At 0 (S4-only warm-up) no attention module runs.
        """
        g = float(g)
        if not 0.0 <= g <= 1.0:
            raise ValueError(f"transformer gate must be in [0, 1], got {g}")
        self.transformer_gate.fill_(g)
        for m in self.modules():
            if isinstance(m, GATED_TRANSFORMER_TYPES):
                m.gate.fill_(g)
            elif isinstance(m, AttentionGated):
                m.attention_gate = g

    def shared_trunk_parameters(self) -> list[nn.Parameter]:
        """The last layer every task's output depends on (the final decoder stage, whose output feeds every head):
        where per-task gradient norms are compared (GradNorm's W) to see whether one task drives the trunk."""
        return [p for p in self.decoder[-1].parameters() if p.requires_grad]

    def attention_modules(self) -> dict[str, MultiHeadAttention]:
        return {name: m for name, m in self.named_modules() if isinstance(m, MultiHeadAttention)}

    def set_attention_monitoring(self, samples: int | None) -> None:
        """Batch elements each attention uses for its entropy estimate (0 = off: training steps skip the cost;
        None = every element, for validation)."""
        for m in self.attention_modules().values():
            m.entropy_samples = samples

    def attention_entropies(self) -> dict[str, float]:
        """Mean normalised attention entropy (0 = collapsed, 1 = uniform) per attention module, last forward."""
        return {n: float(m.last_entropy) for n, m in self.attention_modules().items() if m.last_entropy is not None}

    def start_entropy_accumulation(self) -> None:
        """Average each attention's entropy over every analysis pass (t = 0) from now until
        `stop_entropy_accumulation`: the path a user's recording takes, which is what a collapse would spoil.
        Diffusion passes (t > 0, e.g. validation's reconstruction) are left out."""
        self._entropy_sums = {}

    def stop_entropy_accumulation(self) -> dict[str, float]:
        """Row-weighted mean normalised entropy per attention module over the accumulated analysis passes."""
        sums, self._entropy_sums = self._entropy_sums or {}, None
        return {name: total / rows for name, (total, rows) in sums.items() if rows > 0}

    def _accumulate_entropies(self, batch: int) -> None:
        assert self._entropy_sums is not None
        for name, m in self.attention_modules().items():
            if m.last_entropy is None:
                continue
            rows = batch if m.entropy_samples is None else min(batch, m.entropy_samples)
            acc = self._entropy_sums.setdefault(name, [0.0, 0.0])
            acc[0] += float(m.last_entropy) * rows
            acc[1] += rows

    def transformer_placement(self) -> list[dict[str, Any]]:
        """Which stage runs attention at which sequence length (for the summary and the placement tests)."""
        rows = []
        for i, block in enumerate(self.encoder):
            rows.append(
                {"block": f"encoder.{i}", "length": block.length, "transformer_layers": len(block.transformers)}
            )
        rows.append({"block": "bottleneck", "length": self.config.lengths[-1], "transformer_layers": 0})
        for i, block in enumerate(self.decoder):
            rows.append(
                {"block": f"decoder.{i}", "length": block.length, "transformer_layers": len(block.transformers)}
            )
        return rows

    def optimizer_groups(self, lr: float, transformer_lr: float, weight_decay: float) -> list[dict[str, Any]]:
        """AdamW parameter groups (each parameter in exactly one; empty groups dropped):

        - parameters with an ``_optim`` hint (S4 log Δt, Re A, Im A): the hint's lr and weight decay;
        - parameters of the gated transformer layers: ``transformer_lr``, split into decay / no-decay;
        - everything else at ``lr``: matrices/conv kernels with ``weight_decay``; biases, norm scales, the null
          embedding and the wave queries (all < 2-D, or named embeddings) without.
        """
        transformer = {id(p) for m in self.modules() if isinstance(m, GATED_TRANSFORMER_TYPES) for p in m.parameters()}
        groups: dict[str, dict[str, Any]] = {}
        for name, p in self.named_parameters():
            if not p.requires_grad:
                continue
            hint = getattr(p, "_optim", None)
            no_decay = p.ndim < 2 or name.endswith(("null_embedding", "wave_queries"))
            if hint is not None:
                key = "ssm:" + ",".join(f"{k}={v}" for k, v in sorted(hint.items()))
                spec = {"lr": lr, "weight_decay": 0.0} | hint
            elif id(p) in transformer:
                key = "transformer_no_decay" if no_decay else "transformer_decay"
                spec = {"lr": transformer_lr, "weight_decay": 0.0 if no_decay else weight_decay}
            else:
                key = "no_decay" if no_decay else "decay"
                spec = {"lr": lr, "weight_decay": 0.0 if no_decay else weight_decay}
            groups.setdefault(key, {"name": key, "params": [], **spec})["params"].append(p)
        return list(groups.values())
