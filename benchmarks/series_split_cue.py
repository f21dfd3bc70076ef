"""Does a label-free response cue help the series stage's class and no-response calls? (issue 11, validation only)

The series stage reads the network's per-record outputs (and one classical cue, the cochlear microphonic). Whether an
ear has *any* response at the top of its series (a small residual V in ANSD, a raised SNHL threshold's last V) is
read from p(V), so it depends on where the V label's line is drawn (`config_choice.md`, stop 31: labels at 2.5 × the
noise lose per-ear class because those small responses are no longer learnt). This script adds one feature that does
not depend on any label: the mean split-buffer correlation (1–9 ms, `classical_threshold.split_buffer_correlation`)
over each ear's records within 10 dB of its highest level. It refits the stage's class and no-response classifiers
with and without it (`fit_series_classifier`, on the checkpoint's own series cohort) and scores both on four fresh
class-balanced cohorts (fixed seeds + 30,011 / 60,011, mixed + 40,011 / 70,011; 150 patients). Never the test split.

    python benchmarks/series_split_cue.py --checkpoint runs/final/best.ckpt [--tag series_split_cue]
Writes benchmarks/results/<tag>.json and .md. The cohorts are simulated with this code's simulator (its label line).
"""

from __future__ import annotations

import argparse
import contextlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

import abrnet.series.classifier as series_classifier
import abrnet.series.per_ear as per_ear
from _common import (
    analysis_predictions,
    parse_args,
    provenance,
    require_checkpoint,
    results_head,
    validation_cohorts,
    write_results,
)
from abrnet.data.schema import ABRCohort
from abrnet.evaluation.classical_threshold import split_buffer_correlation
from abrnet.evaluation.evaluate import split_of
from abrnet.evaluation.trivial_baselines import ear_table_scores
from abrnet.inference.checkpoint import load_checkpoint
from abrnet.models.predictions import Predictions
from abrnet.series.microphonic import LOUD_SPAN_DB
from abrnet.training.cohort_source import load_training_cohort
from abrnet.training.series_stage import series_fit_cohort

_plain_features = per_ear.series_features


def with_split_cue(pred: Predictions, data: ABRCohort, table: per_ear.EarTable) -> np.ndarray:
    """`per_ear.series_features` (E, F) plus the loud split-buffer correlation: (E, F + 1)."""
    inv, n_ears = table.record_ear, table.n_ears
    level = data.static[:, 1].astype(np.float64)
    loud = (level >= per_ear.highest_levels(inv, level, n_ears)[inv] - LOUD_SPAN_DB - 1e-6).astype(np.float64)
    cue = np.bincount(inv, loud * split_buffer_correlation(data), n_ears) / np.bincount(inv, loud, n_ears)
    return np.concatenate([_plain_features(pred, data, table), cue[:, None]], axis=1)


@contextlib.contextmanager
def series_features(fn: Callable[..., np.ndarray]) -> Iterator[None]:
    """Both modules that call `series_features` read `fn` inside the block (fitting and reading alike)."""
    per_ear.series_features = series_classifier.series_features = fn
    try:
        yield
    finally:
        per_ear.series_features = series_classifier.series_features = _plain_features


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--checkpoint", type=Path, default=Path("runs/final/best.ckpt"))
    ap.add_argument("--patients", type=int, default=150)
    ap.add_argument("--tag", default="series_split_cue")
    args = parse_args(ap, lambda a: a.tag)
    require_checkpoint(args.checkpoint)
    loaded = load_checkpoint(args.checkpoint)
    cfg = loaded.config
    fit, source = series_fit_cohort(cfg, split_of(loaded, load_training_cohort(cfg), "val"))
    fit_pred = analysis_predictions(loaded, fit)
    variants = {"as trained": _plain_features, "with split cue": with_split_cue}
    stages = {}
    for name, fn in variants.items():
        with series_features(fn):
            stages[name] = series_classifier.fit_series_classifier(fit_pred, fit, source=source)
    report: dict = {"provenance": provenance(), "checkpoint": str(args.checkpoint), "per_ear": {}}
    for cohort_name, cohort in validation_cohorts(cfg.seed, args.patients).items():
        pred = analysis_predictions(loaded, cohort)
        row = {}
        for name, fn in variants.items():
            with series_features(fn):
                s = ear_table_scores(per_ear.aggregate_ears(pred, cohort, stages[name]))
            row[name] = {"class_macro_f1": s["ear_class_macro_f1"], "no_response_f1": s["ear_no_response_f1"]}
        report["per_ear"][cohort_name] = row
        print(cohort_name, json.dumps(row), flush=True)
    write_results(args.tag, report, to_markdown(report), force=args.force)


def to_markdown(report: dict) -> str:
    lines = ["| class macro-F1 / no-response F1 | as trained | with split cue |", "|---|---|---|"]
    for cohort, row in report["per_ear"].items():
        cell = lambda r: f"{r['class_macro_f1']:.3f} / {r['no_response_f1']:.3f}"
        lines.append(f"| {cohort} | {cell(row['as trained'])} | {cell(row['with split cue'])} |")
    return "\n".join([
        *results_head("A label-free response cue in the series stage (validation only)", report["provenance"]),
        f"Checkpoint `{report['checkpoint']}`. Class and no-response classifiers refitted on the checkpoint's series "
        "cohort with and without the loud split-buffer correlation; four fresh class-balanced cohorts (150 patients).",
        "", *lines, "",
    ])  # fmt: skip


if __name__ == "__main__":
    main()
