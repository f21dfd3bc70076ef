"""Predict throughput on CPU (records/second) at batch 1 and batched, heads-only analysis path.

Usage: .venv/bin/python benchmarks/predict.py [--checkpoint runs/default/best.ckpt] [--records 512] [--threads 2]
Writes benchmarks/results/predict.json and benchmarks/results/predict.md. Needs a trained checkpoint.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

from _common import device_name, require_checkpoint

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", type=Path, default=Path("runs/default/best.ckpt"))
    ap.add_argument("--records", type=int, default=512)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu", help="cpu or cuda (results go to predict_cuda.*)")
    args = ap.parse_args()
    require_checkpoint(args.checkpoint)

    import torch

    torch.set_num_threads(args.threads)
    import abrnet
    from abrnet.data.simulate import SimulationConfig, simulate_cohort

    model = abrnet.load(args.checkpoint, device=args.device)
    cohort = simulate_cohort(SimulationConfig(n_patients=max(4, args.records // 20)), seed=123)
    cohort = cohort.subset(np.arange(min(args.records, cohort.n_records)))
    rows = {}
    for batch in (1, 32, 256):
        n = min(cohort.n_records, 128) if batch == 1 else cohort.n_records
        part = cohort.subset(np.arange(n))
        model.predict_cohort(part.subset(np.arange(min(n, batch))), batch_size=batch)  # warm-up
        t = time.perf_counter()
        model.predict_cohort(part, batch_size=batch)
        dt = time.perf_counter() - t
        rows[batch] = {"records": n, "seconds": dt, "records_per_second": n / dt}
    t = time.perf_counter()
    model.predict(cohort, series=True)
    series_s = time.perf_counter() - t
    result = {
        "checkpoint": str(args.checkpoint),
        "preset": model.loaded.config.model.preset,
        "threads": args.threads,
        "device": device_name(args.device),
        "machine": platform.platform(),
        "by_batch_size": rows,
        "api_predict_series_records_per_second": cohort.n_records / series_s,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = "predict" if args.device == "cpu" else f"predict_{args.device}"
    (RESULTS / f"{stem}.json").write_text(json.dumps(result, indent=2))
    lines = [
        f"# Predict throughput ({result['device']})",
        "",
        f"Checkpoint `{args.checkpoint}` (preset {result['preset']}), {args.threads} torch threads.",
        "",
        "| batch size | records | seconds | records/s |",
        "|---|---|---|---|",
        *(f"| {b} | {r['records']} | {r['seconds']:.2f} | {r['records_per_second']:.1f} |" for b, r in rows.items()),
        "",
        f"`ABRModel.predict(..., series=True)` incl. aggregation: "
        f"{result['api_predict_series_records_per_second']:.1f} records/s.",
    ]
    (RESULTS / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
