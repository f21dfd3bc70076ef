"""The curriculum section of the training configuration (every phase a share of the step budget).

Kept apart from `abrnet.config.train_config` so each file stays one screen per concept; `Strict` is the base of every
config section (unknown keys are errors, assignments re-validated).
"""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator


class Strict(BaseModel):
    """Base for every section: unknown keys are errors, assignments are re-validated, numbers are finite.

    pydantic's lax mode would read ``max_steps: true`` as 1 step, ``lr: .inf`` as a learning rate, ``batch_size:
    32.5`` as 32 (or 32.0 as 32), ``enabled: 1`` as on and ``seed: "3"`` as 3; each is a typo'd or wrong value in a
    YAML file or ``--set``, so it is refused at its key path instead. Float keys still take a number written as text
    (PyYAML reads ``1e-3`` as a string).
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_coercion(cls, v: Any, info: ValidationInfo) -> Any:
        """A YAML ``true``/``false`` where the field takes no boolean is an error, not the number 1 or 0; an integer
        or boolean key takes only an integer or a boolean, never text or a float that pydantic would convert."""
        field = cls.model_fields.get(info.field_name or "")
        if field is None or v is None:  # whether None is allowed is pydantic's to say
            return v
        if isinstance(v, bool) and not _takes_bool(field.annotation):
            raise ValueError(f"got the boolean {str(v).lower()}, which this key does not take")
        kind = _plain_type(field.annotation)
        if kind is bool and not isinstance(v, bool):
            raise ValueError(f"expected true or false, got {v!r} ({type(v).__name__})")
        if kind is int and not isinstance(v, int):
            raise ValueError(f"expected an integer, got {v!r} ({type(v).__name__})")
        return v


def _takes_bool(annotation: Any) -> bool:
    """Whether a field's type accepts a boolean (``bool``, ``Any`` or a union holding one)."""
    if annotation is bool or annotation is Any:
        return True
    if typing.get_origin(annotation) is typing.Literal:
        return False
    return any(_takes_bool(arg) for arg in typing.get_args(annotation))


def _plain_type(annotation: Any) -> Any:
    """``int``, ``bool`` or ``float`` for a field of that type (or ``X | None``); None for anything else (unions of
    several types, literals, lists, sections), whose values pydantic checks itself."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 1:
        annotation = args[0]
    return annotation if annotation in (int, bool, float) else None


def _check(ok: bool, section: Any, message: str) -> Any:
    """Return the validated section, or raise the one-line message pydantic reports at its key path."""
    if not ok:
        raise ValueError(message)
    return section


class TaskStage(Strict):
    """When a stage of tasks enters the loss: ``start`` and ``ramp`` are shares of the step budget."""

    start: float = Field(0.0, ge=0.0, le=1.0)
    ramp: float = Field(0.0, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _fits(self) -> TaskStage:
        a, r = self.start, self.ramp
        return _check(a + r <= 1.0 + 1e-9, self, f"start + ramp must be <= 1 ({a} + {r})")


class TaskStages(Strict):
    """The design's task order (`abrnet.training.curriculum.TASK_STAGES` lists each stage's tasks)."""

    signal_peaks: TaskStage = Field(default_factory=lambda: TaskStage(start=0.0, ramp=0.0))
    classification_threshold: TaskStage = Field(default_factory=lambda: TaskStage(start=0.1, ramp=0.15))
    static: TaskStage = Field(default_factory=lambda: TaskStage(start=0.25, ramp=0.15))

    @model_validator(mode="after")
    def _in_design_order(self) -> TaskStages:
        a, b, c = self.signal_peaks.start, self.classification_threshold.start, self.static.start
        order = "signal_peaks <= classification_threshold <= static"
        return _check(a <= b <= c, self, f"stages must start in the design's order {order} (starts {a}, {b}, {c})")


class CurriculumConfig(Strict):
    """The curriculum, every phase a share of the step budget (`abrnet.training.curriculum`): ``s4_warmup`` every
    attention path off; ``transformer_ramp`` attention gate 0 → 1; ``stages`` when each group of tasks enters the
    loss (``task_floor`` before its start, then its own linear ramp to 1)."""

    s4_warmup: float = Field(0.1, ge=0.0, le=1.0)
    transformer_ramp: float = Field(0.1, ge=0.0, le=1.0)
    task_floor: float = Field(0.1, ge=0.0, le=1.0)
    stages: TaskStages = Field(default_factory=TaskStages)

    @model_validator(mode="after")
    def _phases_fit(self) -> CurriculumConfig:
        w, r = self.s4_warmup, self.transformer_ramp
        return _check(w + r <= 1.0 + 1e-9, self, f"s4_warmup + transformer_ramp must be <= 1 ({w} + {r})")
