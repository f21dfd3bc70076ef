"""The series and patients tables list series as people look for them, `data describe` names them as predict does,
an upper interval bound past the loudest level is open, and a refusal to replace <out>.series.csv says whose file
it is (hunt 15 #8 and #12)."""

from __future__ import annotations

import csv
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from abrnet.cli.main import app
from abrnet.data.csv_io import write_wide_csv
from abrnet.data.describe import describe_series, stimulus_order
from abrnet.data.schema import ABRCohort
from abrnet.inference.result_tables import PredictionReport, above_max_interval, reading_order
from tests.test_series_by_stimulus import K8, K16, _mouse, _report

runner = CliRunner()


def test_stimulus_order_sorts_tone_frequencies_as_numbers() -> None:
    labels = ["tone_pip 16000 Hz", "unknown", "tone_pip 8000 Hz", "click", "tone_pip 500 Hz", "tone_pip 1e+06 Hz"]
    as_text = sorted(labels)
    assert as_text.index("tone_pip 16000 Hz") < as_text.index("tone_pip 8000 Hz")  # the defect
    assert sorted(labels, key=stimulus_order) == [
        "click", "tone_pip 500 Hz", "tone_pip 8000 Hz", "tone_pip 16000 Hz", "tone_pip 1e+06 Hz", "unknown",
    ]  # fmt: skip


def test_reading_order_sorts_by_patient_ear_stimulus_and_frequency() -> None:
    cols = {
        "patient_id": np.array(["P2", "P1", "P1", "P1", "P1"]),
        "ear": np.array(["L", "R", "L", "L", "L"]),
        "stimulus": np.array([K8, K8, K16, "click", K8]),
        "threshold_db": np.array([1.0, 2.0, 3.0, 4.0, 5.0]),
    }
    ordered = reading_order(cols)
    assert ordered is not None
    named = list(zip(ordered["patient_id"], ordered["ear"], ordered["stimulus"], strict=True))
    assert named == [("P1", "L", "click"), ("P1", "L", K8), ("P1", "L", K16), ("P1", "R", K8), ("P2", "L", K8)]
    assert ordered["threshold_db"].tolist() == [4.0, 5.0, 3.0, 2.0, 1.0]  # whole rows move
    patients = reading_order({"patient_id": np.array(["B", "A", "A"]), "stimulus": np.array([K8, K16, K8])})
    assert patients is not None and patients["stimulus"].tolist() == [K8, K16, K8]  # A 8k, A 16k, B 8k
    assert reading_order(None) is None and reading_order({}) == {}


def _named(cols: dict[str, Any]) -> list[tuple[str, ...]]:
    """Each row's patient, ear (where the table has one), stimulus and its level column, as text the CSV would hold."""
    ear = cols.get("ear", [""] * len(cols["patient_id"]))
    level = cols["threshold_db"] if "threshold_db" in cols else cols["level_db"]
    return [(str(p), str(e), str(s), f"{float(v):g}") for p, e, s, v in
            zip(cols["patient_id"], ear, cols["stimulus"], level, strict=True)]  # fmt: skip


def test_the_python_api_gives_the_rows_in_the_order_of_the_csv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A notebook's `series()` / `patients()` listed 16 kHz before 8 kHz (the ear table's text order) while the CSV
    of the same run listed 8 kHz first. Both ears hold 8 and 16 kHz, so the patients table has two rows too."""
    cohort = _mouse(right=(8000.0, 16000.0))
    report = _report(cohort)
    assert report.ears is not None and report.ears.stimulus.tolist()[:2] == [K16, K8]  # the ear table: text order
    series, patients = report.series(), report.patients()
    assert series is not None and patients is not None
    assert _named(series) == [("M1", "L", K8, "40"), ("M1", "L", K16, "60"), ("M1", "R", K8, "40"),
                              ("M1", "R", K16, "60")]  # fmt: skip
    assert _named(patients) == [("M1", "", K8, "80"), ("M1", "", K16, "80")]
    keys = report.series_keys()  # row i's series, as the viewer pairs them
    assert keys is not None and keys.tolist() == [f"M1/L, {K8}", f"M1/L, {K16}", f"M1/R, {K8}", f"M1/R, {K16}"]
    assert _predict(tmp_path, monkeypatch, "--json", cohort=cohort).exit_code == 0
    for name, table in (("q.series.csv", series), ("q.patients.csv", patients)):
        with (tmp_path / name).open() as fh:
            rows = list(csv.DictReader(fh))
        assert _named({k: [r[k] for r in rows] for k in rows[0]}) == _named(table), name
    payload = report.to_json()
    assert [(r["ear"], r["stimulus"]) for r in payload["series"]] == [(e, s) for _, e, s, _ in _named(series)]
    assert [r["stimulus"] for r in payload["patients"]] == [K8, K16]


class _FakeModel:
    """What `abrnet predict` needs of a loaded model: `predict` returning the mouse report."""

    def __init__(self, report: PredictionReport) -> None:
        self.report = report
        self.loaded = SimpleNamespace(path="fake.ckpt", series_model=object())  # a checkpoint with a series stage

    def predict(self, *args: Any, **kwargs: Any) -> PredictionReport:
        return self.report


def _predict(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *extra: str, cohort: ABRCohort | None = None) -> Any:
    import abrnet.inference.api as api

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(api, "load", lambda checkpoint=None: _FakeModel(_report(cohort or _mouse())))
    if not (tmp_path / "mouse.csv").exists():
        (tmp_path / "mouse.csv").write_text("read by the fake model only\n")
    return runner.invoke(app, ["predict", "mouse.csv", "--out", "q.csv", "--group-by", "patient_id,ear", *extra])


def test_predict_writes_the_series_table_in_reading_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    res = _predict(tmp_path, monkeypatch, "--json")
    assert res.exit_code == 0, res.output
    with (tmp_path / "q.series.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["ear"], r["stimulus"], r["threshold_db"]) for r in rows] == [
        ("L", K8, "40"), ("L", K16, "60"), ("R", K8, "40"),
    ]  # fmt: skip
    import json

    payload = json.loads((tmp_path / "q.json").read_text())
    assert [(r["ear"], r["stimulus"]) for r in payload["series"]] == [("L", K8), ("L", K16), ("R", K8)]


def test_an_existing_series_table_is_named_as_this_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``q.series.csv: file exists; pass --force`` did not say the file is the series table this run writes beside
    --out, so a user could replace another analysis's table with --force."""
    (tmp_path / "q.series.csv").write_text("another analysis\n")
    res = _predict(tmp_path, monkeypatch)
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert res.exit_code == 2 and len(lines) == 1, res.output
    assert lines[0] == (
        "error: q.series.csv (this run's series table, <out>.series.csv beside --out) exists; "
        "pass --force to overwrite it"
    )
    assert (tmp_path / "q.series.csv").read_text() == "another analysis\n" and not (tmp_path / "q.csv").exists()
    (tmp_path / "q.series.csv").unlink()
    (tmp_path / "q.csv").write_text("mine\n")  # --out itself: the option the user typed names it
    res = _predict(tmp_path, monkeypatch)
    assert res.exit_code == 2 and "error: q.csv: file exists; pass --force to overwrite it" in res.output
    assert _predict(tmp_path, monkeypatch, "--force").exit_code == 0


def test_describe_labels_the_series_as_predict_does(tmp_path: Path) -> None:
    """Two series of one ear were both labelled 'M1/L'; they get predict's series keys."""
    series = describe_series(_mouse())
    assert [s["series"] for s in series] == [f"M1/L, {K8}", f"M1/L, {K16}", "M1/R"]
    path = write_wide_csv(_mouse(), tmp_path / "mouse.csv")
    res = runner.invoke(app, ["data", "describe", str(path)], env={"COLUMNS": "300"})
    assert res.exit_code == 0, res.output
    for label in (f"M1/L, {K8}", f"M1/L, {K16}"):
        assert label in res.output, res.output


def test_an_upper_bound_past_the_loudest_level_is_open() -> None:
    """'50 [20, 85]' for an ear tested up to 80 dB printed a bound nobody tested: the series stage's 85 dB
    placeholder. Above-max ears keep their "above" interval; a bound at or under the loudest level is kept."""
    reading = {"threshold_above_max_level": np.array([False, False, True]), "max_level_db": np.array([80.0] * 3)}
    sd, lo, hi = above_max_interval(reading, np.array([5.0, 5.0, 0.0]), np.array([20.0, 40.0, 0.0]),
                                    np.array([85.0, 80.0, 85.0]))  # fmt: skip
    np.testing.assert_array_equal(lo, [20.0, 40.0, 80.0])
    np.testing.assert_array_equal(hi, [np.nan, 80.0, np.nan])
    np.testing.assert_array_equal(sd, [5.0, 5.0, np.nan])
