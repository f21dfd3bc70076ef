"""A warning abrnet's own code raises prints as one CLI ``warning:`` line; a library's keeps Python's format."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from abrnet.cli.main import PACKAGE_DIR, our_warnings_as_lines


def _emit(filename: str, message: str) -> None:
    warnings.warn_explicit(message, UserWarning, filename, 12)


def test_our_warning_is_one_line_and_a_librarys_keeps_its_form(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ours = str(PACKAGE_DIR / "training" / "run.py")
    theirs = str(Path(pytest.__file__))
    passed_on: list[tuple[str, str]] = []  # what reached the hook in place before (Python's printer)
    monkeypatch.setattr(warnings, "showwarning", lambda m, c, f, n, file=None, line=None: passed_on.append((f, str(m))))
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        with our_warnings_as_lines():
            _emit(ours, "series classifier not fitted (one class); per-ear classes use the geometric mean")
            _emit(theirs, "a library's notice")
        _emit(ours, "outside the CLI")  # the hook in place before is back on leaving
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert err == ["warning: series classifier not fitted (one class); per-ear classes use the geometric mean"]
    assert passed_on == [(theirs, "a library's notice"), (ours, "outside the CLI")]


def test_the_console_script_runs_every_command_inside_the_hook(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`main` (the `abrnet` script) wraps the app: the series stage's notice from a `train` printed in Python's form,
    ``.../training/run.py:262: UserWarning: series classifier not fitted (...)`` and the statement on a second line."""
    import abrnet.cli.main as cli_main

    def app(**kwargs: object) -> int:  # stands in for a command whose run raises the stage's warning
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            _emit(str(PACKAGE_DIR / "training" / "run.py"), "series classifier not fitted (one class)")
        return 0

    monkeypatch.setattr(cli_main, "app", app)
    with pytest.raises(SystemExit) as done:
        cli_main.main()
    assert done.value.code == 0
    assert capsys.readouterr().err.splitlines() == ["warning: series classifier not fitted (one class)"]
