"""`abrnet predict` end to end on a 50k-record wide CSV (records/second), with where the time goes.

Usage: .venv/bin/python benchmarks/predict.py [--checkpoint runs/default/best.ckpt] [--records 50000] [--threads 2]
       [--no-buffers] [--device cpu|cuda]
Writes benchmarks/results/predict.json and predict.md (``--device cuda``: predict_cuda.*). Needs a checkpoint; the
speed does not depend on how well it is trained, only on its preset.

Headline: the wall clock of the real command ``abrnet predict FILE --checkpoint C --out r.csv --force`` in a fresh
process (interpreter start, imports, CSV parsing, the model, the results CSV), so every cost a user pays is counted.
The input is written once from a simulated cohort (`abrnet.data.simulate`, seed 123) by `write_wide_csv` and cached
under .cache/abrnet/bench_predict/; by default it keeps the split buffers a_s*/b_s* (600 numbers per row, as a
device export with buffers would), ``--no-buffers`` writes the 200 samples only. A stage breakdown is then measured
in this process: reading (`read_input`), the network (`ABRModel.predict_cohort`), the results table + CSV.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import device_name, parse_args, provenance, refuse, require_checkpoint, results_head, write_results

CACHE = Path(".cache/abrnet/bench_predict")
TARGET = 1000.0  # records/s end to end on 2 cores (issue 12)


def input_csv(records: int, buffers: bool) -> Path:
    """The benchmark's wide CSV (written once, then reused): `records` rows of a simulated cohort."""
    from abrnet.data.csv_io import write_wide_csv
    from abrnet.data.simulate import SimulationConfig, simulate_cohort

    path = CACHE / f"sim123_{records}{'' if buffers else '_nobuf'}.csv"
    if path.exists():
        return path
    patients = max(4, records // 15)
    cohort = simulate_cohort(SimulationConfig(n_patients=patients), seed=123)
    while cohort.n_records < records:  # records per patient vary with the simulator: grow until there are enough
        patients = int(patients * 1.3) + 1
        cohort = simulate_cohort(SimulationConfig(n_patients=patients), seed=123)
    cohort = cohort.subset(np.arange(records))
    if not buffers:
        cohort.buffers = None
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    write_wide_csv(cohort, tmp, force=True)
    tmp.replace(path)
    return path


def end_to_end(data: Path, checkpoint: Path, threads: int) -> float:
    """Seconds of the real CLI command in a fresh process."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "abrnet.cli.main", "predict", str(data), "--checkpoint", str(checkpoint),
               "--out", str(Path(tmp) / "r.csv"), "--force"]  # fmt: skip
        t = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        seconds = time.perf_counter() - t
    if proc.returncode != 0:  # a refusal is one line: the command's last (its own error line, or a crash's)
        last = (proc.stderr.strip().splitlines() or ["no message"])[-1].removeprefix("error: ")
        refuse(data, f"abrnet predict failed (exit code {proc.returncode}): {last}")
    return seconds


def stages(data: Path, checkpoint: Path, device: str) -> dict[str, dict[str, float]]:
    """Seconds and records/s of each stage of `ABRModel.predict`, measured in this process."""
    import abrnet
    from abrnet.inference.api import read_input
    from abrnet.inference.result_tables import PredictionReport, write_columns_csv

    model = abrnet.load(checkpoint, device=device)
    t = time.perf_counter()
    cohort, _ = read_input(data)
    read_s = time.perf_counter() - t
    n = cohort.n_records
    model.predict_cohort(cohort.subset(np.arange(min(n, 256))))  # warm-up
    t = time.perf_counter()
    pred = model.predict_cohort(cohort)
    model_s = time.perf_counter() - t
    report = PredictionReport(cohort=cohort, predictions=pred)
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        write_columns_csv(report.columns(), Path(tmp) / "r.csv")
        write_s = time.perf_counter() - t
    return {
        name: {"seconds": round(s, 2), "records_per_second": round(n / s, 1)}
        for name, s in (("read_csv", read_s), ("network", model_s), ("results_csv", write_s))
    }


def _stem(args: argparse.Namespace) -> str:
    """The results' name: predict, or predict_<device> off the CPU."""
    return "predict" if args.device == "cpu" else f"predict_{args.device}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", type=Path, default=Path("runs/default/best.ckpt"))
    ap.add_argument("--records", type=int, default=50_000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-buffers", action="store_true", help="write the 200 samples only (no a_s*/b_s*)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda for the stage breakdown (results: predict_cuda.*)")
    args = parse_args(ap, _stem)
    require_checkpoint(args.checkpoint)

    import torch

    torch.set_num_threads(args.threads)
    t = time.perf_counter()
    data = input_csv(args.records, buffers=not args.no_buffers)
    print(f"input {data} ({data.stat().st_size / 2**20:.0f} MiB, {time.perf_counter() - t:.0f} s)", file=sys.stderr)
    loadavg = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    e2e = end_to_end(data, args.checkpoint, args.threads)
    loadavg_mid = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    parts = stages(data, args.checkpoint, args.device)
    loadavg_after = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    from abrnet.inference.checkpoint import load_checkpoint

    result = {
        **provenance(),
        "device": device_name(args.device),
        "loadavg_before": loadavg,
        "loadavg_after_end_to_end": loadavg_mid,
        "loadavg_after_stages": loadavg_after,
        "checkpoint": str(args.checkpoint),
        "preset": load_checkpoint(args.checkpoint).config.model.preset,
        "input": {
            "path": str(data),
            "records": args.records,
            "split_buffers": not args.no_buffers,
            "mib": round(data.stat().st_size / 2**20, 1),
        },
        "end_to_end": {"seconds": round(e2e, 2), "records_per_second": round(args.records / e2e, 1)},
        "stages": parts,
        "target_records_per_second": TARGET,
    }
    rate = result["end_to_end"]["records_per_second"]
    lines = [
        *results_head(
            f"Predict throughput, end to end ({result['device']})", result, f"Load average before the run {loadavg}."
        ),
        f"Input: {args.records} records of a simulated cohort as a wide CSV ({result['input']['mib']} MiB, split "
        f"buffers {'kept' if not args.no_buffers else 'dropped'}); checkpoint `{args.checkpoint}` (preset "
        f"{result['preset']}).",
        "",
        "| what | seconds | records/s |",
        "|---|---|---|",
        f"| `abrnet predict FILE --out r.csv` (fresh process, everything) | {e2e:.1f} | **{rate:.0f}** |",
        *(f"| stage: {k} | {v['seconds']:.1f} | {v['records_per_second']:.0f} |" for k, v in parts.items()),
        "",
        f"Target ≥ {TARGET:.0f} records/s end to end: {'met' if rate >= TARGET else 'not met'}. Stages are measured "
        "in one process after the end-to-end run; beyond interpreter start, imports (~7 s) and checkpoint loading, "
        "their difference to the end-to-end time is other load on the cores (load average after the end-to-end "
        f"run {loadavg_mid}, after the stages {loadavg_after}).",
    ]
    md = "\n".join(lines) + "\n"
    write_results(_stem(args), result, md, force=args.force, keep="\n## Before / after")  # the hand-written part stays


if __name__ == "__main__":
    main()
