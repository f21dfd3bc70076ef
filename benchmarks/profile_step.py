"""Where a training step's time goes: torch.profiler over forward + backward of one preset.

Usage: .venv/bin/python benchmarks/profile_step.py [--preset cpu] [--batch 64] [--device cpu|cuda]
Prints the operators by self time (CPU and, on a GPU, CUDA), the number of operator calls and kernel launches, and
the wall time per step. Writes benchmarks/results/profile_<preset>_<device>.md.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

from _common import RESULTS, parse_args, write_files
from abrnet.diffusion.schedule import TRAIN_TIMESTEPS
from abrnet.models import ModelConfig, OptimizedHierarchicalUNet


def _out(args: argparse.Namespace) -> Path:
    """The table's path: results/profile_<preset>_<cpu or cuda>.md."""
    return RESULTS / f"profile_{args.preset}_{'cuda' if args.device.startswith('cuda') else 'cpu'}.md"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--steps", type=int, default=5)
    args = parse_args(ap, lambda a: [_out(a)])
    cuda, out = args.device.startswith("cuda"), _out(args)
    model = OptimizedHierarchicalUNet(ModelConfig.from_preset(args.preset)).to(args.device).train()
    model.set_attention_monitoring(0)  # as in training steps
    cfg = model.config
    x = torch.randn(args.batch, cfg.input_length, device=args.device)
    s = torch.randn(args.batch, cfg.n_static, device=args.device)
    t = torch.randint(0, TRAIN_TIMESTEPS, (args.batch,), device=args.device)
    autocast = torch.autocast(device_type="cuda" if cuda else "cpu", dtype=torch.bfloat16, enabled=cuda)

    def step() -> None:
        with autocast:
            out = model(x, s, t)
        sum(v.float().mean() for v in out.values()).backward()
        model.zero_grad(set_to_none=True)
        if cuda:
            torch.cuda.synchronize()

    step()
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    per_step = (time.perf_counter() - start) / args.steps
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=activities) as prof:
        step()
    events = prof.key_averages()
    n_calls = sum(e.count for e in events)
    launches = sum(e.count for e in events if e.key in ("cudaLaunchKernel", "cuLaunchKernel", "cudaLaunchKernelExC"))
    sort = "self_cuda_time_total" if cuda else "self_cpu_time_total"
    table = events.table(sort_by=sort, row_limit=20)
    head = (
        f"# One training step, preset {args.preset}, batch {args.batch}, {args.device}"
        + (f" ({torch.cuda.get_device_name()})" if cuda else "")
        + f"\n\nwall time per step (forward + backward, no optimizer): {per_step * 1000:.1f} ms; "
        f"operator calls {n_calls}; kernel launches {launches}\n"
    )
    print(head)
    print(table)
    write_files({out: head + "\n```\n" + table + "\n```\n"}, force=args.force)


if __name__ == "__main__":
    main()
