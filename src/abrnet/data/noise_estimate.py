"""Residual noise of a recording, estimated from the recording itself (what a user's file can tell).

Why not the simulator's σ: a user's file never carries it, and a model scored with it would be scored on an
oracle. Two estimates, best first, chosen per record (files read together may differ):

* ``split_buffers``: RMS of (A − B)/2 over the window, when the file keeps the two interleaved sub-averages
  (`abrnet.data.fmp.residual_noise_from_buffers`; ``extras["buffer_noise_uv"]`` where a cohort of several files
  could not keep the buffers themselves). Unbiased for the noise left in the grand average.
* ``late_window``: RMS (mean removed) of the last ``LATE_WINDOW_MS`` of the trace, where the click ABR has mostly
  returned to baseline. It includes whatever response is still there (a late infant wave V), so it overestimates
  the noise of strong, late responses; it is the fallback, and is labelled as such.

Both read only the samples taken from the recording (`abrnet.data.resample.recorded_samples`): a recording shorter
than the model window is zero-padded on the model grid, and padding read as noise gave 0.6–22 nV where the
recorded trace has 36–55 nV (hunt 42, #4), so denoising removed almost nothing. Where too few recorded samples
remain (`MIN_RECORDED_MS`), the noise is unknown: NaN, from ``missing`` (as ``fmp_source`` names an FMP nobody
measured), never a number read from padding. The late window stays at the end of the model window rather than
moving to the end of a short recording: earlier samples hold more of the response, so the estimate would become a
larger overestimate without saying so.
"""

from __future__ import annotations

import numpy as np

from abrnet.data.fmp import noise_trace, residual_noise_from_buffers
from abrnet.data.resample import BUFFER_NOISE_EXTRA, mask_groups, recorded_samples
from abrnet.data.schema import ABRCohort

LATE_WINDOW_MS: float = 1.5
# The fewest recorded samples an estimate rests on: half the late window. Why: an ABR's noise is band-limited to
# ~3 kHz, so 0.75 ms holds ~2·3 kHz·0.75 ms ≈ 4.5 independent values, and the SD of so few is already ~1/√9 ≈ 33 %
# uncertain (the full 1.5-ms window: ~24 %); with less, a number would look more exact than it is. At 20 kHz: 15
# samples (never below 4, the former floor of the window itself).
MIN_RECORDED_MS: float = 0.75
NOISE_METHODS: tuple[str, ...] = ("split_buffers", "late_window")
NOISE_MISSING = "missing"  # ``recording_noise_from`` of a record whose noise is unknown (NaN)


def buffer_noise_traces(cohort: ABRCohort) -> np.ndarray | None:
    """(N, T) float64 (A − B)/2 of each record (`noise_trace`), NaN rows where the record has no buffers; None when
    no record has. From ``cohort.buffers``, else from ``extras["buffer_noise_uv"]`` (`concat_cohorts` keeps it per
    record for a file whose buffers a cohort of several files could not keep)."""
    if cohort.buffers is not None:
        buf = np.asarray(cohort.buffers, dtype=np.float64)  # (N, 2, T)
        return noise_trace(buf[:, 0], buf[:, 1])
    stored = cohort.extras.get(BUFFER_NOISE_EXTRA)
    return None if stored is None else np.asarray(stored, dtype=np.float64)


def has_buffer_trace(traces: np.ndarray | None, n_records: int) -> np.ndarray:
    """(N,) bool: the records whose (A − B)/2 is known, a finite row of `buffer_noise_traces` (``traces``; None: no
    record has one). One answer for the noise estimate, the CM cue and `data describe`."""
    return np.zeros(n_records, bool) if traces is None else np.isfinite(traces).all(axis=1)


def _min_samples(sampling_rate_hz: float) -> int:
    return max(4, round(MIN_RECORDED_MS * sampling_rate_hz / 1000.0))


def _take(x: np.ndarray, rows: np.ndarray, window: np.ndarray) -> np.ndarray:
    """(R, T') float64 rows × window of ``x`` (N, T), as a contiguous copy, as the former whole-window slices were:
    numpy's sums over another layout differ in the last bit, and a full-window cohort must read exactly as before."""
    return np.ascontiguousarray(x[rows][:, window], dtype=np.float64)


def estimate_residual_noise(cohort: ABRCohort) -> tuple[np.ndarray, np.ndarray]:
    """(N,) residual-noise RMS in µV (NaN: unknown) and (N,) str where each came from: one of NOISE_METHODS, or
    NOISE_MISSING where fewer than `MIN_RECORDED_MS` of recorded samples remain to read it from."""
    n, fs = cohort.n_records, float(cohort.sampling_rate_hz)
    noise = np.full(n, np.nan)  # (N,) µV
    source = np.full(n, NOISE_MISSING, dtype=object)  # (N,)
    n_late = max(4, round(LATE_WINDOW_MS * fs / 1000.0))
    late = np.zeros(cohort.n_samples, bool)  # (T,)
    late[-n_late:] = True
    traces = buffer_noise_traces(cohort)  # (N, T) or None
    has_trace = has_buffer_trace(traces, n)  # (N,)
    # records sharing one set of recorded samples are read together (one set, all True, when nothing was padded)
    for members, keep in mask_groups(recorded_samples(cohort), n, cohort.n_samples):  # (G,) rows, (T,) bool
        for rows, method, window in (
            (members[has_trace[members]], "split_buffers", keep),
            (members[~has_trace[members]], "late_window", keep & late),
        ):
            if rows.size == 0 or window.sum() < _min_samples(fs):
                continue
            if method == "late_window":
                noise[rows] = _take(cohort.signals, rows, window).std(axis=1)
            elif cohort.buffers is not None:  # the sub-averages themselves, as always
                a, b = _take(cohort.buffers[:, 0], rows, window), _take(cohort.buffers[:, 1], rows, window)
                noise[rows] = residual_noise_from_buffers(a, b)
            elif traces is not None:  # the (A − B)/2 a cohort of several files kept per record
                noise[rows] = _take(traces, rows, window).std(axis=1)
            source[rows] = method
    return noise, source.astype(str)
