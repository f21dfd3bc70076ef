"""A fit ended by SIGTERM (kill, `timeout`, docker stop, a scheduler's pre-emption): one line, exit status 143.

Why: Lightning turns SIGTERM into its SIGTERMException, a SystemExit without a code, so `abrnet train` exited 0 and
printed nothing, and ``abrnet train ... && abrnet evaluate ...`` went on with a folder holding no best.ckpt or
metrics.json. `run.train` turns it into `TrainingTerminatedError`, which the CLI's one error mapping
(`abrnet.cli.common.user_errors`) prints and exits with. Kept free of torch and Lightning: that mapping imports it
for every command.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # no runtime import: the CLI's error mapping loads this module for every command
    from abrnet.config.train_config import TrainConfig

EXIT_TERMINATED = 143  # 128 + SIGTERM (15): what a shell reports for a process the signal ended


class TrainingTerminatedError(Exception):
    """The fit was stopped by SIGTERM before it finished; the message says where and what the run folder holds."""

    exit_code = EXIT_TERMINATED


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
