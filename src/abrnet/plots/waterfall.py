"""Clinical-style waterfall plots: one ear's intensity series stacked top (loud) to bottom (soft), peaks marked."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from abrnet.constants import CLASS_NAMES, WAVES
from abrnet.data.files import check_fname, staged_write
from abrnet.data.metadata import STIMULUS, STIMULUS_FREQ_HZ, metadata_of
from abrnet.data.schema import ABRCohort

_WAVE_COLORS = {"I": "tab:blue", "III": "tab:green", "V": "tab:red"}
MAX_UNLABELLED_SERIES = 6  # a readable figure; `abrnet serve` shows every series


def plot_waterfall(
    ax: plt.Axes,
    time_ms: np.ndarray,
    signals: np.ndarray,  # (K, T) µV
    levels_db: np.ndarray,  # (K,)
    latency_ms: np.ndarray | None = None,  # (K, 3), NaN = not marked
    *,
    title: str = "",
    threshold_db: float | None = None,
    spacing_uv: float | None = None,
) -> None:
    """Draw one series; traces ordered by level, loudest on top, as audiologists read them."""
    order = np.argsort(-levels_db)
    spacing = spacing_uv or max(0.6, 1.2 * float(np.percentile(np.ptp(signals, axis=1), 75)))
    for row, k in enumerate(order):
        offset = -row * spacing
        ax.plot(time_ms, signals[k] + offset, color="black", lw=0.8)
        ax.text(time_ms[-1] + 0.15, offset, f"{levels_db[k]:.0f} dB", va="center", fontsize=7)
        if latency_ms is not None:
            for j, wave in enumerate(WAVES):
                lat = latency_ms[k, j]
                if np.isfinite(lat):
                    y = np.interp(lat, time_ms, signals[k]) + offset
                    ax.plot(lat, y, "v", color=_WAVE_COLORS[wave], ms=5)
                    ax.text(lat, y + 0.12 * spacing, wave, color=_WAVE_COLORS[wave], fontsize=6, ha="center")
    if threshold_db is not None and np.isfinite(threshold_db):
        below = levels_db[order] < threshold_db
        if below.any() and not below.all():
            boundary = -(int(np.argmax(below)) - 0.5) * spacing
            ax.axhline(boundary, color="tab:orange", ls="--", lw=0.8)
            ax.text(time_ms[0], boundary, f" threshold {threshold_db:.0f} dB", color="tab:orange", fontsize=7)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("time (ms)")
    ax.set_yticks([])
    ax.set_xlim(time_ms[0], time_ms[-1] + 1.2)
    ax.plot([time_ms[0] + 0.2] * 2, [0.5 * spacing, 0.5 * spacing - 0.5], color="gray", lw=2)
    ax.text(time_ms[0] + 0.35, 0.5 * spacing - 0.25, "0.5 µV", fontsize=6, color="gray", va="center")


def pick_example_ears(cohort: ABRCohort, seed: int = 0) -> dict[str, np.ndarray]:
    """For each class present, the record indices of one ear with the longest series (a readable example)."""
    rng = np.random.default_rng(seed)
    keys = cohort.ear_key
    out: dict[str, np.ndarray] = {}
    for c, name in enumerate(CLASS_NAMES):
        ears, counts = np.unique(keys[cohort.class_id == c], return_counts=True)
        if len(ears) == 0:
            continue
        best = ears[counts >= counts.max() - 1]
        out[name] = np.flatnonzero(keys == best[rng.integers(len(best))])
    return out


def unlabelled_series(cohort: ABRCohort, max_series: int = MAX_UNLABELLED_SERIES) -> dict[str, np.ndarray]:
    """The first ``max_series`` series (ear and stimulus, in file order) → record indices: what a user's own,
    unlabelled recordings are plotted as. Stimuli are kept apart so one waterfall never mixes tone-pip frequencies."""
    meta = metadata_of(cohort.extras, cohort.n_records)
    freq = [f" {f:g} Hz" if np.isfinite(f) else "" for f in meta[STIMULUS_FREQ_HZ]]
    names = [
        f"{k}, {s}{f}" for k, s, f in zip(cohort.ear_key.astype(str), meta[STIMULUS].astype(str), freq, strict=True)
    ]
    keys = np.array(names)
    return {key: np.flatnonzero(keys == key) for key in list(dict.fromkeys(names))[:max_series]}


def plot_cohort_examples(cohort: ABRCohort, out: str | Path, *, seed: int = 0, overwrite: bool = False) -> Path:
    """One waterfall per class (one ear each) in a single figure; a cohort with no labelled class (a user's own
    recordings) gets one waterfall per series, titled by ear and stimulus, since there is no class to name. An
    existing `out` is replaced only with `overwrite` (`check_fname`, checked before anything is plotted)."""
    out = check_fname(out, overwrite=overwrite)
    examples = pick_example_ears(cohort, seed)
    labelled = bool(examples)
    if not labelled:
        examples = unlabelled_series(cohort)
    fig, axes = plt.subplots(1, len(examples), figsize=(3.2 * len(examples), 6.5), squeeze=False)
    for ax, (name, idx) in zip(axes[0], examples.items(), strict=True):
        age = cohort.static_column("age_years")[idx[0]]
        thr = cohort.threshold_db[idx[0]]
        nr = bool(cohort.no_response[idx[0]])
        title = f"{name}\n{cohort.patient_id[idx[0]]}/{cohort.ear[idx[0]]}, age {age:.0f} y, " + (
            "no response" if nr else f"thr {thr:.0f} dB"
        )
        if not labelled:
            title = f"{name}\nage {age:g} y" + ("" if np.isnan(thr) else f", thr {thr:.0f} dB")
        plot_waterfall(
            ax,
            cohort.time_ms,
            cohort.signals[idx],
            cohort.static_column("intensity_db")[idx],
            cohort.latency_ms[idx],
            title=title,
            threshold_db=None if nr else float(thr),
        )
    fig.tight_layout()
    with staged_write(out, overwrite=overwrite) as staged:
        fig.savefig(staged, dpi=120)
    plt.close(fig)
    return out
