"""A record-level header value (level, stimulus rate, threshold) out of range or not a number is reported at the
file line that states it, like a bad sample is; these errors used to carry no line at all."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from abrnet.data.importers import read_recording
from abrnet.data.schema import DataError
from tests.conftest import FIXTURES, require_fixture
from tests.test_reader_contract import OPTS, write_psi_abr

EPL = FIXTURES / "epl_abr_peak_analysis"


def _lines(src: Path) -> list[str]:
    """The fixture's lines as the readers count them (CR, LF and CRLF each end one); skips without fixtures."""
    return re.split(r"\r\n|\r|\n", require_fixture(src).read_bytes().decode("latin-1"))


def _write(path: Path, lines: list[str]) -> Path:
    path.write_bytes("\n".join(lines).encode("latin-1"))
    return path


def _at(lines: list[str], prefix: str) -> int:
    """0-based index of the first line starting with ``prefix`` (its file line is one more)."""
    return next(i for i, ln in enumerate(lines) if ln.startswith(prefix))


def _error(path: Path, **kw: float) -> DataError:
    with pytest.raises(DataError) as err:
        read_recording(path, **kw)
    assert "\n" not in str(err.value)
    return err.value


def test_epl_cfts_level_and_rate_name_their_header_lines(tmp_path: Path) -> None:
    lines = _lines(EPL / "ABR-136-1")
    k = _at(lines, ":LEVELS:")
    good = lines[k]
    lines[k] = good.replace(":LEVELS:0;", ":LEVELS:900;")
    err = _error(_write(tmp_path / "ABR-loud", lines), age_years=1.0)
    assert (err.field, err.row) == ("intensity_db", k + 1) and "DATA column 1" in str(err)
    lines[k] = good.replace(":LEVELS:0;", ":LEVELS:zero;")
    err = _error(_write(tmp_path / "ABR-text", lines), age_years=1.0)
    assert (err.field, err.row) == ("LEVELS", k + 1) and "'zero' is not a number" in str(err)
    lines[k] = good.replace(":LEVELS:0;", ":LEVELS:nan;")  # NaN was dropped silently, like a -Inf control
    err = _error(_write(tmp_path / "ABR-nan", lines), age_years=1.0)
    assert (err.field, err.row) == ("intensity_db", k + 1)
    lines[k] = good
    r = _at(lines, ":SW EAR:")
    lines[r] = lines[r].replace("REP RATE (/sec): 35", "REP RATE (/sec): 5000")
    err = _error(_write(tmp_path / "ABR-fast", lines), age_years=1.0)
    assert (err.field, err.row) == ("stimulus_rate_hz", r + 1)


def test_time_columns_level_in_a_column_name_names_the_header_line(tmp_path: Path) -> None:
    lines = [ln for ln in _lines(EPL / "8 kHz waveform.txt") if ln.strip()]
    lines.insert(0, "")  # a blank first line: the header is file line 2
    lines[1] = lines[1].replace("8kHz80dB", "8kHz800dB", 1)
    err = _error(_write(tmp_path / "w.txt", lines), age_years=1.0, stimulus_rate_hz=21.0)
    assert (err.field, err.row) == ("intensity_db", 2) and "8kHz800dB (column 2)" in str(err)


def test_smartep_intensity_and_rate_name_their_rows(tmp_path: Path) -> None:
    lines = _lines(EPL / "FBN_35_COCH_EXT_LEFT_12K.txt")
    k = _at(lines, "Intensity:")
    cells = lines[k].split(",")
    cells[7] = "900"  # the second group's level
    lines[k] = ",".join(cells)
    err = _error(_write(tmp_path / "s.txt", lines), age_years=1.0)
    assert (err.field, err.row) == ("intensity_db", k + 1) and "record 2" in str(err)
    lines = _lines(EPL / "FBN_35_COCH_EXT_LEFT_12K.txt")
    r = _at(lines, "Stim. Rate:")
    lines[r] = lines[r].replace(" 50.00", "5000")
    err = _error(_write(tmp_path / "r.txt", lines), age_years=1.0)
    assert (err.field, err.row) == ("stimulus_rate_hz", r + 1)
    lines[r] = lines[r].replace("5000", "fast", 1)
    err = _error(_write(tmp_path / "r.txt", lines), age_years=1.0)
    assert (err.field, err.row) == ("Stim. Rate:", r + 1) and "'fast' is not a number" in str(err)
    lines[r] = lines[r].replace("fast", "40", 1)  # groups at two rates: each its own (was "differs between ...")
    err = _error(_write(tmp_path / "r.txt", lines), age_years=1.0)  # so the first out-of-range one is group 2's
    assert (err.field, err.row) == ("stimulus_rate_hz", r + 1) and "record 2: group 2 (column 8)" in str(err)


def test_psi_level_names_the_level_row(tmp_path: Path) -> None:
    run = write_psi_abr(tmp_path / "x abr_io")
    csv_path = next(run.glob("* average waveforms.csv"))
    lines = csv_path.read_text().splitlines()
    assert lines[1].startswith("level,")
    lines[1] = "level,80.0,400.0,80.0,40.0"
    csv_path.write_text("\n".join(lines) + "\n")
    err = _error(run, **OPTS)
    assert (err.field, err.row) == ("intensity_db", 2) and err.source == str(csv_path)
    assert "record 2: 8000.0/400.0 (column 3)" in str(err)


def test_fast_abr_level_rate_and_threshold_name_their_lines(tmp_path: Path) -> None:
    src = EPL / "XYZ999-ABR-15-1000.tsv"
    lines = _lines(src)
    h = _at(lines, "[DATA]") + 1  # the table header: the levels are its Neural_<level> names
    lv = _at(lines, "Levels=")
    lines[h] = lines[h].replace("Neural_80", "Neural_800")
    lines[lv] = lines[lv].replace(";80;", ";800;")
    err = _error(_write(tmp_path / "a.tsv", lines), age_years=1.0)
    assert (err.field, err.row) == ("intensity_db", h + 1) and "Neural_800" in str(err)
    lines = _lines(src)
    r = _at(lines, "Stimulus.Rep rate (/sec)=")
    for rate in ("5000", "nan"):
        lines[r] = f"Stimulus.Rep rate (/sec)={rate}"
        err = _error(_write(tmp_path / "b.tsv", lines), age_years=1.0)
        assert (err.field, err.row) == ("stimulus_rate_hz", r + 1)
    lines = _lines(src)
    t = _at(lines, "Threshold=")
    lines[t] = "Threshold=500"
    err = _error(_write(tmp_path / "c.tsv", lines), age_years=1.0)
    assert (err.field, err.row) == ("threshold_db", t + 1)
    lines = _lines(src)
    lines[lv] = lines[lv].replace(";80;", ";eighty;")  # was a ValueError traceback
    err = _error(_write(tmp_path / "d.tsv", lines), age_years=1.0)
    assert (err.field, err.row) == ("Levels", lv + 1)


def test_a_bad_ear_option_is_quoted_as_typed() -> None:
    """The message showed numpy's repr ("got np.str_('X')"); the option is refused before the file is read."""
    path = require_fixture(FIXTURES / "epl_cfts_bburan" / "ABR-52-3")
    with pytest.raises(DataError, match=r"^reading options: field 'ear': must be L or R \(or Left/Right\), got 'X'$"):
        read_recording(path, age_years=0.2, ear="X")
    with pytest.raises(DataError, match=r"got 'Lunch'$"):  # was cut to its first letter and read as the left ear
        read_recording(path, age_years=0.2, ear="Lunch")
    assert set(read_recording(path, age_years=0.2, ear="left").ear) == {"L"}
