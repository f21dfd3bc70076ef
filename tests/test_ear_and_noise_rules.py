"""The ear rules (`abrnet.data.ears`) and the split-buffer noise/FMP rules (`abrnet.data.fmp`), each written once:
the wide CSV and the device importers now give one answer, and the (A - B)/2 trace is one function."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from abrnet.data.csv_io import read_wide_csv
from abrnet.data.ears import ASSUMED_EAR, assume_ears, ear_of, recorded_ears, unassumable
from abrnet.data.fmp import FMP_FROM_BUFFERS, FMP_SOURCES, buffer_fmp, fmp_from_buffers, noise_trace
from abrnet.data.metadata import DB_ATTENUATION, DB_SPL, LEVEL_UNITS, normalise
from abrnet.data.schema import DataError

T = 8


def _csv(tmp_path: Path, ears: list[str], pids: list[str] | None = None) -> Path:
    """A minimal wide CSV, one record per ear cell."""
    pids = pids or [f"P{i}" for i in range(len(ears))]
    head = ["patient_id", "ear", "age_years", "intensity_db", "stimulus_rate_hz", "fmp", *(f"s{i}" for i in range(T))]
    rows = [[pid, ear, "30", "60", "21.1", "2", *("0.1",) * T] for pid, ear in zip(pids, ears, strict=True)]
    path = tmp_path / "ears.csv"
    path.write_text("\n".join(",".join(r) for r in [head, *rows]) + "\n", encoding="utf-8")
    return path


def test_ear_spellings_are_one_rule() -> None:
    assert [ear_of(t) for t in ("L", " r ", "Left", "RIGHT", "right")] == ["L", "R", "L", "R", "R"]
    assert [ear_of(t) for t in ("X", "Lunch", "", "LR")] == [None] * 4


def test_wide_csv_reads_left_and_right_as_device_files_do(tmp_path: Path) -> None:
    c = read_wide_csv(_csv(tmp_path, ["Left", "right", "l", "R"]))
    assert c.ear.tolist() == ["L", "R", "L", "R"] and "ear_unknown" not in c.attrs


def test_wide_csv_bad_ear_is_one_line_naming_file_field_and_row(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"ears\.csv: field 'ear', row 2: must be L or R .*got 'Lunch' \(line 3\)$"):
        read_wide_csv(_csv(tmp_path, ["L", "Lunch"]))


def test_assume_ears_marks_file_wide_or_per_record() -> None:
    ears, attrs, extras = assume_ears(["", ""])
    assert ears.tolist() == [ASSUMED_EAR] * 2 and attrs == {"ear_unknown": 1} and extras == {}
    ears, attrs, extras = assume_ears(["L", ""])
    assert ears.tolist() == ["L", "R"] and attrs == {"ear_unknown": 1}
    np.testing.assert_array_equal(extras["attr_ear_unknown"], [np.nan, 1.0])
    ears, attrs, extras = assume_ears(["L", "R"])
    assert ears.tolist() == ["L", "R"] and attrs == {} and extras == {}


def test_an_assumed_ear_beside_a_recorded_one_is_refused() -> None:
    pid = np.array(["A", "A", "B", "C"])
    assumed = np.array([False, True, True, False])
    recorded = recorded_ears(pid, np.array(["L", "R", "R", "R"]), assumed)
    assert recorded == {"A": {"L"}, "C": {"R"}}
    assert unassumable(pid, assumed, recorded).tolist() == [1]  # B has no recorded ear: safe to assume
    assert unassumable(pid[:0], assumed[:0], recorded).size == 0


def test_wide_csv_blank_beside_labelled_message_is_unchanged(tmp_path: Path) -> None:
    path = _csv(tmp_path, ["L", "", "R"], pids=["A", "A", "B"])
    pattern = (
        r"ears\.csv: field 'ear', row 2: empty, but patient 'A' has records labelled L, so this one's ear cannot be "
        r"assumed; write L or R \(line 3\)$"
    )
    with pytest.raises(DataError, match=pattern):
        read_wide_csv(path)


def test_noise_trace_is_half_the_buffer_difference_in_the_buffers_dtype() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 3, 50)).astype(np.float32)
    got = noise_trace(a, b)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, (a - b) / 2.0)


def test_buffer_fmp_is_float32_and_nan_where_unmeasurable() -> None:
    rng = np.random.default_rng(1)
    buffers = rng.normal(size=(3, 2, 40)).astype(np.float32)
    buffers[1, 1] = buffers[1, 0]  # identical buffers: no noise estimate
    got = buffer_fmp(buffers, (5, 30))
    assert got.dtype == np.float32 and np.isnan(got[1]) and np.isfinite(got[[0, 2]]).all()
    want = fmp_from_buffers(buffers[:, 0], buffers[:, 1], (5, 30)).astype(np.float32)
    np.testing.assert_array_equal(got[[0, 2]], want[[0, 2]])
    assert FMP_FROM_BUFFERS in FMP_SOURCES


def test_level_unit_names_are_the_allowed_ones() -> None:
    assert {DB_ATTENUATION, DB_SPL} <= set(LEVEL_UNITS)
    assert normalise("level_unit", "atten") == DB_ATTENUATION
