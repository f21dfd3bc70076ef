"""The normaliser: physical units (µV, years, dB, Hz, FMP) to the model's input space and back.

Fitted on the training split only and stored in every checkpoint as a plain dict, so loading a model for analysis
needs numpy and this module, not the training stack.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import numpy as np
import torch

from abrnet.data.schema import ABRCohort

# Static parameters are skewed (age mostly 0, FMP up to ~1e3): log1p them before standardising. A missing FMP stays
# NaN through normalisation; the model's condition embedding turns it into its "missing" indicator.
_LOG_STATIC = np.array([True, False, False, True])


@dataclass
class Normalizer:
    """Maps physical units to the model's input space and back. Fitted on the training split only."""

    signal_scale: float  # µV per unit
    static_mean: list[float]
    static_std: list[float]
    # the training split's smallest and largest value of each static parameter, physical units (NaN: none given);
    # None in checkpoints before stop 50 and in the simulated default's (`training.run` keeps them for a file). Not
    # used to normalise: what a model trained on a file saw (`abrnet.inference.training_ranges`)
    static_min: list[float] | None = None
    static_max: list[float] | None = None

    @classmethod
    def fit(cls, train: ABRCohort) -> Normalizer:
        feats = _static_features(train.static)  # NaN where a recording lacks an optional parameter (FMP)
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a file without FMP: its column's statistics are NaN
            mean, std = np.nanmean(feats, axis=0), np.nanstd(feats, axis=0)
            lo, hi = np.nanmin(train.static, axis=0), np.nanmax(train.static, axis=0)  # (4,) each
        mean, std = np.nan_to_num(mean), np.nan_to_num(std)
        return cls(
            signal_scale=float(np.sqrt(np.mean(np.square(train.signals, dtype=np.float64)))),
            static_mean=mean.tolist(),
            static_std=np.where(std > 1e-6, std, 1.0).tolist(),
            static_min=[float(v) for v in lo],
            static_max=[float(v) for v in hi],
        )

    def signal(self, uv: np.ndarray) -> np.ndarray:
        """A waveform in the model's units, as it is: the clean targets the diffusion learns and generates."""
        return (uv / self.signal_scale).astype(np.float32)

    def recording(self, uv: np.ndarray) -> np.ndarray:
        """(N, T) recordings as the heads and the denoiser read them: each record's mean over the window removed,
        then scaled as `signal`.

        Why: a model that can read a record's mean learns that a response lifts it (the shipped model of stop 39:
        +0.04 µV on every record took fixed-protocol within 10 dB from 0.82 to 0.80, −0.04 µV to 0.73), and a
        device's own baseline correction (another window, a high-pass filter) moves that mean by as much. So every
        path a recording takes into the model (training, validation, `abrnet evaluate`, predict) reads it centred.
        A user's file is centred over its recorded samples before this (`abrnet.data.baseline`), so the padded
        zeros of a short record keep their value and this is a no-op there."""
        x = np.asarray(uv, dtype=np.float64)
        return self.signal(x - x.mean(axis=-1, keepdims=True))

    def signal_to_uv(self, x: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        return x * self.signal_scale

    def static(self, static: np.ndarray) -> np.ndarray:
        return ((_static_features(static) - self.static_mean) / self.static_std).astype(np.float32)

    def static_to_physical(self, z: np.ndarray) -> np.ndarray:
        feats = np.asarray(z, dtype=np.float64) * self.static_std + self.static_mean
        feats[:, _LOG_STATIC] = np.expm1(feats[:, _LOG_STATIC])
        return feats.astype(np.float32)

    def to_dict(self) -> dict[str, float | list[float]]:
        """Plain lists; an older checkpoint's normaliser (no ranges) gives the dict it was read from."""
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, d: dict) -> Normalizer:
        ranges = {k: [float(v) for v in d[k]] for k in ("static_min", "static_max") if d.get(k) is not None}
        return cls(float(d["signal_scale"]), list(d["static_mean"]), list(d["static_std"]), **ranges)


def _static_features(static: np.ndarray) -> np.ndarray:  # (N, 4) physical -> (N, 4) log-compressed
    feats = np.asarray(static, dtype=np.float64).copy()
    feats[:, _LOG_STATIC] = np.log1p(np.clip(feats[:, _LOG_STATIC], 0.0, None))
    return feats
