"""Click's own usage errors through the `abrnet` console script (`cli.main.main`): one line on stderr, exit code 2,
like every other bad input (hunt 11: a mistyped option got Typer's multi-line box), and in the same words as our own
refusals: ``error: abrnet <command>: field '<option>': <message>`` (hunt 15 #12: they read ``Error: abrnet predict:
Option '--out' requires an argument.`` beside ``error: predict: field '--group-by': ...``)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

# error: <command path>: field '<field>': <message>[ (see <command path> --help)]
LINE = re.compile(r"^error: (abrnet(?: [a-z]+)*): field '([^']+)': (.+?)(?: \(see (abrnet(?: [a-z]+)*) --help\))?$")


def _abrnet(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    code = "from abrnet.cli.main import main; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120, cwd=cwd, check=False
    )


def _one_line(res: subprocess.CompletedProcess[str]) -> re.Match[str]:
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(lines) == 1, (res.returncode, res.stderr)
    assert "╭" not in res.stderr and "Traceback" not in res.stderr and res.stdout == ""
    match = LINE.match(lines[0])
    assert match is not None, lines[0]
    return match


@pytest.mark.parametrize(
    ("args", "command", "field", "message"),
    [
        (("evaluate", "--bogus"), "abrnet evaluate", "--bogus", "no such option"),
        (("predict",), "abrnet predict", "INPUT...", "required argument, not given"),
        (("predict", "x.csv"), "abrnet predict", "--out", "required option, not given"),
        (("simulate", "--patients"), "abrnet simulate", "--patients", "requires an argument"),
        # Click gives an option missing its value no command: the line named "abrnet" and pointed at its --help
        (("predict", "--out"), "abrnet predict", "--out", "requires an argument"),
        (("data", "import", "x.csv", "--out"), "abrnet data import", "--out", "requires an argument"),
        (("data", "describe", "a", "b"), "abrnet data describe", "<arguments>", "got unexpected extra argument"),
        (("frobnicate",), "abrnet", "<command>", "no such command 'frobnicate'"),
    ],
)
def test_a_usage_error_is_one_line_in_our_style_with_exit_code_2(
    args: tuple[str, ...], command: str, field: str, message: str
) -> None:
    match = _one_line(_abrnet(*args))
    assert match.group(1) == command and match.group(4) == command, match.group(0)  # the command and its --help
    assert match.group(2) == field and match.group(3).startswith(message), match.group(0)


def test_a_bad_parameter_value_names_its_option() -> None:
    match = _one_line(_abrnet("simulate", "--patients", "abc"))
    assert match.group(1) == "abrnet simulate" and match.group(2) == "--patients", match.group(0)
    assert match.group(3).startswith("invalid value: "), match.group(0)


def test_our_refusal_of_an_option_reads_like_clicks(tmp_path: Path) -> None:
    """``--group-by x`` is refused by predict itself, ``--out`` with no value by Click: both name the command the
    user typed (ours said ``predict``), the field and the problem, in one format and with exit code 2."""
    (tmp_path / "in.csv").write_text("not read: the option is refused first\n")
    ours = _one_line(_abrnet("predict", "in.csv", "--out", "r.csv", "--group-by", "x", cwd=tmp_path))
    clicks = _one_line(_abrnet("predict", "in.csv", "--out", cwd=tmp_path))
    assert ours.group(1) == clicks.group(1) == "abrnet predict", (ours.group(0), clicks.group(0))
    assert (ours.group(2), clicks.group(2)) == ("--group-by", "--out")
    assert ours.group(3) == "must be patient_id,ear; got 'x'", ours.group(0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


@pytest.mark.parametrize(
    ("typed", "suggested"),
    [
        ("--bogus", None),  # Click suggested "--out" (difflib's 0.6 cutoff: "--", "o" and "u" in common)
        ("--n", None),  # Click: "--json, --units"
        ("--outt", "--out"),
        ("--grup-by", "--group-by"),
        ("--forse", "--force"),
    ],
)
def test_an_unknown_option_suggests_only_a_likely_typo(typed: str, suggested: str | None) -> None:
    match = _one_line(_abrnet("predict", "fx.csv", "--out", "x.csv", typed))
    assert match.group(2) == typed, match.group(0)
    if suggested is None:
        assert match.group(3) == "no such option", match.group(0)
    else:
        assert match.group(3) == f"no such option; did you mean {suggested}?", match.group(0)


def test_help_and_a_bare_command_still_show_the_help_and_succeed() -> None:
    for args in (("--help",), ()):
        res = _abrnet(*args)
        assert res.returncode == 0, res.stderr
        assert "Usage: abrnet" in res.stdout + res.stderr and "simulate" in res.stdout + res.stderr
