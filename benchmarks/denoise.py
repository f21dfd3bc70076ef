"""Denoising on the simulated test split: correlation to the clean truth and SNR gain, model vs classical filters.

Usage: .venv/bin/python benchmarks/denoise.py [--checkpoint runs/default/best.ckpt] [--max-records 400] [--steps 10]
Writes benchmarks/results/denoise.json and benchmarks/results/denoise.md. Needs a trained checkpoint.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from _common import parse_args, provenance, refuse, require_checkpoint, results_head, write_results


def snr_db(estimate: np.ndarray, clean: np.ndarray) -> np.ndarray:
    """Per-record SNR (dB) of an estimate of `clean`: 10·log10(Σ clean² / Σ (estimate − clean)²)."""
    err = np.sum((estimate - clean) ** 2, axis=1)
    return 10.0 * np.log10(np.sum(clean**2, axis=1) / np.maximum(err, 1e-20))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", type=Path, default=Path("runs/default/best.ckpt"))
    ap.add_argument("--max-records", type=int, default=150)
    ap.add_argument("--steps", type=int, default=10)
    args = parse_args(ap, "denoise")
    require_checkpoint(args.checkpoint)

    import torch

    torch.set_num_threads(2)
    import abrnet
    from abrnet.data.filters import bandpass_filter
    from abrnet.evaluation.classical import wiener_filter
    from abrnet.evaluation.evaluate import split_of
    from abrnet.metrics.task_metrics import rowwise_correlation
    from abrnet.training.cohort_source import model_training_cohort

    model = abrnet.load(args.checkpoint)
    test = split_of(model.loaded, model_training_cohort(model.loaded), "test")
    if test.clean is None:
        refuse(
            args.checkpoint, "the checkpoint's test split has no clean ground truth (not simulated); nothing to score"
        )
    rng = np.random.default_rng(0)
    take = np.sort(rng.choice(test.n_records, size=min(args.max_records, test.n_records), replace=False))
    data = test.subset(take)
    clean, fs = data.clean.astype(np.float64), data.sampling_rate_hz
    has_v = np.isfinite(data.latency_ms[:, 2])
    methods: dict[str, np.ndarray] = {}
    seconds: dict[str, float] = {}
    for name, fn in (
        ("raw", lambda: data.signals.astype(np.float64)),
        ("bandpass_100_3000", lambda: bandpass_filter(data.signals, fs)),
        ("wiener_spectral", lambda: wiener_filter(data.signals, fs=fs)),
        ("model_1_step", lambda: model.denoise(data, steps=1)[0].signals),
        (f"model_{args.steps}_steps", lambda: model.denoise(data, steps=args.steps)[0].signals),
    ):
        t = time.perf_counter()
        methods[name] = np.asarray(fn(), dtype=np.float64)
        seconds[name] = time.perf_counter() - t
    # SNR needs a response: records whose clean trace is (numerically) zero are left out of the SNR columns
    resp = np.sqrt(np.mean(clean**2, axis=1)) > 1e-3
    raw_snr = snr_db(methods["raw"][resp], clean[resp])
    rows = {}
    for name, est in methods.items():
        r = rowwise_correlation(est, clean)
        s = snr_db(est[resp], clean[resp])
        rows[name] = {
            "correlation_to_clean": float(np.nanmean(r)),
            "correlation_to_clean_wave_v_labelled": float(np.nanmean(r[has_v])),
            "snr_db": float(np.mean(s)),
            "snr_gain_db": float(np.mean(s - raw_snr)),
            "seconds": seconds[name],
        }
    result = {
        "checkpoint": str(args.checkpoint),
        "n_records": int(data.n_records),
        "n_records_with_response_for_snr": int(resp.sum()),
        **provenance(),
        "methods": rows,
    }
    lines = [
        *results_head("Denoising benchmark (simulated test split, clean ground truth)", result),
        f"Checkpoint `{args.checkpoint}`, {data.n_records} records (SNR over the {int(resp.sum())} with a response); "
        "SNR gain relative to the raw recording.",
        "",
        "| method | corr. to clean | corr. (wave V labelled) | SNR (dB) | SNR gain (dB) | seconds |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        lines.append(
            f"| {name} | {r['correlation_to_clean']:.3f} | {r['correlation_to_clean_wave_v_labelled']:.3f} | "
            f"{r['snr_db']:.2f} | {r['snr_gain_db']:+.2f} | {r['seconds']:.2f} |"
        )
    write_results("denoise", result, "\n".join(lines) + "\n", force=args.force)


if __name__ == "__main__":
    main()
