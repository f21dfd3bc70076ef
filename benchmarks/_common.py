"""Shared by the benchmarks that need a trained model."""

from __future__ import annotations

import sys
from pathlib import Path


def require_checkpoint(path: Path) -> None:
    """Exit with a one-line error when the checkpoint the benchmark measures is missing."""
    if not path.exists():
        sys.exit(
            f"error: checkpoint {path} not found; train one (abrnet train --out runs/default) or pass --checkpoint"
        )


def device_name(device: str) -> str:
    """ "cpu" or the GPU's name, for the results table."""
    import torch

    return torch.cuda.get_device_name() if device.startswith("cuda") else "cpu"
