"""Human-readable summaries of a `compute_metrics` result: Markdown for files and PRs, a rich table for the console.

Both show the same rows (section, metric, value, 95% CI) so what is printed after training matches what is saved.
Undefined metrics are shown as "—" with their reason listed underneath, never silently dropped.
"""

from __future__ import annotations

from typing import Any

from rich.table import Table

from abrnet.constants import CLASS_NAMES

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
    for key in metrics.get("calibration", {}):
        add("calibration (90% interval coverage)", f"calibration.{key}", key)
    return rows


def metrics_markdown(metrics: dict) -> str:
    """Compact Markdown: a header line, one table per section, then the reasons for undefined metrics."""
    lines = [
        f"## Evaluation — split `{metrics.get('split', '?')}`",
        "",
        f"{metrics.get('n_records', '?')} records, {metrics.get('n_patients', '?')} patients. "
        "Intervals: 95% percentile bootstrap over patients.",
    ]
    section = None
    for sec, name, value, ci in metric_rows(metrics):
        if sec != section:
            lines += ["", f"### {sec}", "", "| metric | value | 95% CI |", "|---|---:|---|"]
            section = sec
        lines.append(f"| {name} | {value} | {ci} |")
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
    section = None
    for sec, name, value, ci in metric_rows(metrics):
        table.add_row(sec if sec != section else "", name, value, ci, end_section=False)
        section = sec
    n_undefined = len(metrics.get("undefined", {}))
    if n_undefined:
        table.caption = f"{n_undefined} metric(s) undefined (—); reasons in metrics['undefined']"
    return table
