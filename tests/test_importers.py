"""Device importers on the real exports in ../shared/fixtures: counts, rates, levels and µV magnitudes as read
from the files (values checked by hand against the raw text), plus the dispatcher and its errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from abrnet.data.csv_io import write_wide_csv
from abrnet.data.importers import detect_format, read_epl_analysis, read_recording
from abrnet.data.io import save_cohort
from abrnet.data.resample import to_model_grid
from abrnet.data.schema import DataError
from tests.conftest import FIXTURES, require_fixture

EPL = FIXTURES / "epl_abr_peak_analysis"
BBURAN = FIXTURES / "epl_cfts_bburan"


@pytest.fixture(autouse=True)
def _need_fixtures() -> None:
    require_fixture(FIXTURES)


def _levels(c) -> list[float]:
    return c.static_column("intensity_db").tolist()


# file, format, n records, fs, first/last level (file order), stimulus rate, ear, max |µV| bounds, n samples
CFTS = [
    (BBURAN / "ABR-52-3", 12, 100_000.0, 10.0, 80.0, 40.0, 1700, (3.0, 6.0)),
    (EPL / "ABR-52-4", 12, 100_000.0, 10.0, 80.0, 40.0, 1700, (3.0, 6.0)),
    (EPL / "ABR-136-1", 17, 25_000.0, 0.0, 80.0, 35.0, 426, (2.0, 3.5)),
    (EPL / "ABR-703-18", 13, 25_000.0, 10.0, 70.0, 29.0, 500, (0.3, 1.0)),
    (BBURAN / "CAP-139-5", 13, 100_000.0, 0.0, 80.0, 40.0, 1700, (50.0, 100.0)),
]


@pytest.mark.parametrize(("path", "n", "fs", "lo", "hi", "rate", "T", "peak"), CFTS, ids=[c[0].name for c in CFTS])
def test_epl_cfts(path: Path, n: int, fs: float, lo: float, hi: float, rate: float, T: int, peak) -> None:
    assert detect_format(path) == "epl_cfts"
    c = read_recording(path, age_years=0.25)
    assert c.n_records == n and c.n_samples == T
    assert c.sampling_rate_hz == fs and c.t0_ms == 0.0
    assert _levels(c)[0] == lo and _levels(c)[-1] == hi
    assert np.all(c.static_column("stimulus_rate_hz") == rate)
    assert set(c.ear) == {"R"} and "ear_unknown" not in c.attrs
    assert peak[0] < np.abs(c.signals).max() < peak[1]  # µV, not V or mV
    assert c.attrs["fmp_source"] == "missing" and np.all(np.isnan(c.static_column("fmp")))  # never a placeholder
    assert set(c.extras["level_unit"]) == {"dB SPL"} and set(c.extras["species"]) == {"unknown"}
    assert np.all(c.class_id == -1) and np.all(np.isnan(c.latency_ms)) and np.all(np.isnan(c.threshold_db))
    assert np.all(c.patient_id == path.stem)


def test_epl_cfts_interleaved_drops_no_stimulus_columns() -> None:
    c = read_recording(EPL / "ABR-142-10", age_years=0.25)
    assert c.n_records == 19  # 24 columns, 5 of them -Inf (no stimulus)
    assert _levels(c)[:4] == [25.0, 20.0, 45.0, 50.0]  # file order kept, the -Inf after 45 dropped
    assert sorted(_levels(c)) == [0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55, 60, 65, 70, 75, 80, 85, 90]
    assert c.attrs["dropped_no_stimulus_columns"] == "4,9,14,19,24"
    assert c.attrs["stimulus"] == "32.00"
    assert np.all(np.isfinite(c.signals)) and np.abs(c.signals).max() < 1.0


def test_epl_stimulus_and_averages_in_attrs() -> None:
    assert read_recording(EPL / "ABR-136-1", age_years=0.25).attrs["stimulus"] == "clicks"
    assert read_recording(EPL / "ABR-52-4", age_years=0.25).attrs["stimulus"] == "noise"
    assert read_recording(BBURAN / "ABR-52-3", age_years=0.25).attrs["averages"] == "512"


def test_cfts_time_axis_and_units_agree_with_the_expert_analysis() -> None:
    """The CAP's P1 peak in the raw file falls where the expert read it (t0 = 0, µV scale)."""
    c = read_recording(BBURAN / "CAP-139-5", age_years=0.25)
    a = read_epl_analysis(BBURAN / "CAP-139-5-16.0kHz-analyzed.txt")
    p1_lat, p1_amp = a.peaks["P1"]
    for level in (80.0, 60.0, 40.0):
        x = c.signals[c.static_column("intensity_db") == level][0]
        in_window = (c.time_ms > 1.0) & (c.time_ms < 4.0)
        t_peak = c.time_ms[in_window][np.argmax(x[in_window])]
        k = int(np.flatnonzero(a.level_db == level)[0])
        assert t_peak == pytest.approx(p1_lat[k], abs=0.03)
        assert x[in_window].max() == pytest.approx(p1_amp[k], rel=0.2)


def test_epl_analysis_table() -> None:
    a = read_epl_analysis(BBURAN / "CAP-139-5-16.0kHz-analyzed.txt")
    assert a.level_db.tolist()[:3] == [80.0, 70.0, 60.0] and a.level_db.size == 13
    assert set(a.peaks) == {"P1", "N1"}
    assert a.peaks["P1"][0][0] == pytest.approx(1.79) and a.peaks["P1"][1][0] == pytest.approx(68.33363345)
    assert a.peaks["N1"][0][0] == pytest.approx(2.32) and a.peaks["N1"][1][0] == pytest.approx(-43.13915799)
    assert np.isnan(a.threshold_db) and a.frequency_khz == 16.0  # "Threshold (dB SPL): None"
    assert a.estimated_threshold_db == 0.0  # every level has a positive P1 latency in this file
    with pytest.raises(DataError, match="analysis file, not a recording"):
        read_recording(BBURAN / "CAP-139-5-16.0kHz-analyzed.txt", age_years=1.0)


def test_epl_analysis_negative_latency_means_no_peak(tmp_path: Path) -> None:
    text = (BBURAN / "CAP-139-5-16.0kHz-analyzed.txt").read_text()
    lines = text.splitlines()
    lines[-1] = "0.00\t0.1\t0.1\t-1.00000000\t0.0\t-1.00000000\t0.0"
    edited = tmp_path / "edited-analyzed.txt"
    edited.write_text("\n".join(lines) + "\n")
    a = read_epl_analysis(edited)
    assert np.isnan(a.peaks["P1"][0][-1]) and np.isnan(a.peaks["N1"][1][-1])
    assert a.estimated_threshold_db == 5.0


def test_fast_abr() -> None:
    path = EPL / "XYZ999-ABR-15-1000.tsv"
    assert detect_format(path) == "fast_abr"
    c = read_recording(path, age_years=0.25)
    assert c.n_records == 13 and c.n_samples == 213  # 0 .. 8.48 ms at 25 kHz
    assert c.sampling_rate_hz == 25_000.0 and c.t0_ms == 0.0 and c.time_ms[-1] == pytest.approx(8.48)
    assert _levels(c) == list(np.arange(20.0, 81.0, 5.0))
    assert np.all(c.static_column("stimulus_rate_hz") == 77.0) and set(c.ear) == {"R"}
    assert np.allclose(c.threshold_db, 29.22127699386)
    assert c.extras["cm_uv"].shape == c.signals.shape
    peak = np.abs(c.signals).max(axis=1)
    assert 0.1 < peak[0] < 0.5 and 10.0 < peak[-1] < 30.0  # µV, growing with level
    assert np.all(np.diff(peak[5:]) > 0)
    _, warnings = to_model_grid(c.signals, c.sampling_rate_hz, c.t0_ms)
    assert any("missing" in w for w in warnings)  # 8.5 ms window < the model's 10 ms


def test_smartep_with_buffers_and_fmp() -> None:
    path = EPL / "FBN_35_COCH_EXT_LEFT_12K.txt"
    assert detect_format(path) == "smartep"
    c = read_recording(path, age_years=35.0)
    assert c.n_records == 13
    assert _levels(c) == [10, 20, 30, 35, 40, 45, 50, 55, 60, 65, 70, 80, 90]
    assert c.sampling_rate_hz == 32_000.0  # Smp. Period 31.25 µs
    assert c.attrs["trimmed_leading_samples"] == 409 and c.n_samples == 1024 - 409
    assert c.t0_ms == pytest.approx((409 - 512) * 0.03125)
    assert set(c.ear) == {"L"} and np.all(c.static_column("stimulus_rate_hz") == 50.0)
    assert 0.3 < np.abs(c.signals).max() < 2.0  # Average(uV) column, largest 1.25 µV at 90 dB
    assert c.buffers is not None and c.buffers.shape == (13, 2, c.n_samples)
    np.testing.assert_allclose(c.signals, c.buffers.mean(axis=1), atol=1e-4)
    fmp = c.static_column("fmp")
    assert c.attrs["fmp_source"] == "split_buffers"
    assert set(c.extras["stimulus"]) == {"tone_pip"} and set(c.extras["stimulus_freq_hz"]) == {12000.0}
    assert fmp[-1] > 30 and fmp[-1] > 10 * np.median(fmp[:7])  # 90 dB response vs 10-50 dB (over 4-10 ms)
    y, warnings = to_model_grid(c.signals, c.sampling_rate_hz, c.t0_ms)
    assert y.shape == (13, 200) and not any("missing" in w for w in warnings)


def test_time_columns_microvolts_detected() -> None:
    path = EPL / "8 kHz waveform.txt"
    assert detect_format(path) == "time_columns"
    c = read_recording(path, age_years=0.25, stimulus_rate_hz=21.0)
    assert c.n_records == 14 and c.n_samples == 366
    assert c.sampling_rate_hz == pytest.approx(1 / 4.09601e-5, rel=1e-5)  # 24414 Hz, time column in s
    assert _levels(c)[:5] == [80, 70, 60, 55, 50] and _levels(c).count(50.0) == 2  # replicate runs kept
    assert c.attrs["units_in_file"] == "uV" and c.attrs["time_units_in_file"] == "s"
    assert c.attrs["ear_unknown"] == 1 and set(c.ear) == {"R"}
    assert 1.0 < np.abs(c.signals).max() < 3.0


def test_time_columns_volts_converted() -> None:
    path = EPL / "873_2_1st column time.txt"
    c = read_recording(path, age_years=0.25, stimulus_rate_hz=21.0)
    assert c.n_records == 13 and c.n_samples == 1464  # 0 .. 14.98112 ms
    assert c.sampling_rate_hz == pytest.approx(1 / 10.24e-6, rel=1e-6)
    assert _levels(c)[0] == 90.0 and _levels(c)[-1] == 18.0
    assert c.attrs["units_in_file"] == "V"
    # First sample of the 84 dB column is -0.0000034055 V in the file.
    assert c.signals[1, 0] == pytest.approx(-3.4055, rel=1e-4)
    assert 1.0 < np.abs(c.signals).max() < 50.0
    forced = read_recording(path, age_years=0.25, stimulus_rate_hz=21.0, units="V")
    np.testing.assert_array_equal(forced.signals, c.signals)


def test_time_columns_polarity_pair_is_one_record_and_needs_level() -> None:
    path = EPL / "KG_fzmaABR.csv"
    with pytest.raises(DataError, match=r"KG_fzmaABR\.csv: field 'level_db'.*--level"):
        read_recording(path, age_years=30.0, stimulus_rate_hz=21.0)
    c = read_recording(path, age_years=30.0, stimulus_rate_hz=21.0, level_db=80.0)
    assert c.n_records == 1 and c.sampling_rate_hz == pytest.approx(25_000.0) and c.t0_ms == pytest.approx(0.04)
    assert c.attrs["units_in_file"] == "V" and 0.1 < np.abs(c.signals).max() < 1.0
    assert set(c.extras["polarity"]) == {"alternating"}
    # AVG is the mean of the condensation and rarefaction sub-averages (file: C, R, AVG columns)
    mean = (c.extras["condensation_uv"] + c.extras["rarefaction_uv"]) / 2
    np.testing.assert_allclose(c.signals, mean, atol=2e-3)


def test_time_columns_delay_corrected_time_is_used() -> None:
    c = read_recording(EPL / "JLH_Cztip_MLRAEP_1k80R.csv", age_years=30.0, stimulus_rate_hz=1.0, level_db=80.0)
    assert c.t0_ms == pytest.approx(-14.9) and c.sampling_rate_hz == pytest.approx(10_000.0)
    assert c.attrs["time_column"] == "Time (delay corrected)"


def test_missing_age_or_rate_is_a_clear_error() -> None:
    with pytest.raises(DataError, match=r"ABR-136-1: field 'age_years': not recorded"):
        read_recording(EPL / "ABR-136-1")
    with pytest.raises(DataError, match=r"8 kHz waveform\.txt: field 'stimulus_rate_hz'"):
        read_recording(EPL / "8 kHz waveform.txt", age_years=1.0)


def test_dispatcher_wide_csv_h5_and_unknown(tmp_path: Path) -> None:
    c = read_recording(EPL / "ABR-703-18", age_years=0.25)
    csv_path = write_wide_csv(c, tmp_path / "epl.csv")
    assert detect_format(csv_path) == "csv"
    back = read_recording(csv_path, sampling_rate_hz=c.sampling_rate_hz)
    np.testing.assert_array_equal(back.signals, c.signals)
    h5 = tmp_path / "x.h5"
    h5.write_bytes(b"\x89HDF\r\n\x1a\n")
    assert detect_format(h5) == "h5"
    not_h5 = tmp_path / "looks.h5"
    not_h5.write_text("time,a 80 dB\n")
    assert detect_format(not_h5) == "time_columns"  # content, not the name
    unknown = tmp_path / "mystery.dat"
    unknown.write_text("hello,world\n1,2\n")
    with pytest.raises(DataError, match=r"mystery\.dat: field '<format>'.*unknown recording format"):
        read_recording(unknown)
    with pytest.raises(DataError, match=r"missing\.txt.*not found"):
        read_recording(tmp_path / "missing.txt")
    with pytest.raises(DataError, match="unknown format 'xml'"):
        read_recording(csv_path, fmt="xml")
    # An EP export without stimulus levels is refused unless the level is given.
    with pytest.raises(DataError, match=r"AAP2044-1_Fz: field 'LEVELS'.*--level"):
        read_recording(EPL / "AAP2044-1_Fz", age_years=1.0)
    assert read_recording(EPL / "AAP2044-1_Fz", age_years=1.0, level_db=70.0).n_records == 1


def test_h5_goes_through_io_module(tmp_path: Path) -> None:
    c = read_recording(EPL / "ABR-703-18", age_years=0.25)
    path = save_cohort(c, tmp_path / "c.h5")
    back = read_recording(path)
    np.testing.assert_array_equal(back.signals, c.signals)
    assert back.sampling_rate_hz == 25_000.0


def test_smartep_keeps_each_groups_ear(tmp_path: Path) -> None:
    """A SmartEP file holding both ears: each record keeps its own group's ear, not one ear for the file."""
    text = (EPL / "FBN_35_COCH_EXT_LEFT_12K.txt").read_bytes().decode("latin-1")
    lines = text.split("\n")
    k = next(i for i, ln in enumerate(lines) if ln.startswith("Ear:,"))
    cells = lines[k].split(",")
    cells[1 + 6 * 10] = cells[1 + 6 * 12] = "R"  # groups 11 and 13 recorded from the right ear
    lines[k] = ",".join(cells)
    path = tmp_path / "both_ears.txt"
    path.write_bytes("\n".join(lines).encode("latin-1"))
    c = read_recording(path, age_years=35.0)
    assert c.ear.tolist() == ["L"] * 10 + ["R", "L", "R"] and "ear_unknown" not in c.attrs
    assert set(read_recording(path, age_years=35.0, ear="L").ear) == {"L"}  # an explicit ear still wins


def test_biosig_csv_with_old_mac_line_ends_reads_and_counts_lines(tmp_path: Path) -> None:
    """CR-only line ends stopped the csv module with a traceback ("new-line character seen in unquoted field");
    every reader counts CR, LF and CRLF as one line end each, so errors name the same line in any of them."""
    from tests._arf_writer import abr_like, write_biosig_csv

    path = write_biosig_csv(tmp_path / "b.csv", [(8000.0, lv, abr_like(244, 24414.0625)) for lv in (80, 60)])
    lf = read_recording(path, age_years=1.0, stimulus_rate_hz=21.0)
    lines = path.read_text().splitlines()
    path.write_bytes("\r".join(lines).encode())
    c = read_recording(path, age_years=1.0, stimulus_rate_hz=21.0)
    np.testing.assert_array_equal(c.signals, lf.signals)
    lines[2] = lines[2].replace(",60,", ",sixty,", 1)
    path.write_bytes("\r\n\r".join(lines).encode())  # a blank line between rows: the record is on line 5
    with pytest.raises(DataError, match=r"b\.csv: field 'Level\(dB\)', row 5: 'sixty' is not a number"):
        read_recording(path, age_years=1.0, stimulus_rate_hz=21.0)
