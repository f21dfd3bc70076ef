"""Counterfactual p(V) on the VALIDATION split of a checkpoint's cohort: how training configs are compared without
reading the test split (benchmarks/results/config_choice.md).

    python benchmarks/val_counterfactuals.py RUN_A/best.ckpt RUN_B/best.ckpt [--records 600]
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from abrnet.data.schema import ABRCohort
from abrnet.evaluation.evaluate import split_of
from abrnet.evaluation.trivial_baselines import counterfactual_inputs, counterfactual_report
from abrnet.inference.checkpoint import LoadedModel, load_checkpoint
from abrnet.inference.predictor import predict_cohort
from abrnet.training.run import load_training_cohort


def _p_v(loaded: LoadedModel, cohort: ABRCohort) -> np.ndarray:
    """(N,) wave V presence probability of each record, network alone (no denoising, no series stage)."""
    out = predict_cohort(
        loaded.model, cohort, loaded.normalizer, prediction_type=loaded.prediction_type,
        with_denoise=False, with_reconstruction=False,
    )  # fmt: skip
    return out.peak_presence_prob[:, 2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("checkpoints", nargs="+")
    ap.add_argument("--records", type=int, default=600, help="seeded subsample of validation records")
    args = ap.parse_args()
    for path in args.checkpoints:
        loaded = load_checkpoint(path)
        val = split_of(loaded, load_training_cohort(loaded.config), "val")
        rows = np.sort(np.random.default_rng(0).choice(val.n_records, min(args.records, val.n_records), replace=False))
        sub = val.subset(rows)

        variants = counterfactual_inputs(sub)
        report = counterfactual_report(sub, _p_v(loaded, sub), {k: _p_v(loaded, v) for k, v in variants.items()})
        print(path, json.dumps(report))


if __name__ == "__main__":
    main()
