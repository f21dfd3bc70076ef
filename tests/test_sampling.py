"""Samplers against an analytic model: for Gaussian data the exact v/ε-predictor is known in closed form.

Data: x0 ~ N(μ_c, s0²) independently per sample, μ_c = base + c·bump with c = static_params[:, 0] (the
unconditional model uses c = 0). Given x_t = α·x0 + σ·ε, E[x0 | x_t] = μ + α·s0²/(α²s0² + σ²)·(x_t − α·μ) and
E[ε | x_t] = σ/(α²s0² + σ²)·(x_t − α·μ), so a correct sampler must reproduce mean μ_c and SD s0.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from diffusers import DDIMScheduler
from torch import nn

from abrnet.diffusion.sampling import (
    STATIC_READ_TIMESTEP,
    GridDDIMScheduler,
    denoise,
    generate_joint,
    make_scheduler,
    max_timestep,
    noise_to_signal,
    sample,
    timestep_for_noise_std,
    timestep_grid,
)
from abrnet.diffusion.schedule import NoiseSchedule

T = 200
S0 = 0.5
TIME = torch.arange(T) / 20.0  # ms
BASE = 0.3 * torch.sin(2 * torch.pi * TIME / 10.0)  # (T,)
BUMP = torch.exp(-0.5 * ((TIME - 5.8) / 0.4) ** 2)  # (T,) a "wave V"
HEAD_LOGVAR = float(np.log(0.2**2))


class GaussianOracle(nn.Module):
    """Same call signature as OptimizedHierarchicalUNet; returns the exact prediction for Gaussian data."""

    def __init__(self, prediction_type: str = "v_prediction") -> None:
        super().__init__()
        self.ns = NoiseSchedule(prediction_type)
        self.prediction_type = prediction_type
        self.calls: list[dict] = []

    def _pred(self, x: torch.Tensor, c: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a, s = (v.double()[:, None] for v in self.ns.alpha_sigma(t))
        mu = (BASE[None] + c[:, None] * BUMP[None]).double()  # (B, T)
        r = x.double() - a * mu
        den = a**2 * S0**2 + s**2
        eps = s / den * r
        x0 = mu + a * S0**2 / den * r
        out = eps if self.prediction_type == "epsilon" else a * eps - s * x0
        return out.float()

    def forward(self, x, static_params, timesteps, *, drop_condition=None, guidance_scale=None):
        self.calls.append(
            dict(
                t=timesteps.clone(), drop=None if drop_condition is None else drop_condition.clone(), g=guidance_scale,
                x=x.clone(),
            )
        )  # fmt: skip
        c = static_params[:, 0]
        if drop_condition is not None:
            c = torch.where(drop_condition, torch.zeros_like(c), c)
        signal = self._pred(x, c, timesteps)
        if guidance_scale is not None:
            uncond = self._pred(x, torch.zeros_like(c), timesteps)
            signal = uncond + guidance_scale * (signal - uncond)
        head_mu = torch.stack([x.mean(1), x[:, 100:130].mean(1), 10.0 * x.std(1), x[:, 0]], dim=1)  # (B, 4)
        return {
            "signal": signal,
            "static_params": head_mu,
            "static_params_logvar": torch.full_like(head_mu, HEAD_LOGVAR),
        }


def _static(b: int, c: float) -> torch.Tensor:
    s = torch.zeros(b, 4)
    s[:, 0] = c
    return s


# SD tolerance per sampler/steps. Means are exact for any affine sampler on Gaussian data; the SD is not: DDIM
# (first order) under-disperses by O(1/steps) (≈ 15 % at 10 steps, 3 % at 50 for SD-0.5 data), DPM-Solver++(2M)
# is within 5 % at 10 steps and 1 % at 25.
@pytest.mark.parametrize("prediction_type", ["v_prediction", "epsilon"])
@pytest.mark.parametrize(
    ("sampler", "steps", "sd_tol"), [("ddim", 10, 0.08), ("ddim", 50, 0.02), ("dpm", 10, 0.03), ("dpm", 25, 0.006)]
)
def test_sampler_reproduces_gaussian_data(prediction_type: str, sampler: str, steps: int, sd_tol: float) -> None:
    model = GaussianOracle(prediction_type)
    b = 2000
    x = sample(
        model,
        _static(b, 1.5),
        steps=steps,
        sampler=sampler,
        generator=torch.Generator().manual_seed(0),
        prediction_type=prediction_type,
    )
    assert x.shape == (b, T) and torch.isfinite(x).all()
    mu = BASE + 1.5 * BUMP
    # SE of a per-sample mean is 0.5/√2000 ≈ 0.011 (max over 200 samples ≈ 3 SE); of the SD ≈ 0.008
    assert float((x.mean(0) - mu).abs().max()) < 0.045
    assert abs(float((x.mean(0) - mu).mean())) < 0.005
    sd = x.std(0)
    assert abs(float(sd.mean()) - S0) < sd_tol and float((sd - S0).abs().max()) < sd_tol + 0.03
    assert len(model.calls) == steps
    assert all(c["g"] is None and c["drop"] is None for c in model.calls)


def test_sampler_sd_error_converges_with_order() -> None:
    def sd_err(sampler: str, steps: int) -> float:
        x = sample(
            GaussianOracle(),
            _static(1000, 0.0),
            steps=steps,
            sampler=sampler,
            generator=torch.Generator().manual_seed(0),
        )
        return abs(float(x.std(0).mean()) - S0)

    ddim10, ddim50, dpm10, dpm20 = sd_err("ddim", 10), sd_err("ddim", 50), sd_err("dpm", 10), sd_err("dpm", 20)
    assert ddim50 < 0.3 * ddim10  # first order: error ∝ 1/steps
    assert dpm20 < 0.25 * dpm10  # second order
    assert dpm10 < 0.5 * ddim10


def test_sampler_is_not_trivially_right() -> None:
    """A model with the wrong data SD must yield the wrong SD: the test above can fail."""

    class Wrong(GaussianOracle):
        def _pred(self, x, c, t):
            global S0
            keep, S0 = S0, 1.0
            try:
                return super()._pred(x, c, t)
            finally:
                S0 = keep

    x = sample(Wrong(), _static(1000, 0.0), steps=20, generator=torch.Generator().manual_seed(0))
    assert float(x.std(0).mean()) > 0.9


def test_deterministic_with_generator() -> None:
    st = _static(8, 1.0)
    a = sample(GaussianOracle(), st, steps=10, generator=torch.Generator().manual_seed(3))
    b = sample(GaussianOracle(), st, steps=10, generator=torch.Generator().manual_seed(3))
    c = sample(GaussianOracle(), st, steps=10, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.allclose(a, c)


def test_guidance_scale_one_is_conditional_pass_and_other_uses_model_cfg() -> None:
    st = _static(500, 1.0)
    m1 = GaussianOracle()
    x1 = sample(m1, st, steps=20, guidance_scale=1.0, generator=torch.Generator().manual_seed(1))
    assert all(c["g"] is None for c in m1.calls)  # no guidance path, no extra unconditional pass
    m3 = GaussianOracle()
    x3 = sample(m3, st, steps=20, guidance_scale=3.0, generator=torch.Generator().manual_seed(1))
    assert all(c["g"] == 3.0 for c in m3.calls) and len(m3.calls) == 20
    # same noise: at g = 1 the bump has amplitude 1; guidance pushes it further along (cond − uncond)
    bump1 = float((x1.mean(0) - BASE) @ BUMP / (BUMP @ BUMP))
    bump3 = float((x3.mean(0) - BASE) @ BUMP / (BUMP @ BUMP))
    assert abs(bump1 - 1.0) < 0.05
    assert bump3 > 2.0


def test_grid_ddim_matches_stock_ddim_on_uniform_grid() -> None:
    stock = DDIMScheduler(
        num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", prediction_type="v_prediction", clip_sample=False
    )
    stock.set_timesteps(20)  # leading: 950, 900, ..., 0
    ours = make_scheduler("ddim", "v_prediction")
    assert isinstance(ours, GridDDIMScheduler) and isinstance(ours, DDIMScheduler)
    ours.set_timesteps(timesteps=stock.timesteps.tolist())
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, T, generator=g)
    y = x.clone()
    model = GaussianOracle()
    for t in stock.timesteps:
        tt = torch.full((4,), int(t))
        x = stock.step(model(x, _static(4, 1.0), tt)["signal"], t, x).prev_sample
        y = ours.step(model(y, _static(4, 1.0), tt)["signal"], t, y).prev_sample
    assert torch.allclose(x, y, atol=1e-4)


def test_timestep_grid_and_schedulers() -> None:
    assert max_timestep() == 995
    assert timestep_grid(995, 5) == [995, 796, 597, 398, 199]
    assert timestep_grid(3, 20) == [3, 2, 1, 0]
    assert timestep_grid(40, 1) == [40]
    with pytest.raises(ValueError):
        make_scheduler("euler", "v_prediction")  # type: ignore[arg-type]
    dpm = make_scheduler("dpm", "epsilon")
    assert dpm.config.algorithm_type == "dpmsolver++" and dpm.config.solver_order == 2
    assert dpm.config.beta_schedule == "squaredcos_cap_v2"


def test_timestep_for_noise_std_monotone_and_matches_sigma_over_alpha() -> None:
    r = noise_to_signal()
    assert np.all(np.diff(r) > 0)
    ts = np.arange(0, max_timestep() + 1)
    assert np.array_equal(timestep_for_noise_std(r[ts]), ts)  # exact round trip
    s = np.geomspace(1e-4, 1e3, 500)
    t = timestep_for_noise_std(s)
    assert np.all(np.diff(t) >= 0) and t[0] == 0 and t[-1] == max_timestep()
    mid = (s > r[0]) & (s < r[max_timestep()])
    # nearest in log: within half a grid step of log σ/α
    assert np.all(np.abs(np.log(r[t[mid]]) - np.log(s[mid])) <= np.abs(np.log(r[t[mid] + 1]) - np.log(r[t[mid]])))
    assert timestep_for_noise_std(0.5) == int(np.argmin(np.abs(np.log(r[:996]) - np.log(0.5))))
    with pytest.raises(ValueError):
        timestep_for_noise_std(-1.0)


def _observed(b: int, noise_std: float | torch.Tensor, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x0 = BASE + S0 * torch.randn(b, T, generator=g)  # c = 0
    return x0, x0 + torch.as_tensor(noise_std).reshape(-1, 1) * torch.randn(b, T, generator=g)


@pytest.mark.parametrize("sampler", ["ddim", "dpm"])
def test_denoise_reduces_error_one_step_is_posterior_mean(sampler: str) -> None:
    s = 0.5
    x0, x_obs = _observed(400, s)
    st = _static(400, 0.0)
    mse_obs = float(((x_obs - x0) ** 2).mean())  # ≈ 0.25
    mmse = S0**2 * s**2 / (S0**2 + s**2)  # Bayes posterior-mean error 0.125
    one = denoise(GaussianOracle(), x_obs, st, s, steps=1, sampler=sampler)
    many = denoise(GaussianOracle(), x_obs, st, s, steps=20, sampler=sampler)
    mse_one = float(((one - x0) ** 2).mean())
    mse_many = float(((many - x0) ** 2).mean())
    assert abs(mse_one - mmse) < 0.01
    assert mse_many < 0.8 * mse_obs
    assert mse_one <= mse_many + 1e-3  # posterior mean is the MSE optimum
    assert float(many.std(0).mean()) > float(one.std(0).mean())  # ODE output is sharper than the posterior mean


def test_denoise_per_record_noise_std_and_wrong_std_hurts() -> None:
    s = torch.tensor([0.1, 0.3, 1.0, 0.3] * 50)
    x0, x_obs = _observed(200, s, seed=1)
    st = _static(200, 0.0)
    out = denoise(GaussianOracle(), x_obs, st, s, steps=1)
    per = ((out - x0) ** 2).mean(1)  # (B,)
    for level in (0.1, 0.3, 1.0):
        m = s == level
        assert abs(float(per[m].mean()) - S0**2 * level**2 / (S0**2 + level**2)) < 0.1 * level**2
    wrong = denoise(GaussianOracle(), x_obs, st, 0.01, steps=1)  # claims almost no noise: barely changes x_obs
    assert float(((wrong - x0) ** 2).mean()) > 2 * float(((out - x0) ** 2).mean())


def test_generate_joint_uses_unconditional_model_and_static_head() -> None:
    model = GaussianOracle()
    x, st = generate_joint(
        model, 1000, "cpu", 0.0, False, steps=20, sampler="dpm", generator=torch.Generator().manual_seed(0)
    )
    assert x.shape == (1000, T) and st.shape == (1000, 4)
    assert all(c["drop"] is not None and bool(c["drop"].all()) for c in model.calls)
    # p(x): unconditional oracle has mean BASE, SD S0
    assert float((x.mean(0) - BASE).abs().max()) < 0.08 and abs(float(x.std(0).mean()) - S0) < 0.02
    # p(s | x): head read, condition dropped, at the small training timestep on a forward-process draw of the
    # generated x0 (the domain it is trained on), not at t = 0 on the clean signal; temperature 0 = its mean
    last = model.calls[-1]
    assert bool((last["t"] == STATIC_READ_TIMESTEP).all()) and bool(last["drop"].all())
    a, s = (float(v[0]) for v in NoiseSchedule().alpha_sigma(torch.tensor([STATIC_READ_TIMESTEP])))
    resid = last["x"] - a * x  # σ·ε
    assert abs(float(resid.std()) - s) < 0.01 * s + 1e-3 and abs(float(resid.mean())) < 0.01
    read = last["x"]
    assert torch.allclose(st[:, 0], read.mean(1), atol=1e-6) and torch.allclose(st[:, 2], 10 * read.std(1), atol=1e-5)
    with pytest.raises(ValueError, match="static_timestep"):
        generate_joint(model, 2, "cpu", steps=2, static_timestep=-1)


def test_generate_joint_temperature_and_constraints() -> None:
    g = lambda: torch.Generator().manual_seed(7)
    _, free = generate_joint(
        GaussianOracle(), 1000, "cpu", temperature=1.0, use_constraints=False, steps=10, generator=g()
    )
    _, st0 = generate_joint(
        GaussianOracle(), 1000, "cpu", temperature=0.0, use_constraints=False, steps=10, generator=g()
    )
    resid = free - st0  # same generator → same signals, residual is the head's Gaussian noise
    assert abs(float(resid.std()) - 0.2) < 0.01
    assert float(free[:, 2].min()) > 3.5  # head mean 10·SD(x) ≈ 4.7: outside the default ±3 bounds
    _, clipped = generate_joint(GaussianOracle(), 1000, "cpu", steps=10, generator=g())
    assert float(clipped.min()) >= -3.0 and float(clipped.max()) <= 3.0
    assert torch.all(clipped[:, 2] == 3.0)
    lo, hi = [-1.0, -0.5, 0.0, -2.0], [1.0, 0.5, 4.0, 2.0]
    _, custom = generate_joint(GaussianOracle(), 500, "cpu", steps=10, generator=g(), static_bounds=(lo, hi))
    assert torch.all(custom >= torch.tensor(lo)) and torch.all(custom <= torch.tensor(hi))
    assert float(custom[:, 2].max()) == 4.0


def test_stochastic_ddim_samples_the_data_and_is_seeded() -> None:
    """η = 1 (ancestral) still reproduces the Gaussian data, draws fresh noise per step (so differs from η = 0 from
    the same start) and is deterministic given the generator; only DDIM takes it."""
    st = _static(2000, 1.5)
    x = sample(GaussianOracle(), st, steps=50, eta=1.0, generator=torch.Generator().manual_seed(0))
    assert float((x.mean(0) - (BASE + 1.5 * BUMP)).abs().max()) < 0.045
    assert abs(float(x.std(0).mean()) - S0) < 0.05  # first order as well: SD 0.467 at 50 steps for this data
    small = _static(8, 1.0)
    a = sample(GaussianOracle(), small, steps=10, eta=1.0, generator=torch.Generator().manual_seed(3))
    b = sample(GaussianOracle(), small, steps=10, eta=1.0, generator=torch.Generator().manual_seed(3))
    c = sample(GaussianOracle(), small, steps=10, eta=0.0, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and not torch.allclose(a, c)
    with pytest.raises(ValueError, match="ddim"):
        sample(GaussianOracle(), small, steps=10, sampler="dpm", eta=1.0)
    with pytest.raises(ValueError, match="eta"):
        sample(GaussianOracle(), small, steps=10, eta=1.5)
