"""Recording noise after averaging (§6, §8.8); FMP is computed from the A/B buffers (`abrnet.data.fmp`).

The residual EEG is shaped in the frequency domain (1/f^α times the zero-phase band-pass gain |H(f)|²), which
is the same spectrum a filtfilt of coloured noise would give, at the cost of one FFT pair per batch.
"""

from __future__ import annotations

import numpy as np

from abrnet.data.filters import butterworth_sos, zero_phase_gain


def bandpass_sos(sampling_rate_hz: float, band_hz: tuple[float, float], order: int) -> np.ndarray:
    """Butterworth band-pass, second-order sections (§8.5: 2nd order, 100–3000 Hz)."""
    return butterworth_sos(sampling_rate_hz, band_hz[0], band_hz[1], order)


def shaped_noise(
    rng: np.random.Generator,
    n: int,
    n_fft: int,
    sampling_rate_hz: float,
    exponent: float,
    sos: np.ndarray,
) -> np.ndarray:
    """(n, n_fft) Gaussian noise with power ∝ |H(f)|²/f^α and unit expected RMS."""
    freqs = np.fft.rfftfreq(n_fft, d=1.0 / sampling_rate_hz)
    shape = np.zeros_like(freqs)
    shape[1:] = freqs[1:] ** (-exponent / 2.0) * zero_phase_gain(sos, freqs[1:], sampling_rate_hz)
    # E[y²] = Σ_full |S_k|² / M (Parseval for a length-M white sequence of unit variance).
    weights = np.full_like(freqs, 2.0)
    weights[0] = 1.0
    if n_fft % 2 == 0:
        weights[-1] = 1.0
    shape /= np.sqrt(np.sum(weights * shape**2) / n_fft)
    white = rng.standard_normal((n, n_fft))  # (n, M)
    return np.fft.irfft(np.fft.rfft(white, axis=-1) * shape, n=n_fft, axis=-1)


def mains_residue(rng: np.random.Generator, n: int, t_ms: np.ndarray, freq_hz: float, max_uv: float) -> np.ndarray:
    """Averaged-out mains: a slow sinusoid of 0..max_uv with random phase (§6); (n, T)."""
    amp = rng.uniform(0.0, max_uv, n)
    phase = rng.uniform(0.0, 2 * np.pi, n)
    return amp[:, None] * np.sin(2e-3 * np.pi * freq_hz * t_ms[None, :] + phase[:, None])


def stimulus_artifact(rng: np.random.Generator, level_db: np.ndarray, t_ms: np.ndarray, size_uv: float) -> np.ndarray:
    """Residue of the click artifact at 0–0.5 ms after alternating-polarity cancellation (§6); (n, T)."""
    n = level_db.shape[0]
    amp = size_uv * rng.uniform(0.0, 1.0, n) * 10.0 ** ((level_db - 100.0) / 20.0)
    ring = np.exp(-np.clip(t_ms, 0.0, None) / 0.12) * np.cos(2e-3 * np.pi * 3000.0 * t_ms) * (t_ms >= 0)
    return amp[:, None] * ring[None, :]


def bursts(
    rng: np.random.Generator,
    noise_hf: np.ndarray,
    rn_uv: np.ndarray,
    t_ms: np.ndarray,
    probability: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Occasional artifacts that slipped past rejection (§6): a myogenic HF burst or a slow transient.

    `noise_hf` (n, T) is unit-RMS band-limited noise used as the burst carrier. Returns ((n, T) µV, (n,) code
    0 = none, 1 = myogenic burst, 2 = slow transient).
    """
    n = rn_uv.shape[0]
    u = rng.uniform(size=n)
    code = np.where(u < probability * 2 / 3, 1, np.where(u < probability, 2, 0))
    centre = rng.uniform(t_ms[0], t_ms[-1], n)
    width = rng.uniform(0.5, 2.0, n)
    env = np.exp(-0.5 * ((t_ms[None, :] - centre[:, None]) / width[:, None]) ** 2)  # (n, T)
    size = rn_uv * rng.uniform(2.0, 6.0, n)
    sign = rng.choice([-1.0, 1.0], n)
    out = np.where((code == 1)[:, None], size[:, None] * env * noise_hf * 2.0, 0.0)
    out += np.where((code == 2)[:, None], (sign * size * 1.5)[:, None] * env, 0.0)
    return out, code
