"""Split-buffer Fmp: ~1 for noise only, >> 1 with a response; residual noise matches the simulated noise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from abrnet.data.fmp import fmp_from_buffers, residual_noise_from_buffers


def _buffers(n: int, T: int, response_uv: float, noise_uv: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    t = np.arange(T) / 20.0  # ms at 20 kHz
    response = response_uv * np.exp(-0.5 * ((t - 5.0) / 0.4) ** 2)
    a = response + rng.normal(0, noise_uv, (n, T))
    b = response + rng.normal(0, noise_uv, (n, T))
    return a, b


def test_noise_only_is_about_one() -> None:
    a, b = _buffers(200, 400, 0.0, 0.5)
    f = fmp_from_buffers(a, b)
    assert f.shape == (200,)
    assert np.median(f) == pytest.approx(1.0, abs=0.05)
    assert np.all((f > 0.6) & (f < 1.6))


def test_response_gives_large_fmp_and_window_matters() -> None:
    a, b = _buffers(20, 400, 1.0, 0.05)
    f = fmp_from_buffers(a, b)
    assert np.all(f > 20)
    # Restricting the window to the bump raises the ratio further; a window without the bump is ~1.
    assert np.all(fmp_from_buffers(a, b, window=(80, 120)) > f)
    assert np.median(fmp_from_buffers(a, b, window=slice(200, 400))) == pytest.approx(1.0, abs=0.3)


def test_residual_noise_estimates_noise_of_the_average() -> None:
    # Noise sd per buffer 0.5 -> (A-B)/2 has sd 0.5/sqrt(2), the same as the grand average's noise.
    a, b = _buffers(50, 2000, 1.0, 0.5, seed=3)
    rn = residual_noise_from_buffers(a, b)
    assert np.median(rn) == pytest.approx(0.5 / np.sqrt(2), rel=0.05)


def test_identical_buffers_and_bad_shapes() -> None:
    a, _ = _buffers(2, 50, 1.0, 0.1)
    assert np.all(np.isinf(fmp_from_buffers(a, a)))
    with pytest.raises(ValueError, match="same shape"):
        fmp_from_buffers(a, a[:, :-1])


def test_every_reader_measures_fmp_where_the_simulator_does(tmp_path: Path) -> None:
    """A wide CSV with split buffers and no fmp column had its FMP computed over the whole record (SmartEP over
    0–10 ms) while the simulator and so the model's training data use 4–10 ms: the same buffers gave FMP 30–50 %
    off the trained scale (hunt 7, #13). Dropping the column must give back the simulator's values."""
    import csv

    from abrnet.data.csv_io import read_wide_csv, write_wide_csv
    from abrnet.data.simulate import SimulationConfig, simulate_cohort

    cohort = simulate_cohort(SimulationConfig(n_patients=2), seed=4)
    full = write_wide_csv(cohort, tmp_path / "with.csv")
    with full.open(newline="") as fh:
        rows = list(csv.reader(fh))
    k = rows[0].index("fmp")
    with (tmp_path / "without.csv").open("w", newline="") as fh:
        csv.writer(fh).writerows([r[:k] + r[k + 1 :] for r in rows])
    back = read_wide_csv(tmp_path / "without.csv")
    assert back.attrs["fmp_source"] == "split_buffers"
    np.testing.assert_allclose(back.static_column("fmp"), cohort.static_column("fmp"), rtol=1e-4)
    t = rows[0].index("t0_ms")
    early = [rows[0]] + [[*r[:t], "-8", *r[t + 1 :]] for r in rows[1:]]  # the rows end at 2 ms: before the window
    with (tmp_path / "early.csv").open("w", newline="") as fh:
        csv.writer(fh).writerows([r[:k] + r[k + 1 :] for r in early])
    short = read_wide_csv(tmp_path / "early.csv")
    assert short.attrs["fmp_source"] == "missing" and np.isnan(short.static_column("fmp")).all()
