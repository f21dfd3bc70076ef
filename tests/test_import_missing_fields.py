"""A file that records neither the age, the stimulus rate nor the level is refused once, naming all three.

Why: the readers stopped at the first missing value (age, then rate, then level), so a time-column CSV (the human
KG export layout) took three runs of `abrnet data import` to learn what to pass (hunt 15 #12).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from abrnet.cli.main import app
from abrnet.data.importers import read_recording
from abrnet.data.importers.needed import MissingOptionsError, check_recorded
from abrnet.data.schema import DataError

runner = CliRunner()
ALL_THREE = "fields 'age_years', 'stimulus_rate_hz', 'level_db': not recorded in this file"


def _time_columns(path: Path, names: list[str], seconds: bool = False) -> Path:
    """A time-column text file: 'Time (ms)' (or 'Time' in s) then one column per name, 200 samples at 20 kHz."""
    t_ms = np.arange(200) * 0.05
    waves = [0.2 * np.sin(2 * math.pi * (k + 1) * t_ms / 10.0) for k in range(len(names))]
    scale, head = (1e-3, "Time") if seconds else (1.0, "Time (ms)")
    rows = [", ".join([f"{t * scale:.6g}", *(f"{w[i] * (1e-6 if seconds else 1.0):.6g}" for w in waves)])
            for i, t in enumerate(t_ms)]  # fmt: skip
    path.write_text("\n".join([", ".join([head, *names]), *rows]) + "\n")
    return path


def test_check_recorded_names_every_missing_value_and_leaves_one_to_its_own_error() -> None:
    no_level = DataError("x.txt", "A", "column name has no '<number> dB' level; pass level_db=...", 1)
    with pytest.raises(MissingOptionsError) as ei:
        check_recorded("x.txt", age_years=None, stimulus_rate_hz=None, levels=no_level)
    err = ei.value
    assert str(err) == (
        f"x.txt: {ALL_THREE.replace(': not', ', row 1: not')}; pass age_years=..., stimulus_rate_hz=..., "
        "level_db=... (CLI --age, --rate, --level)"
    )
    assert err.fields == ("age_years", "stimulus_rate_hz", "level_db") and (err.field, err.row) == ("age_years", 1)
    with pytest.raises(DataError) as one:  # one missing value: the reader's own, more specific error
        check_recorded("x.txt", age_years=1.0, stimulus_rate_hz=21.1, levels=no_level)
    assert one.value is no_level
    check_recorded("x.txt", age_years=None, stimulus_rate_hz=21.1)  # age alone: left to `require`'s message


@pytest.mark.parametrize("layout", ["polarity pair", "level columns"])
def test_a_time_column_file_without_age_rate_or_level_names_all_three(tmp_path: Path, layout: str) -> None:
    if layout == "polarity pair":  # levels never in these files (`build_cohort` finds none)
        path = _time_columns(tmp_path / "kg.csv", ["C", "R", "AVG"], seconds=True)
    else:  # column names without "<n> dB" (the reader finds no level before the age and rate)
        path = _time_columns(tmp_path / "cols.txt", ["A", "B"])
    with pytest.raises(MissingOptionsError) as ei:
        read_recording(path, "time_columns")
    assert ei.value.fields == ("age_years", "stimulus_rate_hz", "level_db"), str(ei.value)
    assert ei.value.row == (None if layout == "polarity pair" else 1)  # the header names the columns' levels
    assert "(CLI --age, --rate, --level)" in str(ei.value) and str(ei.value).startswith(str(path))
    with pytest.raises(MissingOptionsError) as ei:
        read_recording(path, "time_columns", age_years=30.0)
    assert ei.value.fields == ("stimulus_rate_hz", "level_db")
    cohort = read_recording(path, "time_columns", age_years=30.0, stimulus_rate_hz=21.1, level_db=70.0)
    assert cohort.n_records == (1 if layout == "polarity pair" else 2)
    np.testing.assert_array_equal(cohort.static_column("intensity_db"), 70.0)


def test_data_import_says_every_missing_option_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    _time_columns(tmp_path / "kg.csv", ["C", "R", "AVG"], seconds=True)
    res = runner.invoke(app, ["data", "import", "kg.csv", "--format", "time_columns", "--out", "kg.h5"])
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert res.exit_code == 2 and len(lines) == 1, res.output
    assert lines[0] == f"error: kg.csv: {ALL_THREE}; pass --age, --rate, --level"  # the CLI's flags, not keywords
    res = runner.invoke(app, ["data", "import", "kg.csv", "--format", "time_columns", "--out", "kg.h5", "--age", "30"])
    assert (
        res.exit_code == 2 and "fields 'stimulus_rate_hz', 'level_db'" in res.output and "--rate, --level" in res.output
    )
    assert not (tmp_path / "kg.h5").exists()
    args = ["--age", "30", "--rate", "21.1", "--level", "70"]
    res = runner.invoke(app, ["data", "import", "kg.csv", "--format", "time_columns", "--out", "kg.h5", *args])
    assert res.exit_code == 0 and (tmp_path / "kg.h5").is_file(), res.output


def test_describe_fills_all_missing_values_at_once_and_says_so(tmp_path: Path) -> None:
    """`data describe` shows what it can of a file that records none of the three: each is listed as not recorded
    (it read the file with stand-ins for all three from the one error)."""
    from abrnet.cli.data_import import describe_file

    summary = describe_file(_time_columns(tmp_path / "cols.txt", ["A", "B"]), fmt="time_columns")
    assert set(summary["not_recorded"]) >= {"age_years", "stimulus_rate_hz", "level_db"}
    assert [s["levels"] for s in summary["series"]] == [None] and summary["series"][0]["stimulus_rate_hz"] is None


def test_the_cli_says_an_importers_hint_with_its_flags_and_the_viewer_with_its_fields() -> None:
    """The data layer writes both the keyword and the flag; a CLI user was told "pass stimulus_rate_hz=... (...; CLI
    --rate)", the Python keyword first (stop 43). A hint without a CLI flag is left as it is."""
    from abrnet.inference.option_names import cli_hint_text
    from abrnet.viewer.form import viewer_text

    one = "x.txt: field 'stimulus_rate_hz': not recorded in this file; pass stimulus_rate_hz=... (no rate; CLI --rate)"
    assert cli_hint_text(one) == "x.txt: field 'stimulus_rate_hz': not recorded in this file; pass --rate (no rate)"
    assert cli_hint_text("pass level_db=... (CLI --level)") == "pass --level"
    assert cli_hint_text("pass a=..., b=... (CLI --a, --b)") == "pass --a, --b"
    assert cli_hint_text("pass fmp=... (no flag here)") == "pass fmp=... (no flag here)"
    assert viewer_text(one).endswith("in the form's Rate (/s) field and analyse again (no rate)")
    several = "pass age_years=..., stimulus_rate_hz=... (CLI --age, --rate)"
    assert viewer_text(several) == several  # the viewer says a MissingOptionsError from its fields instead
