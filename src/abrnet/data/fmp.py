"""Response-quality estimates from split-buffer (A/B) sub-averages.

Many systems keep two interleaved sub-averages of a recording: buffer A holds the odd sweeps, buffer B the even ones.
The response is (ideally) identical in both while the background EEG noise is independent, so

* the grand average ``(A + B) / 2`` contains response + residual noise, and
* the "plus-minus" difference ``(A - B) / 2`` contains residual noise only, with the same variance as the noise
  left in the grand average (when A and B average the same number of sweeps).

The ratio of their variances over time is an F-like statistic in the spirit of Elberling & Don's Fsp/Fmp
(Scand Audiol 1984; Don & Elberling 1994): about 1 when there is no response, much larger than 1 when a response
stands out of the noise. It is *not* the single-point-variance Fsp (which needs the individual sweeps, not stored by
most exports); it is the split-buffer approximation many clinical systems report. Assumptions: equal sweep counts
in A and B, noise independent between buffers and stationary over the window, response phase-locked and identical
in both buffers. Samples are treated as independent, so the value is not a calibrated F test (ABR samples are
correlated by the band-pass filter); use it as a monotone quality index, as the simulator's `fmp` column does.
"""

from __future__ import annotations

import numpy as np

Window = slice | tuple[int, int] | None

# Where FMP is measured, ms after the stimulus: the wave-V region (Elberling & Don's Fsp point at ~5–6 ms), up to the
# end of the model window. One window for the simulator and every reader: an FMP of the whole record (a wide CSV's
# buffers) or of 0–10 ms (SmartEP) is another statistic, 30–50 % off the scale the model was trained on.
FMP_WINDOW_MS: tuple[float, float] = (4.0, 10.0)
# ``attrs["fmp_source"]`` of a cohort: FMP computed here from split buffers, read from the file ("device"), passed by
# the caller ("given"), or none at all. The wide CSV joins two with "+" when its rows differ.
FMP_FROM_BUFFERS = "split_buffers"
FMP_SOURCES: tuple[str, ...] = (FMP_FROM_BUFFERS, "device", "given", "missing")


def fmp_window(t_ms: np.ndarray, window_ms: tuple[float, float] = FMP_WINDOW_MS) -> slice | None:
    """Sample indices of ``window_ms`` (both ends included) on the time axis ``t_ms``; None where fewer than two
    samples fall in it (the recording does not reach the wave-V region: no FMP can be measured)."""
    idx = np.flatnonzero((np.asarray(t_ms) >= window_ms[0]) & (np.asarray(t_ms) <= window_ms[1]))
    return slice(int(idx[0]), int(idx[-1]) + 1) if idx.size >= 2 else None


def _pair(buf_a: np.ndarray, buf_b: np.ndarray, window: Window) -> tuple[np.ndarray, np.ndarray]:
    a = np.atleast_2d(np.asarray(buf_a, dtype=np.float64))
    b = np.atleast_2d(np.asarray(buf_b, dtype=np.float64))
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"buffers must be (N, T) arrays of the same shape, got {a.shape} and {b.shape}")
    if window is not None:
        sl = window if isinstance(window, slice) else slice(int(window[0]), int(window[1]))
        a, b = a[:, sl], b[:, sl]
    if a.shape[1] < 2:
        raise ValueError(f"window keeps {a.shape[1]} samples; need at least 2")
    return a, b


def noise_trace(buf_a: np.ndarray, buf_b: np.ndarray) -> np.ndarray:
    """The plus-minus trace ``(A - B) / 2``: the residual noise of the grand average with the response cancelled
    (module docstring), in the buffers' unit and dtype. One definition for FMP, the noise RMS, the training's
    waveless negatives and the evaluation's noise-only counterfactuals, so they all measure the same noise."""
    return (buf_a - buf_b) / 2.0


def residual_noise_from_buffers(buf_a: np.ndarray, buf_b: np.ndarray, window: Window = None) -> np.ndarray:
    """RMS (same unit as the buffers, µV) of the residual noise in the grand average, from ``(A - B) / 2``.

    The DC offset is removed first so a baseline drift common to both buffers does not count as noise.
    """
    a, b = _pair(buf_a, buf_b, window)
    return np.sqrt(np.var(noise_trace(a, b), axis=1))


def fmp_from_buffers(buf_a: np.ndarray, buf_b: np.ndarray, window: Window = None) -> np.ndarray:
    """Split-buffer Fmp estimate per record, shape (N,): var_t((A+B)/2) / var_t((A-B)/2).

    ``window`` (a slice or ``(start, stop)`` sample indices) restricts both variances to the response window, e.g.
    0–10 ms after the stimulus; ``None`` uses every sample. About 1 for noise only, ≫ 1 with a response. A record
    whose buffers are identical (zero noise estimate) gives ``inf``; callers that need a finite value must check.
    """
    a, b = _pair(buf_a, buf_b, window)
    signal_var = np.var((a + b) / 2.0, axis=1)
    noise_var = np.var(noise_trace(a, b), axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = signal_var / noise_var
    return np.where(noise_var > 0, ratio, np.inf)


def buffer_fmp(buffers: np.ndarray, window: Window = None) -> np.ndarray:
    """(N,) float32 `fmp_from_buffers` of (N, 2, T) split buffers over ``window``, NaN where none can be measured
    (identical buffers: no noise estimate), never ``inf``: the value every reader stores in the ``fmp`` column, with
    ``attrs["fmp_source"] = FMP_FROM_BUFFERS``. A finite ratio too large for float32 stays ``inf`` there, so
    validation reports it out of range like any other."""
    computed = fmp_from_buffers(buffers[:, 0], buffers[:, 1], window)
    return np.where(np.isfinite(computed), computed, np.nan).astype(np.float32)
