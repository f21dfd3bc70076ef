"""The model section of the training configuration: a preset and its `ModelConfig` field overrides.

Kept apart from `abrnet.config.train_config` so each file stays one screen per concept. Overrides are checked
against ``abrnet.models.ModelConfig`` (the config layer sits above the models, so it may read the model's own field
list): unknown names, wrong types, values the preset builder refuses, and the sizes the data fixes.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from abrnet.config.curriculum import Strict
from abrnet.models import ModelConfig

# ModelConfig fields whose value is the data's, not a design choice: the record length on the model grid and the
# numbers of static inputs, classes and waves the cohort schema carries (their ModelConfig defaults). Overridden,
# they crashed mid-fit (n_classes, n_static, n_waves) or trained silently on the wrong grid (input_length).
DATA_FIXED = ("input_length", "n_static", "n_classes", "n_waves")


class ModelSection(Strict):
    """Which model preset to build and which `ModelConfig` fields to override."""

    preset: Literal["tiny", "cpu", "base", "large"] = "cpu"
    overrides: dict[str, Any] = Field(default_factory=dict)

    @field_validator("overrides")
    @classmethod
    def _check_overrides(cls, v: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        """Reject override names that `ModelConfig` lacks, sizes the data fixes (`DATA_FIXED`), and values its
        preset builder refuses."""
        if not v:
            return v
        if "cond_drop_prob" in v:
            raise ValueError("set the guidance dropout with diffusion.cond_drop_prob, not a model override")
        fields = {f.name: f for f in dataclasses.fields(ModelConfig)}
        unknown = sorted(set(v) - set(fields))
        if unknown:
            raise ValueError(f"unknown ModelConfig field(s) {unknown}; known: {sorted(fields)}")
        fixed = [
            f"{n} (the data's {fields[n].default}, got {v[n]!r})"
            for n in DATA_FIXED
            if n in v and v[n] != fields[n].default
        ]
        if fixed:
            raise ValueError(f"{', '.join(fixed)}: fixed by the data, not a model override; remove it")
        for name, value in v.items():
            _check_override_type(name, value)
        preset = info.data.get("preset")
        if preset is not None:
            try:
                ModelConfig.from_preset(preset, **v)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"ModelConfig.from_preset({preset!r}, ...) rejected the overrides: {exc}") from None
        return v


def _check_override_type(name: str, value: Any) -> None:
    """A wrong-typed override, named with its value and type (was ``'<=' not supported between 'float' and 'str'``)."""
    hint = typing.get_type_hints(ModelConfig)[name]
    listed = typing.get_origin(hint) is tuple  # channel_mults, latency_center_ms
    kind = typing.get_args(hint)[0] if listed else hint

    def fits(x: Any) -> bool:
        if kind in (bool, str) or isinstance(x, bool):
            return type(x) is kind
        return isinstance(x, int) if kind is int else isinstance(x, int | float) and math.isfinite(x)

    if not (isinstance(value, list | tuple) and all(map(fits, value)) if listed else fits(value)):
        what = {bool: "true or false", int: "an integer", float: "a finite number", str: "a string"}[kind]
        what = f"a list of {what.split(' ', 1)[1]}s, e.g. [1, 2]" if listed else what
        raise ValueError(f"{name}: expected {what}, got {value!r} ({type(value).__name__})")
