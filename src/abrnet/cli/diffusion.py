"""`abrnet denoise` and `abrnet generate`: the trained model's diffusion sampler, run on a user's recording (the
model's estimate of its clean response) or on stated conditions (synthetic ABRs). Thin over `abrnet.inference.api`,
as `abrnet predict` is, so the CLI and the Python API give the same signals.

Why apart from `abrnet.cli.infer` (predict): these two commands share the sampler's options (--sampler, --steps,
--seed) and write an abrnet dataset file (.h5), where predict reads recordings into results tables and plots; the
options all three share (--checkpoint, --force, the reading keywords) are in `abrnet.cli.model_options`."""

from __future__ import annotations

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
    image_file,
    option_error,
    option_errors,
    option_names,
    user_errors,
    warn,
    with_reader_options,
)
from abrnet.cli.model_options import READ_OPTIONS, CheckpointOpt, ForceOpt
from abrnet.constants import GENERATION_STEPS
from abrnet.data.schema import ABRCohort, DataError
from abrnet.training.terminated import sigterm_raises, unfinished_message

if TYPE_CHECKING:  # numpy is imported inside the commands: `abrnet --help` stays fast
    import numpy as np


# The Python API's sampler and generation keywords → the options that set them (`option_errors`).
SAMPLER_OPTIONS = {"steps": "--steps", "sampler": "--sampler", "seed": "--seed"}
GENERATE_OPTIONS = {
    **SAMPLER_OPTIONS, "n": "--n", "guidance": "--guidance", "eta": "--eta", "add_noise_nv": "--add-noise-nv",
    "conditions": "--conditions", "age_years": "--age", "intensity_db": "--intensity", "stimulus_rate_hz": "--rate",
    "fmp": "--fmp",
}  # fmt: skip


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
    observed record's p(V) is kept in extras/observed_p_wave_v and records without a wave V are warned about.
    A record whose residual noise cannot be read (too little recorded) is returned as recorded; extras/denoised and
    extras/recording_noise_nv, recording_noise_from say per record what was done, and the last line counts both.

    When no record could be denoised, nothing is written and the command exits 2 with one line. Why refuse rather
    than write: the file would hold nothing denoise exists for, only the recording resampled and zero-padded onto
    the model grid (`abrnet data import --model-grid` writes that on purpose), and a batch loop that checks exit
    codes, not stderr, took it for denoised traces (hunt 43, #3). Where some records were denoised the file is
    written: it holds them, and marks the others per record."""
    from abrnet.data.io import check_cohort_name, save_cohort
    from abrnet.diffusion.sampling import SAMPLERS
    from abrnet.inference.api import load

    with user_errors(), sigterm_raises(unfinished_message("denoise")):
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
        check_denoised(result, input_path)
        save_cohort(result, out, force=True)
    console.print(f"{denoise_summary(result, sampler, steps)}; wrote {out}", highlight=False)


def check_denoised(result: ABRCohort, input_path: Path) -> None:
    """A one-line `DataError` when `ABRModel.denoise` denoised no record (`denoise`'s docstring says why)."""
    from abrnet.data.noise_estimate import LATE_WINDOW_MS, MIN_RECORDED_MS
    from abrnet.inference.predictor import DENOISED_EXTRA

    if result.extras[DENOISED_EXTRA].any():
        return
    end_ms = result.t0_ms + 1000.0 * result.n_samples / result.sampling_rate_hz  # the model window's end
    raise DataError(
        str(input_path),
        "recording_noise_from",
        f"missing for all {result.n_records} records (under {MIN_RECORDED_MS:g} ms recorded in the model window's "
        f"last {LATE_WINDOW_MS:g} ms, no split buffers), so none could be denoised; nothing written (a recording to "
        f"{end_ms - MIN_RECORDED_MS:g} ms or more, or one with its split buffers, gives the noise level)",
    )


def denoise_summary(result: ABRCohort, sampler: str, steps: int) -> str:
    """``k of N records denoised (sampler, steps; noise from <source>: count, ...)``, plus the records returned as
    recorded: it said "N records denoised" of N records returned untouched (hunt 43, #3)."""
    import numpy as np

    from abrnet.inference.predictor import DENOISED_EXTRA

    done = np.asarray(result.extras[DENOISED_EXTRA], dtype=bool)
    sources, counts = np.unique(np.asarray(result.extras["recording_noise_from"]).astype(str)[done], return_counts=True)
    noise = ", ".join(f"{s}: {c}" for s, c in zip(sources.tolist(), counts.tolist(), strict=True))
    how = f"{sampler}, {steps} step(s)" + (f"; noise from {noise}" if noise else "")
    line = f"{int(done.sum())} of {result.n_records} records denoised ({how})"
    if kept := int((~done).sum()):
        line += f"; {kept} returned as recorded (noise not measurable: see the warning)"
    return line


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
            "than guidance 1 at 80 dB). The defaults (ddim, 20 steps, guidance 1) are what `abrnet evaluate "
            "--generation` chose on validation for the shipped model; for another checkpoint "
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
    from abrnet.inference.arguments import MAX_ADDED_NOISE_NV
    from abrnet.inference.generation import generation_warnings, plot_generated

    single = {"--age": age, "--intensity": intensity, "--rate": rate, "--fmp": fmp}
    with user_errors(), sigterm_raises(unfinished_message("generate")):
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
        if add_noise_nv is not None and not 0 <= add_noise_nv <= MAX_ADDED_NOISE_NV:  # 0: clean + zero noise
            raise option_error(
                "generate", "--add-noise-nv", f"must be >= 0 and <= {MAX_ADDED_NOISE_NV:g} nV, got {add_noise_nv:g}"
            )
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
