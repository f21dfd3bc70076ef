"""Cochlear-microphonic residue: the waveform cue that tells a neuropathy (ANSD) ear from a totally deaf one.

Both show no ABR in most ears; what differs is the cochlea. An ANSD cochlea still produces a microphonic (CM), a
1–2 kHz ringing from ~0.3–1 ms that alternating polarity mostly, not wholly, cancels (reference §5, §8.6); a TOTAL
cochlea produces none. The network's per-record class head did not pick the residue up, so the series stage reads
one classical statistic from the waveform itself.

The statistic is a generalised likelihood-ratio detector of a damped sinusoid in coloured noise, over the ear's
loudest records (within LOUD_SPAN_DB of its highest level):
- each record is band-passed after its first 0.1–0.3 ms are tapered to zero, so the click's electrical artifact
  (0–0.5 ms, common to both buffers, 3 kHz) cannot ring into the window through the filter;
- the band-passed EEG noise is far from white, so records and templates are whitened by the noise's own
  autocorrelation (pooled over these records' noise references, unit variance each, ridge-regularised Toeplitz);
- each record's projections on a bank of (band-passed, whitened, orthonormal) damped cosine/sine pairs spanning the
  reference's CM (onset 0.3–1 ms, 1–2 kHz, decay 1.5–3 ms) are combined coherently with weights a/σ, the CM size
  the record should carry (it grows 20 dB per 20 dB of level) over its own noise: the matched combination when the
  records' noise differs;
- the largest pair's power, in units of the noise, on a log scale with noise alone at ~0 (the median for white
  Gaussian noise in the whitened space is subtracted).

The noise reference, best first (as `abrnet.data.noise_estimate`): each record's split buffers' (A − B)/2 over the
same window; else the record's late window, where a click ABR has mostly returned to baseline. The two kinds are
whitened apart (`loud_microphonic`).

Chosen on four class-balanced validation cohorts (never a test split) against the unwhitened, unweighted average
it replaced: ANSD-vs-TOTAL AUC 0.709 → 0.744 (mean of the four; 0.695 → 0.708 for files without split buffers).
A reader that knew each loud record's noise-free CM would reach 0.93 on the fixed protocol and 0.81–0.83 on the
mixed one (benchmarks/microphonic_ceiling.py); the rest is the price of not knowing the CM's onset, frequency and
decay (benchmarks/results/config_choice.md).
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import cholesky, solve_triangular, toeplitz

from abrnet.data.filters import butterworth_sos, zero_phase
from abrnet.data.noise_estimate import buffer_noise_traces, has_buffer_trace
from abrnet.data.resample import recorded_samples
from abrnet.data.schema import ABRCohort

CM_BAND_HZ: tuple[float, float] = (600.0, 3000.0)  # the CM's 1–2 kHz with margin; V (< ~600 Hz) mostly outside
CM_WINDOW_MS: tuple[float, float] = (0.3, 6.0)  # from the earliest onset until the longest ringing has faded
CM_FREQS_HZ: tuple[float, ...] = tuple(np.arange(1000.0, 2000.1, 100.0))  # reference §8.6: f ≈ 1–2 kHz
CM_ONSETS_MS: tuple[float, ...] = tuple(np.round(np.arange(0.3, 1.01, 0.1), 2))  # t0 = 0.3–1 ms
CM_DECAYS_MS: tuple[float, ...] = (1.5, 2.25, 3.0)  # τ = 1.5–3 ms
ARTIFACT_TAPER_MS: tuple[float, float] = (0.1, 0.3)  # zero before the first, a linear ramp up to the second
LATE_REFERENCE_MS = 6.5  # fallback noise reference: each record from here to the end
LOUD_SPAN_DB = 10.0  # records within this of the ear's highest level count as its loudest
FILTER_ORDER = 4
WHITENING_RIDGE = 1e-2  # added to the unit-variance noise correlation: band-passed noise is nearly singular
NOISE_DRAWS = 256  # white Gaussian draws in the whitened space that set the statistic's noise-alone zero


def cm_templates(time_ms: np.ndarray) -> np.ndarray:
    """(K, 2, T) damped cosine and sine over `time_ms` (T,), one pair per onset × frequency × decay (unscaled)."""
    pairs = []
    for t0 in CM_ONSETS_MS:
        after = np.clip(time_ms - t0, 0.0, None)
        for f in CM_FREQS_HZ:
            phase = 2.0 * np.pi * f * after / 1000.0
            for tau in CM_DECAYS_MS:
                env = np.where(time_ms >= t0, np.exp(-after / tau), 0.0)
                pairs.append([env * np.cos(phase), env * np.sin(phase)])
    return np.asarray(pairs)


def noise_whitener(noise: np.ndarray, n_samples: int) -> np.ndarray:
    """(W, W) lower Cholesky factor L of the noise's correlation, so that L⁻¹ whitens it.

    noise: (R, L) noise references (any L ≥ 2); each row is scaled to unit variance and their biased autocorrelation
    pooled (positive semi-definite by construction; lags ≥ L are 0), then a ridge makes the Toeplitz matrix
    invertible."""
    rms = np.sqrt((noise**2).mean(axis=1, keepdims=True))
    u = noise[rms[:, 0] > 0] / rms[rms[:, 0] > 0]  # (R', L)
    length = u.shape[1]
    ac = np.zeros(n_samples)
    if u.size:
        for lag in range(min(length, n_samples)):
            ac[lag] = float(np.sum(u[:, : length - lag] * u[:, lag:])) / u.size
    else:  # no noise to learn from: white
        ac[0] = 1.0
    return cholesky(toeplitz(ac) + WHITENING_RIDGE * np.eye(n_samples), lower=True)


def _orthonormal_pairs(bank: np.ndarray) -> np.ndarray:
    """(K, 2, W) → the same pairs, each an orthonormal basis of its own span (QR per pair)."""
    return np.stack([np.linalg.qr(pair.T)[0].T for pair in bank])


def loud_microphonic(cohort: ABRCohort, record_ear: np.ndarray, max_db: np.ndarray) -> np.ndarray:
    """(E,) the CM detector (module doc) over each ear's records within LOUD_SPAN_DB of its highest level: ~0 for
    noise alone, higher where a CM rings; 0 (no evidence) where the recording starts after the latest CM onset.

    record_ear: (N,) ear row of each record; max_db: (E,) each ear's highest level.

    Records with split buffers (`abrnet.data.noise_estimate.buffer_noise_traces`, per record) and those without are
    whitened apart, each kind on its own noise references: a file's reading then does not change when a file of the
    other kind is read with it (hunt 42, #1), and a cohort of one kind reads as it always did. Records padded alike
    on the model grid (`abrnet.data.resample.recorded_samples`) pool together, their references read over recorded
    samples only (a short recording's late window read as zeros made its noise look tiny and the cue huge). An ear
    with records in several pools adds them coherently and takes the noise-alone zero of the pool weighing most.
    """
    n_ears = max_db.shape[0]
    fs, t = cohort.sampling_rate_hz, cohort.time_ms
    window = (t >= CM_WINDOW_MS[0]) & (t < CM_WINDOW_MS[1])
    if t[0] > CM_ONSETS_MS[-1] or window.sum() < 4:  # a trace that misses the CM: no evidence either way
        return np.zeros(n_ears)
    sos = butterworth_sos(fs, CM_BAND_HZ[0], min(CM_BAND_HZ[1], 0.45 * fs), FILTER_ORDER)
    intensity = cohort.static[:, 1].astype(np.float64)
    below_top = intensity - max_db[record_ear]  # (N,) ≤ 0 dB
    rows = np.flatnonzero(below_top >= -LOUD_SPAN_DB - 1e-6)  # (R,) the loudest records
    taper = np.clip((t - ARTIFACT_TAPER_MS[0]) / (ARTIFACT_TAPER_MS[1] - ARTIFACT_TAPER_MS[0]), 0.0, 1.0)  # (T,)
    band = zero_phase(cohort.signals[rows] * taper, sos)  # (R, T)
    traces = buffer_noise_traces(cohort)  # (N, T) float64, NaN rows: no buffers; None: no record has any
    has_trace = has_buffer_trace(traces, cohort.n_records)[rows]  # (R,)
    recorded = recorded_samples(cohort)[rows]  # (R, T) bool: padding is no noise reference
    pools = np.unique(np.column_stack([has_trace, recorded]), axis=0, return_inverse=True)[1].reshape(-1)  # (R,)
    bank = zero_phase(cm_templates(t).reshape(-1, t.size), sos)[:, window]  # (2K, W) as the records are filtered
    combined, norm = np.zeros((n_ears, len(bank) // 2, 2)), np.zeros(n_ears)  # (E, K, 2), (E,)
    alone, heaviest = np.ones(n_ears), np.zeros(n_ears)  # (E,) noise-alone zero, from the pool weighing most
    late = t >= LATE_REFERENCE_MS
    for pool in np.unique(pools):
        kind = pools == pool  # (R,)
        keep = recorded[np.flatnonzero(kind)[0]]  # (T,)
        if has_trace[kind][0]:  # (A − B)/2 in the buffers' float32, exactly as the buffers give it
            noise = zero_phase(traces[rows[kind]].astype(np.float32), sos)[:, window & keep]  # type: ignore[index]
        elif late.sum() >= 4:
            noise = band[kind][:, late & keep]  # (R', L)
        else:
            noise = band[kind][:, -4:]
        if noise.shape[1] < 4:  # too little recorded to tell the noise by: these records give no evidence
            continue
        part, part_norm, noise_alone = _pooled(
            band[kind][:, window], noise, 10.0 ** (below_top[rows[kind]] / 20.0), record_ear[rows[kind]], bank, n_ears
        )
        combined += part
        norm += part_norm
        alone = np.where(part_norm > heaviest, noise_alone, alone)
        heaviest = np.maximum(heaviest, part_norm)
    power = (combined**2).sum(axis=2).max(axis=1) / np.maximum(norm, 1e-300)  # (E,) in units of the noise
    return np.where(norm > 0, np.log(np.maximum(power, 1e-12) / alone), 0.0)  # no noise reference: 0


def _pooled(
    band: np.ndarray, noise: np.ndarray, size: np.ndarray, ear: np.ndarray, bank: np.ndarray, n_ears: int
) -> tuple[np.ndarray, np.ndarray, float]:
    """One whitening pool: (E, K, 2) each ear's coherent sum of its records' whitened projections weighted a/σ,
    (E,) the sum of squared weights, and the statistic's noise-alone median for this pool's basis.

    band: (R, W) band-passed records over the CM window; noise: (R, L) their noise references; size: (R,) the CM
    size each record should carry (relative to the ear's loudest); ear: (R,) ear rows; bank: (2K, W) templates."""
    sigma = np.sqrt((noise**2).mean(axis=1))  # (R,) each record's own noise RMS
    lower = noise_whitener(noise, band.shape[1])  # (W, W)
    whiten = lambda x: solve_triangular(lower, x.T, lower=True).T  # (M, W) → (M, W)
    basis = _orthonormal_pairs(whiten(bank).reshape(-1, 2, bank.shape[1]))  # (K, 2, W)
    ok = sigma > 0
    safe_sigma = np.where(ok, sigma, 1.0)  # a record without noise gets weight 0 below
    z = np.einsum("rw,kpw->rkp", whiten(band), basis) / safe_sigma[:, None, None]  # (R, K, 2)
    weight = np.where(ok, size / safe_sigma, 0.0)  # (R,) a/σ
    combined = np.zeros((n_ears, *z.shape[1:]))
    np.add.at(combined, ear, z * weight[:, None, None])  # (E, K, 2)
    norm = np.bincount(ear, weight**2, n_ears)  # (E,)
    draws = np.random.default_rng(0).standard_normal((NOISE_DRAWS, basis.shape[2]))
    noise_alone = float(np.median((np.einsum("dw,kpw->dkp", draws, basis) ** 2).sum(axis=2).max(axis=1)))
    return combined, norm, noise_alone
