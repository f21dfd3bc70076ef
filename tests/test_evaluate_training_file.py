"""`abrnet evaluate --data` naming the file the model trained on is read as that model's training cohort (hunt 50d).

#1: ``--split all`` of it scored every patient, most of them trained on, as a file's figures (and `model export` put
them on the card); #2: its ``--split test``, the very held-out split, was titled "not the held-out test split"; #3: a
rewritten training file was refused only after the whole evaluation, leaving its marker and figures behind.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from abrnet.data.files import file_sha256
from abrnet.data.schema import DataError
from abrnet.evaluation.folder import own_training_file
from abrnet.evaluation.targets import targets_markdown

ROOT = Path(__file__).resolve().parents[1]


def _loaded(trained: Path) -> SimpleNamespace:
    """What `own_training_file` reads of a checkpoint trained on `trained`: its path and recorded SHA-256."""
    config = SimpleNamespace(data=SimpleNamespace(path=str(trained)))
    return SimpleNamespace(config=config, data_sha256=file_sha256(trained), path=Path("run/best.ckpt"))


def test_the_training_file_by_path_or_by_bytes_and_its_refusals(tmp_path: Path) -> None:
    lab = tmp_path / "lab.h5"
    lab.write_bytes(b"the cohort the model trained on")
    loaded = _loaded(lab)
    copy = shutil.copy(lab, tmp_path / "copy.h5")
    other = tmp_path / "other.h5"
    other.write_bytes(b"another lab's cohort")
    assert own_training_file(loaded, lab, "test") and own_training_file(loaded, copy, "test")
    assert not own_training_file(loaded, other, "all") and not own_training_file(loaded, None, "all")
    for named in (lab, copy):
        with pytest.raises(DataError, match=r"--split'.*the file the model was trained on holds the patients"):
            own_training_file(loaded, named, "all")
    lab.write_bytes(b"the cohort re-imported since")
    with pytest.raises(DataError, match=r"lab\.h5: field 'data\.path': changed since run/best\.ckpt was trained"):
        own_training_file(loaded, lab, "test")
    assert not own_training_file(SimpleNamespace(config=SimpleNamespace(data=SimpleNamespace(path=None))), lab, "all")
    # a folder or a missing file is left to the reader's one line (it was an IsADirectoryError: review 50f #1)
    assert not own_training_file(loaded, tmp_path, "all") and not own_training_file(loaded, tmp_path / "no.h5", "all")


def test_a_relative_training_path_is_matched_by_bytes_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run trained from the Python API may record ``data.path`` relative to its own folder: the same name read from
    another folder is another lab's file, not the training file rewritten (review 50f #3)."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "lab.h5").write_bytes(b"the cohort the model trained on")
    (tmp_path / "b" / "lab.h5").write_bytes(b"another lab's cohort")
    monkeypatch.chdir(tmp_path / "a")
    loaded = _loaded(Path("lab.h5"))
    monkeypatch.chdir(tmp_path / "b")
    assert not own_training_file(loaded, Path("lab.h5"), "all")  # not refused as "changed since"
    assert own_training_file(loaded, tmp_path / "a" / "lab.h5", "test")  # its bytes: the training file


def test_evaluate_refuses_all_of_its_training_file_before_writing(tiny_run: dict, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from abrnet.cli.main import app

    out = tmp_path / "ev"
    args = ["evaluate", "--checkpoint", str(tiny_run["dir"] / "best.ckpt"), "--data", str(tiny_run["data"])]
    res = CliRunner().invoke(app, [*args, "--split", "all", "--out", str(out), "--balanced-patients", "0"])
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert res.exit_code == 2 and len(lines) == 1 and "holds the patients it was trained on" in lines[0], res.output
    assert not out.exists()


def test_its_held_out_split_is_titled_as_the_training_files_with_or_without_data() -> None:
    metrics = json.loads((ROOT / "benchmarks" / "results" / "main_job.json").read_text())
    for given in ({"training_data": "/lab/abr.h5"}, {"training_data": "/lab/abr.h5", "data": "/lab/abr.h5"}):
        text = targets_markdown({**metrics, **given})
        assert "**Held-out test split of /lab/abr.h5 (the file the model trained on)**" in text
        assert "not the held-out test split" not in text
    assert "a file given with --data, not the held-out test split" in targets_markdown({**metrics, "data": "/x.h5"})
