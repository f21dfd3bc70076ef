"""An `abrnet evaluate` that died part-way is run again as it was, without --force; the folder is read once.

Why: the guard judged "the same evaluation again" from metrics.json, written last, so a run that died after its
figures left a folder only --force could reuse (and --force replaces anyone's files). The start marker
(`evaluation.started.json`) records the evaluation from the first figure until metrics.json is written. And the
folder's metrics.json was read three times (the CLI's checkpoint/data/split check, its options check, the run record)
and each planned file checked twice before anything was evaluated: one function (`check_folder`) owns the reading.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from abrnet.evaluation.folder import checkpoint_content_sha256
from tests.test_evaluate_overwrite import FAST, _cli, _files


def _crash_after_figures(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make evaluate die after its figures, before metrics.json: as a crash or an out-of-memory kill would."""
    import abrnet.evaluation.evaluate as evaluate

    def die(*args: object, **kwargs: object) -> None:
        raise RuntimeError("killed")

    monkeypatch.setattr(evaluate, "add_shortcut_checks", die)


def test_a_crashed_evaluation_is_run_again_without_force(
    tiny_run: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ckpt, out = str(tiny_run["dir"] / "best.ckpt"), tmp_path / "ev"
    command = ["evaluate", "--checkpoint", ckpt, "--out", str(out), *FAST]
    with monkeypatch.context() as m:
        _crash_after_figures(m)
        code, _ = _cli(*command)
    assert code != 0
    left = _files(out)
    assert "metrics.json" not in left and "figures/confusion_matrix.png" in left
    started = json.loads(left["evaluation.started.json"])
    model = checkpoint_content_sha256(Path(ckpt))  # the model too: the same one named by another path is the same
    assert model and started == {"checkpoint": ckpt, "split": "test", "model_content_sha256": model,
                                 "options": {"balanced_patients": 0, "bootstrap": 0, "seed": 0}}  # fmt: skip

    code, lines = _cli(*command, "--seed", "1")  # another evaluation: refused, naming the marker, nothing replaced
    assert code == 2 and len(lines) == 1 and "evaluation.started.json" in lines[0], lines
    assert "seed 0 there, 1 here" in lines[0] and "--force" in lines[0], lines
    assert _files(out) == left

    code, lines = _cli(*command)  # the same command again
    assert code == 0, lines
    done = _files(out)
    assert "evaluation.started.json" not in done and json.loads(done["metrics.json"])["options"]["seed"] == 0


def test_a_crashed_evaluation_is_recognised_by_model_from_another_working_folder(
    tiny_run: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The start marker named the checkpoint only as typed ("a2/best.ckpt", from runs/), read against the working
    folder of the run again: `cd /tmp; evaluate --checkpoint /abs/runs/a2/best.ckpt` after a crash was refused without
    --force, though the same command against a finished evaluation matched by model. Another model is still refused."""
    import shutil

    run = tmp_path / "runs" / "a2"
    shutil.copytree(tiny_run["dir"], run)
    monkeypatch.chdir(tmp_path / "runs")
    with monkeypatch.context() as m:
        _crash_after_figures(m)
        code, _ = _cli("evaluate", "--checkpoint", "a2/best.ckpt", "--out", "a2/ev", *FAST)
    assert code != 0
    left = _files(run / "ev")
    assert "metrics.json" not in left and json.loads(left["evaluation.started.json"])["checkpoint"] == "a2/best.ckpt"

    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    code, lines = _cli("evaluate", "--checkpoint", str(run / "last.ckpt"), "--out", str(run / "ev"), *FAST)
    assert code == 2 and len(lines) == 1, lines  # another model: refused, naming the marker, nothing replaced
    assert "unfinished evaluation (no metrics.json) of a2/best.ckpt" in lines[0] and "--force" in lines[0], lines
    assert _files(run / "ev") == left
    marker = run / "ev" / "evaluation.started.json"  # a marker written before it recorded the model: by path, as before
    marker.write_text(
        json.dumps({k: v for k, v in json.loads(left[marker.name]).items() if k != "model_content_sha256"})
    )
    code, lines = _cli("evaluate", "--checkpoint", str(run / "best.ckpt"), "--out", str(run / "ev"), *FAST)
    assert code == 2 and "unfinished evaluation (no metrics.json) of a2/best.ckpt" in lines[0], lines
    marker.write_bytes(left[marker.name])
    code, lines = _cli("evaluate", "--checkpoint", str(run / "best.ckpt"), "--out", str(run / "ev"), *FAST)
    assert code == 0, lines  # the same model, named absolute from elsewhere: the same evaluation, run again
    done = _files(run / "ev")
    assert "evaluation.started.json" not in done and "metrics.json" in done


def test_evaluate_reads_the_folder_once_and_checks_each_file_once(
    tiny_run: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import abrnet.data.files as files
    import abrnet.evaluation.evaluate as evaluate

    ckpt, out = str(tiny_run["dir"] / "best.ckpt"), tmp_path / "ev"
    command = ["evaluate", "--checkpoint", ckpt, "--out", str(out), *FAST]
    assert _cli(*command)[0] == 0
    reads: list[Path] = []
    checks: list[Path] = []
    read_text, check_fname = Path.read_text, files.check_fname

    def counted_read(self: Path, *args: object, **kwargs: object) -> str:
        reads.append(self)
        return read_text(self, *args, **kwargs)  # type: ignore[arg-type]

    def counted_check(path: str | Path, *, overwrite: bool, what: str | None = None) -> Path:
        if sys._getframe(1).f_code.co_name != "staged_write":  # a writer's own guard as it writes: not counted
            checks.append(Path(path))
        return check_fname(path, overwrite=overwrite, what=what)

    monkeypatch.setattr(Path, "read_text", counted_read)
    for module in (files, evaluate):  # the CLI's `check_outputs` and evaluate's own check (not the writers' guards)
        monkeypatch.setattr(module, "check_fname", counted_check, raising=False)
    code, lines = _cli(*command)  # the same evaluation again: it refreshes its files
    assert code == 0, lines
    assert [p.name for p in reads].count("metrics.json") == 1, reads
    figures = [p for p in checks if p.parent.name == "figures"]
    assert figures and len(figures) == len(set(figures)), figures


def test_the_data_file_is_recorded_absolute_so_another_folders_file_of_that_name_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hunt 15 #1: ``--data fx.h5`` was recorded as typed, so another folder's fx.h5, run from that folder, passed
    as the same evaluation (and replaced its files), while the same file named from elsewhere was refused."""
    from abrnet.data.schema import DataError
    from abrnet.evaluation.folder import STARTED, Evaluation, check_folder, evaluation_options

    first, second, out = tmp_path / "a", tmp_path / "b", tmp_path / "eval"
    for folder in (first, second, out):
        folder.mkdir()
        (folder / "fx.h5").write_bytes(b"")
    options = evaluation_options(0, 10, 0)
    monkeypatch.chdir(first)
    ran = Evaluation(None, Path("fx.h5"), "all", options)
    assert ran.record()["data"] == str(first / "fx.h5")
    (out / STARTED).write_text(json.dumps(ran.record()))  # a run from folder a that stopped part-way
    monkeypatch.chdir(second)
    with pytest.raises(DataError, match=r"unfinished evaluation \(no metrics\.json\) of this checkpoint on .*a/fx\.h5"):
        check_folder(out, Evaluation(None, Path("fx.h5"), "all", options))  # b's own fx.h5: another evaluation
    assert check_folder(out, Evaluation(None, first / "fx.h5", "all", options)).replace  # a's file, named absolute


def test_another_model_saved_under_the_same_path_is_not_the_same_evaluation(tiny_run: dict, tmp_path: Path) -> None:
    """A run's best.ckpt replaced by another network, then evaluated into the same folder, replaced the first
    model's metrics without --force: the folder check compared paths (hunt 48). The model decides now."""
    import shutil

    ckpt, out = tmp_path / "best.ckpt", tmp_path / "ev"
    shutil.copy(tiny_run["dir"] / "best.ckpt", ckpt)
    assert _cli("evaluate", "--checkpoint", str(ckpt), "--out", str(out), *FAST)[0] == 0
    before = _files(out)
    shutil.copy(tiny_run["dir"] / "last.ckpt", ckpt)  # another model (no series stage), the same path
    assert checkpoint_content_sha256(ckpt) != json.loads(before["metrics.json"])["model_content_sha256"]
    code, lines = _cli("evaluate", "--checkpoint", str(ckpt), "--out", str(out), *FAST)
    assert code == 2 and f"holds the metrics of another model saved as {ckpt} (it has since been replaced)" in lines[-1]
    assert _files(out) == before
    shutil.copy(tiny_run["dir"] / "best.ckpt", ckpt)  # the first model again: the same evaluation, refreshed
    assert _cli("evaluate", "--checkpoint", str(ckpt), "--out", str(out), *FAST)[0] == 0
