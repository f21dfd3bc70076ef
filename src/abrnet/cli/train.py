"""`abrnet train` and `abrnet evaluate`."""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
import yaml

from abrnet.cli.common import (
    check_choice,
    check_outputs,
    check_range,
    console,
    err_console,
    labelled,
    option_error,
    option_names,
    user_errors,
    warn,
)
from abrnet.cli.model_options import READ_OPTIONS
from abrnet.constants import MAX_SEED
from abrnet.inference.option_names import VIA

if TYPE_CHECKING:
    from abrnet.evaluation.folder import Evaluation, FolderCheck

# What `abrnet evaluate --data`'s warnings ask for: it takes no reading options, so they name `abrnet data import`'s
# (the reading options it shares with predict, `READ_OPTIONS`) and say to evaluate the .h5 it writes. Why: they named
# the Python keyword (``(pass fmp=...)``), which no CLI user can type.
EVALUATE_NAMES = option_names(
    READ_OPTIONS, **{VIA: "to abrnet data import, then abrnet evaluate --data the .h5 it writes"}
)


def train(
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Training YAML (default: built-in cpu config).")
    ] = None,
    data: Annotated[
        Path | None, typer.Option("--data", help="abrnet dataset file (default: simulated, cached).")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Run folder (default: runs/<timestamp>).")] = None,
    seed: Annotated[
        int | None, typer.Option(help="Seed for cohort, split, init and noise (overrides the config).")
    ] = None,
    resume: Annotated[
        Path | None, typer.Option(help="Continue exactly from this checkpoint (e.g. RUN/last.ckpt).")
    ] = None,
    preset: Annotated[str | None, typer.Option(help="Model preset: tiny, cpu, base, large.")] = None,
    devices: Annotated[str | None, typer.Option(help="Devices per node, e.g. 2 (with --strategy ddp).")] = None,
    strategy: Annotated[str | None, typer.Option(help="Lightning strategy, e.g. ddp.")] = None,
    max_steps: Annotated[
        int | None,
        typer.Option(help="Step budget of the fit (optimizer steps; default: trainer.max_steps): one seed, one model."),
    ] = None,
    max_minutes: Annotated[
        float | None, typer.Option(help="Time-limited fit instead (curriculum follows the clock: not reproducible).")
    ] = None,
    safety_stop_minutes: Annotated[
        float | None, typer.Option(help="Wall-clock guard: stop (with a loud warning) after this long.")
    ] = None,
    patients: Annotated[int | None, typer.Option(help="Size of the simulated default cohort.")] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Config override KEY=VALUE, e.g. optim.lr=2e-3.")
    ] = None,
    balanced_patients: Annotated[
        int, typer.Option(help="Patients in the balanced evaluation cohort (0 = skip).")
    ] = 150,
) -> None:
    """Simulate (and cache) the default cohort, train, evaluate on held-out patients and print the metrics."""
    from abrnet.config.train_config import load_config
    from abrnet.config.unread import RULES
    from abrnet.evaluation.report import comparison_table, metrics_table
    from abrnet.training.run_folder import check_out_folder, check_resume

    with user_errors():
        _check_count(balanced_patients, "--balanced-patients", "train")
        if patients is not None and data is not None:  # load_config's rule (`abrnet.config.unread`), in option names
            raise option_error("train", "--patients", f"set with --data, {RULES['data.patients'].why}; remove it")
        overrides = list(set_ or [])
        typed = (  # (key path, the option, its value as typed: a file name such as "null" or "run #1.h5" is not YAML)
            ("seed", "--seed", seed),
            ("data.path", "--data", str(data) if data else None),
            ("model.preset", "--preset", preset),
            ("trainer.strategy", "--strategy", strategy),
            ("trainer.max_minutes", "--max-minutes", max_minutes),
            ("trainer.max_steps", "--max-steps", max_steps),
            ("trainer.safety_stop_minutes", "--safety-stop-minutes", safety_stop_minutes),
            ("data.patients", "--patients", patients),
            ("trainer.devices", "--devices", _yaml_value(devices, "--devices")),  # 2, [0, 1] or auto
        )
        values = {key: value for key, _, value in typed if value is not None}
        names = {key: option for key, option, _ in typed}  # a bad value is named as typed, not as config.yaml's
        cfg = load_config(config, overrides, values, option_names=names, command="abrnet train")
        if cfg.data.path is not None and not Path(cfg.data.path).is_file():  # before the run folder is made
            if Path(cfg.data.path).is_dir():  # was reported as "no such file"
                from abrnet.data.schema import DataError

                where = "--data" if data is not None else "data.path"
                raise DataError(cfg.data.path, where, "is a folder; name an abrnet dataset file (.h5)")
            raise FileNotFoundError(2, "no such file", cfg.data.path)
        if cfg.data.path is not None:  # recorded absolute: `abrnet evaluate` run from another folder read another file
            cfg.data.path = str(Path(cfg.data.path).resolve())
        if resume is not None:
            check_resume(resume, cfg)
        out_dir = out or (resume.parent if resume else Path("runs") / datetime.now().strftime("%Y%m%d-%H%M%S"))
        check_out_folder(out_dir, resume)
        own = resume is not None and out_dir.resolve() == resume.parent.resolve()  # a new fit's folder holds none
        if resume is not None:  # it evaluates into --out: its own files, with the options they were made with, or none
            from abrnet.evaluation.folder import Evaluation, check_folder, evaluation_options, evaluation_outputs

            if own:  # refused when its record (metrics.json, or the start marker of a crashed one) says otherwise
                hint = "pass the same, or move the run's metrics.json, metrics.md and figures/ away"
                planned = Evaluation(None, None, "test", evaluation_options(balanced_patients))
                check_folder(out_dir, planned, field="--resume", hint=hint)
            check_outputs(evaluation_outputs(out_dir), force=own)  # another folder's files are never replaced
        from abrnet.training.run import record_run
        from abrnet.training.run import train as run_training

        started = time.monotonic()
        summary = run_training(cfg, out_dir, resume=resume, say=_say)
        if "global_step" in summary and _is_rank_zero():
            from abrnet.data.schema import DataError
            from abrnet.evaluation.evaluate import evaluate_checkpoint
            from abrnet.training.terminated import after_fit_message, sigterm_raises

            t = time.monotonic()
            try:
                with sigterm_raises(after_fit_message(out_dir, "while evaluating", summary.get("training", {}))):
                    metrics = evaluate_checkpoint(
                        out_dir / "best.ckpt", split="test", out_dir=out_dir, balanced_patients=balanced_patients,
                        overwrite=own, say=_say,
                    )  # fmt: skip
                console.print(metrics_table(metrics))
                console.print(comparison_table(metrics) or "")
            except DataError as exc:  # e.g. too few patients for a test split: the trained model is still saved
                warn([f"evaluation skipped: {exc}"])  # on stderr, as every other warning
            wall = {"evaluation_s": time.monotonic() - t, "total_s": time.monotonic() - started}
            record_run(out_dir, summary, wall)  # steps, samples seen and wall time into metrics.json and run.json
            _report_budget(summary)
            console.print(f"run folder: {out_dir}")


def _say(line: str) -> None:
    """One line as a stage after the fit starts: the fit's progress bar ends minutes before the run does."""
    console.print(line, highlight=False)


def _yaml_value(text: str | None, option: str) -> Any:
    """An option's text read as YAML (``--devices 2`` → 2, ``[0, 1]`` → a list), None when not given. Why not as a
    --set: a bad value was then named ``--set trainer.devices``, an option the user never typed (hunt 48)."""
    if text is None:
        return None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        raise option_error("train", option, f"not a value ({text!r}): a count, a list of devices or auto") from None


def _check_count(value: int, option: str, command: str) -> None:
    """A negative count was silently read as 0 (skip) or as no resamples; it is a typo, so say so."""
    if value < 0:
        raise option_error(command, option, f"must be >= 0 (0 = skip), got {value}")


def _report_budget(summary: dict[str, Any]) -> None:
    """One line on what the fit did; a loud one when the wall-clock safety stop cut it short."""
    tr, wall = summary.get("training", {}), summary.get("wall_time", {})
    if not tr:
        return
    fit, total = wall.get("fit_s", 0.0), wall.get("total_s", 0.0)
    legs = ", earlier legs included" if fit > total else ""  # a --resume: "137 s of fit, 12 s in all" (hunt 50d #4)
    console.print(
        f"trained {tr['steps']} optimizer steps ({tr['samples_seen']} samples) in {fit:.0f} s of fit{legs}; this "
        f"command took {total:.0f} s",
        highlight=False,
    )
    if tr["stopped_by"] == "safety_stop":
        message = (
            f"the wall-clock safety stop ended the fit at step {tr['steps']} of {tr['max_steps']}: this model is not "
            "the budgeted one (see alerts.jsonl; trainer.safety_stop_minutes)"
        )
        err_console.print(labelled("WARNING", "bold white on red", message), highlight=False)  # a warning: stderr


def _is_rank_zero() -> bool:
    import os

    return os.environ.get("LOCAL_RANK", "0") == "0" and os.environ.get("NODE_RANK", "0") == "0"


def evaluate(
    checkpoint: Annotated[Path, typer.Option("--checkpoint", help="Trained checkpoint (best.ckpt).")],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="Folder for metrics.json, metrics.md, figures/ (and generation.json): existing ones are replaced only "
            "with --force, or by the same evaluation again (checkpoint, data, split and every option alike), also "
            "after one that stopped before metrics.json (its evaluation.started.json says which it was).",
        ),
    ],
    data: Annotated[
        Path | None, typer.Option("--data", help="Dataset file (default: the model's training cohort).")
    ] = None,
    split: Annotated[
        str, typer.Option(help="train, val, test, or all (every record of --data; needs --data).")
    ] = "test",
    balanced_patients: Annotated[
        int, typer.Option(help="Patients in the balanced evaluation cohort (0 = skip).")
    ] = 150,
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples over patients for 95% intervals.")] = 200,
    seed: Annotated[int, typer.Option(help="Seed for bootstrap and reconstruction noise.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print metrics.json instead of a table.")] = False,
    generation: Annotated[
        bool, typer.Option("--generation", help="Also score generated ABRs against the split → generation.json.")
    ] = False,
    generation_n: Annotated[
        int, typer.Option(help="Test conditions (and joint samples) generated once, with the val choice (>= 2).")
    ] = 2048,
    generation_steps: Annotated[
        list[int] | None, typer.Option(help="Sampling steps to choose from on val (repeat; >= 1; default 10, 20).")
    ] = None,
    generation_sampler: Annotated[
        list[str] | None, typer.Option(help="Samplers to choose from on val (repeat; default ddim, dpm).")
    ] = None,
    generation_eta: Annotated[
        float, typer.Option(help="Stochastic DDIM for --generation, 0 to 1 (0 = deterministic).")
    ] = 0.0,
    generation_guidance: Annotated[
        list[float] | None,
        typer.Option(help="Guidance scales to choose from on val (repeat; >= 0; default 1, 2, 3; 1 = none)."),
    ] = None,
    generation_choice_n: Annotated[
        int, typer.Option(help="Validation conditions each candidate setting generates to be scored (>= 2).")
    ] = 256,
    generation_choice_min_count: Annotated[
        int, typer.Option(help="Labelled waves a 10 dB bin needs in the validation choice (>= 1).")
    ] = 10,
    generation_band_limit: Annotated[
        bool,
        typer.Option(
            "--generation-band-limit/--generation-raw",
            help="Score generated signals after the recording band-pass (as `abrnet generate` writes them) or raw.",
        ),
    ] = True,
    generation_min_count: Annotated[
        int, typer.Option(help="Labelled waves a 10 dB bin needs to enter the latency comparison (>= 1).")
    ] = 30,
    force: Annotated[bool, typer.Option("--force", help="Replace the evaluation files already in --out.")] = False,
) -> None:
    """Evaluate a checkpoint over a whole split at once (no per-batch averaging), with 95% patient-bootstrap CIs."""
    from abrnet.diffusion.sampling import SAMPLERS
    from abrnet.evaluation.evaluate import evaluate_checkpoint
    from abrnet.evaluation.report import comparison_table, metrics_table

    with user_errors():
        for value, option, least in (
            (generation_n, "--generation-n", 2), (generation_steps, "--generation-steps", 1),
            (generation_choice_n, "--generation-choice-n", 2), (generation_min_count, "--generation-min-count", 1),
            (generation_choice_min_count, "--generation-choice-min-count", 1),
        ):  # fmt: skip
            check_range(value, option, minimum=least, integer=True, command="evaluate")
        check_range(seed, "--seed", minimum=0, maximum=MAX_SEED, integer=True, command="evaluate")  # was a traceback
        check_range(generation_eta, "--generation-eta", minimum=0.0, maximum=1.0, command="evaluate")
        check_range(generation_guidance, "--generation-guidance", minimum=0.0, command="evaluate")
        check_choice(generation_sampler, "--generation-sampler", SAMPLERS, command="evaluate")  # not after evaluating
        _check_evaluate_options(split, balanced_patients, bootstrap, data)
        from abrnet.evaluation.folder import Evaluation, evaluation_options
        from abrnet.evaluation.generation_choice import DEFAULT_GUIDANCE, DEFAULT_SAMPLERS, DEFAULT_STEPS

        options = dict(
            n=generation_n, steps=generation_steps or DEFAULT_STEPS, guidance=generation_guidance or DEFAULT_GUIDANCE,
            samplers=generation_sampler or DEFAULT_SAMPLERS, eta=generation_eta, band_limit=generation_band_limit,
            min_count=generation_min_count, choice_n=generation_choice_n, choice_min_count=generation_choice_min_count,
        )  # fmt: skip
        recorded = {"checkpoint": str(checkpoint.resolve()), "data": str(data.resolve()) if data else None,
                    "split": split, "seed": seed, **options}  # fmt: skip
        evaluation = Evaluation(checkpoint, data, split, evaluation_options(balanced_patients, bootstrap, seed))
        checked, replace_gen = _check_evaluate_outputs(out, evaluation, recorded if generation else None, force=force)
        from abrnet.training.terminated import sigterm_raises

        stopped = f"{out}: evaluation terminated (SIGTERM) before it finished; the same command finishes it"
        with sigterm_raises(stopped):  # Python's default ended it without a word
            metrics = evaluate_checkpoint(
                checkpoint, data_path=data, split=split, out_dir=out, balanced_patients=balanced_patients,
                n_bootstrap=bootstrap, seed=seed, checked=checked, option_names=EVALUATE_NAMES,
            )  # fmt: skip
            gen_report = None
            if generation:  # metrics.json is written: the same command is the same evaluation, generation.json new
                gen_report = _generation(checkpoint, data, split, out, seed, recorded, replace_gen, **options)
    warn(metrics.get("input_warnings", []))  # one line each, on stderr, before the tables
    if as_json:
        typer.echo(json.dumps(metrics if gen_report is None else {**metrics, "generation": gen_report}, indent=2))
    else:
        console.print(metrics_table(metrics))
        console.print(comparison_table(metrics) or "")
        console.print(f"wrote {out / 'metrics.json'} and {out / 'metrics.md'}")
        thr, ear = (
            metrics.get("threshold", {}).get("mae_db"),
            metrics.get("per_ear", {}).get("threshold", {}).get("mae_db"),
        )
        if thr is not None and ear is not None:
            console.print(f"threshold MAE: per record {thr:.1f} dB, per ear from the whole series {ear:.1f} dB")
        if gen_report is not None:
            from abrnet.evaluation.generation_eval import generation_summary

            console.print(generation_summary(gen_report), highlight=False)
            console.print(f"wrote {out / 'generation.json'}")


def _check_evaluate_options(split: str, balanced_patients: int, bootstrap: int, data: Path | None) -> None:
    """One-line errors for options that were a usage box (--split) or silently read as 0 (negative counts), and for
    ``--split all`` of the training cohort: it scored the patients the model was trained and selected on (and the
    baselines on their own training records), without a word."""
    from abrnet.evaluation.evaluate import check_split_data

    check_choice(split, "--split", ("train", "val", "test", "all"), command="evaluate")
    check_split_data(split, data)  # `evaluate_checkpoint`'s own refusal, before the folder is read
    _check_count(balanced_patients, "--balanced-patients", "evaluate")
    _check_count(bootstrap, "--bootstrap", "evaluate")
    from abrnet.metrics.builder import bootstrap_count_problem

    problem = bootstrap_count_problem(bootstrap)  # the API's own rule, named as the option
    if problem is not None:
        raise option_error("evaluate", "--bootstrap", problem)


def _check_evaluate_outputs(
    out: Path, evaluation: Evaluation, generation: dict | None, *, force: bool
) -> tuple[FolderCheck, bool]:
    """The folder's record, read once (`check_folder`: only the same evaluation again, or --force, replaces its
    files; `evaluate --data other.h5 --out RUN` replaced the run's own test-split metrics, which `model export
    --metrics` then carded, and another --seed or --bootstrap replaced them silently), then every file evaluate writes,
    checked once before anything is evaluated (`check_outputs`, as `predict` does: never over the checkpoint or data).
    Returns that check, for `evaluate_checkpoint`, and whether generation.json may be replaced."""
    from abrnet.evaluation.folder import check_folder, evaluation_outputs, same_generation

    checked = check_folder(out, evaluation, force=force)
    inputs = [p for p in (evaluation.checkpoint, evaluation.data) if p is not None]
    check_outputs(evaluation_outputs(out), force=checked.replace, inputs=inputs)
    if generation is None:
        return checked, False
    gen = out / "generation.json"
    replace_gen = force or (checked.replace and same_generation(gen, generation))
    check_outputs({"generation.json": gen}, force=replace_gen, inputs=inputs)
    return checked, replace_gen


def _generation(
    checkpoint: Path,
    data: Path | None,
    split: str,
    out: Path,
    seed: int,
    recorded: dict[str, Any],
    overwrite: bool,
    **options: Any,
) -> dict:
    """`--generation`: settings chosen on the val split, then conditions from the split the metrics used, generated
    once with them → DIR/generation.json (with the grid, each candidate's val score and the choice, and the
    `recorded` options a rerun compares; replaced only with `overwrite`)."""
    from abrnet.evaluation.evaluate import split_of
    from abrnet.evaluation.generation_choice import evaluate_generation_chosen_on_val
    from abrnet.evaluation.generation_eval import write_generation_report
    from abrnet.inference.api import load

    model = load(checkpoint)
    if data is not None:
        from abrnet.evaluation.evaluate import load_evaluation_data

        cohort = load_evaluation_data(data)[0]  # its warnings were printed with the metrics
    else:
        from abrnet.training.cohort_source import model_training_cohort

        cohort = model_training_cohort(model.loaded)
    part = split_of(model.loaded, cohort, split) if split != "all" else cohort
    val, train = split_of(model.loaded, cohort, "val"), split_of(model.loaded, cohort, "train")
    report = evaluate_generation_chosen_on_val(model, val, part, seed=seed, static_marginals=train.static, **options)
    report["report_split"] = split  # "val" or "all" overlap the records the settings were chosen on
    report["options"] = recorded
    write_generation_report(report, out, overwrite=overwrite)
    return report
