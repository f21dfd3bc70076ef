"""Stimulus rates per record: a SmartEP rate series (11.1/s and 51.1/s in one file, a retrocochlear screen) keeps
each group's own rate, where it used to be refused unless one --rate overwrote them all; and the Fast ABR
``Threshold=`` value, which became NaN ("no threshold") whatever text it held."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from abrnet.data.importers import read_recording
from abrnet.data.importers._common import build_cohort
from abrnet.data.schema import DataError
from tests.test_importer_record_lines import EPL, _at, _error, _lines, _write

SMART = EPL / "FBN_35_COCH_EXT_LEFT_12K.txt"
FAST = EPL / "XYZ999-ABR-15-1000.tsv"


def _with_rates(tmp_path: Path, rates: list[str], name: str = "s.txt") -> tuple[Path, int]:
    """A copy of the SmartEP fixture whose groups state ``rates`` (cycled over its 13 groups); and the row's index."""
    lines = _lines(SMART)
    r = _at(lines, "Stim. Rate:")
    cells = lines[r].split(",")
    for g in range(13):
        cells[1 + 6 * g] = rates[g % len(rates)]
    lines[r] = ",".join(cells)
    return _write(tmp_path / name, lines), r


def test_smartep_rate_series_keeps_each_groups_rate(tmp_path: Path) -> None:
    path, _ = _with_rates(tmp_path, [" 11.10", " 51.10"])
    c = read_recording(path, age_years=40.0)
    want = np.array([11.1 if g % 2 == 0 else 51.1 for g in range(13)], np.float32)
    np.testing.assert_array_equal(c.static_column("stimulus_rate_hz"), want)
    assert c.n_records == 13 and c.sampling_rate_hz == 32_000.0  # one grid for the file, as before
    assert c.attrs["stimulus_rates_in_file"].split(";")[:2] == ["11.10", "51.10"]
    from abrnet.data.describe import describe_series

    series = describe_series(c)  # one entry per rate: a single one printed the median, 31.1/s, a rate nobody used
    assert sorted((s["stimulus_rate_hz"], s["n_records"]) for s in series) == [(11.1, 7), (51.1, 6)]


def test_smartep_out_of_range_rate_names_its_group_and_row(tmp_path: Path) -> None:
    path, r = _with_rates(tmp_path, ["11.1", "51.1", "5000"])  # group 3 (and 6, 9, 12) at 5000/s
    err = _error(path, age_years=40.0)
    assert (err.field, err.row) == ("stimulus_rate_hz", r + 1)
    assert "record 3: group 3 (column 14)" in str(err)  # its cell in the Stim. Rate: row
    path, r = _with_rates(tmp_path, ["11.1", "51.1", "nan"], "n.txt")
    err = _error(path, age_years=40.0)
    assert (err.field, err.row) == ("stimulus_rate_hz", r + 1) and "must be finite, got nan (record 3)" in str(err)


def test_passed_rate_overrides_every_group(tmp_path: Path) -> None:
    path, _ = _with_rates(tmp_path, ["11.1", "51.1", "5000"])
    c = read_recording(path, age_years=40.0, stimulus_rate_hz=21.0)
    assert np.all(c.static_column("stimulus_rate_hz") == 21.0)
    assert c.attrs["stimulus_rates_in_file"].split(";")[:3] == ["11.1", "51.1", "5000"]  # the file's, not lost


def test_smartep_without_rate_row_asks_for_rate(tmp_path: Path) -> None:
    lines = _lines(SMART)
    del lines[_at(lines, "Stim. Rate:")]
    path = _write(tmp_path / "s.txt", lines)
    with pytest.raises(DataError, match=r"field 'stimulus_rate_hz': not recorded in this file; pass"):
        read_recording(path, age_years=40.0)
    assert np.all(read_recording(path, age_years=40.0, stimulus_rate_hz=11.1).static_column("stimulus_rate_hz") > 11)


def test_smartep_sampling_period_still_one_per_file(tmp_path: Path) -> None:
    lines = _lines(SMART)
    k = _at(lines, "Smp. Period:")
    cells = lines[k].split(",")
    cells[7] = "20.00"
    lines[k] = ",".join(cells)
    err = _error(_write(tmp_path / "p.txt", lines), age_years=40.0, stimulus_rate_hz=21.0)
    assert (err.field, err.row) == ("Smp. Period:", k + 1) and "differs between recordings" in str(err)


def test_build_cohort_per_record_rates_and_lines(tmp_path: Path) -> None:
    """The shared builder: one rate per record, each reported at its own line when out of range."""
    signals = np.sin(np.linspace(0, 6, 2 * 100)).reshape(2, 100)
    kw = dict(sampling_rate_hz=25_000.0, t0_ms=0.0, age_years=1.0, ear="R", fmp=None)
    c = build_cohort(tmp_path / "x.txt", signals, np.array([80.0, 60.0]), stimulus_rate_hz=[11.1, 51.1], **kw)
    np.testing.assert_allclose(c.static_column("stimulus_rate_hz"), [11.1, 51.1], rtol=1e-6)
    with pytest.raises(DataError, match=r"'stimulus_rate_hz', row 20: .*record 2"):
        build_cohort(
            tmp_path / "x.txt", signals, np.array([80.0, 60.0]), stimulus_rate_hz=[11.1, 5000.0],
            locate=lambda r, j: (f"rec{r}", None), lines={"stimulus_rate_hz": [10, 20]}, **kw,
        )  # fmt: skip
    with pytest.raises(DataError, match=r"'stimulus_rate_hz': 3 rates for 2 records"):
        build_cohort(tmp_path / "x.txt", signals, np.array([80.0, 60.0]), stimulus_rate_hz=[1.0, 2.0, 3.0], **kw)


@pytest.mark.parametrize("text", ["", "NaN", "nan", "None", " none "])
def test_fast_abr_no_threshold_tokens_are_nan(text: str, tmp_path: Path) -> None:
    lines = _lines(FAST)
    lines[_at(lines, "Threshold=")] = f"Threshold={text}"
    c = read_recording(_write(tmp_path / "t.tsv", lines), age_years=0.25)
    assert np.all(np.isnan(c.threshold_db))


def test_fast_abr_without_threshold_line_is_nan(tmp_path: Path) -> None:
    lines = _lines(FAST)
    del lines[_at(lines, "Threshold=")]
    assert np.all(np.isnan(read_recording(_write(tmp_path / "t.tsv", lines), age_years=0.25).threshold_db))


@pytest.mark.parametrize("text", ["29,22", "high", "inf", "-Inf", "30 dB"])
def test_fast_abr_unreadable_threshold_is_an_error_at_its_line(text: str, tmp_path: Path) -> None:
    """These all became NaN, i.e. "no threshold", silently dropping a value the file holds."""
    lines = _lines(FAST)
    t = _at(lines, "Threshold=")
    lines[t] = f"Threshold={text}"
    err = _error(_write(tmp_path / "t.tsv", lines), age_years=0.25)
    assert (err.field, err.row) == ("Threshold", t + 1) and text.strip() in str(err)


def test_fast_abr_stated_threshold_is_kept(tmp_path: Path) -> None:
    lines = _lines(FAST)
    lines[_at(lines, "Threshold=")] = "Threshold= 42.5 "
    c = read_recording(_write(tmp_path / "t.tsv", lines), age_years=0.25)
    assert np.all(c.threshold_db == 42.5) and not math.isnan(float(c.threshold_db[0]))
