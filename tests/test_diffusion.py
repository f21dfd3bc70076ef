"""Forward process: the targets and their inverses are exact identities on the cosine schedule."""

from __future__ import annotations

import math

import pytest
import torch
from diffusers import DDPMScheduler

from abrnet.diffusion.schedule import NoiseSchedule, cosine_alphas_cumprod


def _batch(seed: int = 0, b: int = 16, t: int = 200) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x0 = torch.randn(b, t, generator=g)
    noise = torch.randn(b, t, generator=g)
    steps = torch.tensor([0, 1, 10, 100, 250, 500, 750, 900, 990, 999] + [321] * (b - 10))
    return x0, noise, steps


def test_alpha_sigma_is_cosine_schedule_and_variance_preserving() -> None:
    ns = NoiseSchedule()
    t = torch.arange(1000)
    a, s = ns.alpha_sigma(t)
    assert torch.allclose(a**2 + s**2, torch.ones(1000), atol=1e-6)
    assert torch.all(a[1:] < a[:-1])  # strictly more noise with t
    # Glide cosine: ᾱ(t) ≈ cos²(((t+1)/K + 0.008)/1.008 · π/2) (diffusers evaluates at t+1)
    ref = math.cos(((500 + 1) / 1000 + 0.008) / 1.008 * math.pi / 2) ** 2
    assert abs(float(a[500]) ** 2 - ref) < 2e-3
    assert float(a[0]) > 0.9999 and float(a[999]) < 1e-3
    assert torch.allclose(cosine_alphas_cumprod(), ns.alphas_cumprod)


def test_add_noise_matches_diffusers() -> None:
    ns = NoiseSchedule()
    x0, noise, t = _batch()
    ref = DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2").add_noise(x0, noise, t)
    assert torch.allclose(ns.add_noise(x0, noise, t), ref, atol=1e-5)


def test_v_target_identity_and_diffusers_velocity() -> None:
    ns = NoiseSchedule("v_prediction")
    x0, noise, t = _batch(1)
    x_t = ns.add_noise(x0, noise, t)
    v = ns.target(x0, noise, t)
    a, s = ns.alpha_sigma(t)
    # x0 = α·x_t − σ·v and ε = σ·x_t + α·v, exactly
    assert torch.allclose(a[:, None] * x_t - s[:, None] * v, x0, atol=1e-5)
    assert torch.allclose(ns.predict_x0(x_t, v, t), x0, atol=1e-5)
    assert torch.allclose(ns.predict_noise(x_t, v, t), noise, atol=1e-5)
    ref = DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2").get_velocity(x0, noise, t)
    assert torch.allclose(v, ref, atol=1e-5)


def test_epsilon_target_identity() -> None:
    ns = NoiseSchedule("epsilon")
    x0, noise, t = _batch(2)
    keep = t < 990  # (x_t − σε)/α divides by α ≈ 5e-5 at t = 999: identity holds, float32 precision does not
    x0, noise, t = x0[keep], noise[keep], t[keep]
    x_t = ns.add_noise(x0, noise, t)
    assert torch.equal(ns.target(x0, noise, t), noise)
    assert torch.allclose(ns.predict_x0(x_t, noise, t), x0, atol=1e-3)
    assert torch.equal(ns.predict_noise(x_t, noise, t), noise)


def test_wrong_model_output_gives_wrong_x0() -> None:
    ns = NoiseSchedule("v_prediction")
    x0, noise, t = _batch(3)
    x_t = ns.add_noise(x0, noise, t)
    err = (ns.predict_x0(x_t, ns.target(x0, noise, t) + 0.1, t) - x0).abs().mean()
    assert err > 1e-2  # the identity test above is not vacuous


def test_sample_timesteps_uniform_and_deterministic() -> None:
    ns = NoiseSchedule()
    t1 = ns.sample_timesteps(20_000, torch.Generator().manual_seed(5))
    t2 = ns.sample_timesteps(20_000, torch.Generator().manual_seed(5))
    assert torch.equal(t1, t2) and t1.dtype == torch.long
    assert int(t1.min()) >= 0 and int(t1.max()) <= 999
    assert abs(float(t1.float().mean()) - 499.5) < 10  # SE ≈ 2
    assert torch.unique(t1).numel() > 990


def test_sample_timesteps_high_noise_fraction_shifts_mass_to_the_noisy_half() -> None:
    """With fraction f, P(t >= 500) = f + (1 - f)/2; f = 0 keeps the uniform draw (and its random stream)."""
    ns = NoiseSchedule()
    plain = ns.sample_timesteps(20_000, torch.Generator().manual_seed(5))
    assert torch.equal(plain, ns.sample_timesteps(20_000, torch.Generator().manual_seed(5), high_noise_fraction=0.0))
    t = ns.sample_timesteps(20_000, torch.Generator().manual_seed(5), high_noise_fraction=0.3)
    assert int(t.min()) >= 0 and int(t.max()) <= 999
    assert abs(float((t >= 500).float().mean()) - 0.65) < 0.015  # SE ≈ 0.0034
    assert abs(float((t < 500).float().mean()) - 0.35) < 0.015  # the quiet half is still trained
    with pytest.raises(ValueError, match="high_noise_fraction"):
        ns.sample_timesteps(4, high_noise_fraction=1.5)


def test_bad_prediction_type() -> None:
    with pytest.raises(ValueError, match="prediction_type"):
        NoiseSchedule("sample")  # type: ignore[arg-type]
