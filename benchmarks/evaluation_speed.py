"""How long the evaluation's per-ear work takes on a large split: the metrics with 200 bootstrap resamples, and the
cochlear-microphonic cue alone (each ear whitened by its own noise since stop 49, `abrnet.series.microphonic`).

Usage: .venv/bin/python benchmarks/evaluation_speed.py [--repeats 3]
10,000 records of 2,500 ears (the test suite's toy cohort, 4 levels per ear, no split buffers) and noisy
predictions; no network is needed. The first CM call also simulates the statistic's noise-alone zero for each ear
shape it meets (cached for the process), so it is timed apart. Writes benchmarks/results/evaluation_speed.{json,md}.
Was a timed test (`test_bootstrap_200_on_10k_records_is_fast`, < 10 s) until stop 49: speed lives here.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from _common import parse_args, provenance, results_head, write_results

ROOT = Path(__file__).resolve().parents[1]


def _timed(call, repeats: int) -> float:
    """Median seconds of ``repeats`` calls."""
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - start)
    return float(np.median(seconds))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    args = parse_args(ap, "evaluation_speed")
    sys.path.insert(0, str(ROOT))
    from tests.test_evaluation_toy import make_cohort, noisy_predictions

    import abrnet.series.microphonic as microphonic
    from abrnet.metrics.task_metrics import compute_metrics
    from abrnet.series.per_ear import highest_levels

    data = make_cohort(n_patients=1250, levels=(80.0, 60.0, 40.0, 20.0), seed=6)  # 10,000 records, 2,500 ears
    pred = noisy_predictions(data)
    _, record_ear = np.unique(data.ear_key, return_inverse=True)
    record_ear = record_ear.reshape(-1)
    n_ears = int(record_ear.max()) + 1
    max_db = highest_levels(record_ear, data.static_column("intensity_db").astype(np.float64), n_ears)
    microphonic._noise_alone.cache_clear()
    start = time.perf_counter()
    microphonic.loud_microphonic(data, record_ear, max_db)
    first = time.perf_counter() - start
    cm = _timed(lambda: microphonic.loud_microphonic(data, record_ear, max_db), args.repeats)
    metrics = _timed(lambda: compute_metrics(pred, data, split="t", n_bootstrap=200), args.repeats)
    result = {
        **provenance(),
        "records": data.n_records,
        "ears": n_ears,
        "repeats": args.repeats,
        "compute_metrics_bootstrap_200_s": metrics,
        "cm_cue_first_call_s": first,
        "cm_cue_s": cm,
        "cm_cue_ms_per_ear": 1000.0 * cm / n_ears,
    }
    lines = [
        *results_head("Evaluation's per-ear work on 10,000 records (2,500 ears)", result),
        f"Median of {args.repeats} calls after a first one; the first CM call simulates each ear shape's zero.",
        "",
        "| step | seconds |",
        "|---|---:|",
        f"| `compute_metrics`, 200 bootstrap resamples (CM cue included) | {metrics:.1f} |",
        f"| CM cue alone, first call in the process | {first:.1f} |",
        f"| CM cue alone | {cm:.1f} ({result['cm_cue_ms_per_ear']:.1f} ms per ear) |",
    ]
    write_results("evaluation_speed", result, "\n".join(lines) + "\n", force=args.force)


if __name__ == "__main__":
    main()
