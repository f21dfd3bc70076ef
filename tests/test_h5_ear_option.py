"""An imported .h5 takes ``--ear`` for the ears its records did not name, and `describe_series` says per series
which records keep split buffers.

* ``read_recording(h5, ear=...)`` fills the assumed ears (`abrnet.data.schema.ears_assumed`) by the wide CSV's rule
  for empty ear cells (`abrnet.data.importers.options.fill_empty_cells`): predict's "records name no ear" warning
  told the user of such an .h5 to pass --ear, then listed it as ignored.
* ``split_buffers`` of `describe_series` said False for every series of an .h5 joined from files with and without
  buffers, whose records keep their (A - B)/2 in ``extras["buffer_noise_uv"]``.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from abrnet.cli.main import app
from abrnet.data.csv_io import write_wide_csv
from abrnet.data.describe import describe_series
from abrnet.data.importers import read_recording
from abrnet.data.importers._common import option_warnings
from abrnet.data.io import save_cohort
from abrnet.data.schema import ears_assumed
from abrnet.data.simulate import SimulationConfig, simulate_cohort
from abrnet.inference.input_warnings import reading_warnings
from abrnet.inference.inputs import concat_cohorts

runner = CliRunner()
NO_EAR = "records name no ear"


@pytest.fixture(scope="module")
def wide_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A simulated cohort (2 patients, both ears) as abrnet's wide CSV, without split buffers."""
    cohort = simulate_cohort(SimulationConfig(n_patients=2), seed=3)
    cohort.buffers = None
    return write_wide_csv(cohort, tmp_path_factory.mktemp("h5_ear") / "sim.csv")


def _imported(wide_csv: Path, out: Path, *, blank_first_patient: bool) -> tuple[Path, str]:
    """``wide_csv`` (its first patient's ear cells emptied where asked) imported by `abrnet data import` as ``out``;
    returns the .h5 and the first patient's id."""
    with wide_csv.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    pid = rows[0]["patient_id"]
    for row in rows:
        if blank_first_patient and row["patient_id"] == pid:
            row["ear"] = ""
    edited = out.with_suffix(".csv")
    with edited.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    res = runner.invoke(app, ["data", "import", str(edited), "--out", str(out)])
    assert res.exit_code == 0, res.output
    return out, pid


def test_ear_option_fills_the_assumed_ears_of_an_h5(wide_csv: Path, tmp_path: Path) -> None:
    h5, pid = _imported(wide_csv, tmp_path / "blank.h5", blank_first_patient=True)
    assumed = read_recording(h5)
    mine = assumed.patient_id == pid
    assert ears_assumed(assumed).tolist() == mine.tolist(), "the import keeps the mark"
    filled = read_recording(h5, ear="L")
    assert set(filled.ear[mine]) == {"L"}
    np.testing.assert_array_equal(filled.ear[~mine], assumed.ear[~mine])  # recorded ears stay as the file says
    assert not ears_assumed(filled).any()
    assert "ignored_options" not in filled.attrs and option_warnings(filled.attrs, "f") == []
    assert not [w for w in reading_warnings(filled, "f") if NO_EAR in w]


def test_ear_option_on_an_h5_recording_every_ear_is_ignored(wide_csv: Path, tmp_path: Path) -> None:
    h5, _ = _imported(wide_csv, tmp_path / "known.h5", blank_first_patient=False)
    c = read_recording(h5, ear="L")
    assert c.attrs["ignored_options"] == "ear"
    np.testing.assert_array_equal(c.ear, read_recording(h5).ear)


def test_predict_on_an_h5_follows_its_own_ear_advice(wide_csv: Path, tmp_path: Path) -> None:
    h5, pid = _imported(wide_csv, tmp_path / "blank.h5", blank_first_patient=True)
    out = tmp_path / "r.csv"
    res = runner.invoke(app, ["predict", str(h5), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert NO_EAR in res.output.replace("\n", ""), "the advice to follow"
    res = runner.invoke(app, ["predict", str(h5), "--ear", "L", "--out", str(out), "--force"])
    assert res.exit_code == 0, res.output
    text = res.output.replace("\n", "")
    assert NO_EAR not in text and "ignored, the file records its own values" not in text, res.output
    with out.open(newline="") as fh:
        assert {r["ear"] for r in csv.DictReader(fh) if r["patient_id"] == pid} == {"L"}


def test_describe_says_which_records_of_each_series_keep_buffers(tmp_path: Path) -> None:
    """Files with and without buffers joined (one ear with, one without), and an ear whose later records lost theirs
    (NaN rows of ``buffer_noise_uv``, as `concat_cohorts` writes for a record without)."""
    sim = simulate_cohort(SimulationConfig(n_patients=2), seed=3)
    assert {s["split_buffers"] for s in describe_series(sim)} == {True}
    ears = sim.ear_key.astype(str)
    with_buf, without, mixed = list(dict.fromkeys(ears.tolist()))[:3]
    stripped = sim.subset(np.flatnonzero(ears == without))
    stripped.buffers = None
    joined = concat_cohorts([sim.subset(np.flatnonzero(ears != without)), stripped])
    assert joined.buffers is None
    part_mixed = np.flatnonzero(joined.ear_key.astype(str) == mixed)
    joined.extras["buffer_noise_uv"][part_mixed[2:]] = np.nan
    h5 = save_cohort(joined, tmp_path / "joined.h5")
    series = {s["series"].split(",")[0]: s["split_buffers"] for s in describe_series(read_recording(h5))}
    assert series[with_buf] is True and series[without] is False
    assert series[mixed] == f"partly: 2 of {part_mixed.size}"
