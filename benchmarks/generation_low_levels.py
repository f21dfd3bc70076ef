"""Why generated wave V misses the latency target at 10–30 dB: the generator, or what the gap compares? (validation)

The latency–intensity gap compares the classical picker on generated signals with the picker on the clean signals
of the same conditions, over conditions whose record has a labelled V. The condition (age, level, rate, FMP) does
not say whether the ear hears at that level: near threshold many ears do not, so the generator may draw
non-responses where the reference side holds only records with a labelled V, and the picker would read a
non-response's largest bump as its "V". This script splits the generated side by whether the model's own heads see
a V in it (p(V) >= 0.5), and reports signed medians, so the two causes can be told apart: if the gap came from the
non-responses, the generated signals with a V would sit on the reference. Simulator truth is not read; labels are
the cohort's (what is visible in the waveform).

    python benchmarks/generation_low_levels.py --checkpoint runs/final/best.ckpt [--levels 10 20 30 40] [--seeds 0 1 2]
Writes benchmarks/results/generation_low_levels.{json,md}.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from _common import parse_args, provenance, require_checkpoint, results_head, write_results


def _median(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    return float(np.median(x)) if x.size else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", type=Path, default=Path("runs/final/best.ckpt"))
    ap.add_argument("--levels", type=float, nargs="+", default=[10.0, 20.0, 30.0, 40.0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--sampler", choices=("ddim", "dpm"), default="ddim")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--guidance", type=float, default=1.0)
    ap.add_argument("--threads", type=int, default=2)
    args = parse_args(ap, "generation_low_levels")
    require_checkpoint(args.checkpoint)

    import torch

    torch.set_num_threads(args.threads)
    import abrnet
    from abrnet.constants import WAVES
    from abrnet.evaluation.classical import pick_wave_v
    from abrnet.evaluation.evaluate import split_of
    from abrnet.evaluation.generation import level_bin_edges
    from abrnet.evaluation.generation_eval import heads_wave_v
    from abrnet.training.cohort_source import model_training_cohort

    v = WAVES.index("V")
    model = abrnet.load(args.checkpoint)
    val = split_of(model.loaded, model_training_cohort(model.loaded), "val")
    level = val.static_column("intensity_db")
    labelled = np.isfinite(val.latency_ms[:, v])
    rows = []
    for db in args.levels:
        at = level_bin_edges(level) == db  # the 10-dB bin [db, db + 10) the gap uses
        cond = val.subset(np.flatnonzero(at & labelled))
        ref_lat = pick_wave_v(cond.clean, cond.time_ms)[0]  # (n,) the picker on the clean responses
        gen_lat, seen = [], []
        for seed in args.seeds:
            gen = model.generate(1, conditions=cond.static, sampler=args.sampler, steps=args.steps,
                                 guidance=args.guidance, seed=seed, band_limit=True)  # fmt: skip
            gen_lat.append(pick_wave_v(gen.signals, cond.time_ms)[0])
            noisy = gen.signals + (cond.signals - cond.clean)  # the paired record's noise: what the heads read
            seen.append(np.isfinite(heads_wave_v(model, noisy, gen.static)[0]))
        g, s = np.concatenate(gen_lat), np.concatenate(seen)
        ref_all = np.tile(ref_lat, len(args.seeds))
        p_labelled = float(labelled[at].mean()) if at.any() else float("nan")
        rows.append({
            "level_db": db,
            "conditions_with_labelled_v": int(cond.n_records),
            "share_of_bin_with_labelled_v": p_labelled,
            "reference_median_ms": _median(ref_lat),
            "generated_median_ms": _median(g),
            "signed_gap_ms": _median(g) - _median(ref_all),
            "share_generated_seen_by_heads": float(s.mean()),
            "generated_seen_median_ms": _median(g[s]),
            "signed_gap_seen_ms": _median(g[s]) - _median(ref_all),
            "generated_unseen_median_ms": _median(g[~s]),
        })  # fmt: skip
        print(rows[-1], flush=True)
    result = {**provenance(), "checkpoint": str(args.checkpoint), "seeds": args.seeds, "sampler": args.sampler,
              "steps": args.steps, "guidance": args.guidance, "rows": rows}  # fmt: skip
    write_results("generation_low_levels", result, _markdown(result), force=args.force)


def _markdown(result: dict[str, Any]) -> str:
    lines = [
        *results_head("Generated wave V at low levels: the generator or the comparison? (validation split)", result),
        f"Checkpoint `{result['checkpoint']}`, {result['sampler']} {result['steps']} steps, guidance "
        f"{result['guidance']:g}, seeds {result['seeds']}; conditions: validation records with a labelled V in each "
        "10-dB bin [L, L + 10). Latencies: the classical picker (generated vs the same conditions' clean signals); "
        "signed gap = generated − reference median (negative: generated V earlier). *Seen*: the model's heads find a V "
        "(p >= 0.5) in the generated signal plus the paired record's own noise.",
        "",
        "| level | conditions (share of the bin with a V) | reference median ms | generated median ms (gap) "
        "| seen by the heads | seen: median ms (gap) | not seen: median ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['level_db']:g} dB | {r['conditions_with_labelled_v']} ({r['share_of_bin_with_labelled_v']:.0%}) "
            f"| {r['reference_median_ms']:.2f} | {r['generated_median_ms']:.2f} ({r['signed_gap_ms']:+.2f}) "
            f"| {r['share_generated_seen_by_heads']:.0%} | {r['generated_seen_median_ms']:.2f} "
            f"({r['signed_gap_seen_ms']:+.2f}) | {r['generated_unseen_median_ms']:.2f} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
