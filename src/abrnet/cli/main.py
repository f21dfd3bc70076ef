"""The `abrnet` command line: one Typer app, one sub-app per area."""

from __future__ import annotations

import typer

from abrnet.cli.data import data_app, simulate
from abrnet.cli.infer import denoise, generate, predict
from abrnet.cli.serve import serve
from abrnet.cli.train import evaluate, train

app = typer.Typer(
    help="abrnet: read, analyse and synthesise Auditory Brainstem Responses.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command("simulate")(simulate)
app.command("train")(train)
app.command("evaluate")(evaluate)
app.command("predict")(predict)
app.command("denoise")(denoise)
app.command("generate")(generate)
app.command("serve")(serve)
app.add_typer(data_app, name="data")


def _register_optional() -> None:
    """Sub-apps that import torch-heavy modules; registered here so `abrnet --help` lists them."""
    from abrnet.cli.model import app as model_app

    app.add_typer(model_app, name="model", help="Inspect model presets (parameters, FLOPs, layout).")


_register_optional()

if __name__ == "__main__":
    app()
