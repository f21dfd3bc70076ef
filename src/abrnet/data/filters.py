"""Zero-phase Butterworth filtering, written once: the simulator's recording band, the classical denoising
baselines, the input conditioning of user recordings and the generation metrics all filter through here.

Forward-backward filtering squares the magnitude response (effective order 2·order per edge) and removes the phase
delay that would otherwise shift wave latencies. numpy in, numpy out; (T,) or (N, T) inputs, filtered along time.
"""

from __future__ import annotations

import numpy as np
from scipy import signal as sps

from abrnet.constants import DEFAULT_SAMPLING_RATE_HZ


def butterworth_sos(fs: float, low: float | None, high: float | None, order: int) -> np.ndarray:
    """Second-order sections of a band-pass (both edges), high-pass (``high=None``) or low-pass (``low=None``)."""
    if low is None and high is None:
        raise ValueError("a filter needs a low edge, a high edge or both")
    lo_ok = low is None or 0 < low < fs / 2
    hi_ok = high is None or 0 < high < fs / 2
    if not (lo_ok and hi_ok) or (low is not None and high is not None and low >= high):
        raise ValueError(f"need 0 < low < high < fs/2, got low={low}, high={high}, fs={fs}")
    if low is not None and high is not None:
        return sps.butter(order, [low, high], btype="bandpass", fs=fs, output="sos")
    if low is not None:
        return sps.butter(order, low, btype="highpass", fs=fs, output="sos")
    return sps.butter(order, high, btype="lowpass", fs=fs, output="sos")


def zero_phase(signals: np.ndarray, sos: np.ndarray) -> np.ndarray:
    """Forward-backward filter each row with ``sos`` → same shape, float64."""
    x = np.asarray(signals, dtype=np.float64)
    if x.ndim not in (1, 2):
        raise ValueError(f"signals must be (T,) or (N, T), got shape {x.shape}")
    ntaps = 2 * len(sos) + 1 - min(int((sos[:, 2] == 0).sum()), int((sos[:, 5] == 0).sum()))
    padlen = None if x.shape[-1] > 3 * ntaps else x.shape[-1] - 1  # scipy's default unless the record is shorter
    return sps.sosfiltfilt(sos, x, axis=-1, padlen=padlen)


def zero_phase_gain(sos: np.ndarray, freqs_hz: np.ndarray, fs: float) -> np.ndarray:
    """|H(f)|², the magnitude response of a forward-backward pass with ``sos`` (for shaping noise spectra)."""
    _, h = sps.sosfreqz(sos, worN=freqs_hz, fs=fs)
    return np.abs(h) ** 2


def bandpass_filter(
    signals: np.ndarray,
    fs: float = DEFAULT_SAMPLING_RATE_HZ,
    low: float = 100.0,
    high: float = 3000.0,
    order: int = 2,
) -> np.ndarray:
    """Zero-phase band-pass (the clinical ABR band is ~100-3000 Hz) → same shape, float64."""
    return zero_phase(signals, butterworth_sos(fs, low, high, order))


def lowpass_filter(signals: np.ndarray, fs: float, cutoff_hz: float, order: int = 4) -> np.ndarray:
    """Zero-phase low-pass → same shape, float64; a copy when the cut-off is at or above Nyquist."""
    if cutoff_hz >= fs / 2:
        return np.asarray(signals, dtype=np.float64).copy()
    return zero_phase(signals, butterworth_sos(fs, None, cutoff_hz, order))
