"""PROTOTYPE, not part of abrnet: would the network read wave V better if it knew each record's residual noise?

The V label is "clean V–V′ > 2 × the noise estimated from the record's buffers", and noise-only p(V) rises with the
recording's noise (`presence_limits.md`), while the network sees that noise only through FMP. Before changing the
input schema (static parameters, importers, joint generation) this measures the gain cheaply: the FMP column is
replaced by the record's residual noise in nV (from its buffers; kept on the waveless negatives, whose noise is the
record's own), the main job's config and budget are trained on it (series stage skipped), and p(V) is compared with
the main job's network on the same 3,000 validation records.

    python benchmarks/prototype_noise_input.py train runs/proto_noise     # ~10 min on 2 cores
    python benchmarks/prototype_noise_input.py compare runs/proto_noise --main runs/final/best.ckpt
Prints a JSON table (results in benchmarks/results/config_choice.md); writes nothing else.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score

import abrnet.training.module as module
import abrnet.training.run as run
from _common import p_wave_v, validation_sample
from abrnet.config.train_config import load_config
from abrnet.constants import STATIC_PARAMS
from abrnet.data.schema import ABRCohort
from abrnet.evaluation.trivial_baselines import counterfactual_inputs
from abrnet.inference.checkpoint import load_checkpoint
from presence_limits import residual_noise_uv, visibility_ratio

FMP = STATIC_PARAMS.index("fmp")


def noise_in_fmp_column(cohort: ABRCohort) -> ABRCohort:
    cohort.static[:, FMP] = 1000.0 * residual_noise_uv(cohort)
    return cohort


def train(out: Path) -> None:
    hide_fmp = module.waveless_negatives

    def negatives_keeping_noise(batch, *args, **kwargs):  # a negative's noise is its record's: keep the column
        changed, neg = hide_fmp(batch, *args, **kwargs)
        if neg.any():
            static = changed["static"].clone()
            static[neg, FMP] = batch["static"][neg, FMP]
            changed["static"] = static
        return changed, neg

    module.waveless_negatives = negatives_keeping_noise
    run.fit_series_stage = lambda *a, **k: {"skipped": "prototype"}
    cfg = load_config(None, [])
    run.train(cfg, out, cohort=noise_in_fmp_column(run.load_training_cohort(cfg)), enable_progress_bar=False)


def scores(checkpoint: Path, noise_input: bool) -> dict[str, float]:
    loaded = load_checkpoint(checkpoint)
    sub = validation_sample(loaded, 3000)
    rn_uv = residual_noise_uv(sub)
    if noise_input:
        sub = noise_in_fmp_column(sub)
    labelled, p = np.isfinite(sub.latency_ms[:, 2]), p_wave_v(loaded, sub)
    out = {"V presence F1": f1_score(labelled, p > 0.5), "p(V) where V": p[labelled].mean()}
    variants = counterfactual_inputs(sub)  # the evaluation's own: reversed, and (A − B)/2 with FMP unknown
    out["p(V) time-reversed, V labelled"] = p_wave_v(loaded, variants["time_reversed"])[labelled].mean()
    for level in (20, 60, 100):
        c = variants[f"noise_only_{level}db"]
        if noise_input:  # the noise column is the record's own noise, as in training
            c.static[:, FMP] = sub.static[:, FMP]
        out[f"p(V) noise-only {level} dB"] = p_wave_v(loaded, c).mean()
    visibility = visibility_ratio(sub, rn_uv)
    for lo, hi in ((1.5, 2.0), (2.0, 2.5)):
        out[f"p(V) at visibility {lo}-{hi}"] = p[(visibility > lo) & (visibility <= hi)].mean()
    return {k: round(float(v), 3) for k, v in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("action", choices=("train", "compare"))
    ap.add_argument("run", type=Path, help="the prototype's run folder")
    ap.add_argument("--main", type=Path, default=Path("runs/final/best.ckpt"), help="the main job's checkpoint")
    args = ap.parse_args()
    if args.action == "train":
        train(args.run)
    else:
        table = {"main job": scores(args.main, False), "noise input": scores(args.run / "best.ckpt", True)}
        print(json.dumps(table, indent=1))


if __name__ == "__main__":
    main()
