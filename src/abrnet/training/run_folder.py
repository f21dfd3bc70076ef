"""What a training run may write into and resume from, checked before anything is written.

Why here and not in the CLI: a run folder is the training layer's product (checkpoints, config.yaml, metrics), and
the rules that protect it (a new fit never writes over another run's outputs; --resume continues exactly the fit it
names, with its own config and on the same data) belong beside the code that writes it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pydantic

from abrnet.config.train_config import TrainConfig, format_validation_error
from abrnet.data.files import file_sha256, write_target
from abrnet.data.schema import DataError
from abrnet.inference.checkpoint import DATA_SHA256_KEY, as_current_config, read_checkpoint

RUN_OUTPUTS = ("best.ckpt", "last.ckpt", "config.yaml", "metrics.json", "metrics.md", "run.json", "alerts.jsonl")
RUN_FOLDERS = ("csv", "tensorboard", "figures")
# keys a resumed fit may change: where and how it runs, not what it fits
RESUME_FREE_KEYS = {
    "trainer.devices", "trainer.strategy", "trainer.accelerator", "trainer.num_nodes", "trainer.safety_stop_minutes",
    "trainer.log_every_n_steps", "data.num_workers", "data.cache_dir",
}  # fmt: skip


def check_out_folder(out_dir: Path, resume: Path | None) -> None:
    """Nothing is overwritten: a new fit needs a folder without a run's outputs, and --resume may not continue into a
    folder holding another run's model (`run.train` only looks for checkpoints, and only without --resume). The
    folder is read where the run writes (`write_target`): ``new/../old_run`` with ``new/`` missing held nothing as
    typed, and the run then wrote over old_run's outputs."""
    place = write_target(out_dir)
    if place.exists() and not place.is_dir():
        raise DataError(str(out_dir), "--out", "is a file, not a run folder")
    if resume is not None:
        if out_dir.resolve() != resume.parent.resolve() and any(
            (place / name).exists() for name in ("best.ckpt", "last.ckpt")
        ):
            raise DataError(str(out_dir), "--out", f"holds another run's model; --resume {resume} would replace it")
        return
    if not is_first_process():  # rank 0 has made the folder already (DDP re-runs this command per rank)
        return
    found = [n for n in (*RUN_OUTPUTS, *RUN_FOLDERS) if (place / n).exists()]
    if found:
        hint = (f"; continue it with --resume {out_dir / 'last.ckpt'}" if "last.ckpt" in found
                else "; it saved no checkpoint (stopped before its first), so there is nothing to resume")  # fmt: skip
        raise DataError(str(out_dir), "--out", f"holds a run's outputs ({', '.join(found)}): choose a new folder{hint}")


def check_resume(resume: Path, cfg: Any) -> None:
    """Before anything is written: --resume must be a whole Lightning checkpoint of this config. A folder, a corrupt
    file or another run's config were tracebacks after the run folder's config.yaml had been replaced, and a
    changed config silently continued a different fit under the old run's name."""
    ckpt = read_checkpoint(resume, field="--resume")
    hp = ckpt.get("hyper_parameters")
    missing = [k for k in ("state_dict", "optimizer_states", "loops") if k not in ckpt]
    if not isinstance(hp, dict) or not isinstance(hp.get("config"), dict) or missing:
        raise DataError(str(resume), "--resume", "not a full abrnet training checkpoint (use RUN/last.ckpt)")
    try:
        stored = TrainConfig.model_validate(as_current_config(hp["config"]))
    except pydantic.ValidationError as exc:
        raise DataError(str(resume), "--resume", f"its config is invalid ({format_validation_error(exc)})") from None
    was, now = _flat(stored.model_dump(mode="json")), _flat(cfg.model_dump(mode="json"))
    if was.get("data.path") and now.get("data.path"):
        was["data.path"], now["data.path"] = (str(Path(d["data.path"]).resolve()) for d in (was, now))
    diff = [k for k in sorted(was.keys() | now.keys()) if k not in RESUME_FREE_KEYS and was.get(k) != now.get(k)]
    if diff:
        shown = "; ".join(f"{k}: {was.get(k)!r} there, {now.get(k)!r} here" for k in diff[:4])
        more = f" (and {len(diff) - 4} more)" if len(diff) > 4 else ""
        raise DataError(
            str(resume), "--resume", f"trained with another config ({shown}{more}); pass the run's config.yaml"
        )
    check_same_data(
        ckpt.get(DATA_SHA256_KEY), cfg.data.path, since="the run --resume continues started",
        remedy="resume on the same file, or train anew into another --out",
    )  # fmt: skip


def check_same_data(recorded: str | None, path: str | Path | None, *, since: str, remedy: str) -> None:
    """The data file at ``path`` still holds the bytes of SHA-256 ``recorded`` (None: nothing recorded, nothing to
    compare), or one line saying it changed ``since`` what and what to do (``remedy``).

    Why: the config names the data file by its path, so a lab re-importing its exports into the same lab.h5 between
    two legs of a run had steps 5–8 fitted on another cohort without a word (hunt 44 #1), and an evaluation read the
    "test split" of the new file: other patients, some of them trained on."""
    if recorded is None or path is None or not Path(path).is_file():  # a missing file: its reader says so
        return
    now = file_sha256(path)
    if now != recorded:
        raise DataError(
            str(path), "data.path", f"changed since {since} (SHA-256 {recorded[:12]}… then, {now[:12]}… now); {remedy}"
        )


def _flat(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` → ``{"a.b": 1}`` (model overrides stay one value)."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and name != "model.overrides":
            flat |= _flat(value, f"{name}.")
        else:
            flat[name] = value
    return flat


def is_first_process() -> bool:
    """No launcher has given this process a rank above 0 (DDP, torchrun or SLURM)."""

    keys = ("LOCAL_RANK", "NODE_RANK", "RANK", "SLURM_PROCID")
    return all(os.environ.get(k, "0") == "0" for k in keys)
