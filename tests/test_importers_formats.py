"""BioSigRZ CSV and TDT .arf readers (files written from their published layouts), the metadata the readers keep,
and malformed input for every format family: the error names the file and the line, and `data import` writes nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from abrnet.cli.main import app
from abrnet.data.importers import detect_format, read_recording
from abrnet.data.schema import DataError
from tests._arf_writer import abr_like, write_arf, write_biosig_csv
from tests.conftest import SHARED

EPL = SHARED / "fixtures" / "epl_abr_peak_analysis"
FS_RZ6 = 24414.0625
runner = CliRunner()


@pytest.mark.parametrize("rz", [True, False], ids=["RZ", "RP"])
def test_arf_tone_file_levels_frequencies_volts(tmp_path: Path, rz: bool) -> None:
    recs = [(f, lv, abr_like(244, FS_RZ6, lv / 90.0, seed=lv) * 1e-6) for f in (8000.0, 16000.0) for lv in (90, 50)]
    path = write_arf(tmp_path / "m.arf", recs, rz=rz)
    assert detect_format(path) == "tdt_arf"
    c = read_recording(path, age_years=0.3, stimulus_rate_hz=21.0)
    assert c.attrs["arf_variant"] == ("BioSigRZ" if rz else "BioSigRP")
    assert c.n_records == 4 and c.n_samples == 244
    assert c.sampling_rate_hz == pytest.approx(1e6 / 40.96, rel=1e-6)
    assert c.static_column("intensity_db").tolist() == [90, 50, 90, 50]
    assert c.extras["stimulus_freq_hz"].tolist() == [8000, 8000, 16000, 16000]
    assert set(c.extras["stimulus"]) == {"tone_pip"} and set(c.extras["level_unit"]) == {"dB SPL"}
    np.testing.assert_allclose(c.signals[0], recs[0][2] * 1e6, rtol=1e-5, atol=1e-6)  # volts → µV


def test_arf_click_convention(tmp_path: Path) -> None:
    path = write_arf(tmp_path / "c.arf", [(70.0, 0.1, abr_like(244, FS_RZ6) * 1e-6)], rz=True)
    c = read_recording(path, age_years=0.3, stimulus_rate_hz=21.0, stimulus="click")
    assert c.static_column("intensity_db").tolist() == [70] and set(c.extras["stimulus"]) == {"click"}


def test_biosig_csv_abra_layout(tmp_path: Path) -> None:
    rows = [(8000.0, lv, abr_like(244, FS_RZ6, lv / 80.0)) for lv in (80, 60, 40)]
    path = write_biosig_csv(tmp_path / "a.csv", rows, lead=("SGI", "Rec No."))
    assert detect_format(path) == "biosig_csv"
    c = read_recording(path, age_years=0.3, stimulus_rate_hz=21.0)
    assert c.n_records == 3 and c.n_samples == 244
    assert c.sampling_rate_hz == pytest.approx(24_400.0)  # ABRA's 10 ms convention, stated in attrs
    assert "ABRA" in c.attrs["sampling_rate_source"]
    given = read_recording(path, age_years=0.3, stimulus_rate_hz=21.0, sampling_rate_hz=FS_RZ6)
    assert given.sampling_rate_hz == FS_RZ6
    np.testing.assert_allclose(c.signals[0], rows[0][2], atol=1e-6)
    nv = read_recording(path, age_years=0.3, stimulus_rate_hz=21.0, units="nV")
    np.testing.assert_allclose(nv.signals, c.signals / 1000, rtol=1e-5)


# (family, maker(tmp) -> (path, expected regex naming file and line))
def _broken_cfts(d: Path) -> Path:
    text = (EPL / "ABR-136-1").read_bytes().decode("latin-1")
    at = text.index("0.0", text.index(":DATA") + 200)  # a few samples into the waveform block
    (d / "ABR-1").write_bytes((text[:at] + "x" + text[at + 1 :]).encode("latin-1"))
    return d / "ABR-1"


def _broken_text(src: Path, d: Path, name: str, line: int, old: str, new: str) -> Path:
    """Copy of ``src`` with LF line ends and ``old`` → ``new`` once on (1-based) ``line``."""
    lines = [ln for ln in src.read_text(encoding="latin-1").splitlines() if ln.strip()]
    lines[line - 1] = lines[line - 1].replace(old, new, 1)
    (d / name).write_text("\n".join(lines) + "\n", encoding="latin-1")
    return d / name


def _broken_arf(d: Path) -> Path:
    path = write_arf(d / "t.arf", [(8000.0, 80.0, np.zeros(244, np.float32))], rz=True)
    path.write_bytes(path.read_bytes()[:-100])  # truncated: the samples do not fit
    return path


FAST, SMART, WAVE = EPL / "XYZ999-ABR-15-1000.tsv", EPL / "FBN_35_COCH_EXT_LEFT_12K.txt", EPL / "8 kHz waveform.txt"
MALFORMED = [
    ("epl_cfts", _broken_cfts, r"ABR-1: field 'DATA column \d+', row \d+"),
    ("fast_abr", lambda d: _broken_text(FAST, d, "f.tsv", 50, "\t", "\tx"), r"f\.tsv: .*row"),
    ("smartep", lambda d: _broken_text(SMART, d, "s.txt", 30, ",", ",,"), r"s\.txt.*row 30"),
    ("time_columns", lambda d: _broken_text(WAVE, d, "w.txt", 9, "\t", "\tabc"), r"w\.txt.*(row|line) 9"),
    ("biosig_csv", lambda d: _broken_text(
        write_biosig_csv(d / "b0.csv", [(8000.0, 80.0, np.ones(20))]), d, "b.csv", 2, ",80,", ",eighty,"),
     r"b\.csv: field 'Level\(dB\)'.*line 2"),
    ("tdt_arf", _broken_arf, r"t\.arf: field '<format>'.*do not fit"),
]  # fmt: skip


@pytest.mark.parametrize(("maker", "pattern"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_malformed_input_names_file_and_line_and_writes_nothing(tmp_path: Path, maker, pattern: str) -> None:
    if not EPL.is_dir():
        pytest.skip("fixtures not present")
    path = maker(tmp_path)
    with pytest.raises(DataError, match=pattern):
        read_recording(path, age_years=1.0, stimulus_rate_hz=21.0)
    out = tmp_path / "out.h5"
    res = runner.invoke(app, ["data", "import", str(path), "--out", str(out), "--age", "1", "--rate", "21"])
    assert res.exit_code == 2 and "error:" in res.output and path.name in res.output
    assert not out.exists()


def test_bad_metadata_option_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="species"):
        read_recording(EPL / "ABR-136-1", age_years=1.0, species="dragon")
    c = read_recording(EPL / "ABR-136-1", age_years=1.0, species="Mouse", level_unit="spl")
    assert set(c.extras["species"]) == {"mouse"} and set(c.extras["level_unit"]) == {"dB SPL"}
