"""SIGTERM after the fit (series stage, evaluation) and in `abrnet evaluate`: one line, exit 143, and the advice works.

Why: only the fit had a handler (Lightning's, turned into its one line by `run.train`). Once it returned, Python's
default ended the process at once and without a word, minutes before the run was whole (a scheduler's time limit
lands there as often as anywhere), and `abrnet evaluate` the same. Each phase now says what is kept and which command
finishes it; the tests run that command.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

import abrnet.evaluation.evaluate as evaluate_mod
import abrnet.evaluation.generation_choice as generation_choice
import abrnet.training.run as run_mod
from abrnet.data.io import save_cohort
from abrnet.data.simulate import SimulationConfig, simulate_cohort
from abrnet.training.terminated import EXIT_TERMINATED, TerminatedError, after_fit_message, sigterm_raises

from .test_train_terminated_and_empty_val import _cli, _train_args


def _sigterm(*args: object, **kwargs: object) -> None:
    """What `kill`, `timeout` or a scheduler does to the process, then wait for the handler to act."""
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(10)  # a handler runs between bytecodes: here, at once
    raise AssertionError("SIGTERM did not reach a handler that raises")


@pytest.fixture(scope="module")
def cohort_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("after_fit")
    return save_cohort(simulate_cohort(SimulationConfig(n_patients=20), seed=11), root / "c.h5")


def test_sigterm_raises_its_line_in_the_block_and_puts_the_previous_handler_back() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(TerminatedError, match=r"^stopped in the block$"), sigterm_raises("stopped in the block"):
        _sigterm()
    assert signal.getsignal(signal.SIGTERM) is before
    assert issubclass(TerminatedError, BaseException) and not issubclass(TerminatedError, Exception)


def test_after_a_safety_stop_the_line_says_resume_continues_the_fit_not_that_it_is_whole(tmp_path: Path) -> None:
    """A fit the wall-clock guard cut short is not whole: --resume trains its remaining steps (a step budget)."""
    cut = after_fit_message(
        tmp_path, "while evaluating", {"steps": 1290, "max_steps": 1400, "stopped_by": "safety_stop"}
    )
    assert cut == (
        f"{tmp_path}: terminated (SIGTERM) after the fit, while evaluating; the safety stop had ended the fit at step "
        f"1290: the same command with --resume {tmp_path / 'last.ckpt'} continues it"
    )
    whole = after_fit_message(
        tmp_path, "while evaluating", {"steps": 1400, "max_steps": 1400, "stopped_by": "max_steps"}
    )
    assert whole.endswith("the fit is whole: the same command with --resume " + f"{tmp_path / 'last.ckpt'} finishes "
                          "the run without training a step")  # fmt: skip


@pytest.mark.parametrize(
    ("target", "phase"),
    [(run_mod, "fit_series_stage"), (evaluate_mod, "evaluate_model")],
    ids=["series stage", "evaluation"],
)
def test_train_terminated_after_its_fit_says_so_and_resume_finishes_the_run(
    cohort_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: object, phase: str
) -> None:
    out = tmp_path / "run"
    args = _train_args(cohort_file, out, "trainer.max_steps=4", "trainer.val_every_n_steps=2")
    with monkeypatch.context() as patch:
        patch.setattr(target, phase, _sigterm)
        code, lines = _cli(*args)
    assert code == EXIT_TERMINATED, lines
    said = "while fitting the series stage" if phase == "fit_series_stage" else "while evaluating"
    assert lines[-1] == (
        f"error: {out}: terminated (SIGTERM) after the fit, {said}; the fit is whole: the same command with "
        f"--resume {out / 'last.ckpt'} finishes the run without training a step"
    ), lines
    assert not (out / "metrics.json").exists()
    if phase == "fit_series_stage":  # the resume below fits the stage again too: once is enough for the suite's time
        return
    code, lines = _cli(*args, "--resume", str(out / "last.ckpt"))  # the advice, taken
    assert code == 0, lines
    assert (out / "metrics.json").is_file() and any("trained 4 optimizer steps" in line for line in lines), lines
    assert any("fitting the series stage" in line for line in lines), lines  # what a stop in the stage lacked too


GENERATION = ["--generation", "--generation-n", "12", "--generation-choice-n", "8", "--generation-steps", "2"]
GENERATION += ["--generation-guidance", "1", "--generation-sampler", "ddim"]  # as test_evaluate_overwrite: fast


@pytest.mark.parametrize(
    ("target", "phase", "options"),
    [(evaluate_mod, "evaluate_model", []), (generation_choice, "evaluate_generation_chosen_on_val", GENERATION)],
    ids=["metrics", "generation"],
)
def test_evaluate_terminated_says_so_and_the_same_command_finishes_it(
    tiny_run: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: object, phase: str, options: list[str]
) -> None:
    out, checkpoint = tmp_path / "ev", tiny_run["dir"] / "best.ckpt"  # the shared run's checkpoint is only read
    args = ("evaluate", "--checkpoint", str(checkpoint), "--out", str(out), "--balanced-patients", "0", *options)
    with monkeypatch.context() as patch:
        patch.setattr(target, phase, _sigterm)  # after the start marker (metrics), after metrics.json (generation)
        code, lines = _cli(*args)
    assert code == EXIT_TERMINATED, lines
    assert (
        lines[-1] == f"error: {out}: evaluation terminated (SIGTERM) before it finished; the same command finishes it"
    )
    assert (out / "metrics.json").exists() == bool(options) and not (out / "generation.json").exists()
    code, lines = _cli(*args)  # no --force: what it wrote says it is the same evaluation
    assert code == 0, lines
    assert (out / "metrics.json").is_file() and (out / "generation.json").exists() == bool(options)
