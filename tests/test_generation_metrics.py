"""Generation-quality metrics on synthetic sets whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import lfilter
from scipy.stats import ks_2samp

from abrnet.evaluation.generation import (
    ks_distances,
    latency_intensity_gap,
    latency_intensity_table,
    spectral_distance,
    two_sample_auc,
)

T_MS = np.arange(200) / 20.0


def _abrs(n: int, rng: np.random.Generator, amp: float = 1.0, noise: np.ndarray | None = None) -> np.ndarray:
    lat = rng.normal(5.8, 0.2, (n, 1))
    clean = amp * np.exp(-0.5 * ((T_MS[None] - lat) / 0.3) ** 2)
    return clean + (0.3 * rng.standard_normal((n, 200)) if noise is None else noise)


def test_two_sample_auc_same_distribution_is_chance() -> None:
    rng = np.random.default_rng(0)
    auc = two_sample_auc(_abrs(400, rng), _abrs(400, rng), seed=0)
    assert abs(auc - 0.5) < 0.07


def test_two_sample_auc_different_distributions_separable() -> None:
    rng = np.random.default_rng(1)
    real = _abrs(300, rng)
    assert two_sample_auc(real, _abrs(300, rng, amp=0.0), seed=0) > 0.95  # no wave V
    # same wave and same per-sample noise variance, but low-pass (coloured) noise: only the spectrum differs
    white = 0.3 * rng.standard_normal((300, 200))
    red = lfilter([1.0], [1.0, -0.9], rng.standard_normal((300, 200)), axis=1)
    red *= 0.3 / red.std()
    auc_colour = two_sample_auc(real, _abrs(300, rng, noise=red), seed=0)
    assert auc_colour > 0.9
    assert abs(two_sample_auc(real, _abrs(300, rng, noise=white), seed=1) - 0.5) < 0.08
    assert two_sample_auc(real[:100], _abrs(100, rng, amp=0.0), seed=0, classifier="gbm") > 0.9  # small: GBM is slow


def test_in_band_auc_ignores_residue_above_the_recording_band() -> None:
    """Clean band-limited ABRs vs the same plus a faint 8 kHz residue: separable full-band, not in 100-3000 Hz."""
    from abrnet.data.filters import bandpass_filter
    from abrnet.evaluation.generation import ABR_BAND_HZ

    rng = np.random.default_rng(5)
    real = bandpass_filter(_abrs(300, rng, noise=0.1 * rng.standard_normal((300, 200))), 20000.0)
    fake = bandpass_filter(_abrs(300, rng, noise=0.1 * rng.standard_normal((300, 200))), 20000.0)
    fake += 0.01 * np.sin(2 * np.pi * 8000.0 * T_MS[None] / 1000.0 + rng.uniform(0, 6.3, (300, 1)))
    assert two_sample_auc(real, fake, seed=0) > 0.9
    assert abs(two_sample_auc(real, fake, seed=0, band=ABR_BAND_HZ) - 0.5) < 0.1
    assert spectral_distance(real, fake, band=ABR_BAND_HZ) < 0.5 < spectral_distance(real, fake)


def test_spectral_distance() -> None:
    rng = np.random.default_rng(2)
    real = _abrs(300, rng)
    assert spectral_distance(real, real) == 0.0
    assert spectral_distance(real, 2.0 * real) == pytest.approx(20 * np.log10(2.0), abs=1e-6)  # 6.02 dB
    assert spectral_distance(real, _abrs(300, rng)) < 0.5
    red = lfilter([1.0], [1.0, -0.9], rng.standard_normal((300, 200)), axis=1)
    red *= 0.3 / red.std()
    assert spectral_distance(real, _abrs(300, rng, noise=red)) > 3.0
    assert spectral_distance(real, 2.0 * real, band=(100.0, 3000.0)) == pytest.approx(6.0206, abs=1e-3)


def test_ks_distances() -> None:
    rng = np.random.default_rng(3)
    real = rng.normal(size=(500, 4))
    same = ks_distances(real, real.copy())
    assert list(same) == ["age_years", "intensity_db", "stimulus_rate_hz", "fmp"]
    assert all(v == 0.0 for v in same.values())
    fake = real.copy()
    fake[:, 1] += 2.0
    d = ks_distances(real, fake)
    assert d["intensity_db"] > 0.6 and d["age_years"] == 0.0
    other = rng.normal(size=(300, 4))
    assert ks_distances(real, other)["fmp"] == pytest.approx(ks_2samp(real[:, 3], other[:, 3]).statistic)
    with pytest.raises(ValueError):
        ks_distances(real[:, :3], real)


def test_latency_intensity_table_and_gap() -> None:
    rng = np.random.default_rng(4)
    inten = rng.uniform(20, 90, 2000)
    lat = 8.0 - 0.04 * inten + rng.normal(0, 0.05, 2000)  # ~0.4 ms per 10 dB, a typical L-I slope
    lat[::10] = np.nan  # absent waves are ignored
    table = latency_intensity_table(lat, inten, bin_db=10)
    assert sorted(table) == [20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0]
    for edge, med in table.items():
        assert abs(med - (8.0 - 0.04 * (edge + 5))) < 0.03
    assert all(np.diff([table[k] for k in sorted(table)]) < 0)  # latency falls with intensity

    same = latency_intensity_gap(table, table)
    assert same["max_abs_ms"] == 0.0 and same["within_target"] and same["n_shared"] == 7
    shifted = {k: v + 0.2 for k, v in table.items()}
    shifted[50.0] += 0.3  # one bin 0.5 ms off
    gap = latency_intensity_gap(table, shifted)
    assert gap["max_abs_ms"] == pytest.approx(0.5) and gap["per_bin"][20.0] == pytest.approx(0.2)
    assert not gap["within_target"]
    partial = {k: v for k, v in table.items() if k != 80.0}
    miss = latency_intensity_gap(table, partial)
    assert miss["missing_in_gen"] == [80.0] and not miss["within_target"] and miss["max_abs_ms"] == 0.0
    sparse = latency_intensity_table([5.0, 5.1, 6.0], [71, 75, 20], min_count=2)
    assert sparse == {70.0: pytest.approx(5.05)}


def test_label_noise_floor_is_the_gap_between_two_real_samples() -> None:
    """Two disjoint real samples differ by sampling noise alone: small for tight labels, larger for noisy ones."""
    from abrnet.evaluation.generation_eval import label_noise_floor
    from tests.test_evaluation_toy import make_cohort

    data = make_cohort(80, levels=(90.0, 70.0, 50.0, 30.0), seed=2)
    take = np.arange(0, data.n_records, 3)
    floor = label_noise_floor(data, take, draws=10, seed=0)
    assert floor is not None and 0.0 < floor["max_abs_ms_median"] <= floor["max_abs_ms_p95"] < 0.1  # SD 0.03 ms
    noisy = data.subset(np.arange(data.n_records))
    noisy.latency_ms = noisy.latency_ms + np.random.default_rng(0).normal(0, 0.5, noisy.latency_ms.shape)
    assert label_noise_floor(noisy, take, draws=10, seed=0)["max_abs_ms_median"] > 3 * floor["max_abs_ms_median"]
    assert label_noise_floor(data, np.arange(data.n_records - 5), draws=2) is None  # too few other records


def test_rms_by_level_finds_a_generator_that_is_too_small_at_high_levels() -> None:
    """Ratio 1 where the generated scale is right, 0.5 where it is half, silent reference bins left out."""
    from abrnet.evaluation.generation_eval import rms_by_level

    rng = np.random.default_rng(0)
    level = np.repeat([0.0, 40.0, 80.0], 30)
    shape = rng.standard_normal((90, 200))
    shape /= np.sqrt(np.mean(shape**2, axis=1, keepdims=True))  # unit RMS per record
    scale = np.where(level == 0.0, 0.0, 0.01 * level)[:, None]  # 0 dB: silent reference
    ref = scale * shape
    gen = np.where(level[:, None] == 80.0, 0.5, 1.0) * scale * rng.permutation(shape) + (level == 0.0)[:, None] * 0.01
    out = rms_by_level(ref, gen, level)
    assert set(out["ratio"]) == {40.0, 80.0}  # the silent 0 dB bin has no ratio
    assert out["ratio"][40.0] == pytest.approx(1.0, abs=1e-9) and out["ratio"][80.0] == pytest.approx(0.5, abs=1e-9)
    assert out["generated_median_uv"][0.0] == pytest.approx(0.01)
