"""What a small DC offset or tilt on every record does to the per-ear readings, on the path every input takes
(`abrnet.inference.inputs.on_model_grid`, then the model, which reads each record centred: `Normalizer.recording`).

History: until stop 39 only ears whose median record mean exceeded 0.05 µV were centred, and the model read the
rest as they were: +0.04 µV on every record took this fixed cohort's threshold within 10 dB from 0.815 to 0.795 and
−0.04 µV to 0.730 (mixed: 0.904 to 0.866 / 0.870). Stop 39 centred the user's path; stop 40 the model's training and
evaluation too, so a constant offset cannot change a reading by construction (`tests/test_splits_datamodule.py`).
This table checks that on the shipped model and measures what centring does not cure: a zero-mean tilt.

Two cohorts never trained on, as a device would export them (no split buffers, no FMP): a fixed-protocol,
class-balanced one (0–100 dB in 5-dB steps, seed 777) and a mixed-protocol one (seed 780). Variants: as simulated, a
constant +0.02, +0.04 and −0.04 µV on every sample (below the 0.05 µV warning bound), and a zero-mean linear tilt of
0.1 µV across the window (below the slow-trend bound). Per-ear threshold within 10 dB and MAE against the
simulator's label (ears with a response, called responding) and no-response F1; the label is read only to score.

    python benchmarks/dc_offset.py [--force] [--patients N]
Writes benchmarks/results/dc_offset.json and .md.
"""

from __future__ import annotations

import argparse

import numpy as np

from _common import parse_args, provenance, results_head, write_results
from abrnet.data.schema import ABRCohort
from abrnet.data.simulate import SimulationConfig, simulate_cohort
from abrnet.inference.api import load
from abrnet.inference.inputs import on_model_grid
from slow_trend import device_like, ear_scores

COHORTS = {"fixed, balanced, 0–100 dB": ("fixed", 777), "mixed": ("mixed", 780)}
VARIANTS = {"as simulated": 0.0, "+0.02 µV": 0.02, "+0.04 µV": 0.04, "−0.04 µV": -0.04, "tilt 0.1 µV": "tilt"}


def with_offset(cohort: ABRCohort, offset: float | str) -> ABRCohort:
    """``cohort`` with a constant ``offset`` µV on every sample, or (``"tilt"``) a zero-mean 0.1 µV linear ramp; split
    buffers, where the cohort has them, get the same (an amplifier's drift is in both sub-averages)."""
    t = cohort.time_ms / cohort.time_ms[-1] - 0.5  # (T,) −0.5 … 0.5
    added = 0.1 * t if offset == "tilt" else np.full_like(t, offset)  # (T,) µV
    out = cohort.subset(np.arange(cohort.n_records))
    out.signals = (cohort.signals + added[None, :]).astype(np.float32)
    if out.buffers is not None:
        out.buffers = (out.buffers + added[None, None, :]).astype(np.float32)  # (N, 2, T)
    return out


def markdown(meta: dict, result: dict) -> str:
    lines = results_head("A small DC offset or tilt on every record: per-ear readings", meta)
    lines += [
        f"Cohorts: {result['patients']} patients each, as a device exports them (no buffers, no FMP); model: the "
        "shipped default, on the path every input takes (each record centred). The stop-39 comparison with the "
        "former rule (centre only ears beyond 0.05 µV) is in this script's docstring.",
        "",
        "| cohort | variant | within 10 dB | MAE dB | no-response F1 | ears |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for cohort, variants in result["cohorts"].items():
        for name, r in variants.items():
            lines.append(
                f"| {cohort} | {name} | {r['within_10_db']:.3f} | {r['mae_db']:.2f} | {r['no_response_f1']:.3f} | "
                f"{r['ears']} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--patients", type=int, default=100)
    args = parse_args(ap, "dc_offset")
    model = load()
    result: dict = {**provenance(), "patients": args.patients, "cohorts": {}}
    for label, (protocol, seed) in COHORTS.items():
        config = SimulationConfig(n_patients=args.patients, protocol=protocol, balanced=protocol == "fixed")
        base = device_like(simulate_cohort(config, seed=seed))
        rows = result["cohorts"].setdefault(label, {})
        for name, offset in VARIANTS.items():
            cohort = with_offset(base, offset)
            rows[name] = {"seed": seed, **ear_scores(model, on_model_grid(cohort, model.n_samples)[0])}
            print(label, name, rows[name], flush=True)
    write_results("dc_offset", result, markdown(provenance(), result), force=args.force)


if __name__ == "__main__":
    main()
