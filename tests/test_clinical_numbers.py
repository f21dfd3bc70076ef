"""Clinical read-outs on waveforms and latencies whose answers are known by construction."""

from __future__ import annotations

import numpy as np
import pytest

from abrnet.metrics.clinical import (
    ear_numbers,
    interaural_v_latencies,
    interpeak_at_top,
    peak_to_trough,
    series_text,
    slope_per_db,
)


def test_peak_to_trough_on_a_known_wave() -> None:
    t = np.arange(200) / 20.0
    x = np.exp(-0.5 * ((t - 5.6) / 0.2) ** 2) - 0.5 * np.exp(-0.5 * ((t - 6.4) / 0.2) ** 2)
    amp, trough = peak_to_trough(x[None], t, np.array([[1.6, np.nan, 5.6]]))
    assert amp[0, 2] == pytest.approx(1.5, abs=0.02) and trough[0, 2] == pytest.approx(6.4, abs=0.06)
    assert np.isnan(amp[0, 1]) and np.isnan(trough[0, 1])
    assert np.isnan(peak_to_trough(x[None], t, np.array([[30.0, np.nan, np.nan]]))[0][0, 0])  # outside the record


def test_latency_intensity_slope_and_intervals() -> None:
    level = np.array([80.0, 60.0, 40.0, 20.0])
    v = 5.6 + (80 - level) * 0.035  # 35 µs/dB
    lat = np.stack([v - 4.0, v - 2.0, v], axis=1)
    lat[3, 0] = np.nan  # wave I gone at 20 dB
    assert slope_per_db(level, v) * 1000 == pytest.approx(-35.0)
    ipi = interpeak_at_top(level, lat)
    assert ipi == pytest.approx({"I_III_ms": 2.0, "III_V_ms": 2.0, "I_V_ms": 4.0})
    out = ear_numbers(level, lat, np.tile([[0.2, 0.3, 0.5]], (4, 1)))
    assert out["V_li_slope_us_per_db"] == pytest.approx(-35.0)
    assert out["V_latency_intensity"].startswith("80:5.600;60:6.300")
    assert out["V_io_slope_uv_per_db"] == pytest.approx(0.0)
    assert np.isnan(slope_per_db(np.array([80.0]), np.array([5.6])))
    assert series_text(level, np.array([1.0, np.nan, 2.0, 3.0]), ".1f") == "80:1.0;40:2.0;20:3.0"


def test_interaural_difference_at_highest_common_level() -> None:
    top, left, right = interaural_v_latencies(
        np.array([80.0, 60.0]), np.array([5.6, 6.0]), np.array([80.0, 60.0]), np.array([6.0, 6.3])
    )
    assert (top, right - left) == (80.0, pytest.approx(0.4))
    lvl, left, right = interaural_v_latencies(np.array([80.0]), np.array([np.nan]), np.array([80.0]), np.array([5.0]))
    assert np.isnan(lvl) and np.isnan(right - left)
