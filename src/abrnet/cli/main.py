"""The `abrnet` command line: one Typer app, one sub-app per area."""

from __future__ import annotations

import contextlib
import difflib
import re
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

import typer
import typer.main

from abrnet.cli.common import EXIT_USER_ERROR, option_error, print_error, warn
from abrnet.cli.data import data_app, simulate
from abrnet.cli.diffusion import denoise, generate
from abrnet.cli.infer import predict
from abrnet.cli.serve import serve
from abrnet.cli.train import evaluate, train

app = typer.Typer(
    help="abrnet: read, analyse and synthesise Auditory Brainstem Responses.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command("simulate")(simulate)
app.command("train")(train)
app.command("evaluate")(evaluate)
app.command("predict")(predict)
app.command("denoise")(denoise)
app.command("generate")(generate)
app.command("serve")(serve)
app.add_typer(data_app, name="data")


def _register_optional() -> None:
    """Sub-apps that import torch-heavy modules; registered here so `abrnet --help` lists them."""
    from abrnet.cli.model import app as model_app

    app.add_typer(model_app, name="model", help="Inspect model presets (parameters, FLOPs, layout).")


_register_optional()


def main() -> None:
    """The `abrnet` console script: Click's own usage errors (an unknown option, a missing argument) end as one line
    on stderr with exit code 2, like every other bad input, instead of Typer's boxed panel under the usage text
    (hunt 11: a mistyped option got a multi-line box the README's "one line" promise does not cover).

    They are rebuilt as our refusals are (`usage_error_line`), not printed in Click's words: the two styles read
    ``Error: abrnet predict: Option '--out' requires an argument.`` and ``error: predict: field '--group-by': ...``
    (hunt 15 #12). The exception classes are matched by name: Typer >= 0.2x ships its own copy of Click, older Typer
    uses Click's."""
    try:
        with our_warnings_as_lines():
            code = app(standalone_mode=False, prog_name="abrnet")
    except Exception as exc:
        kinds = {cls.__name__ for cls in type(exc).__mro__}
        if "NoArgsIsHelpError" in kinds:  # bare `abrnet` / `abrnet data`: the help, as before
            exc.show()  # type: ignore[attr-defined]
            sys.exit(0)
        if "UsageError" in kinds:
            print_error(usage_error_line(exc))
            sys.exit(EXIT_USER_ERROR)
        if "ClickException" in kinds:
            print_error(exc.format_message())  # type: ignore[attr-defined]
            sys.exit(exc.exit_code)  # type: ignore[attr-defined]
        if "Abort" in kinds:
            print("Aborted!", file=sys.stderr)
            sys.exit(1)
        raise
    sys.exit(code if isinstance(code, int) else 0)


PACKAGE_DIR = Path(__file__).resolve().parents[1]  # the abrnet package (not imported: cli is its top layer)


@contextlib.contextmanager
def our_warnings_as_lines() -> Iterator[None]:
    """Inside: a warning raised from abrnet's own code prints as one ``warning: <message>`` line on stderr, as every
    other warning the CLI gives (`common.warn`); a library's (Lightning, PyTorch) keeps Python's format.

    Why: `abrnet train` on a small file printed the series stage's "not fitted" notice in Python's form, its source
    path, line number and the statement that raised it on a second line (``.../training/run.py:262: UserWarning:
    series classifier not fitted (...)``), which reads as a crash report in a run that had gone right."""
    shown = warnings.showwarning

    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        if Path(filename).resolve().is_relative_to(PACKAGE_DIR):
            warn([str(message)])
        else:
            shown(message, category, filename, lineno, file, line)

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = shown


# How close a mistyped option must be to a real one to be suggested (difflib's ratio). Click suggests from 0.6, where
# ``--bogus`` is "close" to ``--out`` (they share "--", "o" and "u"); a real typo (``--outt``, ``--grup-by``,
# ``--forse``) scores 0.85 or more.
SUGGEST_CUTOFF = 0.8


def usage_error_line(exc: Exception) -> str:
    """A Click usage error as our one-line refusal (`option_error`): ``abrnet predict: field '--out': requires an
    argument (see abrnet predict --help)``. The field is the option or argument Click names (``<arguments>`` where
    it names none, e.g. an extra argument); the command is the one the user typed (`_command_path` where Click gives
    no context)."""
    ctx = getattr(exc, "ctx", None)
    command = ctx.command_path if ctx is not None else _command_path(sys.argv[1:])
    field, message = _usage_field(exc), _usage_message(exc)
    return f"{option_error(command, field, message)} (see {command} --help)"


def _usage_field(exc: Exception) -> str:
    """The option (``--out``) or argument (``INPUT...``) a usage error is about, or ``<arguments>``/``<command>``."""
    option = getattr(exc, "option_name", None)  # NoSuchOption, BadOptionUsage: as the user typed it
    if option:
        return str(option)
    hint = getattr(exc, "param_hint", None)
    param = getattr(exc, "param", None)
    if hint is None and param is not None:
        try:
            hint = param.get_error_hint(getattr(exc, "ctx", None))  # Click: "'--out' / '-o'"; "'INPUT...'"
        except TypeError:
            hint = param.get_error_hint()  # Typer's copy of Click takes no context
    if hint:
        first = hint if isinstance(hint, str) else next(iter(hint))
        return first.split(" / ")[0].strip("'\"")
    if type(exc).__name__ == "NoSuchCommand" or exc.format_message().startswith("No such command"):  # type: ignore[attr-defined]
        return "<command>"
    return "<arguments>"


def _usage_message(exc: Exception) -> str:
    """What is wrong, in our words (lower case, no final full stop), without the field `_usage_field` names."""
    kinds = {cls.__name__ for cls in type(exc).__mro__}
    if "NoSuchOption" in kinds:
        close = difflib.get_close_matches(
            str(exc.option_name),  # type: ignore[attr-defined]
            list(getattr(exc, "possibilities", None) or ()),
            n=3,
            cutoff=SUGGEST_CUTOFF,
        )
        return "no such option" + (f"; did you mean {' or '.join(close)}?" if close else "")
    if "MissingParameter" in kinds:
        param = getattr(exc, "param", None)
        kind = getattr(exc, "param_type", None) or getattr(param, "param_type_name", None) or "parameter"
        return f"required {kind}, not given"
    if "BadParameter" in kinds:
        text = f"invalid value: {getattr(exc, 'message', '') or exc.format_message()}"  # type: ignore[attr-defined]
    else:
        text = re.sub(r"^Option '[^']*' ", "", exc.format_message())  # type: ignore[attr-defined]
    text = text.strip().rstrip(".").replace(". Did you mean", "; did you mean")
    return text[:1].lower() + text[1:]


def _command_path(args: list[str]) -> str:
    """The command the user typed (``abrnet predict``), read from the arguments.

    Why: Click raises some usage errors without the command's context (an option missing its value: ``predict
    --out`` at the end of the line), and the line then named "abrnet" and pointed at ``abrnet --help``, which does
    not list predict's options. The sub-commands are walked as Click resolves them: the leading words that name one."""
    command, path = typer.main.get_command(app), ["abrnet"]
    for word in args:
        sub = getattr(command, "commands", {}).get(word)
        if sub is None:
            break
        command, path = sub, [*path, word]
    return " ".join(path)


if __name__ == "__main__":
    main()
