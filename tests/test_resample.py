"""Model-grid conversion keeps latencies and reports every gap it pads."""

from __future__ import annotations

import numpy as np
import pytest

from abrnet.data.resample import mask_groups, to_model_grid


def _bump(fs: float, t0_ms: float, dur_ms: float, at_ms: float = 5.0, width_ms: float = 0.25) -> np.ndarray:
    t = t0_ms + np.arange(int(round(dur_ms * fs / 1000.0))) * 1000.0 / fs
    return np.stack([np.exp(-0.5 * ((t - at_ms) / width_ms) ** 2), -0.5 * np.exp(-0.5 * ((t - at_ms) / width_ms) ** 2)])


def _peak_ms(y: np.ndarray, fs: float, t0_ms: float) -> float:
    """Peak latency with parabolic interpolation (sub-sample)."""
    k = int(np.argmax(y))
    a, b, c = y[k - 1], y[k], y[k + 1]
    return t0_ms + (k + 0.5 * (a - c) / (a - 2 * b + c)) * 1000.0 / fs


@pytest.mark.parametrize("fs_in", [100_000.0, 48_000.0, 24_414.0625, 97_656.25, 20_000.0, 16_000.0])
def test_bump_keeps_latency_and_amplitude(fs_in: float) -> None:
    x = _bump(fs_in, 0.0, 12.0)
    y, warnings = to_model_grid(x, fs_in, 0.0)
    assert y.shape == (2, 200) and y.dtype == np.float32
    assert _peak_ms(y[0], 20000.0, 0.0) == pytest.approx(5.0, abs=0.01)
    assert y[0].max() == pytest.approx(1.0, abs=0.03)
    assert y[1].min() == pytest.approx(-0.5, abs=0.02)
    assert not any("missing" in w for w in warnings)


def test_pre_stimulus_start_is_cropped() -> None:
    # Starts 2 ms before the stimulus (like the SmartEP export); the model window 0-10 ms is fully covered.
    x = _bump(32_000.0, -2.0, 16.0)
    y, warnings = to_model_grid(x, 32_000.0, -2.0)
    assert _peak_ms(y[0], 20000.0, 0.0) == pytest.approx(5.0, abs=0.01)
    assert not any("missing" in w for w in warnings)


def test_short_window_is_padded_and_warned() -> None:
    x = _bump(25_000.0, 0.0, 8.52)  # Fast ABR: 213 samples, 0-8.48 ms (last sample), 0-8.52 ms as a span
    y, warnings = to_model_grid(x, 25_000.0, 0.0)
    assert len(warnings) == 1, warnings
    assert warnings[0] == (
        "the recording spans 0–8.52 ms, the model window 0–10 ms: 29 model samples are missing "
        "(8.55–9.95 ms, after the last recorded sample at 8.48 ms), zero-padded"
    )
    assert np.all(y[:, 171:] == 0.0)
    np.testing.assert_allclose(y[:, 170], x[:, -1], atol=1e-6)  # 8.50 ms: 0.02 ms past the last sample, held
    assert _peak_ms(y[0], 20000.0, 0.0) == pytest.approx(5.0, abs=0.01)


def test_late_start_warns_about_the_beginning_and_edge_pad() -> None:
    x = np.ones((1, 400)) * 3.0
    y, warnings = to_model_grid(x, 40_000.0, 1.0, pad="edge")
    assert any(
        "20 model samples are missing (0–0.95 ms, before the first recorded sample at 1 ms)" in w for w in warnings
    ), warnings
    np.testing.assert_allclose(y, 3.0, atol=1e-4)


@pytest.mark.parametrize(("fs_in", "t0_ms"), [(25_000.0, 0.04), (24_999.999999999978, 0.04), (10_000.0, 0.1)])
def test_a_gap_of_at_most_one_input_sample_is_held_not_zeroed(fs_in: float, t0_ms: float) -> None:
    """A device whose first sample is at 1/fs (an EPL export: 0.04 ms at 25 kHz) leaves 0 ms one input sample
    before its first sample. That model sample takes the first recorded value, without a warning: it was 0 µV (a
    step against a recording with an offset) and "0.00–0.00 ms at the start is missing (1 samples zero-padded)"."""
    n = int(round(12.0 * fs_in / 1000.0))
    x = np.full((2, n), 3.0)
    y, warnings = to_model_grid(x, fs_in, t0_ms)
    assert not any("missing" in w for w in warnings), warnings
    np.testing.assert_allclose(y, 3.0, atol=5e-3)  # 0 ms included (FIR ripple of the rate change: < 1e-3)


def test_resampler_and_domain_describe_the_same_windows() -> None:
    """One file, two messages (the domain reason and the resampler's warning): the same spans, in the same form."""
    from abrnet.inference.domain import window_reason

    _, warnings = to_model_grid(np.zeros((1, 213)), 25_000.0, 0.0)
    reason = window_reason(25_000.0, 0.0, 213)
    assert reason == "window: covers 0–8.52 ms of 0–10 ms"
    assert "spans 0–8.52 ms, the model window 0–10 ms" in warnings[0]


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="sampling rates"):
        to_model_grid(np.zeros((1, 10)), -1.0, 0.0)
    with pytest.raises(ValueError, match="pad"):
        to_model_grid(np.zeros((1, 10)), 20000.0, 0.0, pad="mirror")


def test_mask_groups_reads_records_padded_alike_together() -> None:
    """Records 0 and 2 recorded the same samples, record 1 others: two groups, every row once, each with its mask;
    a (T,) mask or None is one group of every row (the baseline, noise estimate and domain check all group so)."""
    full, short = np.ones(6, bool), np.array([True, True, True, True, False, False])
    groups = mask_groups(np.stack([short, full, short]), 3, 6)
    assert sorted(tuple(rows) for rows, _ in groups) == [(0, 2), (1,)]
    for rows, keep in groups:
        assert np.array_equal(keep, short if 0 in rows else full)
    for recorded, expected in ((None, full), (short, short), (np.stack([short, short]), short)):
        ((rows, keep),) = mask_groups(recorded, 2, 6)
        assert list(rows) == [0, 1] and np.array_equal(keep, expected)
