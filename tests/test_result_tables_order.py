"""The series and patients tables list series as people look for them, `data describe` names them as predict does,
an upper interval bound past the loudest level is open, and a refusal to replace <out>.series.csv says whose file
it is (hunt 15 #8 and #12)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from abrnet.cli.main import app
from abrnet.data.csv_io import write_wide_csv
from abrnet.data.describe import describe_series, stimulus_order
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


def test_the_report_keeps_the_ear_tables_order_and_its_json_the_reading_order() -> None:
    """`PredictionReport.series` stays in the ear table's order (the viewer pairs its rows with ``ears.ear_key``);
    the JSON, like the CSV, lists 8 kHz before 16 kHz."""
    report = _report(_mouse())
    series = report.series()
    assert report.ears is not None and series is not None
    assert series["stimulus"].tolist() == [K16, K8, K8] == [k.split(", ")[-1] if ", " in k else K8
                                                           for k in report.ears.ear_key.tolist()]  # fmt: skip
    rows = report.to_json()["series"]
    assert [(r["ear"], r["stimulus"]) for r in rows] == [("L", K8), ("L", K16), ("R", K8)]
    assert [r["threshold_db"] for r in rows] == [40.0, 60.0, 40.0]


class _FakeModel:
    """What `abrnet predict` needs of a loaded model: `predict` returning the mouse report."""

    def __init__(self, report: PredictionReport) -> None:
        self.report = report

    def predict(self, *args: Any, **kwargs: Any) -> PredictionReport:
        return self.report


def _predict(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *extra: str) -> Any:
    import abrnet.inference.api as api

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(api, "load", lambda checkpoint=None: _FakeModel(_report(_mouse())))
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
