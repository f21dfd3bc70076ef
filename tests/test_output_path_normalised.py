"""Output guards read the file a write lands on, not the path as typed (hunt 43 #4).

``abrnet predict in.csv --out new/../old_results.csv`` (``new/`` missing, no --force) replaced old_results.csv, and
``--out sub/../in.csv --force`` replaced the input recording: ``exists()`` is False while the folder is missing,
then the writer made the folder and the write landed on the file. Every guard (`check_fname`, `check_outputs`, the
evaluation and run folders, --plot) now asks `write_target`, which also follows a symlinked folder before ``..``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from abrnet.cli.common import check_outputs
from abrnet.cli.main import app
from abrnet.data.files import check_fname
from abrnet.data.schema import DataError
from tests.test_inference_entry_points import _error_line

runner = CliRunner()
RECORDING = "patient_id,ear,age_years,intensity_db,stimulus_rate_hz,fmp,s0,s1\nP1,R,30,60,21.1,2,0.1,0.2\n"
KEEP = "my earlier analysis - keep me\n"


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------------------------ the guards themselves
def test_an_existing_file_behind_a_missing_folder_is_refused_without_force(tmp_path: Path) -> None:
    (tmp_path / "old.csv").write_text(KEEP)
    via = tmp_path / "new" / ".." / "old.csv"
    with pytest.raises(FileExistsError, match=r"old\.csv: file exists; pass --force"):
        check_fname(via, overwrite=False)
    assert check_fname(via, overwrite=True) == via  # returned as typed: the writer lands on the file checked
    with pytest.raises(FileExistsError, match="is a folder"):
        check_fname(tmp_path / "new" / ".." / ".." / tmp_path.name, overwrite=True)
    assert not (tmp_path / "new").exists()


def test_an_input_behind_a_missing_folder_is_refused_even_with_force(tmp_path: Path) -> None:
    rec = tmp_path / "in.csv"
    rec.write_text(RECORDING)
    for force in (False, True):
        with pytest.raises(DataError, match=r"field '--out': is an input \(.*in\.csv\); --force never replaces"):
            check_outputs({"--out": tmp_path / "sub" / ".." / "in.csv"}, force=force, inputs=[rec])
    with pytest.raises(DataError, match="is also the --out"):  # two roles, one file
        check_outputs({"--out": tmp_path / "a.csv", "--json": tmp_path / "x" / ".." / "a.csv"}, force=True)


def test_a_symlinked_folder_is_followed_before_its_dotdot(tmp_path: Path) -> None:
    """``link/../x.csv`` is the x.csv beside the folder link points to (as the OS walks it), not the one beside
    link: a lexical normalisation checks the wrong file both ways."""
    from abrnet.data.files import write_target

    (tmp_path / "far" / "deep").mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "far" / "deep")
    (tmp_path / "far" / "x.csv").write_text(KEEP)
    (tmp_path / "y.csv").write_text(KEEP)
    assert write_target(tmp_path / "link" / ".." / "x.csv") == (tmp_path / "far" / "x.csv").resolve()
    with pytest.raises(FileExistsError, match="file exists"):
        check_fname(tmp_path / "link" / ".." / "x.csv", overwrite=False)
    check_fname(tmp_path / "link" / ".." / "y.csv", overwrite=False)  # far/y.csv does not exist: nothing to refuse
    with pytest.raises(FileExistsError, match="file exists"):  # a missing folder inside the link, then ..
        check_fname(tmp_path / "link" / "new" / ".." / ".." / "x.csv", overwrite=False)


def test_a_file_on_the_way_is_refused_as_typed_and_as_reached(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text(KEEP)
    for path in (tmp_path / "a.csv" / ".." / "b.csv", tmp_path / "new" / ".." / "a.csv" / "b.csv"):
        with pytest.raises(FileExistsError, match=r"a\.csv is a file, not a folder"):
            check_fname(path, overwrite=True)


# ------------------------------------------------------------------------------------ commands
@pytest.mark.parametrize(
    "args",
    [
        ["predict", "{d}/in.csv", "--out", "{d}/new/../old.csv"],
        ["predict", "{d}/in.csv", "--json", "--out", "{d}/new/../old2.csv"],  # <out>.json beside it: old2.json
        ["denoise", "{d}/in.csv", "--out", "{d}/new/../old.h5"],
        ["data", "import", "{d}/in.csv", "--out", "{d}/new/../old.h5"],
        ["data", "export", "{d}/in.h5", "--out", "{d}/new/../old.csv"],
        ["simulate", "--patients", "1", "--out", "{d}/new/../old.h5"],
    ],
    ids=["predict", "predict-json", "denoise", "data-import", "data-export", "simulate"],
)
def test_commands_refuse_an_existing_file_behind_a_missing_folder(tmp_path: Path, args: list[str]) -> None:
    """Without --force, refused before anything is written (no model loaded, no folder made), the file intact."""
    (tmp_path / "in.csv").write_text(RECORDING)
    (tmp_path / "in.h5").write_text("not read: the output is refused first\n")
    for name in ("old.csv", "old.h5", "old2.json"):
        (tmp_path / name).write_text(KEEP)
    argv = [a.format(d=tmp_path) for a in args]
    before = _files(tmp_path)
    line = _error_line(runner.invoke(app, argv, env={"COLUMNS": "300"}))
    assert "exists; pass --force to overwrite it" in line and "/new/../old" in line, line
    assert _files(tmp_path) == before and not (tmp_path / "new").exists()


@pytest.mark.parametrize(
    ("args", "victim"),
    [
        (["predict", "{d}/in.csv", "--out", "{d}/sub/../in.csv"], "in.csv"),
        (["predict", "{d}/y.series.csv", "--group-by", "patient_id,ear", "--out", "{d}/sub/../y.csv"], "y.series.csv"),
        (["denoise", "{d}/s.h5", "--out", "{d}/sub/../s.h5"], "s.h5"),
        (["data", "import", "{d}/s.h5", "--out", "{d}/sub/../s.h5"], "s.h5"),
        (["data", "export", "{d}/in.csv", "--out", "{d}/sub/a/../../in.csv"], "in.csv"),
        (["generate", "--conditions", "{d}/c.h5", "--n", "1", "--steps", "1", "--out", "{d}/sub/../c.h5"], "c.h5"),
    ],
    ids=["predict", "predict-series", "denoise", "data-import", "data-export", "generate"],
)
def test_commands_never_replace_an_input_behind_a_missing_folder(tmp_path: Path, args: list[str], victim: str) -> None:
    """With --force too: the refusal says it is an input, and the input is left as it was."""
    for name in ("in.csv", "y.series.csv", "s.h5"):
        (tmp_path / name).write_text(RECORDING)
    (tmp_path / "c.h5").write_text("age_years,intensity_db,stimulus_rate_hz,fmp\n30,60,21.1,2\n")
    before = _files(tmp_path)
    argv = [a.format(d=tmp_path) for a in args] + ["--force"]
    line = _error_line(runner.invoke(app, argv, env={"COLUMNS": "300"}))
    assert "is an input" in line and "pass --force" not in line and victim in line, line
    assert _files(tmp_path) == before and not (tmp_path / "sub").exists()


def test_predict_plot_folder_behind_a_missing_folder_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "in.csv").write_text(RECORDING)
    (tmp_path / "afile").write_text(KEEP)
    argv = ["predict", str(tmp_path / "in.csv"), "--out", str(tmp_path / "r.csv")]
    line = _error_line(runner.invoke(app, [*argv, "--plot", str(tmp_path / "new" / ".." / "afile")]))
    assert "field '--plot': is a file" in line, line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "in.csv"]


# ------------------------------------------------------------------------------------ folders
def test_an_evaluation_folder_behind_a_missing_folder_is_read(tmp_path: Path) -> None:
    """evaluate --out new/../run: the folder's record is read (the same evaluation again may refresh it; another
    is refused naming it), not taken for an empty folder."""
    from abrnet.evaluation.folder import Evaluation, check_folder, evaluation_options, same_generation

    (tmp_path / "fx.h5").write_bytes(b"")
    run = Evaluation(tmp_path / "a.ckpt", tmp_path / "fx.h5", "all", evaluation_options(0, 20, 0))
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "metrics.json").write_text(json.dumps(run.record()))
    via = tmp_path / "new" / ".." / "run"
    assert check_folder(via, run).replace
    other = Evaluation(tmp_path / "b.ckpt", tmp_path / "fx.h5", "all", evaluation_options(0, 20, 0))
    with pytest.raises(DataError, match=r"new/\.\./run/metrics\.json: field '--out': holds the metrics of .*a\.ckpt"):
        check_folder(via, other)
    (tmp_path / "run" / "generation.json").write_text(json.dumps({"options": {"n": 1}}))
    assert same_generation(via / "generation.json", {"n": 1})


def test_a_run_folder_behind_a_missing_folder_is_read(tmp_path: Path) -> None:
    """train --out new/../old_run: old_run's outputs are found, not written over."""
    from abrnet.training.run_folder import check_out_folder

    (tmp_path / "old_run").mkdir()
    (tmp_path / "old_run" / "config.yaml").write_text("x: 1\n")
    with pytest.raises(DataError, match=r"holds a run's outputs \(config\.yaml\)"):
        check_out_folder(tmp_path / "new" / ".." / "old_run", None)
    (tmp_path / "afile").write_text(KEEP)
    with pytest.raises(DataError, match="is a file, not a run folder"):
        check_out_folder(tmp_path / "new" / ".." / "afile", None)
