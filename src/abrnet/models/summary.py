"""Model summary: parameters per component, transformer placement, forward FLOPs per sample."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from abrnet.models.attention import MultiHeadAttention
from abrnet.models.config import ModelConfig
from abrnet.models.s4d import S4D
from abrnet.models.unet import OptimizedHierarchicalUNet

FLOP_NOTE = (
    "FlopCounterMode counts matmul/conv FLOPs (2 per multiply-add; attention kernels where it has a formula). "
    "Added by estimate: S4 FFT convolutions (3 FFTs of length 2L at 2.5·n·log2 n each plus the complex product, "
    "per channel) and attention score/value products if the fused CPU kernel was not counted. Elementwise ops, "
    "norms and the complex-exponential Vandermonde are not counted."
)


def component_parameters(model: OptimizedHierarchicalUNet) -> dict[str, int]:
    """Parameter count per stage (encoder/decoder per level, task extractors per task, heads per head)."""
    out: dict[str, int] = {}
    for name, child in model.named_children():
        if name in ("encoder", "decoder", "task_features"):
            for sub, grandchild in child.named_children():
                out[f"{name}.{sub}"] = sum(p.numel() for p in grandchild.parameters())
        else:
            out[name] = sum(p.numel() for p in child.parameters())
    return {k: v for k, v in out.items() if v}


def fft_conv_flops(channels: int, length: int) -> float:
    """Estimated FLOPs of one S4D FFT convolution: rfft(u), rfft(k), irfft (n = 2L) and the complex product."""
    n = 2 * length
    return channels * (3 * 2.5 * n * math.log2(n) + 6 * (n // 2 + 1))


def forward_flops(model: OptimizedHierarchicalUNet) -> dict[str, Any]:
    """Forward FLOPs for one sample at ``config.input_length`` (t = 0, no guidance). Runs with autograd on:
    FlopCounterMode's module tracker fails under no_grad."""
    cfg = model.config
    calls: list[tuple[str, int, int, int, int]] = []
    hooks = [
        m.register_forward_hook(lambda mod, args, out: calls.append(("s4", mod.h, args[0].shape[-1], 0, 0)))
        for m in model.modules()
        if isinstance(m, S4D)
    ]
    for m in model.modules():
        if isinstance(m, MultiHeadAttention):

            def hook(mod: Any, args: Any, out: Any) -> None:
                ctx = args[1] if len(args) > 1 and args[1] is not None else args[0]
                calls.append(("attn", args[0].shape[-1], args[0].shape[1], ctx.shape[1], 0))

            hooks.append(m.register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        x = torch.zeros(1, cfg.input_length)
        with FlopCounterMode(display=False) as counter:
            model(x, torch.zeros(1, cfg.n_static))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    counted = counter.get_total_flops()
    ops = {str(op) for per_op in counter.get_flop_counts().values() for op in per_op}
    attention_counted = any("scaled_dot_product" in op for op in ops)
    fft = sum(fft_conv_flops(c, length) for kind, c, length, _, _ in calls if kind == "s4")
    attn = 0 if attention_counted else sum(4 * t * s * c for kind, c, t, s, _ in calls if kind == "attn")
    modules = counter.get_flop_counts()
    per_component = {}
    for name in component_parameters(model):
        key = f"{type(model).__name__}.{name}"
        per_component[name] = int(sum(modules.get(key, {}).values()))
    return {
        "counted": int(counted),
        "fft_estimate": int(fft),
        "attention_estimate": int(attn),
        "total": int(counted + fft + attn),
        "per_component_counted": per_component,
        "note": FLOP_NOTE,
    }


def model_summary(config: ModelConfig | str) -> dict[str, Any]:
    """Everything ``abrnet model summary`` prints, as a JSON-ready dict."""
    cfg = ModelConfig.from_preset(config) if isinstance(config, str) else config
    torch.manual_seed(0)
    model = OptimizedHierarchicalUNet(cfg)
    return {
        "config": cfg.to_dict(),
        "parameters": sum(p.numel() for p in model.parameters()),
        "parameters_per_component": component_parameters(model),
        "transformer_placement": model.transformer_placement(),
        "flops_per_sample": forward_flops(model),
    }
