"""The per-ear class call at the cohort's own prevalence: what a validation-tuned prior shift would give, and cost.

The series classifier is fitted class-balanced (so rare classes are learnt) and calls the argmax, so at a clinic's
prevalence, mostly normal ears, it over-calls the rare classes: on the main job's test split 46 of 455 NORMAL ears
were called CONDUCTIVE. The per-record call already has a decision rule tuned on natural validation records
(`series.classifier.fit_record_class_bias`: log-prior shifts by coordinate ascent on macro-F1); the per-ear call has
none. This script tunes the same shifts on the model's own validation ears (natural prevalence) and scores argmax
and shifted calls on a fresh natural cohort (mixed protocol, not balanced) and on a class-balanced fixed-protocol
cohort (the shape of issue 11's fixed evaluation). Validation only: never the test split or the evaluation's cohorts
(seeds: the model's + 80,011 natural, + 30,011 fixed, as the other validation scripts).

A third rule (stop 48) asks the clinic's question first: NORMAL or not, at a stated false-alarm rate r. An ear is
called a loss only where p(NORMAL) is below the r quantile of p(NORMAL) over the validation ears that are NORMAL
(so that share of normal validation ears is called a loss), then the likeliest loss class; otherwise NORMAL.
Scored by the same macro-F1, the share of NORMAL ears called a loss and the share of loss ears called one.

    python benchmarks/ear_class_prior.py --checkpoint runs/final/best.ckpt [more checkpoints: a section each]
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


def normal_or_not_calls(class_prob: np.ndarray, floor: float) -> np.ndarray:
    """(E,) calls: NORMAL where p(NORMAL) >= `floor`, else the likeliest of the other classes."""
    prob = np.asarray(class_prob, dtype=np.float64)
    loss = 1 + prob[:, 1:].argmax(axis=1)
    return np.where(prob[:, 0] >= floor, 0, loss)


def normal_floor(table: EarTable, false_alarm: float) -> float:
    """The p(NORMAL) below which `false_alarm` of the table's NORMAL ears lie (the rule's operating point)."""
    normal = table.true_class == 0
    return float(np.quantile(table.class_prob[normal, 0], false_alarm))


def scores(table: EarTable, bias: list[float] | None, floor: float | None = None) -> dict:
    """Macro-F1 over the classes present, the share of NORMAL ears called something else, the share of the other
    ears called a loss, and the calls' counts (argmax after `bias`, or the NORMAL-or-not rule at `floor`)."""
    known = table.true_class >= 0
    truth = table.true_class[known]
    if floor is None:
        called = adjusted_record_probs(table.class_prob, bias)[known].argmax(axis=1)
    else:
        called = normal_or_not_calls(table.class_prob[known], floor)
    normal = truth == 0
    return {
        "macro_f1": float(class_macro_f1(truth, called, np.ones((1, truth.size)), len(CLASS_NAMES))[0]),
        "normal_called_other": float((called[normal] != 0).mean()) if normal.any() else None,
        "loss_called_loss": float((called[~normal] != 0).mean()) if (~normal).any() else None,
        "called": {name: int((called == c).sum()) for c, name in enumerate(CLASS_NAMES)},
        "true": {name: int((truth == c).sum()) for c, name in enumerate(CLASS_NAMES)},
    }


def measure(loaded: LoadedModel, patients: int, fixed_patients: int, false_alarms: list[float]) -> dict:
    """One checkpoint: the rules tuned on its validation ears, scored on them and on the two fresh cohorts."""
    seed = loaded.config.seed
    tune = ears(loaded, split_of(loaded, model_training_cohort(loaded), "val"))
    known = tune.true_class >= 0
    bias = fit_record_class_bias(tune.class_prob[known], tune.true_class[known])
    floors = {f"NORMAL-or-not at {rate:g}": normal_floor(tune, rate) for rate in false_alarms}
    natural = SimulationConfig(n_patients=patients)
    fixed = SimulationConfig(n_patients=fixed_patients, balanced=True, protocol="fixed")
    cohorts = {
        "validation ears (tuned on)": tune,
        f"natural, mixed protocol (seed {seed + NATURAL_SEED_OFFSET})": ears(
            loaded, simulate_cohort(natural, seed=seed + NATURAL_SEED_OFFSET)
        ),
        f"class-balanced, fixed protocol (seed {seed + FIXED_SEED_OFFSET})": ears(
            loaded, simulate_cohort(fixed, seed=seed + FIXED_SEED_OFFSET)
        ),
    }
    return {
        "bias": dict(zip(CLASS_NAMES, bias, strict=True)) if bias is not None else None,
        "normal_floors": floors,
        "cohorts": {
            name: {
                "argmax": scores(t, None),
                "shifted": scores(t, bias),
                **{rule: scores(t, None, floor) for rule, floor in floors.items()},
            }
            for name, t in cohorts.items()
        },
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--checkpoint", type=Path, nargs="+", default=[Path("runs/final/best.ckpt")])
    ap.add_argument("--patients", type=int, default=300, help="patients of the fresh natural cohort")
    ap.add_argument("--fixed-patients", type=int, default=150)
    ap.add_argument(
        "--false-alarm", type=float, nargs="+", default=[0.05, 0.10], help="NORMAL-or-not: normal ears called a loss"
    )
    args = parse_args(ap, "ear_class_prior")
    require_checkpoint(*args.checkpoint)
    report: dict = {"provenance": provenance(), "checkpoints": {}}
    for path in args.checkpoint:
        loaded = load_checkpoint(path)
        report["checkpoints"][str(path)] = measure(loaded, args.patients, args.fixed_patients, args.false_alarm)
    print(json.dumps(report["checkpoints"], indent=1))
    lines = [
        *results_head("The per-ear class call at the cohort's own prevalence (validation only)", report["provenance"]),
        "Rules: argmax of the series classifier (as shipped); log-prior shifts tuned on the checkpoint's validation "
        "ears (NORMAL fixed at 0); NORMAL-or-not at a false-alarm rate r (a loss where p(NORMAL) is below the r "
        "quantile of p(NORMAL) over the validation ears that are NORMAL, then the likeliest loss class).",
        "",
    ]
    counts = lambda d: " ".join(f"{k[:4]} {v}" for k, v in d.items())
    for path, r in report["checkpoints"].items():
        shifts = ", ".join(f"{k} {v:+.2f}" for k, v in (r["bias"] or {}).items())
        floors = ", ".join(f"{k}: p(NORMAL) < {v:.3f}" for k, v in r["normal_floors"].items())
        lines += [
            f"### `{path}`",
            "",
            f"Shifts: {shifts}. {floors}.",
            "",
            "| ears | rule | macro-F1 | NORMAL called a loss | loss ears called a loss | called |",
            "|---|---|---|---|---|---|",
        ]
        for name, rules in r["cohorts"].items():
            lines.append(f"| {name} | | | | | true: {counts(rules['argmax']['true'])} |")
            for rule, x in rules.items():
                lines.append(
                    f"| | {rule} | {x['macro_f1']:.3f} | {x['normal_called_other']:.3f} | "
                    f"{x['loss_called_loss']:.3f} | {counts(x['called'])} |"
                )
        lines.append("")
    write_results("ear_class_prior", report, "\n".join(lines), force=args.force, echo=False)


if __name__ == "__main__":
    main()
