"""How often the polarity warning (`inference.polarity`) fires: on correctly signed ears (false alarms) and on the
same ears with every sample negated (an inverted export), per class.

Cohorts are fresh simulations with their own seeds (neither the training data nor any evaluation split): a
class-balanced fixed-protocol cohort (0–100 dB in 10-dB steps) and a mixed-protocol one. The shipped model reads
them, as `abrnet predict` would.

    python benchmarks/polarity_check.py [--checkpoint CKPT] [--patients 100] [--force]
Writes benchmarks/results/polarity_check.json and .md.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np

from _common import parse_args, provenance, results_head, write_results
from abrnet.constants import CLASS_NAMES
from abrnet.data.grouping import group_indices
from abrnet.data.schema import ABRCohort
from abrnet.data.simulate import SimulationConfig, simulate_cohort
from abrnet.inference.api import ABRModel, load
from abrnet.inference.polarity import flipped_ears

COHORTS = {  # name: (protocol, levels or None, seed)
    "fixed, balanced, 0–100 dB": ("fixed", (0.0, 100.0, 10.0), 80_021),
    "mixed": ("mixed", None, 80_022),
}


def named_share(model: ABRModel, cohort: ABRCohort) -> dict[str, dict[str, float]]:
    """Per class (and all): ears, the share the rule names as recorded, and the share it names inverted."""
    keys, groups = group_indices(cohort.ear_key)
    ear_class = {str(k): CLASS_NAMES[int(cohort.class_id[g[0]])] for k, g in zip(keys, groups, strict=True)}
    counts: dict[str, dict[str, float]] = {}
    for sign, label in ((1.0, "as_recorded"), (-1.0, "inverted")):
        signed = replace(cohort, signals=sign * cohort.signals, buffers=sign * cohort.buffers)
        named = {key for key, _, _ in flipped_ears(signed, model.predict_cohort(signed), model.predict_cohort)}
        for cls in (*CLASS_NAMES, "all"):
            ears = [k for k, c in ear_class.items() if cls in ("all", c)]
            row = counts.setdefault(cls, {"ears": len(ears)})
            row[f"named_{label}"] = round(sum(k in named for k in ears) / max(len(ears), 1), 3)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, default=None, help="default: the shipped model")
    parser.add_argument("--patients", type=int, default=100)
    args = parse_args(parser, "polarity_check")
    model = load(args.checkpoint)
    result: dict = {"provenance": provenance(), "checkpoint": str(model.checkpoint), "cohorts": {}}
    lines = [
        *results_head(
            "The polarity warning: share of ears it names, as recorded (false alarms) and inverted (detections)",
            result["provenance"],
        ),
        "| cohort | class | ears | named as recorded | named inverted |",
        "|---|---|---:|---:|---:|",
    ]
    for name, (protocol, levels, seed) in COHORTS.items():
        config = SimulationConfig(n_patients=args.patients, balanced=protocol == "fixed", protocol=protocol)
        if levels is not None:
            config = replace(
                config, fixed_levels_db=tuple(float(x) for x in np.arange(levels[0], levels[1] + 1, levels[2]))
            )
        cohort = simulate_cohort(config, seed=seed)
        counts = named_share(model, cohort)
        result["cohorts"][name] = {"seed": seed, "patients": args.patients, "classes": counts}
        for cls, row in counts.items():
            lines.append(
                f"| {name} | {cls} | {row['ears']} | {row['named_as_recorded']:.3f} | {row['named_inverted']:.3f} |"
            )
    write_results("polarity_check", result, "\n".join(lines) + "\n", force=args.force)


if __name__ == "__main__":
    main()
