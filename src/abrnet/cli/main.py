"""The `abrnet` command line: one Typer app, one sub-app per area."""

from __future__ import annotations

import sys

import typer
import typer.main

from abrnet.cli.data import data_app, simulate
from abrnet.cli.infer import denoise, generate, predict
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

    The exception classes are matched by name: Typer >= 0.2x ships its own copy of Click, older Typer uses Click's."""
    try:
        code = app(standalone_mode=False, prog_name="abrnet")
    except Exception as exc:
        kinds = {cls.__name__ for cls in type(exc).__mro__}
        if "NoArgsIsHelpError" in kinds:  # bare `abrnet` / `abrnet data`: the help, as before
            exc.show()  # type: ignore[attr-defined]
            sys.exit(0)
        if "UsageError" in kinds:
            ctx = getattr(exc, "ctx", None)
            command = ctx.command_path if ctx is not None else _command_path(sys.argv[1:])
            option = getattr(exc, "option_name", None)  # BadOptionUsage, NoSuchOption: the option the user typed
            message = exc.format_message()  # type: ignore[attr-defined]
            if option and option not in message:
                message = f"{option}: {message}"
            print(f"Error: {command}: {message} (see {command} --help)", file=sys.stderr)
            sys.exit(exc.exit_code)  # type: ignore[attr-defined]
        if "ClickException" in kinds:
            print(f"Error: {exc.format_message()}", file=sys.stderr)  # type: ignore[attr-defined]
            sys.exit(exc.exit_code)  # type: ignore[attr-defined]
        if "Abort" in kinds:
            print("Aborted!", file=sys.stderr)
            sys.exit(1)
        raise
    sys.exit(code if isinstance(code, int) else 0)


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
