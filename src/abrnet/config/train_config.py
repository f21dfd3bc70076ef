"""The training configuration: one strict pydantic tree, loaded from / dumped to YAML.

Why strict: a typo in a YAML key (``optim.transfomer_lr``) must stop the run before minutes of training, not be
silently ignored. Every section forbids unknown keys and every number carries its valid range, so
`load_config` can report *which* key is wrong in one line (``configs/x.yaml: optim.lr: Input should be greater
than 0``).

`TrainConfig()` defaults are the design's CPU run and equal ``configs/optimized_architecture.yaml`` (a test keeps
them in step). The model section (preset and `ModelConfig` overrides) lives in `abrnet.config.model_section`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import pydantic
import yaml
from pydantic import Field, field_validator, model_validator

from abrnet.config.curriculum import CurriculumConfig, Strict, TaskStage, TaskStages
from abrnet.config.key_paths import ConfigError, apply_override, error_loc, format_validation_error, set_key
from abrnet.config.model_section import ModelSection
from abrnet.config.unread import unread_keys
from abrnet.config.yaml_loader import DuplicateKeyError, load_with_lines
from abrnet.constants import CLASS_NAMES, MAX_SEED, TRAIN_SEED
from abrnet.data.files import staged_write
from abrnet.models import ModelConfig

__all__ = [
    "AlertsConfig",
    "ConfigError",
    "CurriculumConfig",
    "DataConfig",
    "DiffusionConfig",
    "LossConfig",
    "LossWeights",
    "ModelSection",
    "OptimConfig",
    "TaskStage",
    "TaskStages",
    "TrainConfig",
    "TrainerConfig",
    "dump_config",
    "format_validation_error",
    "load_config",
]


# ----------------------------------------------------------------------------------------------------------- data
class DataConfig(Strict):
    """Where the records come from and how they are split (by patient) and batched."""

    path: str | None = None  # None = the cached simulated cohort
    patients: int = Field(2000, gt=0)  # cohort size of the cached simulation
    val_fraction: float = Field(0.1, ge=0.0, lt=1.0)  # > 0 to train: `abrnet.training.run_checks.check_val_fraction`
    test_fraction: float = Field(0.15, ge=0.0, lt=1.0)
    batch_size: int = Field(32, gt=0)
    num_workers: int = Field(0, ge=0)
    cache_dir: str = ".cache/abrnet"
    # extra class-balanced simulated patients added to the TRAINING split only (default data): the natural mix has
    # a handful of labelled ANSD residual waves V; validation, test and the baselines keep the natural cohort
    balanced_train_patients: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _split_leaves_training(self) -> DataConfig:
        if self.val_fraction + self.test_fraction >= 1.0:
            raise ValueError(
                f"val_fraction + test_fraction must be < 1 (got {self.val_fraction} + {self.test_fraction})"
            )
        if self.path is not None and self.balanced_train_patients:
            raise ValueError("balanced_train_patients adds simulated patients: only for the default data (no path)")
        return self


# ------------------------------------------------------------------------------------------------------ diffusion
class DiffusionConfig(Strict):
    """Diffusion training: target parameterisation, guidance dropout and the analysis-path share (the schedule is
    the 1000-step cosine of `abrnet.diffusion.schedule`)."""

    prediction_type: Literal["v_prediction", "epsilon"] = "v_prediction"
    cond_drop_prob: float = Field(0.1, ge=0.0, lt=1.0)  # classifier-free guidance: drop static conditioning
    analysis_fraction: float = Field(0.6, ge=0.0, le=1.0)  # share of each batch trained at t=0 on observed signal
    high_noise_fraction: float = Field(0.0, ge=0.0, le=1.0)  # share of diffusion rows with t drawn from [K/2, K)
    noise_negative_fraction: float = Field(0.15, ge=0.0, le=1.0)  # analysis rows replaced by (A−B)/2 noise
    reversed_negative_fraction: float = Field(0.1, ge=0.0, le=1.0)  # analysis rows replaced by the reversed trace
    level_jitter_db: float = Field(15.0, ge=0.0, le=40.0)  # SD of the level input's jitter on analysis rows (dB)
    slow_trend_uv: float = Field(0.05, ge=0.0, le=0.5)  # SD (µV) of a random drift's Legendre terms, analysis rows

    @model_validator(mode="after")
    def _negatives_fit_in_the_rows(self) -> DiffusionConfig:
        """The two negatives share one uniform draw per row (`training.negatives`): above 1 together, the reversed
        share was cut silently (0.8 + 0.8 gave 0.2 reversed; hunt 50c #3)."""
        if (total := self.noise_negative_fraction + self.reversed_negative_fraction) > 1.0:
            raise ValueError(
                f"noise_negative_fraction + reversed_negative_fraction must be <= 1 (shares of the same analysis rows; "
                f"got {self.noise_negative_fraction:g} + {self.reversed_negative_fraction:g} = {total:g})"
            )
        return self


# ----------------------------------------------------------------------------------------------------------- loss
class LossWeights(Strict):
    """Base weight of each task's loss (multiplied by the curriculum's per-task multiplier)."""

    signal: float = Field(3.0, ge=0.0)  # the diffusion loss; 1.0 left generation weakly conditioned (README)
    peak_presence: float = Field(3.0, ge=0.0)
    peak_latency: float = Field(3.0, ge=0.0)
    peak_amplitude: float = Field(3.0, ge=0.0)
    classification: float = Field(1.0, ge=0.0)
    threshold: float = Field(3.5, ge=0.0)
    no_response: float = Field(1.0, ge=0.0)
    static: float = Field(1.0, ge=0.0)


class LossConfig(Strict):
    """Which loss each head gets, and its weights."""

    weights: LossWeights = Field(default_factory=LossWeights)
    classification_loss: Literal["focal", "class_balanced", "ce"] = "focal"
    focal_gamma: float = Field(2.0, ge=0.0)
    # "balanced": effective-number weights from training-set class counts (Cui et al. 2019, any classification_loss);
    # "none": unweighted; or one non-negative weight per class in CLASS_NAMES order.
    class_weights: Literal["balanced", "none"] | list[float] = "balanced"
    class_balanced_beta: float = Field(0.999, ge=0.0, lt=1.0)  # Cui et al. effective-number β
    # gaussian_nll, or huber: Huber's robust likelihood (Gaussian core, Laplace tails); both train the variances
    regression_loss: Literal["gaussian_nll", "huber"] = "gaussian_nll"
    huber_delta: float = Field(1.345, gt=0.0)  # huber: |residual| / σ where the loss turns linear (95 % efficiency)
    nll_beta: float = Field(0.0, ge=0.0, le=1.0)  # β-NLL for peaks and threshold (0 = plain likelihood)
    logvar_min: float = -10.0  # clamp of predicted log-variances (keeps the NLL bounded)
    logvar_max: float = 10.0

    @field_validator("class_weights", mode="before")
    @classmethod
    def _check_class_weights(cls, v: Any) -> Any:
        """Validate before the union so errors read as one message at ``loss.class_weights``."""
        if isinstance(v, str):
            if v not in ("balanced", "none"):
                raise ValueError(f"must be 'balanced', 'none' or a list of {len(CLASS_NAMES)} weights, got {v!r}")
            return v
        if isinstance(v, list | tuple):
            ok = all(isinstance(x, int | float) and not isinstance(x, bool) for x in v)
            if not ok or len(v) != len(CLASS_NAMES):
                raise ValueError(f"a list must hold {len(CLASS_NAMES)} numbers ({', '.join(CLASS_NAMES)}), got {v!r}")
            if any(not math.isfinite(float(x)) or float(x) < 0 for x in v) or sum(float(x) for x in v) <= 0:
                raise ValueError(f"weights must be finite, >= 0 and not all zero, got {v!r}")
            return [float(x) for x in v]
        raise ValueError(f"must be 'balanced', 'none' or a list of {len(CLASS_NAMES)} weights, got {v!r}")

    @model_validator(mode="after")
    def _logvar_range(self) -> LossConfig:
        if not self.logvar_min < self.logvar_max:
            raise ValueError(f"logvar_min ({self.logvar_min}) must be < logvar_max ({self.logvar_max})")
        return self


# ---------------------------------------------------------------------------------------------------------- optim
class OptimConfig(Strict):
    """AdamW with a separate (usually lower) learning rate for the transformer parameters, plus EMA."""

    lr: float = Field(3e-3, gt=0.0)
    transformer_lr: float = Field(1.5e-3, gt=0.0)
    weight_decay: float = Field(0.01, ge=0.0)
    betas: tuple[float, float] = (0.9, 0.999)
    grad_clip: float = Field(1.0, ge=0.0)  # max global grad norm; 0 disables clipping
    ema_decay: float = Field(0.995, ge=0.0, lt=1.0)  # 0 disables EMA
    warmup_fraction: float = Field(0.05, ge=0.0, lt=1.0)  # linear LR warm-up, fraction of the run
    schedule: Literal["cosine", "constant"] = "cosine"

    @field_validator("betas")
    @classmethod
    def _check_betas(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not all(0.0 <= b < 1.0 for b in v):
            raise ValueError(f"each beta must be in [0, 1), got {list(v)}")
        return v


# -------------------------------------------------------------------------------------------------------- trainer
class TrainerConfig(Strict):
    """Run length and Lightning Trainer settings. The length is a step budget (curriculum, LR, validation and the
    best checkpoint all count steps): one seed gives the same steps and batches on any machine, and the same model
    where the CPU kernels and ``cpu_threads`` match (torch splits its reductions by thread, so the thread count is
    part of a CPU fit's numerics). ``safety_stop_minutes`` only guards the clock: it cuts the fit short with a loud
    alert and ``stopped_by: safety_stop`` in metrics.json. ``max_minutes`` (off) makes a time-limited run whose
    curriculum follows the clock: not reproducible."""

    max_steps: int | None = Field(1400, gt=0)  # the step budget (None only together with max_minutes)
    max_minutes: float | None = Field(None, gt=0.0)  # time-limited run: progress follows the clock (not reproducible)
    safety_stop_minutes: float | None = Field(16.0, gt=0.0)  # wall-clock guard only; None disables it
    val_every_n_steps: int = Field(700, gt=0)  # validation and the best-checkpoint choice, counted in steps
    precision: Literal["auto", "32", "bf16-mixed", "16-mixed"] = "auto"  # auto: bf16-mixed on GPU, 32 on CPU
    devices: int | Literal["auto"] | list[int] = "auto"
    strategy: str = "auto"
    accelerator: Literal["auto", "cpu", "gpu", "cuda", "mps"] = "auto"
    log_every_n_steps: int = Field(25, gt=0)
    num_nodes: int = Field(1, ge=1)  # multi-node DDP (SLURM or torchrun set the ranks; see README)
    cpu_threads: int | None = Field(2, gt=0)  # torch threads of the whole run (None: torch's default, one per core)

    @field_validator("precision", mode="before")
    @classmethod
    def _precision_as_str(cls, v: Any) -> Any:
        """YAML reads ``precision: 32`` as an int; accept it as "32"."""
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v

    @field_validator("devices", mode="before")
    @classmethod
    def _check_devices(cls, v: Any) -> Any:
        """Validate before the union so errors read as one message at ``trainer.devices``."""
        index = lambda x: isinstance(x, int) and not isinstance(x, bool) and x >= 0
        distinct = isinstance(v, list) and v and all(map(index, v)) and len(set(v)) == len(v)  # not [0, 0]: one GPU
        if v == "auto" or (index(v) and v > 0) or distinct:
            return v
        raise ValueError(f"must be 'auto', a positive int or a non-empty list of distinct device indices, got {v!r}")

    @field_validator("strategy")
    @classmethod
    def _check_strategy(cls, v: str) -> str:
        """A strategy Lightning does not know was a traceback from deep in `build_trainer`, after the run folder
        was made; checked against Lightning's registry (lower-cased names), except "auto": `abrnet.load` validates a
        checkpoint's config and must not import Lightning for it (about a second; inference has no use for it)."""
        if v.lower() == "auto":
            return v
        from lightning.pytorch.strategies import StrategyRegistry

        if v.lower() not in StrategyRegistry.available_strategies():
            raise ValueError(f"unknown strategy {v!r}; choose 'auto' or a Lightning strategy such as ddp, fsdp")
        return v

    @model_validator(mode="after")
    def _has_a_limit(self) -> TrainerConfig:
        if self.max_steps is None and self.max_minutes is None:
            raise ValueError("set max_steps or max_minutes (or both); the run needs a length for its curriculum")
        return self


# --------------------------------------------------------------------------------------------------------- series
class SeriesConfig(Strict):
    """The series stage fitted after training: one class per ear from its whole intensity series."""

    enabled: bool = True
    patients: int = Field(300, gt=0)  # class-balanced simulated fit cohort (default data); else the val split
    long_grid_patients: int = Field(200, ge=0)  # + a fixed-grid one for the long-grid interval (default data; 0: none)
    c: float = Field(1.0, gt=0.0)  # inverse L2 strength of the multinomial logistic regression


# --------------------------------------------------------------------------------------------------------- alerts
class AlertsConfig(Strict):
    """Thresholds of the training alerts (see `abrnet.training.alerts`)."""

    nan_patience: int = Field(5, ge=1)  # K consecutive non-finite losses -> TrainingDiverged
    attention_entropy_floor: float = Field(0.1, ge=0.0, le=1.0)  # mean normalised entropy per layer
    task_dominance_ceiling: float = Field(0.8, gt=0.0, le=1.0)  # max share of one task in the trunk grad norm
    dominance_every_n_steps: int = Field(100, gt=0)  # the check costs ~2 steps (one backward per task)
    threshold_r2_grace_fraction: float = Field(0.5, ge=0.0, le=1.0)  # negative threshold R² tolerated until then


# ------------------------------------------------------------------------------------------------------------ top
class TrainConfig(Strict):
    """The whole training configuration (defaults = configs/optimized_architecture.yaml, the CPU design run)."""

    seed: int = Field(TRAIN_SEED, ge=0, le=MAX_SEED)  # numpy's and Lightning's range: beyond it they raise mid-run
    model: ModelSection = Field(default_factory=ModelSection)
    data: DataConfig = Field(default_factory=DataConfig)
    diffusion: DiffusionConfig = Field(default_factory=DiffusionConfig)
    loss: LossConfig = Field(default_factory=LossConfig)
    optim: OptimConfig = Field(default_factory=OptimConfig)
    curriculum: CurriculumConfig = Field(default_factory=CurriculumConfig)
    trainer: TrainerConfig = Field(default_factory=TrainerConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    series: SeriesConfig = Field(default_factory=SeriesConfig)

    def network_config(self) -> ModelConfig:
        """The network's own config: the preset with its overrides and the guidance dropout of this run."""
        return ModelConfig.from_preset(
            self.model.preset, **{**self.model.overrides, "cond_drop_prob": self.diffusion.cond_drop_prob}
        )


# ------------------------------------------------------------------------------------------------------------- io
def load_config(
    path: str | Path | None,
    overrides: Sequence[str] = (),
    values: Mapping[str, Any] | None = None,
    *,
    option_names: Mapping[str, str] | None = None,
    command: str | None = None,
) -> TrainConfig:
    """Read a YAML training config (``None`` = defaults), apply ``key.path=value`` overrides, then `values`
    (``{"data.path": "run #1.h5"}``: taken as they are, not parsed as YAML, so a file name such as ``null`` or one
    holding `` #`` stays that file name), validate.

    ``option_names`` (key path → the CLI option that set it, ``{"seed": "--seed"}``) and ``command`` (``abrnet
    train``): a bad value a user typed is named as typed (``field '--seed'``, ``field '--set optim.lr'``), under the
    command where every bad value was typed; without them, by key path under the file.

    Raises `ConfigError` with one line naming the file and each offending key path: also for a key written twice
    (`abrnet.config.yaml_loader`; typed twice by --set, given ``command``: a Python caller's later override wins) and
    a key set where the rest of the config never reads it (`abrnet.config.unread`; only here, for what a user writes
    or types: a checkpoint's stored config is validated without it)."""
    source = str(path) if path is not None else "<defaults>"
    raw: Any = {}
    lines: dict[str, int] = {}  # key path → its line in the file (a bad value is reported there)
    if path is not None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{source}: cannot read config ({exc.strerror or exc})") from None
        except UnicodeDecodeError:  # an .h5 or a checkpoint passed as --config: was a traceback (hunt 48)
            raise ConfigError(f"{source}: not a YAML config (not UTF-8 text)") from None
        try:
            raw, lines = load_with_lines(text)
        except DuplicateKeyError as exc:
            raise ConfigError(f"{source}: {exc}") from None
        except yaml.YAMLError as exc:
            first = str(exc).replace("\n", " ")
            raise ConfigError(f"{source}: invalid YAML ({first})") from None
        raw = {} if raw is None else raw  # an empty file: the defaults
        if not isinstance(raw, dict):
            raise ConfigError(f"{source}: top level must be a mapping of sections, got {type(raw).__name__}")
    for item in overrides:
        apply_override(raw, item)
    typed = [".".join(k for k in item.partition("=")[0].strip().split(".") if k) for item in overrides]
    if command and (again := next((k for i, k in enumerate(typed) if k in typed[:i]), None)):  # typed --set twice:
        raise ConfigError(f"{command}: {again} is set twice by --set: give one value")  # the last won, silently
    if twice := next((k for k in typed if k in (values or {})), None):  # the option won, the --set went unchecked
        said = (option_names or {}).get(twice, twice)
        raise ConfigError(f"{command or source}: {twice} is set twice, by --set and by {said}: give one")
    for key, value in (values or {}).items():
        set_key(raw, key.split("."), value, f"{key}={value}")
    typed_here = [*typed, *(values or {})]  # set on the command line: their file lines no longer hold the value
    lines = {k: n for k, n in lines.items() if not any(k == t or k.startswith(f"{t}.") for t in typed_here)}
    said = {  # how each typed value was typed, where the caller says (a bad --seed was blamed on a valid my.yaml)
        **{k: f"--set {k}" for k in typed},
        **{k: v for k, v in (option_names or {}).items() if k in (values or {})},
    }
    try:
        cfg = TrainConfig.model_validate(raw)
    except pydantic.ValidationError as exc:
        found = format_validation_error(exc, lines, said if option_names is not None else None)
        typed_loc = lambda loc: any(k == loc or k.startswith(f"{loc}.") for k in said)  # foo of --set foo.bar=1
        every_typed = option_names is not None and all(typed_loc(error_loc(e)) for e in exc.errors())
        raise ConfigError(f"{command if every_typed and command else source}: {found}") from None
    unread = unread_keys(cfg, typed_here)
    if unread:
        raise ConfigError(f"{source}: {'; '.join(unread)}")
    return cfg


def dump_config(cfg: TrainConfig, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write the resolved config as YAML (every key explicit), so a run can be reproduced from its output folder."""
    text = yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False, default_flow_style=None)
    with staged_write(path, overwrite=overwrite) as staged:  # an existing file only with overwrite
        staged.write_text(text, encoding="utf-8")
    return Path(path)
