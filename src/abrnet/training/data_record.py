"""The data file's SHA-256 in every checkpoint of a run trained on a file, for `run_folder.check_same_data`.

Why its own module: it is the one piece of the run-folder rules that is a Lightning callback, and `abrnet evaluate`
reads `run_folder` (its same-data check) without training anything, so it should not load Lightning for it.
"""

from __future__ import annotations

from typing import Any

from lightning.pytorch.callbacks import Callback

from abrnet.data.files import file_sha256
from abrnet.inference.checkpoint import DATA_SHA256_KEY


class DataRecord(Callback):
    """Records the data file's SHA-256 in every checkpoint of a run trained on a file (``data.path``; the simulated
    default is made again from its seed and config, which --resume compares already), for `check_same_data`."""

    def __init__(self, cfg: Any) -> None:
        self.sha256 = file_sha256(cfg.data.path) if cfg.data.path is not None else None

    def on_save_checkpoint(self, trainer: Any, pl_module: Any, checkpoint: dict[str, Any]) -> None:
        if self.sha256 is not None:
            checkpoint[DATA_SHA256_KEY] = self.sha256
