"""A record that repeats another exactly is warned, not read silently as a replicate (hunt 44b #2).

A row pasted twice in a spreadsheet correlated perfectly with itself (``replicate_r`` 1) and moved its ear's series,
warnings and class without a word. The copy is kept (nothing a user gave is dropped) and said, by row.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from abrnet.cli.main import app
from abrnet.data.csv_io import write_wide_csv
from abrnet.inference.input_warnings import duplicate_record_warnings
from tests.conftest import make_toy_cohort

runner = CliRunner()


def test_an_exact_copy_is_named_by_its_rows_and_a_replicate_is_not() -> None:
    cohort = make_toy_cohort(1)
    assert duplicate_record_warnings(cohort, "f.h5") == []
    doubled = cohort.subset(np.r_[np.arange(cohort.n_records), 1])  # record 2 again at the end
    (line,) = duplicate_record_warnings(doubled, "f.h5")
    last = doubled.n_records
    assert line.startswith(f"f.h5: 1 record repeats another exactly (same patient, ear, level and samples: row {last} "
                           "= row 2): a copy, not a replicate")  # fmt: skip
    replicate = cohort.subset(np.r_[np.arange(cohort.n_records), 1])
    replicate.signals[-1] += np.float32(1e-3)  # another recording at that level: never equal to the sample
    assert duplicate_record_warnings(replicate, "f.h5") == []
    elsewhere = cohort.subset(np.r_[np.arange(cohort.n_records), 1])
    elsewhere.static[-1, 1] += 5.0  # the same trace said to be another level: not this warning's case
    assert duplicate_record_warnings(elsewhere, "f.h5") == []


def test_predict_and_import_of_a_csv_say_the_copy_with_its_lines(tmp_path: Path) -> None:
    cohort = make_toy_cohort(1)
    path = write_wide_csv(cohort, tmp_path / "w.csv")
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join([*lines, lines[2]]))  # the second data row pasted at the end
    copy_row = len(lines)  # data rows are lines 2..len(lines); the pasted one is row len(lines)
    said = f"row {copy_row} = row 2 (lines {copy_row + 1}, 3)"
    res = runner.invoke(app, ["data", "import", str(path), "--out", str(tmp_path / "w.h5")])
    assert res.exit_code == 0 and said in " ".join(res.output.split()), res.output
    res = runner.invoke(app, ["predict", str(path), "--out", str(tmp_path / "r.csv")])
    assert res.exit_code == 0 and said in " ".join(res.output.split()), res.output
