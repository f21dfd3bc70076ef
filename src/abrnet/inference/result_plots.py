"""The plots of `abrnet predict --plot`: a clinical waterfall per ear and, in series mode, its latency–intensity
plot, stating each ear's reading as <out>.series.csv states it (`result_tables.series_columns`). "Ear" is one intensity
series (`abrnet.data.series_key`): an ear with 8 and 16 kHz tone pips gets a figure per frequency, named by its key.

Kept apart from the tables (`abrnet.inference.result_tables`): one concept per module.
"""

from __future__ import annotations

import hashlib
import textwrap
from pathlib import Path
from typing import Any

import numpy as np

from abrnet.constants import PRESENCE_THRESHOLD, WAVES, is_present
from abrnet.data.files import check_fname, staged_write
from abrnet.data.grouping import group_indices
from abrnet.data.metadata import LEVEL_UNIT, UNKNOWN, metadata_of
from abrnet.data.schema import ABRCohort
from abrnet.data.series_key import series_keys
from abrnet.inference.clinical_columns import ear_floors, ear_latency_points
from abrnet.inference.domain import IN_DOMAIN
from abrnet.inference.result_tables import PredictionReport, series_columns

UNKNOWN_LEVEL_UNIT = "dB, unit unknown"  # how plots and the viewer name the level unit of a file that states none
PLOT_DPI = 110  # the saved PNGs' resolution; text is laid out for it (`_note_domain`)


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
    """Files `save_plots` will write, per series key (so the CLI can refuse to overwrite before computing)."""
    plot_dir = Path(plot_dir)
    out: dict[str, dict[str, Path]] = {}
    keys = [str(k) for k in np.unique(series_keys(cohort))]
    for key, stem in plot_stems(keys).items():
        paths = {"waterfall": plot_dir / f"waterfall_{stem}.png"}
        if series:
            paths["latency_intensity"] = plot_dir / f"latency_intensity_{stem}.png"
        out[key] = paths
    return out


def save_plots(report: PredictionReport, plot_dir: str | Path, *, series: bool, overwrite: bool = False) -> list[Path]:
    """A clinical waterfall per ear (peaks where presence >= 0.5) and, in series mode, the ear's series threshold
    (as <out>.series.csv gives it) and its latency–intensity plot.

    In series mode both figures read the ear as <out>.series.csv does: peaks are marked, and latency–intensity points
    drawn, only at levels at or above the ear's threshold and never for an ear called "no response"
    (`clinical_columns.reading_floor`); the waterfall title says how many records with a peak that hides. The
    latency–intensity points are exactly <out>.series.csv's (`clinical_columns.ear_latency_points`: record latencies,
    replicates combined, ±1 mean SD). Why: the title said "no wave V up to 80 dB" beside a V marked at 50 dB, and
    the plot drew series-blended latencies below threshold that no table listed. Records outside the model's domain
    get the reason printed in the figure (`domain_words`): a PNG pasted into a report loses stderr.

    Without series mode no per-ear reading is made, so the waterfall names none. Why: it used to print a threshold
    aggregated without the checkpoint's series stage, which differed from what ``--group-by`` wrote for the same
    ear (60 dB in the plot, 30 dB in <out>.series.csv) and appeared in no table.

    An existing plot is replaced only with ``overwrite``; every path is checked (`check_fname`) before one is drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from abrnet.plots.waterfall import plot_waterfall

    cohort, pred = report.cohort, report.predictions
    waves = report.series_predictions if report.series_predictions is not None else pred  # waterfall marks
    ears = report.ears
    table = series_columns(ears, cohort) if ears is not None else None
    ear_keys, groups = group_indices(series_keys(cohort))  # each series' rows: one sort, not a mask per series
    ear_rows = dict(zip(ear_keys.tolist(), groups, strict=True))
    floors = dict(zip(ear_keys.tolist(), ear_floors(ears, ear_keys).tolist(), strict=True))  # -inf: no series mode
    table_row = {} if ears is None else {k: e for e, k in enumerate(ears.ear_key.astype(str).tolist())}
    level = cohort.static_column("intensity_db").astype(np.float64)
    level_units = level_unit_labels(cohort)  # a mouse file is in dB SPL
    planned = plot_paths(cohort, plot_dir, series=series)
    for path in (p for paths in planned.values() for p in paths.values()):
        check_fname(path, overwrite=overwrite)
    written: list[Path] = []
    for key, paths in planned.items():
        idx = ear_rows[key]
        floor = floors[key]  # -inf without series mode: every level
        present = is_present(pred.peak_presence_prob[idx])  # (K, 3)
        read = level[idx] >= floor - 1e-6  # (K,) records the ear's reading has a response at
        lat = np.where(present & read[:, None], waves.latency_ms[idx], np.nan)
        fig, ax = plt.subplots(figsize=(4.0, 1.2 + 0.7 * len(idx)))
        thr: float | None = None
        if ears is None or table is None:
            title = f"{key}: records only\nper-ear threshold: --group-by patient_id,ear"
        else:
            row = table_row[key]
            thr = float(ears.threshold_db[row])
            words = f"{_threshold_words(table, row)}, P(no resp.) {ears.p_no_response[row]:.2f}"
            title = f"{key}: {ears.response[row]}\n{words}"  # two lines: fits the 4-inch figure
            if table["threshold_above_max_level"][row]:
                thr = None  # the placeholder "above the highest level": no level to draw
            hidden = int((present.any(axis=1) & ~read).sum())
            if hidden:  # "below this reading" was ambiguous to a clinician (hunt 44b #10)
                where = "the ear is read as no response" if np.isposinf(floor) else "below the threshold read"
                title += f"\n{hidden} record(s) with a possible wave left unmarked: {where}"
        plot_waterfall(ax, cohort.time_ms, cohort.signals[idx], level[idx], lat, title=title, threshold_db=thr)
        if title.count("\n") > 1:
            ax.title.set_fontsize(8)  # three lines in the 4-inch figure
        domain = domain_words(cohort, idx)
        _note_domain(fig, domain)
        with staged_write(paths["waterfall"], overwrite=overwrite) as staged:
            fig.savefig(staged, dpi=PLOT_DPI)
        plt.close(fig)
        written.append(paths["waterfall"])
        if series:
            fig, ax = plt.subplots(figsize=(4.5, 3.2))
            levels, lat_pts, sd_pts = ear_latency_points(pred, cohort, idx, floor)  # <out>.series.csv's points
            for j, (w, color) in enumerate(zip(WAVES, ("tab:blue", "tab:green", "tab:red"), strict=True)):
                seen = np.isfinite(lat_pts[:, j])
                ax.errorbar(
                    levels[seen], lat_pts[seen, j], yerr=sd_pts[seen, j], color=color,
                    marker="o", ms=4, lw=1, capsize=2, label=f"wave {w}",
                )  # fmt: skip
            if thr is not None:
                ax.axvline(thr, color="tab:orange", ls="--", lw=0.8, label=f"threshold {thr:.0f} dB")
            if not np.isfinite(lat_pts).any():  # say so, not empty axes around 0
                words = _no_points_words(floor, float(level[idx].max()))
                ax.text(0.5, 0.5, words, transform=ax.transAxes, ha="center", va="center", fontsize=8, color="gray")
                ax.set_ylim(0.0, 10.0)
            ax.set_xlim(float(level[idx].min()) - 5.0, float(level[idx].max()) + 5.0)
            ax.set_xlabel(f"intensity ({level_units[idx[0]]})")
            ax.set_ylabel("latency (ms)")
            ax.set_title(f"{key}: latency–intensity (±1 SD)", fontsize=9)
            if np.isfinite(lat_pts).any() or thr is not None:
                ax.legend(fontsize=7)
            _note_domain(fig, domain)
            with staged_write(paths["latency_intensity"], overwrite=overwrite) as staged:
                fig.savefig(staged, dpi=PLOT_DPI)
            plt.close(fig)
            written.append(paths["latency_intensity"])
    return written


def _no_points_words(floor: float, max_db: float) -> str:
    """What an empty latency–intensity plot says, by the ear's `reading_floor` and highest level ``max_db``."""
    if np.isposinf(floor):
        return "no response: no latency–intensity function"
    if floor > max_db + 1e-6:  # the placeholder threshold
        return f"no wave V up to {max_db:.0f} dB: no latency–intensity function"
    above = " at or above the threshold" if np.isfinite(floor) else ""
    return f"no wave with presence ≥ {PRESENCE_THRESHOLD:g}{above}"


def domain_words(cohort: ABRCohort, rows: np.ndarray) -> str:
    """What a figure of records ``rows`` says about the model's domain: "" where all are in it (or the cohort has
    no domain column), else "outside the model's domain: <distinct reasons>" (as <out>.series.csv's ``domain``)."""
    if "domain" not in cohort.extras:
        return ""
    reasons: dict[str, None] = {}
    for value in np.unique(np.asarray(cohort.extras["domain"]).astype(str)[rows]).tolist():
        if value != IN_DOMAIN:
            reasons.update(dict.fromkeys(value.split("; ")))
    return f"outside the model's domain: {'; '.join(reasons)}" if reasons else ""


def _note_domain(fig: Any, words: str) -> None:
    """Lay the figure out, with `domain_words` (wrapped, red) along its bottom edge when there are any."""
    if not words:
        fig.tight_layout()
        return
    # 7-pt characters per line: ~16 per inch of figure (DejaVu Sans averages ~0.06 in at 7 pt); 19 clipped both ends
    # of a narrow waterfall's footer (a 4.4-in figure, hunt 42)
    text = textwrap.fill(words, width=int(fig.get_figwidth() * 16))
    n_lines = text.count("\n") + 1
    bottom = min(0.5, (0.05 + 0.13 * n_lines) / fig.get_figheight())  # inches of text → figure fraction
    fig.text(0.5, 0.01, text, ha="center", va="bottom", fontsize=7, color="tab:red")
    fig.tight_layout(rect=(0.0, bottom, 1.0, 1.0))


def _threshold_words(table: dict[str, np.ndarray], row: int) -> str:
    """How a plot title states ear `row`'s series threshold (`series_columns` with the cohort): no number where it is
    the placeholder above the tested levels, "≤ L" where the ear shows a V at its lowest tested level, else the
    point and the 90 % interval the series table writes (an SD read "80 ± 20" where the table's interval was open
    above 80 dB, the highest level: hunt 48)."""
    if table["threshold_above_max_level"][row]:
        return f"no wave V up to {table['max_level_db'][row]:.0f} dB"
    if table["threshold_at_min_level"][row]:
        return f"threshold ≤ {table['min_level_db'][row]:.0f} dB (V at the lowest level)"
    lo, hi = table["threshold_lo_db"][row], table["threshold_hi_db"][row]  # the series table's 90 % interval
    span = f"{lo:.0f}–{hi:.0f}" if np.isfinite(hi) else f"≥ {lo:.0f}"  # hi empty: open above the highest level
    return f"threshold {table['threshold_db'][row]:.0f} dB (90 %: {span})"  # "80 ± 20" once, where the CSV said ≥ 80
