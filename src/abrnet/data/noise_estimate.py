"""Residual noise of a recording, estimated from the recording itself (what a user's file can tell).

Why not the simulator's σ: a user's file never carries it, and a model scored with it would be scored on an
oracle. Two estimates, best first:

* ``split_buffers``: RMS of (A − B)/2 over the window, when the file keeps the two interleaved sub-averages
  (`abrnet.data.fmp.residual_noise_from_buffers`). Unbiased for the noise left in the grand average.
* ``late_window``: RMS (mean removed) of the last ``LATE_WINDOW_MS`` of the trace, where the click ABR has mostly
  returned to baseline. It includes whatever response is still there (a late infant wave V), so it overestimates
  the noise of strong, late responses; it is the fallback, and is labelled as such.
"""

from __future__ import annotations

import numpy as np

from abrnet.data.fmp import residual_noise_from_buffers
from abrnet.data.schema import ABRCohort

LATE_WINDOW_MS: float = 1.5
NOISE_METHODS: tuple[str, ...] = ("split_buffers", "late_window")


def estimate_residual_noise(cohort: ABRCohort) -> tuple[np.ndarray, str]:
    """(N,) residual-noise RMS in µV and the method used (one of NOISE_METHODS)."""
    if cohort.buffers is not None:
        return residual_noise_from_buffers(cohort.buffers[:, 0], cohort.buffers[:, 1]), "split_buffers"
    n_late = max(4, round(LATE_WINDOW_MS * cohort.sampling_rate_hz / 1000.0))
    late = np.asarray(cohort.signals[:, -n_late:], dtype=np.float64)
    return late.std(axis=1), "late_window"
