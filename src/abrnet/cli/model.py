"""`abrnet model …`: inspect the network (parameters, attention placement, FLOPs) without training it."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from abrnet.models.config import PRESETS

app = typer.Typer(help="Inspect the hierarchical S4/Transformer U-Net: size, attention placement, FLOPs.")


@app.callback()
def _model() -> None:
    """Model inspection commands."""


@app.command()
def summary(
    preset: str = typer.Option("cpu", "--preset", help=f"Model preset: {', '.join(PRESETS)}."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
) -> None:
    """Parameters per component, which blocks run transformers at which lengths, forward FLOPs per sample."""
    from abrnet.models.summary import model_summary

    if preset not in PRESETS:
        raise typer.BadParameter(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}", param_hint="--preset")
    info = model_summary(preset)
    if as_json:
        typer.echo(json.dumps(info, indent=2))
        return
    console = Console()
    params = Table(title=f"{preset}: {info['parameters']:,} parameters")
    params.add_column("component")
    params.add_column("parameters", justify="right")
    params.add_column("forward FLOPs (counted)", justify="right")
    for name, n in info["parameters_per_component"].items():
        params.add_row(name, f"{n:,}", f"{info['flops_per_sample']['per_component_counted'].get(name, 0):,}")
    console.print(params)
    placement = Table(title="transformer placement")
    for col in ("block", "length", "transformer layers"):
        placement.add_column(col)
    for row in info["transformer_placement"]:
        placement.add_row(row["block"], str(row["length"]), str(row["transformer_layers"]))
    console.print(placement)
    flops = info["flops_per_sample"]
    console.print(
        f"forward FLOPs per sample: {flops['total']:,} (counted {flops['counted']:,} + FFT estimate "
        f"{flops['fft_estimate']:,} + attention estimate {flops['attention_estimate']:,})"
    )
    console.print(flops["note"], style="dim")
