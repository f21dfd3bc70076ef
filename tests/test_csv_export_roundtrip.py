"""`abrnet data export` round trips: a model-grid cohort's CSV reads as the cohort it was written from (which samples
were recorded, the split-buffer noise a multi-file .h5 keeps, the native grid), an unlabelled record is not written
as "responds", and a spreadsheet's edits (a trailing comma, reordered sample columns) read or say what is wrong."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np
import pytest

from abrnet.data.csv_io import read_wide_csv, write_wide_csv
from abrnet.data.importers import read_recording
from abrnet.data.noise_estimate import buffer_noise_traces, estimate_residual_noise
from abrnet.data.resample import (
    BUFFER_NOISE_EXTRA,
    RECORDED_EXTRA,
    cohort_to_model_grid,
    recorded_samples,
    resampled_from,
)
from abrnet.data.schema import ABRCohort, DataError
from abrnet.data.simulate import SimulationConfig, simulate_cohort
from abrnet.inference.domain import assess_domain
from abrnet.inference.inputs import concat_cohorts, on_model_grid
from tests.conftest import FIXTURES, require_fixture


def _rows(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def _write_rows(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    return path


def _short(seed: int, buffers: bool, t0_ms: float = 0.0) -> ABRCohort:
    """A simulated cohort cut to 0–8.5 ms at 25 kHz (a Fast ABR export's window) and moved onto the model grid:
    the last samples are padding (``extras["recorded"]``), ``attrs["resampled_from"]`` names the 25 kHz grid."""
    sim = simulate_cohort(SimulationConfig(n_patients=3), seed=seed)  # (N, 200) at 20 kHz
    t = sim.time_ms
    t_new = t0_ms + np.arange(213) / 25.0  # (213,) ms
    move = lambda x: np.stack([np.interp(t_new, t, row) for row in x.reshape(-1, x.shape[-1])]).astype(np.float32)
    native = sim.subset(np.arange(sim.n_records))
    native.signals, native.clean = move(sim.signals), None
    native.buffers = move(sim.buffers).reshape(sim.n_records, 2, -1) if buffers else None
    native.sampling_rate_hz, native.t0_ms = 25000.0, t0_ms
    on_grid, _ = cohort_to_model_grid(native)
    assert RECORDED_EXTRA in on_grid.extras  # the test is about padding: there must be some
    return on_grid


def _mixed(seed: int) -> ABRCohort:
    """A model-grid cohort as `abrnet data import --model-grid` writes one from a file with split buffers and a
    shorter file without: no ``buffers``, the buffer file's (A − B)/2 in ``extras["buffer_noise_uv"]`` (NaN rows for
    the other), and the shorter file's padding in ``extras["recorded"]``."""
    with_buffers = simulate_cohort(SimulationConfig(n_patients=2), seed=seed)
    without = _short(seed + 1, buffers=False).with_patient_prefix("B")
    cohort = concat_cohorts([with_buffers, without])
    assert cohort.buffers is None and BUFFER_NOISE_EXTRA in cohort.extras and RECORDED_EXTRA in cohort.extras
    return cohort


def _same_readings(before: ABRCohort, after: ABRCohort) -> None:
    """What `abrnet predict` reads besides the samples: the recorded samples, the noise and where it came from, the
    domain, and the samples the model reads (centred over the recorded samples)."""
    np.testing.assert_array_equal(recorded_samples(after), recorded_samples(before))
    noise_a, from_a = estimate_residual_noise(before)
    noise_b, from_b = estimate_residual_noise(after)
    np.testing.assert_array_equal(from_b, from_a)
    np.testing.assert_allclose(noise_b, noise_a, rtol=1e-5, atol=1e-9)  # float32 rounding of A = s + d, B = s − d
    np.testing.assert_array_equal(assess_domain(after), assess_domain(before))
    np.testing.assert_array_equal(resampled_from(after), resampled_from(before))
    grid_a, grid_b = on_model_grid(before)[0], on_model_grid(after)[0]
    np.testing.assert_allclose(grid_b.signals, grid_a.signals, atol=1e-5)


@pytest.mark.parametrize("buffers", [False, True])
def test_padding_is_written_as_empty_cells_and_read_as_not_recorded(tmp_path: Path, buffers: bool) -> None:
    cohort = _short(3, buffers)
    path = write_wide_csv(cohort, tmp_path / "short.csv")
    rows = _rows(path)
    recorded = recorded_samples(cohort)  # (N, T)
    last = rows[0].index("s199")
    assert rows[1][last] == "" and rows[1][rows[0].index("s0")] != ""  # padding: an empty cell, not 0.0
    if buffers:
        assert rows[1][rows[0].index("a_s199")] == "" and rows[1][rows[0].index("b_s199")] == ""
    back = read_wide_csv(path)
    np.testing.assert_array_equal(back.extras[RECORDED_EXTRA], recorded)
    np.testing.assert_array_equal(back.signals, cohort.signals)  # padding reads as 0.0, as it was
    assert (back.buffers is not None) == buffers
    _same_readings(cohort, back)


def test_leading_padding_reads_too(tmp_path: Path) -> None:
    """A recording that starts after the model window does (t0 0.5 ms): padding at the start of each row."""
    cohort = _short(4, buffers=False, t0_ms=0.5)
    assert not recorded_samples(cohort)[:, 0].any()
    back = read_wide_csv(write_wide_csv(cohort, tmp_path / "late.csv"))
    _same_readings(cohort, back)


def test_only_end_padding_is_written_empty(tmp_path: Path) -> None:
    """A gap amid recorded samples (no resampler makes one) is written as its values: an empty cell there would
    make a file the reader refuses as a lost sample."""
    cohort = _tiny(False)
    recorded = np.ones((3, 8), bool)
    recorded[0, [0, 3, 7]] = False
    cohort.extras[RECORDED_EXTRA] = recorded
    back = read_wide_csv(write_wide_csv(cohort, tmp_path / "gap.csv"))
    expect = np.ones((3, 8), bool)
    expect[0, [0, 7]] = False
    np.testing.assert_array_equal(back.extras[RECORDED_EXTRA], expect)


def test_buffer_noise_trace_is_written_as_split_buffers(tmp_path: Path) -> None:
    cohort = _mixed(5)
    traces = buffer_noise_traces(cohort)  # (N, T), NaN rows: no buffers
    has = np.isfinite(traces).all(axis=1)
    assert has.any() and not has.all()
    path = write_wide_csv(cohort, tmp_path / "mixed.csv")
    rows = _rows(path)
    a0 = rows[0].index("a_s0")
    for r, kept in zip(rows[1:], has, strict=True):
        assert (r[a0] != "") == kept  # A = s + d where a trace is kept; empty cells where none is
    back = read_wide_csv(path)
    assert back.buffers is None  # some rows have none: kept per record, as the .h5 keeps them
    back_traces = back.extras[BUFFER_NOISE_EXTRA]
    np.testing.assert_array_equal(np.isfinite(back_traces).all(axis=1), has)
    np.testing.assert_allclose(back_traces[has], traces[has], atol=1e-6)
    np.testing.assert_array_equal(back.static, cohort.static)  # FMP as stated, not recomputed
    _same_readings(cohort, back)


def test_every_row_with_a_trace_reads_as_buffers(tmp_path: Path) -> None:
    cohort = _mixed(6)
    keep = np.isfinite(buffer_noise_traces(cohort)).all(axis=1)
    only = cohort.subset(keep)  # a --split of the .h5 that picks the buffer file's records only
    back = read_wide_csv(write_wide_csv(only, tmp_path / "only.csv"))
    assert back.buffers is not None and BUFFER_NOISE_EXTRA not in back.extras
    _same_readings(only, back)


def test_fixture_model_grid_import_round_trips(tmp_path: Path) -> None:
    """The hunt's case: a Fast ABR export (0–8.52 ms) and a SmartEP export (split buffers) imported onto the model
    grid together, exported and read back, read as the import did (noise, its source, domain)."""
    folder = require_fixture(FIXTURES / "epl_abr_peak_analysis")
    parts = []
    for name in ("XYZ999-ABR-15-1000.tsv", "FBN_35_COCH_EXT_LEFT_12K.txt"):
        cohort = read_recording(require_fixture(folder / name), age_years=0.5, stimulus_rate_hz=21.1, level_db=60)
        parts.append(cohort_to_model_grid(cohort)[0])
    merged = concat_cohorts(parts)
    back = read_wide_csv(write_wide_csv(merged, tmp_path / "peak.csv"))
    _same_readings(merged, back)
    assert "window: covers 0–8.52 ms" in assess_domain(back)[0]  # the export's own window, not the padded grid's
    assert set(estimate_residual_noise(back)[1]) == {"split_buffers", "missing"}


def test_a_cohort_without_these_extras_is_written_as_before(tmp_path: Path) -> None:
    """Bytes of `write_wide_csv` before round-tripping padding and buffer noise (sha256 of its output for `_tiny`):
    a file without them must not change (no empty sample cells, no native-grid columns)."""
    before = {
        False: "7399545d14ead66500cb838f717a9e51bb7b3736dfb38db99aa48acb54899e6e",
        True: "17c5c667d9f2c1d7835c034cf05cc40e051249abea11b86cd70cbe9fc495b974",
    }
    for buffers, digest in before.items():
        path = write_wide_csv(_tiny(buffers), tmp_path / f"tiny{int(buffers)}.csv")
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest, path.read_text()


def _tiny(buffers: bool) -> ABRCohort:
    """Three labelled records of 8 samples (one without a response): every kind of cell the writer writes."""
    n, t = 3, 8
    signals = np.arange(n * t, dtype=np.float32).reshape(n, t) * np.float32(0.37) - np.float32(1.1)  # (N, T)
    static = np.array([[0.5, 60, 21.1, 2.3], [40.7, 80, 33.1, np.nan], [63.3, 40, 49.1, 1.7]], np.float32)
    lat = np.array([[1.6, 3.7, 5.6], [np.nan, np.nan, np.nan], [1.7, np.nan, 5.9]], np.float32)
    split = np.stack([signals + np.float32(0.01), signals - np.float32(0.01)], axis=1) if buffers else None
    return ABRCohort(
        signals=signals,
        static=static,
        patient_id=np.array(["P1", "P1", "P2"]),
        ear=np.array(["L", "R", "L"]),
        latency_ms=lat,
        amplitude_uv=lat / np.float32(10.0),
        class_id=np.array([0, -1, 2], np.int64),
        threshold_db=np.array([30, np.nan, 55.5], np.float32),
        no_response=np.array([False, True, False]),
        sampling_rate_hz=20000.0,
        buffers=split,
    )


def test_unlabelled_record_gets_an_empty_no_response_cell(tmp_path: Path) -> None:
    cohort = _tiny(False)
    cohort.class_id = np.array([-1, -1, -1], np.int64)  # row 1: threshold only; row 2: no response; row 3: nothing
    cohort.threshold_db = np.array([30, np.nan, np.nan], np.float32)
    path = write_wide_csv(cohort, tmp_path / "unlabelled.csv")
    rows = _rows(path)
    k = rows[0].index("no_response")
    assert [r[k] for r in rows[1:]] == ["0", "1", ""]  # "0" on row 3 read as "responds", a label nobody gave
    np.testing.assert_array_equal(read_wide_csv(path).no_response, cohort.no_response)


def test_blank_cells_other_than_padding_are_refused(tmp_path: Path) -> None:
    rows = _rows(write_wide_csv(_tiny(True), tmp_path / "src.csv"))
    h = rows[0]

    def refused(edit: dict[str, str], row: int = 1) -> str:
        edited = [list(r) for r in rows]
        for name, value in edit.items():
            edited[row][h.index(name)] = value
        with pytest.raises(DataError) as info:
            read_wide_csv(_write_rows(tmp_path / "edited.csv", edited))
        return str(info.value)

    assert "field 's3', row 1: empty cell (line 2)" in refused({"s3": ""})  # a lost sample amid values
    every = {f"{p}s{i}": "" for p in ("", "a_", "b_") for i in range(8)}
    assert "field 's0', row 1: every s* cell is empty" in refused(every)
    assert "field 'b_s0', row 1: every b_s* cell is empty but the a_s* cells hold values" in refused(
        {f"b_s{i}": "" for i in range(8)}
    )
    assert "field 'a_s7', row 1: holds a value where s7 is empty" in refused({"s7": ""})  # A/B recorded, s not
    assert "field 'a_s2', row 1: empty cell (line 2)" in refused({"a_s2": ""})


def test_a_trailing_empty_column_is_ignored(tmp_path: Path) -> None:
    """Excel writes a trailing comma after the header and every row; the unnamed empty column means nothing."""
    path = write_wide_csv(_tiny(True), tmp_path / "src.csv")
    want = read_wide_csv(path)
    for quoted in (False, True):  # the fast path, and the csv module's (a quoted cell)
        rows = [[*r, ""] for r in _rows(path)]
        text = "".join(",".join(f'"{c}"' if quoted and c == "P2" else c for c in r) + "\r\n" for r in rows)
        edited = tmp_path / f"trail{int(quoted)}.csv"
        edited.write_text(text, encoding="utf-8")
        back = read_wide_csv(edited)
        np.testing.assert_array_equal(back.signals, want.signals)
        np.testing.assert_array_equal(back.buffers, want.buffers)
        np.testing.assert_array_equal(back.patient_id, want.patient_id)
    rows = [[*r, ""] for r in _rows(path)]
    rows[2][-1] = "7"  # an unnamed column holding a value: nobody can tell what it means
    with pytest.raises(DataError) as info:
        read_wide_csv(_write_rows(tmp_path / "valued.csv", rows))
    assert f"field '', row 2: column {len(rows[0])} has no name but holds a value" in str(info.value)


def test_reordered_sample_columns_say_they_are_out_of_order(tmp_path: Path) -> None:
    rows = _rows(write_wide_csv(_tiny(False), tmp_path / "src.csv"))
    first = rows[0].index("s0")
    order = [*range(first), *reversed(range(first, len(rows[0])))]  # s7, s6, ..., s0
    path = _write_rows(tmp_path / "reversed.csv", [[r[j] for j in order] for r in rows])
    with pytest.raises(DataError) as info:
        read_recording(path)
    text = str(info.value)
    assert "field 's7', row 0: sample columns out of order: s7" in text and "where s0 belongs" in text, text


def test_a_long_reordered_header_is_still_found_to_be_abrnets_csv(tmp_path: Path) -> None:
    """Format detection read the first 8 KiB and wanted ``s0`` and ``s1`` there: a 1700-sample header written
    backwards holds neither, so the file was an "unknown recording format" (hunt 44b #8)."""
    names = [f"s{i}" for i in reversed(range(1700))]
    path = tmp_path / "long.csv"
    path.write_text(",".join(["patient_id", "ear", "age_years", "intensity_db", "stimulus_rate_hz", *names]) + "\n"
                    + ",".join(["P1", "L", "1", "60", "21.1", *(["0.1"] * 1700)]) + "\n")  # fmt: skip
    with pytest.raises(DataError, match=r"field 's1699', row 0: sample columns out of order: s1699 \(column 6\)"):
        read_recording(path)
