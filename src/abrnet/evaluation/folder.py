"""An evaluation's `--out` folder: what it holds, read once, and whether this evaluation may replace it.

Only the same evaluation again (checkpoint, data, split and every option alike) may refresh a folder's files without
--force; anything else is refused in one line. What the folder holds is said by metrics.json, written last, or by the
start marker (`STARTED`): `evaluate_checkpoint` writes the marker, recording what metrics.json will record, before its
first figure and removes it after metrics.json and metrics.md. A run that died in between (figures written, no
metrics.json) thus left a folder that says whose files it holds, and the same command run again refreshes them
without --force; another evaluation is still refused, naming the marker.

Why a marker rather than a temporary folder moved into place at the end: moving several files is no more atomic than
writing them (a crash while moving leaves the same half folder, now saying nothing), a stale temporary folder would
need a cleaning rule of its own, and a training run's folder already holds files evaluate keeps (run.json, the
checkpoints, the run record in metrics.json and metrics.md). One small file that says "this evaluation began here" is
enough for the one decision the guard makes.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from abrnet.data.files import file_sha256, json_ready, write_target
from abrnet.data.schema import DataError
from abrnet.inference.checkpoint import LoadedModel
from abrnet.plots.figures import figure_paths
from abrnet.training.run_folder import check_same_data

STARTED = "evaluation.started.json"  # the start marker: removed once metrics.json and metrics.md are written
HINT = "choose another folder or --force"


def evaluation_options(balanced_patients: int = 0, n_bootstrap: int = 200, seed: int = 0) -> dict[str, int]:
    """What shapes an evaluation's files besides its checkpoint, data and split (which metrics.json records apart),
    as metrics.json records it (``options``): the same evaluation again may refresh its files only when every one
    is the same."""
    return {"balanced_patients": int(balanced_patients), "bootstrap": int(n_bootstrap), "seed": int(seed)}


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """Everything that decides an evaluation's files: the same four again make the same evaluation. A checkpoint of
    None is the folder's own (`train --resume` re-evaluating its run folder: recorded by the run, from whatever
    working folder it ran in, so its spelling is not compared)."""

    checkpoint: Path | None
    data: Path | None
    split: str
    options: dict[str, int]

    def record(self, model_content_sha256: str | None = None) -> dict[str, Any]:
        """The four as metrics.json (and the start marker) record them: ``data`` only for a --data file, absolute.
        Why absolute: recorded as typed ("fx.h5"), another folder's fx.h5 passed the check as the same data from
        another working folder and replaced the evaluation, and the same file named from elsewhere was refused. The
        checkpoint stays as typed: `metrics.json` of two runs of one seed are byte-identical apart from `wall_time`
        (a test), and an absolute path names the folder (`_same_checkpoint` and `run_record` also match by model).

        `model_content_sha256`, the loaded checkpoint's, is recorded when given (evaluate gives it, once the model is
        loaded): without it the start marker of a crashed run named the checkpoint only as typed, so the same command
        from another working folder was refused without --force, while its finished metrics.json matched by model."""
        out: dict[str, Any] = {"checkpoint": str(self.checkpoint), "split": self.split, "options": self.options}
        if model_content_sha256 is not None:
            out["model_content_sha256"] = model_content_sha256
        return out if self.data is None else {**out, "data": str(Path(self.data).resolve())}


@dataclasses.dataclass(frozen=True)
class FolderCheck:
    """The guard's decision on one folder: whether the evaluation's files may be replaced, and the folder's
    metrics.json as read for that decision (its run record is carried into the new one: `run_record`)."""

    replace: bool
    previous: dict[str, Any]


def evaluation_outputs(out_dir: str | Path) -> dict[str, Path]:
    """Every file `evaluate_checkpoint` writes into `out_dir`, by name (generation.json is `abrnet evaluate
    --generation`'s own): all are checked before anything is evaluated, once, by whoever calls `check_folder`."""
    out_dir = Path(out_dir)
    figures = {f"figures/{path.name}": path for path in figure_paths(out_dir / "figures")}
    names = ("metrics.json", "metrics.md", STARTED)
    return {**{name: out_dir / name for name in names}, **figures}


def check_folder(
    out_dir: str | Path, evaluation: Evaluation, *, force: bool = False, field: str = "--out", hint: str = HINT
) -> FolderCheck:
    """Whether `evaluation` may replace the evaluation files in `out_dir`: with `force`, or when the folder's record
    (the start marker of a run that did not finish, else metrics.json) is this same evaluation. A one-line DataError
    (naming `field`, ending with `hint`) when the record is of another checkpoint, data, split or options, or records
    none; no record at all is not the same evaluation (a stray metrics.md or figure is then refused by the file check).

    The folder's files are read here and nowhere else, where they are (`write_target`: ``new/../run`` is run while
    ``new/`` is missing, and its record was not read); the caller checks `evaluation_outputs` with ``replace``."""
    out_dir = Path(out_dir)
    place = write_target(out_dir)
    if place.exists() and not place.is_dir():
        raise DataError(str(out_dir), field, "is a file, not a folder")
    previous, previous_problem = _load_json(place / "metrics.json")
    marker, marker_problem = _load_json(place / STARTED)
    if marker is not None:
        path, record, problem = out_dir / STARTED, marker, marker_problem
    else:
        path, record, problem = out_dir / "metrics.json", previous, previous_problem
    if force or record is None:
        return FolderCheck(replace=force, previous=previous or {})
    if problem:  # it records nothing, so nothing says it is this evaluation
        raise DataError(str(path), field, f"is unreadable ({problem}), so it may record another evaluation; {hint}")
    _check_same(path, record, evaluation, field, hint)
    return FolderCheck(replace=True, previous=previous or {})


def _load_json(path: Path) -> tuple[dict[str, Any] | None, str]:
    """(a JSON object file's content, "") ; ({}, why) for one that exists but cannot be read as an object; (None, "")
    when there is no file. Why the reason: a start marker cut short (a run killed while writing it) was refused as
    holding "the metrics of another run"; the refusal now says the file is unreadable, and why."""
    if not path.is_file():
        return None, ""
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        return {}, f"cannot be read: {exc.strerror or exc}"
    except ValueError:
        return {}, "not valid JSON: cut short, or not written by abrnet"
    return (obj, "") if isinstance(obj, dict) else ({}, f"a JSON {type(obj).__name__}, not an object")


def _read_json(path: Path) -> dict[str, Any] | None:
    """`_load_json`'s content alone: {} for a file that records nothing, None when there is no file."""
    return _load_json(path)[0]


def _check_same(path: Path, record: dict[str, Any], evaluation: Evaluation, field: str, hint: str) -> None:
    """A DataError naming `path` for the first of checkpoint, data and split, then options, that differs. The start
    marker is said to hold an unfinished evaluation (hunt 15 #10: "holds this checkpoint's metrics" of a folder that
    held none)."""
    marker = path.name == STARTED
    was, now = record.get("checkpoint"), evaluation.checkpoint
    if now is not None and not _same_checkpoint(record, now):
        if not isinstance(was, str) or not was:
            raise DataError(str(path), field, f"records no checkpoint, so it may be another evaluation; {hint}")
        what = "holds an unfinished evaluation (no metrics.json) of" if marker else "holds the metrics of"
        if Path(was).resolve() == now.resolve():  # the path alone would read as "the same evaluation"
            was = f"another model saved as {was} (it has since been replaced)"
        raise DataError(str(path), field, f"{what} {was}; {hint}")
    was_data, was_split = record.get("data"), record.get("split")
    if not _same_data(was_data if isinstance(was_data, str) else None, evaluation) or was_split != evaluation.split:
        scored = f"{was_data or 'its training cohort'}, {was_split} split"
        unfinished = "holds an unfinished evaluation (no metrics.json) of this checkpoint"
        what = unfinished if marker else "holds this checkpoint's metrics"
        raise DataError(str(path), field, f"{what} on {scored}; {hint}")
    check_options(path, record.get("options"), evaluation.options, field=field, hint=hint)


def _same_checkpoint(record: dict[str, Any], checkpoint: Path) -> bool:
    """Whether a record's checkpoint is `checkpoint`: the same model (the record's ``model_content_sha256``, which
    metrics.json and the start marker hold), whatever its path, and never another model at the same path (a run's
    best.ckpt replaced by another fit). A start marker written before it recorded the model holds none: it matches by
    path alone, as it did.

    Why the model too: the checkpoint is recorded as typed (`Evaluation.record`), relative to the working folder of
    the run that wrote it, so ``cd /tmp; evaluate --checkpoint /abs/runs/x/best.ckpt --out /abs/runs/x`` read the
    record's ``best.ckpt`` against /tmp and refused the same evaluation again without --force."""
    sha = record.get("model_content_sha256")
    if isinstance(sha, str) and sha:  # the model decides, wherever it is: another network saved under the same
        return sha == checkpoint_content_sha256(checkpoint)  # path replaced this one's metrics unasked (hunt 48)
    was = record.get("checkpoint")
    return isinstance(was, str) and bool(was) and Path(was).resolve() == checkpoint.resolve()


def checkpoint_content_sha256(checkpoint: Path) -> str | None:
    """The `model_content_sha256` of a checkpoint file, None for one that cannot be read (evaluate itself then
    reports it, in one line)."""
    from abrnet.inference.checkpoint import model_content_sha256, read_checkpoint

    try:
        return model_content_sha256(read_checkpoint(checkpoint))
    except Exception:  # any unreadable checkpoint: not shown to be the same model
        return None


def _same_data(was: str | None, evaluation: Evaluation) -> bool:
    """Whether a record's data is `evaluation`'s. No data means the training cohort, which may be a file: --data
    naming that file is the same data (hunt 9, #8), so the checkpoint is read only when one side names none."""
    now = None if evaluation.data is None else str(evaluation.data)
    if was is None and now is None:
        return True
    if (was is None or now is None) and evaluation.checkpoint is not None:
        trained_on = training_data(evaluation.checkpoint)
        was, now = was or trained_on, now or trained_on
    return was is not None and now is not None and Path(was).resolve() == Path(now).resolve()


def training_data(checkpoint: Path) -> str | None:
    """The file a checkpoint was trained on (``data.path``, recorded absolute), None for the simulated cohort or a
    checkpoint that does not say."""
    from abrnet.inference.checkpoint import read_checkpoint

    try:
        path = read_checkpoint(checkpoint)["hyper_parameters"]["config"]["data"]["path"]
    except Exception:  # any unreadable checkpoint: evaluate itself reports it, in one line
        return None
    return path if isinstance(path, str) else None


def check_options(path: str | Path, was: object, options: dict[str, Any], *, field: str, hint: str) -> None:
    """A one-line DataError (naming `path` and `field`, ending with `hint`) unless `was` (a file's recorded
    ``options``) is exactly `options`: saying what differs, or that the file records none (written before they
    were recorded, or unreadable: nothing says it is the same evaluation)."""
    now = json_ready(options)
    if not isinstance(was, dict):
        raise DataError(str(path), field, f"records no evaluation options, so it may be another evaluation; {hint}")
    diff = [f"{k} {was.get(k)!r} there, {now.get(k)!r} here" for k in sorted(was.keys() | now.keys())
            if was.get(k) != now.get(k)]  # fmt: skip
    if diff:
        raise DataError(str(path), field, f"holds an evaluation with other options ({'; '.join(diff)}); {hint}")


def same_generation(path: str | Path, options: dict[str, Any], *, field: str = "--out", hint: str = HINT) -> bool:
    """Whether generation.json `path` exists and records exactly `options`: the same generation check again, whose
    file may be refreshed. False when there is no such file (read where it is: `write_target`); `check_options`'
    DataError otherwise."""
    record = _read_json(write_target(path))
    if record is None:
        return False
    check_options(path, record.get("options"), options, field=field, hint=hint)
    return True


RUN_RECORD_KEYS = ("training", "environment", "wall_time")  # what `record_run` put into a training run's metrics.json
RUN_CHECKPOINTS = ("best.ckpt", "last.ckpt")  # what `abrnet train` writes into its run folder, both from its one fit


def run_record(
    previous: dict[str, Any], checkpoint: str | Path, model_sha256: str, *, run_folder: str | Path | None = None
) -> dict[str, Any]:
    """The run-record sections of a folder's metrics.json (`previous`, as `check_folder` read it) when it holds the
    metrics of this same checkpoint, or when `checkpoint` is one of the run's own (`RUN_CHECKPOINTS` inside
    `run_folder`, the folder being written); nothing for another checkpoint's metrics or an unreadable file.

    The same checkpoint: the same file, or the same model (`model_sha256`, its `model_content_sha256`), because
    metrics.json names the checkpoint as typed, relative to the working folder it was written from, and `evaluate
    --force` from another one dropped the run's record as another model's.

    Why the run's last.ckpt keeps it too: the record describes the fit, not the checkpoint chosen from it.
    ``training`` is the fit's steps, budget, batch, seed and resume (``steps`` is last.ckpt's own step; best.ckpt's
    step is recorded nowhere), ``environment`` the machine and libraries it ran on, ``wall_time`` the run's clock
    readings (its evaluation_s is `abrnet train`'s evaluation, kept alike when best.ckpt is re-evaluated). None of it
    is false of last.ckpt, and dropping it left the run folder's metrics.json without how its model was trained."""
    ckpt, was = Path(checkpoint).resolve(), previous.get("checkpoint")
    same_file = isinstance(was, str) and Path(was).resolve() == ckpt
    own = run_folder is not None and ckpt.name in RUN_CHECKPOINTS and ckpt.parent == Path(run_folder).resolve()
    if not same_file and not own and previous.get("model_content_sha256") != model_sha256:
        return {}
    return {k: previous[k] for k in RUN_RECORD_KEYS if k in previous}


def own_training_file(loaded: LoadedModel, data_path: str | Path | None, split: str) -> bool:
    """Whether ``--data`` names the file `loaded` trained on (its recorded path, or a copy of its recorded bytes),
    refusing first, in one line and before anything is written, what `check_split_data` refuses of the training
    cohort (``--split all``: its training patients scored as held out) and a rewritten file (whose "test split" would
    hold other patients).

    Why: ``--data lab.h5 --split all`` naming the training file scored all 40 patients, 28 of them trained on, as a
    file's figures that `model export` put on the card; a rewritten lab.h5 was refused only after the whole
    evaluation, leaving its figures and marker behind (hunt 50d #1, #3)."""
    trained = loaded.config.data.path
    if data_path is None or trained is None:
        return False
    # a recorded path relative to another folder names another file here: only its bytes can say (review 50f #3)
    if Path(trained).is_absolute() and Path(data_path).resolve() == Path(trained).resolve():
        check_same_data(  # the file itself: refused where rewritten (its one hash here)
            loaded.data_sha256, trained, since=f"{loaded.path} was trained on it",
            remedy="its splits would hold other patients; restore the file the model was trained on",
        )  # fmt: skip
    elif not (Path(data_path).is_file() and loaded.data_sha256 is not None):  # a folder or a missing file: its
        return False  # reader says so, in one line (review 50f #1)
    elif file_sha256(data_path) != loaded.data_sha256:  # another file; a copy of the training file is the same data
        return False
    if split == "all":
        raise DataError(
            "abrnet evaluate", "--split",
            f"all of {data_path}: the file the model was trained on holds the patients it was trained on (use --split "
            "test)",
        )  # fmt: skip
    return True
