"""A command ended by SIGTERM (kill, `timeout`, docker stop, a scheduler's pre-emption): one line, exit status 143.

Why: Lightning turns SIGTERM into its SIGTERMException, a SystemExit without a code, so `abrnet train` exited 0 and
printed nothing, and ``abrnet train ... && abrnet evaluate ...`` went on with a folder holding no best.ckpt or
metrics.json. `run.train` turns it into `TerminatedError`, which the CLI's one error mapping
(`abrnet.cli.common.user_errors`) prints and exits with. Outside a fit nothing handled it, so Python ended the
process at once, without a word: after the fit (the series stage, the evaluation: minutes), in `abrnet evaluate` and
in every command that writes files (predict, denoise, generate, simulate, data import/export/plot, model export);
`sigterm_raises` gives those their own line. Kept free of torch and Lightning: that mapping imports it for
every command.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # no runtime import: the CLI's error mapping loads this module for every command
    from abrnet.config.train_config import TrainConfig

EXIT_TERMINATED = 143  # 128 + SIGTERM (15): what a shell reports for a process the signal ended


class TerminatedError(BaseException):
    """A command was stopped by SIGTERM before it finished; the message says where, and what is kept to finish it.
    A BaseException, as KeyboardInterrupt is: an ``except Exception`` on the way (a checkpoint reader's "not a
    checkpoint") must not turn a stop into another error."""

    exit_code = EXIT_TERMINATED


@contextlib.contextmanager
def sigterm_raises(message: str) -> Iterator[None]:
    """While the block runs, SIGTERM raises `TerminatedError(message)` (so the CLI prints it and exits 143); the
    previous handler is put back after. Main thread only (elsewhere a no-op: only it may set handlers). Never around
    a fit: Lightning calls a handler it finds beside its own, which would cut its graceful stop short."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum: int, frame: object) -> None:
        raise TerminatedError(message)

    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def after_fit_message(out_dir: Path, phase: str, training: dict) -> str:
    """One line for `abrnet train` ended by SIGTERM after its fit, during `phase`, from the fit's `training` record
    (`run.training_record`): --resume of last.ckpt (saved as every fit ends) trains what the fit still lacks — no
    step after a whole fit, the rest after a safety stop — then fits the series stage and evaluates."""
    resume = f"the same command with --resume {out_dir / 'last.ckpt'}"
    said = f"{out_dir}: terminated (SIGTERM) after the fit, {phase}"
    if training.get("stopped_by") == "safety_stop":
        return f"{said}; the safety stop had ended the fit at step {training['steps']}: {resume} continues it"
    return f"{said}; the fit is whole: {resume} finishes the run without training a step"


def unfinished_message(command: str) -> str:
    """One line for a command that writes files (`abrnet <command>`) ended by SIGTERM. Every output is staged
    (`abrnet.data.files.staged_write`), and the exception unwinds through it, so what the line says holds: an output
    is whole or not there, a file it was replacing as it was, and no staged file is left beside it."""
    return (
        f"abrnet {command}: terminated (SIGTERM) before it finished; each output is whole or not written (a file it "
        "was replacing is as it was): the same command runs it again, with --force where it had written one"
    )


def terminated_message(cfg: TrainConfig, out_dir: Path, step: int) -> str:
    """One line: the step the fit stopped at, and what the folder holds to continue from (last.ckpt, written every
    ``trainer.val_every_n_steps``, or nothing). Why say the folder: a best.ckpt of the unfinished fit may be there
    too, and it is not the budgeted model (no series stage, no metrics.json)."""
    every, max_steps = cfg.trainer.val_every_n_steps, cfg.trainer.max_steps
    of = f" of {max_steps}" if max_steps else ""
    last = out_dir / "last.ckpt"
    if last.exists():
        holds = f"it holds last.ckpt (saved every {every} steps): continue with --resume {last} and the same options"
    else:
        holds = f"it holds no checkpoint (the first is saved at step {every}): train again into a new folder"
    return (
        f"{out_dir}: training terminated (SIGTERM) at step {step}{of}, before the series stage and metrics.json; "
        f"{holds}"
    )
