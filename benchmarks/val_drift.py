"""What a zero-mean 0.1 µV tilt costs a checkpoint's per-ear readings on VALIDATION cohorts: how training configs are
compared for drift without reading the test split (benchmarks/results/config_choice.md, stop 41).

Each cohort is read on the path every input takes (`abrnet.inference.inputs.on_model_grid`, then the model) as
stored and with the tilt of `dc_offset.py` on every record (and split buffer); per-ear threshold within 10 dB, MAE
and no-response F1 against the simulator's labels (`slow_trend.ear_scores`). The stop-41 rule's cohorts:

    abrnet simulate --protocol fixed --balanced --patients 150 --seed 30053 --out fixed_30053.h5  # and 60053
    abrnet simulate --protocol mixed --balanced --patients 150 --seed 40053 --out mixed_40053.h5  # and 70053
    python benchmarks/val_drift.py RUN/best.ckpt fixed_30053.h5 fixed_60053.h5 mixed_40053.h5 mixed_70053.h5
Prints one JSON line per checkpoint: each cohort's readings and the mean cost (as stored − tilted).
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from abrnet.data.io import load_cohort
from abrnet.inference.api import load
from abrnet.inference.inputs import on_model_grid
from dc_offset import with_offset
from slow_trend import ear_scores

SCORES = ("within_10_db", "mae_db", "no_response_f1")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("cohorts", nargs="+", help="validation cohort files (.h5), never the test split")
    args = ap.parse_args()
    model = load(args.checkpoint)
    read: dict[str, dict] = {}
    for path in args.cohorts:
        cohort = load_cohort(path, with_clean=False)
        for name, offset in (("as stored", 0.0), ("tilt 0.1 µV", "tilt")):
            grid = on_model_grid(with_offset(cohort, offset), model.n_samples)[0]
            read[f"{path} / {name}"] = ear_scores(model, grid)
    cost = {
        k: float(np.mean([read[f"{p} / as stored"][k] - read[f"{p} / tilt 0.1 µV"][k] for p in args.cohorts]))
        for k in SCORES
    }
    print(json.dumps({"checkpoint": args.checkpoint, "cohorts": read, "mean_tilt_cost": cost}))


if __name__ == "__main__":
    main()
