"""Random drifts on the analysis rows (`diffusion.slow_trend_uv`): the heads must learn that a slow trend below the
slow-trend bound says nothing (a 0.1 µV tilt cost the stop-40 shipped model 0.11 of fixed within 10 dB). The
network must see the trend where a user's recording would carry it (analysis rows), never in what the diffusion
learns (diffusion rows), and an old checkpoint must still read as trained without it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from abrnet.config.train_config import load_config
from abrnet.inference.checkpoint import as_current_config
from abrnet.training.slow_trends import add_slow_trends, legendre_trends

from .conftest import make_toy_cohort
from .test_level_jitter import seen_by_network
from .test_training_module import BASE, _batch, _module


def test_trends_are_zero_mean_slow_and_only_on_the_chosen_rows() -> None:
    signal = torch.randn(4000, 200)
    rows = torch.arange(4000) < 3000
    out = add_slow_trends(signal, rows, 0.05, 0.5, torch.Generator().manual_seed(1))
    assert torch.equal(out, add_slow_trends(signal, rows, 0.05, 0.5, torch.Generator().manual_seed(1)))  # seeded
    assert torch.equal(out[~rows], signal[~rows])
    trend = (out - signal)[rows].double().numpy()  # (R, T)
    assert np.abs(trend.mean(axis=1)).max() < 1e-6  # centred, as every record the network reads
    tau = np.linspace(-1.0, 1.0, 200)
    fit = np.polynomial.polynomial.polyfit(tau, trend.T, 2)  # degree 2 explains every trend exactly
    assert np.abs(np.polynomial.polynomial.polyval(tau, fit) - trend).max() < 1e-5
    # the tilt coefficient is N(0, 0.05 µV) in normalised units (0.5 µV per unit): SD 0.1
    assert float(fit[1].std()) == pytest.approx(0.1, rel=0.05)
    assert add_slow_trends(signal, rows, 0.0, 0.5, torch.Generator()) is signal


def test_legendre_basis_is_orthogonal_and_centred() -> None:
    basis = legendre_trends(200).double()  # (2, T)
    assert torch.allclose(basis.mean(dim=1), torch.zeros(2, dtype=torch.float64), atol=1e-7)
    assert abs(float(basis[0] @ basis[1])) < 1e-3 * float(basis[0] @ basis[0])


@pytest.mark.parametrize("sd_uv", [0.0, 0.05])
def test_training_step_drifts_the_analysis_rows_only(sd_uv: float) -> None:
    no_negatives = ["diffusion.noise_negative_fraction=0", "diffusion.reversed_negative_fraction=0"]
    overrides = [*BASE, *no_negatives, "diffusion.analysis_fraction=0.5", f"diffusion.slow_trend_uv={sd_uv}"]
    module, dm = _module(load_config(None, overrides), make_toy_cohort(n_patients=8))
    batch = _batch(dm, 16)
    drift_uv = (seen_by_network(module, batch)[0][:8] - batch["signal"][:8]) * module.normalizer.signal_scale  # (8, T)
    if sd_uv == 0:
        assert torch.equal(drift_uv, torch.zeros_like(drift_uv))
    else:  # eight tilts of N(0, 0.05 µV): every row moved, by a zero-mean trend well below the 0.13 µV bound's scale
        tilt = (drift_uv[:, -1] - drift_uv[:, 0]) / 2
        assert bool((tilt.abs() > 1e-4).all()) and float(tilt.abs().max()) < 5 * sd_uv
        assert float(drift_uv.mean(dim=1).abs().max()) < 1e-5


def test_old_checkpoints_read_as_trained_without_drifts() -> None:
    """A checkpoint stored before the key existed was trained with no drift, whatever today's default is."""
    stored = {"seed": 1, "diffusion": {"cond_drop_prob": 0.1, "timesteps": 1000}}
    assert as_current_config(stored)["diffusion"] == {"slow_trend_uv": 0.0, "cond_drop_prob": 0.1}
    assert load_config(None).diffusion.slow_trend_uv == 0.05  # today's default is another value
    kept = as_current_config({"diffusion": {"slow_trend_uv": 0.05}})
    assert kept["diffusion"]["slow_trend_uv"] == 0.05
    with pytest.raises(ValueError, match="slow_trend_uv"):
        load_config(None, ["diffusion.slow_trend_uv=-0.1"])
