"""Counterfactual p(V) on the VALIDATION split of a checkpoint's cohort: how training configs are compared without
reading the test split (benchmarks/results/config_choice.md).

    python benchmarks/val_counterfactuals.py RUN_A/best.ckpt RUN_B/best.ckpt [--records 600]
"""

from __future__ import annotations

import argparse
import json

from _common import p_wave_v, validation_sample
from abrnet.evaluation.trivial_baselines import counterfactual_inputs, counterfactual_report
from abrnet.inference.checkpoint import load_checkpoint


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("checkpoints", nargs="+")
    ap.add_argument("--records", type=int, default=600, help="seeded subsample of validation records")
    args = ap.parse_args()
    for path in args.checkpoints:
        loaded = load_checkpoint(path)
        sub = validation_sample(loaded, args.records)
        variants = counterfactual_inputs(sub)
        report = counterfactual_report(
            sub, p_wave_v(loaded, sub), {k: p_wave_v(loaded, v) for k, v in variants.items()}
        )
        print(path, json.dumps(report))


if __name__ == "__main__":
    main()
