"""Cochlear-microphonic residue: the waveform cue that tells a neuropathy (ANSD) ear from a totally deaf one.

Both show no ABR in most ears; what differs is the cochlea. An ANSD cochlea still produces a microphonic (CM), a
1–2 kHz ringing from ~0.3–1 ms that alternating polarity mostly, not wholly, cancels (reference §5, §8.6); a TOTAL
cochlea produces none. The network's per-record class head did not pick the residue up, so the series stage reads
one classical statistic from the waveform itself.

The statistic is a matched-filter (generalised likelihood ratio) detector of a damped sinusoid: the ear's loudest
records are band-passed and averaged, each weighted by the CM size it should carry (the CM grows 20 dB per 20 dB of
level, so a record 10 dB down holds a third of it), and projected on a bank of damped cosine/sine pairs spanning the
reference's CM (onset 0.3–1 ms, 1–2 kHz, decay 1.5–3 ms); the largest pair's power over the noise's power per sample
is the evidence. On class-balanced validation cohorts it separated ANSD from TOTAL ears better than the in-band energy
ratio it replaced (AUC 0.72 / 0.77 against 0.65 / 0.72 on two cohorts) and raised the series stage's per-ear class
macro-F1 on all four validation cohorts (+0.006 to +0.041).

The noise reference, best first (as `abrnet.data.noise_estimate`): the split buffers' (A − B)/2, averaged with the
same weights, over the same window; else the late window of the weighted average, where a click ABR has mostly
returned to baseline. The statistic is reported on a log scale with noise alone at ~0: its typical value for
band-passed white noise on the same grid is subtracted.
"""

from __future__ import annotations

import numpy as np

from abrnet.data.filters import butterworth_sos, zero_phase
from abrnet.data.schema import ABRCohort

CM_BAND_HZ: tuple[float, float] = (600.0, 3000.0)  # the CM's 1–2 kHz with margin; V (< ~600 Hz) mostly outside
CM_WINDOW_MS: tuple[float, float] = (0.3, 6.0)  # from the earliest onset until the longest ringing has faded
CM_FREQS_HZ: tuple[float, ...] = tuple(np.arange(1000.0, 2000.1, 100.0))  # reference §8.6: f ≈ 1–2 kHz
CM_ONSETS_MS: tuple[float, ...] = tuple(np.round(np.arange(0.3, 1.01, 0.1), 2))  # t0 = 0.3–1 ms
CM_DECAYS_MS: tuple[float, ...] = (1.5, 2.25, 3.0)  # τ = 1.5–3 ms
LATE_REFERENCE_MS = 6.5  # fallback noise reference: the average from here to the end
LOUD_SPAN_DB = 10.0  # records within this of the ear's highest level count as its loudest
FILTER_ORDER = 4
NOISE_DRAWS = 256  # band-passed white-noise traces that set the statistic's noise-alone zero


def cm_templates(time_ms: np.ndarray) -> np.ndarray:
    """(K, 2, W) unit-norm damped cosine and sine over `time_ms` (W,), one pair per onset × frequency × decay."""
    pairs = []
    for t0 in CM_ONSETS_MS:
        after = np.clip(time_ms - t0, 0.0, None)
        for f in CM_FREQS_HZ:
            phase = 2.0 * np.pi * f * after / 1000.0
            for tau in CM_DECAYS_MS:
                env = np.where(time_ms >= t0, np.exp(-after / tau), 0.0)
                pairs.append([env * np.cos(phase), env * np.sin(phase)])
    bank = np.asarray(pairs)  # (K, 2, W)
    return bank / np.maximum(np.linalg.norm(bank, axis=2, keepdims=True), 1e-12)


def _largest_pair_power(x: np.ndarray, bank: np.ndarray) -> np.ndarray:
    """(E,) the largest cosine² + sine² projection of each row of `x` (E, W) on the bank (K, 2, W)."""
    proj = np.einsum("ew,kpw->ekp", x, bank)  # (E, K, 2)
    return (proj**2).sum(axis=2).max(axis=1)


def _noise_alone_level(sos: np.ndarray, n_samples: int, window: np.ndarray, bank: np.ndarray) -> float:
    """Median of the statistic's ratio for band-passed white noise on this grid (fixed seed): its value for noise."""
    noise = zero_phase(np.random.default_rng(0).standard_normal((NOISE_DRAWS, n_samples)), sos)[:, window]
    return float(np.median(_largest_pair_power(noise, bank) / (noise**2).mean(axis=1)))


def loud_microphonic(cohort: ABRCohort, record_ear: np.ndarray, max_db: np.ndarray) -> np.ndarray:
    """(E,) the CM detector (module doc) over each ear's records within LOUD_SPAN_DB of its highest level: ~0 for
    noise alone, higher where a CM rings; 0 (no evidence) where the recording starts after the latest CM onset.

    record_ear: (N,) ear row of each record; max_db: (E,) each ear's highest level.
    """
    n_ears = max_db.shape[0]
    fs, t = cohort.sampling_rate_hz, cohort.time_ms
    window = (t >= CM_WINDOW_MS[0]) & (t < CM_WINDOW_MS[1])
    if t[0] > CM_ONSETS_MS[-1] or window.sum() < 4:  # a trace that misses the CM: no evidence either way
        return np.zeros(n_ears)
    sos = butterworth_sos(fs, CM_BAND_HZ[0], min(CM_BAND_HZ[1], 0.45 * fs), FILTER_ORDER)
    intensity = cohort.static[:, 1].astype(np.float64)
    below_top = intensity - max_db[record_ear]  # (N,) ≤ 0 dB
    weight = np.where(below_top >= -LOUD_SPAN_DB - 1e-6, 10.0 ** (below_top / 20.0), 0.0)  # expected CM size

    def weighted_average(x: np.ndarray) -> np.ndarray:  # (N, T') → (E, T')
        out = np.zeros((n_ears, x.shape[1]))
        np.add.at(out, record_ear, x * weight[:, None])
        return out / np.maximum(np.bincount(record_ear, weight, n_ears), 1e-12)[:, None]

    band = weighted_average(zero_phase(cohort.signals, sos))  # (E, T)
    if cohort.buffers is not None:
        noise = weighted_average(zero_phase((cohort.buffers[:, 0] - cohort.buffers[:, 1]) / 2.0, sos))[:, window]
    else:
        late = t >= LATE_REFERENCE_MS
        noise = band[:, late] if late.sum() >= 4 else band[:, -4:]  # (E, L)
    bank = cm_templates(t[window])
    ratio = _largest_pair_power(band[:, window], bank) / np.maximum((noise**2).mean(axis=1), 1e-24)
    return np.log(np.maximum(ratio, 1e-12) / _noise_alone_level(sos, t.size, window, bank))
