"""`abrnet data import` and the reading side of `abrnet data describe`: any supported recording → abrnet dataset.

Import keeps each file's native grid (sampling rate, t0, length): several inputs must share it, or ``--model-grid``
moves every record onto the model's grid with the one resampling function (`cohort_to_model_grid`). Everything is
read and checked before anything is written, so a bad input leaves no file behind.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from abrnet.cli.common import (
    FORMAT_HELP,
    check_format,
    check_outputs,
    console,
    option_names,
    user_errors,
    warn,
    with_reader_options,
)
from abrnet.cli.model_options import READ_OPTIONS
from abrnet.data.describe import hz_text
from abrnet.training.terminated import sigterm_raises, unfinished_message

# Fields a file may lack that `describe` fills with a stand-in so the rest can still be shown (and says so).
_STAND_INS: dict[str, tuple[str, float]] = {
    "age_years": ("--age", 0.0),
    "stimulus_rate_hz": ("--rate", 1.0),
    "level_db": ("--level", 0.0),
}


def read_with_stand_ins(path: Path, fmt: str, options: dict[str, Any]) -> tuple[Any, list[str]]:
    """`read_recording`, retried with stand-ins for age/rate/level when the file lacks them → (cohort, missing)."""
    from abrnet.data.importers import read_recording
    from abrnet.data.schema import DataError

    opts, missing = dict(options), []
    while True:
        try:
            return read_recording(path, fmt, **opts), missing
        except DataError as exc:  # several at once where the reader names them all (`MissingOptionsError`)
            fields = [{"LEVELS": "level_db"}.get(f, f) for f in getattr(exc, "fields", (exc.field,))]
            if any(f not in _STAND_INS or f in opts for f in fields):
                raise
            missing += fields
            opts |= {f: _STAND_INS[f][1] for f in fields}


def describe_file(path: Path, *, fmt: str = "auto", seed: int = 0, **options: Any) -> dict:
    """JSON-ready summary of any importable file: format, per-series metadata, and (.h5) the cohort marginals."""
    from abrnet.data.describe import describe_cohort, describe_series
    from abrnet.data.importers import DESCRIPTIONS, detect_format
    from abrnet.data.schema import DataError, grid_assumed, sampling_rate_assumed
    from abrnet.data.splits import split_patients

    kind = detect_format(path) if fmt == "auto" else fmt
    cohort, missing = read_with_stand_ins(path, kind, options)
    if cohort.n_records == 0:  # no marginals to compute: say so instead of failing on an empty reduction
        raise DataError(str(path), "signals", "the file has no records (0 rows)")
    out: dict = {"file": str(path), "format": kind, "format_name": DESCRIPTIONS.get(kind, kind)}
    out["not_recorded"] = {m: f"not in the file; predict and data import take {_STAND_INS[m][0]}" for m in missing}
    if kind == "h5":
        out.update(describe_cohort(cohort, split_patients(cohort, seed=seed)), split_seed=seed)
    else:
        out.update(n_records=cohort.n_records, n_samples=cohort.n_samples)
        out.update(sampling_rate_hz=cohort.sampling_rate_hz, t0_ms=cohort.t0_ms)
    for column in grid_assumed(cohort):  # a wide CSV's time base
        value = f"{hz_text(cohort.sampling_rate_hz)} Hz" if column == "sampling_rate_hz" else f"{cohort.t0_ms:g} ms"
        option = "--sampling-rate" if column == "sampling_rate_hz" else "--t0-ms"
        out["not_recorded"][column] = f"not in the file; assumed {value} (predict and data import take {option})"
    if source := sampling_rate_assumed(cohort):  # a reader's guess
        rate = f"{hz_text(cohort.sampling_rate_hz)} Hz, {source}"
        out["not_recorded"]["sampling_rate_hz"] = f"not in the file; {rate} (data import takes --sampling-rate)"
    if cohort.attrs.get("ear_unknown"):
        out["not_recorded"]["ear"] = "not in the file; predict and data import take --ear"
    if cohort.attrs.get("denoised_by"):  # as predict says it: the traces are a model's estimates (hunt 44b #10)
        out["denoised_by"] = str(cohort.attrs["denoised_by"])
    out["series"] = describe_series(cohort)  # rows: a series with two stimulus rates is two (`series_count`)
    out["n_series"] = len({s["in_series"] for s in out["series"]})  # as predict and the viewer count them
    for series in out["series"]:  # the stand-ins let the file be read; they are not data, so never shown as such
        if "level_db" in missing:
            series["levels"] = None
        if "stimulus_rate_hz" in missing:
            series["stimulus_rate_hz"] = None
    return out


def series_count(series: list[dict]) -> str:
    """What `describe_file`'s rows hold: "40 series", or where some series are listed as several rows (one per
    stimulus rate: `describe_series`) "40 series; 45 rows: 5 series hold two stimulus rates".

    Why: the header counted rows as series, 45 for a file of 40 ears whose series predict, its plots and the viewer
    count as 40 (a series pools its rates; the rows list them apart, and say why there are more of them)."""
    groups: dict[str, list[dict]] = {}
    for row in series:
        groups.setdefault(row["in_series"], []).append(row)
    if len(groups) == len(series):
        return f"{len(groups)} series"
    rates = [len({row["stimulus_rate_hz"] for row in g}) for g in groups.values()]
    stated = sum(len({row["stimulus"] for row in g}) > 1 for g in groups.values())
    why = []
    if n := sum(k > 1 for k in rates):
        held = "two" if max(rates) == 2 else "two or more"
        why.append(f"{n} series hold{'s' if n == 1 else ''} {held} stimulus rates")
    if stated:
        why.append(f"{stated} series hold{'s' if stated == 1 else ''} records with and without a stated stimulus")
    return f"{len(groups)} series; {len(series)} rows: {', '.join(why)}"


def print_summary(path: Path, summary: dict, max_rows: int = 20) -> None:
    """Rich table of `describe_file`'s series (first ``max_rows``), then the cohort marginals of an .h5 file."""
    series = summary["series"]
    table = Table(title=f"{path}: {summary['format_name']} ({summary['n_records']} records, {series_count(series)})")
    columns = ("series", "species", "stimulus", "levels (dB)", "unit", "stimulus rate (Hz)", "sampling rate (Hz)",
               "window (ms)", "FMP", "units")  # fmt: skip
    for name in columns:
        table.add_column(name)
    for s in series[:max_rows]:
        lv = s["levels"]
        levels = "not recorded" if lv is None else ", ".join(f"{v:g}" for v in lv[:12]) + (" …" if len(lv) > 12 else "")
        rate = "not recorded" if s["stimulus_rate_hz"] is None else f"{s['stimulus_rate_hz']:g}"
        window = f"{s['window_ms'][0]:.2f}–{s['window_ms'][1]:.2f}"
        table.add_row(
            s["series"], s["species"], s["stimulus"], levels, s["level_unit"],
            rate, hz_text(s["sampling_rate_hz"]), window,
            s["fmp_source"].replace("_", " "), s["units"],
        )  # fmt: skip
    console.print(table)
    if len(series) > max_rows:
        console.print(f"… and {len(series) - max_rows} more rows (--json lists all)")
    for field, note in summary["not_recorded"].items():
        console.print(f"{field}: {note}")
    if summary.get("denoised_by"):
        by = summary["denoised_by"]
        console.print(
            f"denoised: holds the estimates abrnet denoise made of the recordings (model {by}), not recordings"
        )
    if "class_fraction" in summary:
        fmp = summary["fmp"]
        # an import of device exports has no labels: "class NORMAL: 0.0%" read as "no normal ear" (hunt 44b #10)
        unlabelled = summary.get("class_unlabelled", 0.0)
        rows = [f"class {n}: {f:.1%}" for n, f in summary["class_fraction"].items()] if unlabelled < 1 else []
        rows += [f"class not labelled: {unlabelled:.1%} of records"] if unlabelled else []
        waves = summary["label_rate"]
        rows += (
            [f"wave {w} labelled: {r:.1%}" for w, r in waves.items()]
            if any(waves.values())
            else ["waves: none labelled"]
        )
        rows.append(f"splits as abrnet train and evaluate make them from this file (seed {summary['split_seed']}):")
        rows += [f"  {n}: {p['n_records']} records, {p['n_patients']} patients" for n, p in summary["splits"].items()]
        if fmp["median"] is not None:
            rows.append(
                f"FMP median / mean / P(>3): {fmp['median']:.2f} / {fmp['mean']:.2f} / {fmp['frac_above_3']:.1%}"
            )
        console.print("\n".join(rows))


@with_reader_options
def import_recordings(
    inputs: Annotated[list[Path], typer.Argument(metavar="INPUT...", help="Files or folders (searched recursively).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="abrnet dataset file to write (.h5).")],
    fmt: Annotated[str, typer.Option("--format", help=FORMAT_HELP)] = "auto",
    sampling_rate: Annotated[
        float | None, typer.Option("--sampling-rate", help="Sampling rate (Hz) of files that do not store it.")
    ] = None,
    t0_ms: Annotated[
        float | None, typer.Option("--t0-ms", help="Time (ms) of a CSV's first sample (default 0).")
    ] = None,
    model_grid: Annotated[
        bool, typer.Option("--model-grid", help="Resample every record to the model grid (20 kHz, 0–10 ms).")
    ] = False,
    reader: dict[str, Any] | None = None,  # --age, --rate, ... (`with_reader_options`)
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing output file.")] = False,
) -> None:
    """Import lab and device exports (EPL CFTS, Fast ABR, SmartEP, time-column text, BioSigRZ CSV, TDT .arf,
    psiexperiment ABR averages, abrnet wide CSV/.h5) into one abrnet dataset file: one record per level (and
    frequency), in µV, metadata kept."""
    from abrnet.data.importers import DESCRIPTIONS, detect_format, read_recording
    from abrnet.data.importers._common import option_warnings
    from abrnet.data.importers.epl_cfts import dropped_column_warnings
    from abrnet.data.io import check_cohort_name, save_cohort
    from abrnet.data.resample import cohort_to_model_grid
    from abrnet.data.schema import DataError, grid_assumed
    from abrnet.inference.input_warnings import (
        assumed_ear_warning,
        assumed_grid_warning,
        assumed_rate_warning,
        duplicate_record_warnings,
    )
    from abrnet.inference.inputs import concat_cohorts, dropped_buffers_warning, expand_inputs, skipped_warning
    from abrnet.series.label_conflicts import label_conflict_warnings

    with user_errors(), sigterm_raises(unfinished_message("data import")):
        check_format(fmt, "data import")
        check_outputs(
            {"--out": check_cohort_name(out, "--out")}, force=force, inputs=inputs
        )  # never over an input file
        options = dict(reader or {})
        if sampling_rate is not None:
            options["sampling_rate_hz"] = sampling_rate
        if t0_ms is not None:  # predict's --t0-ms: a CSV timed from another origin imports on its own time base
            options["t0_ms"] = t0_ms
        parts = []
        for path in expand_inputs(inputs):
            try:
                kind = detect_format(path) if fmt == "auto" else fmt
                cohort = read_recording(path, kind, **options)
            except DataError as exc:  # in a folder, predict's rule: skip what is not a recording
                warn([skipped_warning(path, exc, inputs)])
                continue
            cohort.attrs["source_file"] = path.name
            console.print(
                f"{path}: detected {DESCRIPTIONS[kind]} ({kind}): {cohort.n_records} records, "
                f"{hz_text(cohort.sampling_rate_hz)} Hz, {cohort.t0_ms:g}–"
                f"{cohort.t0_ms + cohort.n_samples * 1000 / cohort.sampling_rate_hz:.2f} ms",
                highlight=False,
            )
            warn(option_warnings(cohort.attrs, str(path)))  # as predict says them: the import stores the values
            warn(dropped_column_warnings(cohort.attrs, str(path)))
            warn(duplicate_record_warnings(cohort, str(path)))  # as predict says it
            warn(label_conflict_warnings(cohort, str(path)))  # as evaluate says it, where it scores (hunt 50e #2)
            if assumed := grid_assumed(cohort):  # kept in the .h5: predict says it again
                warn([assumed_grid_warning(assumed, str(path), hint=False)])
            warn(assumed_rate_warning(cohort, str(path), option_names(READ_OPTIONS)))  # kept in the .h5, as predict
            warn(assumed_ear_warning(cohort, str(path), option_names({})))  # as predict says it, with --ear
            parts.append(cohort_to_model_grid(cohort)[0] if model_grid else cohort)
        if not parts:
            raise DataError(", ".join(map(str, inputs)), "<format>", "no readable recordings found")
        grids = {(p.sampling_rate_hz, p.t0_ms, p.n_samples) for p in parts}
        if len(grids) > 1:
            raise DataError(
                ", ".join(str(p) for p in inputs), "sampling_rate_hz",
                f"inputs have {len(grids)} different grids (rate, t0, length); import them separately or pass "
                "--model-grid",
            )  # fmt: skip
        warn(dropped_buffers_warning(parts))  # files with A/B sub-averages imported with files without
        merged = concat_cohorts(parts)
        if len(parts) == 1:
            merged = parts[0]
        save_cohort(merged, out, force=force)
    console.print(f"wrote {out}: {merged.n_records} records from {len(parts)} file(s)", highlight=False)
