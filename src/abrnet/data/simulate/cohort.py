"""Patients → ears → clinical intensity series → averaged recordings, with expert-style labels.

Why patients and not loose waveforms: records of one ear share a threshold, an age, a noise state and individual
latency/amplitude offsets, as in a clinical export. Section numbers (§n) refer to abr_physiology.md.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import signal

from abrnet.constants import CLASS_NAMES, STATIC_PARAMS
from abrnet.data.schema import SCHEMA_VERSION, ABRCohort
from abrnet.data.simulate import noise as nz
from abrnet.data.simulate.config import SimulationConfig
from abrnet.data.simulate.physiology import (
    CONDUCTIVE,
    NEUROPATHY,
    NORMAL,
    SNHL,
    TOTAL,
    WEEKS_PER_YEAR,
    ResponseDesign,
    ResponseDraws,
    design_responses,
    pick_peaks,
    render_responses,
)

GENERATOR_NAME = "abrnet.data.simulate"
GENERATOR_VERSION = "1.0.0"
MAX_LEVEL_DB = 100.0
PILOT_EARS_PER_CLASS = 400


# ----------------------------------------------------------------------------- patients and ears
@dataclass
class Ears:
    """One row per ear (E ears)."""

    patient: np.ndarray  # (E,) int patient index
    side: np.ndarray  # (E,) 'L'/'R'
    class_id: np.ndarray  # (E,)
    threshold_db: np.ndarray  # (E,) physiological threshold, NaN = no response at any level
    air_bone_gap_db: np.ndarray  # (E,) 0 unless CONDUCTIVE
    hf_delay_ms: np.ndarray  # (E,) extra V delay of a sloping high-frequency loss (§5)
    age_weeks: np.ndarray  # (E,) continuous age since term
    female: np.ndarray  # (E,) bool
    base_rate_hz: np.ndarray  # (E,)


def sample_age_weeks(rng: np.random.Generator, n: int, config: SimulationConfig) -> np.ndarray:
    """Mostly infants under 1 year (newborn screening follow-up), some toddlers, a few older patients (§1)."""
    u = rng.uniform(size=n)
    infant = np.minimum(rng.exponential(14.0, n), 51.5)
    child_years = 1.0 + np.minimum(rng.exponential(2.2, n), 6.9)
    older_years = rng.uniform(*config.adult_age_range, n)
    p_child = config.infant_fraction + (1.0 - config.infant_fraction) * 0.82
    years = np.where(
        u < config.infant_fraction, infant / WEEKS_PER_YEAR, np.where(u < p_child, child_years, older_years)
    )
    return years * WEEKS_PER_YEAR


def sample_thresholds(
    rng: np.random.Generator,
    class_id: np.ndarray,
    age_weeks: np.ndarray,
    z_patient: np.ndarray,
    config: SimulationConfig,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-ear threshold (dB nHL), air-bone gap and high-frequency delay by class (§3, §5).

    `z_patient` correlates the two ears of a patient.
    """
    n = class_id.shape[0]
    z = 0.7 * z_patient + 0.71 * rng.standard_normal(n)
    years = age_weeks / WEEKS_PER_YEAR
    normal_t = np.clip(10.0 + 8.0 * np.exp(-years / 1.5) + 6.0 * z, -5.0, 30.0)  # infants ~20, adults ~10
    abg = np.clip(28.0 + 9.0 * rng.standard_normal(n), 15.0, 60.0)  # effusion mostly 15–45 dB
    snhl_t = np.clip(58.0 + 15.0 * z, 26.0, 95.0)  # skewed to 40–80 (§5)
    sloping = rng.uniform(size=n) < 0.5
    hf_loss = snhl_t + np.where(sloping, rng.uniform(5.0, 25.0, n), 0.0)
    ansd_t = np.where(rng.uniform(size=n) < config.neuropathy_residual_v_fraction, rng.uniform(65.0, 90.0, n), np.nan)

    thr = np.select(
        [class_id == NORMAL, class_id == CONDUCTIVE, class_id == SNHL, class_id == NEUROPATHY],
        [normal_t, normal_t + abg, snhl_t, ansd_t],
        default=np.nan,
    )
    gap = np.where(class_id == CONDUCTIVE, abg, 0.0)
    hf_delay = np.where(class_id == SNHL, 0.01 * np.clip(hf_loss - 50.0, 0.0, None), 0.0)  # 0.1 ms / 10 dB (§5)
    return thr, gap, hf_delay


def ear_levels(rng: np.random.Generator, threshold_db: float) -> list[float]:
    """One ear's clinical series, in recording order (dB nHL, 5-dB grid, 0–100).

    With a response: start 70–100 (at least 10 dB above threshold), descend in 10-dB steps (sometimes 20 at the
    top) to the first level without a response, bracket 5 dB up, sometimes confirm 10 dB lower; replicate runs
    near threshold. Without a response: the maximum, then a few lower levels.
    """
    if np.isfinite(threshold_db):
        start = float(rng.choice([60.0, 70.0, 80.0, 90.0, 100.0], p=[0.25, 0.3, 0.3, 0.08, 0.07]))
        start = min(MAX_LEVEL_DB, max(start, 5.0 * np.ceil(threshold_db / 5.0) + 10.0))
        levels = [start]
        big_steps = rng.uniform() < 0.3
        fine_steps = rng.uniform() < 0.6  # 5-dB steps once the response gets small
        while levels[-1] > threshold_db and levels[-1] > 0:
            sl = levels[-1] - threshold_db
            step = 20.0 if big_steps and sl > 40 else 5.0 if fine_steps and sl <= 15 else 10.0
            levels.append(max(levels[-1] - step, 0.0))
        last = levels[-1]
        if last <= threshold_db and last + 5 <= MAX_LEVEL_DB and last + 5 not in levels:
            levels.append(last + 5.0)
        if last <= threshold_db and last - 10 >= 0 and rng.uniform() < 0.2:
            levels.append(last - 10.0)
        sl = np.asarray(levels) - threshold_db
        p_rep = np.select([sl <= 0, sl <= 5, sl <= 15], [0.1, 0.5, 0.95], default=0.75)  # replicate near threshold
        p_third = np.where((sl > 0) & (sl <= 15), 0.4, 0.0)
    else:
        floor = float(rng.choice([50.0, 60.0, 70.0, 80.0, 90.0, 100.0]))
        levels = list(np.arange(MAX_LEVEL_DB, floor - 1, -10.0))
        p_rep = np.where(np.asarray(levels) == MAX_LEVEL_DB, 0.7, 0.2)
        p_third = np.zeros(len(levels))
    runs = 1 + (rng.uniform(size=len(levels)) < p_rep) + (rng.uniform(size=len(levels)) < p_third)
    return [level for level, k in zip(levels, runs, strict=True) for _ in range(k)]


def expected_series_length(rng: np.random.Generator, config: SimulationConfig) -> np.ndarray:
    """Mean records per ear for each class, from a pilot of ears (so that record-level fractions hit the target)."""
    k = PILOT_EARS_PER_CLASS
    means = np.zeros(len(CLASS_NAMES))
    for c in range(len(CLASS_NAMES)):
        cls = np.full(k, c)
        age = sample_age_weeks(rng, k, config)
        thr, _, _ = sample_thresholds(rng, cls, age, rng.standard_normal(k), config)
        means[c] = np.mean([len(ear_levels(rng, t)) for t in thr])
    return means


def _largest_remainder(n: int, p: np.ndarray) -> np.ndarray:
    """Integer counts summing to n, proportional to p (stratified: no sampling noise in the class mix)."""
    raw = n * p / p.sum()
    counts = np.floor(raw).astype(int)
    counts[np.argsort(-(raw - counts))[: n - counts.sum()]] += 1
    return counts


def sample_ears(rng: np.random.Generator, pilot_rng: np.random.Generator, config: SimulationConfig) -> Ears:
    """Patients (age, sex, class per ear, thresholds): two ears each, asymmetric losses allowed."""
    n = config.n_patients
    target = np.array([config.record_class_fractions()[c] for c in CLASS_NAMES])
    ear_share = target / expected_series_length(pilot_rng, config)  # ear-level class mix
    ear_share /= ear_share.sum()
    a = config.asymmetric_fraction
    primary = ear_share / (1.0 - a / 2.0)  # abnormal primaries lose a/2 of their ears to NORMAL
    primary[NORMAL] = max(0.0, 1.0 - primary[np.arange(len(CLASS_NAMES)) != NORMAL].sum())
    cls = rng.permutation(np.repeat(np.arange(len(CLASS_NAMES)), _largest_remainder(n, primary)))
    other = np.where((cls != NORMAL) & (rng.uniform(size=n) < a), NORMAL, cls)
    swap = rng.uniform(size=n) < 0.5  # which side is affected
    left, right = np.where(swap, other, cls), np.where(swap, cls, other)

    age = sample_age_weeks(rng, n, config)
    female = rng.uniform(size=n) < config.female_fraction
    w = np.asarray(config.rate_weights, dtype=float)
    rate = rng.choice(np.asarray(config.rates_hz), size=n, p=w / w.sum())
    z_pat = rng.standard_normal(n)

    patient = np.repeat(np.arange(n), 2)
    class_id = np.stack([left, right], axis=1).ravel()
    thr, gap, hf = sample_thresholds(rng, class_id, age[patient], z_pat[patient], config)
    return Ears(
        patient=patient,
        side=np.tile(np.array(["L", "R"]), n),
        class_id=class_id,
        threshold_db=thr,
        air_bone_gap_db=gap,
        hf_delay_ms=hf,
        age_weeks=age[patient],
        female=female[patient],
        base_rate_hz=rate[patient],
    )


# ----------------------------------------------------------------------------- records
@dataclass
class Records:
    """One row per averaged recording (N records)."""

    ear: np.ndarray  # (N,) index into Ears
    level_db: np.ndarray  # (N,)
    rate_hz: np.ndarray  # (N,)
    series_index: np.ndarray  # (N,) position in the ear's series


def build_records(rng: np.random.Generator, ears: Ears, config: SimulationConfig) -> Records:
    """Expand every ear into its intensity series; a few records run at another rate."""
    series = [ear_levels(rng, t) for t in ears.threshold_db]
    lengths = np.array([len(s) for s in series])
    ear = np.repeat(np.arange(lengths.size), lengths)
    level = np.concatenate(series)
    start = np.repeat(np.cumsum(lengths) - lengths, lengths)
    w = np.asarray(config.rate_weights, dtype=float)
    other_rate = rng.choice(np.asarray(config.rates_hz), size=ear.size, p=w / w.sum())
    switch = rng.uniform(size=ear.size) < config.rate_switch_probability
    rate = np.where(switch, other_rate, ears.base_rate_hz[ear])
    return Records(ear=ear, level_db=level, rate_hz=rate, series_index=np.arange(ear.size) - start)


def sample_draws(rng: np.random.Generator, ears: Ears, rec: Records) -> ResponseDraws:
    """Random deviates: an ear-level part (individual curve) plus a record-level part (run-to-run)."""
    e, n, ne = rec.ear, rec.ear.size, ears.class_id.size

    def mix(ear_w: float, rec_w: float) -> np.ndarray:
        return ear_w * rng.standard_normal(ne)[e] + rec_w * rng.standard_normal(n)

    log_sd = np.array([0.35, 0.3, 0.25])  # §8.4 log-normal SDs of I, III, V
    amp = np.exp(np.stack([mix(0.8, 0.6) for _ in range(3)], axis=1) * log_sd)
    ansd_large = rng.uniform(size=ne) < 0.4  # §5: large CM in 40% of ANSD ears
    cm_size = np.where((ears.class_id == NEUROPATHY) & ansd_large, rng.uniform(0.3, 0.5, ne), rng.uniform(0.1, 0.2, ne))
    return ResponseDraws(
        z_v=mix(0.8, 0.6),
        z_ipl=mix(0.9, 0.44),
        z_iii=mix(0.7, 0.71),
        amp_factor=amp,
        iv_ratio=rng.uniform(0.4, 0.55, ne)[e],
        ansd_delay_ms=rng.uniform(0.5, 2.0, ne)[e],
        ansd_width=rng.uniform(1.5, 2.0, ne)[e],
        ansd_amp_uv=rng.uniform(0.05, 0.15, ne)[e],
        snhl_amp=np.stack([rng.uniform(0.5, 0.9, ne)[e], rng.uniform(0.3, 0.6, ne)[e]], axis=1),
        cm_size=cm_size[e],
        cm_residue=np.exp(rng.uniform(np.log(0.05), np.log(0.3), n)),  # log-uniform 0.05–0.3 (§8.6)
        cm_freq_hz=rng.uniform(1000.0, 2000.0, ne)[e],
        cm_tau_ms=rng.uniform(1.5, 3.0, ne)[e],
        cm_t0_ms=rng.uniform(0.3, 1.0, ne)[e],
    )


def residual_noise(rng: np.random.Generator, ears: Ears, rec: Records, config: SimulationConfig):
    """RN (µV) = σ_sweep/√N_sweeps with σ_sweep log-normal per ear and run (§8.8); also returns N_sweeps."""
    s = config.sweep_noise_log_sd
    log_sigma = 0.75 * s * rng.standard_normal(ears.class_id.size)[rec.ear] + 0.66 * s * rng.standard_normal(
        rec.ear.size
    )
    sweeps = rng.integers(config.sweeps_range[0], config.sweeps_range[1] + 1, rec.ear.size)
    return config.sweep_noise_uv * np.exp(log_sigma) / np.sqrt(sweeps), sweeps


# ----------------------------------------------------------------------------- rendering
def _take(design: ResponseDesign, idx: np.ndarray | slice) -> ResponseDesign:
    return ResponseDesign(**{f.name: getattr(design, f.name)[idx] for f in dataclasses.fields(design)})


def padded_grid(config: SimulationConfig) -> tuple[np.ndarray, int]:
    """Time axis (ms) of the padded simulation grid and the index where the kept window starts (§8.1)."""
    fs = config.sampling_rate_hz
    n_before = round(config.pad_before_ms * fs / 1000.0)
    n_after = round(config.pad_after_ms * fs / 1000.0)
    t = config.t0_ms + (np.arange(n_before + config.n_samples + n_after) - n_before) * 1000.0 / fs
    return t, n_before


@dataclass
class RenderedChunk:
    clean: np.ndarray  # (n, T) kept window, filtered
    latency_ms: np.ndarray  # (n, 3) picked on the clean trace, NaN if absent / not found / outside window
    amplitude_uv: np.ndarray  # (n, 3)
    v_peak_to_trough_uv: np.ndarray  # (n,)


def render_clean(design: ResponseDesign, config: SimulationConfig, sos: np.ndarray) -> RenderedChunk:
    """Draw, band-pass (zero-phase) on the padded grid, re-pick the peaks, crop to the kept window."""
    t, start = padded_grid(config)
    raw = render_responses(design, t)  # (n, L)
    filtered = signal.sosfiltfilt(sos, raw, axis=-1)
    peaks = pick_peaks(filtered, t, design)
    t_end = config.t0_ms + (config.n_samples - 1) * 1000.0 / config.sampling_rate_hz
    inside = (peaks.latency_ms >= config.t0_ms) & (peaks.latency_ms <= t_end)
    return RenderedChunk(
        clean=filtered[:, start : start + config.n_samples],
        latency_ms=np.where(inside, peaks.latency_ms, np.nan),
        amplitude_uv=np.where(inside, peaks.amplitude_uv, np.nan),
        v_peak_to_trough_uv=np.where(inside[:, 2], peaks.v_peak_to_trough_uv, np.nan),
    )


def clinical_threshold(threshold_db: np.ndarray) -> np.ndarray:
    """Lowest 5-dB level with a response (SL > 0) — what a threshold search reports; NaN stays NaN."""
    return np.floor(threshold_db / 5.0) * 5.0 + 5.0


# ----------------------------------------------------------------------------- public entry point
def simulate_cohort(
    config: SimulationConfig, seed: int, progress: Callable[[int, int], None] | None = None
) -> ABRCohort:
    """Simulate a clinical cohort; deterministic for a given (config, seed)."""
    ss = np.random.SeedSequence(int(seed))
    s_pilot, s_patient, s_record, s_noise = ss.spawn(4)
    rng = np.random.default_rng(s_patient)
    ears = sample_ears(rng, np.random.default_rng(s_pilot), config)
    rrng = np.random.default_rng(s_record)
    rec = build_records(rrng, ears, config)
    e = rec.ear
    n = e.size
    draws = sample_draws(rrng, ears, rec)
    design = design_responses(
        class_id=ears.class_id[e],
        level_db=rec.level_db,
        threshold_db=ears.threshold_db[e],
        age_weeks=ears.age_weeks[e],
        female=ears.female[e],
        rate_hz=rec.rate_hz,
        hf_delay_ms=ears.hf_delay_ms[e],
        air_bone_gap_db=ears.air_bone_gap_db[e],
        draws=draws,
        female_latency_shift_ms=config.female_latency_shift_ms,
        female_amplitude_factor=config.female_amplitude_factor,
    )
    rn_uv, sweeps = residual_noise(rrng, ears, rec, config)

    sos = nz.bandpass_sos(config.sampling_rate_hz, config.bandpass_hz, config.filter_order)
    t_win = config.t0_ms + np.arange(config.n_samples) * 1000.0 / config.sampling_rate_hz
    n_fft = int(2 ** np.ceil(np.log2(2 * config.n_samples)))
    clean = np.empty((n, config.n_samples), dtype=np.float32)
    signals = np.empty((n, config.n_samples), dtype=np.float32)
    lat = np.full((n, 3), np.nan)
    amp = np.full((n, 3), np.nan)
    ptt = np.full(n, np.nan)
    fmp = np.empty(n)
    artifact = np.zeros(n, dtype=np.int8)
    chunk_seeds = s_noise.spawn(max(1, -(-n // config.chunk_size)))
    for k, lo in enumerate(range(0, n, config.chunk_size)):
        sl = slice(lo, min(n, lo + config.chunk_size))
        m = sl.stop - sl.start
        nrng = np.random.default_rng(chunk_seeds[k])
        out = render_clean(_take(design, sl), config, sos)
        rn = rn_uv[sl]
        eeg = nz.shaped_noise(nrng, m, n_fft, config.sampling_rate_hz, config.noise_exponent, sos)
        carrier = nz.shaped_noise(nrng, m, n_fft, config.sampling_rate_hz, 0.0, sos)
        burst, code = nz.bursts(nrng, carrier[:, : config.n_samples], rn, t_win, config.burst_probability)
        noise = eeg[:, : config.n_samples] * rn[:, None]
        noise += nz.mains_residue(nrng, m, t_win, config.mains_hz, config.mains_max_nv / 1000.0)
        noise += nz.stimulus_artifact(nrng, rec.level_db[sl], t_win, config.stimulus_artifact_uv)
        noise += burst
        clean[sl] = out.clean
        signals[sl] = out.clean + noise
        fmp[sl] = nz.fmp(nrng, out.clean.var(axis=1), rn, config.fmp_df)
        lat[sl], amp[sl], ptt[sl] = out.latency_ms, out.amplitude_uv, out.v_peak_to_trough_uv
        artifact[sl] = code
        if progress is not None:
            progress(sl.stop, n)

    lat_lab, amp_lab = visible_labels(lat, amp, ptt, rec.level_db, rn_uv, fmp, config)
    cls = ears.class_id[e]
    thr_true = ears.threshold_db[e]
    years = ears.age_weeks[e] / WEEKS_PER_YEAR
    static = np.zeros((n, len(STATIC_PARAMS)), dtype=np.float32)
    static[:, STATIC_PARAMS.index("age_years")] = np.floor(years)  # integer years, like the clinical export
    static[:, STATIC_PARAMS.index("intensity_db")] = rec.level_db
    static[:, STATIC_PARAMS.index("stimulus_rate_hz")] = rec.rate_hz
    static[:, STATIC_PARAMS.index("fmp")] = fmp
    return ABRCohort(
        signals=signals,
        static=static,
        patient_id=np.char.add("SIM", np.char.zfill(ears.patient[e].astype(str), 6)),
        ear=ears.side[e],
        latency_ms=lat_lab.astype(np.float32),
        amplitude_uv=amp_lab.astype(np.float32),
        class_id=cls.astype(np.int64),
        threshold_db=clinical_threshold(thr_true).astype(np.float32),
        no_response=~np.isfinite(thr_true),
        sampling_rate_hz=float(config.sampling_rate_hz),
        t0_ms=float(config.t0_ms),
        clean=clean,
        extras={
            "sex": np.where(ears.female[e], "F", "M"),
            "age_weeks": ears.age_weeks[e].astype(np.float32),
            "residual_noise_nv": (rn_uv * 1000.0).astype(np.float32),
            "n_sweeps": sweeps.astype(np.int32),
            "v_peak_to_trough_uv": ptt.astype(np.float32),
            "v_present": design.present[:, 2].copy(),
            "sensation_level_db": design.sensation_level_db.astype(np.float32),
            "true_threshold_db": thr_true.astype(np.float32),
            "air_bone_gap_db": ears.air_bone_gap_db[e].astype(np.float32),
            "cm_amplitude_uv": design.cm_amplitude_uv.astype(np.float32),
            "artifact": artifact,
            "series_index": rec.series_index.astype(np.int32),
        },
        attrs={
            "generator": GENERATOR_NAME,
            "generator_version": GENERATOR_VERSION,
            "schema_version": SCHEMA_VERSION,
            "seed": int(seed),
            "config": config.to_json(),
        },
    )


def visible_labels(
    lat: np.ndarray,
    amp: np.ndarray,
    ptt: np.ndarray,
    level_db: np.ndarray,
    rn_uv: np.ndarray,
    fmp: np.ndarray,
    config: SimulationConfig,
) -> tuple[np.ndarray, np.ndarray]:
    """Keep only the peaks an expert would mark in the noisy trace (§8.7); the rest become NaN.

    V: V–V′ > 2.5·RN or Fmp > 1.5. I and III: only at ≥ 60 dB, amplitude > 2·RN, and only alongside a marked V.
    """
    v_ok = np.isfinite(lat[:, 2]) & ((ptt > config.v_visibility_rn * rn_uv) | (fmp > config.v_visibility_fmp))
    early_ok = (
        np.isfinite(lat[:, :2])
        & (level_db >= config.early_wave_min_level_db)[:, None]
        & (amp[:, :2] > config.early_wave_visibility_rn * rn_uv[:, None])
        & v_ok[:, None]
    )
    keep = np.concatenate([early_ok, v_ok[:, None]], axis=1)
    return np.where(keep, lat, np.nan), np.where(keep, amp, np.nan)


__all__ = ["CONDUCTIVE", "NEUROPATHY", "NORMAL", "SNHL", "TOTAL", "simulate_cohort"]
