"""BioSigRZ CSV and TDT .arf readers (files written from their published layouts), the metadata the readers keep,
and malformed input for every format family: the error names the file and the line, and `data import` writes nothing."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from abrnet.cli.main import app
from abrnet.data.csv_io import write_wide_csv
from abrnet.data.importers import detect_format, read_recording
from abrnet.data.io import load_cohort, save_cohort
from abrnet.data.schema import DataError
from abrnet.inference.inputs import read_many
from tests._arf_writer import abr_like, write_arf, write_biosig_csv
from tests.conftest import FIXTURES, make_toy_cohort, require_fixture

EPL = FIXTURES / "epl_abr_peak_analysis"
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


def test_arf_rate_series_keeps_each_records_rate(tmp_path: Path) -> None:
    """A BioSigRZ rate series steps the repetition rate as a variable; one --rate for all was wrong for some."""
    recs = [(8000.0, 70.0, abr_like(244, FS_RZ6, seed=k) * 1e-6) for k in range(4)]
    rates = [11.1, 51.1, 11.1, 51.1]
    path = write_arf(tmp_path / "r.arf", recs, rz=True, var_names=("Freq", "Level", "Rate"), var3=rates)
    c = read_recording(path, age_years=0.3)
    np.testing.assert_allclose(c.static_column("stimulus_rate_hz"), rates, rtol=1e-6)
    assert "stimulus rate = Var3" in c.attrs["var_mapping"]
    forced = read_recording(path, age_years=0.3, stimulus_rate_hz=21.0)  # a passed rate overrides every record
    assert set(forced.static_column("stimulus_rate_hz").tolist()) == {21.0}
    assert "(overridden)" in forced.attrs["var_mapping"]
    with pytest.raises(DataError, match=r"stimulus_rate_hz.*not recorded"):  # no rate variable: still asked for
        read_recording(write_arf(tmp_path / "n.arf", recs, rz=True, var_names=("Freq", "Level")), age_years=0.3)


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
    require_fixture(EPL)
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


def test_same_file_name_in_two_folders_stays_two_animals(tmp_path: Path) -> None:
    """Two animals' ``8 kHz waveform.txt`` in their own folders are two patients, never one merged patient."""
    require_fixture(EPL)
    for animal in ("mouse1", "mouse2"):
        (tmp_path / "in" / animal).mkdir(parents=True)
        (tmp_path / "in" / animal / WAVE.name).write_bytes(WAVE.read_bytes())
    c, _ = read_many([tmp_path / "in"], age_years=0.25, stimulus_rate_hz=21.0)
    assert sorted(set(c.patient_id)) == ["mouse1/8 kHz waveform", "mouse2/8 kHz waveform"]
    assert (c.patient_id == "mouse1/8 kHz waveform").sum() == 14
    out = tmp_path / "out.h5"
    res = runner.invoke(app, ["data", "import", str(tmp_path / "in"), "--out", str(out), "--age", "1", "--rate", "21"])
    assert res.exit_code == 0, res.output
    assert sorted(set(load_cohort(out).patient_id)) == ["mouse1/8 kHz waveform", "mouse2/8 kHz waveform"]


def test_shared_ids_of_two_datasets_are_refused(tmp_path: Path) -> None:
    """Ids stored in .h5 files are the user's: two files holding the same patient are refused, naming both."""
    for name in ("a.h5", "b.h5"):
        save_cohort(make_toy_cohort(2), tmp_path / name)
    with pytest.raises(DataError, match=r"a\.h5, .*b\.h5: field 'patient_id'.*'P000'"):
        read_many([tmp_path / "a.h5", tmp_path / "b.h5"])


def test_one_file_per_ear_of_one_patient_is_one_patient(tmp_path: Path) -> None:
    """Devices export one file per ear: a left- and a right-ear file of one patient were refused ("both files hold
    patient"), so patients.csv could not compare the ears (hunt 8, #23). Disjoint ears are one patient; one ear in
    two files is still refused, naming both files."""
    cohort = make_toy_cohort(1)
    for ear in ("L", "R"):
        save_cohort(cohort.subset(cohort.ear == ear), tmp_path / f"{ear}.h5")
    both, _ = read_many([tmp_path / "L.h5", tmp_path / "R.h5"])
    assert set(both.patient_id) == {"P000"} and sorted(set(both.ear)) == ["L", "R"]
    assert both.n_records == cohort.n_records
    with pytest.raises(DataError, match=r"L\.h5, .*L\.h5: field 'patient_id': both files hold ear L of patient 'P000'"):
        read_many([tmp_path / "L.h5", tmp_path / "L.h5"])
    unnamed = cohort.subset(cohort.ear == "R")
    unnamed.attrs["ear_unknown"] = 1  # a second run that names no ear: read as R, assumed
    write_wide_csv(unnamed, tmp_path / "blank.csv")
    with pytest.raises(DataError, match=r"field 'ear': .*blank\.csv names no ear for patient 'P000', whose ear the"):
        read_many([tmp_path / "L.h5", tmp_path / "blank.csv"])  # patients.csv compared L with an assumed "R"


def test_folder_keeps_each_files_provenance(tmp_path: Path) -> None:
    """Attrs that differ between files (ear_unknown, fmp_source, format) are kept per record, not dropped."""
    require_fixture(EPL)
    for src in (SMART, WAVE):
        (tmp_path / src.name).write_bytes(src.read_bytes())
    c, _ = read_many([tmp_path], age_years=1.0, stimulus_rate_hz=21.0)
    smart = c.extras["source_file"] == SMART.name
    assert smart.sum() == 13 and (~smart).sum() == 14
    assert set(c.extras["attr_fmp_source"][smart]) == {"split_buffers"}
    assert set(c.extras["attr_fmp_source"][~smart]) == {"missing"}
    assert set(c.extras["attr_format"][smart]) == {"smartep"}
    assert set(c.extras["attr_format"][~smart]) == {"time_columns"}
    assert np.all(c.extras["attr_ear_unknown"][~smart] == 1) and np.all(np.isnan(c.extras["attr_ear_unknown"][smart]))
    assert set(c.ear[smart]) == {"L"}


def _lines(src: Path) -> list[str]:
    """The file's lines as the readers count them (CR, LF and CRLF each end one), for edited LF copies."""
    return re.split(r"\r\n|\r|\n", src.read_bytes().decode("latin-1"))


def _write(path: Path, lines: list[str]) -> Path:
    path.write_bytes("\n".join(lines).encode("latin-1"))
    return path


def _epl_lines() -> list[str]:
    """An EPL CFTS click series' lines, to edit into a broken copy (see `require_fixture`)."""
    src = require_fixture(EPL / "ABR-136-1")
    return _lines(src)


def test_cfts_with_only_no_stimulus_columns_is_refused(tmp_path: Path) -> None:
    lines = _epl_lines()
    k = next(i for i, ln in enumerate(lines) if ln.startswith(":LEVELS:"))
    n = len([v for v in lines[k].removeprefix(":LEVELS:").split(";") if v.strip()])
    lines[k] = ":LEVELS:" + "-Inf;" * n
    path = _write(tmp_path / "ABR-controls", lines)
    with pytest.raises(DataError, match=rf"ABR-controls: field '<records>': no records: all {n} columns are no-stim"):
        read_recording(path, age_years=1.0)
    res = runner.invoke(app, ["data", "import", str(path), "--out", str(tmp_path / "o.h5"), "--age", "1"])
    assert res.exit_code == 2 and "no records" in res.output and not (tmp_path / "o.h5").exists()


def test_bad_sample_is_reported_at_its_file_line_and_column(tmp_path: Path) -> None:
    """Validation errors name the column and line the user finds in the file, not a 0-based record index."""
    lines = _epl_lines()
    d = next(i for i, ln in enumerate(lines) if ln.startswith(":DATA"))
    cells = lines[d + 6].split("\t")
    cells[3] = " NaN"
    lines[d + 6] = "\t".join(cells)  # sample 6 of column 4, file line d + 7
    with pytest.raises(DataError, match=rf"field 'DATA column 4', row {d + 7}: .*sample 6"):
        read_recording(_write(tmp_path / "ABR-nan", lines), age_years=1.0)
    lines = [ln for ln in _lines(WAVE) if ln.strip()]  # CR CR CRLF in the file: blank lines dropped here
    cells = lines[10].split("\t")
    cells[3] = "nan"
    lines[10] = "\t".join(cells)
    with pytest.raises(DataError, match=r"field '8kHz60dB \(column 4\)', row 11"):
        read_recording(_write(tmp_path / "w.txt", lines), age_years=1.0, stimulus_rate_hz=21.0)
    lines = [ln for ln in _lines(WAVE) if ln.strip()]
    lines[10] = "nan" + lines[10][lines[10].index("\t") :]
    with pytest.raises(DataError, match=r"field 'time', row 11: .*line 11"):
        read_recording(_write(tmp_path / "t.txt", lines), age_years=1.0, stimulus_rate_hz=21.0)


def _retimed(path: Path, header: str, scale: float) -> Path:
    lines = [ln for ln in _lines(WAVE) if ln.strip()]
    rows = [ln.split("\t", 1) for ln in lines[1:]]
    body = [f"{float(t) * scale!r}\t{rest}" for t, rest in rows]
    return _write(path, [header + lines[0][lines[0].index("\t") :], *body])


def test_time_unit_in_the_header_is_honoured(tmp_path: Path) -> None:
    require_fixture(WAVE)
    plain = read_recording(WAVE, age_years=1.0, stimulus_rate_hz=21.0)
    c = read_recording(_retimed(tmp_path / "us.txt", "time (us)", 1e6), age_years=1.0, stimulus_rate_hz=21.0)
    assert c.sampling_rate_hz == pytest.approx(plain.sampling_rate_hz, rel=1e-6)
    assert c.attrs["time_units_in_file"] == "us"
    np.testing.assert_array_equal(c.signals, plain.signals)
    ms = read_recording(_retimed(tmp_path / "ms.txt", "Time [ms]", 1e3), age_years=1.0, stimulus_rate_hz=21.0)
    assert ms.sampling_rate_hz == pytest.approx(plain.sampling_rate_hz, rel=1e-6)
    # the fix each refusal names is one a CLI user can make (no CLI option sets time_units; hunt 48 #5)
    fix = r"looks like s\); correct the header's unit, e\.g\. 'time \(s\)' \(from Python: time_units='s'\)$"
    with pytest.raises(DataError, match=r"field 'Time \(ms\)', row 1: .*implausible.*" + fix):
        read_recording(_retimed(tmp_path / "lie.txt", "Time (ms)", 1.0), age_years=1.0, stimulus_rate_hz=21.0)
    bare = r"field 'time', row 3: .*implausible .*by the time step; state the header's unit, e\.g\. 'time \(us\)'"
    with pytest.raises(DataError, match=bare):  # µs read as ms: 24 Hz
        read_recording(_retimed(tmp_path / "bare.txt", "time", 1e6), age_years=1.0, stimulus_rate_hz=21.0)


def test_wide_csv_without_patient_id_names_the_missing_column(tmp_path: Path) -> None:
    path = write_wide_csv(make_toy_cohort(1), tmp_path / "w.csv")
    lines = path.read_text().splitlines()
    path.write_text("\n".join(ln.split(",", 1)[1] for ln in lines) + "\n")  # drop the first column, patient_id
    assert detect_format(path) == "csv"
    with pytest.raises(DataError, match=r"w\.csv: field 'patient_id'.*required column missing"):
        read_recording(path)


def test_implausible_sampling_rate_is_refused(tmp_path: Path) -> None:
    """One guard for every reader: a rate no recorder uses means a misread unit, never a silent dataset."""
    path = write_biosig_csv(tmp_path / "b.csv", [(8000.0, 80.0, np.ones(244))])
    with pytest.raises(DataError, match=r"b\.csv: field 'sampling_rate_hz': 24\.4 Hz is implausible"):
        read_recording(path, age_years=1.0, stimulus_rate_hz=21.0, sampling_rate_hz=24.4)


def _set_cell(line: str, sep: str, j: int, value: str) -> str:
    cells = line.split(sep)
    cells[j] = value
    return sep.join(cells)


def test_fast_abr_bad_sample_is_reported_at_its_file_line_and_column(tmp_path: Path) -> None:
    """Fast ABR reported the table index (and 'signals', the record index) instead of the file's line."""
    require_fixture(FAST)
    lines = _lines(FAST)
    at = next(i for i, ln in enumerate(lines) if ln.strip() == "[DATA]") + 12
    cells = lines[at].strip().split("\t")
    lines[at] = "\t".join([*cells[:5], "nan", *cells[6:]])  # Time, Neural_20, ..., the 6th column: Neural_40
    with pytest.raises(DataError, match=rf"f\.tsv: field 'Neural_40', row {at + 1}: .*\(sample 11\)"):
        read_recording(_write(tmp_path / "f.tsv", lines), age_years=1.0)
    lines = _lines(FAST)
    lines[at] = "\t".join([*cells[:20], "inf", *cells[21:]])  # a CM column: not a record, still refused
    with pytest.raises(DataError, match=rf"field 'CM_\d+', row {at + 1}"):
        read_recording(_write(tmp_path / "g.tsv", lines), age_years=1.0)


def test_smartep_lines_count_blank_lines(tmp_path: Path) -> None:
    """SmartEP counted only non-blank lines, so after a blank line every error pointed one line too high."""
    require_fixture(SMART)
    lines = _lines(SMART)
    lines.insert(2, "")
    d = next(i for i, ln in enumerate(lines) if ln.startswith("Data Pnt:"))
    row = d + 400
    good = lines[row]
    lines[row] = _set_cell(good, ",", 14, "nan")  # third group's Average(uV): cell 15
    with pytest.raises(DataError, match=rf"s\.txt: field 'Average\(uV\): \(column 15\)', row {row + 1}: .*sample"):
        read_recording(_write(tmp_path / "s.txt", lines), age_years=1.0)
    lines[row] = _set_cell(good, ",", 16, "nan")  # its Buffer1(uV): no longer "buffers, record 3" without a line
    with pytest.raises(DataError, match=rf"field 'Buffer1\(uV\): \(column 17\)', row {row + 1}"):
        read_recording(_write(tmp_path / "s.txt", lines), age_years=1.0)
    lines[row] = good
    k = next(i for i, ln in enumerate(lines) if ln.startswith("Intensity:"))
    lines[k] = _set_cell(lines[k], ",", 1, "loud")
    with pytest.raises(DataError, match=rf"field 'Intensity:', row {k + 1}"):
        read_recording(_write(tmp_path / "s.txt", lines), age_years=1.0)


def test_biosig_and_psi_bad_samples_are_reported_at_their_lines(tmp_path: Path) -> None:
    """BioSig CSV and psi passed no ``locate``: a bad sample was 'signals, row <record index>'."""
    from tests.test_reader_contract import write_psi_abr

    path = write_biosig_csv(tmp_path / "b.csv", [(8000.0, lv, abr_like(244, FS_RZ6)) for lv in (80, 60, 40)])
    lines = path.read_text().splitlines()
    lines.insert(1, "")
    good = lines[3]
    lines[3] = _set_cell(good, ",", 2 + 5, "nan")  # sample 5 of the second record, file line 4
    with pytest.raises(DataError, match=r"b\.csv: field '5 \(column 8\)', row 4: .*sample 6"):
        read_recording(_write(path, lines), age_years=1.0, stimulus_rate_hz=21.0)
    lines[3] = _set_cell(good, ",", 1, "900")  # a level out of range: the record's line
    with pytest.raises(DataError, match=r"field 'intensity_db', row 4: .*line 4"):
        read_recording(_write(path, lines), age_years=1.0, stimulus_rate_hz=21.0)
    run = write_psi_abr(tmp_path / "x abr_io")
    csv_path = next(run.glob("* average waveforms.csv"))
    lines = csv_path.read_text().splitlines()
    for value, what in (("2e4", "sample"), ("nan", "non-finite")):
        edited = [*lines[:9], _set_cell(lines[9], ",", 3, value), *lines[10:]]
        csv_path.write_text("\n".join(edited) + "\n")
        with pytest.raises(
            DataError, match=rf"average waveforms\.csv: field 'click/80\.0 \(column 4\)', row 10: .*{what}"
        ):
            read_recording(run, age_years=1.0, stimulus_rate_hz=21.0)


@pytest.mark.parametrize(("header", "scale", "unit"), [
    ("t [ms]", 1e3, "ms"), ("t (ms)", 1e3, "ms"), ("Time_us", 1e6, "us"), ("ms", 1e3, "ms"), ("t_us", 1e6, "us"),
    ("(ms)", 1e3, "ms"), ("t", 1.0, "s"),
])  # fmt: skip
def test_common_time_headers_are_accepted(tmp_path: Path, header: str, scale: float, unit: str) -> None:
    """Only headers starting with 'time' were accepted; the unit such a header states is honoured."""
    require_fixture(WAVE)
    plain = read_recording(WAVE, age_years=1.0, stimulus_rate_hz=21.0)
    c = read_recording(
        _retimed(tmp_path / "h.txt", header, scale), "time_columns", age_years=1.0, stimulus_rate_hz=21.0
    )
    assert c.attrs["time_units_in_file"] == unit and c.attrs["time_column"] == header
    assert c.sampling_rate_hz == pytest.approx(plain.sampling_rate_hz, rel=1e-6) and c.n_records == plain.n_records


@pytest.mark.parametrize("header", ["sample", "s", "8kHz80dB", "tone"])
def test_what_is_not_a_time_column_is_still_refused(tmp_path: Path, header: str) -> None:
    require_fixture(WAVE)
    path = _retimed(tmp_path / "h.txt", header, 1e3)
    with pytest.raises(DataError, match=rf"h\.txt: field '{header}', row 1: first column must be the time column"):
        read_recording(path, "time_columns", age_years=1.0, stimulus_rate_hz=21.0)


@pytest.mark.parametrize("header", ["t (ms)", "t [ms]", "ms", "Time_us"])
def test_time_headers_the_reader_accepts_are_detected(tmp_path: Path, header: str) -> None:
    """`detect_format` routes every header `time_columns.is_time_header` accepts, so `--format auto` reads them."""
    path = tmp_path / "export.csv"
    path.write_text(f"{header},60 dB,40 dB\n0,0.1,0.05\n0.05,0.2,0.1\n0.1,0.3,0.2\n")
    assert detect_format(path) == "time_columns"


def test_a_time_column_file_whose_lines_end_in_a_separator_reads_as_without(tmp_path: Path) -> None:
    """A trailing tab on every line, header included, made an unnamed empty column: "field '', row 2: '' is not a
    number" (hunt 48 #7); the wide CSV already ignored a spreadsheet's trailing comma."""
    src = require_fixture(EPL / "8 kHz waveform.txt")
    tabbed = tmp_path / "tabbed.txt"
    tabbed.write_text("".join(line + "\t\n" for line in src.read_text().splitlines()))
    got, plain = (read_recording(p, age_years=1.0, stimulus_rate_hz=21.1) for p in (tabbed, src))
    np.testing.assert_array_equal(got.signals, plain.signals)
    assert got.static_column("intensity_db").tolist() == plain.static_column("intensity_db").tolist()
