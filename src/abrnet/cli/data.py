"""`abrnet simulate` and `abrnet data …`: make, inspect, plot and export cohorts."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from abrnet.cli.common import console, progress_bar, user_errors

data_app = typer.Typer(help="Inspect, plot and export abrnet dataset files.", no_args_is_help=True)


def simulate(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output abrnet dataset file (.h5).")] = Path("cohort.h5"),
    patients: Annotated[int, typer.Option(min=1, help="Number of simulated patients (~25 records each).")] = 2000,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same cohort.")] = 0,
    balanced: Annotated[
        bool, typer.Option("--balanced", help="Equal class fractions (an evaluation cohort for minority classes).")
    ] = False,
    n_samples: Annotated[int, typer.Option(min=8, help="Samples per record.")] = 200,
    sampling_rate: Annotated[float, typer.Option("--sampling-rate", min=1.0, help="Sampling rate in Hz.")] = 20000.0,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing output file.")] = False,
) -> None:
    """Simulate a physiologically grounded ABR cohort (patients → ears → intensity series → recordings)."""
    from abrnet.data.io import save_cohort
    from abrnet.data.simulate import SimulationConfig, simulate_cohort

    with user_errors():
        if out.exists() and not force:
            raise FileExistsError(f"{out}: file exists; pass --force to overwrite it")
        try:
            config = SimulationConfig(
                n_patients=patients, n_samples=n_samples, sampling_rate_hz=sampling_rate, balanced=balanced
            )
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
        start = time.perf_counter()
        with progress_bar("simulating patients") as update:
            cohort = simulate_cohort(config, seed=seed, progress=update)
        save_cohort(cohort, out, force=force)
        console.print(
            f"wrote {out}: {cohort.n_records} records from {patients} patients "
            f"in {time.perf_counter() - start:.1f} s (seed {seed})"
        )


@data_app.command("describe")
def describe(
    file: Annotated[Path, typer.Argument(help="abrnet dataset file.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    seed: Annotated[int, typer.Option(help="Seed of the patient split to report.")] = 0,
) -> None:
    """Counts per class and split, recording-parameter marginals and label rates."""
    from abrnet.data.describe import describe_cohort
    from abrnet.data.io import load_cohort
    from abrnet.data.splits import split_patients

    with user_errors():
        cohort = load_cohort(file, with_clean=False)
        summary = describe_cohort(cohort, split_patients(cohort, seed=seed))
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    table = Table(title=f"{file} ({summary['n_records']} records, {summary['n_patients']} patients)")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    for name, frac in summary["class_fraction"].items():
        table.add_row(f"class {name}", f"{frac:.1%} ({summary['class_count'][name]})")
    table.add_row("age median / mean (y)", f"{summary['age_years']['median']:.1f} / {summary['age_years']['mean']:.2f}")
    table.add_row("intensity mean (dB nHL)", f"{summary['intensity_db']['mean']:.1f}")
    table.add_row("rate median (/s)", f"{summary['stimulus_rate_hz']['median']:.1f}")
    fmp = summary["fmp"]
    table.add_row("FMP median / mean / P(>3)", f"{fmp['median']:.2f} / {fmp['mean']:.2f} / {fmp['frac_above_3']:.1%}")
    for wave, rate in summary["label_rate"].items():
        table.add_row(f"wave {wave} labelled", f"{rate:.1%}")
    for name, part in summary["splits"].items():
        table.add_row(f"split {name}", f"{part['n_records']} records, {part['n_patients']} patients")
    console.print(table)


@data_app.command("plot")
def plot(
    file: Annotated[Path, typer.Argument(help="abrnet dataset file.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output image (.png).")] = Path("cohort.png"),
    seed: Annotated[int, typer.Option(help="Seed choosing the example ears.")] = 0,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing image.")] = False,
) -> None:
    """A clinical-style waterfall of one ear's intensity series per class, labelled peaks marked."""
    from abrnet.data.io import load_cohort
    from abrnet.data.plot import plot_cohort_examples

    with user_errors():
        if out.exists() and not force:
            raise FileExistsError(f"{out}: file exists; pass --force to overwrite it")
        path = plot_cohort_examples(load_cohort(file, with_clean=False), out, seed=seed)
    console.print(f"wrote {path}")


@data_app.command("export")
def export(
    file: Annotated[Path, typer.Argument(help="abrnet dataset file.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output wide CSV.")] = Path("records.csv"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
    split: Annotated[str | None, typer.Option(help="Export only this patient split (train/val/test).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the patient split.")] = 0,
) -> None:
    """Write abrnet's wide CSV (metadata, labels, then samples s0…s{T-1} in µV)."""
    from abrnet.data.csv_io import write_wide_csv
    from abrnet.data.io import load_cohort
    from abrnet.data.splits import SPLITS, split_patients

    with user_errors():
        cohort = load_cohort(file, with_clean=False)
        if split is not None:
            if split not in SPLITS:
                raise typer.BadParameter(f"--split must be one of {', '.join(SPLITS)}, got {split!r}")
            cohort = cohort.subset(split_patients(cohort, seed=seed)[split])
        write_wide_csv(cohort, out, force=force)
    console.print(f"wrote {out}: {cohort.n_records} records × {cohort.n_samples} samples")
