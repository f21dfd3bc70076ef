"""Remove a recording's DC offset before the model reads it (on the model grid, after `abrnet.data.resample`).

Why: the model learnt from simulated records that are zero-mean to within `MAX_BASELINE_OFFSET_UV` (99.9 % of them
within 0.24 µV), while device exports carry amplifier offsets of several µV (an EPL export's columns: −2.4 … −8.9 µV)
that every clinical display hides by baseline-correcting. +0.5 µV on every sample turned hearing ears into "no
response". Records within the bound are left exactly as they are, so a simulated file reads back unchanged.
"""

from __future__ import annotations

import numpy as np

from abrnet.constants import MAX_BASELINE_OFFSET_UV
from abrnet.data.schema import ABRCohort


def remove_baseline_offsets(
    cohort: ABRCohort, recorded: np.ndarray | None = None, *, bound_uv: float = MAX_BASELINE_OFFSET_UV
) -> tuple[ABRCohort, list[str]]:
    """`cohort` (on the model grid) with the mean over the model window removed from every record whose mean
    exceeds ``bound_uv`` in size, and the warning to show (none when nothing was corrected).

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
    fix = np.abs(offset) > bound_uv
    if not fix.any():
        return cohort, []
    shift = np.where(fix, offset, 0.0)[:, None] * keep[None, :]  # (N, T): only the recorded samples move
    out = cohort.subset(np.arange(cohort.n_records))
    out.signals = (signals - shift).astype(signals.dtype)
    if cohort.buffers is not None:
        out.buffers = (cohort.buffers - shift[:, None, :]).astype(cohort.buffers.dtype)  # (N, 2, T)
    largest = float(offset[fix][np.argmax(np.abs(offset[fix]))])
    warning = (
        f"{int(fix.sum())} of {cohort.n_records} records had a baseline offset above {bound_uv:g} µV (largest "
        f"{largest:+.3g} µV); their mean over the model window was removed, as a clinical display does"
    )
    return out, [warning]
