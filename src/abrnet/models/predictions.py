"""Model outputs for N records as plain numpy arrays.

One container shared by the network, the classical baselines and the evaluation code, so every model is scored by
exactly the same functions. Wave order is `constants.WAVES` (I, III, V); class order is `constants.CLASS_NAMES`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from abrnet.constants import CLASS_NAMES, WAVES

_REQUIRED_SHAPES: dict[str, tuple[int, ...]] = {
    "peak_presence_prob": (len(WAVES),),
    "latency_ms": (len(WAVES),),
    "latency_sd_ms": (len(WAVES),),
    "amplitude_uv": (len(WAVES),),
    "amplitude_sd_uv": (len(WAVES),),
    "class_prob": (len(CLASS_NAMES),),
    "threshold_db": (),
    "threshold_sd_db": (),
    "p_no_response": (),
}


@dataclass
class Predictions:
    """Per-record predictions (N records, T samples; W = 3 waves, C = 5 classes).

    Means and standard deviations are Gaussian predictive distributions; probabilities are in [0, 1].
    `reconstruction` is the model's reconstruction of the observed (noisy) signal, `denoised` its estimate of the
    noise-free signal; both optional.
    """

    peak_presence_prob: np.ndarray  # (N, W)
    latency_ms: np.ndarray  # (N, W)
    latency_sd_ms: np.ndarray  # (N, W)
    amplitude_uv: np.ndarray  # (N, W)
    amplitude_sd_uv: np.ndarray  # (N, W)
    class_prob: np.ndarray  # (N, C)
    threshold_db: np.ndarray  # (N,)
    threshold_sd_db: np.ndarray  # (N,)
    p_no_response: np.ndarray  # (N,)
    reconstruction: np.ndarray | None = None  # (N, T)
    denoised: np.ndarray | None = None  # (N, T)

    @property
    def n_records(self) -> int:
        return int(np.asarray(self.threshold_db).shape[0])

    def subset(self, index: np.ndarray) -> Predictions:
        """Rows `index` (bool mask or integer positions) as new Predictions sharing no arrays."""
        take = lambda a: None if a is None else np.array(np.asarray(a)[index], copy=True)
        return Predictions(**{f.name: take(getattr(self, f.name)) for f in fields(self)})

    def validate(self, n_records: int | None = None, n_samples: int | None = None) -> Predictions:
        """Check shapes and finiteness; raise ValueError naming the first bad field.

        Metrics silently dropping NaN predictions would flatter a model, so non-finite outputs are an error.
        """
        n = self.n_records if n_records is None else n_records
        for name, tail in _REQUIRED_SHAPES.items():
            arr = np.asarray(getattr(self, name))
            if arr.shape != (n, *tail):
                raise ValueError(f"Predictions.{name}: expected shape {(n, *tail)}, got {arr.shape}")
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"Predictions.{name}: contains NaN or inf")
        for name in ("latency_sd_ms", "amplitude_sd_uv", "threshold_sd_db"):
            if np.any(np.asarray(getattr(self, name)) < 0):
                raise ValueError(f"Predictions.{name}: negative standard deviation")
        for name in ("peak_presence_prob", "class_prob", "p_no_response"):
            arr = np.asarray(getattr(self, name))
            if np.any((arr < 0) | (arr > 1)):
                raise ValueError(f"Predictions.{name}: probabilities outside [0, 1]")
        for name in ("reconstruction", "denoised"):
            arr = getattr(self, name)
            if arr is None:
                continue
            arr = np.asarray(arr)
            if arr.ndim != 2 or arr.shape[0] != n or (n_samples is not None and arr.shape[1] != n_samples):
                want = (n, n_samples if n_samples is not None else "T")
                raise ValueError(f"Predictions.{name}: expected shape {want}, got {arr.shape}")
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"Predictions.{name}: contains NaN or inf")
        return self
