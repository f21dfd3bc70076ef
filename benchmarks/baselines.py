"""abrnet against a gradient-boosting baseline on the same held-out patients.

Usage: .venv/bin/python benchmarks/baselines.py [--run runs/default] [--train-records 20000] [--threads 2]

Reads the run's `config.yaml` and `best.ckpt`, rebuilds its cohort and patient split, fits
`evaluation.baselines.fit_predict_gbm` (HistGradientBoosting on a downsampled signal + the four recording
parameters, one model per task) on the training split (subsampled by patient to `--train-records` to keep the fit
within minutes on 2 cores; the network saw the whole split) and scores both with `compute_metrics` on the test split.
Both are also scored on the counterfactuals `abrnet evaluate` reports (the same 1,000 test records time-reversed,
their buffer noise alone at 0-100 dB, relabelled to other levels, FMP hidden) and per ear on its class-balanced
fixed-protocol cohort (same seed), so issue 11's presence and fixed-protocol targets have a learned baseline beside
the network.
Writes benchmarks/results/baselines.json and .md.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np

from _common import dotted_get, parse_args, provenance, refuse, results_head, write_results

ROWS = (
    ("wave V latency R²", "peaks.V.latency_r2"),
    ("wave V latency MAE (ms)", "peaks.V.latency_mae_ms"),
    ("wave V amplitude R²", "peaks.V.amplitude_r2"),
    ("wave V latency R², with its series", "peaks_series.V.latency_r2"),
    ("wave V amplitude R², with its series", "peaks_series.V.amplitude_r2"),
    ("wave V presence F1", "peaks.V.presence_f1"),
    ("wave I latency R²", "peaks.I.latency_r2"),
    ("wave III latency R²", "peaks.III.latency_r2"),
    ("class macro-F1 (record)", "classification.macro_f1"),
    ("class balanced accuracy (record)", "classification.balanced_accuracy"),
    ("class macro-F1 (ear)", "per_ear.classification.macro_f1"),
    ("threshold R² (record)", "threshold.r2"),
    ("threshold MAE dB (record)", "threshold.mae_db"),
    ("threshold MAE dB (ear)", "per_ear.threshold.mae_db"),
    ("no-response F1 (ear)", "per_ear.threshold.no_response_f1"),
    ("denoised corr. to clean", "signal.denoise_correlation_to_clean"),
    ("p(V) where V labelled", "counterfactuals.as_recorded.mean_p_v_where_v"),
    ("p(V) where no V labelled", "counterfactuals.as_recorded.mean_p_v_where_no_v"),
    ("p(V) below the true threshold", "counterfactuals.as_recorded_below_true_threshold"),
    ("p(V) time-reversed (V labelled)", "counterfactuals.time_reversed.mean_p_v_where_v"),
    *(
        (f"p(V) noise-only at {db} dB", f"counterfactuals.noise_only_by_level.{db}db")
        for db in (0, 20, 40, 60, 80, 100)
    ),
    *(  # issue 11's checks on real recordings: the level or FMP changed, the waveform kept
        (f"p(V) relabelled {db} dB (V labelled)", f"counterfactuals.relabelled_by_level.{db}db.mean_p_v_where_v")
        for db in (0, 20, 60, 100)
    ),
    ("p(V) relabelled 100 dB (no V labelled)", "counterfactuals.relabelled_by_level.100db.mean_p_v_where_no_v"),
    ("p(V) FMP hidden (V labelled)", "counterfactuals.fmp_hidden.mean_p_v_where_v"),
    ("fixed protocol: threshold MAE dB (ear)", "fixed_protocol.per_ear.threshold.mae_db"),
    ("fixed protocol: within 10 dB (ear)", "fixed_protocol.per_ear.threshold.within_10_db"),
    ("fixed protocol: no-response F1 (ear)", "fixed_protocol.per_ear.threshold.no_response_f1"),
    ("fixed protocol: class macro-F1 (ear)", "fixed_protocol.per_ear.classification.macro_f1"),
)


def _fmt(x: float | None) -> str:
    return "—" if x is None else f"{x:.3f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, default=Path("runs/default"))
    ap.add_argument("--train-records", type=int, default=20000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fixed-patients", type=int, default=150, help="fixed-protocol patients (as evaluate)")
    args = parse_args(ap, "baselines")
    ckpt = args.run / "best.ckpt"
    if not ckpt.exists():
        refuse(ckpt, f"not found; train first (abrnet train --out {args.run}) or pass --run")

    import torch

    torch.set_num_threads(args.threads)
    from abrnet.evaluation.baselines import fit_predict_gbm
    from abrnet.evaluation.evaluate import (
        FittedBaselines,
        add_shortcut_checks,
        counterfactual_rows,
        evaluate_model,
        fixed_protocol_cohort,
        fixed_protocol_section,
        split_of,
    )
    from abrnet.evaluation.trivial_baselines import counterfactual_inputs, counterfactual_report
    from abrnet.inference.checkpoint import load_checkpoint
    from abrnet.metrics.task_metrics import compute_metrics
    from abrnet.training.cohort_source import model_training_cohort

    loaded = load_checkpoint(ckpt)
    cohort = model_training_cohort(loaded)
    train, test = split_of(loaded, cohort, "train"), split_of(loaded, cohort, "test")
    rng = np.random.default_rng(args.seed)
    patients = rng.permutation(np.unique(train.patient_id))
    per_patient = train.n_records / max(len(patients), 1)
    keep = set(patients[: int(args.train_records / per_patient) + 1])
    train_sub = train.subset(np.isin(train.patient_id, list(keep)))

    t = time.perf_counter()
    net, net_pred = evaluate_model(loaded, test, split="test", n_bootstrap=0, figures=False)
    net_s = time.perf_counter() - t
    baselines = FittedBaselines.fit(train)
    add_shortcut_checks(net, loaded, net_pred, test, baselines)  # the network's counterfactuals, as evaluate reports
    net["fixed_protocol"] = fixed_protocol_section(loaded, baselines, args.fixed_patients)
    # the GBM also gets a series stage, fitted exactly like the network's (same simulated ears), for a fair per-ear row
    from abrnet.data.simulate import SimulationConfig, simulate_cohort
    from abrnet.series.classifier import fit_record_class_bias, fit_series_classifier
    from abrnet.series.peaks import fit_peak_blend

    cfg = loaded.config
    fit_cohort = simulate_cohort(
        SimulationConfig(n_patients=cfg.series.patients, balanced=True), seed=cfg.seed + 20_011
    ).with_patient_prefix("FIT")
    val = split_of(loaded, cohort, "val")  # fits the series latency/amplitude blend, as for the network
    fixed = fixed_protocol_cohort(loaded, args.fixed_patients)  # the network's fixed-protocol cohort (same seed)
    cf_rows = counterfactual_rows(test)  # the records the network's counterfactuals used
    variants = counterfactual_inputs(test.subset(cf_rows))
    parts = {"test": test, "fit": fit_cohort, "val": val, "fixed": fixed, **variants}
    both = parts["test"]
    for name in list(parts)[1:]:  # one GBM fit and pass; ids prefixed so the copies stay apart, split back below
        both = both.concat(parts[name].with_patient_prefix(f"{name.upper()}:"))
    t = time.perf_counter()
    both_pred = fit_predict_gbm(train_sub, both, args.seed, n_threads=args.threads)
    gbm_s = time.perf_counter() - t
    starts = np.cumsum([0, *(p.n_records for p in parts.values())])
    preds = {name: both_pred.subset(np.arange(starts[i], starts[i + 1])) for i, name in enumerate(parts)}
    gbm_pred, fit_pred, val_pred = preds["test"], preds["fit"], preds["val"]
    gbm = compute_metrics(gbm_pred, test, split="test", n_bootstrap=0)
    gbm_series_model = fit_series_classifier(fit_pred, fit_cohort, source="GBM on the network's series-fit cohort")
    gbm_series_model.peak_blend = fit_peak_blend(val_pred, val) or None
    gbm_series_model.record_class_bias = fit_record_class_bias(val_pred.class_prob, val.class_id)
    gbm_fixed_model = dataclasses.replace(gbm_series_model, record_class_bias=None)  # plain argmax, as evaluate's
    gbm_series = compute_metrics(gbm_pred, test, split="test", n_bootstrap=0, series_model=gbm_series_model)
    for fitted in (gbm, gbm_series):
        fitted["counterfactuals"] = counterfactual_report(
            test.subset(cf_rows),
            gbm_pred.peak_presence_prob[cf_rows, 2],
            {name: preds[name].peak_presence_prob[:, 2] for name in variants},
        )
    for fitted, model in ((gbm, None), (gbm_series, gbm_fixed_model)):
        fixed_metrics = compute_metrics(
            preds["fixed"], fixed, split="fixed_protocol", n_bootstrap=0, series_model=model
        )
        fitted["fixed_protocol"] = {"per_ear": fixed_metrics["per_ear"]}

    table = {
        name: {
            "abrnet": dotted_get(net, path),
            "gbm": dotted_get(gbm, path),
            "gbm_series": dotted_get(gbm_series, path),
        }
        for name, path in ROWS
    }
    result = {
        "run": str(args.run),
        "test_records": test.n_records,
        "test_patients": int(len(np.unique(test.patient_id))),
        "gbm_train_records": train_sub.n_records,
        "network_train_records": train.n_records,
        "seconds": {"abrnet_predict": net_s, "gbm_fit_predict": gbm_s},
        **provenance(),
        "metrics": table,
    }
    lines = [
        *results_head("abrnet vs gradient boosting (same held-out test patients)", result),
        f"Run `{args.run}`; test split: {result['test_records']} records, {result['test_patients']} patients. "
        f"GBM trained on {train_sub.n_records} records (patient subsample), the network on {train.n_records}.",
        "",
        "| metric | abrnet | GBM | GBM + series stage |",
        "|---|---:|---:|---:|",
        *(
            f"| {name} | {_fmt(v['abrnet'])} | {_fmt(v['gbm'])} | {_fmt(v['gbm_series'])} |"
            for name, v in table.items()
        ),
        "",
        "The series stage (fitted after training on held-out ears and records, as for the network) changes the per-ear",
        'class and no-response rows, the rows read "with its series" and the per-record class decision rule.',
        "The p(V) rows are `abrnet evaluate`'s counterfactuals on the same 1,000 test records (noise-only: the",
        "records' buffer noise alone, FMP unknown, labelled at each level); the fixed-protocol rows are its",
        f"class-balanced fixed-grid cohort ({args.fixed_patients} patients, seed {fixed.attrs['seed']}), plain argmax",
        "per record as for the network.",
        "",
    ]
    write_results("baselines", result, "\n".join(lines), force=args.force)


if __name__ == "__main__":
    main()
