"""Remove a recording's DC offset and slow trend before the model reads it (on the model grid, after
`abrnet.data.resample`).

Why: device exports carry amplifier offsets of several µV (an EPL export's columns: −2.4 … −8.9 µV) that every
clinical display hides by baseline-correcting, and the model reads a record's mean: +0.25 µV on every sample made
hearing ears "no response". It reads much smaller ones too. On a fixed-protocol cohort (seed 778, 200 ears, the
shipped model), +0.02 µV on every record, below any bound a simulated ear would not pass (the median record mean of
a simulated ear of three or more records reaches 0.038 µV), took per-ear threshold within 10 dB from 0.83 to 0.80,
+0.04 µV to 0.74 (MAE 6.1 → 8.8 dB), and −0.04 µV to 0.85: the model learnt that a response lifts a record's mean,
and a device's baseline correction (another window, a high-pass filter) moves that mean by as much. The former rule
removed means only in ears beyond 0.05 µV and left these in, silently (stop-39 hunt A #1).

So every record loses its mean over the recorded part of the model window, always: a constant offset then changes
no reading. Its cost on clean simulated ears is what the model read from their natural means: within 10 dB 0.829
either way on that cohort (no-response F1 0.886 → 0.878) and 0.911 → 0.904 on a mixed-protocol one (seed 779; MAE
4.4 → 4.7 dB); `benchmarks/results/dc_offset.md` measures it on other seeds. Since stop 40 the network reads
every record centred in training and evaluation as well (`Normalizer.recording`), so a constant offset changes no
reading there either; this pass keeps the padded samples of a short record at zero and names the offsets worth
knowing.
An ear whose median record mean exceeds `MAX_BASELINE_OFFSET_UV` is still named in a warning: an offset that large
is the recording session's (an amplifier, an export without baseline correction), worth knowing. The median of one
or two records is a record's own, and a burst in it (0.4 % of simulated records exceed 0.1 µV) can pass the bound,
so the warning says when the evidence is one or two records.

Slow trend (`remove_slow_trends`): the same reasoning one step up. A drift, a slow wave or a mains cycle under a
10-ms window is a low-degree trend; the simulated records keep their degree-1..2 part below `MAX_LOW_FREQUENCY_UV`
(ear median). On a fixed-protocol cohort (`benchmarks/results/slow_trend.md`; the stop-29 model's figures, when this
rule was chosen: that table now holds the shipped model's, alike in kind) a 0.5 µV linear drift took threshold
within 10 dB from 0.82 to 0.36 and no-response F1 from 0.87 to 0.48; with the trend removed, 0.77 and 0.87. Removing
it everywhere costs clean ears (0.82 → 0.77: a response has slow waves of its own), so only ears beyond the bound
lose it, every record of the ear alike, and the domain column still says what was wrong
(`abrnet.inference.signal_quality`). Hum and slow waves bend beyond degree 2 over 10 ms: an ear whose degree-3..4
part is large too gets a degree-4 fit (0.5 µV of 50 Hz hum: 0.10 → 0.64 within 10 dB, 0.66 → 0.83 no-response F1;
0.2 µV hum improves less, 0.36–0.47 → 0.53–0.55).
"""

from __future__ import annotations

import numpy as np
from numpy.polynomial import legendre

from abrnet.constants import (
    DEFAULT_SAMPLING_RATE_HZ,
    LOW_FREQUENCY_DEGREE,
    MAX_BASELINE_OFFSET_UV,
    MAX_LOW_FREQUENCY_UV,
    MIN_LOW_FREQUENCY_RECORDS,
)
from abrnet.data.grouping import group_indices
from abrnet.data.resample import mask_groups
from abrnet.data.schema import ABRCohort

SHORT_EAR_RECORDS = 2  # an ear of this many records or fewer has no median of its own to tell an offset by
# A flagged ear whose records' degree-3..4 Legendre part (ear median RMS) exceeds `MIN_CURVED_TREND_UV` has its trend
# fitted up to `CURVED_TREND_DEGREE`: mains hum and slow waves bend beyond degree 2 over 10 ms, a drift does not.
# Chosen on a seed-778 fixed cohort (not the benchmark's 777): drifted ears' part is 0.013-0.042 µV (10th-90th
# percentile), 0.2 µV hum's 0.043-0.075. Degree 4 everywhere cost drifted ears (within 10 dB 0.77 -> 0.59); degree
# 2 left hum (no-response F1 0.50 at 0.5 µV of 50 Hz; degree 4: 0.83).
CURVED_TREND_DEGREE = 4
MIN_CURVED_TREND_UV = 0.045


def _shifted(cohort: ABRCohort, shift: np.ndarray) -> ABRCohort:
    """A copy of `cohort` with ``shift`` (N, T) µV taken from every record and from both its split buffers, so A, B
    and (A + B) / 2 stay consistent and their difference, the noise estimate, is unchanged. The clean targets have
    no amplifier and are left alone; the input cohort shares no changed array with the copy."""
    out = cohort.subset(np.arange(cohort.n_records))
    out.signals = (np.asarray(cohort.signals) - shift).astype(cohort.signals.dtype)
    if cohort.buffers is not None:
        out.buffers = (cohort.buffers - shift[:, None, :]).astype(cohort.buffers.dtype)  # (N, 2, T)
    return out


def remove_baseline_offsets(
    cohort: ABRCohort, recorded: np.ndarray | None = None, *, bound_uv: float = MAX_BASELINE_OFFSET_UV
) -> tuple[ABRCohort, list[str]]:
    """`cohort` (on the model grid) with each record's mean over the model window removed, and a warning naming the
    ears whose median record mean exceeded ``bound_uv`` in size (none when no ear did).

    ``recorded`` (T,) or (N, T) bool marks the samples taken from the recording (`abrnet.data.resample.recorded_mask`,
    or per record `recorded_samples`; None: all): the mean is taken and removed there only, so the zeros the
    resampler padded neither dilute the offset nor become a step (a record with nothing recorded keeps its samples).
    Split buffers lose the same offset (A, B and (A + B) / 2 stay consistent; their difference, the noise estimate,
    is unchanged); the clean targets have no amplifier, so they are left alone. The input cohort is not modified:
    the returned one shares no changed arrays with it.
    """
    signals = np.asarray(cohort.signals)  # (N, T) µV
    groups = [(rows, keep) for rows, keep in mask_groups(recorded, *signals.shape) if keep.any()]
    if cohort.n_records == 0 or not groups:
        return cohort, []
    offset = np.zeros(cohort.n_records)  # (N,) µV
    moved = np.zeros(signals.shape, bool)  # (N, T): only the recorded samples move
    for rows, keep in groups:
        offset[rows] = signals[rows][:, keep].astype(np.float64).mean(axis=1)
        moved[rows] = keep
    out = _shifted(cohort, offset[:, None] * moved)
    ears = group_indices(cohort.ear_key.astype(str))[1]  # each ear's record rows: one pass, not one mask per ear
    median = np.array([np.median(offset[rows]) for rows in ears])  # (E,) µV
    named = np.abs(median) > bound_uv  # (E,)
    if not named.any():
        return out, []
    largest = float(median[named][np.argmax(np.abs(median[named]))])
    short = sum(rows.size <= SHORT_EAR_RECORDS for rows, f in zip(ears, named, strict=True) if f)
    n_records = sum(rows.size for rows, f in zip(ears, named, strict=True) if f)
    warning = (
        f"{int(named.sum())} ear(s), {n_records} of {cohort.n_records} records, had a baseline offset above "
        f"{bound_uv:g} µV (median record mean; largest {largest:+.3g} µV); each record's mean over the model window "
        "was removed, as a clinical display does (as from every record: the model reads a record's mean)"
    )
    if short:  # the median of one or two records is theirs: a burst in one is no amplifier's offset
        warning += (
            f" ({short} of these ear(s) have {SHORT_EAR_RECORDS} records or fewer, where one record's burst cannot be "
            "told from an offset)"
        )
    return out, [warning]


def slow_trend(x: np.ndarray, t_ms: np.ndarray, degree: int = LOW_FREQUENCY_DEGREE) -> tuple[np.ndarray, np.ndarray]:
    """(N, T') the degree-1..``degree`` Legendre trend of each record of ``x`` (N, T') µV sampled at ``t_ms`` (T',),
    and (N, T') the records with their mean and that trend removed. Legendre polynomials over the span are
    orthogonal, so the trend's RMS is the slow content alone, not the mean's."""
    span = max(float(t_ms[-1] - t_ms[0]), 1e-12)
    basis = legendre.legvander(2.0 * (t_ms - t_ms[0]) / span - 1.0, degree)  # (T', D + 1)
    coef = np.linalg.lstsq(basis, np.asarray(x, np.float64).T, rcond=None)[0]  # (D + 1, N)
    trend = (basis[:, 1:] @ coef[1:]).T  # (N, T')
    return trend, x - (basis @ coef).T


def ear_slow_content(slow_uv: np.ndarray, ear_key: np.ndarray) -> np.ndarray:
    """(N,) each record's ear median of ``slow_uv`` (N,), NaN where the ear has fewer than
    `MIN_LOW_FREQUENCY_RECORDS` records (the median of two or three loud responses is their own slow waves)."""
    out = np.full(slow_uv.shape[0], np.nan)
    for rows in group_indices(np.asarray(ear_key).astype(str))[1]:
        if rows.size >= MIN_LOW_FREQUENCY_RECORDS:
            out[rows] = np.median(slow_uv[rows])
    return out


def remove_slow_trends(
    cohort: ABRCohort, recorded: np.ndarray | None = None, *, bound_uv: float = MAX_LOW_FREQUENCY_UV
) -> tuple[ABRCohort, list[str]]:
    """`cohort` (on the model grid) with each record's mean and slow trend (`slow_trend`) removed in every ear whose
    median trend RMS exceeds ``bound_uv`` (`ear_slow_content`), and the warning to show (none when nothing was
    corrected). ``recorded`` as in `remove_baseline_offsets`: the trend is fitted and removed on the recorded samples
    only, each record on its own (a record with too few recorded samples to fit has no trend to tell, and its ear
    none). Split buffers lose the record's trend too (their difference, the noise estimate, is unchanged). The input
    cohort is not modified."""
    signals = np.asarray(cohort.signals)  # (N, T) µV
    groups = [(r, k) for r, k in mask_groups(recorded, *signals.shape) if k.sum() > LOW_FREQUENCY_DEGREE + 1]
    if cohort.n_records == 0 or not groups:
        return cohort, []
    slow, fits = np.full(cohort.n_records, np.nan), []  # (N,) trend RMS µV; per group: its fits
    for rows, keep in groups:
        t_ms = np.flatnonzero(keep) * 1000.0 / DEFAULT_SAMPLING_RATE_HZ  # (T',) the model grid's times
        trend, detrended = slow_trend(signals[rows][:, keep], t_ms)
        slow[rows] = trend.std(axis=1)
        fits.append((t_ms, trend, detrended))
    ear = ear_slow_content(slow, cohort.ear_key)  # (N,) µV
    fix = ear > bound_uv  # NaN (too few records) compares False
    if not fix.any():
        return cohort, []
    beyond, wide_fits = np.full(cohort.n_records, np.nan), {}  # (N,) degree 3..4 part (orthogonal)
    for g, ((rows, keep), (t_ms, trend, _)) in enumerate(zip(groups, fits, strict=True)):
        if keep.sum() > CURVED_TREND_DEGREE + 1:  # hum or a slow wave bends beyond degree 2: fit up to degree 4
            wide, wide_fits[g] = slow_trend(signals[rows][:, keep], t_ms, CURVED_TREND_DEGREE)
            beyond[rows] = (wide - trend).std(axis=1)
    curved = fix & (ear_slow_content(beyond, cohort.ear_key) > MIN_CURVED_TREND_UV)
    shift = np.zeros(signals.shape, np.float64)  # (N, T): only the recorded samples of the fixed ears move
    for g, ((rows, keep), (_, _, detrended)) in enumerate(zip(groups, fits, strict=True)):
        if g in wide_fits:
            detrended[curved[rows]] = wide_fits[g][curved[rows]]
        here = fix[rows]
        shift[np.ix_(rows[here], keep)] = signals[rows[here]][:, keep] - detrended[here]
    out = _shifted(cohort, shift)
    keys = np.asarray(cohort.ear_key).astype(str)
    n_ears, n_curved = len(set(keys[fix].tolist())), len(set(keys[curved].tolist()))
    warning = (
        f"{n_ears} ear(s), {int(fix.sum())} of {cohort.n_records} records, had low-frequency content above "
        f"{bound_uv:g} µV RMS (ear median {float(np.nanmax(ear[fix])):.2g} µV at most: drift, a slow wave or mains "
        f"hum); each record's mean and degree-1..{LOW_FREQUENCY_DEGREE} trend over the window (degree "
        f"1..{CURVED_TREND_DEGREE} in {n_curved} ear(s) whose trend bends more: hum, a slow wave) were removed before "
        "the model read it, as a detrend option does (readings of these ears are less certain: see the domain column)"
    )
    return out, [warning]
