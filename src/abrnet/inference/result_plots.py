"""The plots of `abrnet predict --plot`: a clinical waterfall per ear and, in series mode, its latency–intensity
plot, stating each ear's reading as series.csv states it (`result_tables.series_columns`).

Kept apart from the tables (`abrnet.inference.result_tables`): one concept per module.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from abrnet.constants import PRESENCE_THRESHOLD, WAVES
from abrnet.data.metadata import LEVEL_UNIT, UNKNOWN, metadata_of
from abrnet.data.schema import ABRCohort
from abrnet.inference.result_tables import PredictionReport, series_columns

UNKNOWN_LEVEL_UNIT = "dB, unit unknown"  # how plots and the viewer name the level unit of a file that states none


def level_unit_labels(cohort: ABRCohort) -> np.ndarray:
    """(N,) each record's level unit as plots and the viewer print it ("dB SPL" for a mouse file, never "dB nHL" by
    default; `UNKNOWN_LEVEL_UNIT` where the file does not say)."""
    units = metadata_of(cohort.extras, cohort.n_records)[LEVEL_UNIT].astype(str)
    return np.where(units == UNKNOWN, UNKNOWN_LEVEL_UNIT, units)


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)


def plot_stems(keys: list[str]) -> dict[str, str]:
    """A file-name stem per ear key, distinct for distinct keys.

    Why: `_safe` maps ``P 1/L`` and ``P_1/L`` to the same name, so one ear's plots silently replaced the other's.
    A stem that two keys share (compared case-insensitively, as macOS and Windows file systems do) gets a short hash
    of its raw key; the others keep their readable name, so ordinary ids give the same files as before."""
    safe = {key: _safe(key.replace("/", "_")) for key in keys}
    counts: dict[str, int] = {}
    for stem in safe.values():
        counts[stem.lower()] = counts.get(stem.lower(), 0) + 1
    return {
        key: stem if counts[stem.lower()] == 1 else f"{stem}_{hashlib.sha1(key.encode()).hexdigest()[:8]}"
        for key, stem in safe.items()
    }


def plot_paths(cohort: ABRCohort, plot_dir: str | Path, *, series: bool) -> dict[str, dict[str, Path]]:
    """Files `save_plots` will write, per ear key (so the CLI can refuse to overwrite before computing)."""
    plot_dir = Path(plot_dir)
    out: dict[str, dict[str, Path]] = {}
    keys = [str(k) for k in np.unique(cohort.ear_key.astype(str))]
    for key, stem in plot_stems(keys).items():
        paths = {"waterfall": plot_dir / f"waterfall_{stem}.png"}
        if series:
            paths["latency_intensity"] = plot_dir / f"latency_intensity_{stem}.png"
        out[key] = paths
    return out


def save_plots(report: PredictionReport, plot_dir: str | Path, *, series: bool) -> list[Path]:
    """A clinical waterfall per ear (peaks where presence >= 0.5) and, in series mode, the ear's series threshold
    (as series.csv gives it) and its latency–intensity plot (latency ± 1 SD per wave, read with the series as the
    ``*_latency_series_ms`` columns and the viewer give them).

    Without series mode no per-ear reading is made, so the waterfall names none. Why: it used to print a threshold
    aggregated without the checkpoint's series stage, which differed from what ``--group-by`` wrote for the same
    ear (60 dB in the plot, 30 dB in series.csv) and appeared in no table."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from abrnet.plots.waterfall import plot_waterfall

    cohort, pred = report.cohort, report.predictions
    waves = report.series_predictions if report.series_predictions is not None else pred  # latencies shown
    ears = report.ears
    table = series_columns(ears, cohort) if ears is not None else None
    keys = cohort.ear_key.astype(str)
    level = cohort.static_column("intensity_db")
    level_units = level_unit_labels(cohort)  # a mouse file is in dB SPL
    written: list[Path] = []
    for key, paths in plot_paths(cohort, plot_dir, series=series).items():
        idx = np.flatnonzero(keys == key)
        lat = np.where(pred.peak_presence_prob[idx] >= PRESENCE_THRESHOLD, waves.latency_ms[idx], np.nan)
        fig, ax = plt.subplots(figsize=(4.0, 1.2 + 0.7 * len(idx)))
        thr: float | None = None
        if ears is None or table is None:
            title = f"{key}: records only\nper-ear threshold: --group-by patient_id,ear"
        else:
            row = int(np.flatnonzero(ears.ear_key.astype(str) == key)[0])
            thr = float(ears.threshold_db[row])
            words = f"{_threshold_words(table, row)}, P(no resp.) {ears.p_no_response[row]:.2f}"
            title = f"{key}: {ears.response[row]}\n{words}"  # two lines: fits the 4-inch figure
            if table["threshold_above_max_level"][row]:
                thr = None  # the placeholder "above the highest level": no level to draw
        plot_waterfall(ax, cohort.time_ms, cohort.signals[idx], level[idx], lat, title=title, threshold_db=thr)
        paths["waterfall"].parent.mkdir(parents=True, exist_ok=True)
        fig.tight_layout()
        fig.savefig(paths["waterfall"], dpi=110)
        plt.close(fig)
        written.append(paths["waterfall"])
        if series:
            fig, ax = plt.subplots(figsize=(4.5, 3.2))
            order = np.argsort(level[idx])
            for j, (w, color) in enumerate(zip(WAVES, ("tab:blue", "tab:green", "tab:red"), strict=True)):
                k = idx[order]
                seen = pred.peak_presence_prob[k, j] >= PRESENCE_THRESHOLD
                ax.errorbar(
                    level[k][seen], waves.latency_ms[k, j][seen], yerr=waves.latency_sd_ms[k, j][seen], color=color,
                    marker="o", ms=4, lw=1, capsize=2, label=f"wave {w}",
                )  # fmt: skip
            if thr is not None:
                ax.axvline(thr, color="tab:orange", ls="--", lw=0.8, label=f"threshold {thr:.0f} dB")
            if not (pred.peak_presence_prob[idx] >= PRESENCE_THRESHOLD).any():  # say so, not empty axes around 0
                ax.text(0.5, 0.5, f"no wave with presence ≥ {PRESENCE_THRESHOLD:g}", transform=ax.transAxes,
                        ha="center", va="center", fontsize=8, color="gray")  # fmt: skip
                ax.set_ylim(0.0, 10.0)
            ax.set_xlim(float(level[idx].min()) - 5.0, float(level[idx].max()) + 5.0)
            ax.set_xlabel(f"intensity ({level_units[idx[0]]})")
            ax.set_ylabel("latency (ms)")
            ax.set_title(f"{key}: latency–intensity (±1 SD)", fontsize=9)
            ax.legend(fontsize=7)
            fig.tight_layout()
            fig.savefig(paths["latency_intensity"], dpi=110)
            plt.close(fig)
            written.append(paths["latency_intensity"])
    return written


def _threshold_words(table: dict[str, np.ndarray], row: int) -> str:
    """How a plot title states ear `row`'s series threshold (`series_columns` with the cohort): no number where it is
    the placeholder above the tested levels, "≤ L" where the ear shows a V at its lowest tested level."""
    if table["threshold_above_max_level"][row]:
        return f"no wave V up to {table['max_level_db'][row]:.0f} dB"
    if table["threshold_at_min_level"][row]:
        return f"threshold ≤ {table['min_level_db'][row]:.0f} dB (V at the lowest level)"
    return f"threshold {table['threshold_db'][row]:.0f} ± {table['threshold_sd_db'][row]:.0f} dB"
