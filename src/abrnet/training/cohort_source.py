"""Which cohort a run trains on, read again: the configured data file or the simulated default.

Why a module of its own: training reads it once to fit, and evaluate, the generation report and the benchmarks read
it again for a trained model's train, validation and test splits. The split is drawn from the file's patients, so a
file rewritten since the model was trained (a lab re-importing into the same lab.h5) hands them other patients under
the same split names, some of them trained on: `model_training_cohort` refuses that in one line.
"""

from __future__ import annotations

from collections.abc import Callable

from abrnet.config.train_config import TrainConfig
from abrnet.data.schema import ABRCohort
from abrnet.inference.checkpoint import LoadedModel
from abrnet.training.run_folder import check_same_data


def load_training_cohort(cfg: TrainConfig, progress: Callable[[int, int], None] | None = None) -> ABRCohort:
    """The configured file, or the embedded default: a simulated cohort cached under `data.cache_dir`."""
    if cfg.data.path is not None:
        from abrnet.data.io import load_cohort

        return load_cohort(cfg.data.path)
    from abrnet.data.cache import simulated_cohort

    cohort, _ = simulated_cohort(cfg.data.patients, cfg.seed, cfg.data.cache_dir, progress=progress)
    return cohort


def model_training_cohort(loaded: LoadedModel) -> ABRCohort:
    """The cohort `loaded` was trained on, or a one-line refusal where its data file changed since (the SHA-256 its
    checkpoint records; the simulated default, made again from its seed, and a checkpoint from before the record
    are read as they are)."""
    check_same_data(
        loaded.data_sha256, loaded.config.data.path, since=f"{loaded.path} was trained on it",
        remedy="its splits would hold other patients; restore the file the model was trained on",
    )  # fmt: skip
    return load_training_cohort(loaded.config)
