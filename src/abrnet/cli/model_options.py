"""Options shared by the commands that run a trained model on users' data: `abrnet predict` (`abrnet.cli.infer`),
`abrnet denoise` and `abrnet generate` (`abrnet.cli.diffusion`).

Why a module of its own: those commands live in two modules, split by what they do with the model (analyse
recordings vs run its diffusion sampler), and each needs the same --checkpoint/--force declarations and the same map
from the Python API's reading keywords to the options that set them. Declared once here, the help texts cannot
drift apart, and neither command module has to import the other."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

CheckpointOpt = Annotated[
    Path | None,
    typer.Option("--checkpoint", help="Trained checkpoint (e.g. runs/x/best.ckpt); default: the model abrnet ships."),
]
ForceOpt = Annotated[bool, typer.Option("--force", help="Overwrite existing output files.")]


# The Python API's keywords → the options that set them, so its argument errors name what the user typed.
READ_OPTIONS = {"sampling_rate_hz": "--sampling-rate", "t0_ms": "--t0-ms", "age_years": "--age", "fmt": "--format"}
