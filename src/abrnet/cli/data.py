"""`abrnet simulate` and `abrnet data …`: make, inspect, plot and export cohorts."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Annotated

import typer

from abrnet.cli.common import check_range, console, progress_bar, user_errors
from abrnet.data.files import check_fname

data_app = typer.Typer(help="Inspect, plot and export abrnet dataset files.", no_args_is_help=True)


def simulate(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output abrnet dataset file (.h5).")] = Path("cohort.h5"),
    patients: Annotated[int, typer.Option(help="Number of simulated patients (~25 records each; >= 1).")] = 2000,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same cohort.")] = 0,
    balanced: Annotated[
        bool, typer.Option("--balanced", help="Equal class fractions (an evaluation cohort for minority classes).")
    ] = False,
    protocol: Annotated[
        str,
        typer.Option(
            help="Which levels are recorded: fixed (one grid for every ear), clinical (a simulated tester who "
            "descends on what the recordings show, never on the hidden threshold) or mixed (each ear one of them)."
        ),
    ] = "mixed",
    levels: Annotated[
        str | None,
        typer.Option(
            help="Grid of the fixed protocol, 'start:stop:step' in dB, e.g. 0:60:10 (default: 0 to 100 in 5-dB steps)."
        ),
    ] = None,
    n_samples: Annotated[int, typer.Option(help="Samples per record (>= 8).")] = 200,
    sampling_rate: Annotated[float, typer.Option("--sampling-rate", help="Sampling rate in Hz (>= 1).")] = 20000.0,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing output file.")] = False,
) -> None:
    """Simulate a physiologically grounded ABR cohort (patients → ears → intensity series → recordings)."""
    from abrnet.data.io import save_cohort
    from abrnet.data.simulate import SimulationConfig, simulate_cohort

    with user_errors():
        check_range(patients, "--patients", minimum=1, integer=True, command="simulate")
        check_range(n_samples, "--n-samples", minimum=8, integer=True, command="simulate")
        check_range(sampling_rate, "--sampling-rate", minimum=1.0, command="simulate")
        check_fname(out, overwrite=force)
        try:
            if levels is not None and protocol != "fixed":  # other protocols choose their own levels
                raise ValueError(f"--levels needs --protocol fixed (got --protocol {protocol})")
            grid = {} if levels is None else {"fixed_levels_db": parse_level_grid(levels)}
            config = SimulationConfig(
                n_patients=patients,
                n_samples=n_samples,
                sampling_rate_hz=sampling_rate,
                balanced=balanced,
                protocol=protocol,
                **grid,
            )
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
        start = time.perf_counter()
        with progress_bar("simulating patients") as update:
            cohort = simulate_cohort(config, seed=seed, progress=update)
        save_cohort(cohort, out, force=force)
        console.print(
            f"wrote {out}: {cohort.n_records} records from {patients} patients "
            f"in {time.perf_counter() - start:.1f} s (seed {seed}, protocol {protocol})"
        )


MAX_LEVELS = 201  # 0 to 100 dB in 0.5-dB steps; more is a typo (a step of 1e-12 would build a huge tuple)


def parse_level_grid(text: str) -> tuple[float, ...]:
    """'0:100:5' → (0, 5, …, 100) dB; a ValueError names the option on a malformed grid."""
    try:
        start, stop, step = (float(x) for x in text.split(":"))
    except ValueError:
        raise ValueError(f"--levels: expected start:stop:step in dB, got {text!r}") from None
    if not all(math.isfinite(x) for x in (start, stop, step)):
        raise ValueError(f"--levels: start, stop and step must be finite numbers, got {text!r}")
    if step <= 0 or stop < start:
        raise ValueError(f"--levels: need step > 0 and stop >= start, got {text!r}")
    n = int((stop - start) / step + 1e-9) + 1
    if n > MAX_LEVELS:
        raise ValueError(f"--levels: {text!r} gives {n} levels, at most {MAX_LEVELS} allowed")
    return tuple(start + k * step for k in range(n))


@data_app.command("describe")
def describe(
    file: Annotated[Path, typer.Argument(help="abrnet dataset file or any importable recording.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    seed: Annotated[int, typer.Option(help="Seed of the patient split to report (.h5 files).")] = 0,
    fmt: Annotated[str, typer.Option("--format", help="auto or a format name (see `data import --help`).")] = "auto",
) -> None:
    """Per series: species, stimulus, levels, stimulus and sampling rates, window, FMP source, units (.h5 cohorts: also
    classes and splits)."""
    from abrnet.cli.data_import import describe_file

    with user_errors():
        summary = describe_file(file, fmt=fmt, seed=seed)
    if as_json:
        typer.echo(json.dumps(summary, indent=2, default=str))
        return
    from abrnet.cli.data_import import print_summary

    print_summary(file, summary)


@data_app.command("plot")
def plot(
    file: Annotated[Path, typer.Argument(help="abrnet dataset file.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output image (.png).")] = Path("cohort.png"),
    seed: Annotated[int, typer.Option(help="Seed choosing the example ears.")] = 0,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing image.")] = False,
) -> None:
    """A clinical-style waterfall of one ear's intensity series per class, labelled peaks marked (unlabelled
    recordings: one waterfall per series, up to six)."""
    from abrnet.data.io import load_cohort
    from abrnet.data.schema import DataError
    from abrnet.plots.waterfall import MAX_UNLABELLED_SERIES, pick_example_ears, plot_cohort_examples, unlabelled_series

    with user_errors():
        check_fname(out, overwrite=force)
        cohort = load_cohort(file, with_clean=False)
        if cohort.n_records == 0:
            raise DataError(str(file), "signals", "no records to plot")
        path = plot_cohort_examples(cohort, out, seed=seed)
    console.print(f"wrote {path}")
    n_series = len(unlabelled_series(cohort, cohort.n_records))
    if not pick_example_ears(cohort, seed) and n_series > MAX_UNLABELLED_SERIES:
        console.print(f"no labelled class: plotted the first {MAX_UNLABELLED_SERIES} of {n_series} series")


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
    from abrnet.data.schema import DataError
    from abrnet.data.splits import SPLITS, split_patients

    with user_errors():
        cohort = load_cohort(file, with_clean=False)
        if split is not None:
            if split not in SPLITS:
                raise typer.BadParameter(f"--split must be one of {', '.join(SPLITS)}, got {split!r}")
            n_patients = len(set(cohort.patient_id.tolist()))
            cohort = cohort.subset(split_patients(cohort, seed=seed)[split])
            if cohort.n_records == 0:  # a header-only CSV cannot be read back
                raise DataError(str(file), "split", f"split {split!r} has no records ({n_patients} patients)")
        if cohort.n_records == 0:
            raise DataError(str(file), "signals", "no records to export")
        write_wide_csv(cohort, out, force=force)
    console.print(f"wrote {out}: {cohort.n_records} records × {cohort.n_samples} samples")


def _register_import() -> None:
    """`abrnet data import` lives in `abrnet.cli.data_import` (device formats → abrnet dataset)."""
    from abrnet.cli.data_import import import_recordings

    data_app.command("import")(import_recordings)


_register_import()
