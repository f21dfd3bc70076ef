"""Click's own usage errors through the `abrnet` console script (`cli.main.main`): one line on stderr, exit code 2,
like every other bad input (hunt 11: a mistyped option got Typer's multi-line box)."""

from __future__ import annotations

import subprocess
import sys

import pytest


def _abrnet(*args: str) -> subprocess.CompletedProcess[str]:
    code = "from abrnet.cli.main import main; main()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("evaluate", "--bogus"), "abrnet evaluate: No such option: --bogus"),
        (("predict",), "abrnet predict: Missing argument"),
        (("simulate", "--patients"), "abrnet simulate: Option '--patients' requires an argument"),
        # Click gives an option missing its value no command: the line named "abrnet" and pointed at its --help
        (("predict", "--out"), "abrnet predict: Option '--out' requires an argument"),
        (("data", "import", "x.csv", "--out"), "abrnet data import: Option '--out' requires an argument"),
    ],
)
def test_a_usage_error_is_one_line_with_exit_code_2(args: tuple[str, ...], says: str) -> None:
    res = _abrnet(*args)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    command = says.split(":")[0]
    assert len(lines) == 1 and says in lines[0] and f"(see {command} --help)" in lines[0], res.stderr
    assert "╭" not in res.stderr and "Traceback" not in res.stderr and res.stdout == ""


def test_help_and_a_bare_command_still_show_the_help_and_succeed() -> None:
    for args in (("--help",), ()):
        res = _abrnet(*args)
        assert res.returncode == 0, res.stderr
        assert "Usage: abrnet" in res.stdout + res.stderr and "simulate" in res.stdout + res.stderr
