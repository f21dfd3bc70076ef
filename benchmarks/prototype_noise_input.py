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
from abrnet.config.train_config import load_config
from abrnet.constants import STATIC_PARAMS
from abrnet.data.fmp import residual_noise_from_buffers
from abrnet.data.schema import ABRCohort
from abrnet.evaluation.evaluate import split_of
from abrnet.inference.checkpoint import load_checkpoint
from abrnet.inference.predictor import predict_cohort

FMP, INTENSITY = STATIC_PARAMS.index("fmp"), STATIC_PARAMS.index("intensity_db")


def noise_in_fmp_column(cohort: ABRCohort) -> ABRCohort:
    cohort.static[:, FMP] = 1000.0 * residual_noise_from_buffers(cohort.buffers[:, 0], cohort.buffers[:, 1])
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
    val = split_of(loaded, run.load_training_cohort(loaded.config), "val")
    sub = val.subset(np.sort(np.random.default_rng(0).choice(val.n_records, 3000, replace=False)))
    if noise_input:
        sub = noise_in_fmp_column(sub)

    def p_v(c: ABRCohort) -> np.ndarray:
        pred = predict_cohort(loaded.model, c, loaded.normalizer, with_denoise=False, with_reconstruction=False)
        return np.asarray(pred.peak_presence_prob[:, 2], np.float64)

    labelled, p = np.isfinite(sub.latency_ms[:, 2]), p_v(sub)
    out = {"V presence F1": f1_score(labelled, p > 0.5), "p(V) where V": p[labelled].mean()}
    rev = sub.subset(np.arange(sub.n_records))
    rev.signals, rev.buffers = np.ascontiguousarray(rev.signals[:, ::-1]), np.ascontiguousarray(rev.buffers[:, :, ::-1])
    out["p(V) time-reversed, V labelled"] = p_v(rev)[labelled].mean()
    noise = np.ascontiguousarray((sub.buffers[:, 0] - sub.buffers[:, 1]) / 2.0, dtype=np.float32)
    for level in (20, 60, 100):
        c = sub.subset(np.arange(sub.n_records))
        c.signals, c.buffers = noise, None
        c.static[:, INTENSITY] = level
        if not noise_input:  # as `counterfactual_inputs`: no buffers, FMP unknown
            c.static[:, FMP] = np.nan
        out[f"p(V) noise-only {level} dB"] = p_v(c).mean()
    rn = residual_noise_from_buffers(sub.buffers[:, 0], sub.buffers[:, 1])
    visibility = np.nan_to_num(np.asarray(sub.extras["v_peak_to_trough_uv"], np.float64)) / rn
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
