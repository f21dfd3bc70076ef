"""What `abrnet predict` prints and writes besides the results: the closing summary line and the --json payload.

The summary was wrapped by Rich at 80 columns when stdout was not a terminal (a pipe, a log), breaking the line in
the middle of the list of files, and said "1 records"; the JSON was built by the CLI without the patients table that
patients.csv has. These run the shipped model (no training) on a small simulated cohort.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from abrnet.cli.main import app
from abrnet.data.io import save_cohort
from abrnet.data.simulate import SimulationConfig, simulate_cohort

runner = CliRunner()


@pytest.fixture(scope="module")
def cohort_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # a long folder name: the written paths alone are wider than Rich's 80 columns
    root = tmp_path_factory.mktemp("predict_output_with_a_rather_long_folder_name_for_wrapping")
    return save_cohort(simulate_cohort(SimulationConfig(n_patients=2), seed=3), root / "records.h5")


def _header(path: Path) -> list[str]:
    with path.open(newline="") as fh:
        return next(csv.reader(fh))


def test_json_payload_has_the_tables_and_columns_of_the_csvs(cohort_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "o" / "results.csv"
    res = runner.invoke(app, ["predict", str(cohort_file), "--out", str(out), "--group-by", "patient_id,ear", "--json"])
    assert res.exit_code == 0, res.output
    payload = json.loads((tmp_path / "o" / "results.json").read_text())
    assert set(payload) == {"records", "series", "patients", "warnings"}
    for table, name in (
        ("records", "results.csv"),
        ("series", "results.series.csv"),
        ("patients", "results.patients.csv"),
    ):
        path = tmp_path / "o" / name
        with path.open(newline="") as fh:
            n_rows = sum(1 for _ in csv.DictReader(fh))
        assert n_rows > 0 and len(payload[table]) == n_rows, table
        assert all(list(row) == _header(path) for row in payload[table]), table  # same columns, same order


def test_summary_is_one_unbroken_line_with_every_file(cohort_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "o" / "results.csv"
    res = runner.invoke(app, ["predict", str(cohort_file), "--out", str(out), "--group-by", "patient_id,ear"])
    assert res.exit_code == 0, res.output
    written = [out, tmp_path / "o" / "results.series.csv", tmp_path / "o" / "results.patients.csv"]
    (line,) = [line for line in res.output.splitlines() if "predicted; wrote" in line]
    assert len(line) > 80  # long enough that Rich would have wrapped it
    assert line.endswith("wrote " + ", ".join(map(str, written))), line
    from abrnet.data.io import load_cohort

    assert line.startswith(f"{load_cohort(cohort_file).n_records} records predicted; wrote "), line


def test_summary_says_record_for_one(cohort_file: Path, tmp_path: Path) -> None:
    from abrnet.data.io import load_cohort

    one = save_cohort(load_cohort(cohort_file).subset(np.arange(1)), tmp_path / "one.h5")
    res = runner.invoke(app, ["predict", str(one), "--out", str(tmp_path / "r.csv")])
    assert res.exit_code == 0, res.output
    assert f"1 record predicted; wrote {tmp_path / 'r.csv'}" in res.output
