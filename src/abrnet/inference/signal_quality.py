"""Signal quality: what a recording's samples say against the simulated 100–3000 Hz records the model learnt from.

Why: ordinary room and device effects gave confident wrong ear calls with ``domain`` = ``in`` (hunt 14): a 30–1500 Hz
recording band made no-response ears respond at 0 dB, a 0.25 µV drift or 0.2 µV of mains hum created or erased
responses, a gain error flipped calls (presence depends on absolute amplitude) and a stimulus artifact in the first
millisecond changed calls silently. Each is measured here and becomes a domain reason (`abrnet.inference.domain`),
so the ``domain`` column, the warnings and ``--strict`` say what is wrong.

Measured on the recorded native samples inside the model window (`window_samples`), as the amplitude and flat-trace
checks are: the resampler pads a partly covered window with zeros (a step: low-frequency content that the recording
lacks) and its anti-alias filter would hide what the device sampled. Every measure reads time in ms and frequency in
Hz, so it does not depend on the device's rate; the 10-ms window gives a 100 Hz frequency resolution.

Per ear where the evidence is the session's (drift and hum, the recording band, the noise level: every record of an
ear shares its room, amplifier and filter), as the median over the ear's records, so one record's burst or slow
transient (0.4 % of simulated records) neither flags a good ear nor hides a bad one. Per record for a stimulus
artifact, which scales with the level. Every bound is calibrated on fresh simulated cohorts (mixed and fixed
protocols, seeds 101–108, checked on 201–204; `benchmarks/signal_quality.py`, results in
``benchmarks/results/signal_quality.md``): none of 7,200 simulated ears is flagged, with the margin each
bound states.
"""

from __future__ import annotations

import numpy as np

from abrnet.constants import (
    DEFAULT_N_SAMPLES,
    DEFAULT_SAMPLING_RATE_HZ,
    DEFAULT_T0_MS,
    MAX_LOW_FREQUENCY_UV,
    RECORDING_BAND_HZ,
)
from abrnet.data.baseline import ear_slow_content, slow_trend
from abrnet.data.grouping import group_indices
from abrnet.data.resample import recorded_samples
from abrnet.data.schema import ABRCohort

# Calibration: seeds 101–108 (4 mixed, 4 fixed protocol; 4,800 ears, 72,847 records) set each bound; seeds 201–204
# (2,400 ears) check it unseen. Rates in benchmarks/results/signal_quality.md.
# Recording band: the ear's noise-like records' (`NOISE_LIKE_MIN`) power above 1.5 kHz over their 1–3 kHz power,
# pooled: a response's own spectrum falls above 1 kHz, so only records where noise dominates say what the filter
# passed. Simulated ears: 0.1 % quantile 0.243 (check 0.224), lowest 0.168 and 0.156; the bound is 0.78× the 0.1 %
# quantile; with `MIN_NOISE_LIKE` no ear of either set is flagged (1 each without). A 30–1500 Hz band: 0.03–0.3.
MIN_HIGH_BAND_SHARE: float = 0.19
HIGH_BAND_HZ: tuple[float, float] = (1000.0, RECORDING_BAND_HZ[1])
HIGH_BAND_SPLIT_HZ: float = 1500.0
NOISE_LIKE_MIN: float = 0.5  # a record is noise-like when its late-window RMS is at least this share of its SD
# Stimulus artifact: peak to peak over 0–`ARTIFACT_END_MS` ms beyond `MAX_ARTIFACT_UV` AND `MIN_ARTIFACT_RATIO` × the
# rest of the record's. Simulated records reach 12.4 µV there (bursts in noisy records) and 6.2× the rest (small
# ones), but none over 3 µV exceeds 3.4× the rest: none of 109,575 records is flagged.
ARTIFACT_END_MS: float = 1.0
MAX_ARTIFACT_UV: float = 3.0
MIN_ARTIFACT_RATIO: float = 5.0
# Noise level: RMS (mean removed) of the last `LATE_WINDOW_MS` of the window, median over the ear. Simulated ears:
# 0.014–0.356 µV (check 0.0125–0.399); the bounds are 0.71× and 1.4× the fit set's: no simulated ear flagged. A
# very quiet real recording (6 nV) is below it: the model never saw one, so it is flagged too.
LATE_WINDOW_MS: float = 1.5
NOISE_RANGE_UV: tuple[float, float] = (0.01, 0.5)
# Too little evidence to judge an ear's recording band: at least `MIN_NOISE_LIKE` noise-like records (a clean 40-100
# dB grid has few: 4 of 600 flagged, 60/80 dB 10). Low-frequency content needs `MIN_LOW_FREQUENCY_RECORDS` records.
MIN_NOISE_LIKE: int = 3
# A trace whose peak to peak is at most this share of its largest value is constant up to float precision: flat.
FLAT_RELATIVE: float = 1e-5


def window_samples(cohort: ABRCohort, model_n: int = DEFAULT_N_SAMPLES) -> tuple[np.ndarray, np.ndarray]:
    """(N, T') float64 µV and (T',) ms: the native samples inside the model window that every record recorded (all
    its recorded samples if fewer than two fall in it, all samples if fewer than two are recorded), what every check
    on the samples reads.

    Recorded: `recorded_samples`, absent in a file read on its own grid. A model-grid .h5 (`abrnet data import
    --model-grid`) holds the resampler's zero padding after a 0–8.52 ms recording, which read as samples put a
    silent tail in the late-noise window: "noise level: far below" that the export itself never had. Records that
    recorded different samples are read apart (`abrnet.inference.domain.signal_reasons`), so "every record" is one
    file's padding."""
    stop = DEFAULT_T0_MS + model_n * 1000.0 / DEFAULT_SAMPLING_RATE_HZ
    t = cohort.t0_ms + np.arange(cohort.n_samples) * 1000.0 / cohort.sampling_rate_hz  # (T,) ms
    recorded = recorded_samples(cohort).all(axis=0)  # (T,)
    inside = (t >= DEFAULT_T0_MS) & (t < stop) & recorded
    keep = next((k for k in (inside, recorded) if k.sum() >= 2), np.ones_like(inside))
    return np.asarray(cohort.signals, np.float64)[:, keep], t[keep]


def low_frequency_uv(x: np.ndarray, t_ms: np.ndarray) -> np.ndarray:
    """(N,) RMS µV of each record's slow trend (drift, slow wave, mains cycle: below ~100 Hz on a 10-ms window)."""
    return slow_trend(x, t_ms)[0].std(axis=1)


def high_band_power(detrended: np.ndarray, sampling_rate_hz: float) -> tuple[np.ndarray, np.ndarray]:
    """(N,) power of each detrended record (`slow_trend`'s second part), Hann-windowed, above `HIGH_BAND_SPLIT_HZ` and
    (N,) over all of `HIGH_BAND_HZ` (NaN where the rate cannot sample the band)."""
    n, n_t = detrended.shape
    if sampling_rate_hz < 2.0 * HIGH_BAND_HZ[1]:
        return np.full(n, np.nan), np.full(n, np.nan)
    power = np.abs(np.fft.rfft(detrended * np.hanning(n_t)[None, :], axis=1)) ** 2  # (N, F)
    freq = np.fft.rfftfreq(n_t, 1.0 / sampling_rate_hz)  # (F,) Hz
    band = (freq >= HIGH_BAND_HZ[0]) & (freq <= HIGH_BAND_HZ[1])
    return power[:, band & (freq >= HIGH_BAND_SPLIT_HZ)].sum(axis=1), power[:, band].sum(axis=1)


def late_noise_uv(x: np.ndarray, t_ms: np.ndarray) -> np.ndarray:
    """(N,) RMS µV (mean removed) of the last `LATE_WINDOW_MS` of the window, where the click ABR has mostly
    returned to baseline: the recording's noise level, in the file's own scale."""
    late = t_ms >= t_ms[-1] - LATE_WINDOW_MS + 1e-9
    return x[:, late if late.sum() >= 2 else slice(None)].std(axis=1)


def artifact_uv(x: np.ndarray, t_ms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N,) peak to peak µV over 0–`ARTIFACT_END_MS` ms and (N,) over the rest of the window (NaN where either
    part has no samples)."""
    early = t_ms < ARTIFACT_END_MS
    if early.sum() < 2 or (~early).sum() < 2:
        return np.full(x.shape[0], np.nan), np.full(x.shape[0], np.nan)
    return np.ptp(x[:, early], axis=1), np.ptp(x[:, ~early], axis=1)


def is_flat(x: np.ndarray) -> np.ndarray:
    """(N,) bool: the trace is constant up to float precision (a disconnected channel, zeros, a DC level). A trace
    of 1e-7 µV that has an ABR's shape is not flat: it is in another unit (`noise level` says so)."""
    return np.ptp(x, axis=1) <= FLAT_RELATIVE * np.abs(x).max(axis=1)


def artifact_rows(x: np.ndarray, t_ms: np.ndarray) -> np.ndarray:
    """(N,) bool: a stimulus artifact in 0–`ARTIFACT_END_MS` ms (both bounds passed)."""
    early, rest = artifact_uv(x, t_ms)
    with np.errstate(invalid="ignore"):
        return (early > MAX_ARTIFACT_UV) & (early > MIN_ARTIFACT_RATIO * rest)


def ear_medians(
    cohort: ABRCohort, model_n: int = DEFAULT_N_SAMPLES, samples: tuple[np.ndarray, np.ndarray] | None = None
) -> dict[str, np.ndarray]:
    """Per record, its ear's value of each per-ear measure (NaN where the ear gives none, or too few records to
    judge: `MIN_LOW_FREQUENCY_RECORDS`, `MIN_NOISE_LIKE`): ``low_frequency_uv`` and ``noise_uv``, medians over the
    ear's records;
    ``high_band_share``, the ear's noise-like records' power above 1.5 kHz over their 1–3 kHz power, pooled (one
    record's periodogram is too noisy to read a filter from). A record with a stimulus artifact has its low-frequency
    content read after `ARTIFACT_END_MS`, so the artifact is not taken for a drift."""
    x, t = window_samples(cohort, model_n) if samples is None else samples  # (N, T') µV, (T',) ms
    noise = late_noise_uv(x, t)
    sd = x.std(axis=1)
    noise_like = (noise >= NOISE_LIKE_MIN * sd) & (sd > 0)
    trend, detrended = slow_trend(x, t)  # (N, T') each: one fit serves the drift and the band
    upper, total = high_band_power(detrended, cohort.sampling_rate_hz)
    slow = trend.std(axis=1)
    after, artifact = t >= ARTIFACT_END_MS, artifact_rows(x, t)
    if artifact.any() and after.sum() >= 4:
        slow[artifact] = low_frequency_uv(x[artifact][:, after], t[after])
    out = {k: np.full(cohort.n_records, np.nan) for k in ("low_frequency_uv", "high_band_share", "noise_uv")}
    out["low_frequency_uv"] = ear_slow_content(slow, cohort.ear_key)  # the rule `remove_slow_trends` acts on
    for rows in group_indices(cohort.ear_key.astype(str))[1]:
        out["noise_uv"][rows] = np.median(noise[rows])
        quiet = rows[noise_like[rows] & np.isfinite(total[rows])]
        if quiet.size >= MIN_NOISE_LIKE and total[quiet].sum() > 0:
            out["high_band_share"][rows] = upper[quiet].sum() / total[quiet].sum()
    return out


def quality_reasons(
    cohort: ABRCohort, *, model_n: int = DEFAULT_N_SAMPLES, samples: tuple[np.ndarray, np.ndarray] | None = None
) -> list[list[str]]:
    """Per record, the signal-quality reasons it is outside the training domain, in words a user can act on.
    ``samples``: `window_samples` of the cohort when the caller has them already (`domain.record_signal_reasons`)."""
    x, t = window_samples(cohort, model_n) if samples is None else samples
    ear = ear_medians(cohort, model_n, (x, t))
    low, high = NOISE_RANGE_UV
    reasons: list[list[str]] = [[] for _ in range(cohort.n_records)]
    flat = is_flat(x)
    early = artifact_uv(x, t)[0]
    for i in np.flatnonzero(artifact_rows(x, t)):
        reasons[i].append(
            f"stimulus artifact: {early[i]:.3g} µV peak to peak in 0–{ARTIFACT_END_MS:g} ms, larger than the rest of "
            "the record (the model never saw one: blank the first ms or re-record with alternating polarity)"
        )
    scale_ok = np.ones(cohort.n_records, bool)
    for i in np.flatnonzero(~flat):
        noise = ear["noise_uv"][i]
        if np.isfinite(noise) and not low <= noise <= high:
            scale_ok[i] = False
            side = "far below" if noise < low else "above"
            # a noise-free trace (abrnet's own generated signals read back) is as quiet as one in V (hunt 15 #7)
            unit = "V or mV written as µV, or a noise-free trace" if noise < low else "nV written as µV, or a gain"
            reasons[i].append(
                f"noise level: {noise:.2g} µV (the ear's median RMS over the last {LATE_WINDOW_MS:g} ms), {side} the "
                f"simulated {low:g}–{high:g} µV: a gain or unit error ({unit}?)"
            )
    for i in np.flatnonzero(~flat & scale_ok):  # in another scale the µV bounds below mean nothing
        lf = ear["low_frequency_uv"][i]
        if lf > MAX_LOW_FREQUENCY_UV:
            reasons[i].append(
                f"low-frequency content: {lf:.2g} µV RMS below ~100 Hz (the ear's median; simulated ears up to "
                f"{MAX_LOW_FREQUENCY_UV:g} µV): drift, a slow wave or mains hum; the model learnt "
                f"{RECORDING_BAND_HZ[0]:g}–{RECORDING_BAND_HZ[1]:g} Hz records: each record's slow trend is removed "
                "before reading, what is faster (hum harmonics) is not (high-pass at 100 Hz or re-record)"
            )
        share = ear["high_band_share"][i]
        if share < MIN_HIGH_BAND_SHARE:
            reasons[i].append(
                f"band: {share:.3g} of the 1–3 kHz power above 1.5 kHz (the ear's noise-like records; simulated ears "
                f"at least {MIN_HIGH_BAND_SHARE:g}): low-pass filtered below 3 kHz? the model learnt "
                f"{RECORDING_BAND_HZ[0]:g}–{RECORDING_BAND_HZ[1]:g} Hz records"
            )
    return reasons
