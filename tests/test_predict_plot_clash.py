"""`abrnet predict --plot` naming a file the same run writes is refused before anything is written.

``predict records.csv --out q/z.csv --group-by patient_id,ear --plot q/z.series.csv`` wrote q/z.csv and both
tables, then failed making the plot folder ("q/z.series.csv is a file, not a folder"); the rerun was then refused
as "file exists". The plot folder's own check saw no file there (the tables did not exist yet) and `check_outputs`
saw no two outputs of one name (the plot files lie *inside* the folder). `_plot_clash` compares the folder, and each
folder mkdir makes on the way to it, with every file the run writes.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from abrnet.cli.infer import stale_beside_out
from abrnet.cli.main import app
from tests.test_inference_entry_points import _error_line

runner = CliRunner()


def _recording(levels: tuple[int, ...] = (70, 50, 30)) -> str:
    """One ear at three levels, 200 samples at the reader's default 20 kHz: a file predict reads, so the unfixed
    command got as far as writing its tables."""
    wave = [f"{0.3 * math.exp(-(((k / 20.0) - 6.0) ** 2) / 0.1):.4f}" for k in range(200)]
    head = "patient_id,ear,age_years,intensity_db,stimulus_rate_hz,fmp," + ",".join(f"s{k}" for k in range(200))
    return "\n".join([head, *(f"P1,R,30,{lv},21.1,2," + ",".join(wave) for lv in levels)]) + "\n"


RECORDING = _recording()
SERIES = ["--group-by", "patient_id,ear"]


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize(
    ("extra", "plot", "said"),
    [
        (SERIES, "q/z.series.csv", "is this run's series table, <out>.series.csv beside --out;"),
        (SERIES, "q/z.patients.csv", "is this run's patients table, <out>.patients.csv beside --out;"),
        ([], "q/z.csv", "is the --out results table this run writes;"),
        (["--json"], "q/z.json", "is this run's JSON output, <out>.json for --json;"),
        ([], "q/z.csv/plots", "is inside {d}/q/z.csv (the --out results table this run writes);"),
        (SERIES, "q/new/../z.series.csv", "is this run's series table, <out>.series.csv beside --out ({d}/q/z.series"),
        (SERIES, "q/z.patients.csv/../p", "is inside {d}/q/z.patients.csv (this run's patients table"),
    ],
    ids=["series-table", "patients-table", "out", "json", "inside-out", "dotdot-to-table", "through-table"],
)
@pytest.mark.parametrize("force", [False, True], ids=["", "force"])
def test_plot_naming_an_output_of_the_run_is_refused_before_writing(
    tmp_path: Path, extra: list[str], plot: str, said: str, force: bool
) -> None:
    (tmp_path / "records.csv").write_text(RECORDING)
    argv = ["predict", str(tmp_path / "records.csv"), "--out", str(tmp_path / "q" / "z.csv"), *extra]
    argv += ["--plot", str(tmp_path / plot)] + (["--force"] if force else [])
    res = runner.invoke(app, argv, env={"COLUMNS": "300"})
    assert _files(tmp_path) == ["records.csv"], res.output  # no table, no folder: corrected, it runs as new
    line = _error_line(res)
    assert f"field '--plot': {said.format(d=tmp_path)}" in line, line
    assert line.endswith("--plot names a folder for the plots"), line


def test_the_refusal_names_the_clash_even_after_a_partial_run(tmp_path: Path) -> None:
    """The tables an earlier (failed) run left: the clash is said, not "is a file" or "file exists"."""
    (tmp_path / "records.csv").write_text(RECORDING)
    (tmp_path / "q").mkdir()
    for name in ("z.csv", "z.series.csv", "z.patients.csv"):
        (tmp_path / "q" / name).write_text("earlier\n")
    argv = ["predict", str(tmp_path / "records.csv"), "--out", str(tmp_path / "q" / "z.csv"), *SERIES]
    line = _error_line(runner.invoke(app, [*argv, "--plot", str(tmp_path / "q" / "z.series.csv"), "--force"]))
    assert "field '--plot': is this run's series table" in line, line
    assert all((tmp_path / "q" / n).read_text() == "earlier\n" for n in ("z.csv", "z.series.csv", "z.patients.csv"))


def test_a_plot_folder_named_like_a_table_beside_out_is_not_a_stale_table(tmp_path: Path) -> None:
    """--plot q/z.json without --json is this run's plot folder, not an earlier run's JSON left beside --out."""
    out = tmp_path / "z.csv"
    (tmp_path / "z.json").mkdir()
    assert stale_beside_out(out, [out]) == []
    (tmp_path / "z.series.csv").write_text("earlier\n")
    assert stale_beside_out(out, [out]) == [
        f"{tmp_path / 'z.series.csv'} is from an earlier run; this run wrote only {out}"
    ]
