"""Wide CSV: float32 cells are written as typed (33.1, not 33.0999985), a shorter record's blank tail reads as
samples not recorded, and a blank amid samples is refused."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from abrnet.constants import STATIC_PARAMS
from abrnet.data.csv_io import read_wide_csv, write_wide_csv
from abrnet.data.schema import ABRCohort, DataError

T = 12


def _cohort(n: int = 3, buffers: bool = False) -> ABRCohort:
    rng = np.random.default_rng(1)
    static = np.zeros((n, len(STATIC_PARAMS)), np.float32)
    static[:, STATIC_PARAMS.index("age_years")] = [0.02, 40.7, 63.3][:n]
    static[:, STATIC_PARAMS.index("intensity_db")] = 57.3
    static[:, STATIC_PARAMS.index("stimulus_rate_hz")] = [33.1, 49.1, 33.1][:n]
    static[:, STATIC_PARAMS.index("fmp")] = [2.3, np.nan, 1.7][:n]
    lat = np.array([[1.6, 3.7, 5.6]] * n, np.float32)
    lat[1, 1] = np.nan
    amp = np.array([[0.1, 0.2, 0.3]] * n, np.float32)
    return ABRCohort(
        signals=(rng.normal(0, 1, (n, T)) * np.pi).astype(np.float32),
        static=static,
        patient_id=np.array([f"P{i}" for i in range(n)]),
        ear=np.array(["L", "R", "L"][:n]),
        latency_ms=lat,
        amplitude_uv=amp,
        class_id=np.array([0, -1, 2][:n], dtype=np.int64),
        threshold_db=np.array([32.1, np.nan, 55.3][:n], dtype=np.float32),
        no_response=np.zeros(n, bool),
        sampling_rate_hz=20000.0,
        buffers=rng.normal(0, 1, (n, 2, T)).astype(np.float32) if buffers else None,
    )


@pytest.mark.parametrize("buffers", [False, True])
def test_float32_cells_are_written_as_typed_and_read_back_exactly(tmp_path: Path, buffers: bool) -> None:
    c = _cohort(buffers=buffers)
    path = write_wide_csv(c, tmp_path / "typed.csv")
    text = path.read_text(encoding="utf-8")
    for typed in ("33.1", "49.1", "57.3", "0.02", "2.3", "32.1", "1.6", "0.1"):
        assert typed in text, typed
    assert "33.0999" not in text and "57.2999" not in text and "0.0199999" not in text
    with path.open(newline="") as fh:
        rows = list(csv.reader(fh))
    k = rows[0].index("stimulus_rate_hz")
    assert [r[k] for r in rows[1:]] == ["33.1", "49.1", "33.1"]
    back = read_wide_csv(path)
    for name in ("signals", "static", "latency_ms", "amplitude_uv", "threshold_db", *(("buffers",) * buffers)):
        assert np.array_equal(getattr(back, name), getattr(c, name), equal_nan=True), name
    sample_cells = [cell for r in rows[1:] for name, cell in zip(rows[0], r, strict=True) if name.endswith(f"s{T - 1}")]
    assert all(len(cell) <= 12 for cell in sample_cells), sample_cells  # shortest form, not 9 digits + exponent


def _write_rows(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    return path


def _rows(tmp_path: Path, buffers: bool = False) -> list[list[str]]:
    path = write_wide_csv(_cohort(buffers=buffers), tmp_path / "src.csv")
    with path.open(newline="") as fh:
        return list(csv.reader(fh))


@pytest.mark.parametrize("buffers", [False, True])
def test_shorter_record_reads_its_blank_tail_as_not_recorded(tmp_path: Path, buffers: bool) -> None:
    """A record 3 samples shorter than the others (its last cells blank, in every sample block) is a recording that
    ended earlier on the same grid: padding, read as 0.0 µV and marked not recorded (`abrnet.data.csv_recorded`),
    as `cohort_to_model_grid` pads; it was refused before the CSV could say which samples were recorded."""
    rows = _rows(tmp_path, buffers)
    for prefix in ("", "a_", "b_") if buffers else ("",):
        start = rows[0].index(f"{prefix}s{T - 3}")
        for j in range(start, rows[0].index(f"{prefix}s{T - 1}") + 1):  # row 2 is a record 3 samples shorter
            rows[2][j] = ""
    back = read_wide_csv(_write_rows(tmp_path / "short.csv", rows))
    recorded = np.ones((3, T), bool)
    recorded[1, T - 3 :] = False
    np.testing.assert_array_equal(back.extras["recorded"], recorded)
    assert (back.signals[1, T - 3 :] == 0).all() and (back.buffers is not None) == buffers


def test_blank_amid_samples_keeps_the_plain_message(tmp_path: Path) -> None:
    rows = _rows(tmp_path)
    rows[2][rows[0].index("s4")] = ""  # the cells after it hold values: a missing sample, not a shorter record
    with pytest.raises(DataError) as info:
        read_wide_csv(_write_rows(tmp_path / "hole.csv", rows))
    text = str(info.value)
    assert "field 's4', row 2: empty cell (line 3)" in text, text
    assert "same number of samples" not in text, text
