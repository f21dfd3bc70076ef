"""Two main-job runs side by side: the headline figures of two `metrics.json`, with the first run's 95 % intervals.

The same seed gives the same model on one machine (tests/test_determinism.py), not on every machine: PyTorch picks
its CPU kernels by the processor's vector instructions (AVX2, AVX-512, ...), and the last bits they round differently
grow over 1,400 optimizer steps into a different model. This shows how far two runs of the README's command, on two
machines (or any two runs), land apart, against the bootstrap intervals the README reads its figures with.

    python benchmarks/compare_runs.py benchmarks/results/main_job.json runs/final/metrics.json \\
        --names "stop 29" "stop 30 re-run" --tag main_job_rerun
Writes benchmarks/results/<tag>.json and .md.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from _common import dotted_get, parse_args, provenance, refuse, results_head, write_results

# (label, path in metrics.json); its 95 % interval, where the run has one, is found from the path
ROWS: tuple[tuple[str, str], ...] = (
    ("test: wave V presence F1", "peaks.V.presence_f1"),
    ("test: wave V latency R²", "peaks.V.latency_r2"),
    ("test: wave I presence F1", "peaks.I.presence_f1"),
    ("test: wave III presence F1", "peaks.III.presence_f1"),
    ("test: per-ear threshold MAE dB", "per_ear.threshold.mae_db"),
    ("test: per-ear within 10 dB", "per_ear.threshold.within_10_db"),
    ("test: per-ear no-response F1", "per_ear.threshold.no_response_f1"),
    ("test: per-ear class macro-F1", "per_ear.classification.macro_f1"),
    ("test: denoised correlation to clean", "signal.denoise_correlation_to_clean"),
    ("fixed: within 10 dB", "fixed_protocol.per_ear.threshold.within_10_db"),
    ("fixed: MAE dB", "fixed_protocol.per_ear.threshold.mae_db"),
    ("fixed: no-response F1", "fixed_protocol.per_ear.threshold.no_response_f1"),
    ("fixed: class macro-F1", "fixed_protocol.per_ear.classification.macro_f1"),
    ("fixed: 90 % interval coverage", "fixed_protocol.per_ear.threshold.interval_90_coverage"),
    ("p(V) below the true threshold", "counterfactuals.as_recorded_below_true_threshold"),
    ("p(V) time-reversed, V labelled", "counterfactuals.time_reversed.mean_p_v_where_v"),
    ("p(V) noise-only 60 dB", "counterfactuals.noise_only_by_level.60db"),
    ("p(V) noise-only 80 dB", "counterfactuals.noise_only_by_level.80db"),
    ("p(V) noise-only 100 dB", "counterfactuals.noise_only_by_level.100db"),
    ("p(V) labelled V relabelled 0 dB", "counterfactuals.relabelled_by_level.0db.mean_p_v_where_v"),
)  # fmt: skip


def _interval(metrics: dict[str, Any], path: str) -> list[float] | None:
    """A figure's 95 % interval: `abrnet evaluate` keys each section's `intervals` by the figure's path within that
    section, dots and all ("per_ear.threshold.mae_db"), at the top level or under `fixed_protocol`."""
    section, rest = ("fixed_protocol", path.removeprefix("fixed_protocol.")) if path.startswith("fixed_protocol.") \
        else ("", path)  # fmt: skip
    intervals = dotted_get(metrics, f"{section}.intervals" if section else "intervals")
    return intervals.get(rest) if isinstance(intervals, dict) else None


def compare(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for label, path in ROWS:
        va, vb, ci = dotted_get(a, path), dotted_get(b, path), _interval(a, path)
        if va is None or vb is None:
            continue
        inside = None if ci is None else bool(ci[0] <= vb <= ci[1])
        rows.append({"figure": label, "path": path, "a": va, "b": vb, "b_minus_a": vb - va, "a_interval": ci,
                     "b_inside_a_interval": inside})  # fmt: skip
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a", type=Path, help="first metrics.json (its intervals are shown)")
    ap.add_argument("b", type=Path, help="second metrics.json")
    ap.add_argument("--names", nargs=2, default=("a", "b"))
    ap.add_argument("--tag", default="compare_runs", help="results file stem")
    args = parse_args(ap, lambda a: a.tag)
    for path in (args.a, args.b):
        if not path.exists():
            refuse(path, "no such file")
    a, b = (json.loads(p.read_text()) for p in (args.a, args.b))
    rows = compare(a, b)
    same = {k: a.get(k) == b.get(k) for k in ("baselines", "training")}
    envs = [m.get("environment") for m in (a, b)]  # recorded since stop 30: library versions, torch's CPU kernels
    result = {**provenance(), "a": str(args.a), "b": str(args.b), "names": list(args.names), "identical": same,
              "environments": envs, "rows": rows}  # fmt: skip
    write_results(args.tag, result, _markdown(result), force=args.force)


def _markdown(result: dict[str, Any]) -> str:
    na, nb = result["names"]
    same = ", ".join(f"{k} {'identical' if v else 'DIFFERENT'}" for k, v in result["identical"].items())
    lines = [
        *results_head(f"Two runs of the main job: {na} vs {nb}", result),
        f"`{result['a']}` ({na}) against `{result['b']}` ({nb}). Sections that do not depend on the network: {same}.",
        "",
        *(
            f"- {name}'s environment: " + (", ".join(f"{k} {v}" for k, v in env.items()) if env else "not recorded")
            for name, env in zip(result["names"], result["environments"], strict=True)
        ),
        "",
        f"| figure | {na} [95 % interval] | {nb} | difference | inside {na}'s interval |",
        "|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        ci = "" if r["a_interval"] is None else f" [{r['a_interval'][0]:.3f}, {r['a_interval'][1]:.3f}]"
        inside = "—" if r["b_inside_a_interval"] is None else ("yes" if r["b_inside_a_interval"] else "**no**")
        lines.append(f"| {r['figure']} | {r['a']:.3f}{ci} | {r['b']:.3f} | {r['b_minus_a']:+.3f} | {inside} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
