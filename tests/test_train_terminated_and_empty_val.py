"""Hunt 44: a fit ended by SIGTERM exited 0 and printed nothing (Lightning's SIGTERMException is a SystemExit without
a code), so ``abrnet train ... && abrnet evaluate ...`` went on with a folder holding no best.ckpt or metrics.json;
and a small cohort whose patients all fell in class strata of fewer than 3 trained with an empty validation split
(best.ckpt the last step, no series stage, evaluation skipped, exit 0). Both now end in one line and a non-zero exit.
"""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path
from typing import Any

import lightning as L
import pytest
from typer.testing import CliRunner

import abrnet.training.run as run_mod
from abrnet.cli.main import app
from abrnet.config.train_config import load_config
from abrnet.data.io import save_cohort
from abrnet.data.simulate import SimulationConfig, simulate_cohort
from abrnet.data.splits import split_patients
from abrnet.training.terminated import EXIT_TERMINATED, TerminatedError

from .conftest import make_toy_cohort

TINY = ["model.preset=tiny", "data.batch_size=8", "trainer.max_minutes=null"]


def _cli(*args: str) -> tuple[int, list[str]]:
    """`abrnet ARGS` in process → (exit code, non-empty output lines)."""
    res = CliRunner().invoke(app, list(args), env={"COLUMNS": "400"})
    return res.exit_code, [line for line in res.output.splitlines() if line.strip()]


def _train_args(data: Path, out: Path, *settings: str) -> list[str]:
    args = ["train", "--data", str(data), "--out", str(out), "--balanced-patients", "0"]
    for item in (*TINY, *settings):
        args += ["--set", item]
    return args


# ----------------------------------------------------------------------------------------------------- SIGTERM
class TermAt(L.Callback):
    """Send this process SIGTERM as step `k` ends, as `kill`, `timeout` or a scheduler would."""

    def __init__(self, k: int) -> None:
        self.k = k

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        if trainer.global_step == self.k:
            # Lightning's handler must be in place, or the signal would end pytest itself
            assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, signal.SIG_IGN, None)
            os.kill(os.getpid(), signal.SIGTERM)


@pytest.fixture
def term_at(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Add `TermAt(k)` to the run's trainer (`run._trainer` gets the callbacks `build_trainer` chose)."""
    real = run_mod._trainer

    def arm(k: int) -> None:
        def trainer(cfg: Any, out_dir: Path, callbacks: list, *rest: Any) -> L.Trainer:
            return real(cfg, out_dir, [*callbacks, TermAt(k)], *rest)

        monkeypatch.setattr(run_mod, "_trainer", trainer)

    return arm


@pytest.fixture(scope="module")
def cohort_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("terminated")
    return save_cohort(simulate_cohort(SimulationConfig(n_patients=20), seed=11), root / "c.h5")


def test_a_terminated_train_exits_143_saying_the_step_and_how_to_resume(cohort_file, tmp_path, term_at) -> None:
    term_at(3)  # last.ckpt was saved at step 2
    out = tmp_path / "run"
    code, lines = _cli(*_train_args(cohort_file, out, "trainer.max_steps=8", "trainer.val_every_n_steps=2"))
    assert code == EXIT_TERMINATED == 143, lines
    errors = [line for line in lines if line.startswith("error:")]
    assert errors == [lines[-1]], lines  # one line, the last
    assert f"{out}: training terminated (SIGTERM) at step 3 of 8" in errors[0]
    assert f"it holds last.ckpt (saved every 2 steps): continue with --resume {out / 'last.ckpt'}" in errors[0]
    assert (out / "last.ckpt").is_file() and not (out / "metrics.json").exists()


def test_a_train_terminated_before_its_first_checkpoint_says_it_holds_none(cohort_file, tmp_path, term_at) -> None:
    term_at(1)
    out = tmp_path / "run"
    code, lines = _cli(*_train_args(cohort_file, out, "trainer.max_steps=8", "trainer.val_every_n_steps=4"))
    assert code == 143, lines
    assert "at step 1 of 8" in lines[-1] and "it holds no checkpoint (the first is saved at step 4)" in lines[-1]
    assert not (out / "last.ckpt").exists()


def test_the_python_api_raises_training_terminated_not_a_silent_system_exit(term_at, tmp_path) -> None:
    term_at(2)
    cfg = load_config(None, [*TINY, "trainer.max_steps=6", "trainer.val_every_n_steps=6", "series.enabled=false"])
    with pytest.raises(TerminatedError, match=r"terminated \(SIGTERM\) at step 2 of 6"):
        run_mod.train(cfg, tmp_path / "run", enable_progress_bar=False, cohort=make_toy_cohort())
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # Lightning's handler was taken down again


# ------------------------------------------------------------------------------------------ empty validation split
def test_an_empty_validation_split_is_refused_naming_the_file_before_a_folder_is_made(tmp_path: Path) -> None:
    data = save_cohort(make_toy_cohort(n_patients=4), tmp_path / "lab4.h5")  # 4 patients, 4 classes: all in train
    assert len(split_patients(make_toy_cohort(n_patients=4), seed=0).val) == 0
    out = tmp_path / "run"
    code, lines = _cli(*_train_args(data, out, "trainer.max_steps=2", "trainer.val_every_n_steps=2"))
    assert code == 2 and len(lines) == 1, lines
    assert f"{data}: field 'data.val_fraction': the validation split is empty: 4 patients, and no class" in lines[0]
    assert "it chooses best.ckpt and fits the series stage: train on more patients (3 or more in a class)" in lines[0]
    assert not out.exists()


def test_a_validation_fraction_that_rounds_to_no_patient_is_refused_with_a_value_that_works(tmp_path) -> None:
    """With no test split `split_patients` holds out no minimum, so 0.1 of classes of 2-3 patients rounds to none;
    the value the message offers does give a validation split."""
    cohort = make_toy_cohort(n_patients=12)  # classes of 3, 3, 2, 2, 2 patients
    data = save_cohort(cohort, tmp_path / "c.h5")
    code, lines = _cli(*_train_args(data, tmp_path / "run", "data.test_fraction=0", "trainer.max_steps=2"))
    assert code == 2 and len(lines) == 1, lines
    assert "the validation split is empty: data.val_fraction 0.1 of a class's patients (at most 3) rounds" in lines[0]
    above = float(re.search(r"raise data\.val_fraction above ([0-9.]+)", lines[0]).group(1))
    assert len(split_patients(cohort, seed=0, val_fraction=above + 0.01, test_fraction=0.0).val) > 0


@pytest.mark.filterwarnings("ignore:series classifier not fitted")  # one validation patient: one class
def test_an_empty_test_split_trains_and_says_evaluation_was_skipped_in_one_line(tmp_path: Path) -> None:
    """Decided: a validation split but no test patients (a class of 2 with val_fraction 0.3 gives one to validation,
    0.15 of 2 rounds to none) keeps the model, and `train` and `evaluate` each say why in one line."""
    cohort = simulate_cohort(SimulationConfig(n_patients=3), seed=1)  # classes of 2 and 1 patients
    data = save_cohort(cohort, tmp_path / "c.h5")
    out = tmp_path / "run"
    settings = ("data.val_fraction=0.3", "trainer.max_steps=2", "trainer.val_every_n_steps=2")
    code, lines = _cli(*_train_args(data, out, *settings))
    assert code == 0, lines
    skipped = [line for line in lines if "evaluation skipped" in line]
    assert len(skipped) == 1 and "the 'test' split has no records" in skipped[0], lines
    assert (out / "best.ckpt").is_file()
    code, lines = _cli("evaluate", "--checkpoint", str(out / "best.ckpt"), "--out", str(tmp_path / "ev"))
    assert code == 2 and len(lines) == 1 and "the 'test' split has no records" in lines[0], lines
