"""Diagnostic figures of one evaluated split, written as PNG files.

Uses matplotlib's object API with the Agg canvas directly (no pyplot), so it works headless and never touches the
global backend of a caller's interactive session.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from abrnet.constants import CLASS_NAMES, WAVES
from abrnet.data.files import check_fname, staged_write
from abrnet.data.schema import ABRCohort
from abrnet.models.predictions import Predictions

N_EXAMPLES = 4
# the files `save_figures` writes, in its order: callers check them all before anything is written
FIGURE_NAMES = ("confusion_matrix.png", "latency_V.png", "threshold.png", "reconstructions.png")


def _new_figure(width: float = 5.0, height: float = 4.5) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: Path, *, overwrite: bool) -> Path:
    with staged_write(path, overwrite=overwrite) as staged:
        fig.savefig(staged, dpi=110)
    return path


def _no_data(ax: Axes, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()


def confusion_figure(pred: Predictions, data: ABRCohort) -> Figure:
    """Row-normalised confusion matrix (rows = truth) with the raw counts annotated."""
    k = len(CLASS_NAMES)
    known = data.class_id >= 0
    counts = np.zeros((k, k), dtype=int)
    np.add.at(counts, (data.class_id[known], np.argmax(pred.class_prob[known], axis=1)), 1)
    support = counts.sum(axis=1, keepdims=True)
    norm = np.divide(counts, support, out=np.zeros((k, k)), where=support > 0)
    fig = _new_figure(5.5, 5.0)
    ax = fig.add_subplot()
    im = ax.imshow(norm, vmin=0, vmax=1, cmap="Blues")
    for i in range(k):
        for j in range(k):
            ax.text(j, i, str(counts[i, j]), ha="center", va="center", color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xticks(range(k), CLASS_NAMES, rotation=45, ha="right")
    ax.set_yticks(range(k), CLASS_NAMES)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"Class per record (n = {int(known.sum())}), row-normalised")
    fig.colorbar(im, ax=ax, shrink=0.8)
    return fig


def _scatter(ax: Axes, truth: np.ndarray, hat: np.ndarray, unit: str, title: str) -> None:
    ok = np.isfinite(truth)
    if not ok.any():
        _no_data(ax, f"{title}: no labelled record")
        return
    t, h = truth[ok], hat[ok]
    lo, hi = float(min(t.min(), h.min())), float(max(t.max(), h.max()))
    pad = 0.05 * (hi - lo or 1.0)
    ax.scatter(t, h, s=8, alpha=0.5)
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], "k--", lw=1, label="identity")
    ax.set_xlabel(f"true ({unit})")
    ax.set_ylabel(f"predicted ({unit})")
    ax.set_title(f"{title} (n = {int(ok.sum())})")
    ax.legend(loc="upper left")


def latency_figure(pred: Predictions, data: ABRCohort, wave: str = "V") -> Figure:
    """Predicted vs true latency of one wave on the records where it is labelled."""
    j = WAVES.index(wave)
    fig = _new_figure()
    _scatter(fig.add_subplot(), data.latency_ms[:, j], pred.latency_ms[:, j], "ms", f"Wave {wave} latency")
    return fig


def threshold_figure(pred: Predictions, data: ABRCohort) -> Figure:
    """Predicted vs true threshold on records with a measurable threshold."""
    truth = np.where(data.no_response, np.nan, data.threshold_db.astype(np.float64))
    fig = _new_figure()
    _scatter(fig.add_subplot(), truth, pred.threshold_db, "dB", "Threshold")
    return fig


def reconstruction_figure(pred: Predictions, data: ABRCohort, n_examples: int = N_EXAMPLES, seed: int = 0) -> Figure:
    """A few records: observed, reconstruction, clean and denoised (each where available)."""
    n = min(n_examples, data.n_records)
    fig = _new_figure(7.0, 1.8 * max(n, 1) + 0.6)
    if n == 0:
        _no_data(fig.add_subplot(), "no record in split")
        return fig
    rows = np.sort(np.random.default_rng(seed).choice(data.n_records, size=n, replace=False))
    axes = fig.subplots(n, 1, sharex=True, squeeze=False)[:, 0]
    t = data.time_ms
    for ax, i in zip(axes, rows, strict=True):
        ax.plot(t, data.signals[i], color="0.6", lw=1, label="observed")
        if data.clean is not None:
            ax.plot(t, data.clean[i], color="k", lw=1.2, label="clean")
        if pred.reconstruction is not None:
            ax.plot(t, pred.reconstruction[i], color="tab:blue", lw=1, label="reconstruction")
        if pred.denoised is not None:
            ax.plot(t, pred.denoised[i], color="tab:red", lw=1, ls="--", label="denoised")
        ax.set_ylabel("µV")
        ax.set_title(f"{data.ear_key[i]}, {data.static_column('intensity_db')[i]:.0f} dB", fontsize=9)
    axes[0].legend(loc="upper right", fontsize=7, ncols=4)
    axes[-1].set_xlabel("time (ms)")
    return fig


def figure_paths(out_dir: str | Path) -> list[Path]:
    """The files `save_figures` writes into `out_dir` (`FIGURE_NAMES`)."""
    return [Path(out_dir) / name for name in FIGURE_NAMES]


def save_figures(pred: Predictions, data: ABRCohort, out_dir: str | Path, *, overwrite: bool = False) -> list[Path]:
    """Write the standard evaluation figures as PNGs into `out_dir` (created) and return their paths. An existing
    figure is replaced only with `overwrite` (`check_fname`); all are checked before the first is written."""
    paths = figure_paths(out_dir)
    for path in paths:
        check_fname(path, overwrite=overwrite)
    figures = (confusion_figure, lambda p, d: latency_figure(p, d, "V"), threshold_figure, reconstruction_figure)
    return [_save(make(pred, data), path, overwrite=overwrite) for make, path in zip(figures, paths, strict=True)]
