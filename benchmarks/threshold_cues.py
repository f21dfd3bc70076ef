"""Do classical waveform cues add to the network's p(V) where the per-ear threshold is read? (issue 11, validation only)

The per-ear threshold is the lowest level where an ear's p(V), fitted non-decreasing in level, passes a crossing.
Its errors on a fixed grid come from records near the V label's boundary (`presence_limits.md`). Two cues the
network does not see could help there: the split-buffer correlation (ABRpresto's one-split form: is the response
the same in both halves of the sweeps?) and the correlation with the ear's next louder records (does the trace
repeat, later, what the louder levels show?), both from `abrnet.evaluation.classical_threshold`.

A third cue reads the network's own outputs the classical way (stop 47): the V–V′ of the recording at the
network's wave V latency (the largest V-like complex within ±NET_LATENCY_SEARCH_MS of it, `presence_limits.
v_like_size`) over the record's split-buffer noise, log(1 + x): the label's own quantity, measured where the network
puts V rather than where a level's median V sits (the classical V picker of `threshold_ceiling.md`).

A per-record logistic regression on [logit p(V), cues] is fitted to the V labels of two FIT cohorts, its crossing
chosen on their ears by the lowest per-ear MAE (`classical_threshold.fit_criterion`), and scored on two other
EVAL cohorts (all fresh, class-balanced, 150 patients; seeds = the model's + 60,011 / 70,011 to fit and
+ 30,011 / 40,011 to score, as in `config_choice.md`; never the test split or the evaluation's fixed cohort).
The network's own per-ear threshold (series stage as shipped in the checkpoint) and each cue alone are beside it.

    python benchmarks/threshold_cues.py --checkpoint runs/final/best.ckpt [more checkpoints: a column pair each]
Writes benchmarks/results/threshold_cues.json and .md.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

from _common import (
    analysis_predictions,
    parse_args,
    provenance,
    require_checkpoint,
    results_head,
    write_results,
)
from abrnet.data.schema import ABRCohort
from abrnet.data.simulate import SimulationConfig, simulate_cohort
from abrnet.evaluation.classical_threshold import (
    adjacent_level_correlation,
    detector_scores,
    fit_criterion,
    split_buffer_correlation,
)
from abrnet.evaluation.trivial_baselines import ear_table_scores
from abrnet.inference.checkpoint import LoadedModel, load_checkpoint
from abrnet.models.predictions import Predictions
from abrnet.series.per_ear import aggregate_ears
from presence_limits import residual_noise_uv, v_like_size

COHORTS = {"fit fixed": ("fixed", 60_011), "fit mixed": ("mixed", 70_011)}
EVAL = {"fixed": ("fixed", 30_011), "mixed": ("mixed", 40_011)}
FEATURE_SETS = {
    "p(V) alone, refitted": ("logit_p_v",),
    "p(V) + adjacent levels": ("logit_p_v", "adjacent"),
    "p(V) + adjacent levels + split buffers": ("logit_p_v", "adjacent", "split_buffers"),
    "adjacent levels + split buffers (no network)": ("adjacent", "split_buffers"),
    "p(V) + V–V′ at the network's V latency": ("logit_p_v", "v_size_at_network_latency"),
    "V–V′ at the network's V latency alone": ("v_size_at_network_latency",),
}
# of 0.1 / 0.2 / 0.4 ms the widest read best in a stop-47 probe on threshold_ceiling's fixed cohorts (fitted on seed
# + 50,021, scored on + 30,011, which this script's fixed EVAL cohort overlaps): a choice that can only flatter it
NET_LATENCY_SEARCH_MS = 0.4


def cues(cohort: ABRCohort, pred: Predictions) -> dict[str, np.ndarray]:
    """(N,) per-record inputs of the regression, from the cohort and the network's analysis of it."""
    p = np.clip(np.asarray(pred.peak_presence_prob[:, 2], np.float64), 1e-4, 1 - 1e-4)
    signals, latency = np.asarray(cohort.signals, np.float64), np.asarray(pred.latency_ms[:, 2], np.float64)
    size = v_like_size(signals, cohort.time_ms, latency, NET_LATENCY_SEARCH_MS) / residual_noise_uv(cohort)
    return {
        "logit_p_v": np.log(p / (1 - p)),
        "adjacent": adjacent_level_correlation(cohort),
        "split_buffers": split_buffer_correlation(cohort),
        "v_size_at_network_latency": np.log1p(size),
    }


def inputs(c: dict[str, np.ndarray], name: str) -> np.ndarray:
    """(N, K) the inputs of feature set `name`."""
    return np.stack([c[k] for k in FEATURE_SETS[name]], 1)


def threshold_scores(cohort: ABRCohort, statistic: np.ndarray, criterion: float) -> dict:
    s = detector_scores(cohort, statistic, criterion)
    return {"mae_db": s["ear_threshold_mae_db"], "within_10_db": s["ear_threshold_within_10_db"]}


def measure(loaded: LoadedModel, patients: int) -> dict:
    """One network's rows on the EVAL cohorts (regressions fitted on the FIT cohorts) and the fitted coefficients."""

    def simulate(protocol: str, offset: int) -> ABRCohort:
        cfg = SimulationConfig(n_patients=patients, balanced=True, protocol=protocol)
        return simulate_cohort(cfg, seed=loaded.config.seed + offset)

    fit_parts = [simulate(*spec).with_patient_prefix(f"{name.split()[1]}-") for name, spec in COHORTS.items()]
    fit = fit_parts[0].concat(fit_parts[1])
    fit_cues = cues(fit, analysis_predictions(loaded, fit))
    labels = np.isfinite(fit.latency_ms[:, 2])
    models = {name: LogisticRegression(max_iter=1000).fit(inputs(fit_cues, name), labels) for name in FEATURE_SETS}
    criteria = {name: fit_criterion(fit, m.predict_proba(inputs(fit_cues, name))[:, 1]) for name, m in models.items()}
    out: dict = {"cohorts": {}}
    for label, spec in EVAL.items():
        cohort = simulate(*spec)
        pred = analysis_predictions(loaded, cohort)  # one pass: the series stage and the cues read the same
        c = cues(cohort, pred)
        net = ear_table_scores(aggregate_ears(pred, cohort, loaded.series_model))
        rows = {"network, series stage as shipped": {"mae_db": net["ear_threshold_mae_db"],
                                                      "within_10_db": net["ear_threshold_within_10_db"]}}  # fmt: skip
        for name, model in models.items():
            p = model.predict_proba(inputs(c, name))[:, 1]
            rows[name] = {"criterion": criteria[name], **threshold_scores(cohort, p, criteria[name])}
        out["cohorts"][f"{label} (seed {cohort.attrs['seed']})"] = rows
        print(label, json.dumps(rows))
    out["coefficients"] = {name: m.coef_.ravel().round(3).tolist() for name, m in models.items()}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--checkpoint", type=Path, nargs="+", default=[Path("runs/final/best.ckpt")])
    ap.add_argument("--patients", type=int, default=150)
    args = parse_args(ap, "threshold_cues")
    for path in args.checkpoint:
        require_checkpoint(path)
    report: dict = {"provenance": provenance(), "checkpoints": {}}
    for path in args.checkpoint:
        report["checkpoints"][str(path)] = measure(load_checkpoint(path), args.patients)

    columns = [(ckpt, label) for ckpt, r in report["checkpoints"].items() for label in r["cohorts"]]
    lines = [*results_head("Classical cues beside p(V) in the per-ear threshold (validation cohorts)",
                           report["provenance"]),
             "| per-ear threshold | " + " | ".join(f"{label}: `{ckpt}`" for ckpt, label in columns) + " |",
             "|---|" + "---|" * len(columns)]  # fmt: skip
    first = next(iter(report["checkpoints"].values()))
    for name in next(iter(first["cohorts"].values())):
        rows = [report["checkpoints"][ckpt]["cohorts"][label][name] for ckpt, label in columns]
        lines.append(
            f"| {name} | " + " | ".join(f"{r['mae_db']:.2f} dB / {r['within_10_db']:.3f}" for r in rows) + " |"
        )
    coefficients = {ckpt: r["coefficients"] for ckpt, r in report["checkpoints"].items()}
    lines += [
        "",
        "Cells: MAE / share within 10 dB over ears with a measurable threshold. Logistic coefficients per checkpoint, "
        "in the order of each row's inputs (logit, correlation, correlation, log(1 + V–V′ over noise): raw units): "
        f"{json.dumps(coefficients)}.",
        "",
    ]
    write_results("threshold_cues", report, "\n".join(lines), force=args.force, echo=False)


if __name__ == "__main__":
    main()
