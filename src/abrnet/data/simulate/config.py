"""Settings of the simulated cohort: sizes, recording grid, class mix and the physiology/noise knobs.

Every number that is not a size has a default taken from /work/shared/reference/abr_physiology.md (cited as §n).
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field

from abrnet.constants import (
    CLASS_NAMES,
    DEFAULT_N_SAMPLES,
    DEFAULT_SAMPLING_RATE_HZ,
    DEFAULT_T0_MS,
    RECORDING_BAND_HZ,
    RECORDING_FILTER_ORDER,
)
from abrnet.data.fmp import FMP_WINDOW_MS

# Record-level class mix of the clinical export the project was first trained on (§1).
DEFAULT_CLASS_FRACTIONS: dict[str, float] = {
    "NORMAL": 0.797,
    "NEUROPATHY": 0.008,
    "SNHL": 0.106,
    "TOTAL": 0.033,
    "CONDUCTIVE": 0.056,
}

# Clinical click rates (§1, §6): mostly 33.1/s, a few slow/fast runs; median 33.1, mean ≈33.5.
DEFAULT_RATES_HZ: tuple[float, ...] = (11.1, 21.1, 27.7, 33.1, 37.1, 39.1, 45.1, 49.1)
DEFAULT_RATE_WEIGHTS: tuple[float, ...] = (0.01, 0.02, 0.03, 0.82, 0.04, 0.04, 0.02, 0.02)


@dataclass
class SimulationConfig:
    """What to simulate. Validated on construction (`ValueError` names the bad field)."""

    n_patients: int = 2000
    n_samples: int = DEFAULT_N_SAMPLES
    sampling_rate_hz: float = DEFAULT_SAMPLING_RATE_HZ
    t0_ms: float = DEFAULT_T0_MS
    class_fractions: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_CLASS_FRACTIONS))
    balanced: bool = False  # equal record-level class fractions (class-balanced evaluation cohort)

    # --- patients and ears
    asymmetric_fraction: float = 0.15  # abnormal patients whose other ear is NORMAL (unilateral loss)
    female_fraction: float = 0.5
    infant_fraction: float = 0.62  # under 1 year (§1: age median 0)
    adult_age_range: tuple[float, float] = (8.0, 40.0)  # the few older patients, years
    neuropathy_residual_v_fraction: float = 0.3  # ANSD ears with a small late V (§5: 21–27%)

    # --- stimulus
    rates_hz: tuple[float, ...] = DEFAULT_RATES_HZ
    rate_weights: tuple[float, ...] = DEFAULT_RATE_WEIGHTS
    rate_switch_probability: float = 0.05  # a single record run at another rate (rate study)
    female_latency_shift_ms: float = 0.1  # §8.3
    female_amplitude_factor: float = 1.25  # §8.4

    # --- recording grid and filter (§8.1, §8.5)
    pad_before_ms: float = 20.0
    pad_after_ms: float = 10.0
    bandpass_hz: tuple[float, float] = RECORDING_BAND_HZ
    filter_order: int = RECORDING_FILTER_ORDER

    # --- noise (§6, §8.8)
    sweep_noise_uv: float = 4.0  # median single-sweep RMS after the filter
    sweep_noise_log_sd: float = 0.6
    sweeps_range: tuple[int, int] = (1000, 4000)
    noise_exponent: float = 1.0  # 1/f^alpha power spectrum before the band-pass
    mains_hz: float = 50.0
    mains_max_nv: float = 20.0
    burst_probability: float = 0.03  # myogenic / rejected-sweep bursts
    stimulus_artifact_uv: float = 0.3  # residue at 100 dB after alternating polarity

    # --- protocol: which levels are recorded (see abrnet.data.simulate.protocol); never reads the threshold
    protocol: str = "mixed"  # fixed | clinical | mixed
    fixed_levels_db: tuple[float, ...] = tuple(float(x) for x in range(0, 101, 5))  # the grid of `fixed`
    fixed_fraction: float = 0.5  # share of ears on a fixed grid in `mixed`
    tester_criterion: tuple[float, float] = (1.3, 2.0)  # FMP a tester needs to "see" a response, per ear
    tester_lapse: float = 0.03  # probability that one decision of the tester is wrong
    clinical_stop_rn_nv: tuple[float, float] = (25.0, 50.0)  # residual noise a clinical run averages down to (§6)

    # --- labels (§8.7): from the waveform and the recording's own noise estimate, never from an input
    v_visibility_rn: float = 2.0  # V labelled if V–V′ > this × the residual noise estimated from the buffers
    early_wave_min_level_db: float = 60.0
    early_wave_visibility_rn: float = 2.2

    chunk_size: int = 4096  # records rendered per batch (memory vs. speed)

    def __post_init__(self) -> None:
        _check(self.n_patients >= 1, "n_patients", f"must be >= 1, got {self.n_patients}")
        _check(self.n_samples >= 8, "n_samples", f"must be >= 8, got {self.n_samples}")
        _check(_finite(self.sampling_rate_hz) and self.sampling_rate_hz > 0, "sampling_rate_hz", "must be > 0")
        _check(_finite(self.t0_ms), "t0_ms", "must be finite")
        least = min_samples(self.sampling_rate_hz, self.t0_ms)
        reach = f"records must cover the wave-V region to {FMP_WINDOW_MS[1]:g} ms, where labels and FMP are read"
        _check(self.n_samples >= least, "n_samples", f"must be >= {least} at {self.sampling_rate_hz:g} Hz ({reach}), "
               f"got {self.n_samples}")  # fmt: skip
        self._check_fractions()
        for name in (
            "asymmetric_fraction",
            "female_fraction",
            "infant_fraction",
            "neuropathy_residual_v_fraction",
            "rate_switch_probability",
            "burst_probability",
            "fixed_fraction",
            "tester_lapse",
        ):
            value = getattr(self, name)
            _check(_finite(value) and 0.0 <= value <= 1.0, name, f"must be in [0, 1], got {value}")
        lo, hi = self.adult_age_range
        _check(0 <= lo <= hi <= 120, "adult_age_range", f"must satisfy 0 <= lo <= hi <= 120, got {lo, hi}")
        _check(len(self.rates_hz) == len(self.rate_weights) > 0, "rate_weights", "must match rates_hz in length")
        _check(all(r > 0 for r in self.rates_hz), "rates_hz", "must all be > 0")
        _check(all(w >= 0 for w in self.rate_weights) and sum(self.rate_weights) > 0, "rate_weights", "must be >= 0")
        _check(self.pad_before_ms >= 0 and self.pad_after_ms >= 0, "pad_before_ms", "pads must be >= 0")
        f_lo, f_hi = self.bandpass_hz
        _check(0 < f_lo < f_hi < self.sampling_rate_hz / 2, "bandpass_hz", f"need 0 < lo < hi < fs/2, got {f_lo, f_hi}")
        _check(1 <= self.filter_order <= 8, "filter_order", f"must be in 1..8, got {self.filter_order}")
        _check(self.sweep_noise_uv > 0, "sweep_noise_uv", "must be > 0")
        _check(self.sweep_noise_log_sd >= 0, "sweep_noise_log_sd", "must be >= 0")
        s_lo, s_hi = self.sweeps_range
        _check(1 <= s_lo <= s_hi, "sweeps_range", f"need 1 <= lo <= hi, got {s_lo, s_hi}")
        _check(_finite(self.noise_exponent) and 0 <= self.noise_exponent <= 3, "noise_exponent", "must be in [0, 3]")
        _check(self.mains_hz > 0 and self.mains_max_nv >= 0, "mains_max_nv", "mains must be >= 0")
        _check(self.stimulus_artifact_uv >= 0, "stimulus_artifact_uv", "must be >= 0")
        _check(
            self.protocol in ("fixed", "clinical", "mixed"),
            "protocol",
            f"must be fixed, clinical or mixed: {self.protocol!r}",
        )
        levels = self.fixed_levels_db
        _check(
            len(levels) >= 1 and all(_finite(x) and 0 <= x <= 100 for x in levels) and len(set(levels)) == len(levels),
            "fixed_levels_db",
            f"must be distinct levels in 0..100 dB, got {levels}",
        )
        r_lo, r_hi = self.clinical_stop_rn_nv
        _check(0 < r_lo <= r_hi, "clinical_stop_rn_nv", f"need 0 < lo <= hi, got {self.clinical_stop_rn_nv}")
        c_lo, c_hi = self.tester_criterion
        _check(1.0 <= c_lo <= c_hi, "tester_criterion", f"need 1 <= lo <= hi, got {self.tester_criterion}")
        _check(self.v_visibility_rn > 0 and self.early_wave_visibility_rn > 0, "v_visibility_rn", "must be > 0")
        _check(self.chunk_size >= 1, "chunk_size", f"must be >= 1, got {self.chunk_size}")

    def _check_fractions(self) -> None:
        fr = self.class_fractions
        _check(isinstance(fr, dict), "class_fractions", "must be a dict class name -> fraction")
        unknown = set(fr) - set(CLASS_NAMES)
        _check(not unknown, "class_fractions", f"unknown class names {sorted(unknown)}")
        values = [float(fr.get(c, 0.0)) for c in CLASS_NAMES]
        _check(all(_finite(v) and v >= 0 for v in values), "class_fractions", "fractions must be finite and >= 0")
        _check(abs(sum(values) - 1.0) < 0.01, "class_fractions", f"must sum to 1, got {sum(values):.4f}")

    def record_class_fractions(self) -> dict[str, float]:
        """Target record-level fractions, all five classes (equal when `balanced`)."""
        if self.balanced:
            return {c: 1.0 / len(CLASS_NAMES) for c in CLASS_NAMES}
        total = sum(float(self.class_fractions.get(c, 0.0)) for c in CLASS_NAMES)
        return {c: float(self.class_fractions.get(c, 0.0)) / total for c in CLASS_NAMES}

    def to_json(self) -> str:
        """Provenance string stored in cohort attrs (JSON, never pickle)."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True)


def _finite(value: float) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def min_samples(sampling_rate_hz: float, t0_ms: float) -> int:
    """Fewest samples per record that cover the wave-V region to its end (`FMP_WINDOW_MS`, 4-10 ms, less one sample:
    the standard 10-ms window, 200 samples at 20 kHz), where the labels and FMP are read.

    Why the end, not two samples past its start (stop 48): a record cut at 4.05 ms (82 samples, then the floor) shows
    no wave V, so every V was labelled absent and every ear "no response" while its class said NORMAL, and FMP came
    from two samples (up to 4e5); fewer than that had passed ``>= 8`` and failed as an IndexError traceback."""
    end = FMP_WINDOW_MS[1]
    return max(2, math.ceil((end - t0_ms) * sampling_rate_hz / 1000.0 - 1e-9))


def _check(ok: bool, name: str, message: str) -> None:
    if not ok:
        raise ValueError(f"SimulationConfig.{name}: {message}")
