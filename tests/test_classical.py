"""Classical references: band-pass, Wiener and the wave V picker on signals with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from abrnet.data.filters import bandpass_filter
from abrnet.evaluation.classical import estimate_noise_psd, pick_wave_v, wiener_filter

FS = 20_000.0


def _tone(freq: float, n: int) -> np.ndarray:
    return np.sin(2 * np.pi * freq * np.arange(n) / FS)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x**2)))


def test_bandpass_keeps_1khz_removes_20hz_and_5khz() -> None:
    n = 4000  # 200 ms, so a 20 Hz tone has 4 cycles; edges excluded from the measurement
    mid = slice(1000, 3000)
    keep = bandpass_filter(_tone(1000, n), FS)
    assert abs(_rms(keep[mid]) / _rms(_tone(1000, n)[mid]) - 1.0) < 0.05
    assert np.max(np.abs(keep[mid] - _tone(1000, n)[mid])) < 0.1  # zero phase: no delay
    assert _rms(bandpass_filter(_tone(20, n), FS)[mid]) < 0.02 * _rms(_tone(20, n))
    assert _rms(bandpass_filter(_tone(5000, n), FS)[mid]) < 0.1 * _rms(_tone(5000, n))


def test_bandpass_on_abr_length_records() -> None:
    n = 200  # 10 ms: a 20 Hz tone is a slow drift, 5 kHz is 50 cycles
    x = np.stack([_tone(1000, n) + 2 * _tone(20, n) + _tone(5000, n), _tone(1000, n)])  # (2, T)
    y = bandpass_filter(x, FS)
    assert y.shape == (2, n)
    inner = slice(40, 160)
    assert _rms(y[0, inner] - _tone(1000, n)[inner]) < 0.3 * _rms(2 * _tone(20, n) + _tone(5000, n))
    assert bandpass_filter(x[1], FS).shape == (n,)
    with pytest.raises(ValueError):
        bandpass_filter(x, FS, low=3000, high=100)


def _abr_batch(n: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t_ms = np.arange(200) / 20.0
    clean = np.exp(-0.5 * ((t_ms - 5.8) / 0.3) ** 2) - 0.6 * np.exp(-0.5 * ((t_ms - 2.0) / 0.25) ** 2)
    clean = np.broadcast_to(clean, (n, 200)) * rng.uniform(0.8, 1.2, (n, 1))
    return clean, clean + noise * rng.standard_normal((n, 200))


def test_noise_psd_estimate_white_noise_scale() -> None:
    _, noisy = _abr_batch(2000, 0.5, 0)
    p = estimate_noise_psd(noisy, FS)
    assert p.shape == (101,)
    assert abs(float(np.median(p)) / (200 * 0.25) - 1.0) < 0.1  # white: T·σ²


@pytest.mark.parametrize("given_psd", [False, True])
def test_wiener_reduces_error(given_psd: bool) -> None:
    clean, noisy = _abr_batch(300, 0.5, 1)
    psd = np.full(101, 200 * 0.25) if given_psd else None
    out = wiener_filter(noisy, psd, fs=FS)
    assert out.shape == noisy.shape
    err_in, err_out = np.mean((noisy - clean) ** 2), np.mean((out - clean) ** 2)
    assert err_out < 0.3 * err_in
    local = wiener_filter(noisy, method="local")
    assert np.mean((local - clean) ** 2) < err_in
    assert wiener_filter(noisy[0], psd, fs=FS).shape == (200,)


def test_pick_wave_v_gaussian_bump_within_one_sample() -> None:
    t_ms = np.arange(200) / 20.0
    lat = np.array([5.0, 5.83, 6.41, 7.9])
    x = np.exp(-0.5 * ((t_ms[None] - lat[:, None]) / 0.3) ** 2)  # (4, T)
    got, amp = pick_wave_v(x, t_ms)
    assert np.all(np.abs(got - lat) < 0.05)  # one sample = 0.05 ms
    assert np.all(np.abs(got - lat) < 0.01)  # parabolic refinement does better
    base = x.mean(1)
    assert np.all(np.abs(amp - (1 - base)) < 0.08)


def test_pick_wave_v_noise_window_and_expected() -> None:
    rng = np.random.default_rng(0)
    t_ms = np.arange(200) / 20.0
    bump = lambda c, a: a * np.exp(-0.5 * ((t_ms - c) / 0.3) ** 2)
    noisy = bump(5.8, 1.0)[None] + 0.05 * rng.standard_normal((50, 200))
    lat, _ = pick_wave_v(noisy, t_ms)
    assert np.nanmax(np.abs(lat - 5.8)) < 0.1
    # pure noise: no wave in (almost) every record
    lat_noise, amp_noise = pick_wave_v(0.05 * rng.standard_normal((200, 200)), t_ms)
    assert np.mean(np.isnan(lat_noise)) > 0.85 and np.array_equal(np.isnan(lat_noise), np.isnan(amp_noise))
    # a larger bump outside the window is ignored; an expected latency picks the nearer of two waves
    two = bump(2.0, 3.0) + bump(5.5, 0.8) + bump(7.5, 1.0)
    assert abs(pick_wave_v(two, t_ms)[0][0] - 7.5) < 0.05
    assert abs(pick_wave_v(two, t_ms, expected_latency_ms=5.6)[0][0] - 5.5) < 0.05
    # a monotone ramp has no local maximum → NaN
    assert np.isnan(pick_wave_v(np.linspace(0, 1, 200), t_ms)[0][0])
