"""Patients → ears → protocol-driven intensity series → A/B-buffered recordings, with expert-style labels.

Why patients and not loose waveforms: records of one ear share a threshold, an age, a noise state and individual
latency/amplitude offsets, as in a clinical export. Section numbers (§n) refer to abr_physiology.md.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from abrnet.constants import CLASS_NAMES, STATIC_PARAMS
from abrnet.data.fmp import FMP_FROM_BUFFERS
from abrnet.data.schema import SCHEMA_VERSION, ABRCohort
from abrnet.data.simulate.config import SimulationConfig
from abrnet.data.simulate.physiology import (
    CONDUCTIVE,
    NEUROPATHY,
    NORMAL,
    SNHL,
    TOTAL,
    WEEKS_PER_YEAR,
    ResponseDraws,
)
from abrnet.data.simulate.protocol import Plan, clinical_search, draw_testers, plan_candidates, proxy_series_length
from abrnet.data.simulate.recording import visible_labels, visible_threshold
from abrnet.data.simulate.render import render_candidates

GENERATOR_NAME = "abrnet.data.simulate"
# 2: protocols that do not know the threshold, A/B buffers, visible labels; 2.1: one wave V curve per ear
GENERATOR_VERSION = "2.1.0"
PILOT_EARS_PER_CLASS = 400
CLINICAL_MAX_SWEEPS = 8000  # sweep limit of a clinical run that has not reached its noise target


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


def _largest_remainder(n: int, p: np.ndarray) -> np.ndarray:
    """Integer counts summing to n, proportional to p (stratified: no sampling noise in the class mix)."""
    raw = n * p / p.sum()
    counts = np.floor(raw).astype(int)
    counts[np.argsort(-(raw - counts))[: n - counts.sum()]] += 1
    return counts


def expected_series_length(rng: np.random.Generator, config: SimulationConfig) -> np.ndarray:
    """Mean records per ear for each class under the configured protocol (class mix only, see `protocol`)."""
    k = PILOT_EARS_PER_CLASS
    means = np.zeros(len(CLASS_NAMES))
    for c in range(len(CLASS_NAMES)):
        age = sample_age_weeks(rng, k, config)
        thr, _, _ = sample_thresholds(rng, np.full(k, c), age, rng.standard_normal(k), config)
        means[c] = proxy_series_length(rng, thr, config.protocol, len(config.fixed_levels_db), config.fixed_fraction)
    return means


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
    """One row per candidate recording (N rows); the protocol later keeps the ones the tester recorded."""

    ear: np.ndarray  # (N,) index into Ears
    level_db: np.ndarray  # (N,)
    rate_hz: np.ndarray  # (N,)
    run: np.ndarray  # (N,) 0 = first run at this level, 1 = replicate


def build_candidates(rng: np.random.Generator, ears: Ears, config: SimulationConfig) -> tuple[Records, Plan]:
    """Every recording the ear's protocol may make; a few records run at another rate."""
    plan = plan_candidates(
        rng, ears.class_id.size, config.protocol, tuple(config.fixed_levels_db), config.fixed_fraction
    )
    ear = plan.ear
    w = np.asarray(config.rate_weights, dtype=float)
    other_rate = rng.choice(np.asarray(config.rates_hz), size=ear.size, p=w / w.sum())
    switch = rng.uniform(size=ear.size) < config.rate_switch_probability
    rate = np.where(switch, other_rate, ears.base_rate_hz[ear])
    return Records(ear=ear, level_db=plan.level_db, rate_hz=rate, run=plan.run), plan


V_LATENCY_RECORD_WEIGHT = 0.15  # share of σ_V that changes from record to record (run-to-run scatter)
V_LATENCY_EAR_WEIGHT = float(np.sqrt(1.0 - V_LATENCY_RECORD_WEIGHT**2))  # the rest is the ear's: total SD stays σ_V


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
        # Wave V's deviate is the ear's own (its place on the §8.3 spread); the record part is run-to-run scatter of
        # ~0.1 ms near threshold (0.15 σ_V), so one ear's V moves along one latency–intensity curve. It was 0.6 σ_V
        # (an SD of up to 0.45 ms per record) until 2.1: a quarter of ears had V > 0.3 ms later at a louder level.
        z_v=mix(V_LATENCY_EAR_WEIGHT, V_LATENCY_RECORD_WEIGHT),
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


def residual_noise(
    rng: np.random.Generator, ears: Ears, rec: Records, plan: Plan, config: SimulationConfig
) -> tuple[np.ndarray, np.ndarray]:
    """RN (µV) = σ_sweep/√N_sweeps with σ_sweep log-normal per ear and run (§8.8); also returns N_sweeps.

    Fixed-protocol runs average a preset number of sweeps. A clinical tester keeps averaging until the residual
    noise reaches a stop target (§6: 20–40 nV in children, 40 nV in adults) or the sweep limit, so its runs are
    quieter; the target is the tester's, not the ear's hearing.
    """
    s = config.sweep_noise_log_sd
    log_sigma = 0.75 * s * rng.standard_normal(ears.class_id.size)[rec.ear] + 0.66 * s * rng.standard_normal(
        rec.ear.size
    )
    sigma = config.sweep_noise_uv * np.exp(log_sigma)
    sweeps = rng.integers(config.sweeps_range[0], config.sweeps_range[1] + 1, rec.ear.size)
    target = rng.uniform(*config.clinical_stop_rn_nv, ears.class_id.size)[rec.ear] / 1000.0
    needed = np.ceil((sigma / target) ** 2).astype(int)
    sweeps = np.where(plan.clinical[rec.ear], np.clip(needed, config.sweeps_range[0], CLINICAL_MAX_SWEEPS), sweeps)
    return sigma / np.sqrt(sweeps), sweeps


# ----------------------------------------------------------------------------- public entry point
def run_protocol(
    rng: np.random.Generator, rec: Records, plan: Plan, fmp: np.ndarray, config: SimulationConfig
) -> np.ndarray:
    """Indices of the candidates that were recorded, ear by ear in recording order, and each ear's tester."""
    testers = draw_testers(rng, plan.clinical.size, config.tester_criterion, config.tester_lapse)
    keep: list[np.ndarray] = []
    bounds = np.flatnonzero(np.diff(rec.ear, prepend=-1, append=rec.ear.size + 1) != 0)
    for lo, hi in itertools.pairwise(bounds):
        e = int(rec.ear[lo])
        if not plan.clinical[e]:
            keep.append(np.arange(lo, hi))
            continue
        index = {(float(rec.level_db[i]), int(rec.run[i])): i for i in range(lo, hi)}
        stat = {key: float(fmp[i]) for key, i in index.items()}
        keep.append(np.array([index[key] for key in clinical_search(rng, stat, testers, e)], dtype=int))
    return np.concatenate(keep)


def simulate_cohort(
    config: SimulationConfig, seed: int, progress: Callable[[int, int], None] | None = None
) -> ABRCohort:
    """Simulate a cohort recorded by the configured protocol; deterministic for a given (config, seed)."""
    ss = np.random.SeedSequence(int(seed))
    s_pilot, s_patient, s_record, s_noise, s_tester = ss.spawn(5)
    ears = sample_ears(np.random.default_rng(s_patient), np.random.default_rng(s_pilot), config)
    rrng = np.random.default_rng(s_record)
    cand, plan = build_candidates(rrng, ears, config)
    draws = sample_draws(rrng, ears, cand)
    rn_true, sweeps = residual_noise(rrng, ears, cand, plan, config)
    r = render_candidates(ears, cand, draws, rn_true, config, s_noise, progress)
    kept = run_protocol(np.random.default_rng(s_tester), cand, plan, r["fmp"], config)

    e = cand.ear[kept]
    level = cand.level_db[kept]
    lat, amp = visible_labels(
        r["latency"][kept],
        r["amplitude"][kept],
        r["ptt"][kept],
        level,
        r["rn_est"][kept],
        v_visibility_rn=config.v_visibility_rn,
        early_wave_min_level_db=config.early_wave_min_level_db,
        early_wave_visibility_rn=config.early_wave_visibility_rn,
    )
    thr_label, no_response = visible_threshold(e, level, np.isfinite(lat[:, 2]))
    n = kept.size
    years = ears.age_weeks[e] / WEEKS_PER_YEAR
    static = np.zeros((n, len(STATIC_PARAMS)), dtype=np.float32)
    static[:, STATIC_PARAMS.index("age_years")] = np.floor(years)  # integer years, like the clinical export
    static[:, STATIC_PARAMS.index("intensity_db")] = level
    static[:, STATIC_PARAMS.index("stimulus_rate_hz")] = cand.rate_hz[kept]
    static[:, STATIC_PARAMS.index("fmp")] = r["fmp"][kept]
    buffers = r["buffers"][kept]
    starts = np.flatnonzero(np.diff(e, prepend=-1) != 0)
    series_index = np.arange(n) - np.repeat(starts, np.diff(np.append(starts, n)))
    protocol = np.where(plan.clinical[e], "clinical", "fixed")
    return ABRCohort(
        signals=buffers.mean(axis=1),
        static=static,
        patient_id=np.char.add("SIM", np.char.zfill(ears.patient[e].astype(str), 6)),
        ear=ears.side[e],
        latency_ms=lat.astype(np.float32),
        amplitude_uv=amp.astype(np.float32),
        class_id=ears.class_id[e].astype(np.int64),
        threshold_db=thr_label.astype(np.float32),
        no_response=no_response,
        sampling_rate_hz=float(config.sampling_rate_hz),
        t0_ms=float(config.t0_ms),
        clean=r["clean"][kept],
        buffers=buffers,
        extras={
            "sex": np.where(ears.female[e], "F", "M"),
            "age_weeks": ears.age_weeks[e].astype(np.float32),
            # Simulator truth, for labelled upper bounds only: no inference or evaluation path reads these.
            "true_residual_noise_nv": (rn_true[kept] * 1000.0).astype(np.float32),
            "true_threshold_db": ears.threshold_db[e].astype(np.float32),
            "n_sweeps": sweeps[kept].astype(np.int32),
            "v_peak_to_trough_uv": r["ptt"][kept].astype(np.float32),
            "v_present": r["v_present"][kept].copy(),
            "sensation_level_db": r["sensation_level_db"][kept].astype(np.float32),
            "air_bone_gap_db": ears.air_bone_gap_db[e].astype(np.float32),
            "cm_amplitude_uv": r["cm_amplitude_uv"][kept].astype(np.float32),
            "artifact": r["artifact"][kept],
            "series_index": series_index.astype(np.int32),
            "protocol": protocol,
            "run": cand.run[kept].astype(np.int8),
        },
        attrs={
            "generator": GENERATOR_NAME,
            "generator_version": GENERATOR_VERSION,
            "schema_version": SCHEMA_VERSION,
            "seed": int(seed),
            "protocol": config.protocol,
            "fmp_source": FMP_FROM_BUFFERS,
            "config": config.to_json(),
        },
    )


__all__ = ["CONDUCTIVE", "NEUROPATHY", "NORMAL", "SNHL", "TOTAL", "simulate_cohort"]
