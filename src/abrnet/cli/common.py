"""Shared CLI plumbing: one-line user errors with a non-zero exit, Rich console and progress bars."""

from __future__ import annotations

import contextlib
import functools
import inspect
import math
import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from abrnet.inference.option_names import CLI_DOMAIN_NAMES, cli_hint_text  # no numpy: `abrnet --help` stays fast

if TYPE_CHECKING:  # the data layer (numpy) is imported inside the functions: `abrnet --help` stays fast
    from abrnet.data.schema import DataError

# Both print users' file names and field values verbatim: Rich markup would drop "[ear]" from "rec[ear].h5" (or crash
# on "[/x]"), emoji codes turn ":100:" into a symbol; styled words go through `labelled`. soft_wrap: a message is
# one line (in a pipe Rich broke "wrote <path>" at 80 columns); tables still fit the width.
console = Console(markup=False, emoji=False, soft_wrap=True)
err_console = Console(stderr=True, markup=False, emoji=False, soft_wrap=True)

EXIT_USER_ERROR = 2


def user_error_types() -> tuple[type[BaseException], ...]:
    """Errors that are the user's input, not our bug: reported as one line, exit code 2."""
    from abrnet.data.schema import DataError

    types: list[type[BaseException]] = [DataError, FileExistsError, FileNotFoundError]
    with contextlib.suppress(ImportError):
        from abrnet.config.train_config import ConfigError

        types.append(ConfigError)
    return tuple(types)


def print_error(message: str) -> None:
    """``error: <message>`` as one line on stderr: the one printer of every refusal, ours (`user_errors`) and Click's
    usage errors (`abrnet.cli.main.main`), so both read alike (they were ``Error: abrnet predict: ...`` and
    ``error: predict: ...``)."""
    line = cli_hint_text(message.splitlines()[0]) if message else ""  # an importer's hint as a CLI user types it
    err_console.print(labelled("error:", "bold red", line), highlight=False)


def command_name(command: str) -> str:
    """A command as the user typed it (``predict`` → ``abrnet predict``, ``data import`` → ``abrnet data import``):
    the source that a refusal of one of its options names."""
    return command if command == "abrnet" or command.startswith("abrnet ") else f"abrnet {command}"


def option_error(command: str, option: str, message: str) -> DataError:
    """The one-line error for a bad option (or argument) of `command`: ``abrnet <command>: field '<option>':
    <message>``, the `DataError` form every refusal takes (file, field, message), with the command in place of the
    file. Click's own usage errors are rebuilt through it (`abrnet.cli.main.main`)."""
    from abrnet.data.schema import DataError

    return DataError(command_name(command), option, message)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Known input errors → `error: <one line>` on stderr and exit code 2; a command ended by SIGTERM → its one line
    and exit code 143 (`abrnet.training.terminated`: a fit exited 0, silently, and ``&& abrnet evaluate`` went on)."""
    from abrnet.training.terminated import TerminatedError  # no torch or Lightning: light for every command

    try:
        yield
    except (*user_error_types(), TerminatedError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if isinstance(exc, FileNotFoundError) and exc.filename:
            msg = f"{exc.filename}: no such file"
        print_error(msg)
        raise typer.Exit(exc.exit_code if isinstance(exc, TerminatedError) else EXIT_USER_ERROR) from None


def check_outputs(outputs: Mapping[str, Path], *, force: bool, inputs: Sequence[Path] = ()) -> None:
    """Every planned output of one command, checked before anything is written: no two roles may name the same file
    (``--json`` once wrote <out>.json over an --out of that name), none may be one of the files the command reads
    (`inputs`), and each goes through the shared overwrite guard. Keys are the roles as the user knows them
    (``--out``, ``series table, <out>.series.csv beside --out``...).

    A role that describes a file the command names itself (it has a space: not an option such as ``--out``, nor a
    folder's file name such as ``metrics.json``) is said in the "file exists" refusal: ``q.series.csv: file exists``
    did not say it was this run's series table, so a user could pass --force over another analysis's table.

    Why inputs, with or without --force: --force means "replace my old output", and ``--out a.csv`` on the input
    ``a.csv`` (or the ``<out>.series.csv`` written beside --out, when the recordings were in that file) replaced
    the user's recording with results. Checked first, so the user is not told to pass --force for a file it would
    destroy."""
    from abrnet.data.files import check_fname
    from abrnet.data.schema import DataError

    seen: dict[Path, str] = {}
    for role, path in outputs.items():
        key = Path(path).resolve()
        if key in seen:
            raise DataError(str(path), role, f"is also the {seen[key]}; one would overwrite the other")
        seen[key] = role
    read = _input_files(inputs)
    for role, path in outputs.items():
        source = next((p for p in read if _same_file(path, p)), None)
        if source is not None:
            same = "" if str(source) == str(path) else f" ({source})"
            raise DataError(str(path), role, f"is an input{same}; --force never replaces an input, name another file")
    for role, path in outputs.items():
        check_fname(path, overwrite=force, what=f"this run's {role}" if " " in role else None)


def _input_files(inputs: Sequence[Path]) -> list[Path]:
    """The files among `inputs`, and those of a psiexperiment run folder (one recording spread over several files).
    A missing path lists nothing: the command reports it.

    Why not any folder's contents: an output may well go inside an input folder (``predict data/ --out
    data/results.csv``), and rerunning that must replace the old results.csv, which the folder's reading skips as
    not a recording; only a file the user named as a recording, or a run folder's file, is certain to be one."""
    from abrnet.data.importers.psi_abr import is_psi_folder

    files: list[Path] = []
    for path in map(Path, inputs):
        if path.is_file():
            files.append(path)
        elif path.is_dir() and is_psi_folder(path):
            files += [f for f in path.rglob("*") if f.is_file()]
    return files


def _same_file(output: Path, source: Path) -> bool:
    """Whether writing `output` would replace the file `source` (links and ``./`` spellings included), read where the
    write lands (`write_target`): ``sub/../in.csv`` with ``sub/`` missing does not exist as typed, and the writer,
    making ``sub/``, then wrote over in.csv with --force (hunt 43 #4)."""
    import os

    from abrnet.data.files import write_target

    target = write_target(output)
    try:
        return target.exists() and os.path.samefile(target, source)
    except OSError:
        return target == Path(source).resolve()


def check_range(
    value: float | Sequence[float] | None,
    option: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    integer: bool = False,
    command: str = "abrnet",
) -> None:
    """Refuse a number option outside [minimum, maximum] with the usual one-line DataError naming it (exit 2 through
    `user_errors`). Typer's own ``min=``/``max=`` printed a usage box instead and let NaN through (it fails every
    comparison), so the limits live here; the help strings say them. A list option (repeated) is checked item by
    item; None (not given) passes."""
    if value is None:
        return
    for x in value if isinstance(value, Sequence) else (value,):
        if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x):
            raise option_error(command, option, f"must be a finite number, got {_number(x)}")
        if integer and x != int(x):
            raise option_error(command, option, f"must be a whole number, got {_number(x)}")
        if (minimum is not None and x < minimum) or (maximum is not None and x > maximum):
            if maximum is None:
                limits = f">= {_number(minimum)}"
            elif minimum is None:
                limits = f"<= {_number(maximum)}"
            else:
                limits = f"from {_number(minimum)} to {_number(maximum)}"
            raise option_error(command, option, f"must be {limits}, got {_number(x)}")


def check_format(fmt: str, command: str) -> None:
    """``--format`` checked as an option (it was reported as the reader's field 'format', from inside a file)."""
    from abrnet.data.importers import FORMATS

    check_choice(fmt, "--format", FORMATS, command=command)


def check_choice(
    value: str | Sequence[str] | None, option: str, choices: Sequence[str], *, command: str = "abrnet"
) -> None:
    """Refuse a value outside a fixed set with the usual one-line DataError naming the option and listing the
    choices (exit 2 through `user_errors`). Options with a fixed set of values are plain strings checked here, not
    Enums or click.Choice: Typer reports those in its multi-line usage box. A list option (repeated) is checked item
    by item; None (not given) passes."""
    if value is None:
        return
    for x in (value,) if isinstance(value, str) else value:
        if x not in choices:
            allowed = choices[0] if len(choices) == 1 else f"one of {', '.join(choices)}"
            raise option_error(command, option, f"must be {allowed}; got {x!r}")


def image_file(path: Path, option: str) -> Path:
    """The file matplotlib will write for an image option, checked before any work.

    Why: matplotlib adds ``.png`` to a name without a suffix, so the overwrite check must look at that name (it
    looked at ``foo`` and matplotlib replaced ``foo.png``); it refuses an unknown suffix only when saving, as a
    traceback after the other outputs were written; and a folder (or an empty name) became ``<folder>.png`` beside
    it. The same path is used to check, to save and in the message."""
    from matplotlib.backend_bases import FigureCanvasBase

    from abrnet.data.schema import DataError

    if path.is_dir():
        raise DataError(str(path), option, "is a folder; name an image file (e.g. plot.png)")
    target = path if path.suffix else path.with_name(path.name + ".png")
    formats = FigureCanvasBase.get_supported_filetypes()
    if target.suffix[1:].lower() not in formats:
        raise DataError(str(path), option, f"unknown image format {target.suffix!r}; use {', '.join(sorted(formats))}")
    return target


def _number(x: object) -> str:
    return f"{x:g}" if isinstance(x, float) else repr(x) if isinstance(x, str) else str(x)


@contextlib.contextmanager
def option_errors(command: str, options: Mapping[str, str]) -> Iterator[None]:
    """The Python API refuses bad arguments with ValueError/TypeError naming its keyword (``conditions row 0:
    intensity_db must be in [0, 120], got 200``); the CLI user typed an option, so re-raise them as the usual
    DataError naming it (one line, exit 2 through `user_errors`). `options` maps keyword → option. Errors naming no
    known keyword are not the user's input and are left as they are."""
    from abrnet.data.schema import DataError

    try:
        yield
    except DataError:
        raise
    except (ValueError, TypeError) as exc:
        text = str(exc).splitlines()[0] if str(exc) else ""
        match = re.match(r"(?:conditions row \d+: )?([a-z_][a-z0-9_]*)\b\s*(.*)", text)
        if match is None or match.group(1) not in options:
            raise
        raise option_error(command, options[match.group(1)], match.group(2) or text) from None


# --format of every command that reads recordings. The names are `abrnet.data.importers.FORMATS` (a test keeps them
# equal): written out because importing the readers for a help string would load them all for `abrnet --help`.
FORMAT_HELP = (
    "auto (detected from the content) or one of h5, csv, epl_cfts, fast_abr, smartep, time_columns, biosig_csv, "
    "tdt_arf, psi_abr."
)

# What a recording file may not state (or states wrongly), given on the command line by every command that reads
# users' files: option parameter → (`read_recording` keyword, Typer annotation). Declared once, through
# `with_reader_options`, so `predict` and `data import` cannot drift apart in names or help.
READER_OPTIONS: dict[str, tuple[str, Any]] = {
    "age": ("age_years", Annotated[
        float | None, typer.Option("--age", "--age-years", help=(
            "Patient age (years): device exports never record it (abrnet's CSV/.h5 keep theirs)."
        ))
    ]),
    "rate": ("stimulus_rate_hz", Annotated[
        float | None, typer.Option("--rate", help=(
            "Stimulus rate (/s) for files that do not state one; overrides a device export's value, with a warning "
            "(abrnet's CSV/.h5 keep theirs)."
        ))
    ]),
    "level": ("level_db", Annotated[
        float | None, typer.Option("--level", help="Stimulus level (dB), for files that name none.")
    ]),
    "level_unit": ("level_unit", Annotated[
        str | None,
        typer.Option(
            CLI_DOMAIN_NAMES["level_unit"], help="dB nHL, dB SPL, dB peSPL or dB attenuation (overrides the file)."
        ),
    ]),
    "units": ("units", Annotated[str | None, typer.Option("--units", help="Sample units: auto, V, mV, uV or nV.")]),
    "ear": ("ear", Annotated[str | None, typer.Option("--ear", help=(
        "L or R, for files or abrnet CSV cells that name no ear; overrides a device export's ear, with a warning "
        "(abrnet's CSV/.h5 keep the ears they state)."
    ))]),
    "fmp": ("fmp", Annotated[
        float | None, typer.Option("--fmp", help=(
            "FMP for the records of files without split buffers or FMP: one value for every such record, although "
            "FMP varies with level (a loud record's FMP given to soft ones makes noise read as response)."
        ))
    ]),
    "invert": ("invert", Annotated[bool, typer.Option("--invert", help=(
        "Multiply every sample by -1: for exports that store the ABR vertex-negative (waves as troughs). The model "
        "reads vertex-positive waves; an inverted trace reads as no response."
    ))]),
    "species": ("species", Annotated[
        str | None, typer.Option(CLI_DOMAIN_NAMES["species"], help="human, mouse, rat, ... (overrides the file).")
    ]),
    "stimulus": ("stimulus", Annotated[
        str | None, typer.Option(CLI_DOMAIN_NAMES["stimulus"], help="click, tone_pip, chirp (overrides the file).")
    ]),
}  # fmt: skip


def with_reader_options(command: Callable[..., None]) -> Callable[..., None]:
    """Declare `READER_OPTIONS` on a command in place of its ``reader`` parameter, and call it with ``reader`` set to
    the `read_recording` keywords the user gave (an option not given is left out, so the file's own value is used).
    Their values are checked first (`check_reader_values`), so a bad one is refused naming its option.

    Why a decorator: Typer reads a command's options from its signature, so two commands sharing nine options
    listed them twice, help strings and all, to be kept equal by hand."""
    signature = inspect.signature(command, eval_str=True)  # Typer does not evaluate a __signature__ it is given
    if "reader" not in signature.parameters:
        raise TypeError(f"{command.__name__} has no 'reader' parameter to replace")
    params: list[inspect.Parameter] = []
    for p in signature.parameters.values():
        if p.name != "reader":
            params.append(p)
            continue
        params += [inspect.Parameter(n, p.kind, default=None, annotation=a) for n, (_, a) in READER_OPTIONS.items()]

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        given = {key: kwargs.pop(name, None) for name, (key, _) in READER_OPTIONS.items()}
        reader = {k: v for k, v in given.items() if v is not None}
        with user_errors():
            check_reader_values(reader, _TYPED_NAMES.get(command.__name__, command.__name__))
        command(*args, reader=reader, **kwargs)

    wrapper.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    return wrapper


def reader_flag(key: str) -> str:
    """The option (``--rate``) that sets the `read_recording` keyword `key` (``stimulus_rate_hz``)."""
    name = next(n for n, (k, _) in READER_OPTIONS.items() if k == key)
    info = READER_OPTIONS[name][1].__metadata__[0]  # Annotated[..., typer.Option("--rate", ...)]
    decls = [info.default, *info.param_decls] if isinstance(info.default, str) else list(info.param_decls)
    return decls[0] if decls else "--" + name.replace("_", "-")


def option_names(read_options: Mapping[str, str], **more: str) -> dict[str, str]:
    """What the API's warnings ask a CLI user to pass (its ``option_names``): every `READER_OPTIONS` keyword → its
    option (``fmp`` → ``--fmp``), then `read_options` (a command's own keyword → option) and ``more`` (``strict``:
    predict's ``--strict``). Why: the API names its keywords (``(pass fmp=...)``), which a CLI user cannot type."""
    return {key: reader_flag(key) for key, _ in READER_OPTIONS.values()} | dict(read_options) | more


# Commands whose Python name is not what the user types, for errors found before they run (`with_reader_options`).
_TYPED_NAMES = {"import_recordings": "data import"}


def check_reader_values(reader: Mapping[str, Any], command: str) -> None:
    """Refuse a bad `READER_OPTIONS` value (``reader``: `read_recording` keyword → value) in one line naming the
    option the user typed, before any file is read: the readers' own check
    (`abrnet.data.importers.options.check_reading_options`, which the Python API calls too), with ``--rate`` in place
    of the keyword ``stimulus_rate_hz`` it would otherwise name."""
    from abrnet.data.importers.options import check_reading_options

    check_reading_options(reader, source=command_name(command), labels={key: reader_flag(key) for key in reader})


def labelled(label: str, style: str, message: str) -> Text:
    """'<label> <message>' with only the label styled and the message exactly as given (no markup, no emoji)."""
    return Text.assemble((label, style), " ", message)


def warn(messages: list[str]) -> None:
    """Each message as one 'warning:' line on stderr (stdout stays the command's output, e.g. --json)."""
    for msg in messages:
        err_console.print(labelled("warning:", "bold yellow", msg), highlight=False)


def series_stage_warnings(checkpoint: str | Path, has_stage: bool) -> list[str]:
    """The line `predict` and `model export` print for a checkpoint without a fitted series stage: it reads each
    ear with the unfitted defaults (geometric-mean class, 0.5 crossing, no record class rule or peak blend), and a
    run's last.ckpt, made for --resume, holds none (the stage belongs to best.ckpt's network)."""
    if has_stage:
        return []
    return [
        f"{checkpoint}: holds no fitted series stage (a run's best.ckpt has one; last.ckpt is for --resume): classes, "
        "thresholds and their intervals are read with the unfitted defaults"
    ]


@contextlib.contextmanager
def progress_bar(description: str) -> Iterator[Callable[[int, int], None]]:
    """A Rich progress bar driven by `update(done, total)` callbacks; silent when stderr is not a terminal."""
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        disable=not sys.stderr.isatty(),
        transient=False,
    ) as progress:
        task = progress.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        yield update
