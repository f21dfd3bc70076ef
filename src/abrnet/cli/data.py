"""`abrnet simulate` and `abrnet data …`: make, inspect, plot and export cohorts."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Annotated

import typer

from abrnet.cli.common import (
    FORMAT_HELP,
    check_choice,
    check_format,
    check_outputs,
    check_range,
    console,
    image_file,
    option_error,
    progress_bar,
    user_errors,
    warn,
)
from abrnet.constants import MAX_SEED, TRAIN_SEED
from abrnet.data.files import check_fname
from abrnet.training.terminated import sigterm_raises, unfinished_message

data_app = typer.Typer(help="Inspect, plot and export abrnet dataset files.", no_args_is_help=True)


def simulate(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output abrnet dataset file (.h5).")] = Path("cohort.h5"),
    patients: Annotated[int, typer.Option(help="Number of simulated patients (~19 records each; >= 1).")] = 2000,
    seed: Annotated[int, typer.Option(help="Random seed (0 to 2^32-1): the same seed gives the same cohort.")] = 0,
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
    n_samples: Annotated[
        int, typer.Option(help="Samples per record: to 10 ms, where waves and FMP are read (>= 200 at 20 kHz).")
    ] = 200,
    sampling_rate: Annotated[
        float, typer.Option("--sampling-rate", help="Sampling rate in Hz (> 6000: twice the recording band-pass top).")
    ] = 20000.0,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing output file.")] = False,
) -> None:
    """Simulate a physiologically grounded ABR cohort (patients → ears → intensity series → recordings)."""
    from abrnet.data.io import check_cohort_name, save_cohort
    from abrnet.data.simulate import SimulationConfig, simulate_cohort
    from abrnet.data.simulate.config import min_samples
    from abrnet.data.simulate.protocol import PROTOCOLS

    with user_errors(), sigterm_raises(unfinished_message("simulate")):
        check_range(patients, "--patients", minimum=1, integer=True, command="simulate")
        check_seed(seed, "simulate")
        check_range(sampling_rate, "--sampling-rate", command="simulate")  # finite
        top = SimulationConfig.bandpass_hz[1]  # the config refused a lower rate as "bandpass_hz: need hi < fs/2"
        if not sampling_rate > 2 * top:
            raise option_error(
                "simulate", "--sampling-rate", f"must be > {2 * top:g} Hz (twice the {top:g} Hz top of the recording "
                f"band-pass), got {sampling_rate:g}",
            )  # fmt: skip
        if n_samples < (least := min_samples(sampling_rate, SimulationConfig.t0_ms)):
            raise option_error(
                "simulate", "--n-samples", f"must be >= {least} at {sampling_rate:g} Hz (records must cover the wave-V "
                f"region to 10 ms, where labels and FMP are read), got {n_samples}",
            )  # fmt: skip
        check_choice(protocol, "--protocol", PROTOCOLS, command="simulate")
        if levels is not None and protocol != "fixed":  # other protocols choose their own levels
            raise option_error("simulate", "--levels", f"needs --protocol fixed (got --protocol {protocol})")
        grid = {} if levels is None else {"fixed_levels_db": parse_level_grid(levels)}
        check_fname(check_cohort_name(out, "--out"), overwrite=force)  # before minutes of simulation, not after
        config = SimulationConfig(
            n_patients=patients,
            n_samples=n_samples,
            sampling_rate_hz=sampling_rate,
            balanced=balanced,
            protocol=protocol,
            **grid,
        )
        start = time.perf_counter()
        with progress_bar("simulating patients") as update:
            cohort = simulate_cohort(config, seed=seed, progress=update)
        save_cohort(cohort, out, force=force)
        console.print(
            f"wrote {out}: {cohort.n_records} records from {patients} patients "
            f"in {time.perf_counter() - start:.1f} s (seed {seed}, protocol {protocol})"
        )


def check_seed(seed: int, command: str) -> None:
    """Refuse a --seed outside 0..2^32-1, the range `abrnet train` takes: a negative one raised numpy's "expected
    non-negative integer" traceback, a huge one failed only when the file was written."""
    check_range(seed, "--seed", minimum=0, maximum=MAX_SEED, integer=True, command=command)


MAX_LEVELS = 201  # 0 to 100 dB in 0.5-dB steps; more is a typo (a step of 1e-12 would build a huge tuple)


def parse_level_grid(text: str) -> tuple[float, ...]:
    """'0:100:5' → (0, 5, …, 100) dB; a malformed grid is a one-line DataError naming --levels."""
    from abrnet.data.schema import DataError

    def bad(message: str) -> DataError:
        return option_error("simulate", "--levels", f"{message}, got {text!r}")

    try:
        start, stop, step = (float(x) for x in text.split(":"))
    except ValueError:
        raise bad("expected start:stop:step in dB") from None
    if not all(math.isfinite(x) for x in (start, stop, step)):
        raise bad("start, stop and step must be finite numbers")
    if step <= 0 or stop < start:
        raise bad("need step > 0 and stop >= start")
    if start < 0 or stop > 100:  # the simulator's range; the config refused it as "fixed_levels_db"
        raise bad("levels must lie in 0..100 dB")
    n = int((stop - start) / step + 1e-9) + 1
    if n > MAX_LEVELS:
        raise bad(f"gives {n} levels, at most {MAX_LEVELS} allowed")
    last = start + (n - 1) * step
    if abs(last - stop) > 1e-9 * max(1.0, stop):  # 0:100:7 wrote 0..98 and dropped 100 without a word (hunt 44c #7)
        raise bad(f"the step does not reach stop ({start:g} + {n - 1} × {step:g} = {last:g}); end it at {last:g}")
    return tuple(start + k * step for k in range(n))


SPLIT_SEED_HELP = (
    f"the training run's --seed (train's default {TRAIN_SEED}), so that --split test is the patients that run held "
    "out; another seed gives another split (0 to 2^32-1)."
)


@data_app.command("describe")
def describe(
    file: Annotated[Path, typer.Argument(help="abrnet dataset file or any importable recording.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    seed: Annotated[
        int,
        typer.Option(
            help=f"Seed of the patient splits reported for .h5 files: the training run's --seed (train's default "
            f"{TRAIN_SEED}), so the test split shown is the patients that run held out (0 to 2^32-1)."
        ),
    ] = TRAIN_SEED,
    fmt: Annotated[str, typer.Option("--format", help=FORMAT_HELP)] = "auto",
) -> None:
    """Per series: species, stimulus, levels, stimulus and sampling rates, window, FMP source, units (.h5 cohorts: also
    classes and splits)."""
    from abrnet.cli.data_import import describe_file

    with user_errors():
        check_format(fmt, "data describe")
        check_seed(seed, "data describe")
        summary = describe_file(file, fmt=fmt, seed=seed)
    if as_json:
        typer.echo(json.dumps(summary, indent=2, default=str))
        return
    from abrnet.cli.data_import import print_summary

    print_summary(file, summary)


@data_app.command("plot")
def plot(
    file: Annotated[Path, typer.Argument(help="abrnet dataset file.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output image (.png, .pdf, .svg...).")] = Path("cohort.png"),
    seed: Annotated[int, typer.Option(help="Seed choosing the example ears (0 to 2^32-1).")] = 0,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing image.")] = False,
) -> None:
    """A clinical-style waterfall of one ear's intensity series per class, labelled peaks marked (unlabelled
    recordings: one waterfall per series, up to six)."""
    from abrnet.data.io import load_cohort
    from abrnet.data.schema import DataError
    from abrnet.plots.waterfall import MAX_UNLABELLED_SERIES, pick_example_ears, plot_cohort_examples, unlabelled_series

    with user_errors(), sigterm_raises(unfinished_message("data plot")):
        check_seed(seed, "data plot")
        out = image_file(out, "--out")
        check_outputs({"--out": out}, force=force, inputs=[file])
        cohort = load_cohort(file, with_clean=False)
        if cohort.n_records == 0:
            raise DataError(str(file), "signals", "no records to plot")
        path = plot_cohort_examples(cohort, out, seed=seed, overwrite=force)
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
    seed: Annotated[int, typer.Option(help=f"Seed of the patient split: {SPLIT_SEED_HELP}")] = TRAIN_SEED,
) -> None:
    """Write abrnet's wide CSV (metadata, labels, then samples s0…s{T-1} in µV)."""
    from abrnet.data.csv_io import check_wide_csv_name, write_wide_csv
    from abrnet.data.csv_recorded import CSV_KEPT_TRACES
    from abrnet.data.io import load_cohort
    from abrnet.data.schema import DataError, grid_assumed, sampling_rate_assumed
    from abrnet.data.splits import SPLITS, split_patients

    with user_errors(), sigterm_raises(unfinished_message("data export")):
        check_choice(split, "--split", SPLITS, command="data export")
        check_seed(seed, "data export")
        check_outputs({"--out": check_wide_csv_name(out, "--out")}, force=force, inputs=[file])  # before reading
        cohort = load_cohort(file, with_clean=False)
        if split is not None:
            n_patients = len(set(cohort.patient_id.tolist()))
            cohort = cohort.subset(split_patients(cohort, seed=seed)[split])
            if cohort.n_records == 0:  # a header-only CSV cannot be read back
                raise DataError(str(file), "split", f"split {split!r} has no records ({n_patients} patients)")
        if cohort.n_records == 0:
            raise DataError(str(file), "signals", "no records to export")
        write_wide_csv(cohort, out, force=force)
        grid = set(grid_assumed(cohort)) | ({"sampling_rate_hz"} if sampling_rate_assumed(cohort) else set())
        if grid:  # the CSV's grid columns state what the file did not, and its readers are not told (hunt 48 #2)
            warn([f"{file}: {' and '.join(sorted(grid))} assumed on import, not recorded; {out} states them as values"])
        traces = sorted(k for k, v in cohort.extras.items() if v.ndim == 2 and k not in CSV_KEPT_TRACES)
        if traces:  # a Fast ABR's CM, a polarity pair: dropped without a word (hunt 48 #8)
            warn([f"{file}: {', '.join(traces)} (per-sample traces) are not kept in the wide CSV; the .h5 keeps them"])
    console.print(f"wrote {out}: {cohort.n_records} records × {cohort.n_samples} samples")


def _register_import() -> None:
    """`abrnet data import` lives in `abrnet.cli.data_import` (device formats → abrnet dataset)."""
    from abrnet.cli.data_import import import_recordings

    data_app.command("import")(import_recordings)


_register_import()
