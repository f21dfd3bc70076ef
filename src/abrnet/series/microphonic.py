"""Cochlear-microphonic residue: the waveform cue that tells a neuropathy (ANSD) ear from a totally deaf one.

Both show no ABR in most ears; what differs is the cochlea. An ANSD cochlea still produces a microphonic (CM), a
1–2 kHz ringing from ~0.3–1 ms that alternating polarity mostly, not wholly, cancels (reference §5, §8.6); a TOTAL
cochlea produces none. The network's per-record class head did not pick the residue up, so the series stage reads
one classical statistic from the waveform itself.

The statistic is a generalised likelihood-ratio detector of a damped sinusoid in coloured noise, over the ear's
loudest records (within LOUD_SPAN_DB of its highest level):
- each record is band-passed after its first 0.1–0.3 ms are tapered to zero, so the click's electrical artifact
  (0–0.5 ms, common to both buffers, 3 kHz) cannot ring into the window through the filter;
- the band-passed EEG noise is far from white, so each ear's records and templates are whitened by that ear's own
  noise autocorrelation (its records' noise references, unit variance each, shrunk toward the band-pass's own
  shape where the references are few; ridge-regularised Toeplitz), never by other ears' noise;
- each record's projections on a bank of (band-passed, whitened, orthonormal) damped cosine/sine pairs spanning the
  reference's CM (onset 0.3–1 ms, 1–2 kHz, decay 1.5–3 ms) are combined coherently with weights a/σ, the CM size
  the record should carry (it grows 20 dB per 20 dB of level) over its own noise: the matched combination when the
  records' noise differs;
- the largest pair's power, in units of the noise, on a log scale with noise alone at ~0 (the median over
  simulated noise-alone ears of the same shape, whitened by their own estimate, is subtracted).

The noise reference, best first (as `abrnet.data.noise_estimate`): each record's split buffers' (A − B)/2 over the
same window; else the record's late window, where a click ABR has mostly returned to baseline. The two kinds are
whitened apart (`loud_microphonic`).

Chosen on four class-balanced validation cohorts (never a test split) against the unwhitened, unweighted average
it replaced: ANSD-vs-TOTAL AUC 0.709 → 0.744 (mean of the four; 0.695 → 0.708 for files without split buffers),
with a whitener pooled over the input; per ear (stop 49, PRIOR_SAMPLES 200 chosen over 50 and 800): 0.747 and 0.698.
A reader that knew each loud record's noise-free CM would reach 0.93 on the fixed protocol and 0.81–0.83 on the
mixed one (benchmarks/microphonic_ceiling.py); the rest is the price of not knowing the CM's onset, frequency and
decay (benchmarks/results/config_choice.md).
"""

from __future__ import annotations

import functools

import numpy as np
from threadpoolctl import threadpool_limits

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
PRIOR_SAMPLES = 200.0  # weight, in noise samples, of the band-pass's own correlation in each ear's estimate
MIN_REFERENCE_MS = 0.5  # a shorter noise reference gives no evidence (0): a recording ending near 6.7 ms left a few
# samples by the padding's edge, and noise alone read 0.35–0.5 above zero (hunt 49)
MIN_STATISTIC = -5.0  # far below noise alone (validation ears' minimum −2): an all-zero average reads here, not −30
NOISE_ALONE_EARS = 256  # simulated noise-alone ears that set the statistic's zero for one ear shape
EARS_PER_SOLVE = 256  # ears whitened in one batched solve (memory: ~0.1 MB each at 20 kHz)


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


def cm_filter(sampling_rate_hz: float) -> np.ndarray:
    """Second-order sections of the CM band-pass at this rate (the upper edge kept below Nyquist)."""
    return butterworth_sos(sampling_rate_hz, CM_BAND_HZ[0], min(CM_BAND_HZ[1], 0.45 * sampling_rate_hz), FILTER_ORDER)


def cm_window(time_ms: np.ndarray) -> np.ndarray:
    """(T,) bool: the samples of CM_WINDOW_MS, where every record and template is read."""
    return (time_ms >= CM_WINDOW_MS[0]) & (time_ms < CM_WINDOW_MS[1])


def filtered_bank(time_ms: np.ndarray, window: np.ndarray, sos: np.ndarray) -> np.ndarray:
    """(2K, W) the template pairs (`cm_templates` over ``time_ms``) band-passed with ``sos`` as the records are, over
    the CM ``window`` (T,) bool: what every record and simulated noise-alone ear is projected on."""
    return zero_phase(cm_templates(time_ms).reshape(-1, time_ms.size), sos)[:, window]


@functools.lru_cache(maxsize=16)
def prior_correlation(sampling_rate_hz: float, n_lags: int) -> np.ndarray:
    """(n_lags,) correlation of white noise after the CM band-pass (unit at lag 0): what an ear's noise correlation
    is shrunk toward where its own references are few. It is the filter's alone, so it is the same for every ear."""
    length = 8 * n_lags + 1024
    impulse = np.zeros(length)
    impulse[length // 2] = 1.0
    response = zero_phase(impulse, cm_filter(sampling_rate_hz))  # (length,)
    full = np.correlate(response, response, mode="full")[length - 1 :]  # lags 0 … length − 1
    return full[:n_lags] / full[0]


def noise_correlation(noise: np.ndarray, n_lags: int, prior: np.ndarray) -> np.ndarray:
    """(G, n_lags) each ear's noise correlation from its references, shrunk toward ``prior`` (n_lags,).

    noise: (G, R, L) R references of L samples per ear (rows of zeros carry nothing). Each row is scaled to unit
    variance; the biased autocorrelation summed over the rows (positive semi-definite; lags ≥ L are 0) and the prior
    counted as PRIOR_SAMPLES samples are averaged by their sample counts, so an ear with many references reads its own
    noise and one with a single short reference leans on the filter's shape (an ill-estimated whitener made noise
    alone read 0.2–0.6 above zero)."""
    rms = np.sqrt((noise**2).mean(axis=2, keepdims=True))  # (G, R, 1)
    unit = np.where(rms > 0, noise / np.where(rms > 0, rms, 1.0), 0.0)  # (G, R, L)
    length = unit.shape[2]
    spectrum = np.abs(np.fft.rfft(unit, n=2 * length, axis=2)) ** 2  # (G, R, F) zero-padded: no circular wrap
    lagged = np.fft.irfft(spectrum.sum(axis=1), n=2 * length, axis=1)[:, : min(length, n_lags)]  # (G, ≤L)
    sums = np.zeros((unit.shape[0], n_lags))
    sums[:, : lagged.shape[1]] = lagged
    count = (rms[:, :, 0] > 0).sum(axis=1) * float(length)  # (G,) samples behind each ear's estimate
    return (sums + PRIOR_SAMPLES * prior[None, :n_lags]) / (count + PRIOR_SAMPLES)[:, None]


def _whitened_projections(
    band: np.ndarray, noise: np.ndarray, size: np.ndarray, bank: np.ndarray, prior: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Ears of one shape: (G, K, 2) each ear's coherent sum of its records' projections on each template pair, in
    the pair's orthonormal coordinates after whitening by the ear's own noise, weighted a/σ; (G,) Σ weight².

    band: (G, R, W) band-passed records over the CM window; noise: (G, R, L) their noise references; size: (G, R)
    the CM size each record should carry (relative to the ear's loudest); bank: (2K, W) templates; prior: (W,)."""
    n_window = band.shape[2]
    sigma = np.sqrt((noise**2).mean(axis=2))  # (G, R) each record's own noise RMS
    lag = np.abs(np.subtract.outer(np.arange(n_window), np.arange(n_window)))  # (W, W)
    cov = noise_correlation(noise, n_window, prior)[:, lag] + WHITENING_RIDGE * np.eye(n_window)  # (G, W, W)
    rhs = np.concatenate([np.broadcast_to(bank.T, (band.shape[0], *bank.T.shape)), band.transpose(0, 2, 1)], axis=2)
    # one thread: for matrices this small a second BLAS thread only waits, and beside a busy core it spins (10× slower)
    with threadpool_limits(limits=1, user_api="blas"):
        solved = np.linalg.solve(cov, rhs)  # (G, W, 2K + R): C⁻¹[templates, records]
        pairs = bank.reshape(-1, 2, n_window)  # (K, 2, W)
        k = pairs.shape[0]
        per_pair = solved[:, :, : 2 * k].reshape(-1, n_window, k, 2).transpose(0, 2, 1, 3)  # (G, K, W, 2)
        gram = np.matmul(pairs[None], per_pair)  # (G, K, 2, 2): SᵀC⁻¹S of each pair
        projected = np.matmul(bank[None], solved[:, :, 2 * k :])  # (G, 2K, R): SᵀC⁻¹x of each record
    ok = sigma > 0
    safe_sigma = np.where(ok, sigma, 1.0)  # a record without noise gets weight 0 below
    z = projected.reshape(-1, k, 2, projected.shape[2]).transpose(0, 3, 1, 2) / safe_sigma[:, :, None, None]
    weight = np.where(ok, size / safe_sigma, 0.0)  # (G, R) a/σ
    summed = np.einsum("gr,grkp->gkp", weight, z)  # (G, K, 2) with covariance Σw²·gram under noise alone
    l11 = np.sqrt(gram[..., 0, 0])  # the pair's 2×2 Cholesky factor: its inverse makes the coordinates orthonormal
    l21 = gram[..., 1, 0] / l11
    l22 = np.sqrt(np.maximum(gram[..., 1, 1] - l21**2, 1e-300))
    first = summed[..., 0] / l11
    return np.stack([first, (summed[..., 1] - l21 * first) / l22], axis=2), (weight**2).sum(axis=1)


def _ear_shapes(
    band: np.ndarray, noise: np.ndarray, size: np.ndarray, ear: np.ndarray, bank: np.ndarray, prior: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One pool's records grouped by ear: its ears (E',) = np.unique(ear), their (E', K, 2) projections, (E',) Σ weight²
    and (E',) records per ear. Ears with as many records are stacked and whitened in one batched solve."""
    ears, per_ear = np.unique(ear, return_counts=True)
    projections = np.zeros((ears.size, bank.shape[0] // 2, 2))
    norm = np.zeros(ears.size)
    order = np.argsort(ear, kind="stable")
    first = np.r_[0, np.cumsum(per_ear)[:-1]]  # each ear's first row in ``order``
    for count in np.unique(per_ear):
        which = np.flatnonzero(per_ear == count)  # (G,) positions in ``ears``
        for chunk in np.array_split(which, -(-which.size // EARS_PER_SOLVE)):
            rows = order[first[chunk][:, None] + np.arange(count)]  # (G, count)
            projections[chunk], norm[chunk] = _whitened_projections(band[rows], noise[rows], size[rows], bank, prior)
    return ears, projections, norm, per_ear


@functools.lru_cache(maxsize=64)
def _noise_alone(sampling_rate_hz: float, t0_ms: float, n_samples: int, n_records: int, n_noise: int) -> float:
    """The statistic's median over NOISE_ALONE_EARS simulated ears of band-passed white noise with this shape
    (n_records loud records, references of n_noise samples), whitened as a real ear is: the zero that accounts for
    the whitener being estimated from few references. Depends on the ear's shape alone, never on other ears."""
    t = t0_ms + np.arange(n_samples) * 1000.0 / sampling_rate_hz
    window = cm_window(t)
    sos = cm_filter(sampling_rate_hz)
    bank = filtered_bank(t, window, sos)  # (2K, W)
    n_window = int(window.sum())
    rng = np.random.default_rng([n_records, n_noise, n_samples])
    span = n_window + n_noise + 512  # one white trace per record: its window and its reference, apart
    draws = zero_phase(rng.standard_normal((NOISE_ALONE_EARS * n_records, span)), sos)
    draws = draws.reshape(NOISE_ALONE_EARS, n_records, span)[:, :, 256:-256]  # (S, R, W + L) away from the edges
    prior = prior_correlation(sampling_rate_hz, n_window)
    projections, norm = _whitened_projections(
        draws[:, :, :n_window], draws[:, :, n_window:], np.ones((NOISE_ALONE_EARS, n_records)), bank, prior
    )
    return float(np.median((projections**2).sum(axis=2).max(axis=1) / norm))


def loud_microphonic(cohort: ABRCohort, record_ear: np.ndarray, max_db: np.ndarray) -> np.ndarray:
    """(E,) the CM detector (module doc) over each ear's records within LOUD_SPAN_DB of its highest level: ~0 for
    noise alone, higher where a CM rings, never below MIN_STATISTIC; 0 (no evidence) where the recording starts after
    the latest CM onset or its noise reference is shorter than MIN_REFERENCE_MS.

    record_ear: (N,) ear row of each record; max_db: (E,) each ear's highest level. The records are read as the model
    reads them (`abrnet.inference.api.to_model_cohort`: on the model grid, baseline and slow trend removed): a DC
    offset left in is cut into a ramp by the artifact taper, which the band-pass turns into ringing (hunt 49).

    Every ear is whitened by its own noise (shrunk toward the filter's shape), so an ear reads the same whatever other
    ears are read with it (hunt 48: a whitener pooled over the input flipped 8 of 30 ears' series class between one
    file and each patient alone). Records with split buffers (`abrnet.data.noise_estimate.buffer_noise_traces`, per
    record) and those without are whitened apart, each kind on its own noise references, as are records padded
    differently on the model grid (`abrnet.data.resample.recorded_samples`): their references are read over recorded
    samples only (a short recording's late window read as zeros made its noise look tiny and the cue huge). An ear
    with records in several such pools adds them coherently and takes the noise-alone zero of the pool weighing most.
    """
    n_ears = max_db.shape[0]
    fs, t = cohort.sampling_rate_hz, cohort.time_ms
    window = cm_window(t)
    if t[0] > CM_ONSETS_MS[-1] or window.sum() < 4:  # a trace that misses the CM: no evidence either way
        return np.zeros(n_ears)
    sos = cm_filter(fs)
    intensity = cohort.static[:, 1].astype(np.float64)
    below_top = intensity - max_db[record_ear]  # (N,) ≤ 0 dB
    rows = np.flatnonzero(below_top >= -LOUD_SPAN_DB - 1e-6)  # (R,) the loudest records
    taper = np.clip((t - ARTIFACT_TAPER_MS[0]) / (ARTIFACT_TAPER_MS[1] - ARTIFACT_TAPER_MS[0]), 0.0, 1.0)  # (T,)
    band = zero_phase(cohort.signals[rows] * taper, sos)  # (R, T)
    traces = buffer_noise_traces(cohort)  # (N, T) float64, NaN rows: no buffers; None: no record has any
    has_trace = has_buffer_trace(traces, cohort.n_records)[rows]  # (R,)
    recorded = recorded_samples(cohort)[rows]  # (R, T) bool: padding is no noise reference
    pools = np.unique(np.column_stack([has_trace, recorded]), axis=0, return_inverse=True)[1].reshape(-1)  # (R,)
    bank = filtered_bank(t, window, sos)  # (2K, W) as the records are filtered
    prior = prior_correlation(fs, int(window.sum()))
    combined, norm = np.zeros((n_ears, len(bank) // 2, 2)), np.zeros(n_ears)  # (E, K, 2), (E,)
    alone, heaviest = np.ones(n_ears), np.zeros(n_ears)  # (E,) noise-alone zero, from the pool weighing most
    late = t >= LATE_REFERENCE_MS
    for pool in np.unique(pools):
        kind = pools == pool  # (R,)
        keep = recorded[np.flatnonzero(kind)[0]]  # (T,)
        if has_trace[kind][0]:  # (A − B)/2 in the buffers' float32, exactly as the buffers give it
            noise = zero_phase(traces[rows[kind]].astype(np.float32), sos)[:, window & keep]  # type: ignore[index]
        else:
            noise = band[kind][:, late & keep]  # (R', L)
        if noise.shape[1] < MIN_REFERENCE_MS * fs / 1000.0:  # too little recorded to tell the noise by: no evidence
            continue
        ear = record_ear[rows[kind]]
        size = 10.0 ** (below_top[rows[kind]] / 20.0)  # (R',) the CM grows 20 dB per 20 dB of level
        ears, part, part_norm, per_ear = _ear_shapes(band[kind][:, window], noise, size, ear, bank, prior)
        combined[ears] += part
        norm[ears] += part_norm
        zeros = {int(c): _noise_alone(fs, float(t[0]), t.size, int(c), noise.shape[1]) for c in np.unique(per_ear)}
        zero = np.array([zeros[int(c)] for c in per_ear])  # (E',) looked up once per shape
        alone[ears] = np.where(part_norm > heaviest[ears], zero, alone[ears])
        heaviest[ears] = np.maximum(heaviest[ears], part_norm)
    power = (combined**2).sum(axis=2).max(axis=1) / np.maximum(norm, 1e-300)  # (E,) in units of the noise
    statistic = np.maximum(np.log(np.maximum(power, 1e-300) / alone), MIN_STATISTIC)
    return np.where(norm > 0, statistic, 0.0)  # no noise reference: 0
