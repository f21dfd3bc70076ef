"""From model outputs to per-record predictions in physical units (shared by validation, evaluate and predict).

Analysis path: the heads read the *observed* recording at timestep 0, exactly as a user's recording arrives.
Reconstruction: the model's one-step x̂0 from the diffusion target noised to `RECON_TIMESTEP` (a fixed, documented
noise level), so `signal.correlation` measures the learnt signal model, not an identity map.
Denoising: one-step posterior mean E[clean | x_obs] from the timestep whose σ/α equals the recording's noise SD (a
record whose noise could not be read stays as recorded: `denoise_known`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from abrnet.data.noise_estimate import estimate_residual_noise
from abrnet.data.normalizer import Normalizer
from abrnet.data.schema import ABRCohort
from abrnet.diffusion.sampling import denoise
from abrnet.diffusion.schedule import NoiseSchedule
from abrnet.models.predictions import Predictions

RECON_TIMESTEP = 100  # σ/α ≈ 0.17 of the train RMS: a mild noise level at which x̂0 must recover the signal


def inference_device() -> torch.device:
    """The GPU when there is one (evaluation after a GPU training run), else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def recording_noise_std_uv(cohort: ABRCohort) -> np.ndarray:
    """Residual-noise SD (µV) per record, estimated from the recording (`abrnet.data.noise_estimate`).

    Split buffers when the file keeps them, else the late window; never the simulator's own noise level. NaN where
    too little was recorded to read it (`denoise_known` leaves such a record as recorded).
    """
    return estimate_residual_noise(cohort)[0]


DENOISED_EXTRA = "denoised"  # (N,) bool extra of a denoised cohort: False where the record is returned as recorded


def denoise_extras(noise_uv: np.ndarray, source: np.ndarray) -> dict[str, np.ndarray]:
    """What a denoised cohort keeps per record (`estimate_residual_noise`'s (N,) µV and source): ``denoised``,
    whether `denoise_known` denoised it (its noise is known, the same test), and ``recording_noise_nv`` with
    ``recording_noise_from``, named and computed as predict's table has them (`clinical_record_columns`).

    Why in the cohort: a record whose noise is unknown comes back as recorded, and a raw trace and a denoised one
    look alike in an .h5; only stderr said which was which, so a later reader or a batch script could not tell
    (hunt 43, #3). The noise is that of the recording the estimate started from, not of the denoised trace."""
    noise_uv = np.asarray(noise_uv, dtype=np.float64)  # (N,)
    return {
        DENOISED_EXTRA: np.isfinite(noise_uv),
        "recording_noise_nv": noise_uv * 1000.0,
        "recording_noise_from": np.asarray(source).astype(str),
    }


def denoise_known(
    model: nn.Module,
    x_obs: torch.Tensor,  # (B, T) normalised observed recordings
    static: torch.Tensor,  # (B, 4) normalised
    noise_std: torch.Tensor | np.ndarray,  # (B,) normalised residual-noise SD, NaN: unknown
    **kw: Any,
) -> torch.Tensor:
    """(B, T) `abrnet.diffusion.sampling.denoise` of the records whose noise is known; the others as recorded.

    Why: denoising starts from the timestep matching the noise level, so without a level nothing honest can be
    removed; a number read from padding removed almost nothing anyway, silently (hunt 42, #4). Callers say so."""
    s = torch.as_tensor(noise_std, dtype=torch.float64).cpu()  # (B,)
    known = torch.isfinite(s)
    if bool(known.all()):
        return denoise(model, x_obs, static, s, **kw)
    out = x_obs.clone()  # (B, T)
    if bool(known.any()):
        rows = known.to(x_obs.device)
        out[rows] = denoise(model, x_obs[rows], static[rows], s[known], **kw).to(out.dtype)
    return out


def outputs_to_numpy(out: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    """Head outputs → physical means, SDs and probabilities (float32 numpy)."""
    sd = lambda lv: torch.exp(0.5 * lv.float().clamp(-20, 20))
    arrays = {
        "peak_presence_prob": torch.sigmoid(out["peak_logits"].float()),
        "latency_ms": out["peak_latency"],
        "latency_sd_ms": sd(out["peak_latency_logvar"]),
        "amplitude_uv": out["peak_amplitude"],
        "amplitude_sd_uv": sd(out["peak_amplitude_logvar"]),
        "class_prob": torch.softmax(out["class_logits"].float(), dim=-1),
        "threshold_db": out["threshold"],
        "threshold_sd_db": sd(out["threshold_logvar"]),
        "p_no_response": torch.sigmoid(out["no_response_logit"].float()),
    }
    return {k: v.detach().float().cpu().numpy() for k, v in arrays.items()}


@torch.no_grad()
def predict_batch(
    model: nn.Module,
    signal: torch.Tensor,  # (B, T) normalised observed recording
    static: torch.Tensor,  # (B, 4) normalised
    *,
    schedule: NoiseSchedule,
    recon_target: torch.Tensor | None = None,  # (B, T) what the diffusion models (clean if known, else observed)
    noise_std: torch.Tensor | None = None,  # (B,) normalised residual-noise SD (NaN: unknown), enables denoising
    generator: torch.Generator | None = None,
    with_reconstruction: bool = True,
) -> dict[str, np.ndarray]:
    """Heads at t=0 on the observation, plus reconstruction and (optionally) one-step denoising."""
    t0 = torch.zeros(signal.shape[0], dtype=torch.long, device=signal.device)
    result = outputs_to_numpy(model(signal, static, t0))
    if not with_reconstruction:
        return result
    target = signal if recon_target is None else recon_target
    t = torch.full_like(t0, RECON_TIMESTEP)
    eps = torch.randn(target.shape, generator=generator, device="cpu").to(target.device)
    x_t = schedule.add_noise(target, eps, t)
    x0_hat = schedule.predict_x0(x_t, model(x_t, static, t)["signal"], t)
    result["reconstruction"] = x0_hat.float().cpu().numpy()
    if noise_std is not None:
        den = denoise_known(model, signal, static, noise_std, steps=1, prediction_type=schedule.prediction_type)
        result["denoised"] = den.float().cpu().numpy()
    return result


@torch.inference_mode()  # no autograd bookkeeping at all (cheaper than no_grad on CPU)
def predict_cohort(
    model: nn.Module,
    cohort: ABRCohort,
    normalizer: Normalizer,
    *,
    prediction_type: str = "v_prediction",
    batch_size: int = 256,
    device: str | torch.device = "cpu",
    with_denoise: bool = True,
    with_reconstruction: bool = True,
    seed: int = 0,
) -> Predictions:
    """Predictions for every record of `cohort` (on the model's grid), in physical units."""
    if cohort.n_records == 0:
        raise ValueError("predict_cohort: the cohort has no records")
    model.eval()
    if hasattr(model, "set_attention_monitoring"):
        model.set_attention_monitoring(0)  # attention-entropy estimates are a training monitor, not an output
    schedule = NoiseSchedule(prediction_type)  # type: ignore[arg-type]
    signals = torch.from_numpy(normalizer.recording(cohort.signals))  # (N, T) centred
    static = torch.from_numpy(normalizer.static(cohort.static))
    clean = torch.from_numpy(normalizer.signal(cohort.clean)) if cohort.clean is not None else None
    noise = torch.from_numpy(recording_noise_std_uv(cohort) / normalizer.signal_scale) if with_denoise else None
    generator = torch.Generator().manual_seed(seed)
    parts: list[dict[str, np.ndarray]] = []
    for start in range(0, cohort.n_records, batch_size):
        sl = slice(start, start + batch_size)
        parts.append(
            predict_batch(
                model,
                signals[sl].to(device),
                static[sl].to(device),
                schedule=schedule,
                recon_target=None if clean is None else clean[sl].to(device),
                noise_std=None if noise is None else noise[sl],
                generator=generator,
                with_reconstruction=with_reconstruction,
            )
        )
    merged = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    for key in ("reconstruction", "denoised"):
        if key in merged:
            merged[key] = np.asarray(normalizer.signal_to_uv(merged[key]), dtype=np.float32)
    return Predictions(**merged)
