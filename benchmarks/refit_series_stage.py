"""Refit a trained run's series stage with the current code, keeping its network weights.

The series stage (per-ear class, no-response, threshold crossing and interval) is fitted after training on ears the
network never saw, by `abrnet.training.series_stage.fit_series_stage`, the code `abrnet train` runs after the fit.
When only that stage changes, refitting it on a finished run gives what a full retrain with the same config and seed
gives (training is seeded and deterministic on CPU) in minutes instead of half an hour. The run's checkpoints are
rewritten in place (atomically), so copy the run first if the old stage matters.

    python benchmarks/refit_series_stage.py runs/default
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from abrnet.inference.checkpoint import SERIES_KEY, load_checkpoint
from abrnet.training.cohort_source import load_training_cohort
from abrnet.training.run import make_datamodule
from abrnet.training.series_stage import fit_series_stage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path, help="a finished `abrnet train` output folder (best.ckpt, last.ckpt)")
    args = parser.parse_args()
    started = time.monotonic()
    for name in ("best.ckpt", "last.ckpt"):  # an old stage may not load with the current features: drop it first
        path = args.run_dir / name
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        ckpt.pop(SERIES_KEY, None)
        torch.save(ckpt, path.with_name(name + ".tmp"))
        path.with_name(name + ".tmp").replace(path)
    cfg = load_checkpoint(args.run_dir / "best.ckpt").config
    dm = make_datamodule(cfg, load_training_cohort(cfg))
    summary = fit_series_stage(cfg, args.run_dir, dm)
    summary["series_s"] = round(time.monotonic() - started, 1)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
