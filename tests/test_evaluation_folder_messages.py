"""What `abrnet evaluate` says when it refuses an --out folder (`abrnet.evaluation.folder.check_folder`).

Hunt 15 #10: a crashed run's start marker was refused as "holds this checkpoint's metrics on fx.h5" (no metrics
exist), and a start marker cut short (a run killed while writing it) as "holds the metrics of another run".
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from abrnet.data.schema import DataError
from abrnet.evaluation.folder import STARTED, Evaluation, check_folder, evaluation_options

OPTIONS = evaluation_options(0, 20, 0)


def _refusal(out: Path, evaluation: Evaluation) -> str:
    with pytest.raises(DataError) as ei:
        check_folder(out, evaluation)
    assert ei.value.field == "--out"
    return str(ei.value)


@pytest.fixture
def run(tmp_path: Path) -> Evaluation:
    (tmp_path / "fx.h5").write_bytes(b"")
    return Evaluation(tmp_path / "a.ckpt", tmp_path / "fx.h5", "all", OPTIONS)


@pytest.mark.parametrize("text", ['{"checkpoint": "x", ', "", "\x00\x01", "[1, 2]"])
def test_an_unreadable_marker_is_called_unreadable_and_named(tmp_path: Path, run: Evaluation, text: str) -> None:
    out = tmp_path / "ev3"
    out.mkdir()
    (out / STARTED).write_text(text)
    message = _refusal(out, run)
    assert message.startswith(f"{out / STARTED}: field '--out': is unreadable ("), message
    assert "so it may record another evaluation; choose another folder or --force" in message
    assert "metrics of another run" not in message and "holds" not in message
    assert check_folder(out, run, force=True).replace  # --force still replaces it


def test_an_unreadable_metrics_file_is_called_unreadable(tmp_path: Path, run: Evaluation) -> None:
    out = tmp_path / "ev"
    out.mkdir()
    (out / "metrics.json").write_text('{"checkpoint": ')
    message = _refusal(out, run)
    assert message.startswith(f"{out / 'metrics.json'}: field '--out': is unreadable (not valid JSON"), message


def test_a_crashed_runs_marker_is_an_unfinished_evaluation_not_metrics(tmp_path: Path, run: Evaluation) -> None:
    out = tmp_path / "ev"
    out.mkdir()
    (out / STARTED).write_text(json.dumps(Evaluation(tmp_path / "b.ckpt", run.data, "all", OPTIONS).record()))
    message = _refusal(out, run)
    assert f"holds an unfinished evaluation (no metrics.json) of {tmp_path / 'b.ckpt'}; choose" in message, message
    (out / STARTED).write_text(json.dumps(Evaluation(run.checkpoint, run.data, "test", OPTIONS).record()))
    message = _refusal(out, run)
    assert "holds an unfinished evaluation (no metrics.json) of this checkpoint on " in message, message
    assert f"{tmp_path / 'fx.h5'}, test split; choose another folder or --force" in message
    assert "metrics" not in message.replace("no metrics.json", ""), message
    (out / STARTED).write_text(json.dumps({"split": "all", "options": OPTIONS}))
    assert "records no checkpoint, so it may be another evaluation" in _refusal(out, run)
    (out / STARTED).write_text(json.dumps(run.record()))  # the same evaluation again: it may rerun
    assert check_folder(out, run).replace


def test_finished_metrics_still_say_whose_metrics_they_are(tmp_path: Path, run: Evaluation) -> None:
    out = tmp_path / "ev"
    out.mkdir()
    (out / "metrics.json").write_text(json.dumps(Evaluation(run.checkpoint, run.data, "test", OPTIONS).record()))
    assert "holds this checkpoint's metrics on " in _refusal(out, run)
    (out / "metrics.json").write_text(json.dumps({"checkpoint": "elsewhere/best.ckpt"}))
    assert "holds the metrics of elsewhere/best.ckpt; choose another folder or --force" in _refusal(out, run)
