"""The per-ear class call at the cohort's own prevalence: what a validation-tuned prior shift would give, and cost.

The series classifier is fitted class-balanced (so rare classes are learnt) and calls the argmax, so at a clinic's
prevalence, mostly normal ears, it over-calls the rare classes: on the main job's test split 46 of 455 NORMAL ears
were called CONDUCTIVE. The per-record call already has a decision rule tuned on natural validation records
(`series.classifier.fit_record_class_bias`: log-prior shifts by coordinate ascent on macro-F1); the per-ear call has
none. This script tunes the same shifts on the model's own validation ears (natural prevalence) and scores argmax
and shifted calls on a fresh natural cohort (mixed protocol, not balanced) and on a class-balanced fixed-protocol
cohort (the shape of issue 11's fixed evaluation). Validation only: never the test split or the evaluation's cohorts
(seeds: the model's + 80,011 natural, + 30,011 fixed, as the other validation scripts).

    python benchmarks/ear_class_prior.py --checkpoint runs/final/best.ckpt
Writes benchmarks/results/ear_class_prior.json and .md.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from _common import analysis_predictions, parse_args, provenance, require_checkpoint, results_head, write_results
from abrnet.constants import CLASS_NAMES
from abrnet.data.schema import ABRCohort
from abrnet.data.simulate import SimulationConfig, simulate_cohort
from abrnet.evaluation.evaluate import split_of
from abrnet.inference.checkpoint import LoadedModel, load_checkpoint
from abrnet.metrics.kernels import class_macro_f1
from abrnet.series.classifier import adjusted_record_probs, fit_record_class_bias
from abrnet.series.per_ear import EarTable, aggregate_ears
from abrnet.training.cohort_source import model_training_cohort

NATURAL_SEED_OFFSET, FIXED_SEED_OFFSET = 80_011, 30_011


def ears(loaded: LoadedModel, cohort: ABRCohort) -> EarTable:
    """The per-ear table the evaluation scores (the checkpoint's own series stage)."""
    return aggregate_ears(analysis_predictions(loaded, cohort), cohort, loaded.series_model)


def scores(table: EarTable, bias: list[float] | None) -> dict:
    """Macro-F1 over the classes present, the share of NORMAL ears called something else, and the calls' counts."""
    known = table.true_class >= 0
    truth = table.true_class[known]
    called = adjusted_record_probs(table.class_prob, bias)[known].argmax(axis=1)
    normal = truth == 0
    return {
        "macro_f1": float(class_macro_f1(truth, called, np.ones((1, truth.size)), len(CLASS_NAMES))[0]),
        "normal_called_other": float((called[normal] != 0).mean()) if normal.any() else None,
        "called": {name: int((called == c).sum()) for c, name in enumerate(CLASS_NAMES)},
        "true": {name: int((truth == c).sum()) for c, name in enumerate(CLASS_NAMES)},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--checkpoint", type=Path, default=Path("runs/final/best.ckpt"))
    ap.add_argument("--patients", type=int, default=300, help="patients of the fresh natural cohort")
    ap.add_argument("--fixed-patients", type=int, default=150)
    args = parse_args(ap, "ear_class_prior")
    require_checkpoint(args.checkpoint)
    loaded = load_checkpoint(args.checkpoint)
    seed = loaded.config.seed
    tune = ears(loaded, split_of(loaded, model_training_cohort(loaded), "val"))
    known = tune.true_class >= 0
    bias = fit_record_class_bias(tune.class_prob[known], tune.true_class[known])
    cohorts = {
        "validation ears (tuned on)": tune,
        f"natural, mixed protocol (seed {seed + NATURAL_SEED_OFFSET})": ears(
            loaded, simulate_cohort(SimulationConfig(n_patients=args.patients), seed=seed + NATURAL_SEED_OFFSET)
        ),
        f"class-balanced, fixed protocol (seed {seed + FIXED_SEED_OFFSET})": ears(
            loaded,
            simulate_cohort(
                SimulationConfig(n_patients=args.fixed_patients, balanced=True, protocol="fixed"),
                seed=seed + FIXED_SEED_OFFSET,
            ),
        ),
    }
    report = {
        "provenance": provenance(),
        "checkpoint": str(args.checkpoint),
        "bias": dict(zip(CLASS_NAMES, bias, strict=True)) if bias is not None else None,
        "cohorts": {name: {"argmax": scores(t, None), "shifted": scores(t, bias)} for name, t in cohorts.items()},
    }
    print(json.dumps(report["cohorts"], indent=1))
    lines = [
        *results_head("The per-ear class call at the cohort's own prevalence (validation only)", report["provenance"]),
        f"Log-prior shifts tuned on the validation ears of `{args.checkpoint}` (NORMAL fixed at 0): "
        + ", ".join(f"{k} {v:+.2f}" for k, v in (report["bias"] or {}).items())
        + ".",
        "",
        "| ears | macro-F1, argmax / shifted | NORMAL called another class, argmax / shifted | true classes | "
        "called, argmax | called, shifted |",
        "|---|---|---|---|---|---|",
    ]
    counts = lambda d: " ".join(f"{k[:4]} {v}" for k, v in d.items())
    for name, r in report["cohorts"].items():
        a, s = r["argmax"], r["shifted"]
        lines.append(
            f"| {name} | {a['macro_f1']:.3f} / {s['macro_f1']:.3f} | "
            f"{a['normal_called_other']:.3f} / {s['normal_called_other']:.3f} | {counts(a['true'])} | "
            f"{counts(a['called'])} | {counts(s['called'])} |"
        )
    lines.append("")
    write_results("ear_class_prior", report, "\n".join(lines), force=args.force, echo=False)


if __name__ == "__main__":
    main()
