"""Wide CSV: exact round trip and one clear DataError (file, field, row) per kind of malformed file."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from abrnet.constants import STATIC_PARAMS
from abrnet.data.csv_io import read_wide_csv, write_wide_csv
from abrnet.data.schema import ABRCohort, DataError

T = 16


def _cohort(n: int = 4, seed: int = 0, buffers: bool = False, t: int = T) -> ABRCohort:
    rng = np.random.default_rng(seed)
    static = np.column_stack(
        [rng.uniform(20, 80, n), rng.choice([40, 60, 80], n), np.full(n, 21.1), rng.uniform(1, 20, n)]
    ).astype(np.float32)
    lat = rng.uniform(1, 7, (n, 3)).astype(np.float32)
    lat[1, 1] = np.nan
    amp = rng.normal(0, 0.3, (n, 3)).astype(np.float32)
    amp[1, 1] = np.nan
    split = rng.normal(0, 1, (n, 2, t)).astype(np.float32) if buffers else None
    return ABRCohort(
        signals=(rng.normal(0, 1, (n, t)) * np.pi).astype(np.float32),
        static=static,
        patient_id=np.array([f"P{i:03d}" for i in range(n)]),
        ear=np.array(["L", "R"] * (n // 2) + ["L"] * (n % 2)),
        latency_ms=lat,
        amplitude_uv=amp,
        class_id=np.array([0, -1, 2, 4][:n] + [1] * max(0, n - 4), dtype=np.int64),
        threshold_db=np.array([30, np.nan, 55, 40][:n] + [20] * max(0, n - 4), dtype=np.float32),
        no_response=np.array([False, True, False, False][:n] + [False] * max(0, n - 4)),
        sampling_rate_hz=20000.0,
        buffers=split,
    )


def test_round_trip_is_exact(tmp_path: Path) -> None:
    c = _cohort()
    path = write_wide_csv(c, tmp_path / "cohort.csv")
    back = read_wide_csv(path)
    for name in ("signals", "static", "latency_ms", "amplitude_uv", "threshold_db"):
        np.testing.assert_array_equal(getattr(back, name), getattr(c, name), err_msg=name)
        assert getattr(back, name).dtype == np.float32
    for name in ("patient_id", "ear", "class_id", "no_response"):
        np.testing.assert_array_equal(getattr(back, name), getattr(c, name), err_msg=name)
    assert back.sampling_rate_hz == 20000.0 and back.t0_ms == 0.0
    assert read_wide_csv(path, sampling_rate_hz=20000.0, t0_ms=0.0).sampling_rate_hz == 20000.0  # options agree


def test_grid_options_apply_only_to_a_file_without_grid_columns(tmp_path: Path) -> None:
    """The options time a file that does not record its grid; they never silently re-time one that does."""
    bare = _edit(tmp_path, lambda r: (_drop(r, "sampling_rate_hz"), _drop(r, "t0_ms")), name="bare.csv")
    assert read_wide_csv(bare, sampling_rate_hz=25000.0, t0_ms=-1.0).time_ms[1] == pytest.approx(-1.0 + 0.04)
    assert read_wide_csv(bare).sampling_rate_hz == 20000.0
    path = write_wide_csv(_cohort(), tmp_path / "c.csv")
    with pytest.raises(DataError, match=r"c\.csv: field 'sampling_rate_hz', row 1: the file says 20000 but "):
        read_wide_csv(path, sampling_rate_hz=25000.0)
    with pytest.raises(DataError, match=r"field 't0_ms', row 1: the file says 0 but --t0-ms is -1"):
        read_wide_csv(path, t0_ms=-1.0)


def test_round_trip_keeps_recording_metadata_and_domain(tmp_path: Path) -> None:
    """A mouse tone-pip series in dB SPL at 100 kHz stays one through the CSV: same grid, metadata, domain."""
    from abrnet.data.importers import read_recording
    from abrnet.data.metadata import metadata_columns
    from abrnet.inference.domain import assess_domain

    c = _cohort()
    c.sampling_rate_hz, c.t0_ms = 100000.0, -1.25
    c.extras = metadata_columns(4, level_unit="dB SPL", stimulus="tone_pip", stimulus_freq_hz=16000.0, species="mouse")
    path = write_wide_csv(c, tmp_path / "mouse.csv")
    back = read_recording(path)
    assert (back.sampling_rate_hz, back.t0_ms) == (100000.0, -1.25)
    for key, value in c.extras.items():
        np.testing.assert_array_equal(back.extras[key], value, err_msg=key)
    assert "species: mouse" in assess_domain(back)[0]
    np.testing.assert_array_equal(assess_domain(back), assess_domain(c))
    assert back.attrs["fmp_source"] == "given"


def test_all_empty_fmp_is_missing_not_given(tmp_path: Path) -> None:
    path = _edit(tmp_path, lambda r: [_set(r, i, "fmp", "") for i in range(1, len(r))])
    c = read_wide_csv(path)
    assert c.attrs["fmp_source"] == "missing" and not c.has_fmp.any()


def test_round_trip_with_buffers_and_fmp_from_buffers(tmp_path: Path) -> None:
    c = _cohort(buffers=True, t=200)  # 0–10 ms: reaches FMP's 4–10 ms window
    path = write_wide_csv(c, tmp_path / "b.csv")
    back = read_wide_csv(path)
    np.testing.assert_array_equal(back.buffers, c.buffers)
    # Same file without the fmp column: Fmp is computed from the a_s*/b_s* buffers (noise-only here, so ~1).
    rows = list(csv.reader(path.open()))
    k = rows[0].index("fmp")
    no_fmp = tmp_path / "nofmp.csv"
    with no_fmp.open("w", newline="") as fh:
        csv.writer(fh).writerows([r[:k] + r[k + 1 :] for r in rows])
    got = read_wide_csv(no_fmp)
    assert got.attrs["fmp_source"] == "split_buffers"
    assert np.all(got.static_column("fmp") < 5.0) and np.all(got.static_column("fmp") > 0.1)


def test_empty_fmp_cells_are_computed_from_the_split_buffers(tmp_path: Path) -> None:
    """An fmp column that is present but empty (all or some rows) means "not measured": the rows without a value
    take FMP from their split buffers, exactly as a file without the column; stated values are kept."""
    from abrnet.data.fmp import fmp_from_buffers, fmp_window

    c = _cohort(buffers=True, t=200)
    path = write_wide_csv(c, tmp_path / "b.csv")
    rows = list(csv.reader(path.open()))
    k = rows[0].index("fmp")
    expected = fmp_from_buffers(c.buffers[:, 0], c.buffers[:, 1], fmp_window(c.time_ms)).astype(np.float32)
    for empty, source in (({1, 2, 3, 4}, "split_buffers"), ({2, 4}, "given+split_buffers")):
        edited = tmp_path / f"empty{len(empty)}.csv"
        with edited.open("w", newline="") as fh:
            csv.writer(fh).writerows([[*r[:k], "" if i in empty else r[k], *r[k + 1 :]] for i, r in enumerate(rows)])
        got = read_wide_csv(edited)
        computed = np.array([i + 1 in empty for i in range(c.n_records)])
        np.testing.assert_allclose(got.static_column("fmp")[computed], expected[computed], rtol=1e-6)
        np.testing.assert_array_equal(got.static_column("fmp")[~computed], c.static_column("fmp")[~computed])
        assert got.attrs["fmp_source"] == source
        # --fmp fills only rows still without a value: here none, so it is reported as ignored
        assert read_wide_csv(edited, fmp=2.0).attrs["ignored_options"] == "fmp"


def test_overwrite_is_refused_unless_forced(tmp_path: Path) -> None:
    path = write_wide_csv(_cohort(), tmp_path / "c.csv")
    with pytest.raises(FileExistsError, match=r"c\.csv: file exists"):
        write_wide_csv(_cohort(seed=1), path)
    write_wide_csv(_cohort(seed=1), path, force=True)
    np.testing.assert_array_equal(read_wide_csv(path).signals, _cohort(seed=1).signals)


def _edit(tmp_path: Path, edit, name: str = "bad.csv") -> Path:
    """Write a valid cohort, then let `edit(rows)` corrupt the list of rows (header = rows[0])."""
    path = write_wide_csv(_cohort(), tmp_path / "good.csv")
    rows = list(csv.reader(path.open()))
    edit(rows)
    out = tmp_path / name
    with out.open("w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return out


def _set(rows: list[list[str]], row: int, column: str, value: str) -> None:
    rows[row][rows[0].index(column)] = value


def _drop(rows: list[list[str]], column: str) -> None:
    k = rows[0].index(column)
    for r in rows:
        del r[k]


def _rename(rows: list[list[str]], old: str, new: str) -> None:
    rows[0][rows[0].index(old)] = new


CASES = [
    ("missing column", lambda r: _drop(r, "intensity_db"), "intensity_db", 0, "only device exports"),  # not --age
    ("text in sample", lambda r: _set(r, 3, "s5", "abc"), "s5", 3, "'abc' is not a number"),
    ("empty sample", lambda r: _set(r, 2, "s3", ""), "s3", 2, "empty cell"),  # amid values (s0 alone: padding)
    ("text in metadata", lambda r: _set(r, 2, "age_years", "forty"), "age_years", 2, "not a number"),
    ("unknown class", lambda r: _set(r, 4, "class", "MENIERE"), "class", 4, "unknown class 'MENIERE'"),
    ("negative stimulus rate", lambda r: _set(r, 2, "stimulus_rate_hz", "-21.1"), "stimulus_rate_hz", 2, "outside"),
    ("ragged row", lambda r: r[3].pop(), "<row length>", 3, "cells but the header has"),
    ("samples not contiguous", lambda r: _rename(r, "s7", "s99"), "s7", 0, "contiguous"),
    ("samples skip an index", lambda r: _drop(r, "s4"), "s4", 0, "contiguous"),
    ("bad ear", lambda r: _set(r, 1, "ear", "X"), "ear", 1, "must be L or R"),
    ("NaN signal", lambda r: _set(r, 2, "s1", "nan"), "s1", 2, "value nan is not a finite number"),
    ("latency out of range", lambda r: _set(r, 4, "V_latency_ms", "99"), "latency_ms", 4, "outside"),
    ("unknown column", lambda r: _rename(r, "threshold_db", "thresh"), "thresh", 0, "unknown column"),
    ("rate varies", lambda r: _set(r, 3, "sampling_rate_hz", "10000"), "sampling_rate_hz", 3, "for the whole file"),
    ("rate not a number", lambda r: _set(r, 2, "sampling_rate_hz", "20k"), "sampling_rate_hz", 2, "not a number"),
    ("t0 NaN", lambda r: _set(r, 1, "t0_ms", "nan"), "t0_ms", 1, "one finite value"),
    ("bad species", lambda r: (_add(r, "species", "mouse"), _set(r, 2, "species", "dog")), "species", 2, "'dog'"),
]


def _add(rows: list[list[str]], column: str, value: str) -> None:
    """A column `column` before the samples, `value` on every row."""
    k = rows[0].index("s0")
    for r in rows:
        r.insert(k, column if r is rows[0] else value)


@pytest.mark.parametrize(("what", "edit", "field", "row", "message"), CASES, ids=[c[0] for c in CASES])
def test_malformed_csv_names_file_field_and_row(tmp_path: Path, what, edit, field, row, message) -> None:
    path = _edit(tmp_path, edit, name=f"{what.replace(' ', '_')}.csv")
    with pytest.raises(DataError) as info:
        read_wide_csv(path)
    err = info.value
    text = str(err)
    assert path.name in text, text
    assert f"'{field}'" in text and err.field == field, text
    assert err.row == row and f"row {row}" in text, text
    assert (f"line {row + 1}" in text) or (row == 0 and "header, line 1" in text), text
    assert message in text, text
    assert "\n" not in text


def test_negative_sampling_rate_option(tmp_path: Path) -> None:
    path = write_wide_csv(_cohort(), tmp_path / "c.csv")
    with pytest.raises(DataError, match=r"c\.csv: field 'sampling_rate_hz'.*must be > 0"):
        read_wide_csv(path, sampling_rate_hz=-20000.0)


def test_missing_fmp_is_nan_and_the_option_fills_it(tmp_path: Path) -> None:
    """README: `fmp` may be empty or absent. Absent without buffers is "not measured" (NaN), never an error, and
    `--fmp` fills exactly the rows without a value; a file with a value on every row keeps its own."""
    path = _edit(tmp_path, lambda r: _drop(r, "fmp"))
    c = read_wide_csv(path)
    assert c.attrs["fmp_source"] == "missing"
    assert np.all(np.isnan(c.static[:, STATIC_PARAMS.index("fmp")]))
    given = read_wide_csv(path, fmp=2.0)
    assert given.attrs["fmp_source"] == "given" and np.all(given.static_column("fmp") == 2.0)
    full = write_wide_csv(_cohort(), tmp_path / "full.csv")
    kept = read_wide_csv(full, fmp=2.0)
    np.testing.assert_array_equal(kept.static_column("fmp"), read_wide_csv(full).static_column("fmp"))
    assert kept.attrs["ignored_options"] == "fmp"


def _del_rows(rows: list[list[str]]) -> None:
    del rows[1:]


def test_empty_and_headless_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError, match=r"empty\.csv.*row 0"):
        read_wide_csv(empty)
    only_header = _edit(tmp_path, _del_rows, name="header_only.csv")
    with pytest.raises(DataError, match=r"header_only\.csv.*no records"):
        read_wide_csv(only_header)


# ------------------------------------------------------------------------------------ vectorised reader
def _no_per_cell(*args, **kwargs):
    raise AssertionError("the per-cell loop ran on a valid file")


def test_valid_file_is_read_without_the_per_cell_loop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sample block is parsed at once (np.loadtxt); the per-cell loop is only there to name a bad cell."""
    import abrnet.data.csv_cells as csv_cells  # where `read_sample_cells` falls back to the loop

    c = _cohort(n=6, buffers=True)
    path = write_wide_csv(c, tmp_path / "c.csv")
    monkeypatch.setattr(csv_cells, "samples_per_cell", _no_per_cell)
    back = read_wide_csv(path)
    np.testing.assert_array_equal(back.signals, c.signals)
    np.testing.assert_array_equal(back.buffers, c.buffers)


def test_quoted_file_and_late_label_column_read_the_same(tmp_path: Path) -> None:
    """A quoted file (the csv module's path) and a label column after the samples (every cell split) give the same
    arrays as the plain fast path."""
    c = _cohort(n=5)
    plain = read_wide_csv(write_wide_csv(c, tmp_path / "plain.csv"))
    rows = list(csv.reader((tmp_path / "plain.csv").open()))
    quoted = tmp_path / "quoted.csv"
    with quoted.open("w", newline="") as fh:
        csv.writer(fh, quoting=csv.QUOTE_ALL).writerows(rows)
    k = rows[0].index("threshold_db")
    late = tmp_path / "late.csv"
    with late.open("w", newline="") as fh:
        csv.writer(fh).writerows([r[:k] + r[k + 1 :] + [r[k]] for r in rows])
    for other in (read_wide_csv(quoted), read_wide_csv(late)):
        for name in ("signals", "static", "latency_ms", "amplitude_uv", "threshold_db", "class_id", "no_response"):
            np.testing.assert_array_equal(getattr(other, name), getattr(plain, name), err_msg=name)
        np.testing.assert_array_equal(other.patient_id, plain.patient_id)


def test_number_only_python_reads_is_still_accepted(tmp_path: Path) -> None:
    """numpy rejects '1_0' where float() reads 10.0: the per-cell path takes over and the file still loads."""
    path = _edit(tmp_path, lambda r: _set(r, 2, "s3", "1_0"))
    assert read_wide_csv(path).signals[1, 3] == 10.0


def test_bad_sample_in_quoted_file_names_the_cell(tmp_path: Path) -> None:
    def edit(rows: list[list[str]]) -> None:
        _set(rows, 3, "s2", "1,5")  # written quoted: one cell holding a comma

    with pytest.raises(DataError, match=r"field 's2', row 3: '1,5' is not a number \(line 4\)"):
        read_wide_csv(_edit(tmp_path, edit))


def _ear_cells(path: Path) -> list[str]:
    rows = list(csv.reader(path.open()))
    return [r[rows[0].index("ear")] for r in rows[1:]]


def test_assumed_ear_is_exported_empty_and_reads_back_assumed(tmp_path: Path) -> None:
    """`data export` wrote an assumed "R" as a recorded right ear; the empty cell keeps it "not recorded"."""
    from typer.testing import CliRunner

    from abrnet.cli.main import app
    from abrnet.data.importers import read_recording
    from abrnet.data.io import save_cohort

    c = _cohort()
    c.ear[:] = "R"
    c.attrs["ear_unknown"] = 1  # what an importer sets for a file that names no ear
    h5, out = save_cohort(c, tmp_path / "c.h5"), tmp_path / "c.csv"
    res = CliRunner().invoke(app, ["data", "export", str(h5), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert _ear_cells(out) == [""] * 4
    back = read_recording(out)
    assert back.attrs["ear_unknown"] == 1 and back.ear.tolist() == ["R"] * 4
    assert "attr_ear_unknown" not in back.extras  # every ear assumed: the importers' one file-wide flag
    known = read_wide_csv(write_wide_csv(_cohort(), tmp_path / "known.csv"))
    assert "ear_unknown" not in known.attrs and known.ear.tolist() == ["L", "R", "L", "R"]


def test_blank_ear_cells_among_known_ones_mark_only_those_records(tmp_path: Path) -> None:
    """A blank cell is "R" assumed; the known ears of the same file stay known, and a re-export keeps both."""
    path = _edit(tmp_path, lambda r: _set(r, 2, "ear", ""))
    c = read_wide_csv(path)
    assert c.ear.tolist() == ["L", "R", "L", "R"] and c.attrs["ear_unknown"] == 1
    np.testing.assert_array_equal(c.extras["attr_ear_unknown"], [np.nan, 1.0, np.nan, np.nan])
    again = write_wide_csv(c, tmp_path / "again.csv")
    assert _ear_cells(again) == ["L", "", "L", "R"]
    np.testing.assert_array_equal(read_wide_csv(again).extras["attr_ear_unknown"], c.extras["attr_ear_unknown"])


def test_bad_ear_next_to_blank_ones_is_still_an_error(tmp_path: Path) -> None:
    path = _edit(tmp_path, lambda r: (_set(r, 1, "ear", ""), _set(r, 3, "ear", "X")))
    with pytest.raises(DataError, match=r"bad\.csv: field 'ear', row 3: must be L or R .*got 'X' \(line 4\)$"):
        read_wide_csv(path)


def test_blank_ear_marks_survive_a_merge_and_describe(tmp_path: Path) -> None:
    """A mixed file read with another keeps its per-record marks (the file-wide flag would call every ear of it
    assumed), and `describe_series` says "unknown" only for the assumed ear's series."""
    from abrnet.data.describe import describe_series
    from abrnet.inference.inputs import concat_cohorts

    mixed = read_wide_csv(_edit(tmp_path, lambda r: _set(r, 2, "ear", "")))
    other = read_wide_csv(write_wide_csv(_cohort(), tmp_path / "other.csv"))
    other.patient_id[:] = "OTHER"
    both = concat_cohorts([mixed, other])
    np.testing.assert_array_equal(both.extras["attr_ear_unknown"], [np.nan, 1.0, np.nan, np.nan] + [np.nan] * 4)
    ears = [s["ear"] for s in describe_series(mixed)]
    assert "unknown" in ears and "L" in ears
