"""`abrnet model …`: inspect the network (parameters, attention placement, FLOPs) without training it."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from abrnet.cli.common import check_choice, check_outputs, series_stage_warnings, user_errors, warn
from abrnet.constants import MODEL_PRESETS as PRESETS
from abrnet.training.terminated import sigterm_raises, unfinished_message

# what `model export --metrics` puts on the card: the figures, and which records they are of (a split, a --data
# file, the file the model trained on: a card from `--split all` of a file looked like a held-out one; hunt 50d #1)
CARD_KEYS = (
    "split", "data", "training_data", "headline", "baselines", "counterfactuals", "fixed_protocol", "training",
)  # fmt: skip

app = typer.Typer(help="Inspect the hierarchical S4/Transformer U-Net: size, attention placement, FLOPs.")


@app.callback()
def _model() -> None:
    """Model inspection commands."""


@app.command()
def summary(
    preset: str | None = typer.Option(None, "--preset", help=f"Model preset: {', '.join(PRESETS)} (default cpu)."),
    config: Path | None = typer.Option(None, "--config", help="A training config (YAML): its preset and overrides."),
    checkpoint: Path | None = typer.Option(
        None, "--checkpoint", help="A trained model (a run's best.ckpt or a slim export): the network it holds."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
) -> None:
    """Parameters per component, which blocks run transformers at which lengths, forward FLOPs per sample: of a
    preset, of the network a training config builds (``model.overrides`` included), or of a trained model's."""
    from abrnet.models.summary import model_summary

    with user_errors():
        network, title = _summary_network(preset, config, checkpoint)
    info = model_summary(network)
    if as_json:
        typer.echo(json.dumps(info, indent=2))
        return
    console = Console()
    params = Table(title=f"{title}: {info['parameters']:,} parameters")
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


def _summary_network(preset: str | None, config: Path | None, checkpoint: Path | None) -> tuple[object, str]:
    """The `ModelConfig` (or preset name) `summary` describes, and its title; one source of the three at most.

    Why --config and --checkpoint: a run's network is its preset with ``model.overrides``, which a preset's summary
    does not show (a user asked for the size of the model they trained, stop 43)."""
    from abrnet.cli.common import option_error

    given = [
        name for name, value in (("--preset", preset), ("--config", config), ("--checkpoint", checkpoint)) if value
    ]
    if len(given) > 1:
        raise option_error(
            "model summary", given[1], f"give one of --preset, --config, --checkpoint, not {given[0]} too"
        )
    if config is not None:
        from abrnet.config.train_config import load_config

        return load_config(config).network_config(), str(config)
    if checkpoint is not None:
        from abrnet.inference.checkpoint import load_checkpoint

        return load_checkpoint(checkpoint).config.network_config(), str(checkpoint)
    check_choice(preset or "cpu", "--preset", PRESETS, command="model summary")
    return preset or "cpu", preset or "cpu"


@app.command()
def export(
    checkpoint: Path = typer.Argument(..., metavar="CHECKPOINT", help="A run's best.ckpt."),
    out: Path = typer.Option(..., "--out", "-o", help="Slim checkpoint to write (e.g. the package's default model)."),
    metrics: Path | None = typer.Option(
        None,
        "--metrics",
        help="metrics.json that abrnet evaluate (or train) wrote for this very checkpoint (headline → card); "
        "another model's is refused.",
    ),
    command: str = typer.Option("", "--command", help="The command that trained the run (recorded in the card)."),
    evaluated: str = typer.Option("", "--evaluated", help="How --metrics was made, if not by training (card)."),
    force: bool = typer.Option(False, "--force", help="Replace existing files."),
) -> None:
    """Write a slim checkpoint (weights, config, series stage, versions; no optimizer state) and its card.

    Re-exporting a slim checkpoint (e.g. after its series stage was refitted and it was evaluated again) keeps the
    provenance of the card beside it (source, training command and section) and replaces the evaluation sections."""
    from abrnet.inference.checkpoint import SERIES_KEY, read_checkpoint
    from abrnet.inference.default_model import card_path, export_checkpoint, recorded_versions

    with user_errors(), sigterm_raises(unfinished_message("model export")):
        inputs = [checkpoint, checkpoint.with_suffix(".json"), *([metrics] if metrics is not None else [])]
        # never over what it reads, --force or not: a slim copy over the run's best.ckpt cannot be resumed
        check_outputs({"--out": out, "model card, --out's .json": card_path(out)}, force=force, inputs=inputs)
        card: dict = {"source": str(checkpoint), "command": command}
        previous = checkpoint.with_suffix(".json")
        if recorded_versions(checkpoint) and previous.exists():  # a slim checkpoint with its card
            card = {k: v for k, v in _read_json_object(previous, "<card>").items() if k != "versions"}
            card |= {"command": command} if command else {}
        if evaluated:
            card["evaluated"] = evaluated
        evaluated = None
        if metrics is not None:
            m = _read_json_object(metrics, "--metrics")
            evaluated = (str(metrics), _evaluated_sha256(m, metrics))
            card |= {k: m[k] for k in CARD_KEYS if k in m}
        path = export_checkpoint(checkpoint, out, card=card, force=force, evaluated=evaluated)
    warn(series_stage_warnings(checkpoint, SERIES_KEY in read_checkpoint(path)))  # the slim copy: a quick read
    typer.echo(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB) and {card_path(path)}")


def _evaluated_sha256(metrics: dict, path: Path) -> str:
    """The `model_content_sha256` of the model `abrnet evaluate` scored into ``metrics``: the card may only carry
    figures of the model it describes, and a metrics.json without it (hand-written, or from before abrnet recorded
    it) cannot say which model that is."""
    from abrnet.data.schema import DataError

    sha = metrics.get("model_content_sha256")
    if not isinstance(sha, str) or len(sha) != 64:
        raise DataError(
            str(path),
            "model_content_sha256",
            "missing: these metrics do not say which model they score; re-evaluate it",
        )
    return sha


def _read_json_object(path: Path, field: str) -> dict:
    """A JSON object from ``path``, or a one-line DataError naming the file (json's own error was a traceback)."""
    from abrnet.data.schema import DataError

    if path.is_dir():
        raise DataError(str(path), field, "is a folder, not a JSON file")
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(str(path), field, f"not valid JSON ({exc.msg}, line {exc.lineno})") from None
    except UnicodeDecodeError:
        raise DataError(str(path), field, "not valid JSON (not UTF-8 text)") from None
    if not isinstance(obj, dict):
        raise DataError(str(path), field, f"expected a JSON object, got a {type(obj).__name__}")
    return obj
