"""How much the generation latency gap moves with the sampling seed, per checkpoint (validation split).

The README's generation figure (wave V latency–intensity gap: the classical picker on generated signals vs on the
clean signals, max and mean over 10-dB bins with >= 30 labelled waves) is one sample: one draw of conditions and one
draw of sampler noise. Before a difference between two checkpoints is read as a cost of a training change, it must
exceed what another seed of the same checkpoint gives. This runs `abrnet.evaluation.generation_eval`'s own scoring
(the code `abrnet evaluate --generation` uses) at fixed sampler settings for several seeds and checkpoints, on the
validation split (conditions and sampler noise both drawn from the seed), and reports each checkpoint's spread.
Usage: .venv/bin/python benchmarks/generation_seeds.py --checkpoint NAME=PATH [NAME=PATH ...] [--seeds 0 1 2]
  [--choice runs/x/generation.json | --sampler ddim --steps 10 --guidance 1]
Writes benchmarks/results/generation_seeds.{json,md}.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from _common import parse_args, provenance, refuse, require_checkpoint, results_head, validation_choice, write_results


def _named(spec: str) -> tuple[str, Path]:
    name, sep, path = spec.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"--checkpoint {spec!r}: expected NAME=PATH")
    return name, Path(path)


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    """Sampler, steps and guidance: fixed on the command line, or the validation choice of a generation.json."""
    if args.choice is None:
        return {"sampler": args.sampler, "steps": args.steps, "guidance": args.guidance, "source": "command line"}
    chosen = validation_choice(args.choice)
    return {k: chosen[k] for k in ("sampler", "steps", "guidance")} | {"source": f"chosen on val ({args.choice})"}


def _row(report: dict[str, Any]) -> dict[str, Any]:
    cond = report["conditional"]
    lat = cond["classical_vs_classical_on_reference"]["latency"]
    heads = cond["heads_vs_labels"]["latency"]
    return {
        "seed": report["seed"],
        "n_with_response": cond["n_with_response"],
        "gap_max_ms": lat["max_abs_ms"],
        "gap_mean_ms": lat["mean_abs_ms"],
        "gap_per_bin_ms": lat["per_bin"],
        "generated_median_ms": lat["generated_median_ms"],  # the sign of each bin's gap (per_bin is absolute)
        "reference_median_ms": lat["reference_median_ms"],
        "heads_gap_max_ms": heads["max_abs_ms"],
        "heads_gap_mean_ms": heads["mean_abs_ms"],
        "real_vs_real_max_p95_ms": (cond["real_vs_real_labels"] or {}).get("max_abs_ms_p95", float("nan")),
        "auc_abr_band": cond["two_sample_auc_abr_band"],
    }


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("gap_max_ms", "gap_mean_ms", "heads_gap_max_ms", "auc_abr_band"):
        v = np.array([r[key] for r in rows], dtype=float)
        out[key] = {"mean": float(v.mean()), "min": float(v.min()), "max": float(v.max())}
    bins = sorted({b for r in rows for b in r["gap_per_bin_ms"]}, key=float)
    out["gap_per_bin_ms"] = {
        b: {"mean": float(np.mean(g)), "min": float(np.min(g)), "max": float(np.max(g)), "seeds": len(g)}
        for b in bins
        if (g := [r["gap_per_bin_ms"][b] for r in rows if b in r["gap_per_bin_ms"]])
    }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", type=_named, nargs="+", default=[], help="NAME=PATH, one or more")
    ap.add_argument("--merge", type=Path, nargs="+", default=[], help="earlier results JSON of this script: one table")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--n", type=int, default=2048, help="validation conditions per seed")
    ap.add_argument("--min-count", type=int, default=30, help="labelled waves a 10 dB bin needs (as evaluate's)")
    ap.add_argument("--choice", type=Path, default=None, help="generation.json whose validation choice to use")
    ap.add_argument("--sampler", choices=("ddim", "dpm"), default="ddim")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--guidance", type=float, default=1.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tag", default="generation_seeds", help="results file stem")
    args = parse_args(ap, lambda a: a.tag)
    if args.merge:
        write_results(args.tag, *_merged(args.merge), force=args.force)
        return
    if not args.checkpoint:
        ap.error("pass --checkpoint NAME=PATH (or --merge FILE ...)")
    require_checkpoint(*(path for _, path in args.checkpoint))

    import torch

    torch.set_num_threads(args.threads)
    import abrnet
    from abrnet.evaluation.evaluate import split_of
    from abrnet.evaluation.generation_eval import evaluate_generation
    from abrnet.training.cohort_source import model_training_cohort

    settings = _settings(args)
    per_checkpoint: dict[str, Any] = {}
    for name, path in args.checkpoint:
        model = abrnet.load(path)
        val = split_of(model.loaded, model_training_cohort(model.loaded), "val")
        rows = []
        for seed in args.seeds:
            report = evaluate_generation(
                model, val, n=args.n, n_joint=64, seed=seed, min_count=args.min_count,
                **{k: settings[k] for k in ("sampler", "steps", "guidance")},
            )  # fmt: skip
            rows.append(_row(report))
            print(name, {k: v for k, v in rows[-1].items() if k != "gap_per_bin_ms"}, flush=True)
        per_checkpoint[name] = {"path": str(path), "rows": rows, "summary": _summary(rows)}
    result = {**provenance(), "settings": settings, "n": args.n, "min_count": args.min_count, "split": "val"}
    result["checkpoints"] = per_checkpoint
    write_results(args.tag, result, _markdown(result), force=args.force)


def _ms(value: float) -> str:
    """A gap in ms, or "—" where it could not be measured (real vs real needs twice the conditions in the split)."""
    return "—" if not np.isfinite(value) else f"{value:.2f}"


def _merged(paths: list[Path]) -> tuple[dict[str, Any], str]:
    """One table from runs of this script made with the same settings (each keeps its own provenance line)."""
    parts = [json.loads(p.read_text()) for p in paths]
    keys = ("settings", "n", "min_count", "split")
    for p, part in zip(paths[1:], parts[1:], strict=True):
        if any(part[k] != parts[0][k] for k in keys):
            refuse(p, f"settings differ from {paths[0]}; only like runs can share a table")
    result = {**provenance(), **{k: parts[0][k] for k in keys}, "merged_from": [str(p) for p in paths]}
    result["runs"] = [{k: part[k] for k in ("command", "date", "machine")} for part in parts]
    result["checkpoints"] = {name: c for part in parts for name, c in part["checkpoints"].items()}
    md = _markdown(result) + "\nMerged from: " + "; ".join(f"`{r['command']}` ({r['date']})" for r in result["runs"])
    return result, md + "\n"


def _markdown(result: dict[str, Any]) -> str:
    s = result["settings"]
    lines = [
        *results_head("Generation: the wave V latency gap across sampling seeds (validation split)", result),
        f"{s['sampler']} {s['steps']} steps, guidance {s['guidance']:g} ({s['source']}); {result['n']} validation "
        f"conditions per seed (drawn by the seed, as is the sampler noise). Gap: classical picker on generated vs on "
        f"the clean signals, conditions with a labelled V, 10-dB bins with >= {result['min_count']} waves. Heads vs "
        f"labels: the checkpoint's own heads on the generated signals against the conditions' labels (a different "
        f"reader per checkpoint). Real vs real (two disjoint real samples of this size) needs twice the conditions "
        f"in the split: — where the split is smaller.",
        "",
        "| checkpoint | seed | gap max / mean (ms) | heads vs labels max / mean (ms) | real vs real max, p95 "
        "| AUC 100-3000 Hz |",
        "|---|---|---|---|---|---|",
    ]
    for name, c in result["checkpoints"].items():
        lines += [
            f"| {name} | {r['seed']} | {r['gap_max_ms']:.2f} / {r['gap_mean_ms']:.2f} | "
            f"{r['heads_gap_max_ms']:.2f} / {r['heads_gap_mean_ms']:.2f} | {_ms(r['real_vs_real_max_p95_ms'])} | "
            f"{r['auc_abr_band']:.3f} |"
            for r in c["rows"]
        ]
    bins = sorted({b for c in result["checkpoints"].values() for b in c["summary"]["gap_per_bin_ms"]}, key=float)
    lines += ["", "Gap per level bin, mean [min, max] over seeds (ms):", ""]
    lines += ["| checkpoint | " + " | ".join(f"{float(b):g} dB" for b in bins) + " |"]
    lines += ["|---|" + "---|" * len(bins)]
    for name, c in result["checkpoints"].items():
        cells = []
        for b in bins:
            g = c["summary"]["gap_per_bin_ms"].get(b)
            cells.append(f"{g['mean']:.2f} [{g['min']:.2f}, {g['max']:.2f}]" if g else "—")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
