"""Click-ABR physiology per record: level mapping, latencies, amplitudes, morphology and label picking.

All functions are vectorised over records (arrays of shape (N,)). Random deviates are passed in explicitly
(`ResponseDraws`), so the same functions give the noise-free population mean when the draws are neutral — which is
what the tests use. Section numbers (§n) refer to /work/shared/reference/abr_physiology.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from abrnet.constants import CLASS_NAMES

NORMAL, NEUROPATHY, SNHL, TOTAL, CONDUCTIVE = (CLASS_NAMES.index(c) for c in CLASS_NAMES)
WEEKS_PER_YEAR = 52.18
PP_PER_DESIGN_AMPLITUDE = 1.85  # §8.5: filtered V–V′ ≈ 1.85 × the design A_V
WAVE_I, WAVE_III, WAVE_V = 0, 1, 2


# ----------------------------------------------------------------------------- level mapping (§5, §8.2)
def equivalent_level(level_db: np.ndarray, threshold_db: np.ndarray, class_id: np.ndarray) -> np.ndarray:
    """Level x a normal ear (threshold 10 dB) would need for the same response.

    Normal and conductive: x = I − T + 10, so a conductive ear is the normal curve shifted by its air-bone gap.
    SNHL: recruitment x = 10 + (I − T)·90/(100 − T), the steep L–I curve of cochlear loss (slope capped at ×3, §5).
    """
    sl = level_db - threshold_db
    gain = 90.0 / np.maximum(100.0 - threshold_db, 30.0)
    return np.where(class_id == SNHL, 10.0 + sl * gain, sl + 10.0)


# ----------------------------------------------------------------------------- latency terms (§2–§4)
def latency_v_intensity_ms(x: np.ndarray) -> np.ndarray:
    """Wave V latency of a normal adult at equivalent level x (Elberling 2010 fit, §0)."""
    return 5.07 + 4.35 * np.exp(-np.asarray(x, dtype=float) / 37.2)


def maturation_shift_ms(age_weeks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Extra latency of waves I and V in infants (weeks after term; §3, Eggermont & Salamy time constants)."""
    a = np.maximum(np.asarray(age_weeks, dtype=float), 0.0)
    d_i = 0.2 * np.exp(-a / 5.0)
    d_v = 0.6 * np.exp(-a / 5.0) + 0.55 * np.exp(-a / 100.0)
    return d_i, d_v


def ageing_shift_ms(age_weeks: np.ndarray) -> np.ndarray:
    """Wave V delay after 25 years: 0.007 ms/yr (Jerger & Hall 1980, §3)."""
    return 0.007 * np.maximum(np.asarray(age_weeks) / WEEKS_PER_YEAR - 25.0, 0.0)


def rate_shift_v_ms(rate_hz: np.ndarray, age_weeks: np.ndarray) -> np.ndarray:
    """Wave V delay from the click rate: 0.0055 ms per click/s above 11/s, ×1.75 under 1 year (§4)."""
    k = np.where(np.asarray(age_weeks) < WEEKS_PER_YEAR, 0.0055 * 1.75, 0.0055)
    return k * (np.asarray(rate_hz, dtype=float) - 11.0)


# ----------------------------------------------------------------------------- random deviates
@dataclass
class ResponseDraws:
    """Per-record random deviates; `neutral(n)` gives the population mean (all z = 0, all factors = 1)."""

    z_v: np.ndarray  # (N,) standard normal for the wave V latency (§8.3 σ_V)
    z_ipl: np.ndarray  # (N,) I–V interval
    z_iii: np.ndarray  # (N,) III position
    amp_factor: np.ndarray  # (N, 3) log-normal amplitude factors for I, III, V
    iv_ratio: np.ndarray  # (N,) size of wave IV relative to V (0.4–0.55, §8.5)
    ansd_delay_ms: np.ndarray  # (N,) late residual V in ANSD (0.5–2 ms, §8.4)
    ansd_width: np.ndarray  # (N,) its broadening (×1.5–2)
    ansd_amp_uv: np.ndarray  # (N,) its design amplitude (0.05–0.15 µV)
    snhl_amp: np.ndarray  # (N, 2) SNHL factors for V (0.5–0.9) and I (0.3–0.6)
    cm_size: np.ndarray  # (N,) CM amplitude at 90 dB, µV, single polarity (§8.6)
    cm_residue: np.ndarray  # (N,) fraction left after alternating polarity (0.05–0.3)
    cm_freq_hz: np.ndarray  # (N,)
    cm_tau_ms: np.ndarray  # (N,)
    cm_t0_ms: np.ndarray  # (N,)

    @classmethod
    def neutral(cls, n: int) -> ResponseDraws:
        one, zero = np.ones(n), np.zeros(n)
        return cls(
            z_v=zero,
            z_ipl=zero,
            z_iii=zero,
            amp_factor=np.ones((n, 3)),
            iv_ratio=np.full(n, 0.475),
            ansd_delay_ms=np.full(n, 1.25),
            ansd_width=np.full(n, 1.75),
            ansd_amp_uv=np.full(n, 0.1),
            snhl_amp=np.tile([0.7, 0.45], (n, 1)),
            cm_size=0.15 * one,
            cm_residue=0.15 * one,
            cm_freq_hz=1500.0 * one,
            cm_tau_ms=2.0 * one,
            cm_t0_ms=0.6 * one,
        )


# ----------------------------------------------------------------------------- design
@dataclass
class ResponseDesign:
    """Everything needed to draw a clean waveform and to know which waves exist."""

    present: np.ndarray  # (N, 3) bool: I, III, V physiologically present
    latency_ms: np.ndarray  # (N, 3) design latencies
    amplitude_uv: np.ndarray  # (N, 3) design (pre-filter) peak amplitudes
    width: np.ndarray  # (N,) peak-width scale w (§8.5)
    iv_ratio: np.ndarray  # (N,) wave IV / V
    sensation_level_db: np.ndarray  # (N,) I − T (NaN without a threshold)
    equivalent_sl_db: np.ndarray  # (N,) x − 10, drives amplitude and width
    cm_amplitude_uv: np.ndarray  # (N,) cochlear microphonic after alternating-polarity cancellation
    cm_freq_hz: np.ndarray
    cm_tau_ms: np.ndarray
    cm_t0_ms: np.ndarray


def design_responses(
    class_id: np.ndarray,
    level_db: np.ndarray,
    threshold_db: np.ndarray,
    age_weeks: np.ndarray,
    female: np.ndarray,
    rate_hz: np.ndarray,
    hf_delay_ms: np.ndarray | None = None,
    air_bone_gap_db: np.ndarray | None = None,
    draws: ResponseDraws | None = None,
    female_latency_shift_ms: float = 0.1,
    female_amplitude_factor: float = 1.25,
) -> ResponseDesign:
    """Latency, amplitude and width of waves I, III, V for each record (recipe §8.2–§8.6).

    `threshold_db` is the ear's physiological threshold (NaN = no ABR at any level: TOTAL, most ANSD).
    For NEUROPATHY a finite threshold means the small, late, broad residual V of ~25% of ANSD ears (§5).
    """
    class_id = np.asarray(class_id)
    level = np.asarray(level_db, dtype=float)
    n = level.shape[0]
    d = draws if draws is not None else ResponseDraws.neutral(n)
    thr = np.asarray(threshold_db, dtype=float)
    age = np.asarray(age_weeks, dtype=float)
    fem = np.asarray(female, dtype=bool)
    rate = np.asarray(rate_hz, dtype=float)
    hf = np.zeros(n) if hf_delay_ms is None else np.asarray(hf_delay_ms, dtype=float)
    abg = np.zeros(n) if air_bone_gap_db is None else np.asarray(air_bone_gap_db, dtype=float)

    has_thr = np.isfinite(thr)
    sl = np.where(has_thr, level - np.where(has_thr, thr, 0.0), np.nan)  # (N,)
    x = equivalent_level(level, np.where(has_thr, thr, 200.0), class_id)
    sl_eq = np.where(has_thr, x - 10.0, -100.0)
    v_present = has_thr & (sl > 0) & (class_id != TOTAL)
    ansd = class_id == NEUROPATHY

    # Latencies (§8.3): V from the L–I fit plus age, rate, high-frequency loss and sex.
    d_i_age, d_v_age = maturation_shift_ms(age)
    d_v_rate = rate_shift_v_ms(rate, age)
    sigma_v = 0.2 + 0.55 * np.exp(-np.clip(sl_eq, 0.0, None) / 25.0)
    l_v = (
        latency_v_intensity_ms(x)
        + d_v_age
        + ageing_shift_ms(age)
        + d_v_rate
        + hf
        - female_latency_shift_ms * fem
        + sigma_v * d.z_v
    )
    # I–V: 4.0 ms adult, longer in infants, slightly shorter at low levels; wave I takes 30% of the rate shift (§4).
    ipl = 4.0 + d_v_age - d_i_age - 0.004 * np.clip(80.0 - x, 0.0, None) + 0.7 * d_v_rate + 0.15 * d.z_ipl
    l_v = np.where(ansd, l_v + d.ansd_delay_ms, l_v)
    l_i = l_v - ipl
    l_iii = l_i + 0.53 * ipl + 0.12 * d.z_iii

    # Amplitudes (§8.4), design units: V–V′ target / 1.85 (§8.5).
    rate_over = np.clip(rate - 11.0, 0.0, None)
    years = age / WEEKS_PER_YEAR
    old = np.clip(years - 25.0, 0.0, None)
    f_sex = np.where(fem, female_amplitude_factor, 1.0)
    f_age_v = (1.0 - 0.2 * np.exp(-age / 26.0)) * np.maximum(0.7, 1.0 - 0.0033 * old)  # neonates V/I ≈ 1 (§3)
    f_age_i = (1.0 + 0.2 * np.exp(-age / 26.0)) * np.maximum(0.5, 1.0 - 0.008 * old)  # synaptopathy with age
    sl_pos = np.clip(sl_eq, 0.0, None)
    a_v = 0.48 * sl_pos / (sl_pos + 9.0) / PP_PER_DESIGN_AMPLITUDE
    a_v = a_v * (1.0 - 0.003 * rate_over) * f_age_v * f_sex * d.amp_factor[:, 2]
    a_i = 0.30 * np.clip((sl_eq - 25.0) / 45.0, 0.0, 1.0) * (1.0 - 0.006 * rate_over) * f_age_i * f_sex
    a_i = a_i * d.amp_factor[:, 0]
    a_iii = 0.30 * np.clip((sl_eq - 15.0) / 45.0, 0.0, 1.0) * (1.0 - 0.0045 * rate_over) * f_sex * d.amp_factor[:, 1]
    snhl = class_id == SNHL
    a_v = np.where(snhl, a_v * d.snhl_amp[:, 0], a_v)
    a_i = np.where(snhl, a_i * d.snhl_amp[:, 1], a_i)
    # ANSD: no I/III, only the small late V when present (§5).
    a_v = np.where(ansd, d.ansd_amp_uv * np.clip(sl_pos / 10.0, 0.0, 1.0), a_v)
    a_i = np.where(ansd, 0.0, a_i)
    a_iii = np.where(ansd, 0.0, a_iii)

    # Widths (§8.5): broaden near threshold, ×1.3 in neonates falling to 1 by 2 years, ANSD V ×1.5–2.
    w = (1.0 + 0.5 * np.exp(-sl_pos / 20.0)) * (1.0 + 0.3 * np.exp(-age / 35.0))
    w = np.where(ansd, w * d.ansd_width, w)
    iv = np.where(ansd, 0.0, d.iv_ratio)

    present = np.stack([v_present & (a_i > 0), v_present & (a_iii > 0), v_present & (a_v > 0)], axis=1)
    amp = np.stack([a_i, a_iii, a_v], axis=1) * present

    # Cochlear microphonic (§5, §8.6): present in every ear with hair cells; alternating polarity leaves a residue.
    # Conductive ears receive I − ABG; SNHL ears have fewer outer hair cells; ANSD: normal (60%) or large (40%) CM.
    cm_level = level - abg
    cm = d.cm_size * 10.0 ** ((cm_level - 90.0) / 20.0) * d.cm_residue
    cm = np.where(snhl, cm * 0.3, cm)
    cm = np.where(class_id == TOTAL, 0.0, cm)
    return ResponseDesign(
        present=present,
        latency_ms=np.stack([l_i, l_iii, l_v], axis=1),
        amplitude_uv=amp,
        width=w,
        iv_ratio=iv,
        sensation_level_db=sl,
        equivalent_sl_db=np.where(has_thr, sl_eq, np.nan),
        cm_amplitude_uv=cm,
        cm_freq_hz=d.cm_freq_hz,
        cm_tau_ms=d.cm_tau_ms,
        cm_t0_ms=d.cm_t0_ms,
    )


# ----------------------------------------------------------------------------- morphology (§8.5, §8.6)
def _g(t: np.ndarray, mu: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Gaussian wavelet exp(−½((t−μ)/s)²); t (T,), μ and s (N,) → (N, T)."""
    z = (t[None, :] - mu[:, None]) / s[:, None]
    return np.exp(-0.5 * z * z)


def render_responses(design: ResponseDesign, t_ms: np.ndarray) -> np.ndarray:
    """Unfiltered response on the time grid t_ms: sum of wavelets for I, II, III, IV, V, V′, SN10 plus the CM.

    Returns (N, T) µV. Band-pass it afterwards (zero-phase keeps the designed latencies, §8.5).
    """
    a_i, a_iii, a_v = design.amplitude_uv.T
    l_i, l_iii, l_v = design.latency_ms.T
    w = design.width
    y = np.zeros((a_i.shape[0], t_ms.shape[0]))  # (N, T)
    early = a_i > 0
    if early.any():  # waves I, I′ and II only where wave I exists
        e = np.flatnonzero(early)
        we, li = w[e], l_i[e]
        y[e] += a_i[e, None] * (_g(t_ms, li, 0.17 * we) - 0.55 * _g(t_ms, li + 0.55 * we, 0.22 * we))
        y[e] += 0.35 * a_i[e, None] * _g(t_ms, li + 1.05, 0.2 * we)
    mid = a_iii > 0
    if mid.any():
        m = np.flatnonzero(mid)
        wm, l3 = w[m], l_iii[m]
        y[m] += a_iii[m, None] * (_g(t_ms, l3, 0.22 * wm) - 0.6 * _g(t_ms, l3 + 0.65 * wm, 0.25 * wm))
    late = a_v > 0
    if late.any():
        v = np.flatnonzero(late)
        wv, lv, av = w[v], l_v[v], a_v[v, None]
        y[v] += design.iv_ratio[v, None] * av * _g(t_ms, lv - 0.75 * wv, 0.22 * wv)  # IV shoulder
        y[v] += av * (_g(t_ms, lv, 0.28 * wv) - 0.9 * _g(t_ms, lv + wv, 0.4 * wv))  # V and V′
        y[v] -= 0.35 * av * _g(t_ms, lv + 3.0 * wv, 1.6 * wv)  # SN10
    y += cochlear_microphonic(design, t_ms)
    return y


def cochlear_microphonic(design: ResponseDesign, t_ms: np.ndarray) -> np.ndarray:
    """Damped ringing A·e^(−(t−t0)/τ)·sin(2πf(t−t0)) for t > t0 (§8.6); (N, T) µV."""
    dt = t_ms[None, :] - design.cm_t0_ms[:, None]  # (N, T)
    on = dt > 0
    dt_pos = np.where(on, dt, 0.0)
    ring = np.exp(-dt_pos / design.cm_tau_ms[:, None]) * np.sin(2e-3 * np.pi * design.cm_freq_hz[:, None] * dt_pos)
    return design.cm_amplitude_uv[:, None] * ring * on


# ----------------------------------------------------------------------------- label picking (§8.7)
@dataclass
class PickedPeaks:
    """Peaks re-picked on the clean filtered trace (padded grid); NaN where not found."""

    latency_ms: np.ndarray  # (N, 3)
    amplitude_uv: np.ndarray  # (N, 3) baseline-referenced
    v_peak_to_trough_uv: np.ndarray  # (N,) V minus the V′ trough


def pick_peaks(clean: np.ndarray, t_ms: np.ndarray, design: ResponseDesign, search_ms: float = 0.4) -> PickedPeaks:
    """Find each present wave's maximum within ±search_ms of its design latency (§8.7).

    A wave counts as found only when that maximum is a true local maximum inside the search window (a wave that
    has merged into a slope is not identifiable). Sub-sample position and height by parabolic interpolation.
    """
    n = clean.shape[0]
    dt = float(t_ms[1] - t_ms[0])
    half = max(1, round(search_ms / dt))
    offsets = np.arange(-half, half + 1)  # (K,)
    rows = np.arange(n)[:, None]
    lat = np.full((n, 3), np.nan)
    amp = np.full((n, 3), np.nan)
    centre_idx = np.full((n, 3), -1)
    for j in range(3):
        centre = np.rint((np.nan_to_num(design.latency_ms[:, j]) - t_ms[0]) / dt).astype(int)
        idx = np.clip(centre[:, None] + offsets[None, :], 1, len(t_ms) - 2)  # (N, K)
        seg = clean[rows, idx]  # (N, K)
        k = np.argmax(seg, axis=1)
        peak = idx[np.arange(n), k]
        y0, y1, y2 = clean[np.arange(n), peak - 1], clean[np.arange(n), peak], clean[np.arange(n), peak + 1]
        is_max = (k > 0) & (k < len(offsets) - 1) & (y1 >= y0) & (y1 >= y2)
        ok = design.present[:, j] & is_max
        denom = y0 - 2.0 * y1 + y2
        safe = np.where(np.abs(denom) > 1e-12, denom, -1.0)
        delta = np.where(np.abs(denom) > 1e-12, np.clip(0.5 * (y0 - y2) / safe, -0.5, 0.5), 0.0)
        lat[:, j] = np.where(ok, t_ms[peak] + delta * dt, np.nan)
        amp[:, j] = np.where(ok, y1 - 0.25 * (y0 - y2) * delta, np.nan)
        centre_idx[:, j] = np.where(ok, peak, -1)

    # V′: the minimum over the 2w ms after the V peak.
    span = int(np.ceil(3.0 / dt))
    v_idx = centre_idx[:, 2]
    idx = np.clip(np.maximum(v_idx, 0)[:, None] + np.arange(1, span + 1)[None, :], 0, len(t_ms) - 1)  # (N, S)
    after = t_ms[idx] <= (t_ms[np.maximum(v_idx, 0)] + 2.0 * design.width)[:, None]
    trough = np.where(after, clean[rows, idx], np.inf).min(axis=1)
    ptt = np.where(v_idx >= 0, amp[:, 2] - trough, np.nan)
    return PickedPeaks(latency_ms=lat, amplitude_uv=amp, v_peak_to_trough_uv=ptt)
