"""A write that stops half-way leaves the earlier file whole (`abrnet.data.files.staged_write`).

Every writer wrote its target in place, so ``--force`` emptied an earlier result the moment the write began: a write
that then stopped (a full disk, Ctrl-C, a scheduler's SIGTERM) lost the old file and left a truncated one under its
name, which reads as whole (a CSV cut after a row is still a CSV). And ``new/../x.csv`` left an empty ``new/``: the
writer made the folder as typed. Each test below fails on the in-place writers.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import abrnet.data.csv_io as csv_io
import abrnet.data.io as cohort_io
from abrnet.data.csv_io import write_wide_csv
from abrnet.data.files import staged_write, write_json
from abrnet.data.io import save_cohort
from abrnet.inference.result_tables import write_columns_csv
from abrnet.training.terminated import EXIT_TERMINATED
from tests.conftest import make_toy_cohort
from tests.test_train_terminated_and_empty_val import _cli

OLD = "patient_id,ear\nthe earlier result,R\n"


def _only_files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_a_csv_write_that_fails_between_rows_leaves_the_old_file_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "records.csv"
    out.write_text(OLD)
    real, calls = csv_io.float32_texts, []

    def fails_on_the_third_row(values: np.ndarray) -> list[str]:
        calls.append(1)
        if len(calls) == 7:  # four calls per row: the header and the first row are written by now
            raise OSError(28, "No space left on device")
        return real(values)

    monkeypatch.setattr(csv_io, "float32_texts", fails_on_the_third_row)
    with pytest.raises(OSError, match="No space left"):
        write_wide_csv(make_toy_cohort(2), out, force=True)
    assert out.read_text() == OLD
    assert _only_files(tmp_path) == ["records.csv"]  # no staged file left beside it
    monkeypatch.setattr(csv_io, "float32_texts", real)
    write_wide_csv(make_toy_cohort(2), out, force=True)  # and the same call, uninterrupted, replaces it
    assert out.read_text().startswith("patient_id,") and len(out.read_text().splitlines()) > 2


def test_ctrl_c_during_a_cohort_write_leaves_the_old_file_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "cohort.h5"
    save_cohort(make_toy_cohort(2), out)
    before = out.read_bytes()

    def interrupted(f: object, cohort: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cohort_io, "_write", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_cohort(make_toy_cohort(3), out, force=True)
    assert out.read_bytes() == before and _only_files(tmp_path) == ["cohort.h5"]


def test_a_sigterm_mid_write_leaves_the_old_file_whole(tmp_path: Path) -> None:
    """The process a scheduler ends (default SIGTERM: no Python cleanup at all) while it writes: the old file is
    untouched; only the hidden staged file is left."""
    out = tmp_path / "results.csv"
    out.write_text(OLD)
    script = textwrap.dedent(
        f"""
        import os, signal
        from abrnet.data.files import staged_write
        with staged_write({str(out)!r}, overwrite=True) as staged:
            with staged.open("w") as fh:
                fh.write("patient_id,ear\\nhalf a ro")
                fh.flush()
                os.kill(os.getpid(), signal.SIGTERM)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == -signal.SIGTERM, done.stderr
    assert out.read_text() == OLD
    assert _only_files(tmp_path) == [".results.partial.csv", "results.csv"]


def test_a_dotdot_behind_a_missing_folder_makes_no_folder(tmp_path: Path) -> None:
    write_json({"a": 1}, tmp_path / "new" / ".." / "x.json", overwrite=False)
    write_columns_csv({"a": np.array([1.0])}, tmp_path / "new" / "deeper" / ".." / ".." / "y.csv")
    assert _only_files(tmp_path) == ["x.json", "y.csv"]
    assert json.loads((tmp_path / "x.json").read_text()) == {"a": 1}
    write_columns_csv({"a": np.array([2.0])}, tmp_path / "made" / "z.csv")  # a folder on the way is still made
    assert (tmp_path / "made" / "z.csv").read_text() == "a\n2\n"


def test_force_keeps_the_old_file_s_permissions_and_writes_through_a_symlink(tmp_path: Path) -> None:
    real = tmp_path / "shared" / "results.csv"
    real.parent.mkdir()
    real.write_text(OLD)
    os.chmod(real, 0o640)
    (tmp_path / "link.csv").symlink_to(real)
    write_columns_csv({"a": np.array([1.0])}, tmp_path / "link.csv", force=True)
    assert (tmp_path / "link.csv").is_symlink() and real.read_text() == "a\n1\n"
    assert real.stat().st_mode & 0o777 == 0o640


def test_a_file_another_process_made_meanwhile_is_not_replaced(tmp_path: Path) -> None:
    out = tmp_path / "x.json"
    refused = pytest.raises(FileExistsError, match=r"x\.json: file exists \(written meanwhile\)")
    with refused, staged_write(out, overwrite=False) as staged:
        staged.write_text("mine")
        out.write_text("theirs")
    assert out.read_text() == "theirs" and _only_files(tmp_path) == ["x.json"]


def test_an_error_inside_the_block_leaves_no_file_where_there_was_none(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="stopped"), staged_write(tmp_path / "out" / "a.png", overwrite=False) as f:
        f.write_bytes(b"\x89PNG half")
        raise ValueError("stopped")
    assert _only_files(tmp_path) == ["out"]  # the folder a write needs is made; no file in it


# ------------------------------------------------------------------------------------ commands ended by SIGTERM
def _sigterm_on_call(n: int, real: Callable[..., Any]) -> Callable[..., Any]:
    """`real`, except that its n-th call sends this process SIGTERM (as `kill` or a scheduler does) first."""
    calls: list[int] = []

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == n:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(10)  # the handler runs between bytecodes: at once
            raise AssertionError("SIGTERM did not reach a handler that raises")
        return real(*args, **kwargs)

    return wrapped


@pytest.mark.parametrize(
    ("args", "module", "name", "n"),
    [
        (["data", "export", "{d}/c.h5", "--out", "{d}/old.csv", "--force"], csv_io, "float32_texts", 7),
        (["simulate", "--patients", "1", "--out", "{d}/old.h5", "--force"], cohort_io, "_write", 1),
    ],
    ids=["data-export", "simulate"],
)
def test_a_command_ended_by_sigterm_mid_write_says_so_and_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], module: Any, name: str, n: int
) -> None:
    """One line and exit 143 (Python's default ended it without a word), the file it was replacing as it was, no
    staged file left; the same command then runs to the end."""
    save_cohort(make_toy_cohort(2), tmp_path / "c.h5")
    (tmp_path / "old.csv").write_text(OLD)
    (tmp_path / "old.h5").write_text(OLD)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    argv = [a.format(d=tmp_path) for a in args]
    with monkeypatch.context() as patch:
        patch.setattr(module, name, _sigterm_on_call(n, getattr(module, name)))
        code, lines = _cli(*argv)
    command = " ".join(argv[:2]) if argv[0] == "data" else argv[0]
    assert code == EXIT_TERMINATED, lines
    assert lines[-1] == (
        f"error: abrnet {command}: terminated (SIGTERM) before it finished; each output is whole or not written (a "
        "file it was replacing is as it was): the same command runs it again, with --force where it had written one"
    )
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    code, lines = _cli(*argv)
    assert code == 0, lines
    assert {p.name for p in tmp_path.iterdir()} == set(before)
    assert (tmp_path / argv[argv.index("--out") + 1]).read_bytes() != before[Path(argv[argv.index("--out") + 1]).name]
