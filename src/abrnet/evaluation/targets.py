"""Every figure the project promises, beside its target and its best baseline, with a plain "met" or "not met".

Why a table of its own: `metrics.md` lists everything, so a reader cannot see at a glance which of the design's
floors (wave V latency and amplitude R² > 0.7, macro-F1 > 0.6, threshold R² > 0.5) and of issue 11's targets a run
meets, nor whether the network beats the trivial and classical baselines on the same records ("a figure means
nothing until it beats a trivial baseline"). The README's results table is this function's output for the main job
(`tests/test_targets.py` keeps the two equal), so the README cannot drift from the run it reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["TARGET_ROWS", "targets_markdown"]


@dataclass(frozen=True)
class Target:
    """One promise: `kind` is ">", "≥", "≤" (against `value`), "within" (`value`..`high`), "beats" (the figure at
    `ref` in the same metrics part by at least `value`) or "no better than" (that figure + `value` at most)."""

    kind: str
    value: float
    high: float | None = None
    ref: str | None = None
    source: str = "design"

    def met(self, x: float, part: dict) -> bool | None:
        if self.kind in ("beats", "no better than"):
            ref = _get(part, self.ref or "")
            if ref is None:
                return None
            return x >= ref + self.value if self.kind == "beats" else x <= ref + self.value
        if self.kind == "within":
            return self.value <= x <= (self.high if self.high is not None else self.value)
        return {">": x > self.value, "≥": x >= self.value, "≤": x <= self.value}[self.kind]

    def text(self, part: dict) -> str:
        if self.kind == "within":
            return f"{self.value:g}–{self.high:g} ({self.source})"
        if self.kind in ("beats", "no better than"):
            name = (self.ref or "").split(".")[1].replace("_", " ")
            sign = "≥" if self.kind == "beats" else "≤"
            return f"{sign} {name} ({_num(_get(part, self.ref or ''))}) + {self.value:g} ({self.source})"
        return f"{self.kind} {self.value:g} ({self.source})"


@dataclass(frozen=True)
class Row:
    """A figure at `path` in a metrics part (the split's metrics, or `fixed_protocol`); `headline` names it among
    the baselines (`baselines.<name>.<headline>`); `higher` says which way is better."""

    label: str
    path: str
    higher: bool = True
    headline: str | None = None
    target: Target | None = None
    decimals: int = 3


_ISSUE = "issue 11"
_DB = 1  # decimals of figures in dB
_V_BEATS_INTENSITY = Target("beats", 0.05, ref="baselines.intensity_only.v_presence_f1", source=_ISSUE)
_COVERAGE = Target("within", 0.85, high=0.95, source=_ISSUE)
_MIXED = "Held-out test split (mixed protocol)"
_FIXED = "Fixed protocol, class-balanced (every ear at the same levels, never trained on)"
TARGET_ROWS: dict[str, tuple[Row, ...]] = {
    _MIXED: (
        Row(
            "wave V presence F1, per record", "peaks.V.presence_f1", headline="v_presence_f1", target=_V_BEATS_INTENSITY
        ),
        Row("wave V latency R²", "peaks.V.latency_r2", headline="v_latency_r2", target=Target(">", 0.7)),
        Row("wave V amplitude R², record alone", "peaks.V.amplitude_r2", target=Target(">", 0.7)),
        Row("wave V amplitude R², with its series", "peaks_series.V.amplitude_r2", target=Target(">", 0.7)),
        Row("class macro-F1, per record", "classification.macro_f1", target=Target(">", 0.6)),
        Row(
            "class macro-F1, per ear",
            "per_ear.classification.macro_f1",
            headline="ear_class_macro_f1",
            target=Target(">", 0.6),
        ),
        Row("threshold R², per record", "threshold.r2", target=Target(">", 0.5)),
        Row("threshold R², per ear (series threshold)", "per_ear.threshold.r2", target=Target(">", 0.5)),
        Row("threshold MAE per record, dB", "threshold.mae_db", False, "record_threshold_mae_db", decimals=_DB),
        Row("threshold MAE per ear, dB", "per_ear.threshold.mae_db", False, "ear_threshold_mae_db", decimals=_DB),
        Row("threshold within 10 dB, per ear", "per_ear.threshold.within_10_db", headline="ear_threshold_within_10_db"),
        Row("no-response F1, per ear", "per_ear.threshold.no_response_f1", headline="ear_no_response_f1"),
        Row("90 % interval coverage, per-ear threshold", "per_ear.threshold.interval_90_coverage", target=_COVERAGE),
        Row("reconstruction correlation (t = 100)", "signal.correlation", headline="reconstruction_correlation"),
        Row("denoised correlation to the clean response", "signal.denoise_correlation_to_clean"),
    ),
    _FIXED: (
        Row("wave V presence F1, per record", "headline.network.v_presence_f1", headline="v_presence_f1"),
        Row("wave V latency R²", "headline.network.v_latency_r2", headline="v_latency_r2"),
        Row(
            "threshold MAE per ear, dB",
            "per_ear.threshold.mae_db",
            False,
            "ear_threshold_mae_db",
            Target("≤", 5.0, source=_ISSUE),
            decimals=_DB,
        ),
        Row(
            "threshold within 10 dB, per ear",
            "per_ear.threshold.within_10_db",
            True,
            "ear_threshold_within_10_db",
            Target("≥", 0.9, source=_ISSUE),
        ),
        Row(
            "no-response F1, per ear",
            "per_ear.threshold.no_response_f1",
            True,
            "ear_no_response_f1",
            Target("≥", 0.95, source=_ISSUE),
        ),
        Row(
            "class macro-F1, per ear",
            "per_ear.classification.macro_f1",
            True,
            "ear_class_macro_f1",
            Target("≥", 0.75, source=_ISSUE),
        ),
        Row("90 % interval coverage, per-ear threshold", "per_ear.threshold.interval_90_coverage", target=_COVERAGE),
        # the shortcut check: where every ear has the same levels, they must tell nothing (as tests/test_shortcuts.py)
        Row(
            "levels-only baseline: threshold within 10 dB, per ear",
            "baselines.levels_only.ear_threshold_within_10_db",
            target=Target("no better than", 0.05, ref="baselines.prior.ear_threshold_within_10_db", source=_ISSUE),
        ),
        Row(
            "levels-only baseline: class macro-F1 (five classes: chance ≈ 0.2)",
            "baselines.levels_only.ear_class_macro_f1",
            target=Target("≤", 0.3, source=_ISSUE),
        ),
    ),
}
_COUNTERFACTUALS: tuple[tuple[str, str, float | None], ...] = (  # (label, path in `counterfactuals`, ≤ target)
    ("records below the ear's true threshold", "as_recorded_below_true_threshold", 0.2),
    ("time-reversed records with a labelled V", "time_reversed.mean_p_v_where_v", 0.2),
    ("noise-only records labelled 60 dB", "noise_only_by_level.60db", 0.1),
    ("noise-only records labelled 80 dB", "noise_only_by_level.80db", 0.1),
    ("noise-only records labelled 100 dB", "noise_only_by_level.100db", 0.1),
    ("labelled V, relabelled 0 dB (no target)", "relabelled_by_level.0db.mean_p_v_where_v", None),
)


def _get(node: Any, path: str) -> Any:
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def _num(x: float | None, decimals: int = 3) -> str:
    return "—" if x is None else f"{x:.{decimals}f}"


def _baseline_cell(part: dict, row: Row) -> tuple[str, bool | None]:
    """The best baseline reporting this figure, and whether the network beats every one of them."""
    if row.headline is None:
        return "—", None
    found = {
        name: b[row.headline]
        for name, b in part.get("baselines", {}).items()
        if isinstance(b, dict) and b.get(row.headline) is not None
    }
    if not found:
        return "—", None
    best = (max if row.higher else min)(found, key=found.__getitem__)
    x = _get(part, row.path)
    beats = None if x is None else all((x > v) if row.higher else (x < v) for v in found.values())
    return f"{best.replace('_', ' ')} {_num(found[best], row.decimals)}", beats


def _yes_no(flag: bool | None) -> str:
    return "—" if flag is None else "**yes**" if flag else "no"


def _section(part: dict, rows: tuple[Row, ...]) -> list[str]:
    lines = [
        "| figure | network [95 % CI] | best baseline | beats every baseline | target | met |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        x = _get(part, row.path)
        iv = part.get("intervals", {}).get(row.path)
        value = _num(x, row.decimals) + (f" [{_num(iv[0], row.decimals)}, {_num(iv[1], row.decimals)}]" if iv else "")
        refused = part.get("undefined", {}).get(f"intervals.{row.path}") if x is not None and not iv else None
        if refused:  # a bare point beside its neighbours' intervals read as an interval forgotten, not refused
            value += f" (no interval: {refused})"
        baseline, beats = _baseline_cell(part, row)
        met = None if row.target is None or x is None else row.target.met(x, part)
        target = row.target.text(part) if row.target else "—"
        lines.append(f"| {row.label} | {value} | {baseline} | {_yes_no(beats)} | {target} | {_yes_no(met)} |")
    return lines


def targets_markdown(metrics: dict) -> str:
    """Markdown tables of `TARGET_ROWS` (and the counterfactual p(V) against issue 11's limits) for one run's
    metrics. Parts the run did not evaluate (no fixed-protocol cohort, no counterfactuals) are left out."""
    lines: list[str] = []
    parts = {_MIXED: metrics, _FIXED: metrics.get("fixed_protocol")}
    split = str(metrics.get("split", "test"))
    first, name = _MIXED, "test split"  # the main job's title; another split or a user's file is named as what it is
    if "training_data" in metrics:  # a model trained on a file: its protocol is the file's, not the simulator's
        first = f"Held-out {split} split of {metrics['training_data']} (the file the model trained on)"
        name = f"{split} split"
    elif "data" in metrics:
        first = f"{metrics['data']} ({split} records: a file given with --data, not the held-out test split)"
        name = split
    elif split != "test":
        first, name = f"The training cohort's {split} split (mixed protocol)", f"{split} split"
    for title, part in parts.items():
        if isinstance(part, dict):
            lines += [f"**{first if title == _MIXED else title}**", "", *_section(part, TARGET_ROWS[title]), ""]
    cohorts = [
        (label, part.get("counterfactuals"))
        for label, part in zip((name, "fixed protocol"), parts.values(), strict=True)
        if isinstance(part, dict) and part.get("counterfactuals")
    ]
    if cohorts:
        lines += ["**Counterfactuals**: mean p(V) of the same records altered", ""]
        lines += ["| figure | " + " | ".join(name for name, _ in cohorts) + " | target | met |"]
        lines += ["|---|" + "---|" * len(cohorts) + "---|---|"]
        for label, path, limit in _COUNTERFACTUALS:
            values = [_get(c, path) for _, c in cohorts]
            met = None if limit is None or None in values else all(v <= limit for v in values)
            target = "—" if limit is None else f"≤ {limit:g} ({_ISSUE})"
            lines.append(f"| {label} | " + " | ".join(_num(v) for v in values) + f" | {target} | {_yes_no(met)} |")
        lines.append("")
    return "\n".join(lines)
