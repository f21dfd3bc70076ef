"""Empty ear/FMP cells of abrnet's wide CSV, and files an earlier predict run left beside --out (hunt 42 #5-#7).

* ``--ear`` fills a wide CSV's empty ear cells by the rule ``--fmp`` follows for empty FMP cells
  (`abrnet.data.importers.options.fill_empty_cells`): predict told the user to pass --ear, then ignored it and
  repeated the advice; `abrnet data import` said nothing and stored a patient's unnamed ears as one "R" ear.
* `describe_series` says what each series' records hold as FMP, not the file's attribute ("given" for an ear
  none of whose records had an FMP).
* `abrnet predict --force` without --group-by names the series/patients/JSON files of an earlier run that it left
  beside --out (never deletes them).
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from abrnet.cli.infer import stale_beside_out
from abrnet.cli.main import app
from abrnet.data.csv_io import read_wide_csv, write_wide_csv
from abrnet.data.describe import describe_series
from abrnet.data.importers import read_recording
from abrnet.data.importers._common import option_warnings
from abrnet.data.simulate import SimulationConfig, simulate_cohort
from abrnet.inference.input_warnings import reading_warnings

runner = CliRunner()
NO_EAR = "records name no ear"
IGNORED = "ignored, the file records its own values"


@pytest.fixture(scope="module")
def wide_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A simulated cohort as abrnet's wide CSV (2 patients, both ears), without split buffers: an empty FMP cell is
    then not measured (beside buffers the reader would compute it)."""
    cohort = simulate_cohort(SimulationConfig(n_patients=2), seed=3)
    cohort.buffers = None
    return write_wide_csv(cohort, tmp_path_factory.mktemp("blank_cells") / "sim.csv")


def _edited(src: Path, out: Path, column: str, blank: Callable[[dict[str, str]], bool]) -> Path:
    """``src`` with ``column`` emptied on the rows (dicts) where ``blank(row)`` holds."""
    with src.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    header = list(rows[0])
    for row in rows:
        if blank(row):
            row[column] = ""
    with out.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, header)
        writer.writeheader()
        writer.writerows(rows)
    return out


def _first_patient(path: Path) -> str:
    with path.open(newline="") as fh:
        return next(csv.DictReader(fh))["patient_id"]


@pytest.fixture()
def blank_ears(wide_csv: Path, tmp_path: Path) -> Path:
    """The CSV with the first patient's ear cells (both ears) empty."""
    pid = _first_patient(wide_csv)
    return _edited(wide_csv, tmp_path / "blank_ears.csv", "ear", lambda r: r["patient_id"] == pid)


def test_ear_option_fills_empty_ear_cells_and_is_said_nowhere(blank_ears: Path) -> None:
    pid = _first_patient(blank_ears)
    assumed = read_recording(blank_ears)
    assert any(NO_EAR in w and "pass ear=" in w for w in reading_warnings(assumed, "f")), "the advice to follow"
    filled = read_recording(blank_ears, ear="Left")
    mine = filled.patient_id == pid
    assert set(filled.ear[mine]) == {"L"}
    np.testing.assert_array_equal(filled.ear[~mine], assumed.ear[~mine])  # stated ears stay as the file says
    assert "ear_unknown" not in filled.attrs and "attr_ear_unknown" not in filled.extras
    assert "ignored_options" not in filled.attrs and option_warnings(filled.attrs, "f") == []
    assert not [w for w in reading_warnings(filled, "f") if NO_EAR in w]


def test_ear_and_fmp_options_on_a_file_stating_every_cell_are_ignored_together(wide_csv: Path) -> None:
    """The one rule for both options; `read_recording`'s own list (age) is added to the reader's, not replacing it."""
    c = read_recording(wide_csv, ear="L", fmp=2.0, age_years=30.0)
    assert c.attrs["ignored_options"] == "age_years,ear,fmp"
    np.testing.assert_array_equal(c.ear, read_wide_csv(wide_csv).ear)
    (line,) = option_warnings(c.attrs, "f")
    assert line == f"f: age_years,ear,fmp {IGNORED}"


def test_data_import_warns_on_blank_ears_as_predict_does(blank_ears: Path, tmp_path: Path) -> None:
    c = read_wide_csv(blank_ears)
    n_blank, n = int(np.sum(c.patient_id == _first_patient(blank_ears))), c.n_records
    res = runner.invoke(app, ["data", "import", str(blank_ears), "--out", str(tmp_path / "x.h5")])
    assert res.exit_code == 0, res.output
    said = f"{blank_ears}: {n_blank} of {n} {NO_EAR}; they are reported as ear R (pass --ear)"
    assert said in res.output.replace("\n", ""), res.output
    res = runner.invoke(app, ["data", "import", str(blank_ears), "--ear", "L", "--out", str(tmp_path / "y.h5")])
    assert res.exit_code == 0, res.output
    assert NO_EAR not in res.output and IGNORED not in res.output, res.output


def test_describe_says_what_each_series_holds_as_fmp(wide_csv: Path, tmp_path: Path) -> None:
    """One ear with no FMP, the first records of another with none: the file's "given" was printed for both."""
    before = describe_series(read_wide_csv(wide_csv))
    assert {s["fmp_source"] for s in before} == {"given"}
    (first, _), (second, n_second) = [(s["series"], s["n_records"]) for s in before[:2]]
    seen = {"n": 0}

    def blank(row: dict[str, str]) -> bool:
        ear = f"{row['patient_id']}/{row['ear']}"
        seen["n"] += ear == second
        return ear == first or (ear == second and seen["n"] <= 2)

    edited = _edited(wide_csv, tmp_path / "f.csv", "fmp", blank)
    series = {s["series"]: s["fmp_source"] for s in describe_series(read_wide_csv(edited))}
    assert series[first] == "missing"
    assert series[second] == f"partly: {n_second - 2} of {n_second}"
    assert {v for s, v in series.items() if s not in (first, second)} == {"given"}


def test_stale_beside_out_names_only_files_this_run_did_not_write(tmp_path: Path) -> None:
    out = tmp_path / "r.csv"
    assert stale_beside_out(out, [out]) == []
    for name in ("r.series.csv", "r.patients.csv", "r.json"):
        (tmp_path / name).write_text("earlier\n")
    (line,) = stale_beside_out(out, [out, tmp_path / "r.json"])
    assert line == (
        f"{tmp_path / 'r.series.csv'}, {tmp_path / 'r.patients.csv'} are from an earlier run; this run wrote only "
        f"{out} and {tmp_path / 'r.json'}"
    )
    (line,) = stale_beside_out(out, [out, tmp_path / "r.series.csv", tmp_path / "r.patients.csv"])
    assert line.startswith(f"{tmp_path / 'r.json'} is from an earlier run")


def test_predict_names_an_earlier_runs_tables_and_reads_ear_option(blank_ears: Path, tmp_path: Path) -> None:
    """One predict run: --force over an earlier series-mode run's --out (its tables kept, named) on a CSV whose blank
    ears --ear fills (no "ear ignored", no repeated advice, the rows read as L)."""
    out = tmp_path / "r.csv"
    stale = [tmp_path / n for n in ("r.csv", "r.json", "r.series.csv", "r.patients.csv")]
    for p in stale:
        p.write_text("earlier run\n")
    res = runner.invoke(app, ["predict", str(blank_ears), "--out", str(out), "--ear", "L", "--force"])
    assert res.exit_code == 0, res.output
    text = res.output.replace("\n", "")
    assert f"{', '.join(map(str, stale[1:]))} are from an earlier run; this run wrote only {out}" in text, res.output
    assert all(p.read_text() == "earlier run\n" for p in stale[1:])  # never deleted nor rewritten
    assert NO_EAR not in text and IGNORED not in text, res.output
    pid = _first_patient(blank_ears)
    with out.open(newline="") as fh:
        assert {r["ear"] for r in csv.DictReader(fh) if r["patient_id"] == pid} == {"L"}
