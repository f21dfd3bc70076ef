"""Averaged recordings as a device makes them: two interleaved sub-averages (A/B buffers) per record.

Why buffers: a user's file never carries the simulator's true residual noise, but many devices keep the two
sub-averages, and everything a tester or the model may know about the noise (FMP, residual noise) must come from
the recording. The simulator therefore computes FMP and the residual noise from its own A/B buffers with the same
functions (`abrnet.data.fmp`) that read a user's split-buffer file.

Noise model (§6, §8.8): each buffer averages half the sweeps, so its EEG residue has √2 × the grand average's RMS;
mains residue and the stimulus artifact are phase-locked and common to both; an artifact burst that slipped past
rejection sits in one buffer only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from abrnet.data.fmp import fmp_from_buffers, fmp_window, residual_noise_from_buffers
from abrnet.data.simulate import noise as nz


@dataclass
class NoisyChunk:
    buffers: np.ndarray  # (n, 2, T) A and B sub-averages, µV
    artifact: np.ndarray  # (n,) 0 none, 1 myogenic burst, 2 slow transient

    @property
    def average(self) -> np.ndarray:  # (n, T) the grand average a device shows
        return self.buffers.mean(axis=1)


def record_buffers(
    rng: np.random.Generator,
    clean: np.ndarray,  # (n, T) µV
    rn_uv: np.ndarray,  # (n,) RMS of the residual noise left in the grand average
    level_db: np.ndarray,  # (n,)
    t_ms: np.ndarray,  # (T,)
    *,
    sampling_rate_hz: float,
    noise_exponent: float,
    sos: np.ndarray,
    mains_hz: float,
    mains_max_uv: float,
    stimulus_artifact_uv: float,
    burst_probability: float,
) -> NoisyChunk:
    """Two sub-averages of each clean response; (A + B)/2 has residual-noise RMS ``rn_uv``."""
    n, t = clean.shape
    n_fft = int(2 ** np.ceil(np.log2(2 * t)))
    eeg = nz.shaped_noise(rng, 2 * n, n_fft, sampling_rate_hz, noise_exponent, sos)[:, :t].reshape(n, 2, t)
    carrier = nz.shaped_noise(rng, n, n_fft, sampling_rate_hz, 0.0, sos)[:, :t]
    burst, code = nz.bursts(rng, carrier, rn_uv, t_ms, burst_probability)
    common = nz.mains_residue(rng, n, t_ms, mains_hz, mains_max_uv)
    common += nz.stimulus_artifact(rng, level_db, t_ms, stimulus_artifact_uv)
    buffers = clean[:, None, :] + common[:, None, :] + eeg * (np.sqrt(2.0) * rn_uv)[:, None, None]
    in_a = rng.uniform(size=n) < 0.5
    buffers[np.arange(n), np.where(in_a, 0, 1)] += 2.0 * burst  # one buffer; the average gets `burst`
    return NoisyChunk(buffers=buffers.astype(np.float32), artifact=code.astype(np.int8))


def quality_from_buffers(buffers: np.ndarray, t_ms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(FMP over the detection window, residual-noise RMS over the whole window), both from the recording."""
    a, b = buffers[:, 0], buffers[:, 1]
    fmp = fmp_from_buffers(a, b, fmp_window(t_ms))  # `SimulationConfig` makes records reach the window
    return np.minimum(fmp, 1e6), residual_noise_from_buffers(a, b)


def visible_labels(
    lat: np.ndarray,  # (n, 3) peaks picked on the clean trace
    amp: np.ndarray,  # (n, 3)
    ptt: np.ndarray,  # (n,) V–V′ of the clean trace
    level_db: np.ndarray,  # (n,)
    rn_est_uv: np.ndarray,  # (n,) residual noise estimated from the recording's own buffers
    *,
    v_visibility_rn: float,
    early_wave_min_level_db: float,
    early_wave_visibility_rn: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Keep only the peaks an expert would mark in the noisy trace (§8.7); the rest become NaN.

    V: V–V′ above ``v_visibility_rn`` × the recording's residual noise. I and III: at high levels, above their own
    multiple of the noise, and only alongside a marked V. Nothing here reads an input of the model (FMP) or the
    simulator's true noise: the label is a function of the waveform and its own noise estimate.
    """
    v_ok = np.isfinite(lat[:, 2]) & (ptt > v_visibility_rn * rn_est_uv)
    early_ok = (
        np.isfinite(lat[:, :2])
        & (level_db >= early_wave_min_level_db)[:, None]
        & (amp[:, :2] > early_wave_visibility_rn * rn_est_uv[:, None])
        & v_ok[:, None]
    )
    keep = np.concatenate([early_ok, v_ok[:, None]], axis=1)
    return np.where(keep, lat, np.nan), np.where(keep, amp, np.nan)


def visible_threshold(ear: np.ndarray, level_db: np.ndarray, v_visible: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per record, its ear's threshold as an expert reads the series: the lowest level with a visible wave V.

    Returns (threshold_db (n,), NaN where the ear shows no V at any tested level; no_response (n,) bool).
    """
    n_ears = int(ear.max()) + 1 if ear.size else 0
    lowest = np.full(n_ears, np.inf)
    np.minimum.at(lowest, ear[v_visible], level_db[v_visible])
    thr = lowest[ear]
    none = ~np.isfinite(thr)
    return np.where(none, np.nan, thr), none
