"""`abrnet predict`, `abrnet denoise`, `abrnet generate`: a trained model on users' recordings (thin over
`abrnet.inference.api`, so the CLI and the Python API give the same numbers)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from abrnet.cli.common import (
    FORMAT_HELP,
    check_choice,
    check_format,
    check_outputs,
    check_range,
    console,
    err_console,
    image_file,
    option_error,
    option_errors,
    option_names,
    series_stage_warnings,
    user_errors,
    warn,
    with_reader_options,
)
from abrnet.constants import GENERATION_STEPS
from abrnet.data.files import check_suffix, write_json
from abrnet.data.schema import ABRCohort, DataError

if TYPE_CHECKING:  # numpy is imported inside the commands: `abrnet --help` stays fast
    import numpy as np
    from rich.console import Console

CheckpointOpt = Annotated[
    Path | None,
    typer.Option("--checkpoint", help="Trained checkpoint (e.g. runs/x/best.ckpt); default: the model abrnet ships."),
]
ForceOpt = Annotated[bool, typer.Option("--force", help="Overwrite existing output files.")]


# The Python API's keywords → the options that set them, so its argument errors name what the user typed.
READ_OPTIONS = {"sampling_rate_hz": "--sampling-rate", "t0_ms": "--t0-ms", "age_years": "--age", "fmt": "--format"}
SAMPLER_OPTIONS = {"steps": "--steps", "sampler": "--sampler", "seed": "--seed"}
GENERATE_OPTIONS = {
    **SAMPLER_OPTIONS, "n": "--n", "guidance": "--guidance", "eta": "--eta", "add_noise_nv": "--add-noise-nv",
    "conditions": "--conditions", "age_years": "--age", "intensity_db": "--intensity", "stimulus_rate_hz": "--rate",
    "fmp": "--fmp",
}  # fmt: skip


def _check_plot_folder(plot: Path) -> None:
    """--plot names a folder: refuse a file there (or above it) before any work, not after the results are written
    (mkdir used to fail with a bare "[Errno 17] File exists")."""
    blocking = next((p for p in (plot, *plot.parents) if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        what = "is a file" if blocking == plot else f"is inside {blocking}, a file"
        raise DataError(str(plot), "--plot", f"{what}; --plot names a folder for the plots")


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
        enforce_strict(domain, ",".join(map(str, input_paths)))
        return
    same = paths == paths[bad[0]]
    start = end = int(bad[0])
    while start > 0 and same[start - 1]:
        start -= 1
    while end < len(same) and same[end]:
        end += 1
    enforce_strict(domain[start:end], str(paths[bad[0]]))


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
        bool, typer.Option("--strict", help="Refuse records outside the model's domain instead of warning.")
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

    with user_errors():
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
            _check_plot_folder(plot)
        check_outputs(planned, force=force, inputs=input_paths)
        model = load(checkpoint)
        with progress_bar("reading recordings") as update, option_errors("predict", READ_OPTIONS):
            report = model.predict(
                input_paths, series=series, sampling_rate_hz=sampling_rate, t0_ms=t0_ms, fmt=fmt, progress=update,
                option_names=option_names(READ_OPTIONS, strict="--strict"), **(reader or {}),
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
    _summary(err_console if as_json else console, report.cohort.n_records, written)


def beside_out(out: Path) -> tuple[Path, Path, Path]:
    """The files `predict --out results.csv` writes beside it: results.json, results.series.csv and
    results.patients.csv. Named after --out because fixed names (series.csv, patients.csv) made a second analysis
    written into the same folder refuse, or replace the first one's tables with --force."""
    return out.with_suffix(".json"), out.with_suffix(".series.csv"), out.with_suffix(".patients.csv")


def _summary(target: Console, n_records: int, written: list[Path]) -> None:
    """The closing line: how many records, and the files written (the first four, then a count).

    Why soft_wrap: Rich wraps at 80 columns when stdout is not a terminal (``abrnet predict ... | cat``, a log),
    and broke the line inside a file path, so the path could not be copied or grepped whole."""
    files = ", ".join(str(p) for p in written[:4]) + (f" and {len(written) - 4} more" if len(written) > 4 else "")
    noun = "record" if n_records == 1 else "records"
    target.print(f"{n_records} {noun} predicted; wrote {files}", highlight=False, soft_wrap=True)


@with_reader_options
def denoise(
    input_path: Annotated[Path, typer.Argument(metavar="INPUT", help="abrnet .h5, abrnet wide CSV or device export.")],
    out: Annotated[
        Path,
        typer.Option(
            "--out", "-o", help="abrnet dataset file (.h5) of denoised signals (missing folders are made, as predict)."
        ),
    ],
    steps: Annotated[
        int, typer.Option(help="Sampler steps from the recording's noise level (>= 1; 1 = posterior mean).")
    ] = 1,
    sampler: Annotated[str, typer.Option(help="ddim or dpm.")] = "ddim",
    seed: Annotated[
        int, typer.Option(help="Seed (0 to 2^32-1). Denoising is deterministic: the seed does not change the output.")
    ] = 0,
    sampling_rate: Annotated[float | None, typer.Option("--sampling-rate", help="Sampling rate (Hz) of a CSV.")] = None,
    t0_ms: Annotated[float | None, typer.Option("--t0-ms", help="Time (ms) of a CSV's first sample.")] = None,
    fmt: Annotated[str, typer.Option("--format", help=f"Input format: {FORMAT_HELP}")] = "auto",
    force: ForceOpt = False,
    reader: dict[str, Any] | None = None,  # --age, --rate, ... (`with_reader_options`): device exports lack them
    checkpoint: CheckpointOpt = None,
) -> None:
    """The model's estimate of the clean response of each recording (observed signals kept in extras/observed_uv).

    The estimate is conditioned on the stated level, so a record without a response comes out response-like: each
    observed record's p(V) is kept in extras/observed_p_wave_v and records without a wave V are warned about."""
    from abrnet.data.io import check_cohort_name, save_cohort
    from abrnet.diffusion.sampling import SAMPLERS
    from abrnet.inference.api import load

    with user_errors():
        check_format(fmt, "denoise")
        check_choice(sampler, "--sampler", SAMPLERS, command="denoise")
        check_range(steps, "--steps", minimum=1, integer=True, command="denoise")
        if not input_path.exists():
            raise FileNotFoundError(2, "no such file", str(input_path))
        check_outputs(
            {"--out": check_cohort_name(out, "--out")}, force=force, inputs=[input_path]
        )  # a .csv name: before work
        model = load(checkpoint)
        with option_errors("denoise", READ_OPTIONS | SAMPLER_OPTIONS):
            result, warnings = model.denoise(
                input_path, steps=steps, sampler=sampler, seed=seed, fmt=fmt,  # type: ignore[arg-type]
                sampling_rate_hz=sampling_rate, t0_ms=t0_ms, option_names=option_names(READ_OPTIONS), **(reader or {}),
            )  # fmt: skip
        warn(warnings)
        save_cohort(result, out, force=True)
    console.print(f"{result.n_records} records denoised ({sampler}, {steps} step(s)); wrote {out}", highlight=False)


JOINT_HELP = (
    "Sample the parameters too, from the model's p(s|x). Experimental: worse than conditional generation, and the "
    "sampled level barely sets the latency (README, Results)."
)


def generate(
    out: Annotated[
        Path,
        typer.Option(
            "--out", "-o", help="abrnet dataset file (.h5) of generated ABRs (missing folders are made, as predict)."
        ),
    ],
    n: Annotated[int, typer.Option("--n", help="Signals (per condition row with --conditions; >= 1).")] = 16,
    age: Annotated[float | None, typer.Option("--age", help="Age (years).")] = None,
    intensity: Annotated[float | None, typer.Option("--intensity", help="Stimulus level (dB nHL).")] = None,
    rate: Annotated[float | None, typer.Option("--rate", help="Stimulus rate (Hz).")] = None,
    fmp: Annotated[
        float | None,
        typer.Option(
            "--fmp", help="FMP response-quality index; required with --age/--intensity/--rate; nan = not measured."
        ),
    ] = None,
    conditions: Annotated[
        Path | None,
        typer.Option(
            "--conditions", help="CSV: age_years,intensity_db,stimulus_rate_hz,fmp per row (empty fmp: not measured)."
        ),
    ] = None,
    joint: Annotated[bool, typer.Option("--joint", help=JOINT_HELP)] = False,
    sampler: Annotated[str, typer.Option(help="ddim or dpm (DPM-Solver++ 2M).")] = "ddim",
    steps: Annotated[
        int, typer.Option(help="Sampler steps (>= 1; default: the shipped model's validation choice, see --guidance).")
    ] = GENERATION_STEPS,
    guidance: Annotated[
        float | None,
        typer.Option(
            help="Classifier-free guidance scale (0 = unconditional, 1 = plain conditional; default 1; not --joint). "
            "Validated range 1-3: larger values exaggerate amplitudes (guidance 10 at 20 dB gave a wave V larger "
            "than guidance 1 at 80 dB). The defaults (ddim, 10 steps, guidance 1) are what `abrnet evaluate "
            "--generation` chose on validation for the shipped model (and the main job's); for another checkpoint "
            "it chooses sampler, steps and guidance (see its generation.json)."
        ),
    ] = None,
    eta: Annotated[
        float, typer.Option(help="Stochastic DDIM, 0 to 1: 0 = deterministic, 1 = ancestral (ddim only).")
    ] = 0.0,
    band_limit: Annotated[
        bool,
        typer.Option(
            "--band-limit/--no-band-limit",
            help="Pass the output through the 100-3000 Hz recording band-pass, as every training response was.",
        ),
    ] = True,
    seed: Annotated[int, typer.Option(help="Seed: same seed, same signals (patient ids gen<seed>-NNNNNN).")] = 0,
    add_noise_nv: Annotated[
        float | None,
        typer.Option(
            "--add-noise-nv",
            help="Add simulated recording noise of this residual noise (nV RMS, exact per record); the fmp column is "
            "then NaN (not measured; the conditioning FMP is kept in extras/generation_fmp).",
        ),
    ] = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="PNG with the first generated signals.")] = None,
    force: ForceOpt = False,
    checkpoint: CheckpointOpt = None,
) -> None:
    """Synthetic ABRs. Without --add-noise-nv they are noise-free responses (the model learnt the clean signal)."""
    import numpy as np

    from abrnet.constants import STATIC_PARAMS
    from abrnet.data.io import check_cohort_name, save_cohort
    from abrnet.diffusion.sampling import SAMPLERS
    from abrnet.inference.api import load
    from abrnet.inference.generation import generation_warnings, plot_generated

    single = {"--age": age, "--intensity": intensity, "--rate": rate, "--fmp": fmp}
    with user_errors():
        check_choice(sampler, "--sampler", SAMPLERS, command="generate")
        check_range(n, "--n", minimum=1, integer=True, command="generate")
        check_range(steps, "--steps", minimum=1, integer=True, command="generate")
        check_range(eta, "--eta", minimum=0.0, maximum=1.0, command="generate")
        given = [k for k, v in single.items() if v is not None]
        if joint and (conditions is not None or given):
            raise option_error("generate", "--joint", "samples its own parameters; drop --conditions/--age/...")
        if conditions is not None and given:
            raise option_error("generate", "--conditions", f"use either a conditions file or {', '.join(given)}")
        cond = None
        if conditions is not None:
            cond = _read_conditions(conditions)
        elif not joint:
            missing = [k for k, v in single.items() if v is None]
            if missing:
                raise option_error(
                    "generate",
                    missing[0],
                    f"required for conditional generation (missing: {', '.join(missing)}; or --conditions / --joint)",
                )
            cond = np.array([[age, intensity, rate, fmp]], dtype=np.float32)
        if eta and (sampler != "ddim" or joint):
            raise option_error("generate", "--eta", "stochastic DDIM needs --sampler ddim and conditional generation")
        if joint and guidance is not None:  # joint sampling has no condition to guide by: never silently unused
            raise option_error("generate", "--guidance", "applies to conditional generation only; drop it with --joint")
        if add_noise_nv is not None and not add_noise_nv >= 0:  # 0 = the clean response + zero noise, as the API
            raise option_error("generate", "--add-noise-nv", f"must be >= 0 nV, got {add_noise_nv:g}")
        plot_file = image_file(plot, "--plot") if plot is not None else None
        planned = {"--out": check_cohort_name(out, "--out"), **({"--plot": plot_file} if plot_file is not None else {})}
        check_outputs(planned, force=force, inputs=[conditions] if conditions is not None else [])
        model = load(checkpoint)
        # A conditions file names its columns by their keywords; the single options are --age, --intensity, ...
        names = GENERATE_OPTIONS | ({k: "--conditions" for k in STATIC_PARAMS} if conditions is not None else {})
        with option_errors("generate", names), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # the same lines are printed once below, as warn() does
            cohort = model.generate(
                n, conditions=cond, joint=joint, sampler=sampler, steps=steps, guidance=guidance, seed=seed,  # type: ignore[arg-type]
                add_noise_nv=add_noise_nv, eta=eta, band_limit=band_limit,
            )  # fmt: skip
        warn(generation_warnings(cohort))
        save_cohort(cohort, out, force=True)
        if plot_file is not None:
            plot_generated(cohort, plot_file, overwrite=force)
    what = "joint" if joint else f"conditional (guidance {float(cohort.attrs['guidance']):g})"
    console.print(
        f"{cohort.n_records} {what} signals ({sampler}, {steps} steps); wrote {out}"
        + (f" and {plot_file}" if plot_file is not None else ""),
        highlight=False,
    )


def _read_conditions(path: Path) -> np.ndarray:
    """`read_conditions`, with a folder or a binary file refused in one line naming --conditions (they were
    IsADirectoryError and UnicodeDecodeError tracebacks)."""
    from abrnet.inference.conditions import read_conditions

    if path.is_dir():
        raise DataError(str(path), "--conditions", "is a folder; name a CSV file")
    try:
        return read_conditions(path)
    except UnicodeDecodeError:
        raise DataError(str(path), "--conditions", "not a CSV text file (not UTF-8)") from None
