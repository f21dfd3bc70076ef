"""Number options out of their limits: one line naming the option and exit code 2, never Typer's usage box.

Typer's own ``min=``/``max=`` printed a multi-line usage box and let NaN through (NaN fails every comparison, so
``serve --max-upload-mb nan`` was accepted); the limits are checked by `abrnet.cli.common.check_range` instead. Each
case fails before any model is loaded or file is read.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from abrnet.cli.common import check_range
from abrnet.cli.main import app
from abrnet.data.schema import DataError

runner = CliRunner()

EVALUATE = ["evaluate", "--checkpoint", "missing.ckpt", "--out", "eval-out"]
GENERATE = ["generate", "--out", "g.h5", "--age", "30", "--intensity", "60", "--rate", "21", "--fmp", "3"]

CASES = [
    (["serve", "--port", "70000"], "--port"),
    (["serve", "--port", "-1"], "--port"),
    (["serve", "--max-upload-mb", "0"], "--max-upload-mb"),
    (["serve", "--max-upload-mb", "nan"], "--max-upload-mb"),
    (["serve", "--max-upload-mb", "inf"], "--max-upload-mb"),
    (["simulate", "--out", "c.h5", "--patients", "0"], "--patients"),
    (["simulate", "--out", "c.h5", "--n-samples", "7"], "--n-samples"),
    (["simulate", "--out", "c.h5", "--sampling-rate", "nan"], "--sampling-rate"),
    (["simulate", "--out", "c.h5", "--sampling-rate", "0.5"], "--sampling-rate"),
    (["simulate", "--out", "c.h5", "--sampling-rate", "6000"], "--sampling-rate"),  # the band-pass needs > 6000
    (["simulate", "--out", "c.h5", "--n-samples", "199"], "--n-samples"),  # ends before the wave-V region does
    (["denoise", "in.h5", "--out", "d.h5", "--steps", "0"], "--steps"),
    ([*GENERATE, "--n", "0"], "--n"),
    ([*GENERATE, "--steps", "0"], "--steps"),
    ([*GENERATE, "--eta", "1.5"], "--eta"),
    ([*GENERATE, "--eta", "nan"], "--eta"),
    ([*EVALUATE, "--generation-n", "1"], "--generation-n"),
    ([*EVALUATE, "--generation-steps", "10", "--generation-steps", "0"], "--generation-steps"),
    ([*EVALUATE, "--generation-eta", "-0.1"], "--generation-eta"),
    ([*EVALUATE, "--generation-eta", "nan"], "--generation-eta"),
    ([*EVALUATE, "--generation-guidance", "-1"], "--generation-guidance"),
    ([*EVALUATE, "--generation-guidance", "nan"], "--generation-guidance"),
    ([*EVALUATE, "--generation-choice-n", "1"], "--generation-choice-n"),
    ([*EVALUATE, "--generation-choice-min-count", "0"], "--generation-choice-min-count"),
    ([*EVALUATE, "--generation-min-count", "0"], "--generation-min-count"),
    ([*EVALUATE, "--seed", "-1"], "--seed"),  # an sklearn traceback after evaluation.started.json (hunt 48)
]


@pytest.mark.parametrize(("args", "option"), CASES, ids=[" ".join(a[:1] + a[-2:]) for a, _ in CASES])
def test_out_of_range_option_is_one_line_naming_it(
    args: list[str], option: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # nothing may be written, but if it were, not into the checkout
    res = runner.invoke(app, args)
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert res.exit_code == 2, res.output
    assert len(lines) == 1, res.output
    assert lines[0].startswith("error: ") and f"field '{option}'" in lines[0], res.output
    assert "Usage" not in res.output and "╭" not in res.output
    assert list(tmp_path.iterdir()) == []


def test_limits_are_in_the_help() -> None:
    """Typer printed the ranges in --help; the help strings say them now."""
    res = runner.invoke(app, ["serve", "--help"], env={"COLUMNS": "200"})
    assert res.exit_code == 0 and "0 to 65535" in res.output and ">= 0.001" in res.output
    res = runner.invoke(app, ["evaluate", "--help"], env={"COLUMNS": "200"})
    assert res.exit_code == 0 and "(>= 2)" in res.output and "0 to 1" in res.output


def test_check_range() -> None:
    check_range(None, "--x", minimum=1)
    check_range([1, 2], "--x", minimum=1, maximum=2, integer=True)
    check_range(0.001, "--x", minimum=0.001)
    for value, message in (
        (float("nan"), "must be a finite number, got nan"),
        (float("-inf"), "must be a finite number, got -inf"),
        (0.0, "must be from 1 to 3, got 0"),
        (2.5, "must be a whole number, got 2.5"),
        ([1, 4], "must be from 1 to 3, got 4"),
    ):
        with pytest.raises(DataError) as ei:
            check_range(value, "--x", minimum=1, maximum=3, integer=True, command="cmd")
        assert str(ei.value) == f"abrnet cmd: field '--x': {message}"
    with pytest.raises(DataError, match=r"must be <= 3, got 4$"):
        check_range(4, "--x", maximum=3)
