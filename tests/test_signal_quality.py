"""Signal-quality domain reasons (hunt 14): drift, mains hum, a low-pass recording band, a stimulus artifact and a
gain or unit error each gave confident wrong calls with ``domain`` = ``in``; each now has its reason, and a simulated
cohort has none."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import butter, sosfiltfilt

from abrnet.data.schema import ABRCohort, DataError
from abrnet.data.simulate import SimulationConfig, simulate_cohort
from abrnet.inference.domain import assess_domain, domain_warnings, enforce_strict

_QUALITY = ("low-frequency content", "band:", "stimulus artifact", "noise level", "flat trace", "amplitude")


@pytest.fixture(scope="module")
def sim() -> ABRCohort:
    """Hunt 14's shape: fixed protocol 0–80 dB in 10-dB steps, every class."""
    grid = tuple(float(x) for x in range(0, 81, 10))
    return simulate_cohort(SimulationConfig(n_patients=10, protocol="fixed", balanced=True, fixed_levels_db=grid), 5)


def _with(c: ABRCohort, signals: np.ndarray) -> ABRCohort:
    out = c.subset(np.arange(c.n_records))
    out.signals, out.buffers = np.array(signals, np.float32), None  # a copy: the fixture is shared
    return out


def _share(domain: np.ndarray, reason: str) -> float:
    return float(np.mean([reason in d for d in domain.astype(str)]))


def _t_s(c: ABRCohort) -> np.ndarray:
    return np.arange(c.n_samples) / c.sampling_rate_hz  # (T,) s


@pytest.mark.parametrize(("protocol", "seed"), [("mixed", 11), ("fixed", 12)])
def test_a_simulated_cohort_gets_no_signal_quality_reason(protocol: str, seed: int) -> None:
    c = simulate_cohort(SimulationConfig(n_patients=40, protocol=protocol, balanced=protocol == "fixed"), seed=seed)
    got = assess_domain(c).astype(str)
    assert not [d for d in got if any(r in d for r in _QUALITY)]


def test_drift_is_low_frequency_content(sim: ABRCohort) -> None:
    """±0.25 µV over 10 ms made neuropathy ears respond at 10–40 dB, silently."""
    sign = np.where(np.arange(sim.n_records) % 2, 1.0, -1.0)[:, None]
    got = assess_domain(_with(sim, sim.signals + sign * 0.5 * (_t_s(sim) / _t_s(sim)[-1] - 0.5)))
    assert _share(got, "low-frequency content: ") > 0.9
    assert "drift, a slow wave or mains hum; the model learnt 100–3000 Hz records" in got[0]


def test_mains_hum_is_low_frequency_content(sim: ABRCohort) -> None:
    rng = np.random.default_rng(0)
    t = _t_s(sim)[None, :]
    hum = sum(a * np.sin(2 * np.pi * 50 * k * t + rng.uniform(0, 6.3, (sim.n_records, 1)))
              for k, a in ((1, 0.5), (2, 0.25), (3, 0.15)))  # fmt: skip
    got = assess_domain(_with(sim, sim.signals + hum))
    assert _share(got, "low-frequency content: ") > 0.9


def test_a_low_pass_band_is_flagged(sim: ABRCohort) -> None:
    """A 30–1500 Hz band turned no-response ears into responses at 0 dB."""
    sos = butter(2, [30, 1500], btype="band", fs=sim.sampling_rate_hz, output="sos")
    got = assess_domain(_with(sim, sosfiltfilt(sos, sim.signals.astype(np.float64), axis=1)))
    assert _share(got, "band: ") > 0.3
    line = next(d for d in got if "band: " in d)
    assert "of the 1–3 kHz power above 1.5 kHz" in line and "low-pass filtered below 3 kHz?" in line


def test_a_stimulus_artifact_is_named_not_blamed_on_units(sim: ABRCohort) -> None:
    """A 30 µV artifact in 0–1 ms was called "another unit, or a CAP/ECochG" on every record; 5 µV was silent."""
    t = _t_s(sim)
    for size, least in ((5.0, 0.7), (30.0, 0.98)):  # a record with a 6 µV burst after 1 ms is not flagged
        ring = size * np.exp(-t / 2e-4) * np.sin(2 * np.pi * 3000 * t) * (t < 1e-3)
        got = assess_domain(_with(sim, sim.signals + ring[None, :]))
        assert _share(got, "stimulus artifact: ") >= least
        assert _share(got, "amplitude: ") <= 1 - least and _share(got, "low-frequency content") < 0.1  # was 100 %


@pytest.mark.parametrize(("gain", "side"), [(10.0, "above"), (0.1, "far below"), (1e-3, "far below")])
def test_a_gain_or_unit_error_is_a_noise_level_reason(sim: ABRCohort, gain: float, side: str) -> None:
    got = assess_domain(_with(sim, sim.signals * gain))
    assert _share(got, "noise level: ") > (0.99 if gain == 1e-3 else 0.5)
    line = next(d for d in got if "noise level" in d)
    assert f"{side} the simulated 0.01–0.5 µV: a gain or unit error" in line


def test_volts_are_a_unit_error_not_a_disconnected_electrode(sim: ABRCohort) -> None:
    got = assess_domain(_with(sim, sim.signals * 1e-6))
    assert _share(got, "noise level: ") == 1.0 and _share(got, "flat trace") == 0.0
    assert "V or mV written as µV, or a noise-free trace?" in got[0]
    flat = _with(sim, sim.signals)
    flat.signals[0] = 0.0
    assert assess_domain(flat)[0].endswith("; flat trace (no signal: electrode or channel disconnected?)")


def test_warnings_group_the_new_reasons_and_strict_refuses(sim: ABRCohort) -> None:
    got = assess_domain(_with(sim, sim.signals * 1e-3))
    lines = domain_warnings(got, "f.csv")
    assert len(lines) <= 2 and all("noise level: " in line for line in lines)  # one line, numbers as a range
    with pytest.raises(DataError, match="noise level"):
        enforce_strict(got, "f.csv")


def test_a_short_grid_has_too_few_records_to_judge_its_session(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hunt 15 #2: on a clean 60/80 dB grid the ear medians of two loud records flagged 14 of 600 ears ("low-pass
    filtered?", "drift"): the per-ear measures now need `MIN_LOW_FREQUENCY_RECORDS` records and `MIN_NOISE_LIKE`
    noise-like ones, without which the same cohort is flagged."""
    from abrnet.data import baseline
    from abrnet.inference import signal_quality

    cohort = simulate_cohort(SimulationConfig(n_patients=300, protocol="fixed", fixed_levels_db=(60.0, 80.0)), seed=401)
    assert not any(signal_quality.quality_reasons(cohort))
    monkeypatch.setattr(baseline, "MIN_LOW_FREQUENCY_RECORDS", 1)
    monkeypatch.setattr(signal_quality, "MIN_NOISE_LIKE", 1)
    assert any(signal_quality.quality_reasons(cohort))  # what the guard keeps out
