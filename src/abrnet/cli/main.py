"""The `abrnet` command line: one Typer app, one sub-app per area."""

from __future__ import annotations

import typer

app = typer.Typer(help="abrnet: read, analyse and synthesise Auditory Brainstem Responses.", no_args_is_help=True)


@app.callback()
def _main() -> None:
    """abrnet command line."""


if __name__ == "__main__":
    app()
