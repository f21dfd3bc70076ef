"""Time the default simulated cohort and compare its record-level marginals with the targets (§1 of the recipe).

Usage: .venv/bin/python benchmarks/simulate.py [--patients 2000] [--seed 0]
Writes benchmarks/results/simulate.json and benchmarks/results/simulate.md.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from _common import parse_args, provenance, results_head, write_results
from abrnet.constants import CLASS_NAMES
from abrnet.data.simulate import SimulationConfig, simulate_cohort

# metric -> (target as text, (lo, hi) band counted as "ok")
TARGETS: dict[str, tuple[str, tuple[float, float]]] = {
    "seconds": ("< 60 (aim ~20)", (0.0, 60.0)),
    "records_per_patient": ("~25", (20.0, 30.0)),
    **{
        f"frac_{c}": (f"{f:.3f}", (f - max(0.01, 0.1 * f), f + max(0.01, 0.1 * f)))
        for c, f in SimulationConfig().record_class_fractions().items()
    },
    "age_median": ("0", (0.0, 0.0)),
    "age_mean": ("≈2.6", (2.0, 3.2)),
    "intensity_mean": ("≈44", (42.0, 46.0)),
    "rate_median": ("33.1", (33.09, 33.11)),
    "fmp_median": ("≈0.8", (0.6, 1.0)),
    "fmp_mean": ("≈2.4", (1.9, 2.9)),
    "fmp_frac_gt3": ("≈0.2", (0.15, 0.25)),
    "label_rate_I": ("≈0.11", (0.06, 0.16)),
    "label_rate_III": ("≈0.11", (0.06, 0.16)),
    "label_rate_V": ("≈0.75", (0.7, 0.8)),
    "no_response_fmp_gt3.1": ("≤ 0.08", (0.0, 0.08)),
}


def marginals(cohort, seconds: float, n_patients: int) -> dict[str, float]:
    """Record-level summary statistics of a cohort."""
    age = cohort.static_column("age_years")
    fmp = cohort.static_column("fmp")
    labelled = np.isfinite(cohort.latency_ms).mean(axis=0)
    frac = np.bincount(cohort.class_id, minlength=len(CLASS_NAMES)) / cohort.n_records
    out = {
        "seconds": seconds,
        "n_records": cohort.n_records,
        "records_per_patient": cohort.n_records / n_patients,
        **{f"frac_{c}": float(frac[k]) for k, c in enumerate(CLASS_NAMES)},
        "age_median": float(np.median(age)),
        "age_mean": float(age.mean()),
        "intensity_mean": float(cohort.static_column("intensity_db").mean()),
        "rate_median": float(np.median(cohort.static_column("stimulus_rate_hz"))),
        "fmp_median": float(np.median(fmp)),
        "fmp_mean": float(fmp.mean()),
        "fmp_frac_gt3": float(np.mean(fmp > 3)),
        "label_rate_I": float(labelled[0]),
        "label_rate_III": float(labelled[1]),
        "label_rate_V": float(labelled[2]),
        "no_response_fmp_gt3.1": float(np.mean(fmp[cohort.no_response] > 3.1)),
    }
    return out


def to_markdown(result: dict[str, float], meta: dict[str, str | int]) -> str:
    lines = [
        *results_head("Simulated cohort benchmark", meta),
        f"`simulate_cohort(SimulationConfig(n_patients={meta['patients']}), seed={meta['seed']})`; the cores may be "
        "shared with other jobs, so timings are pessimistic.",
        "",
        "| metric | target | measured | ok |",
        "|---|---|---|---|",
    ]
    for key, value in result.items():
        target, (lo, hi) = TARGETS.get(key, ("", (-np.inf, np.inf)))
        ok = "" if not target else ("yes" if lo <= value <= hi else "no")
        shown = f"{value:.0f}" if key == "n_records" else f"{value:.3f}"
        lines.append(f"| {key} | {target} | {shown} | {ok} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parse_args(parser, "simulate")
    config = SimulationConfig(n_patients=args.patients)
    start = time.perf_counter()
    cohort = simulate_cohort(config, seed=args.seed)
    seconds = time.perf_counter() - start
    cohort.validate("benchmark")
    result = marginals(cohort, seconds, args.patients)
    meta = {"patients": args.patients, "seed": args.seed, **provenance()}
    write_results("simulate", {"meta": meta, "result": result}, to_markdown(result, meta), force=args.force)


if __name__ == "__main__":
    main()
