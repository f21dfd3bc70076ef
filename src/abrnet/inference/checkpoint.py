"""Loading a trained abrnet checkpoint safely (`weights_only=True`: tensors and plain containers, no pickle)."""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from abrnet.config.train_config import TrainConfig
from abrnet.data.normalizer import Normalizer
from abrnet.data.schema import DataError
from abrnet.inference.training_ranges import TrainingRanges
from abrnet.models import OptimizedHierarchicalUNet
from abrnet.series.classifier import SeriesClassifier

SERIES_KEY = "abrnet_series_classifier"  # checkpoint key of the fitted series stage (plain lists)
DATA_SHA256_KEY = "abrnet_data_sha256"  # a run's checkpoints: the SHA-256 of the data file it trained on


@dataclass
class LoadedModel:
    """A trained model with everything needed to use it on new recordings."""

    model: OptimizedHierarchicalUNet
    config: TrainConfig
    normalizer: Normalizer
    path: Path
    # SHA-256 (hex) of the bytes the weights were read from: which model this is (every run writes a best.ckpt), and
    # of those very bytes, not of the file as it is now (a retrain may replace best.ckpt while a server runs)
    sha256: str
    # SHA-256 of what the model *is* (`model_content_sha256`; not the viewer's ``model_sha256``, the bytes above):
    # equal for a run's best.ckpt and its slim export, and for two runs that trained the same weights; what evaluate
    # records and `model export --metrics` checks
    model_content_sha256: str
    series_model: SeriesClassifier | None = None  # per-ear class from the whole series (fitted after training)
    # SHA-256 of the data file it trained on (``config.data.path``); None: the simulated default, or a checkpoint
    # from before the record (stop 43)
    data_sha256: str | None = None

    @property
    def prediction_type(self) -> str:
        return self.config.diffusion.prediction_type

    @property
    def ranges(self) -> TrainingRanges:
        """The conditions its network learnt from: the simulator's, or its training file's (`training_ranges`)."""
        return TrainingRanges.of(self.normalizer, simulated=self.config.data.path is None)


def read_checkpoint(
    path: str | Path, *, field: str = "<checkpoint>", map_location: str | torch.device = "cpu"
) -> dict[str, Any]:
    """The dict saved in checkpoint ``path`` (`weights_only=True`), or a one-line DataError naming the file and
    ``field`` (the option it came from, e.g. ``--resume``): `read_hashed_checkpoint` without the hash."""
    return read_hashed_checkpoint(path, field=field, map_location=map_location)[0]


def read_hashed_checkpoint(
    path: str | Path, *, field: str = "<checkpoint>", map_location: str | torch.device = "cpu"
) -> tuple[dict[str, Any], str]:
    """(the dict saved in checkpoint ``path``, the SHA-256 hex digest of the bytes it was read from).

    Why one reader: torch.load on a CSV, a folder or any other file fails with a multi-line unpickling error (or
    returns a non-dict), which reached users as a traceback; every such failure means "not a checkpoint".
    Why the hash is taken here: the file is read once and both the weights and the digest come from those bytes;
    hashing the path again later could name another model than the one loaded, if the file was replaced in between
    (a retrain writing best.ckpt). `weights_only=True`: tensors and plain containers only, never arbitrary objects.
    ``map_location`` is checked first (`check_device`): the broad except below would call a device error a bad file."""
    map_location = check_device(map_location)
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(2, "no such file", str(path))
    if path.is_dir():
        raise DataError(str(path), field, "is a folder; name a checkpoint file (e.g. runs/x/best.ckpt)")
    try:
        data = path.read_bytes()
        ckpt = torch.load(io.BytesIO(data), map_location=map_location, weights_only=True)
    except Exception as exc:  # any failure to read or unpickle means the same: not a checkpoint
        raise DataError(str(path), field, f"not a readable abrnet checkpoint ({type(exc).__name__})") from None
    if not isinstance(ckpt, dict):
        raise DataError(str(path), field, f"not an abrnet checkpoint (holds a {type(ckpt).__name__})")
    return ckpt, hashlib.sha256(data).hexdigest()


def check_device(device: str | torch.device) -> torch.device:
    """``device`` as a torch.device this machine can use, or a one-line DataError naming it (field ``device``).

    Why: `read_hashed_checkpoint` reads every failure of torch.load as "not a checkpoint", so
    ``abrnet.load(device="cuda")`` on a machine without CUDA, or ``device="gpu"`` (no torch device), said the shipped
    weights were unreadable (hunt A #3). A device type without its own check (xpu, hpu...) is tried with an empty
    tensor, which fails as torch.load would."""
    source = str(device)
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise DataError(source, "device", "not a torch device (e.g. 'cpu', 'cuda', 'cuda:1', 'mps')") from None
    count = torch.cuda.device_count() if dev.type == "cuda" and torch.cuda.is_available() else 0
    if dev.type == "cuda" and (count == 0 or (dev.index or 0) >= count):
        have = f"only {count} CUDA device(s)" if count else "no CUDA (torch.cuda.is_available() is False)"
        raise DataError(source, "device", f"this machine has {have}; use device='cpu'")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise DataError(source, "device", "MPS is not available on this machine; use device='cpu'")
    if dev.type not in ("cpu", "cuda", "mps"):
        try:
            torch.empty(0, device=dev)
        except Exception as exc:  # torch's own words, first line: "Torch not compiled with XPU enabled"
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise DataError(source, "device", f"not usable on this machine ({reason}); use device='cpu'") from None
    return dev


def model_content_sha256(ckpt: dict[str, Any]) -> str:
    """SHA-256 of a checkpoint's model: its network weights (``model.*``, the EMA copy), hyper-parameters (config,
    normalizer) and fitted series stage, not its bytes.

    Why not the file's hash: every checkpoint also stores the wall-clock time its fit took and Lightning's callback
    state (absolute folders), so two same-seed runs with identical weights, or a run's best.ckpt and its slim export,
    have different bytes while they are one model; metrics of one are the metrics of the other."""
    h = hashlib.sha256()
    state = ckpt.get("state_dict", {})
    for key in sorted(k for k in state if k.startswith("model.")):
        t = state[key].detach().cpu().contiguous().reshape(-1)
        h.update(f"{key}|{t.dtype}|{tuple(state[key].shape)}|".encode())
        h.update(t.view(torch.uint8).numpy().tobytes())
    rest = {"hyper_parameters": ckpt.get("hyper_parameters"), "series": ckpt.get(SERIES_KEY)}
    h.update(json.dumps(rest, sort_keys=True, default=str).encode())
    return h.hexdigest()


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> LoadedModel:
    """Rebuild the model from a Lightning checkpoint's hyper-parameters and load its (EMA) weights."""
    path = Path(path)
    ckpt, sha256 = read_hashed_checkpoint(path, map_location=map_location)
    hp = ckpt.get("hyper_parameters")
    if not isinstance(hp, dict) or "config" not in hp or "normalizer" not in hp:
        raise DataError(str(path), "hyper_parameters", "missing: not an abrnet training checkpoint")
    cfg = TrainConfig.model_validate(as_current_config(hp["config"]))
    model = OptimizedHierarchicalUNet(cfg.network_config())
    state = {k[len("model.") :]: v for k, v in ckpt["state_dict"].items() if k.startswith("model.")}
    model.load_state_dict(state)
    model.set_transformer_gate(1.0)
    model.eval()
    series = ckpt.get(SERIES_KEY)
    return LoadedModel(
        model=model,
        config=cfg,
        normalizer=Normalizer.from_dict(hp["normalizer"]),
        path=path,
        sha256=sha256,
        model_content_sha256=model_content_sha256(ckpt),
        series_model=None if series is None else SeriesClassifier.from_dict(series),
        data_sha256=ckpt.get(DATA_SHA256_KEY),
    )


RETIRED_DIFFUSION_KEYS = ("timesteps", "schedule")  # fixed values (1000, cosine) stored by checkpoints before 0.3
# Keys added since, with the value every run before them trained with (their defaults differ: an older run would
# otherwise read as trained with something it never saw).
ADDED_DIFFUSION_KEYS = {"slow_trend_uv": 0.0}  # stop 41: random drifts on analysis rows


def as_current_config(config: dict) -> dict:
    """A stored config as today's `TrainConfig` reads it, so older checkpoints still load and say what they were
    trained with: keys that no longer reach any code dropped, keys added since set to the value they had then."""
    diffusion = {k: v for k, v in dict(config.get("diffusion", {})).items() if k not in RETIRED_DIFFUSION_KEYS}
    return {**config, "diffusion": {**ADDED_DIFFUSION_KEYS, **diffusion}}
