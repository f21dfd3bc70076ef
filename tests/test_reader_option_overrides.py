"""Reader options that replace a value a device export records (``--rate``, ``--ear``) are used, but never silently.

Why (hunt 7, item 7): ``abrnet data import ABR-52-3 --rate 21.1 --ear L`` stored all 12 records at 21.1/s, ear L,
while the file says ``REP RATE 40`` and ``SW EAR: R``, and nothing said so; the README's quick-tour command thus
relabelled a folder of mixed-rate exports. An option still wins (a wrong header can be corrected), but the reader
records it (``attrs["overridden_options"]``) and every reading path warns once per file naming the file's value.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from abrnet.cli.main import app
from abrnet.data.csv_io import write_wide_csv
from abrnet.data.importers import read_recording
from abrnet.data.importers._common import note_override
from abrnet.inference.inputs import read_for_model
from tests._arf_writer import abr_like, write_arf
from tests.conftest import FIXTURES, make_toy_cohort, require_fixture

runner = CliRunner()

# fixture → (the rate it records, its ear); an option of 21.1/s and the other ear differs from both
CASES: dict[str, tuple[float, str]] = {
    "epl_cfts_bburan/ABR-52-3": (40.0, "R"),
    "epl_abr_peak_analysis/FBN_35_COCH_EXT_LEFT_12K.txt": (50.0, "L"),
    "epl_abr_peak_analysis/XYZ999-ABR-15-1000.tsv": (77.0, "R"),
}
OTHER = {"L": "R", "R": "L"}


def _fixture(rel: str) -> Path:
    return require_fixture(FIXTURES / rel)


def _flat(text: str) -> str:
    return " ".join(text.split())  # Rich wraps long lines; the words stay in order


@pytest.mark.parametrize("rel", list(CASES))
def test_reader_uses_a_differing_option_and_records_the_files_value(rel: str) -> None:
    path = _fixture(rel)
    rate, ear = CASES[rel]
    own = read_recording(path, age_years=0.5)
    assert set(own.static_column("stimulus_rate_hz").tolist()) == {rate} and set(own.ear.tolist()) == {ear}
    assert "overridden_options" not in own.attrs
    c = read_recording(path, age_years=0.5, stimulus_rate_hz=21.1, ear=OTHER[ear])
    np.testing.assert_allclose(c.static_column("stimulus_rate_hz"), 21.1, rtol=1e-6)  # the option is used
    assert set(c.ear.tolist()) == {OTHER[ear]}
    assert c.attrs["overridden_options"] == f"stimulus_rate_hz {rate:g} → 21.1, ear {ear} → {OTHER[ear]}"


@pytest.mark.parametrize("rel", list(CASES))
def test_an_equal_option_says_nothing(rel: str) -> None:
    path = _fixture(rel)
    rate, ear = CASES[rel]
    c = read_recording(path, age_years=0.5, stimulus_rate_hz=rate, ear=ear.lower())  # "l" is the file's "L"
    assert "overridden_options" not in c.attrs
    _, warnings = read_for_model(path, age_years=0.5, stimulus_rate_hz=rate, ear={"L": "left", "R": "right"}[ear])
    assert not [w for w in warnings if "override" in w], warnings


@pytest.mark.parametrize("rel", list(CASES))
def test_read_for_model_warns_once_naming_file_option_and_value(rel: str) -> None:
    """predict, denoise, evaluate --data and the viewer read through `read_for_model`."""
    path = _fixture(rel)
    rate, _ = CASES[rel]
    _, warnings = read_for_model(path, age_years=0.5, stimulus_rate_hz=21.1)
    said = [w for w in warnings if "override" in w]
    assert len(said) == 1, warnings
    assert said[0].startswith(f"{path}: ") and f"stimulus_rate_hz {rate:g} → 21.1" in said[0], said[0]
    assert "ear" not in said[0].split(": ", 1)[1]  # no --ear given: the file's ear is not mentioned


def test_per_record_file_values_are_listed_once_and_text_compares() -> None:
    """A rate series (SmartEP groups, an .arf rate variable) lists each rate the file states once."""
    attrs: dict[str, str | float | int] = {}
    note_override(attrs, "stimulus_rate_hz", ["11.1", "51.1", " 11.10"], 11.1)
    assert attrs == {"overridden_options": "stimulus_rate_hz 11.1;51.1 → 11.1"}
    same: dict[str, str | float | int] = {}
    note_override(same, "stimulus_rate_hz", [11.1, 11.1], 11.1)
    note_override(same, "ear", ["Left", "L"], "l")
    note_override(same, "ear", None, "R")  # the file names no ear: nothing replaced
    assert same == {}


def test_data_import_prints_one_warning_per_file(tmp_path: Path) -> None:
    paths = [_fixture(rel) for rel in CASES]
    args = ["data", "import", *map(str, paths), "--age", "0.5", "--rate", "21.1", "--ear", "L", "--model-grid"]
    res = runner.invoke(app, [*args, "--out", str(tmp_path / "x.h5")])
    assert res.exit_code == 0, res.output
    out = _flat(res.output)
    assert out.count("options override the file's values") == 3, res.output
    for path, (rate, ear) in zip(paths, CASES.values(), strict=True):
        note = f"stimulus_rate_hz {rate:g} → 21.1" + (f", ear {ear} → L" if ear != "L" else "")
        assert f"{path}: options override the file's values: {note} (" in out, res.output
    same = runner.invoke(app, ["data", "import", str(paths[0]), "--age", "0.5", "--rate", "40", "--ear", "R",
                               "--out", str(tmp_path / "y.h5")])  # fmt: skip
    assert same.exit_code == 0 and "override" not in same.output, same.output


def test_predict_warns_and_uses_the_option(tmp_path: Path) -> None:
    path = _fixture("epl_cfts_bburan/ABR-52-3")
    out = tmp_path / "r.csv"
    res = runner.invoke(app, ["predict", str(path), "--age", "0.5", "--rate", "21.1", "--ear", "L", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert f"{path}: options override the file's values: stimulus_rate_hz 40 → 21.1, ear R → L" in _flat(res.output)
    assert set(line.split(",")[1] for line in out.read_text().splitlines()[1:]) == {"L"}


def test_arf_rate_variable_overridden_is_noted(tmp_path: Path) -> None:
    recs = [(8000.0, 70.0, abr_like(244, 24414.0625, seed=k) * 1e-6) for k in range(4)]
    path = write_arf(tmp_path / "r.arf", recs, rz=True, var_names=("Freq", "Level", "Rate"), var3=[11.1, 51.1] * 2)
    c = read_recording(path, age_years=0.3, stimulus_rate_hz=21.0)
    assert set(c.static_column("stimulus_rate_hz").tolist()) == {21.0}
    assert c.attrs["overridden_options"] == "stimulus_rate_hz 11.1;51.1 → 21"


def test_wide_csv_keeps_its_columns_and_data_import_says_so(tmp_path: Path) -> None:
    """abrnet's own CSV records rate and ear per row: the option is ignored, as `read_for_model` already said."""
    path = write_wide_csv(make_toy_cohort(1), tmp_path / "w.csv")
    res = runner.invoke(
        app, ["data", "import", str(path), "--rate", "21.1", "--ear", "L", "--out", str(tmp_path / "w.h5")]
    )
    assert res.exit_code == 0, res.output
    out = _flat(res.output)
    assert f"{path}: ear,stimulus_rate_hz ignored, the file records its own values" in out and "override" not in out


def test_metadata_options_that_replace_what_a_file_states_are_noted_and_assumed_defaults_are_not(
    tmp_path: Path,
) -> None:
    """``--level-unit``/``--stimulus`` on an export that states dB SPL tone pips replace them with a note (they
    overrode silently before); on abrnet's own CSV, whose human-click-nHL metadata is assumed, not stated, the same
    options note nothing; an option equal to the file's value notes nothing either."""
    path = _fixture("epl_cfts_bburan/ABR-52-3")
    changed = read_recording(path, age_years=0.2, level_unit="dB nHL", stimulus="click")
    assert changed.attrs["overridden_options"] == "level_unit dB SPL → dB nHL, stimulus tone_pip → click"
    assert set(changed.extras["level_unit"]) == {"dB nHL"}
    same = read_recording(path, age_years=0.2, level_unit="dB SPL", stimulus="tone_pip")
    assert "overridden_options" not in same.attrs
    csv_path = write_wide_csv(make_toy_cohort(n_patients=2), tmp_path / "toy.csv")
    assert "overridden_options" not in read_recording(csv_path, species="mouse", level_unit="dB SPL").attrs


def test_an_imports_overrides_are_not_warned_again_when_its_h5_is_read(tmp_path: Path) -> None:
    """`data import --rate 21.1` of a 40/s export stores what the option replaced; `predict` on that .h5, given no
    option, said "options override the file's values: stimulus_rate_hz 40 → 21.1" again, and with --rate 30 said
    both "ignored" and "the option is used" (hunt 44b #4). The import's notes are kept as history (``import_``)."""
    from abrnet.data.importers._common import option_warnings
    from abrnet.data.io import save_cohort

    src = require_fixture(FIXTURES / "epl_cfts_bburan" / "ABR-52-3")
    imported = read_recording(src, age_years=0.5, stimulus_rate_hz=21.1)
    assert "stimulus_rate_hz" in str(imported.attrs.get("overridden_options"))  # the import itself says it
    h5 = save_cohort(imported, tmp_path / "x.h5")
    again = read_recording(h5)
    assert (
        option_warnings(again.attrs, str(h5)) == [] and "stimulus_rate_hz" in again.attrs["import_overridden_options"]
    )
    given = option_warnings(read_recording(h5, stimulus_rate_hz=30.0).attrs, str(h5))
    assert given == [f"{h5}: stimulus_rate_hz ignored, the file records its own values"]


def test_an_exports_no_stimulus_columns_are_said_once(tmp_path: Path) -> None:
    """A 24-column EPL CFTS export with 5 LEVELS -Inf controls imported as 19 records without a word (hunt 44b #5):
    the read that drops them says so, by column; its .h5 read again does not repeat it."""
    from abrnet.data.importers.epl_cfts import dropped_column_warnings
    from abrnet.data.io import save_cohort

    src = require_fixture(FIXTURES / "epl_abr_peak_analysis" / "ABR-142-10")
    cohort = read_recording(src, age_years=0.5)
    assert cohort.n_records == 19
    assert dropped_column_warnings(cohort.attrs, "f") == [
        "f: 5 no-stimulus control column(s) (LEVELS -Inf: column(s) 4, 9, 14, 19, 24) not read as records"
    ]
    res = runner.invoke(app, ["data", "import", str(src), "--age", "0.5", "--out", str(tmp_path / "x.h5")])
    assert res.exit_code == 0 and "5 no-stimulus control column(s)" in _flat(res.output), res.output
    again = read_recording(save_cohort(cohort, tmp_path / "y.h5"))
    assert dropped_column_warnings(again.attrs, "y.h5") == []
    assert dropped_column_warnings(read_recording(require_fixture(FIXTURES / "epl_cfts_bburan" / "ABR-52-3"),
                                                  age_years=0.5).attrs, "g") == []  # fmt: skip


@pytest.mark.parametrize(
    "rel", ["epl_cfts_bburan/ABR-52-3", "epl_abr_peak_analysis/8 kHz waveform.txt"], ids=["epl_cfts", "time_columns"]
)
def test_a_level_option_the_files_levels_make_moot_is_said_ignored(rel: str) -> None:
    """``--level 57`` on a file that states every record's level was dropped without a word (CFTS, time columns),
    where SmartEP and Fast ABR said so (hunt 48 #6); the file's levels are kept."""
    plain = read_recording(_fixture(rel), age_years=1.0, stimulus_rate_hz=21.1)
    given = read_recording(_fixture(rel), age_years=1.0, stimulus_rate_hz=21.1, level_db=57.0)
    assert given.attrs["ignored_options"] == "level_db" and "ignored_options" not in plain.attrs
    np.testing.assert_array_equal(given.static_column("intensity_db"), plain.static_column("intensity_db"))
    assert not np.any(plain.static_column("intensity_db") == 57.0)


def test_a_level_option_a_file_needs_is_used_not_said_ignored() -> None:
    """An EP export with an empty :LEVELS: takes the option: nothing to say."""
    cohort = read_recording(_fixture("epl_abr_peak_analysis/AAP2044-1_Fz"), age_years=1.0, level_db=50.0)
    assert "ignored_options" not in cohort.attrs and np.all(cohort.static_column("intensity_db") == 50.0)
