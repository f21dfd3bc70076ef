"""Checks on the arguments of the Python API (`abrnet.inference.api`): one clear line, before any expensive work.

Why a module of its own: every entry point (predict / denoise / generate) must refuse bad input with a message
naming the argument, its value and what is accepted, and must do so *before* files are read or the sampler runs
(a NaN guidance used to surface only after sampling, as "signals contains NaN"; an array given to `predict` as a
TypeError about os.PathLike). Wrong type → TypeError, wrong value → ValueError.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from abrnet.constants import GENERATION_GUIDANCE, MAX_SEED, PHYSICAL_RANGES, STATIC_PARAMS
from abrnet.data.importers.options import check_reading_options
from abrnet.data.schema import OPTIONAL_STATIC, ABRCohort
from abrnet.diffusion.sampling import SAMPLERS

# Largest added recording noise: a tenth of the signal range (`PHYSICAL_RANGES`), so no draw leaves it. Above it a
# run sampled for minutes, then failed as "<generated>: field 'signals'", naming nothing the user typed (hunt 48).
MAX_ADDED_NOISE_NV = PHYSICAL_RANGES["signal_uv"][1] * 1000.0 / 10.0

ARRAY_HINT = (
    "for signals held in arrays build an abrnet.data.schema.ABRCohort, or save them as abrnet's wide CSV "
    "(one record per row, one column per sample s0, s1, ...)"
)
# Reading options of `read_input` that only make sense for files: an in-memory cohort already has its values.
READ_DEFAULTS: dict[str, Any] = {"fmt": "auto"}


def check_int(name: str, value: object, *, minimum: int, maximum: int | None = None) -> int:
    """`value` as an int in [minimum, maximum]; bools and floats are refused (2.5 signals, or True steps, mean a
    mistake)."""
    accepted = f"an integer >= {minimum}" + (f" and <= {maximum}" if maximum is not None else "")
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be {accepted}, got {value!r} ({type(value).__name__})")
    if int(value) < minimum or (maximum is not None and int(value) > maximum):
        raise ValueError(f"{name} must be {accepted}, got {value!r}")
    return int(value)


def check_real(
    name: str, value: object, *, minimum: float | None = None, maximum: float | None = None, what: str = ""
) -> float:
    """`value` as a finite float in [minimum, maximum]; NaN/inf are refused because they only fail after sampling."""
    bounds = " and ".join(
        s for s in (f">= {minimum:g}" if minimum is not None else "", f"<= {maximum:g}" if maximum is not None else "")
        if s
    )  # fmt: skip
    accepted = f"a finite number{' ' + bounds if bounds else ''}{what}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be {accepted}, got {value!r} ({type(value).__name__})")
    x = float(value)
    if not math.isfinite(x) or (minimum is not None and x < minimum) or (maximum is not None and x > maximum):
        raise ValueError(f"{name} must be {accepted}, got {value!r}")
    return x


def check_sampler(sampler: object) -> str:
    """The sampler name, one of `SAMPLERS` (the one-step denoising path never builds a scheduler, so check here)."""
    if not isinstance(sampler, str) or sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {', '.join(map(repr, SAMPLERS))}, got {sampler!r}")
    return sampler


def _is_path(value: object) -> bool:
    return isinstance(value, (str, os.PathLike))


def check_input(data: object, read_kw: Mapping[str, Any]) -> None:
    """`data` is a cohort, a path or a non-empty list of paths; reading options are valid and apply to it.

    An in-memory ABRCohort already carries its rate, t0 and static parameters, so reading options given with one
    are an error rather than silently dropped (a file reports the options it cannot use as a warning instead)."""
    accepted = "a file or folder path, a list of paths, or an abrnet.data.schema.ABRCohort"
    if isinstance(data, ABRCohort):
        given = {k: v for k, v in read_kw.items() if v is not None and READ_DEFAULTS.get(k) != v}
        if given:
            named = ", ".join(f"{k}={v!r}" for k, v in given.items())
            raise ValueError(
                f"{named}: reading options apply to files only; an ABRCohort already holds its own values "
                "(set them on the cohort, e.g. its static columns, instead)"
            )
        return
    if isinstance(data, (list, tuple)) and not data:
        raise ValueError(f"data must be {accepted}, got an empty {type(data).__name__}")
    listed = isinstance(data, (list, tuple))
    items: list[object] = list(data) if isinstance(data, (list, tuple)) else [data]
    bad = [p for p in items if not _is_path(p)]
    if bad:
        got = f"a {type(data).__name__} holding {type(bad[0]).__name__}" if listed else type(data).__name__
        hint = f"; {ARRAY_HINT}" if isinstance(data, (np.ndarray, list, tuple)) else ""
        raise TypeError(f"data must be {accepted}, got {got}{hint}")
    rate = read_kw.get("sampling_rate_hz")
    if rate is not None and check_real("sampling_rate_hz", rate) <= 0:
        raise ValueError(f"sampling_rate_hz must be a finite number > 0, got {rate!r}")
    if read_kw.get("t0_ms") is not None:
        check_real("t0_ms", read_kw["t0_ms"])
    fmt = read_kw.get("fmt", "auto")
    if not isinstance(fmt, str):
        raise TypeError(f"fmt must be a format name (str, 'auto' to detect it), got {fmt!r}")
    check_reading_options(read_kw)


def check_flag(name: str, value: object) -> bool:
    """`value` as a bool; a string such as "no" is truthy and would silently switch the option on."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r} ({type(value).__name__})")
    return bool(value)


def check_denoise(*, steps: object, sampler: object, seed: object, batch_size: object) -> None:
    """The arguments of `ABRModel.denoise` besides its input, checked before the input is read."""
    check_int("steps", steps, minimum=1)
    check_int("seed", seed, minimum=0, maximum=MAX_SEED)
    check_int("batch_size", batch_size, minimum=1)
    check_sampler(sampler)


def check_conditions(conditions: object) -> np.ndarray:
    """(M, 4) float32 physical static rows; a flat row of 4 is one row. Values outside `PHYSICAL_RANGES`, NaN other
    than in FMP (NaN = not measured) or inf are refused here, not after sampling when the output is validated."""
    try:
        cond = np.atleast_2d(np.asarray(conditions, dtype=np.float32))
    except (TypeError, ValueError):
        raise TypeError(f"conditions must be rows of {len(STATIC_PARAMS)} numbers, got {conditions!r}") from None
    if cond.ndim != 2 or cond.shape[1] != len(STATIC_PARAMS) or cond.shape[0] == 0:
        raise ValueError(
            f"conditions must be rows of {len(STATIC_PARAMS)} values ({', '.join(STATIC_PARAMS)}; fmp NaN = "
            f"not measured), got shape {np.shape(conditions)}"
        )
    for j, name in enumerate(STATIC_PARAMS):
        col = cond[:, j]
        lo, hi = PHYSICAL_RANGES[name]
        ok = np.isnan(col) if name in OPTIONAL_STATIC else np.zeros(len(col), bool)
        ok |= np.isfinite(col) & (col >= lo) & (col <= hi)
        if not ok.all():
            row = int(np.flatnonzero(~ok)[0])
            nan = " or NaN (not measured)" if name in OPTIONAL_STATIC else ""
            raise ValueError(f"conditions row {row}: {name} must be in [{lo:g}, {hi:g}]{nan}, got {col[row]:g}")
    return cond


def check_generate(
    *,
    n: object,
    joint: object,
    conditions: object,
    sampler: object,
    steps: object,
    guidance: object,
    seed: object,
    add_noise_nv: object,
    batch_size: object,
    eta: object,
    band_limit: object = True,
) -> tuple[np.ndarray | None, float | None]:
    """Every argument of `ABRModel.generate` that can be wrong, checked before the model runs → the condition rows
    and the guidance scale (None, None for joint generation).

    ``guidance=None`` means `abrnet.constants.GENERATION_GUIDANCE`; a value given with ``joint=True`` is refused,
    because joint sampling has no condition to guide by and a silently unused setting looks like it took effect. The
    flags come first: ``joint="no"`` is truthy and would otherwise run joint generation."""
    joint = check_flag("joint", joint)
    check_flag("band_limit", band_limit)
    check_int("n", n, minimum=1)
    check_int("steps", steps, minimum=1)
    check_int("seed", seed, minimum=0, maximum=MAX_SEED)  # numpy's generators need seed >= 0
    check_int("batch_size", batch_size, minimum=1)
    check_sampler(sampler)
    scale = GENERATION_GUIDANCE
    if guidance is not None:
        scale = check_real(
            "guidance", guidance, minimum=0.0, what=" (0 = unconditional, 1 = plain conditional), or not given"
        )
    check_real("eta", eta, minimum=0.0, maximum=1.0)
    if add_noise_nv is not None:
        what = " (residual noise in nV RMS; an ABR's is well under 1000), or not given"
        check_real("add_noise_nv", add_noise_nv, minimum=0.0, maximum=MAX_ADDED_NOISE_NV, what=what)
    if eta and sampler != "ddim":
        raise ValueError(f"eta (stochastic DDIM) needs sampler='ddim', got eta={eta} with sampler={sampler!r}")
    if joint and eta:
        raise ValueError(f"eta applies to conditional generation only (joint sampling is deterministic), got {eta}")
    if joint and conditions is not None:
        raise ValueError("conditions do not apply with joint=True (joint sampling draws its own parameters)")
    if joint and guidance is not None:
        raise ValueError(
            f"guidance applies to conditional generation only (joint=True has no condition), got {guidance}"
        )
    if joint:
        return None, None
    if conditions is None:
        raise ValueError("conditional generation needs conditions (M, 4) or joint=True")
    return check_conditions(conditions), scale
