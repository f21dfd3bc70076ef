"""Does wave V presence still lean on the conditioning? Guidance on the presence head (issue 11, validation only).

The network is trained with its static condition (age, level, rate, FMP) dropped on a share of rows, for
classifier-free guidance, and those rows include analysis rows: so it can read a record without being told its
level. Mixing the two readings of the presence logits, uncond + w·(cond − uncond), asks what the condition adds:
w = 0 reads the waveform alone, w = 1 is the network as shipped, w > 1 leans harder on the condition. If the
noise-only p(V) (issue 11: ≤ 0.1 at 60–100 dB) came from the level input, w < 1 would lower it.

For each w the series stage is refitted exactly as `abrnet train` fits it (`fit_series_model`), and the per-ear
figures are read on four fresh class-balanced cohorts (150 patients; seeds = the model's + 30,011 / 60,011 fixed,
+ 40,011 / 70,011 mixed, as in `config_choice.md`), with the counterfactual p(V) on 600 validation records and wave
V presence F1 on the validation split. Never the test split.

    python benchmarks/condition_guidance.py --checkpoint runs/final/best.ckpt --weights 0 0.5 1 1.5
Writes benchmarks/results/condition_guidance.json and .md.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import f1_score

from _common import (
    VALIDATION_COHORTS,
    parse_args,
    provenance,
    require_checkpoint,
    results_head,
    validation_cohorts,
    validation_sample,
    write_results,
)
from abrnet.data.schema import ABRCohort
from abrnet.evaluation.evaluate import split_of
from abrnet.evaluation.trivial_baselines import counterfactual_inputs, counterfactual_report, ear_table_scores
from abrnet.inference.checkpoint import load_checkpoint
from abrnet.inference.predictor import predict_cohort
from abrnet.models.predictions import Predictions
from abrnet.series.per_ear import aggregate_ears
from abrnet.training.cohort_source import load_training_cohort
from abrnet.training.series_stage import fit_series_model, series_fit_cohort

PER_EAR = ("threshold_within_10_db", "threshold_mae_db", "no_response_f1", "class_macro_f1")
_V = 2


class GuidedPresence(torch.nn.Module):
    """The network with its presence logits read as uncond + w·(cond − uncond); every other output as trained."""

    def __init__(self, model: torch.nn.Module, weight: float) -> None:
        super().__init__()
        self.model, self.weight, self.config = model, weight, model.config

    def set_attention_monitoring(self, rows: int) -> None:
        self.model.set_attention_monitoring(rows)

    def forward(self, x: torch.Tensor, static: torch.Tensor, t: torch.Tensor | None = None) -> dict:
        out = dict(self.model(x, static, t))
        if self.weight != 1.0:
            null = self.model(x, static, t, drop_condition=torch.ones(x.shape[0], dtype=torch.bool))
            cond, uncond = out["peak_logits"], null["peak_logits"]  # (B, 3) each
            out["peak_logits"] = uncond + self.weight * (cond - uncond)
        return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--checkpoint", type=Path, default=Path("runs/final/best.ckpt"))
    ap.add_argument("--weights", type=float, nargs="+", default=[0.0, 0.5, 1.0, 1.5])
    ap.add_argument("--patients", type=int, default=150)
    ap.add_argument("--records", type=int, default=600, help="seeded validation records for the counterfactuals")
    ap.add_argument("--tag", default="condition_guidance", help="results file stem (e.g. to score a probe at w = 1)")
    args = parse_args(ap, lambda a: a.tag)
    require_checkpoint(args.checkpoint)
    loaded = load_checkpoint(args.checkpoint)
    cfg = loaded.config
    training = load_training_cohort(cfg)
    val = split_of(loaded, training, "val")
    sub = validation_sample(loaded, args.records)
    fit_cohort, source = series_fit_cohort(cfg, val)
    cohorts = validation_cohorts(cfg.seed, args.patients)
    variants = counterfactual_inputs(sub)  # the same for every w
    report: dict = {"provenance": provenance(), "checkpoint": str(args.checkpoint), "weights": {}}
    for w in args.weights:
        model = GuidedPresence(loaded.model, w).eval()
        seen: dict[int, Predictions] = {}  # per w: the series fit and the F1 below both read the validation split

        def heads(cohort: ABRCohort, model: torch.nn.Module = model, seen: dict = seen) -> Predictions:
            if id(cohort) not in seen:  # every cohort here lives for the whole run, so its id is not reused
                seen[id(cohort)] = predict_cohort(model, cohort, loaded.normalizer, with_denoise=False,
                                                  with_reconstruction=False, seed=cfg.seed)  # fmt: skip
            return seen[id(cohort)]

        stage = fit_series_model(cfg, heads, fit_cohort, source, val)
        row: dict = {"threshold_point": stage.threshold_point, "per_ear": {}}
        for name, cohort in cohorts.items():
            s = ear_table_scores(aggregate_ears(heads(cohort), cohort, stage))
            row["per_ear"][name] = {k: s[f"ear_{k}"] for k in PER_EAR}
        p_val = heads(val).peak_presence_prob[:, _V]
        row["val_v_presence_f1"] = float(f1_score(np.isfinite(val.latency_ms[:, _V]), p_val > 0.5))
        p_v = lambda c: np.asarray(heads(c).peak_presence_prob[:, _V], np.float64)
        row["counterfactuals"] = counterfactual_report(sub, p_v(sub), {k: p_v(v) for k, v in variants.items()})
        report["weights"][str(w)] = row
        print(w, json.dumps(row), flush=True)
    write_results(args.tag, report, to_markdown(report), force=args.force)


def to_markdown(report: dict) -> str:
    rows = report["weights"]
    head = ["| validation | " + " | ".join(f"w = {w}" for w in rows) + " |", "|---|" + "---|" * len(rows)]
    line = lambda label, cell: f"| {label} | " + " | ".join(cell(r) for r in rows.values()) + " |"
    lines = [line("V presence F1 (validation split)", lambda r: f"{r['val_v_presence_f1']:.3f}")]
    cf = lambda r: r["counterfactuals"]
    lines.append(line("p(V) below the true threshold", lambda r: f"{cf(r)['as_recorded_below_true_threshold']:.3f}"))
    lines.append(line("p(V) time-reversed, V labelled", lambda r: f"{cf(r)['time_reversed']['mean_p_v_where_v']:.3f}"))
    noise = lambda r: " / ".join(f"{cf(r)['noise_only_by_level'][f'{x}db']:.2f}" for x in (0, 20, 40, 60, 80, 100))
    lines.append(line("p(V) noise-only at 0 / 20 / 40 / 60 / 80 / 100 dB", noise))
    relabelled = lambda r: " / ".join(
        f"{cf(r)['relabelled_by_level'][f'{x}db']['mean_p_v_where_no_v']:.2f}" for x in (0, 20, 40, 60, 80, 100)
    )
    lines.append(line("p(V) no V labelled, relabelled 0 / 20 / 40 / 60 / 80 / 100 dB", relabelled))
    pair = lambda name, a, b, fa, fb: lambda r: f"{r['per_ear'][name][a]:{fa}} / {r['per_ear'][name][b]:{fb}}"
    for name in VALIDATION_COHORTS:
        lines.append(line(f"{name}: within 10 dB / MAE dB", pair(name, *PER_EAR[:2], ".3f", ".2f")))
        lines.append(line(f"{name}: no-response F1 / class macro-F1", pair(name, *PER_EAR[2:], ".3f", ".3f")))
    return "\n".join([
        *results_head("Wave V presence with and without the static condition (validation only)", report["provenance"]),
        f"Checkpoint `{report['checkpoint']}`. Presence logits uncond + w·(cond − uncond); series stage refitted per w "
        "as `abrnet train` fits it. Per-ear cells on four fresh class-balanced cohorts (150 patients each).", "",
        *head, *lines, "",
    ])  # fmt: skip


if __name__ == "__main__":
    main()
