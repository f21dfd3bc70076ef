"""Model benchmark: parameters, forward FLOPs per sample and forward+backward throughput for every preset.

    .venv/bin/python benchmarks/model.py                      # CPU, all presets
    .venv/bin/python benchmarks/model.py --device cuda --dtype bf16

Writes benchmarks/results/model.json and benchmarks/results/model.md (model_cuda.* with --device cuda).
Throughput is a training step without the optimizer: forward, sum of all outputs, backward. On shared CPU
cores the median is pessimistic; the best iteration is reported too.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from _common import RESULTS, parse_args, provenance, result_paths, results_head, write_results
from abrnet.diffusion.schedule import TRAIN_TIMESTEPS
from abrnet.models import PRESETS, ModelConfig, OptimizedHierarchicalUNet
from abrnet.models.summary import forward_flops

PUBLISHED_PARAMS = "46–80M"
# (batch, timed iterations) per preset on CPU; GPU runs use the first entry's batch for all presets
CPU_PLAN = {"tiny": (64, 8), "cpu": (64, 8), "base": (16, 3), "large": (8, 2)}


def throughput(model: OptimizedHierarchicalUNet, batch: int, iters: int, device: str, dtype: torch.dtype) -> dict:
    """Samples/s of forward + backward (train mode, transformer gate 1, random timesteps)."""
    cfg = model.config
    model.train().to(device)
    x = torch.randn(batch, cfg.input_length, device=device)
    s = torch.randn(batch, cfg.n_static, device=device)
    t = torch.randint(0, TRAIN_TIMESTEPS, (batch,), device=device)
    autocast = torch.autocast(device_type=device.split(":")[0], dtype=dtype, enabled=dtype != torch.float32)

    def step() -> None:
        with autocast:
            out = model(x, s, t)
        sum(v.float().mean() for v in out.values()).backward()
        model.zero_grad(set_to_none=True)
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    step()  # warm-up
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return {
        "batch": batch,
        "iterations": iters,
        "samples_per_s_median": batch / statistics.median(times),
        "samples_per_s_best": batch / min(times),
    }


def _stem(args: argparse.Namespace) -> str:
    """The results' name: model, or model_<device> off the CPU."""
    return "model" if args.device == "cpu" else f"model_{args.device.split(':')[0]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=list(PRESETS))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parse_args(parser, lambda a: result_paths(_stem(a), a.out))
    dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float32
    rows: list[dict[str, Any]] = []
    for name in args.presets:
        torch.manual_seed(0)
        model = OptimizedHierarchicalUNet(ModelConfig.from_preset(name))
        flops = forward_flops(model)
        batch, iters = CPU_PLAN.get(name, (8, 2)) if args.device == "cpu" else (64, 20)
        row = {
            "preset": name,
            "parameters": sum(p.numel() for p in model.parameters()),
            "forward_gflops_per_sample": flops["total"] / 1e9,
            "forward_gflops_counted": flops["counted"] / 1e9,
            **throughput(model, batch, iters, args.device, dtype),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    meta = {
        "device": args.device if args.device != "cpu" else f"cpu ({torch.get_num_threads()} threads)",
        "dtype": args.dtype,
        **provenance(),
        "published_design_parameters": PUBLISHED_PARAMS,
        "flop_note": flops["note"],
    }
    lines = [
        *results_head("Model benchmark", meta),
        f"Device: {meta['device']}, dtype {args.dtype}. Forward+backward throughput "
        "(no optimizer step). The published design used 46–80M parameters.",
        "",
        "| preset | parameters | forward GFLOPs / sample | batch | samples/s (median) | samples/s (best) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['preset']} | {r['parameters'] / 1e6:.2f}M | {r['forward_gflops_per_sample']:.3f} | {r['batch']} | "
            f"{r['samples_per_s_median']:.1f} | {r['samples_per_s_best']:.1f} |"
        )
    lines += ["", f"FLOPs: {meta['flop_note']}", ""]
    if args.device == "cpu":
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        lines.append(f"Load average (1/5/15 min) when the run ended: {load}; other jobs on the cores slow it down.")
    md = "\n".join(lines) + "\n"
    write_results(_stem(args), {"meta": meta, "results": rows}, md, force=args.force, folder=args.out, echo=False)


if __name__ == "__main__":
    main()
