"""`abrnet predict`: a trained model on users' recordings, into results tables (and plots) of waves I/III/V, class
and threshold (thin over `abrnet.inference.api`, so the CLI and the Python API give the same numbers).

`abrnet denoise` and `abrnet generate`, which run the model's diffusion sampler and write dataset files, are in
`abrnet.cli.diffusion` (split from here to keep each module to one concept). The options the three share are in
`abrnet.cli.model_options`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from abrnet.cli.common import (
    FORMAT_HELP,
    check_choice,
    check_format,
    check_outputs,
    console,
    err_console,
    option_errors,
    option_names,
    series_stage_warnings,
    user_errors,
    warn,
    with_reader_options,
)
from abrnet.cli.model_options import READ_OPTIONS, CheckpointOpt, ForceOpt
from abrnet.data.files import check_suffix, write_json, write_target
from abrnet.data.schema import ABRCohort, DataError
from abrnet.inference.option_names import CLI_DOMAIN_NAMES
from abrnet.training.terminated import sigterm_raises, unfinished_message

if TYPE_CHECKING:  # numpy is imported inside the commands: `abrnet --help` stays fast
    import numpy as np
    from rich.console import Console

__all__ = ["beside_out", "predict", "stale_beside_out"]


def _check_plot_folder(plot: Path, planned: Mapping[str, Path]) -> None:
    """--plot names a folder: refuse a file there (or above it) before any work, not after the results are written
    (mkdir used to fail with a bare "[Errno 17] File exists"), as typed and where the plots land (`write_target`:
    ``new/../results.csv`` reaches a file while ``new/`` is missing). ``planned`` are the files this run writes
    (role → path, as `check_outputs` takes them): --plot may be none of them, nor lie inside one (`_plot_clash`)."""
    _plot_clash(plot, planned)
    target = write_target(plot)
    places = (plot, *plot.parents, target, *target.parents)
    blocking = next((p for p in places if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        what = "is a file" if blocking in (plot, target) else f"is inside {blocking}, a file"
        raise DataError(str(plot), "--plot", f"{what}; --plot names a folder for the plots")


def _plot_clash(plot: Path, planned: Mapping[str, Path]) -> None:
    """Refuse a --plot folder that is, or lies inside, a file this run writes (--out, <out>.series.csv ...).

    Why here, not in `check_outputs`: the planned files do not exist yet, so the file check above passes, and the
    plot files (``q/z.series.csv/waterfall_P1_L.png``) are no file's duplicate; the tables were written first and
    the plots then failed ("q/z.series.csv is a file, not a folder"), leaving a partial run that a rerun refused
    as "file exists". Compared where each write lands (`write_target`), for the folder as typed and each folder
    mkdir makes on the way (``q/z.csv/../p`` passes through the results table ``q/z.csv``)."""
    target = write_target(plot)
    reached = {target, *target.parents} | {write_target(p) for p in (plot, *plot.parents)}
    for role, path in planned.items():
        out = write_target(path)
        if out not in reached:
            continue
        what = "the --out results table this run writes" if role == "--out" else f"this run's {role}"
        where = f"is {what}" + ("" if str(path) == str(plot) else f" ({path})")
        if out != target:
            where = f"is inside {path} ({what})"
        raise DataError(str(plot), "--plot", f"{where}; --plot names a folder for the plots")


def _enforce_strict(cohort: ABRCohort, input_paths: list[Path]) -> None:
    """--strict, naming the file an out-of-domain record came from and its row in that file.

    Why: the cohort holds every file's records one after another, so the first bad row counted over all of them
    ("x.h5,mouse.h5: row 45") points at nothing the user has. The bad record's file is the run of records read from
    the same path (`_record_paths`), and `enforce_strict` is given only that run. Paths, not names: ``a/x.h5`` and
    ``b/x.h5`` share the name ``x.h5``, and a run of that name spanned both files."""
    import numpy as np

    from abrnet.inference.domain import IN_DOMAIN, enforce_strict

    domain = np.asarray(cohort.extras["domain"]).astype(str)
    bad = np.flatnonzero(domain != IN_DOMAIN)
    paths = _record_paths(cohort)
    if paths is None or not bad.size:
        enforce_strict(domain, ",".join(map(str, input_paths)), cohort)
        return
    same = paths == paths[bad[0]]
    start = end = int(bad[0])
    while start > 0 and same[start - 1]:
        start -= 1
    while end < len(same) and same[end]:
        end += 1
    enforce_strict(domain[start:end], str(paths[bad[0]]), cohort.subset(np.arange(start, end)))


def _record_paths(cohort: ABRCohort) -> np.ndarray | None:
    """The path each record was read from, as the user gave it: `read_recording` stores it in
    ``attrs["source_path"]``, and joining files of different paths keeps it per record as the
    ``attr_source_path`` extra (`merge_attrs`). None for a cohort that was not read from files."""
    import numpy as np

    if "attr_source_path" in cohort.extras:
        return np.asarray(cohort.extras["attr_source_path"]).astype(str)
    if cohort.attrs.get("source_path"):
        return np.full(cohort.n_records, str(cohort.attrs["source_path"]))
    return None


@with_reader_options
def predict(
    input_paths: Annotated[
        list[Path], typer.Argument(metavar="INPUT...", help="Files or folders (searched recursively), any format.")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Results CSV (one row per input record).")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Also write <out>.json and print the JSON to stdout.")
    ] = False,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Folder for a waterfall per ear (and latency–intensity plots).")
    ] = None,
    group_by: Annotated[
        str | None,
        typer.Option(
            "--group-by",
            help="Series mode: 'patient_id,ear' → one threshold per ear, in <out>.series.csv and <out>.patients.csv.",
        ),
    ] = None,
    sampling_rate: Annotated[
        float | None, typer.Option("--sampling-rate", help="Sampling rate (Hz) of files that do not store it.")
    ] = None,
    t0_ms: Annotated[
        float | None, typer.Option("--t0-ms", help="Time (ms) of a CSV's first sample (default 0).")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help=f"Input format: {FORMAT_HELP}")] = "auto",
    strict: Annotated[
        bool,
        typer.Option(CLI_DOMAIN_NAMES["strict"], help="Refuse records outside the model's domain instead of warning."),
    ] = False,
    force: ForceOpt = False,
    reader: dict[str, Any] | None = None,  # --age, --rate, ... (`with_reader_options`)
    checkpoint: CheckpointOpt = None,
) -> None:
    """Predict waves I/III/V (presence, latency, amplitude ± SD), class and threshold for each recording."""
    from abrnet.cli.common import progress_bar
    from abrnet.inference.api import load
    from abrnet.inference.result_plots import plot_paths, save_plots
    from abrnet.inference.result_tables import tables_json, write_columns_csv

    with user_errors(), sigterm_raises(unfinished_message("predict")):
        check_format(fmt, "predict")
        series = False
        if group_by is not None:
            keys = ",".join(k.strip() for k in group_by.split(",") if k.strip())
            check_choice(keys, "--group-by", ("patient_id,ear",), command="predict")
            series = True
        check_outputs({"--out": out}, force=force, inputs=input_paths)  # "" or a folder, before deriving names
        check_suffix(out, (".csv",), "the results table (CSV)", "abrnet data import writes an .h5", field="--out")
        json_path, series_path, patients_path = beside_out(out)
        planned = {"--out": out}
        if as_json:  # roles said in a refusal: "q.series.csv (this run's series table, ...) exists" (`check_outputs`)
            planned["JSON output, <out>.json for --json"] = json_path
        if series:
            planned |= {"series table, <out>.series.csv beside --out": series_path}
            planned |= {"patients table, <out>.patients.csv beside --out": patients_path}
        for p in input_paths:
            if not p.exists():
                raise FileNotFoundError(2, "no such file", str(p))
        if plot is not None:
            _check_plot_folder(plot, planned)
        check_outputs(planned, force=force, inputs=input_paths)
        model = load(checkpoint)
        with progress_bar("reading recordings") as update, option_errors("predict", READ_OPTIONS):
            report = model.predict(
                input_paths, series=series, sampling_rate_hz=sampling_rate, t0_ms=t0_ms, fmt=fmt, progress=update,
                option_names=option_names(READ_OPTIONS, strict=CLI_DOMAIN_NAMES["strict"]), **(reader or {}),
            )  # fmt: skip
        if strict:
            _enforce_strict(report.cohort, input_paths)
        warn(series_stage_warnings(model.loaded.path, model.loaded.series_model is not None) + report.warnings)
        if plot is not None:
            for key, paths in plot_paths(report.cohort, plot, series=series).items():
                planned |= {f"--plot {kind} plot of {key}": p for kind, p in paths.items()}
            check_outputs(planned, force=force, inputs=input_paths)
        cols = report.columns()
        write_columns_csv(cols, out, force=True)
        written = [out]
        series_cols, patient_cols = report.series(), report.patients()  # in reading order, as the API gives them
        if series_cols is not None and patient_cols is not None:
            written.append(write_columns_csv(series_cols, series_path, force=True))
            written.append(write_columns_csv(patient_cols, patients_path, force=True))
        if as_json:  # the report's own payload (`to_json`) from the tables just written: the same columns
            payload = tables_json(cols, series_cols, patient_cols, report.warnings)
            written.append(write_json(payload, json_path, overwrite=True))
            typer.echo(json.dumps(payload, indent=2))
        if plot is not None:
            written += save_plots(report, plot, series=series, overwrite=force)
        warn(stale_beside_out(out, written))
    _summary(err_console if as_json else console, report.cohort.n_records, written)


def beside_out(out: Path) -> tuple[Path, Path, Path]:
    """The files `predict --out results.csv` writes beside it: results.json, results.series.csv and
    results.patients.csv. Named after --out because fixed names (series.csv, patients.csv) made a second analysis
    written into the same folder refuse, or replace the first one's tables with --force."""
    return out.with_suffix(".json"), out.with_suffix(".series.csv"), out.with_suffix(".patients.csv")


def stale_beside_out(out: Path, written: list[Path]) -> list[str]:
    """One line naming the files beside --out (`beside_out`) that exist but this run did not write, or nothing.

    Why: ``predict b.csv --out r.csv --force`` without --group-by left an earlier run's r.series.csv, r.patients.csv
    (and r.json without --json) beside the new r.csv, tables of another input that read as this one's (hunt 42 #6).
    They are the user's files, so they are named, never deleted."""
    stale = [p for p in beside_out(out) if p not in written and p.is_file()]  # a --plot folder is no table
    if not stale:
        return []
    ours = [str(p) for p in (out, *beside_out(out)) if p in written]
    verb = "is" if len(stale) == 1 else "are"
    return [f"{', '.join(map(str, stale))} {verb} from an earlier run; this run wrote only {' and '.join(ours)}"]


def _summary(target: Console, n_records: int, written: list[Path]) -> None:
    """The closing line: how many records, and the files written (the first four, then a count); one line on any
    terminal width, as every console line (`common.console`), so a path can be copied or grepped whole."""
    files = ", ".join(str(p) for p in written[:4]) + (f" and {len(written) - 4} more" if len(written) > 4 else "")
    noun = "record" if n_records == 1 else "records"
    target.print(f"{n_records} {noun} predicted; wrote {files}", highlight=False)
