"""The forward diffusion process (cosine schedule) and its training targets, independent of any network.

One `NoiseSchedule` is the single source of α_t, σ_t for training and sampling, so the timestep a model was trained
on means the same noise level when the samplers in `abrnet.diffusion.sampling` run it. Convention (variance
preserving): x_t = α_t·x0 + σ_t·ε with α_t = sqrt(ᾱ_t), σ_t = sqrt(1 − ᾱ_t); v = α_t·ε − σ_t·x0.
"""

from __future__ import annotations

from typing import Literal

import torch
from diffusers import DDPMScheduler

PredictionType = Literal["v_prediction", "epsilon"]
PREDICTION_TYPES: tuple[str, ...] = ("v_prediction", "epsilon")
TRAIN_TIMESTEPS = 1000  # K: every model is trained on this cosine grid, and every sampler walks it


def check_prediction_type(prediction_type: str) -> str:
    """Fail early with the allowed names rather than deep inside a scheduler."""
    if prediction_type not in PREDICTION_TYPES:
        raise ValueError(f"prediction_type must be one of {PREDICTION_TYPES}, got {prediction_type!r}")
    return prediction_type


def cosine_alphas_cumprod(num_train_timesteps: int = TRAIN_TIMESTEPS) -> torch.Tensor:
    """ᾱ_t of diffusers' "squaredcos_cap_v2" schedule, float64 (T,): shared by training and every sampler."""
    sched = DDPMScheduler(num_train_timesteps=num_train_timesteps, beta_schedule="squaredcos_cap_v2")
    return sched.alphas_cumprod.to(torch.float64)


def _expand(coef: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(B,) → (B, 1, ...) so a per-sample coefficient broadcasts over (B, T) or (B, C, T)."""
    return coef.to(device=like.device, dtype=like.dtype).reshape(-1, *([1] * (like.dim() - 1)))


class NoiseSchedule:
    """Cosine-schedule forward process wrapping `diffusers.DDPMScheduler` (the scheduler the samplers mirror)."""

    def __init__(
        self, prediction_type: PredictionType = "v_prediction", num_train_timesteps: int = TRAIN_TIMESTEPS
    ) -> None:
        self.prediction_type = check_prediction_type(prediction_type)
        self.num_train_timesteps = int(num_train_timesteps)
        self.scheduler = DDPMScheduler(
            num_train_timesteps=self.num_train_timesteps,
            beta_schedule="squaredcos_cap_v2",
            prediction_type=prediction_type,
            clip_sample=False,  # normalised ABRs are not confined to [-1, 1]
        )
        self.alphas_cumprod = self.scheduler.alphas_cumprod.to(torch.float64)  # (K,)

    def sample_timesteps(
        self,
        batch: int,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        high_noise_fraction: float = 0.0,
    ) -> torch.Tensor:
        """Training timesteps, long (B,): uniform in [0, K), except that each row with probability
        `high_noise_fraction` is drawn from the noisier half [K/2, K) — where a sample's coarse shape and its
        dependence on the condition are decided. Drawn on the generator's device, then moved."""
        if not 0.0 <= high_noise_fraction <= 1.0:
            raise ValueError(f"high_noise_fraction must be in [0, 1], got {high_noise_fraction}")
        gen_device = generator.device if generator is not None else "cpu"
        K = self.num_train_timesteps
        t = torch.randint(0, K, (batch,), generator=generator, device=gen_device)
        if high_noise_fraction > 0:
            high = torch.randint(K // 2, K, (batch,), generator=generator, device=gen_device)
            pick = torch.rand(batch, generator=generator, device=gen_device) < high_noise_fraction
            t = torch.where(pick, high, t)
        return t.to(device) if device is not None else t

    def alpha_sigma(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(α_t, σ_t), each float32 (B,) on t's device."""
        abar = self.alphas_cumprod[t.long().cpu()]  # (B,)
        return abar.sqrt().float().to(t.device), (1.0 - abar).sqrt().float().to(t.device)

    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """x_t = α_t·x0 + σ_t·ε  # (B, T)."""
        a, s = self.alpha_sigma(t)
        return _expand(a, x0) * x0 + _expand(s, x0) * noise

    def target(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """What the network regresses: v = α_t·ε − σ_t·x0, or ε  # (B, T)."""
        if self.prediction_type == "epsilon":
            return noise
        a, s = self.alpha_sigma(t)
        return _expand(a, x0) * noise - _expand(s, x0) * x0

    def predict_x0(self, x_t: torch.Tensor, model_output: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Invert the target: x0 = α·x_t − σ·v (v-pred) or (x_t − σ·ε)/α (ε-pred, ill-posed as α → 0)  # (B, T)."""
        a, s = self.alpha_sigma(t)
        a, s = _expand(a, x_t), _expand(s, x_t)
        if self.prediction_type == "epsilon":
            return (x_t - s * model_output) / a
        return a * x_t - s * model_output

    def predict_noise(self, x_t: torch.Tensor, model_output: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """ε implied by the model output: ε itself, or σ·x_t + α·v for v-pred  # (B, T)."""
        if self.prediction_type == "epsilon":
            return model_output
        a, s = self.alpha_sigma(t)
        return _expand(s, x_t) * x_t + _expand(a, x_t) * model_output
