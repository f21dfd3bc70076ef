"""Remove a recording's DC offset before the model reads it (on the model grid, after `abrnet.data.resample`).

Why: the model learnt from simulated records that are zero-mean (the median record mean of a simulated ear is at most
0.018 µV over 800 ears), while device exports carry amplifier offsets of several µV (an EPL export's columns: −2.4 …
−8.9 µV) that every clinical display hides by baseline-correcting. The model is sensitive to them: +0.2 µV on every
sample already moved hearing ears' thresholds, +0.25 µV made them "no response".

Why per ear: an amplifier offset is the recording session's, shared by the ear's records, while a single record's
mean can be large for a reason of its own (a myogenic burst, a slow transient: 0.4 % of simulated records exceed
0.1 µV). So an ear whose median record mean exceeds `MAX_BASELINE_OFFSET_UV` has every record's mean removed, and no
ear is read from a mix of corrected and uncorrected records (a per-record bound did that, and made 0.29 µV a
no-response ear and 0.31 µV a normal one). Ears within the bound are left exactly as they are, so a simulated file
reads back unchanged.
"""

from __future__ import annotations

import numpy as np

from abrnet.constants import MAX_BASELINE_OFFSET_UV
from abrnet.data.grouping import group_indices
from abrnet.data.schema import ABRCohort


def remove_baseline_offsets(
    cohort: ABRCohort, recorded: np.ndarray | None = None, *, bound_uv: float = MAX_BASELINE_OFFSET_UV
) -> tuple[ABRCohort, list[str]]:
    """`cohort` (on the model grid) with each record's mean over the model window removed in every ear whose median
    record mean exceeds ``bound_uv`` in size, and the warning to show (none when nothing was corrected).

    ``recorded`` (T,) bool marks the samples taken from the recording (`abrnet.data.resample.recorded_mask`; None:
    all): the mean is taken and removed there only, so the zeros the resampler padded neither dilute the offset nor
    become a step. Split buffers lose the same offset (A, B and (A + B) / 2 stay consistent; their difference, the
    noise estimate, is unchanged); the clean targets have no amplifier, so they are left alone. The input cohort is
    not modified: a corrected one shares no changed arrays with it.
    """
    signals = np.asarray(cohort.signals)  # (N, T) µV
    keep = np.ones(signals.shape[1], bool) if recorded is None else np.asarray(recorded, bool)
    if cohort.n_records == 0 or not keep.any():
        return cohort, []
    offset = signals[:, keep].astype(np.float64).mean(axis=1)  # (N,) µV
    ears = group_indices(cohort.ear_key.astype(str))[1]  # each ear's record rows: one pass, not one mask per ear
    median = np.array([np.median(offset[rows]) for rows in ears])  # (E,) µV
    ear_median = np.empty(cohort.n_records)
    for rows, m in zip(ears, median.tolist(), strict=True):
        ear_median[rows] = m
    fix = np.abs(ear_median) > bound_uv  # (N,) every record of an ear with an offset
    if not fix.any():
        return cohort, []
    shift = np.where(fix, offset, 0.0)[:, None] * keep[None, :]  # (N, T): only the recorded samples move
    out = cohort.subset(np.arange(cohort.n_records))
    out.signals = (signals - shift).astype(signals.dtype)
    if cohort.buffers is not None:
        out.buffers = (cohort.buffers - shift[:, None, :]).astype(cohort.buffers.dtype)  # (N, 2, T)
    fixed_ears = np.abs(median) > bound_uv
    largest = float(median[fixed_ears][np.argmax(np.abs(median[fixed_ears]))])
    warning = (
        f"{int(fixed_ears.sum())} ear(s), {int(fix.sum())} of {cohort.n_records} records, had a baseline offset above "
        f"{bound_uv:g} µV (median record mean; largest {largest:+.3g} µV); each record's mean over the model window "
        "was removed, as a clinical display does"
    )
    return out, [warning]
