"""Inference entry points: reader options on `denoise`, outputs never written over inputs, the conditions file's
line numbers and empty FMP, and the API's flags refused unless they are real booleans.

Each case was a user-facing defect: `denoise` on a device export asked for "CLI --age", which it did not take;
``--force`` replaced the input recording with results (``predict a.csv --out a.csv``, an input named y.series.csv
under ``--group-by``, ``denoise s.h5 --out s.h5``); a bad conditions row below blank lines was reported on the
wrong line and an empty FMP cell was refused; ``band_limit="no"`` band-limited and ``joint="no"`` ran joint
generation (a non-empty string is truthy).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import abrnet
from abrnet.cli.common import READER_OPTIONS, check_outputs
from abrnet.cli.main import app
from abrnet.data.io import load_cohort
from abrnet.data.schema import DataError
from abrnet.inference.api import ABRModel, read_conditions
from tests.conftest import FIXTURES, require_fixture
from tests.test_denoise_generate import no_sampling as no_sampling  # samplers fail if run

runner = CliRunner()
EPL_CFTS = FIXTURES / "epl_cfts_bburan" / "ABR-52-3"
HEADER = "age_years,intensity_db,stimulus_rate_hz,fmp\n"


def _error_line(res) -> str:
    """The one error line of a refused command (exit 2, no traceback)."""
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output, res.output
    lines = [ln for ln in res.output.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, res.output
    return lines[0]


@pytest.fixture(scope="module")
def model() -> ABRModel:
    return abrnet.load()


# ------------------------------------------------------------------------------------ denoise: reader options
def test_denoise_takes_the_option_its_error_names(tmp_path: Path) -> None:
    """The EPL CFTS export records no age: the error names an option, and `denoise` accepts that option."""
    require_fixture(EPL_CFTS)
    out = tmp_path / "d.h5"
    line = _error_line(runner.invoke(app, ["denoise", str(EPL_CFTS), "--out", str(out)]))
    assert "field 'age_years'" in line and not out.exists()
    option = re.search(r"pass (--[a-z-]+)", line)  # the flag, as a CLI user types it
    assert option is not None and option.group(1) == "--age", line
    res = runner.invoke(app, ["denoise", str(EPL_CFTS), "--out", str(out), option.group(1), "0.5", "--rate", "21.1"])
    assert res.exit_code == 0, res.output
    cohort = load_cohort(out)
    assert cohort.n_records == 12
    np.testing.assert_allclose(cohort.static_column("age_years"), 0.5)
    np.testing.assert_allclose(cohort.static_column("stimulus_rate_hz"), 21.1, rtol=1e-6)


def test_denoise_declares_every_reader_option_and_names_a_bad_one(tmp_path: Path) -> None:
    helps = runner.invoke(app, ["denoise", "--help"], env={"COLUMNS": "200"}).output
    for name in READER_OPTIONS:
        assert "--" + name.replace("_", "-") in helps, name
    src = tmp_path / "in.csv"
    src.write_text("not read: the option is refused first\n")
    line = _error_line(runner.invoke(app, ["denoise", str(src), "--out", str(tmp_path / "d.h5"), "--age", "-3"]))
    assert line.startswith("error: abrnet denoise: field '--age': must be a finite number from 0 to 120"), line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


# ------------------------------------------------------------------------------------ outputs over inputs
RECORDING = "patient_id,ear,age_years,intensity_db,stimulus_rate_hz,fmp,s0,s1\nP1,R,30,60,21.1,2,0.1,0.2\n"


@pytest.mark.parametrize("force", [True, False], ids=["force", "no-force"])
@pytest.mark.parametrize(
    ("args", "victim"),
    [
        (["predict", "{d}/a.csv", "--out", "{d}/a.csv"], "a.csv"),
        (["predict", "{d}/sub/../a.csv", "--out", "{d}/a.csv"], "a.csv"),
        (["predict", "{d}/b.csv", "{d}/a.csv", "--out", "{d}/a.csv", "--json"], "a.csv"),
        (["predict", "{d}/y.series.csv", "--group-by", "patient_id,ear", "--out", "{d}/y.csv"], "y.series.csv"),
        (["predict", "{d}/y.patients.csv", "--group-by", "patient_id,ear", "--out", "{d}/y.csv"], "y.patients.csv"),
        (["predict", "{d}/r.json", "--json", "--out", "{d}/r.csv"], "r.json"),  # the role names --json
        (["denoise", "{d}/s.h5", "--out", "{d}/s.h5"], "s.h5"),
        (["data", "import", "{d}/s.h5", "--out", "{d}/s.h5"], "s.h5"),  # a .csv --out: refused by its name first
        (["generate", "--conditions", "{d}/c.h5", "--n", "1", "--steps", "1", "--out", "{d}/c.h5"], "c.h5"),
    ],
)
def test_no_output_replaces_an_input(tmp_path: Path, args: list[str], victim: str, force: bool) -> None:
    """Refused with or without --force, before the model is loaded, naming the output's option and saying it is an
    input (not "pass --force", which would then destroy it); the input is left as it was."""
    (tmp_path / "sub").mkdir()
    for name in ("a.csv", "b.csv", "y.series.csv", "y.patients.csv", "r.json", "s.h5"):
        (tmp_path / name).write_text(RECORDING)
    (tmp_path / "c.h5").write_text(HEADER + "30,60,21.1,2\n")  # a conditions file by any name
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    argv = [a.format(d=tmp_path) for a in args] + (["--force"] if force else [])
    line = _error_line(runner.invoke(app, argv, env={"COLUMNS": "300"}))
    option = "--json" if victim.endswith(".json") else "--out"
    assert "is an input" in line and option in line and "pass --force" not in line, line
    assert line.startswith(f"error: {tmp_path / victim}: field "), line
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before


def test_an_output_in_an_input_folder_is_not_an_input(tmp_path: Path) -> None:
    """Only a named input file is protected: results written inside the folder being read (and replaced with
    --force on a rerun) are fine; a link to an input is the input."""
    (tmp_path / "rec.csv").write_text(RECORDING)
    (tmp_path / "results.csv").write_text("old results\n")
    check_outputs({"--out": tmp_path / "results.csv"}, force=True, inputs=[tmp_path])
    check_outputs({"--out": tmp_path / "new.csv"}, force=False, inputs=[tmp_path / "rec.csv"])
    link = tmp_path / "link.csv"
    link.symlink_to(tmp_path / "rec.csv")
    with pytest.raises(DataError, match=r"field '--out': is an input \(.*rec\.csv\)"):
        check_outputs({"--out": link}, force=True, inputs=[tmp_path / "rec.csv"])


# ------------------------------------------------------------------------------------ conditions file
def test_conditions_errors_name_the_real_line(tmp_path: Path) -> None:
    cond = tmp_path / "cond.csv"
    cond.write_text(HEADER + "30,60,21.1,2\n\n\n30,700,21.1,2\n")
    with pytest.raises(DataError, match=r"field 'intensity_db', row 2: value 700 outside .*\(line 5\)$"):
        read_conditions(cond)
    cond.write_text("\n\n" + HEADER + "\n30,60,21.1,x\n")  # blank lines above the header too
    with pytest.raises(DataError, match=r"field 'fmp', row 1: 'x' is not a number \(line 5\)$"):
        read_conditions(cond)
    res = runner.invoke(app, ["generate", "--conditions", str(cond), "--n", "1", "--out", str(tmp_path / "g.h5")])
    assert "(line 5)" in _error_line(res) and not (tmp_path / "g.h5").exists()


def test_a_semicolon_conditions_file_is_told_what_it_is(tmp_path: Path) -> None:
    """A spreadsheet's ';' export was refused as "age_years: required column missing" beside that column (hunt 48)."""
    cond = tmp_path / "cond.csv"
    cond.write_bytes("\ufeffage_years;intensity_db;stimulus_rate_hz;fmp\n0;60;33.1;2\n".encode())
    res = runner.invoke(app, ["generate", "--conditions", str(cond), "--n", "1", "--out", str(tmp_path / "g.h5")])
    assert _error_line(res) == (
        f"error: {cond}: field '<format>', row 0: separated by ';' (a spreadsheet's export): save it "
        "comma-separated, decimal point '.' (line 1)"
    )


def test_an_empty_fmp_cell_is_not_measured(tmp_path: Path) -> None:
    cond = tmp_path / "cond.csv"
    cond.write_text(HEADER + "30,60,21.1,2\n\n30,70,21.1,\n1,40,33.1,nan\n")
    rows = read_conditions(cond)
    assert rows.shape == (3, 4) and rows[0, 3] == 2.0
    assert math.isnan(rows[1, 3]) and math.isnan(rows[2, 3])
    np.testing.assert_allclose(rows[:, :3], [[30, 60, 21.1], [30, 70, 21.1], [1, 40, 33.1]], rtol=1e-6)


@pytest.mark.parametrize(
    ("row", "field"),
    [(",60,21.1,2", "age_years"), ("30,,21.1,2", "intensity_db"), ("30,60,,2", "stimulus_rate_hz")],
)
def test_an_empty_required_cell_is_still_an_error(tmp_path: Path, row: str, field: str) -> None:
    cond = tmp_path / "cond.csv"
    cond.write_text(HEADER + "\n" + row + "\n")
    with pytest.raises(DataError, match=rf"field '{field}', row 1: '' is not a number \(line 3\)$"):
        read_conditions(cond)


# ------------------------------------------------------------------------------------ API flags
COND = [[30.0, 60.0, 21.1, 2.0]]


@pytest.mark.parametrize(
    ("kwargs", "name", "value"),
    [
        ({"conditions": COND, "band_limit": "no"}, "band_limit", "'no'"),
        ({"conditions": COND, "band_limit": "False"}, "band_limit", "'False'"),
        ({"conditions": COND, "band_limit": 0}, "band_limit", "0"),
        ({"conditions": COND, "band_limit": None}, "band_limit", "None"),
        ({"joint": "no"}, "joint", "'no'"),
        ({"joint": "yes"}, "joint", "'yes'"),
        ({"joint": 1}, "joint", "1"),
        ({"conditions": COND, "joint": ""}, "joint", "''"),
    ],
)
def test_generate_flags_must_be_booleans(
    model: ABRModel, no_sampling: None, kwargs: dict, name: str, value: str
) -> None:
    with pytest.raises(TypeError, match=rf"^{name} must be True or False, got {re.escape(value)} "):
        model.generate(2, steps=3, **kwargs)


def test_generate_numpy_booleans_are_flags(model: ABRModel) -> None:
    """np.bool_ (a mask element, a config read with numpy) is a real boolean, not refused with the strings."""
    raw = model.generate(1, conditions=COND, steps=1, band_limit=np.False_)
    assert raw.attrs["band_limit_hz"] == "none"
    with pytest.raises(TypeError, match=r"^joint must be True or False"):
        model.generate(1, conditions=COND, steps=1, joint="False")


def test_api_seeds_have_the_clis_range(model: ABRModel, no_sampling: None) -> None:
    """The CLI and `abrnet train` take seeds 0..2^32-1; the API took 2**70 for generate and denoise."""
    for call in (lambda: model.generate(1, conditions=COND, steps=1, seed=2**32),
                 lambda: model.denoise("unread.csv", seed=2**32)):  # fmt: skip
        with pytest.raises(ValueError, match=r"^seed must be an integer >= 0 and <= 4294967295, got 4294967296$"):
            call()


@pytest.mark.parametrize("command", ["generate", "denoise", "data import"])
def test_a_dataset_named_csv_is_refused_before_any_work(command: str, tmp_path: Path) -> None:
    """The .h5 name is checked with the other outputs, before the model loads or a file is read: `generate --out
    g.csv` sampled for half a minute and then failed at the save."""
    src = tmp_path / "in.csv"
    src.write_text("not read: the name is refused first\n")
    missing = str(tmp_path / "no_such.ckpt")  # never loaded
    args = {
        "generate": ["generate", "--checkpoint", missing, "--n", "1", "--joint", "--out", str(tmp_path / "g.csv")],
        "denoise": ["denoise", "--checkpoint", missing, str(src), "--out", str(tmp_path / "d.csv")],
        "data import": ["data", "import", str(src), "--out", str(tmp_path / "i.csv")],
    }[command]
    res = runner.invoke(app, args)
    assert res.exit_code == 2, res.output
    assert "field '--out': an abrnet dataset (HDF5) must be named .h5 or .hdf5, got '.csv'" in res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]
