"""Data-layer checks users hit: seeds out of range, output names that lie about the format, quoted and
semicolon headers, per-column tone-pip frequencies and numbers too large for float32. Each test failed before."""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from abrnet.cli.main import app
from abrnet.data import io as data_io
from abrnet.data.csv_io import read_wide_csv, write_wide_csv
from abrnet.data.importers import detect_format, read_recording
from abrnet.data.io import load_cohort, save_cohort
from abrnet.data.schema import DataError
from tests.conftest import make_toy_cohort

runner = CliRunner()


def _one_line_error(res, field: str) -> str:
    """The CLI's refusal: exit 2, one `error:` line (after any progress lines) naming ``field``, no traceback."""
    assert res.exit_code == 2, (res.exit_code, res.output, res.exception)
    assert "Traceback" not in res.output and res.output.count("error:") == 1, res.output
    text = " ".join(res.output.split("error:")[1].split())  # the error, unwrapped from the terminal width
    assert f"field '{field}'" in text, text
    return text


@pytest.fixture
def cohort_file(tmp_path: Path) -> Path:
    return save_cohort(make_toy_cohort(4), tmp_path / "toy.h5")


# --- 1. --seed outside numpy's range ------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", ["-1", "4294967296"])
@pytest.mark.parametrize("command", ["describe", "plot", "export", "simulate"])
def test_seed_out_of_range_is_a_one_line_error(cohort_file: Path, tmp_path: Path, command: str, seed: str) -> None:
    """A negative seed raised numpy's "expected non-negative integer" traceback; simulate with 2^32 wrote half a
    file and failed on its HDF5 attribute. Refused up front, as `abrnet train` refuses it."""
    out = tmp_path / "out"
    args = {
        "describe": ["data", "describe", str(cohort_file)],
        "plot": ["data", "plot", str(cohort_file), "--out", f"{out}.png"],
        "export": ["data", "export", str(cohort_file), "--split", "test", "--out", f"{out}.csv"],
        "simulate": ["simulate", "--patients", "1", "--out", f"{out}.h5"],
    }[command]
    text = _one_line_error(runner.invoke(app, [*args, "--seed", seed]), "--seed")
    assert f"got {seed}" in text and "4294967295" in text
    assert not list(tmp_path.glob("out*"))
    if command == "simulate" and seed == "-1":  # the largest seed is still one
        res = runner.invoke(app, ["simulate", "--patients", "1", "--seed", "4294967295", "--out", f"{out}.h5"])
        assert res.exit_code == 0, res.output
        assert load_cohort(f"{out}.h5").attrs["seed"] == 4294967295


def test_save_cohort_stores_an_int_hdf5_cannot_and_leaves_no_partial_file(tmp_path: Path, monkeypatch) -> None:
    """An attr beyond int64 raised mid-write and left ``c.h5.partial``; it is kept as text now, and any failed
    write removes its partial file."""
    c = make_toy_cohort(1)
    c.attrs["seed"] = 2**70
    assert load_cohort(save_cohort(c, tmp_path / "c.h5")).attrs["seed"] == str(2**70)

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(data_io, "_put", broken)
    with pytest.raises(OSError, match="disk full"):
        save_cohort(make_toy_cohort(1), tmp_path / "d.h5")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.h5"]


# --- 2. output names that say another format ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["g.csv", "g.txt", "g"])
def test_save_cohort_refuses_a_name_that_is_not_hdf5(tmp_path: Path, name: str) -> None:
    with pytest.raises(DataError) as info:
        save_cohort(make_toy_cohort(1), tmp_path / name)
    assert info.value.field == "<file>" and name in str(info.value) and ".h5 or .hdf5" in str(info.value)
    assert list(tmp_path.iterdir()) == []
    for good in ("c.hdf5", "C.H5"):  # both HDF5 suffixes, in any case
        assert load_cohort(save_cohort(make_toy_cohort(1), tmp_path / good)).n_records == 8


def test_write_wide_csv_refuses_a_name_that_is_not_csv(tmp_path: Path) -> None:
    with pytest.raises(DataError) as info:
        write_wide_csv(make_toy_cohort(1), tmp_path / "exp.h5")
    assert info.value.field == "<file>" and "must be named .csv, got '.h5'" in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_cli_output_names_are_checked(cohort_file: Path, tmp_path: Path) -> None:
    """simulate/import wrote HDF5 under .csv names and export wrote CSV text under .h5: one-line errors now, and
    no file is left behind."""
    wide = write_wide_csv(make_toy_cohort(1), tmp_path / "in.csv")
    for args, out in (
        (["simulate", "--patients", "1"], "simx.csv"),
        (["data", "import", str(wide)], "imp.csv"),
        (["data", "export", str(cohort_file)], "exp.h5"),
        (["predict", str(cohort_file)], "results.h5"),  # wrote CSV text under an HDF5 name (hunt 9, #13)
    ):  # the error names the option the name came from (it named '<file>')
        _one_line_error(runner.invoke(app, [*args, "--out", str(tmp_path / out)]), "--out")
        assert not (tmp_path / out).exists()


@pytest.mark.slow
def test_generate_and_denoise_refuse_a_csv_name(tiny_run: dict, cohort_file: Path, tmp_path: Path) -> None:
    ckpt = str(tiny_run["dir"] / "best.ckpt")
    cond = ["--age", "30", "--intensity", "60", "--rate", "21", "--fmp", "3"]
    for args in (["generate", "--n", "2", *cond], ["denoise", str(cohort_file)]):
        out = tmp_path / f"{args[0]}.csv"
        _one_line_error(runner.invoke(app, [*args, "--checkpoint", ckpt, "--out", str(out)]), "--out")
        assert not out.exists()


# --- 3. quoted and semicolon headers ----------------------------------------------------------------------------


def test_quoted_wide_csv_is_detected(tmp_path: Path) -> None:
    """R's write.csv quotes every header name; the detector split the raw line and did not recognise the file."""
    plain = write_wide_csv(make_toy_cohort(1), tmp_path / "plain.csv")
    rows = list(csv.reader(plain.open()))
    quoted = tmp_path / "quoted.csv"
    with quoted.open("w", newline="") as fh:
        csv.writer(fh, quoting=csv.QUOTE_NONNUMERIC).writerow(rows[0])
        csv.writer(fh).writerows(rows[1:])
    assert quoted.read_text().startswith('"patient_id","ear",')
    assert detect_format(quoted) == "csv"
    np.testing.assert_array_equal(read_recording(quoted).signals, read_wide_csv(plain).signals)


def test_semicolon_wide_csv_says_what_is_wrong(tmp_path: Path) -> None:
    """A wide CSV saved by a spreadsheet in a comma-decimal locale (';' between cells) was "unknown recording
    format", which did not say that the separator was the problem."""
    plain = write_wide_csv(make_toy_cohort(1), tmp_path / "plain.csv")
    semi = tmp_path / "semi.csv"
    semi.write_text("\n".join(";".join(row) for row in csv.reader(plain.open())) + "\n")
    with pytest.raises(DataError, match=r"field '<format>', row 1: an abrnet wide CSV separated by ';'"):
        detect_format(semi)


def _time_file(path: Path, header: list[str], sep: str, decimal: str = ".", quote: bool = False) -> Path:
    """A time-column export: 40 samples at 20 kHz (ms), one waveform (µV) per column after the time."""
    t = np.arange(40) * 0.05
    waves = [np.sin(t * (k + 1)) for k in range(len(header) - 1)]
    head = [f'"{h}"' if quote else h for h in header]
    lines = [sep.join(head)]
    for i in range(t.size):
        cells = [f"{t[i]:.3f}", *(f"{w[i]:.5f}" for w in waves)]
        lines.append(sep.join(c.replace(".", decimal) for c in cells))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_semicolon_time_columns_are_read_as_detected(tmp_path: Path) -> None:
    """Detected as time columns (the detector split on ';') but read with ',' only: "no waveform columns"."""
    header = ["Time (ms)", "80 dB", "60 dB"]
    plain = read_recording(_time_file(tmp_path / "tab.txt", header, "\t"), age_years=30.0, stimulus_rate_hz=21.0)
    for name, decimal in (("semi.csv", "."), ("semi_comma.csv", ",")):
        path = _time_file(tmp_path / name, header, ";", decimal)
        assert detect_format(path) == "time_columns"
        c = read_recording(path, age_years=30.0, stimulus_rate_hz=21.0)
        np.testing.assert_array_equal(c.signals, plain.signals)
        np.testing.assert_array_equal(c.static_column("intensity_db"), [80.0, 60.0])
        assert c.sampling_rate_hz == pytest.approx(20000.0)


def test_quoted_time_columns_and_a_separator_inside_a_name(tmp_path: Path) -> None:
    quoted = _time_file(tmp_path / "q.csv", ["Time (ms)", "80 dB", "60 dB"], ",", quote=True)
    assert detect_format(quoted) == "time_columns"
    assert read_recording(quoted, age_years=30.0, stimulus_rate_hz=21.0).n_records == 2
    # a ';' inside comma-separated names: the separator is the one that splits the first row alike
    inner = _time_file(tmp_path / "inner.csv", ["Time (ms)", "8 kHz; 80 dB", "16 kHz; 60 dB"], ",")
    c = read_recording(inner, age_years=30.0, stimulus_rate_hz=21.0)
    np.testing.assert_array_equal(c.extras["stimulus_freq_hz"], [8000.0, 16000.0])


def test_decimal_comma_that_is_no_number_names_the_cell(tmp_path: Path) -> None:
    path = _time_file(tmp_path / "semi.csv", ["Time (ms)", "80 dB"], ";", ",")
    lines = path.read_text().splitlines()
    lines[5] = lines[5].split(";")[0] + ";1,2,3"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"field '80 dB', row 6: '1,2,3' is not a number"):
        read_recording(path, age_years=30.0, stimulus_rate_hz=21.0)


# --- 4. one tone-pip frequency per column -----------------------------------------------------------------------


def test_each_time_column_keeps_its_own_frequency(tmp_path: Path) -> None:
    """Two frequencies in one file gave every record stimulus "unknown" and frequency NaN."""
    header = ["Time (ms)", "8kHz 80dB", "8kHz 60dB", "16kHz 80dB", "16kHz 60dB", "70dB"]
    c = read_recording(_time_file(tmp_path / "two.txt", header, "\t"), age_years=30.0, stimulus_rate_hz=21.0)
    assert list(c.extras["stimulus"]) == ["tone_pip"] * 4 + ["unknown"]
    np.testing.assert_array_equal(c.extras["stimulus_freq_hz"], [8000, 8000, 16000, 16000, np.nan])
    np.testing.assert_array_equal(c.static_column("intensity_db"), [80, 60, 80, 60, 70])
    # one frequency in the file: a column naming none is that tone pip, as before
    one = _time_file(tmp_path / "one.txt", ["Time (ms)", "8kHz 80dB", "60dB"], "\t")
    c = read_recording(one, age_years=30.0, stimulus_rate_hz=21.0)
    assert list(c.extras["stimulus"]) == ["tone_pip", "tone_pip"]
    np.testing.assert_array_equal(c.extras["stimulus_freq_hz"], [8000.0, 8000.0])


def test_frequencies_survive_import_to_h5(tmp_path: Path) -> None:
    header = ["Time (ms)", "8kHz 80dB", "16kHz 80dB"]
    src = _time_file(tmp_path / "two.txt", header, "\t")
    out = tmp_path / "imp.h5"
    res = runner.invoke(app, ["data", "import", str(src), "--age", "30", "--rate", "21", "--out", str(out)])
    assert res.exit_code == 0, res.output
    np.testing.assert_array_equal(load_cohort(out).extras["stimulus_freq_hz"], [8000.0, 16000.0])


# --- 5. numbers float32 cannot hold ----------------------------------------------------------------------------


def _huge(tmp_path: Path, column: str, value: str, row: int = 2, quoted: bool = False) -> Path:
    c = make_toy_cohort(1)
    c.buffers = np.stack([c.signals, c.signals * 0.5], axis=1)
    rows = list(csv.reader(write_wide_csv(c, tmp_path / "good.csv").open()))
    rows[row][rows[0].index(column)] = value
    path = tmp_path / f"huge_{column}.csv"
    with path.open("w", newline="") as fh:
        csv.writer(fh, quoting=csv.QUOTE_ALL if quoted else csv.QUOTE_MINIMAL).writerows(rows)
    return path


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("intensity_db", "1e308", "value 1e+308 outside [-40, 140]"),
        ("age_years", "-1e39", "value -1e+39 outside [0, 120]"),
        ("V_latency_ms", "1e39", "value 1e+39 outside [0, 30] ms"),
        ("threshold_db", "1e39", "value 1e+39 outside [-20, 140] dB"),
        ("s4", "1e39", "value 1e+39 is too large for float32 µV"),
        ("b_s7", "-1e300", "value -1e+300 is too large for float32 µV"),
        ("s3", "1e30", "value 1e+30 outside [-10000, 10000] µV"),
    ],
)
@pytest.mark.parametrize("quoted", [False, True])
def test_huge_cell_names_value_column_and_line(tmp_path: Path, column: str, value: str, message: str, quoted) -> None:
    """1e308 overflowed in the float32 cast: a numpy RuntimeWarning, then "contains NaN or inf" for field
    'intensity_db' (or 'signals'), although the cell held neither."""
    path = _huge(tmp_path, column, value, quoted=quoted)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(DataError) as info:
            read_recording(path)
    text = str(info.value)
    assert info.value.field == column and info.value.row == 2, text
    assert message in text and text.endswith("(line 3)") and "NaN or inf" not in text, text


def test_huge_cell_through_the_cli_is_one_line(tmp_path: Path) -> None:
    path = _huge(tmp_path, "s4", "1e39")
    res = runner.invoke(app, ["data", "import", str(path), "--out", str(tmp_path / "x.h5")])
    text = _one_line_error(res, "s4")
    assert "RuntimeWarning" not in res.output and "(line 3)" in text
