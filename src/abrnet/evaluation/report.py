"""Human-readable summaries of a `compute_metrics` result: Markdown for files and PRs, rich tables for the console.

`metrics.md` opens with the targets table (`evaluation.targets`: each promised figure, its target, its best
baseline, met or not) where the metrics carry baselines.

Both show the same rows (section, metric, value, 95% CI) so what is printed after training matches what is saved.
Undefined metrics are shown as "—" with their reason listed underneath, never silently dropped. Where `abrnet
evaluate` added its shortcut checks, a second set of rows puts each network figure beside every baseline that
reports the same figure (`headline` / `baselines`, same records and metric code), for the split and for the
fixed-protocol cohort, with the counterfactual p(V): a figure means little until it beats them.
"""

from __future__ import annotations

from typing import Any

from rich.table import Table

from abrnet.constants import CLASS_NAMES
from abrnet.evaluation.targets import targets_markdown

_HEADLINE_LABELS = {
    "v_presence_f1": "wave V presence F1 (record)",
    "v_latency_r2": "wave V latency R² (record)",
    "record_threshold_mae_db": "threshold MAE per record, dB",
    "ear_threshold_mae_db": "threshold MAE per ear, dB",
    "ear_threshold_within_10_db": "threshold within 10 dB per ear",
    "ear_no_response_f1": "no-response F1 per ear",
    "ear_class_macro_f1": "class macro-F1 per ear",
    "reconstruction_correlation": "reconstruction correlation",
}
_HEADLINE_INTERVALS = {  # the bootstrap interval of each headline figure (`metrics.task_metrics.BOOTSTRAP_PATHS`)
    "v_presence_f1": "peaks.V.presence_f1",
    "ear_threshold_mae_db": "per_ear.threshold.mae_db",
    "ear_threshold_within_10_db": "per_ear.threshold.within_10_db",
    "ear_no_response_f1": "per_ear.threshold.no_response_f1",
    "ear_class_macro_f1": "per_ear.classification.macro_f1",
}
_PEAK_KEYS = ("presence_f1", "latency_r2", "latency_mae_ms", "within_0_1_ms", "amplitude_r2", "amplitude_mae_uv")


def _fmt(x: Any) -> str:
    if x is None:
        return "—"
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, int):
        return str(x)
    if isinstance(x, float):
        return f"{x:.4g}" if abs(x) < 1e4 else f"{x:.3e}"
    return str(x)


def _ci(metrics: dict, path: str) -> str:
    iv = metrics.get("intervals", {}).get(path)
    return f"[{_fmt(iv[0])}, {_fmt(iv[1])}]" if iv else ""


def metric_rows(metrics: dict) -> list[tuple[str, str, str, str]]:
    """(section, metric, value, 95% CI) rows in display order."""
    rows: list[tuple[str, str, str, str]] = []

    def add(section: str, path: str, label: str | None = None) -> None:
        node: Any = metrics
        for part in path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        rows.append((section, label or path.split(".")[-1], _fmt(node), _ci(metrics, path)))

    if "reconstruction_target" in metrics.get("signal", {}):  # clean, or only the recording itself
        add("signal", "signal.reconstruction_target", "reconstruction scored against")
    for key in ("correlation", "mse", "denoise_correlation_to_clean", "snr_gain_db"):
        add("signal", f"signal.{key}")
    for wave in ("V", "I", "III"):
        for key in _PEAK_KEYS:
            add(f"peaks {wave}", f"peaks.{wave}.{key}")
    if "peaks_series" in metrics:  # the same waves read with the rest of the ear's series
        for key in ("latency_r2", "latency_mae_ms", "within_0_1_ms", "amplitude_r2", "amplitude_mae_uv"):
            add("peaks V, with its series", f"peaks_series.V.{key}")
    for key in ("macro_f1", "balanced_accuracy"):
        add("classification", f"classification.{key}")
    for name in CLASS_NAMES:
        add("classification", f"classification.per_class_f1.{name}", f"f1 {name}")
    for key in ("r2", "mae_db", "within_5_db", "within_10_db", "no_response_f1"):
        add("threshold", f"threshold.{key}")
    add("per ear", "per_ear.n_ears", "n_ears")
    add("per ear", "per_ear.classification.macro_f1", "class macro_f1")
    for key in ("mae_db", "within_10_db", "no_response_f1"):
        add("per ear", f"per_ear.threshold.{key}", f"threshold {key}")
    for call in metrics.get("per_ear", {}).get("response_calls", {}):
        add("per ear", f"per_ear.response_calls.{call}.ears", f"called {call}: ears")
        add("per ear", f"per_ear.response_calls.{call}.share_no_response", f"called {call}: share without a response")
    for key in metrics.get("calibration", {}):
        add("calibration (90% interval coverage)", f"calibration.{key}", key)
    return rows


def _counterfactual_rows(section: str, checks: dict) -> list[tuple[str, str, str, str]]:
    def by_label(label: str, split: dict) -> list[tuple[str, str, str, str]]:  # where a V is labelled / where not
        pairs = (("mean_p_v_where_v", "V labelled"), ("mean_p_v_where_no_v", "no V labelled"))
        if "mean_p_v_all_records" in split:  # data without wave labels
            pairs = (("mean_p_v_all_records", "all records (no wave labels)"),)
        return [(section, f"p(V) {label}, {where}", _fmt(split.get(key)), "—") for key, where in pairs]

    rows = []
    for name, label in (("as_recorded", "as recorded"), ("time_reversed", "time-reversed")):
        if name in checks:
            rows += by_label(label, checks[name])
    if "as_recorded_below_true_threshold" in checks:
        rows.append((section, "p(V) below the true threshold", _fmt(checks["as_recorded_below_true_threshold"]), "—"))
    for level, p in checks.get("noise_only_by_level", {}).items():
        rows.append((section, f"p(V) noise-only, labelled {level.removesuffix('db')} dB", _fmt(p), "—"))
    for level, split in checks.get("relabelled_by_level", {}).items():
        rows += by_label(f"relabelled {level.removesuffix('db')} dB", split)
    if "fmp_hidden" in checks:
        rows += by_label("FMP hidden", checks["fmp_hidden"])
    return rows


def comparison_rows(metrics: dict) -> list[tuple[str, str, str, str]]:
    """(section, metric, network, baselines) rows: each `headline` figure (with its 95 % interval where bootstrapped)
    beside every baseline reporting it, for the split and the fixed-protocol cohort, then the counterfactual p(V)
    (no baseline column)."""
    rows: list[tuple[str, str, str, str]] = []
    for prefix, part in (("", metrics), ("fixed protocol: ", metrics.get("fixed_protocol"))):
        if not isinstance(part, dict) or "headline" not in part:
            continue
        network = part["headline"].get("network", {})
        baselines = {k: v for k, v in part.get("baselines", {}).items() if isinstance(v, dict)}
        for key, label in _HEADLINE_LABELS.items():
            if key in network:
                others = ", ".join(f"{name} {_fmt(b[key])}" for name, b in baselines.items() if key in b)
                value = f"{_fmt(network[key])} {_ci(part, _HEADLINE_INTERVALS.get(key, ''))}".strip()
                rows.append((f"{prefix}network vs baselines", label, value, others or "—"))
        rows += _counterfactual_rows(f"{prefix}counterfactuals", part.get("counterfactuals", {}))
    return rows


def _markdown_sections(rows: list[tuple[str, str, str, str]], header: str) -> list[str]:
    """One Markdown table per section of (section, c1, c2, c3) rows, under `header`."""
    lines: list[str] = []
    section = None
    for sec, *cells in rows:
        if sec != section:
            lines += ["", f"### {sec}", "", header, "|---|---:|---|"]
            section = sec
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def metrics_markdown(metrics: dict) -> str:
    """Compact Markdown: a header line, one table per section, then the reasons for undefined metrics."""
    lines = [
        f"## Evaluation — split `{metrics.get('split', '?')}`",
        "",
        f"{metrics.get('n_records', '?')} records, {metrics.get('n_patients', '?')} patients. "
        "Intervals: 95% percentile bootstrap over patients, drawn within the split's class strata.",
    ]
    if metrics.get("input_warnings"):  # what the reader said about the file: the figures below rest on it
        lines += ["", "### input warnings", ""] + [f"- {w}" for w in metrics["input_warnings"]]
    if "headline" in metrics:  # `abrnet evaluate`'s shortcut checks ran: the promises first, then every figure
        lines += ["", "### targets", "", targets_markdown(metrics).rstrip()]
    lines += _markdown_sections(metric_rows(metrics), "| metric | value | 95% CI |")
    lines += _markdown_sections(comparison_rows(metrics), "| metric | network | baselines |")
    undefined = metrics.get("undefined", {})
    if undefined:
        lines += ["", "### undefined", ""]
        lines += [f"- `{path}`: {reason}" for path, reason in undefined.items()]
    return "\n".join(lines) + "\n"


def metrics_table(metrics: dict) -> Table:
    """A rich Table of the same rows, for printing with `rich.console.Console().print(...)`."""
    table = Table(
        title=f"Evaluation — {metrics.get('split', '?')} ({metrics.get('n_records', '?')} records, "
        f"{metrics.get('n_patients', '?')} patients)"
    )
    table.add_column("section", style="dim")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("95% CI (patients)", justify="left")
    _add_sections(table, metric_rows(metrics))
    n_undefined = len(metrics.get("undefined", {}))
    if n_undefined:
        table.caption = f"{n_undefined} metric(s) undefined (—); reasons in metrics['undefined']"
    return table


def comparison_table(metrics: dict) -> Table | None:
    """A rich Table of `comparison_rows` (None when the metrics carry no baselines)."""
    rows = comparison_rows(metrics)
    if not rows:
        return None
    table = Table(title="Network beside the baselines (same records, same metric code)")
    for name, justify in (("section", "left"), ("metric", "left"), ("network", "right"), ("baselines", "left")):
        table.add_column(name, justify=justify, style="dim" if name == "section" else None)  # type: ignore[arg-type]
    _add_sections(table, rows)
    return table


def _add_sections(table: Table, rows: list[tuple[str, str, str, str]]) -> None:
    """Rows into a rich Table, each section's name on its first row only."""
    section = None
    for sec, *cells in rows:
        table.add_row(sec if sec != section else "", *cells, end_section=False)
        section = sec
