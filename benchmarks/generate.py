"""Generation speed vs sampler steps (DDIM, DPM-Solver++) on CPU, with quality at each step count.

Quality: real-vs-generated two-sample AUC against the split's clean signals (whole band and 100-3000 Hz) and
the wave V latency–intensity gap (classical peak picker on generated vs on the clean signals, conditions whose
record has a wave V, max over 10 dB bins; target <= 0.3 ms).
This table is what sampler and step choices are read from, so its quality columns are on the *validation* split
by default (`--split test` only for a final look), and the guidance scale is not fixed by hand: it is the one
`abrnet evaluate --generation` chose on validation (`--choice DIR/generation.json`), or, without that file, the
same choice (`abrnet.evaluation.generation_choice`, default grid) run here on `--choice-n` validation conditions.
The test figure of the chosen setting is the one in `generation.json`.
Usage: .venv/bin/python benchmarks/generate.py [--checkpoint runs/default/best.ckpt] [--n 256] [--choice FILE] [--raw]
Writes benchmarks/results/generate.json and benchmarks/results/generate.md. Needs a trained checkpoint.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

from _common import (
    device_name,
    parse_args,
    provenance,
    require_checkpoint,
    results_head,
    validation_choice,
    write_results,
)


def _stem(args: argparse.Namespace) -> str:
    """The results' name: generate, generate_<device> off the CPU, with _raw for the raw sampler output and _test for
    a final look on the test split (it replaced the validation table that choices are read from; hunt 50g #8)."""
    name = "generate" if args.device == "cpu" else f"generate_{args.device}"
    return name + ("_raw" if args.raw else "") + ("_test" if args.split == "test" else "")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", type=Path, default=Path("runs/default/best.ckpt"))
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--min-count", type=int, default=20, help="labelled waves a 10 dB bin needs for the latency gap")
    ap.add_argument("--steps", type=int, nargs="+", default=[10, 20, 50])
    ap.add_argument("--guidance", type=float, default=None, help="fixed guidance (default: the validation choice)")
    ap.add_argument("--choice", type=Path, default=None, help="generation.json of `abrnet evaluate --generation`")
    ap.add_argument("--choice-n", type=int, default=128, help="validation conditions per candidate when choosing here")
    ap.add_argument("--split", choices=("val", "test"), default="val", help="split the quality columns are scored on")
    ap.add_argument("--eta", type=float, default=0.0, help="stochastic DDIM (applied to the ddim rows only)")
    ap.add_argument("--raw", action="store_true", help="score the raw sampler output (no recording band-pass)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu", help="cpu or cuda (results go to generate_cuda.*)")
    args = parse_args(ap, _stem)
    require_checkpoint(args.checkpoint)

    import torch

    torch.set_num_threads(args.threads)
    import abrnet
    from abrnet.evaluation.classical import pick_wave_v
    from abrnet.evaluation.evaluate import split_of
    from abrnet.evaluation.generation import (
        ABR_BAND_HZ,
        latency_intensity_gap,
        latency_intensity_table,
        two_sample_auc,
    )
    from abrnet.training.cohort_source import model_training_cohort

    model = abrnet.load(args.checkpoint, device=args.device)
    cohort = model_training_cohort(model.loaded)
    guidance, guidance_source = _guidance(args, model, cohort)
    part = split_of(model.loaded, cohort, args.split)
    rng = np.random.default_rng(0)
    data = part.subset(np.sort(rng.choice(part.n_records, size=min(args.n, part.n_records), replace=False)))
    ref = data.clean if data.clean is not None else data.signals
    level = data.static_column("intensity_db")
    resp = np.isfinite(data.latency_ms[:, 2])  # latency–intensity function: conditions with a response only
    ref_table = latency_intensity_table(pick_wave_v(ref[resp], data.time_ms)[0], level[resp], min_count=args.min_count)
    rows = []
    for sampler in ("ddim", "dpm"):
        for steps in args.steps:
            t = time.perf_counter()
            gen = model.generate(
                1,
                conditions=data.static,
                sampler=sampler,
                steps=steps,
                guidance=guidance,
                seed=0,
                eta=args.eta if sampler == "ddim" else 0.0,
                band_limit=not args.raw,
            )
            dt = time.perf_counter() - t
            gap = latency_intensity_gap(
                ref_table,
                latency_intensity_table(
                    pick_wave_v(gen.signals[resp], data.time_ms)[0], level[resp], min_count=args.min_count
                ),
            )
            rows.append({
                "sampler": sampler,
                "steps": steps,
                "n": data.n_records,
                "seconds": dt,
                "signals_per_second": data.n_records / dt,
                "two_sample_auc": two_sample_auc(ref, gen.signals, seed=0),
                "two_sample_auc_abr_band": two_sample_auc(ref, gen.signals, seed=0, band=ABR_BAND_HZ),
                "latency_gap_max_ms": gap["max_abs_ms"],
                "latency_gap_mean_ms": gap["mean_abs_ms"],
                "latency_bins": gap["n_shared"],
                "missing_bins": gap["missing_in_gen"],
            })  # fmt: skip
            print(rows[-1], flush=True)
    result = {
        "checkpoint": str(args.checkpoint),
        "preset": model.loaded.config.model.preset,
        "threads": args.threads,
        "guidance": guidance,
        "guidance_source": guidance_source,
        "split": args.split,
        "eta": args.eta,
        "band_limit": not args.raw,
        "device": device_name(args.device),
        **provenance(),
        "reference": "clean" if data.clean is not None else "observed",
        "rows": rows,
    }
    lines = [
        *results_head(f"Generation: speed vs steps ({result['device']}) and quality", result),
        f"Checkpoint `{args.checkpoint}` (preset {result['preset']}), guidance {guidance:g} ({guidance_source}), "
        f"{'raw sampler output' if args.raw else 'output through the 100-3000 Hz recording band-pass'}, "
        f"{args.threads} torch threads, conditions from {data.n_records} {args.split} records; AUC and latency gap "
        f"vs the {args.split} split's {result['reference']} signals.",
        "",
        f"| sampler | steps | signals/s | AUC (0.5 = chance) | AUC in 100-3000 Hz "
        f"| V latency gap max / mean (ms), bins with >= {args.min_count} waves |",
        "|---|---|---|---|---|---|",
        *(
            f"| {r['sampler']} | {r['steps']} | {r['signals_per_second']:.1f} | {r['two_sample_auc']:.3f} | "
            f"{r['two_sample_auc_abr_band']:.3f} | "
            f"{r['latency_gap_max_ms']:.2f} / {r['latency_gap_mean_ms']:.2f} ({r['latency_bins']} bins) |"
            for r in rows
        ),
    ]
    write_results(_stem(args), result, "\n".join(lines) + "\n", force=args.force)


def _guidance(args: argparse.Namespace, model: Any, cohort: Any) -> tuple[float, str]:
    """The guidance scale of the sweep and where it came from: --guidance, --choice FILE, or a choice on val here."""
    if args.guidance is not None:
        return float(args.guidance), "fixed by --guidance"
    if args.choice is not None:
        return float(validation_choice(args.choice)["guidance"]), f"chosen on val ({args.choice})"
    from abrnet.evaluation.evaluate import split_of
    from abrnet.evaluation.generation_choice import choose_generation_settings

    sel = choose_generation_settings(model, split_of(model.loaded, cohort, "val"), n=args.choice_n, eta=args.eta)
    print({"choice": sel["chosen"], "criterion": sel["criterion"]}, flush=True)
    return float(sel["chosen"]["guidance"]), f"chosen on val here, {sel['n_conditions']} conditions"


if __name__ == "__main__":
    main()
