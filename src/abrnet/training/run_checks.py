"""What `train` refuses about its data and settings before the run folder is made, each in one line.

Why before: a refusal after ``out_dir.mkdir`` left a folder holding config.yaml and logs, which then blocked the same
command run again ("holds a run's outputs"), and a refusal mid-fit was a traceback.
"""

from __future__ import annotations

import typing
from collections import Counter

import numpy as np
import torch

from abrnet.config.train_config import TrainConfig, TrainerConfig
from abrnet.constants import DEFAULT_SAMPLING_RATE_HZ, DEFAULT_T0_MS
from abrnet.data.schema import ABRCohort, DataError
from abrnet.data.splits import patient_strata
from abrnet.training.datamodule import ABRDataModule


def check_cohort(cfg: TrainConfig, cohort: ABRCohort) -> None:
    """The cohort must be labelled, on the model grid, and as long as the records the network reads."""
    source = cfg.data.path or "training cohort"
    if not (np.asarray(cohort.class_id) >= 0).any():  # an imported recording: was "class counts are all zero"
        raise DataError(
            source, "class",
            "no record has a class label (an imported recording?): training needs a labelled cohort, such as "
            "abrnet simulate writes; predict and evaluate --data read unlabelled files",
        )  # fmt: skip
    if cohort.sampling_rate_hz != DEFAULT_SAMPLING_RATE_HZ or cohort.t0_ms != DEFAULT_T0_MS:
        raise DataError(  # the model would learn raw samples that predict/evaluate resample to this grid
            source, "sampling_rate_hz",
            f"records at {cohort.sampling_rate_hz:g} Hz from {cohort.t0_ms:g} ms; training needs the model grid "
            f"({DEFAULT_SAMPLING_RATE_HZ:g} Hz from {DEFAULT_T0_MS:g} ms): abrnet data import resamples a file to it",
        )  # fmt: skip
    length = cfg.network_config().input_length
    if cohort.n_samples != length:  # the network would be fitted on one window and read the world on another
        raise DataError(
            source, "signals",
            f"records of {cohort.n_samples} samples; the model reads {length} "
            f"({length * 1000 / DEFAULT_SAMPLING_RATE_HZ:g} ms): abrnet data import writes records of that length",
        )  # fmt: skip


def check_val_fraction(cfg: TrainConfig) -> None:
    """A new or resumed fit needs a validation split: with ``data.val_fraction`` 0 no best checkpoint was chosen and
    no series stage fitted (a warning in the log), and the checkpoint predicted with the unfitted defaults.

    Why here and not in the config's validation: a stored checkpoint's config is validated by the same model when it
    is loaded, so a config-level refusal made every checkpoint trained with 0 (before it was refused) unloadable for
    predict and evaluate. Loading describes a fit that happened; only starting one is refused."""
    if cfg.data.val_fraction <= 0:
        raise DataError(
            "config", "data.val_fraction",
            f"must be > 0 (got {cfg.data.val_fraction:g}): the validation split chooses best.ckpt and fits the "
            "series stage",
        )  # fmt: skip


def check_val_split(cfg: TrainConfig, cohort: ABRCohort, dm: ABRDataModule) -> None:
    """A fit needs validation patients, not only ``data.val_fraction`` > 0 (`check_val_fraction`, for the same
    reasons): a small cohort whose patients all sit in class strata of fewer than 3 (`split_patients` holds none of
    those out) put every patient in train, and the fit ran without validation, best.ckpt the last step, no series
    stage, evaluation skipped, exit 0. `cohort` is the file's (without ``data.balanced_train_patients``, which
    only train)."""
    if len(dm.split.val):
        return
    source = cfg.data.path or f"simulated cohort of {cfg.data.patients} patients"
    sizes = Counter(patient_strata(cohort).values())
    largest, fraction = max(sizes.values()), cfg.data.val_fraction
    if cfg.data.test_fraction > 0 and largest < 3:
        why = (
            f"{sum(sizes.values())} patients, and no class has the 3 a split needs to hold one out (a patient's "
            f"class is its rarest ear class; the largest has {largest})"
        )
        hint = "train on more patients (3 or more in a class)"
    else:
        why = f"data.val_fraction {fraction:g} of a class's patients (at most {largest}) rounds to none"
        hint = "train on more patients"
    if largest >= 2:  # a class of n patients gives one to validation above 0.5 / n (half rounds to even: none)
        hint += f", or raise data.val_fraction above {0.5 / largest:.3g}"
    raise DataError(
        source, "data.val_fraction",
        f"the validation split is empty: {why}; it chooses best.ckpt and fits the series stage: {hint}",
    )  # fmt: skip


def check_batch_size(cfg: TrainConfig, dm: ABRDataModule) -> None:
    """A batch larger than the training split repeated its records within one batch (`StepSampler` fills it from
    successive permutations) and counted them as samples seen; a very large one was killed for memory, silently."""
    n_train = len(dm.split.train)
    if cfg.data.batch_size > n_train:
        raise DataError(
            cfg.data.path or "training cohort", "data.batch_size",
            f"{cfg.data.batch_size} exceeds the training split ({n_train} records); set data.batch_size <= {n_train}",
        )  # fmt: skip


def lightning_precision(cfg: TrainConfig) -> str:
    """Lightning's precision for the config's ("auto": bf16-mixed on GPU, 32-true on CPU); 16-mixed without a GPU is
    refused naming the values the config takes (Lightning failed mid-fit; the message named "32-true", which the
    config refuses)."""
    precision = cfg.trainer.precision
    on_cpu = not torch.cuda.is_available() or cfg.trainer.accelerator == "cpu"
    if precision == "16-mixed" and on_cpu:
        accepted = [v for v in typing.get_args(TrainerConfig.model_fields["precision"].annotation) if v != precision]
        shown = ", ".join(repr(v) for v in accepted[:-1]) + f" or {accepted[-1]!r}"
        raise DataError("config", "trainer.precision", f"16-mixed needs a GPU; on CPU use {shown}")
    if precision != "auto":
        return precision
    return "bf16-mixed" if torch.cuda.is_available() else "32-true"
