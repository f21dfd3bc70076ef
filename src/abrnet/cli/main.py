"""The `abrnet` command line: one Typer app, one sub-app per area."""

from __future__ import annotations

import typer

from abrnet.cli.data import data_app, simulate

app = typer.Typer(
    help="abrnet: read, analyse and synthesise Auditory Brainstem Responses.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command("simulate")(simulate)
app.add_typer(data_app, name="data")


def _register_optional() -> None:
    """Sub-apps that import torch-heavy modules; registered here so `abrnet --help` lists them."""
    try:  # TEMP until model lands
        from abrnet.cli.model import app as model_app
    except ModuleNotFoundError:
        return

    app.add_typer(model_app, name="model", help="Inspect model presets (parameters, FLOPs, layout).")


_register_optional()

if __name__ == "__main__":
    app()
