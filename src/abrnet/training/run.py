"""`abrnet train` end to end: data (simulated and cached by default) → Lightning fit → test-split evaluation."""

from __future__ import annotations

import json
import logging
import platform
import shutil
import time
import warnings
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback, EMAWeightAveraging, ModelCheckpoint, RichProgressBar
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from lightning.pytorch.utilities.exceptions import MisconfigurationException, SIGTERMException

from abrnet.config.train_config import TrainConfig, dump_config
from abrnet.constants import CLASS_NAMES
from abrnet.data.files import staged_write, write_json
from abrnet.data.schema import ABRCohort, DataError
from abrnet.training.alerts import AlertMonitor
from abrnet.training.cohort_source import load_training_cohort
from abrnet.training.data_record import DataRecord
from abrnet.training.datamodule import ABRDataModule
from abrnet.training.module import ABRLitModule
from abrnet.training.run_checks import (
    check_batch_size,
    check_cohort,
    check_val_fraction,
    check_val_split,
    lightning_precision,
)
from abrnet.training.series_stage import fit_series_stage
from abrnet.training.terminated import TerminatedError, after_fit_message, sigterm_raises, terminated_message

# Lightning notices that say nothing about this run: the checkpoint folder holds our own config.yaml and logs (a
# folder with a trained model is refused above), and a torch-version deprecation inside Lightning's own code.
QUIET_WARNINGS = (r"Checkpoint directory .* exists and is not empty", r".*isinstance\(treespec, LeafSpec\)")
_RANK_ZERO_LOG = logging.getLogger("lightning.pytorch.utilities.rank_zero")
_RANK_ZERO_LOG.addFilter(lambda record: "litlogger" not in record.getMessage())


def trainer_strategy(strategy: str, devices: object) -> str:
    """Lightning's strategy for the config's: DDP, named in any case or chosen by "auto" for several devices, must
    allow parameters without gradients, because the S4-only warm-up skips the gated transformer branches (``--devices
    2`` or ``--strategy DDP`` stopped with Lightning's "parameters that were not used" error)."""
    several = (isinstance(devices, int) and devices > 1) or (isinstance(devices, list) and len(devices) > 1)
    if strategy.lower() == "ddp" or (strategy.lower() == "auto" and several):  # the config keeps the case typed
        return "ddp_find_unused_parameters_true"
    return strategy


class StepProgressBar(RichProgressBar):
    """Rich progress bar labelled by the run's budget: a fit is one endless epoch cut by steps, so Lightning's
    "Epoch 0/-2" label would say nothing."""

    def __init__(self, max_steps: int | None, max_minutes: float | None) -> None:
        super().__init__(leave=True)
        limits = [f"{max_steps} steps" if max_steps else "", f"{max_minutes:g} min" if max_minutes else ""]
        self.label = "fit (" + " or ".join(x for x in limits if x) + ")" if any(limits) else "fit"

    def _get_train_description(self, current_epoch: int) -> str:
        return self.label


class SafetyStop(Callback):
    """Wall-clock guard of a step-budget run: stops the fit once `minutes` have passed, and says so loudly.

    Why not Lightning's `max_time`: the budget is steps (one seed, the same steps and batches on any machine); the
    clock must never shape the run, only end a stuck or far too slow one. When it fires, the model differs from the
    budgeted one, so the alert goes to the console and alerts.jsonl, and `stopped_by: safety_stop` goes to
    metrics.json/run.json.
    """

    CHECK_EVERY = 10  # steps between clock checks (a collective under DDP)

    def __init__(self, minutes: float) -> None:
        self.minutes = minutes
        self.start: float | None = None
        self.fired_at_step: int | None = None

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.start = time.monotonic()

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        if self.start is None or self.fired_at_step is not None or trainer.global_step % self.CHECK_EVERY:
            return
        elapsed = time.monotonic() - self.start
        # every rank decides together (at the same steps), or DDP would wait forever on the rank that stopped
        if not trainer.strategy.reduce_boolean_decision(elapsed >= 60.0 * self.minutes, all=False):
            return
        self.fired_at_step = trainer.global_step
        trainer.should_stop = True
        budget = getattr(pl_module, "cfg", None)
        max_steps = budget.trainer.max_steps if budget is not None else None
        message = (
            f"safety stop: {elapsed / 60:.1f} min of wall clock reached (trainer.safety_stop_minutes = "
            f"{self.minutes:g}) at step {trainer.global_step} of {max_steps}; this model is NOT the budgeted one "
            "(a shorter run, machine-dependent). Raise safety_stop_minutes or lower trainer.max_steps."
        )
        monitor = getattr(getattr(pl_module, "attached", None), "monitor", None)
        if monitor is not None:
            monitor.emit(trainer.global_step, "safety_stop", "error", message, elapsed)
        elif trainer.is_global_zero:
            warnings.warn(message, RuntimeWarning, stacklevel=1)


def build_trainer(cfg: TrainConfig, out_dir: Path, *, enable_progress_bar: bool = True) -> L.Trainer:
    """Lightning trainer with best/last checkpoints, EMA weights, TensorBoard + CSV logs and the step limits."""
    t = cfg.trainer
    callbacks: list[Any] = [
        ModelCheckpoint(dirpath=out_dir, filename="best", monitor="val/score", mode="max", save_top_k=1),
        ModelCheckpoint(dirpath=out_dir, save_last=True, save_top_k=0, every_n_train_steps=t.val_every_n_steps),
    ]
    if cfg.optim.ema_decay > 0:
        callbacks.append(EMAWeightAveraging(decay=cfg.optim.ema_decay))
    if t.safety_stop_minutes:
        callbacks.append(SafetyStop(t.safety_stop_minutes))
    callbacks.append(DataRecord(cfg))  # the data file's SHA-256 in every checkpoint, for --resume (`run_folder`)
    if enable_progress_bar:
        callbacks.append(StepProgressBar(t.max_steps, t.max_minutes))
    try:
        return _trainer(cfg, out_dir, callbacks, enable_progress_bar)
    except DataError:
        raise
    except (MisconfigurationException, TypeError, ValueError) as exc:  # settings this machine cannot run
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError("config", "trainer", f"Lightning cannot run these settings here: {reason}") from None


def _trainer(cfg: TrainConfig, out_dir: Path, callbacks: list[L.Callback], enable_progress_bar: bool) -> L.Trainer:
    """The `L.Trainer` of `build_trainer`."""
    t = cfg.trainer
    return L.Trainer(
        default_root_dir=out_dir,
        max_steps=t.max_steps or -1,
        max_time={"minutes": t.max_minutes} if t.max_minutes else None,
        val_check_interval=t.val_every_n_steps,
        check_val_every_n_epoch=None,
        num_sanity_val_steps=0,
        precision=lightning_precision(cfg),  # type: ignore[arg-type]
        devices=t.devices,
        num_nodes=t.num_nodes,
        strategy=trainer_strategy(t.strategy, t.devices),
        accelerator=t.accelerator,
        gradient_clip_val=cfg.optim.grad_clip or None,
        log_every_n_steps=t.log_every_n_steps,
        logger=[
            TensorBoardLogger(out_dir, name="tensorboard", version=""),
            CSVLogger(out_dir, name="csv", version=""),
        ],
        callbacks=callbacks,
        enable_progress_bar=enable_progress_bar,
        enable_model_summary=False,
    )


def balanced_train_extra(cfg: TrainConfig) -> ABRCohort | None:
    """`data.balanced_train_patients` class-balanced simulated patients for the training split (own seed and ids)."""
    if not cfg.data.balanced_train_patients:
        return None
    from abrnet.data.simulate import SimulationConfig, simulate_cohort

    sim = SimulationConfig(n_patients=cfg.data.balanced_train_patients, balanced=True)
    return simulate_cohort(sim, seed=cfg.seed + 50_021).with_patient_prefix("BAL")


def make_datamodule(cfg: TrainConfig, cohort: ABRCohort) -> ABRDataModule:
    """The `ABRDataModule` for a training run, with its step budget set so the sampler makes one seeded, resumable
    pass (`StepSampler`)."""
    dm = ABRDataModule(
        cohort,
        seed=cfg.seed,
        batch_size=cfg.data.batch_size,
        val_fraction=cfg.data.val_fraction,
        test_fraction=cfg.data.test_fraction,
        num_workers=cfg.data.num_workers,
        train_extra=balanced_train_extra(cfg),
    )
    dm.total_steps = cfg.trainer.max_steps or 1_000_000
    return dm


def train(
    cfg: TrainConfig,
    out_dir: str | Path,
    *,
    resume: str | Path | None = None,
    enable_progress_bar: bool = True,
    cohort: ABRCohort | None = None,
    say: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Fit, checkpoint and fit the series stage; returns the run's summary (`abrnet train` then evaluates on test).
    `say` gets one line as each stage after the fit starts (the CLI prints it; None, the default, is quiet).

    The summary's ``training`` section (steps, samples seen, why the fit stopped) is a function of the config and
    seed alone; ``wall_time`` holds every clock reading, apart, so two runs can be compared without it.
    """
    started = time.monotonic()
    out_dir = Path(out_dir)
    if resume is None and any((out_dir / name).exists() for name in ("best.ckpt", "last.ckpt")):
        raise FileExistsError(f"{out_dir}: holds a trained model; choose another --out or continue it with --resume")
    check_val_fraction(cfg)  # before minutes of simulating a cohort
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    torch.set_float32_matmul_precision("high")
    if cfg.trainer.cpu_threads is not None:  # the thread count is part of a CPU fit's numerics: pin it, then say so
        torch.set_num_threads(cfg.trainer.cpu_threads)
    if cohort is None:
        cohort = load_training_cohort(cfg)
    check_cohort(cfg, cohort)
    lightning_precision(cfg)  # refuses 16-mixed without a GPU, as `build_trainer` would after the folder is made
    cohort_s = time.monotonic() - started
    dm = make_datamodule(cfg, cohort)
    check_val_split(cfg, cohort, dm)
    check_batch_size(cfg, dm)
    out_dir.mkdir(parents=True, exist_ok=True)  # after the data and settings are known to be trainable: no empty folder
    train_cls = dm.cohort.class_id[dm.split.train]
    counts = np.bincount(train_cls[train_cls >= 0], minlength=len(CLASS_NAMES)).astype(float).tolist()
    # the training split's ranges are what a file-trained model's records are warned against (`training_ranges`);
    # the simulated default is warned against the simulator's configuration, so its checkpoint stays as before
    # stop 50 (a re-run of the main job keeps its model_content_sha256)
    normalizer = dm.normalizer
    if cfg.data.path is None:
        normalizer = replace(normalizer, static_min=None, static_max=None)
    module = ABRLitModule(cfg.model_dump(mode="json"), normalizer.to_dict(), counts)
    module.attached.val_cohort = dm.part("val")
    trainer = build_trainer(cfg, out_dir, enable_progress_bar=enable_progress_bar)
    if trainer.is_global_zero:
        dump_config(cfg, out_dir / "config.yaml", overwrite=True)  # folder checked above: a resume or a retry
    tb = trainer.loggers[0].experiment if trainer.loggers else None
    module.attached.monitor = AlertMonitor(out_dir, cfg.alerts, logger=tb) if trainer.is_global_zero else None
    if trainer.is_global_zero:
        (out_dir / "alerts.jsonl").touch()  # present (and empty) when no alert fired
    old_csv = out_dir / "csv" / "metrics.csv"
    if resume and old_csv.exists():  # Lightning's CSVLogger starts the file afresh: keep the earlier rows
        old_csv.rename(old_csv.with_name(f"metrics.before-resume-{int(old_csv.stat().st_mtime)}.csv"))
    fit_start = time.monotonic()
    with _deterministic_cpu_kernels(trainer), warnings.catch_warnings():
        for message in QUIET_WARNINGS:
            warnings.filterwarnings("ignore", message=message)
        try:
            trainer.fit(module, datamodule=dm, ckpt_path=str(resume) if resume else None, weights_only=True)
        except SIGTERMException:  # a SystemExit without a code: `abrnet train` exited 0, silently
            raise TerminatedError(terminated_message(cfg, out_dir, trainer.global_step)) from None
    fit_s = time.monotonic() - fit_start
    summary: dict[str, Any] = {
        "out_dir": str(out_dir),
        "global_step": trainer.global_step,
        "training": training_record(cfg, trainer, resumed=resume is not None),
    }
    final = out_dir / "last.ckpt"
    trainer.save_checkpoint(final, weights_only=False)  # every rank (a barrier); EMA weights are in the model now
    if not trainer.is_global_zero:
        return summary
    if not (out_dir / "best.ckpt").exists():  # no validation ran (a very short run): best is the final model
        shutil.copyfile(final, out_dir / "best.ckpt")
    # fit_s: the model's whole fit, earlier legs included (a resume reported only its own leg, 0.4 s for a finished run)
    wall: dict[str, Any] = {"cohort_s": cohort_s, "fit_s": module.elapsed_before_s + fit_s}
    if resume is not None:
        wall["fit_before_resume_s"] = module.elapsed_before_s
    if cfg.series.enabled:
        t = time.monotonic()
        stopped = after_fit_message(out_dir, "while fitting the series stage", summary["training"])
        with sigterm_raises(stopped):  # Lightning's handler is gone with the fit
            summary["series_classifier"] = fit_series_stage(cfg, out_dir, dm, say)
        wall["series_s"] = time.monotonic() - t
    summary["wall_time"] = wall
    wall["total_s"] = time.monotonic() - started
    record_run(out_dir, summary, update_metrics=False)  # `abrnet train` evaluates, then records again
    return summary


class _deterministic_cpu_kernels:  # noqa: N801 - used as a context manager, named like one
    """On a CPU fit, ask torch for deterministic kernels (warning, not failing, where it has none); restored after.

    CPU kernels are deterministic for a fixed thread count already; this makes it explicit and flags any op that
    is not. GPU fits are left alone: deterministic CUDA kernels cost speed and need CUBLAS_WORKSPACE_CONFIG.
    """

    def __init__(self, trainer: L.Trainer) -> None:
        self.active = trainer.strategy.root_device.type == "cpu"
        self.before = (
            torch.are_deterministic_algorithms_enabled(),
            torch.is_deterministic_algorithms_warn_only_enabled(),
        )

    def __enter__(self) -> None:
        if self.active:
            torch.use_deterministic_algorithms(True, warn_only=True)

    def __exit__(self, *exc: object) -> None:
        if self.active:
            torch.use_deterministic_algorithms(self.before[0], warn_only=self.before[1])


def training_record(cfg: TrainConfig, trainer: L.Trainer, *, resumed: bool) -> dict[str, Any]:
    """What the fit did, in steps and samples (no clock readings: equal for equal seeds and configs)."""
    t = cfg.trainer
    steps = int(trainer.global_step)
    safety = next((c for c in trainer.callbacks if isinstance(c, SafetyStop)), None)  # type: ignore[attr-defined]
    if safety is not None and safety.fired_at_step is not None:
        stopped_by = "safety_stop"
    elif t.max_steps is not None and steps >= t.max_steps:
        stopped_by = "max_steps"
    elif t.max_minutes is not None:
        stopped_by = "max_minutes"
    else:
        stopped_by = "other"  # e.g. interrupted
    world = int(trainer.world_size)
    return {
        "steps": steps,
        "max_steps": t.max_steps,
        "stopped_by": stopped_by,
        "batch_size": cfg.data.batch_size,
        "world_size": world,
        "samples_seen": steps * cfg.data.batch_size * world,  # optimizer steps x global batch
        "val_every_n_steps": t.val_every_n_steps,
        "seed": cfg.seed,
        "resumed": resumed,
    }


def run_environment() -> dict[str, str]:
    """What decides a CPU fit's last bits besides the seed: library versions and the kernels torch picked.

    The same seed gives byte-identical runs on one machine, not across processors: torch dispatches its CPU kernels
    by vector instructions (AVX2, AVX-512), which round differently, and 1,400 steps grow that into another model.
    Recorded so that two runs that differ can be told apart by machine rather than guessed at.
    """
    import scipy
    import sklearn

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "lightning": L.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "scikit_learn": sklearn.__version__,
        "machine": platform.machine(),
        "cpu_model": _cpu_model(),
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }


def _cpu_model() -> str:
    """The processor's name as the OS reports it (Linux: /proc/cpuinfo), else Python's guess, else "unknown"."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def record_run(
    out_dir: Path, summary: dict[str, Any], extra_wall: dict[str, float] | None = None, *, update_metrics: bool = True
) -> None:
    """Write run.json and (`update_metrics`) put the ``training``, ``environment`` and ``wall_time`` sections into
    metrics.json.

    Wall-clock readings live only under ``wall_time`` (seconds, plus the torch thread count that shaped them), so a
    reproducibility check can drop that one key and compare the rest byte for byte (on one machine: ``environment``
    names what differs between machines).
    """
    summary["environment"] = run_environment()
    merged = {**summary.get("wall_time", {}), **(extra_wall or {})}
    wall: dict[str, Any] = {k: round(float(v), 3) for k, v in merged.items() if k not in ("total_s", "torch_threads")}
    if "total_s" in merged:
        wall["total_s"] = round(float(merged["total_s"]), 3)
    wall["torch_threads"] = torch.get_num_threads()
    summary["wall_time"] = wall
    run_info = {k: v for k, v in summary.items() if k != "metrics"}  # the metrics live in metrics.json
    write_json(run_info, out_dir / "run.json", overwrite=True)
    metrics_path = out_dir / "metrics.json"
    if not update_metrics or "training" not in summary or not metrics_path.exists():
        return
    metrics = json.loads(metrics_path.read_text())
    metrics["training"] = summary["training"]
    metrics["environment"] = summary["environment"]
    metrics["wall_time"] = wall
    write_json(metrics, metrics_path, overwrite=True)
    md = out_dir / "metrics.md"
    if md.exists():
        tr = summary["training"]
        line = (
            f"\nTraining: {tr['steps']} optimizer steps ({tr['stopped_by']}), {tr['samples_seen']} samples seen "
            f"(batch {tr['batch_size']} x {tr['world_size']} process(es)); wall time "
            + ", ".join(f"{k} {v}" for k, v in wall.items())
            + ".\n"
        )
        text = md.read_text().split("\nTraining: ")[0].rstrip("\n") + "\n" + line
        with staged_write(md, overwrite=True) as staged:
            staged.write_text(text)
