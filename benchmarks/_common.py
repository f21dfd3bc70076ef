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


def provenance() -> dict[str, str | int]:
    """Where a result came from (the command as typed, when, on what), stored in every benchmark's JSON and table.

    A number without its command, machine and date cannot be reproduced or compared, and a stale table looks
    exactly like a fresh one.
    """
    import os
    import platform
    import time

    import torch

    return {
        "command": "python benchmarks/" + Path(sys.argv[0]).name + "".join(" " + a for a in sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": f"{platform.platform()}, {platform.machine()}, {os.cpu_count()} CPUs",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
    }


def provenance_markdown(meta: dict) -> str:
    """The provenance as the line under a results table's title."""
    return (
        f"`{meta['command']}`: {meta['date']}, {meta['machine']}, Python {meta['python']}, torch {meta['torch']}, "
        f"{meta['torch_threads']} torch thread(s)."
    )
