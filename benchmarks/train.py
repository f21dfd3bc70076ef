"""Training throughput and peak memory per model preset, through the real `ABRLitModule.training_step` + AdamW.

Usage: .venv/bin/python benchmarks/train.py [--presets tiny cpu base large] [--batch 64] [--threads 2]
       [--device cpu|cuda] [--budget-s 40]
Writes benchmarks/results/train.json and benchmarks/results/train.md (``--device cuda``: train_cuda.*).

Each preset runs in a fresh subprocess so its peak memory is its own: peak RSS is ``resource.getrusage(
RUSAGE_SELF).ru_maxrss`` of that process (whole process: Python, torch, the cohort, model, activations, optimizer),
reported with the RSS before the model was built (``rss_before_model_mib``) so the difference is the model's
training footprint. On CUDA the peak is also ``torch.cuda.max_memory_allocated``. One untimed warm-up step,
then timed steps until ``--steps`` or ``--budget-s`` (whichever first; ``large`` is capped at 2 timed steps on CPU).
A step = forward + loss (`training_step`, with its per-step generator, curriculum and masking), backward, gradient
clipping, AdamW step and LR-scheduler step: what the Lightning loop does minus logging and callbacks.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from _common import (
    RESULTS,
    kept_section,
    parse_args,
    provenance,
    result_paths,
    results_head,
    write_files,
    write_results,
)

DEFAULT_STEPS = {"tiny": 30, "cpu": 15, "base": 4, "large": 2}


def _rss_mib() -> float:
    """Current resident set size (Linux /proc; falls back to the peak)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(preset: str, batch: int, steps: int, budget_s: float, device: str, threads: int) -> dict[str, Any]:
    """Time `steps` training steps of one preset in this process; returns one result row."""
    import numpy as np
    import torch

    torch.set_num_threads(threads)
    warnings.filterwarnings("ignore")
    from abrnet.config.train_config import load_config
    from abrnet.constants import CLASS_NAMES
    from abrnet.data.simulate import SimulationConfig, simulate_cohort
    from abrnet.training.datamodule import ABRDataModule
    from abrnet.training.module import ABRLitModule

    cfg = load_config(None, [f"model.preset={preset}", f"data.batch_size={batch}", "trainer.max_minutes=null"])
    cohort = simulate_cohort(SimulationConfig(n_patients=40), seed=0)
    dm = ABRDataModule(cohort, seed=0, batch_size=batch)
    dm.total_steps = steps + 1
    counts = np.bincount(cohort.class_id, minlength=len(CLASS_NAMES)).astype(float).tolist()
    loader = iter(dm.train_dataloader())
    rss_before = _rss_mib()

    torch.manual_seed(0)
    module = ABRLitModule(cfg.model_dump(mode="json"), dm.normalizer.to_dict(), counts).to(device)
    module.train()
    # time the full model: past the curriculum's S4-only warm-up (where the gated transformer branches are skipped)
    module.progress = lambda: 1.0  # type: ignore[method-assign]
    n_params = sum(p.numel() for p in module.parameters())
    conf = module.configure_optimizers()
    opt, sched = conf["optimizer"], conf["lr_scheduler"]["scheduler"]
    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16) if device == "cuda" else torch.autocast("cpu", enabled=False)
    )
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()

    def step(i: int) -> float:
        b = {k: v.to(device) for k, v in next(loader).items()}
        module.on_train_batch_start(b, i)
        with autocast:
            loss = module.training_step(b, i)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(module.parameters(), cfg.optim.grad_clip)
        opt.step()
        sched.step()
        if device == "cuda":
            torch.cuda.synchronize()
        return float(loss.detach())

    t0 = time.perf_counter()
    step(0)  # warm-up (allocator, kernels), not timed
    warmup_s = time.perf_counter() - t0
    times, losses = [], []
    start = time.perf_counter()
    for i in range(1, steps + 1):
        t = time.perf_counter()
        losses.append(step(i))
        times.append(time.perf_counter() - t)
        if time.perf_counter() - start > budget_s:
            break
    total = sum(times)
    row = {
        "preset": preset,
        "device": device,
        "batch_size": batch,
        "parameters": n_params,
        "timed_steps": len(times),
        "warmup_step_s": round(warmup_s, 3),
        "median_step_s": round(float(np.median(times)), 4),
        "samples_per_s": round(len(times) * batch / total, 2),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "rss_before_model_mib": round(rss_before, 1),
        "final_loss_finite": bool(np.isfinite(losses).all()),
        "threads": torch.get_num_threads(),
    }
    if device == "cuda":
        row["peak_cuda_allocated_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
        row["gpu"] = torch.cuda.get_device_name()
    return row


def profile(preset: str, batch: int, steps: int, threads: int) -> str:
    """Where a CPU training step of `preset` goes (full multi-task phase), plus the per-run costs beside the step;
    returns the Markdown report (benchmarks/results/train_profile.md)."""
    import tempfile

    import numpy as np
    import torch
    from torch.profiler import ProfilerActivity, record_function
    from torch.profiler import profile as torch_profile

    torch.set_num_threads(threads)
    warnings.filterwarnings("ignore")
    from abrnet.config.train_config import TrainConfig, load_config
    from abrnet.constants import CLASS_NAMES
    from abrnet.data.simulate import SimulationConfig, simulate_cohort
    from abrnet.inference.predictor import predict_batch
    from abrnet.training.alerts import AlertMonitor
    from abrnet.training.datamodule import ABRDataModule
    from abrnet.training.module import ABRLitModule

    cfg = load_config(None, [f"model.preset={preset}", f"data.batch_size={batch}"])
    cohort = simulate_cohort(SimulationConfig(n_patients=40), seed=0)
    dm = ABRDataModule(cohort, seed=0, batch_size=batch)
    dm.total_steps = 3 * steps + 10
    counts = np.bincount(cohort.class_id[cohort.class_id >= 0], minlength=len(CLASS_NAMES)).astype(float).tolist()
    loader = iter(dm.train_dataloader())
    torch.manual_seed(0)
    module = ABRLitModule(cfg.model_dump(mode="json"), dm.normalizer.to_dict(), counts)
    module.train()
    module.progress = lambda: 1.0  # type: ignore[method-assign]
    conf = module.configure_optimizers()
    opt, sched = conf["optimizer"], conf["lr_scheduler"]["scheduler"]
    phases = dict.fromkeys(("data (sampler + collate)", "forward + loss", "backward", "clip + AdamW + LR"), 0.0)
    names = list(phases)

    def step(i: int, timed: bool = True) -> None:
        marks = [time.perf_counter()]
        with record_function("data"):
            b = next(loader)
        marks.append(time.perf_counter())
        module.on_train_batch_start(b, i)
        with record_function("forward+loss"):
            loss = module.training_step(b, i)
        marks.append(time.perf_counter())
        opt.zero_grad(set_to_none=True)
        with record_function("backward"):
            loss.backward()
        marks.append(time.perf_counter())
        with record_function("optimizer"):
            torch.nn.utils.clip_grad_norm_(module.parameters(), cfg.optim.grad_clip)
            opt.step()
            sched.step()
        marks.append(time.perf_counter())
        if timed:
            for k, name in enumerate(names):
                phases[name] += marks[k + 1] - marks[k]

    step(0, timed=False)
    # module forward times: hooks on the model's top-level parts (forward only; backward costs roughly 2x)
    spent: dict[str, float] = {}
    started: dict[str, float] = {}
    lists = [(n, c) for n, c in module.model.named_children() if isinstance(c, torch.nn.ModuleList)]
    parts = [(f"{n}.{i}", m) for n, c in lists for i, m in enumerate(c)]
    parts += [(n, c) for n, c in module.model.named_children() if not isinstance(c, torch.nn.ModuleList)]
    handles = []
    for name, mod in parts:
        handles.append(mod.register_forward_pre_hook(lambda *_, n=name: started.__setitem__(n, time.perf_counter())))
        handles.append(mod.register_forward_hook(
            lambda *_, n=name: spent.__setitem__(n, spent.get(n, 0.0) + time.perf_counter() - started[n])))  # fmt: skip
    for i in range(1, steps + 1):
        step(i)
    for h in handles:
        h.remove()
    per_step = sum(phases.values()) / steps
    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        for i in range(steps + 1, steps + 4):
            step(i, timed=False)
    table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=18, max_name_column_width=42)

    # beside the step: the task-dominance gradient norms (every log_every_n_steps in the full phase) and validation
    with tempfile.TemporaryDirectory() as tmp:
        module.attached.monitor = AlertMonitor(tmp, cfg.alerts)  # global_step 0: the norms run on this call
        b = next(loader)
        t = time.perf_counter()
        module.training_step(b, 0)
        with_norms = time.perf_counter() - t
        module.attached.monitor = None
        t = time.perf_counter()
        module.training_step(b, 0)
        norms_s = max(0.0, with_norms - (time.perf_counter() - t))
    val = dm.dataset("val")
    n_val = min(len(val), 128)
    vb = {k: v[:n_val] for k, v in val.tensors.items()}
    module.eval()
    val_cost = {}
    for label, monitoring in (("entropy on every record (today)", None), ("entropy off", 0)):
        module.model.set_attention_monitoring(monitoring)
        t = time.perf_counter()
        predict_batch(module.model, vb["signal"], vb["static"], schedule=module.schedule, recon_target=vb.get("clean"),
                      generator=torch.Generator().manual_seed(0))  # fmt: skip
        val_cost[label] = (time.perf_counter() - t) / n_val
    d = TrainConfig()
    recs_per_patient = cohort.n_records / 40
    val_records = int(d.data.patients * d.data.val_fraction * recs_per_patient)
    n_vals = d.trainer.max_steps // d.trainer.val_every_n_steps
    fit_steps_s = per_step * d.trainer.max_steps
    val_s = n_vals * val_records * next(iter(val_cost.values()))
    norm_s = norms_s * d.trainer.max_steps / d.trainer.log_every_n_steps * (1 - 0.4)  # full phase ~ last 60 %

    fwd = sum(spent.values()) / steps
    lines = [
        *results_head(
            f"Where a CPU training step goes: preset {preset}, batch {batch}, {threads} thread(s)",
            provenance(),
            f"Load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}.",
        ),
        f"Mean of {steps} steps after one warm-up (full multi-task phase, transformers on): **{per_step * 1000:.0f} ms"
        f" per step = {batch / per_step:.0f} samples/s**.",
        "",
        "| phase | ms/step | share |",
        "|---|---|---|",
        *(f"| {k} | {v / steps * 1000:.1f} | {v / steps / per_step:.0%} |" for k, v in phases.items()),
        "",
        "Forward time by model part (hooks; backward of each part costs about twice its forward):",
        "",
        "| part | ms/step | share of forward |",
        "|---|---|---|",
        *(
            f"| {k} | {v / steps * 1000:.1f} | {v / steps / fwd:.0%} |"
            for k, v in sorted(spent.items(), key=lambda kv: -kv[1])
        ),
        "",
        "Operators by self CPU time (3 steps, forward + backward + optimizer):",
        "",
        "```",
        table.rstrip(),
        "```",
        "",
        f"Beside the step, for the main job (`TrainConfig()`: {d.trainer.max_steps} steps, validation every "
        f"{d.trainer.val_every_n_steps}, ~{val_records} validation records):",
        "",
        "| cost | measured | per main job (s) |",
        "|---|---|---|",
        f"| training steps | {per_step * 1000:.0f} ms/step | {fit_steps_s:.0f} |",
        *(
            f"| validation record, {k} | {v * 1000:.1f} ms | {n_vals * val_records * v:.0f} |"
            for k, v in val_cost.items()
        ),
        f"| task-dominance gradient norms | {norms_s * 1000:.0f} ms per call, every {d.trainer.log_every_n_steps} steps"
        f" of the full phase | {norm_s:.0f} |",
        "",
        f"Projected fit: {fit_steps_s + val_s + norm_s:.0f} s (steps {fit_steps_s:.0f} + validation {val_s:.0f} + "
        f"gradient norms {norm_s:.0f}), Lightning's own per-step overhead (logging, progress bar) not included.",
    ]
    return "\n".join(lines) + "\n"


def _markdown(meta: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    cuda = any("peak_cuda_allocated_mib" in r for r in rows)
    head = ["preset", "params", "batch", "timed steps", "s/step (median)", "samples/s", "peak RSS MiB",
            "RSS before model MiB"] + (["peak CUDA MiB"] if cuda else [])  # fmt: skip
    lines = [
        *results_head(
            f"Training throughput ({meta['device']})", meta, f"Load average before the run {meta['loadavg']}."
        ),
        "A step (full multi-task phase, transformers on) = `ABRLitModule.training_step` (forward + masked multi-task"
        " loss) + backward + grad clipping + AdamW +"
        " LR scheduler; one untimed warm-up step. Peak RSS = `resource.getrusage(RUSAGE_SELF).ru_maxrss` of a fresh "
        "process per preset (whole process, including torch and the cohort).",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for r in rows:
        if "skipped" in r:
            lines.append(f"| {r['preset']} | skipped: {r['skipped']} |" + " |" * (len(head) - 2))
            continue
        cells = [r["preset"], f"{r['parameters'] / 1e6:.2f} M", r["batch_size"], r["timed_steps"], r["median_step_s"],
                 r["samples_per_s"], r["peak_rss_mib"], r["rss_before_model_mib"]]  # fmt: skip
        if cuda:
            cells.append(r.get("peak_cuda_allocated_mib", ""))
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    lines += ["", "Numbers depend on what else runs on the cores (see the load average above)."]
    return "\n".join(lines) + "\n"


def _stem(args: argparse.Namespace) -> str:
    """The results' name: train, or train_<device> off the CPU."""
    return "train" if args.device == "cpu" else f"train_{args.device}"


def _planned(args: argparse.Namespace) -> list[Path]:
    """What this call writes: the profile (--profile), the throughput tables, or nothing (--one, this script
    measuring one preset for itself)."""
    if args.one:
        return []
    return [RESULTS / "train_profile.md"] if args.profile else list(result_paths(_stem(args)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", nargs="+", default=["tiny", "cpu", "base", "large"])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=None, help="timed steps per preset (default: per-preset)")
    ap.add_argument("--budget-s", type=float, default=40.0, help="max timed seconds per preset")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (2 oversubscribes a shared 2-core box)")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--one", help=argparse.SUPPRESS)  # internal: measure one preset, print JSON
    ap.add_argument("--profile", metavar="PRESET", help="profile one preset's step -> results/train_profile.md")
    args = parse_args(ap, _planned)
    if args.profile:
        report = profile(args.profile, args.batch, args.steps or 8, args.threads)
        out = RESULTS / "train_profile.md"
        kept = kept_section(out, "\n## What to cut")  # the hand-written reading of the numbers stays
        write_files({out: report + kept}, force=args.force)
        print(report)
        return

    if args.one:
        steps = args.steps or DEFAULT_STEPS.get(args.one, 5)
        if args.one == "large" and args.device == "cpu":
            steps = min(steps, 2)
        print(json.dumps(measure(args.one, args.batch, steps, args.budget_s, args.device, args.threads)))
        return

    import torch

    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    rows = []
    for preset in args.presets:
        cmd = [sys.executable, __file__, "--one", preset, "--batch", str(args.batch), "--budget-s",
               str(args.budget_s), "--threads", str(args.threads), "--device", args.device]  # fmt: skip
        if args.steps:
            cmd += ["--steps", str(args.steps)]
        t = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
        if proc.returncode != 0:
            rows.append({"preset": preset, "skipped": proc.stderr.strip().splitlines()[-1][:200]})
        else:
            rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(f"{preset}: {rows[-1]} ({time.perf_counter() - t:.0f} s)", file=sys.stderr)

    torch.set_num_threads(args.threads)  # what each preset's process runs with, so the provenance says it
    meta = {
        **provenance(),
        "device": args.device,
        "loadavg": ", ".join(f"{x:.2f}" for x in os.getloadavg()),
        "memory_measure": "resource.getrusage(RUSAGE_SELF).ru_maxrss, one fresh process per preset",
    }
    stem, md = _stem(args), _markdown(meta, rows)  # the table; the hand-written before/after comparison stays
    write_results(stem, {"meta": meta, "results": rows}, md, force=args.force, keep="\n## Before / after", echo=False)
    print(f"wrote {RESULTS / stem}.json and .md", file=sys.stderr)


if __name__ == "__main__":
    main()
