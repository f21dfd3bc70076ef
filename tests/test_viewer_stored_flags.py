"""Hunt 15 #4, #5, #9, #11, #13: final values of the viewer that must not be read as they look.

#4: a threshold corrected by an older viewer on an ear that is now two series (stored stimulus NULL) vanished from
page and CSV, and an old correction above the loudest tested level exported as a measured threshold. #5: a peak moved
before its ear was marked "no response" stayed a final value. #9: a corrected threshold below the softest tested
level exported as a measured one. #11: the export and ear JSON lacked ``threshold_bracket_lo_db``. #13: an ear the
model calls "no response" exported final wave latencies. Toy files read through the server's own code, no model.
"""

from __future__ import annotations

import csv
import io
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi import HTTPException

from abrnet.constants import WAVES
from abrnet.inference.result_tables import PredictionReport
from abrnet.inference.series_warnings import sparse_level_brackets
from abrnet.series.per_ear import aggregate_ears
from abrnet.viewer.analysis import build_payload, with_corrections
from abrnet.viewer.correcting import CorrectionIn, correction_from
from abrnet.viewer.export import export_csv
from abrnet.viewer.flags import ABOVE_MAX, BELOW_MIN, POOLED
from abrnet.viewer.form import viewer_text
from abrnet.viewer.report import report_lines
from abrnet.viewer.store import Correction, Store
from tests.test_predict_tables import _predictions
from tests.test_series_by_stimulus import K8, K16, _mouse, _report
from tests.test_series_by_stimulus import _view as _mouse_view
from tests.test_viewer_placeholder import NO_RESPONSE, RESPONDING, TOP_DB, _ears, _view

AT = "2024-05-01T10:00:00Z"
MODEL_ID = ("a" * 64, "best.ckpt")


def _rows(view: dict[str, Any]) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(export_csv(view))))


def _threshold(key: str, value: float | None, mark: str | None = None, stimulus: str = "") -> Correction:
    pid, ear = key.split("/")
    return Correction("threshold", -1, pid, ear, "", value, 40.0, "dr-old", AT, None, "a" * 64, "best.ckpt",
                      mark=mark, stimulus=stimulus)  # fmt: skip


def _record(view: dict[str, Any], key: str, level: float) -> int:
    return next(r["index"] for r in view["records"] if r["ear_key"] == key and r["intensity_db"] == level)


def _peak(view: dict[str, Any], record: int, value: float | None, mark: str | None = None) -> Correction:
    rec = view["records"][record]
    return Correction("peak", record, rec["patient_id"], rec["ear"], "V", value, 6.0, "dr-old", AT, None, "a" * 64,
                      "best.ckpt", mark=mark)  # fmt: skip


# ------------------------------------------------------------------------------------------------ #4 pooled
def _legacy_store(tmp_path: Path, rows: list[tuple[str, str, float | None, str | None]]) -> Store:
    """A store holding threshold corrections as a viewer from before the split by stimulus wrote them: the
    ``stimulus`` column NULL (patient, ear, value, mark)."""
    store = Store(tmp_path)
    store.register("f" * 64, Path(__file__), age_years=None, user="dr-old")
    with sqlite3.connect(store.db_path) as con:
        for pid, ear, value, mark in rows:
            con.execute(
                "INSERT INTO corrections (file_hash, target, record, patient_id, ear, wave, value, model_value, user, "
                "created_at, age_years, model_sha256, model_checkpoint, mark, stimulus) "
                "VALUES (?, 'threshold', -1, ?, ?, '', ?, 40.0, 'dr-old', ?, NULL, NULL, NULL, ?, NULL)",
                ("f" * 64, pid, ear, value, AT, mark),
            )
    return store


def test_a_correction_of_the_pooled_ear_shows_on_each_of_its_series_and_is_not_applied(tmp_path: Path) -> None:
    """M1/L is now an 8 and a 16 kHz series: the old 50 dB is on both, with the note, and their final values are the
    model's; M1/R (one series) takes its old 30 dB as before."""
    report = _report(_mouse())
    store = _legacy_store(tmp_path, [("M1", "L", 50.0, None), ("M1", "R", 30.0, None)])
    view = _mouse_view(report, store.current("f" * 64))
    ears = {(e["ear"], e["stimulus"]): e for e in view["ears"]}
    for stim, model in ((K8, 40.0), (K16, 60.0)):
        ear = ears["L", stim]
        assert (ear["status"], ear["threshold_db"], ear["threshold_flag"]) == ("model", model, POOLED)
        assert "threshold corrected to 50 dB by dr-old" in ear["threshold_note"]
        assert "pooled ear M1/L before it was split by stimulus" in ear["threshold_note"]
        assert "re-apply it to one series" in ear["threshold_note"]
    right = ears["R", K8]
    assert (right["status"], right["threshold_db"], right["threshold_flag"], right["threshold_note"]) == (
        "corrected", 30.0, None, None)  # fmt: skip
    cells = {(r["ear"], r["stimulus"]): (r["ear_threshold_db"], r["ear_threshold_status"], r["ear_threshold_note"])
             for r in _rows(view)}  # fmt: skip
    assert cells["L", K8][:2] == ("40", POOLED) and cells["L", K16][:2] == ("60", POOLED)
    assert "pooled ear" in cells["L", K8][2] and cells["R", K8] == ("30", "corrected", "")
    lines = "\n".join(report_lines(view, "M1"))
    assert lines.count("  note: threshold corrected to 50 dB by dr-old") == 2, lines


def test_a_pooled_no_response_mark_is_named_and_a_series_own_correction_wins(tmp_path: Path) -> None:
    report = _report(_mouse())
    store = _legacy_store(tmp_path, [("M1", "L", None, "no response")])
    own = correction_from(CorrectionIn(target="threshold", patient_id="M1", ear="L", stimulus=K16, value=70.0,
                                       age_years=0.3), _mouse_view(report), _mouse_view(report), MODEL_ID)  # fmt: skip
    store.add_correction("f" * 64, own, file_age=None)
    ears = {e["stimulus"]: e for e in _mouse_view(report, store.current("f" * 64))["ears"] if e["ear"] == "L"}
    assert ears[K8]["threshold_flag"] == POOLED and ears[K8]["final_response"] == ears[K8]["response"]
    assert ears[K8]["threshold_note"].startswith("marked 'no response' by dr-old")
    assert (ears[K16]["status"], ears[K16]["threshold_db"], ears[K16]["threshold_flag"]) == ("corrected", 70.0, None)


# ------------------------------------------------------------------------------------------------ #4, #9 range
def test_an_old_correction_above_the_loudest_level_is_no_measured_threshold() -> None:
    view = _view([_threshold(RESPONDING, TOP_DB + 10)])
    ear = _ears(view)[RESPONDING]
    # the page keeps what is stored (its next correction is checked against it) and says what it means
    assert (ear["status"], ear["threshold_db"], ear["threshold_flag"]) == ("corrected", 90.0, ABOVE_MAX)
    assert ear["final_response"] == "no response" and "above the loudest tested level 80" in ear["threshold_note"]
    rows = [r for r in _rows(view) if f"{r['patient_id']}/{r['ear']}" == RESPONDING]
    cells = {(r["ear_threshold_db"], r["ear_threshold_above_max_level"], r["ear_threshold_status"], r["ear_response"])
             for r in rows}  # fmt: skip
    assert cells == {("", "true", ABOVE_MAX, "no response")}
    assert all("nothing was measured there" in r["ear_threshold_note"] for r in rows)
    assert {r["V_status"] for r in rows} == {"ear_no_response"} and {r["V_latency_final_ms"] for r in rows} == {""}
    text = "\n".join(report_lines(view, RESPONDING.split("/")[0]))
    assert "Ear R: threshold above 80.0 dB nHL* (corrected by dr-old" in text and "  note: corrected to 90" in text
    # the server refuses the same value today
    body = CorrectionIn(target="threshold", patient_id="P000", ear="R", value=90.0, age_years=ear["age_years"])
    with pytest.raises(HTTPException) as refused:
        correction_from(body, view, view, MODEL_ID)
    assert refused.value.status_code == 422 and "outside" in refused.value.detail


def test_a_threshold_below_the_softest_level_is_exported_as_an_extrapolation() -> None:
    """Levels 80..20 dB in 20 dB steps: 10 dB is accepted (one step down) and exported flagged, read "≤ 20"; 40 dB,
    a tested level, is a plain correction."""
    plain = _view()
    body = CorrectionIn(target="threshold", patient_id="P000", ear="R", value=10.0,
                        age_years=_ears(plain)[RESPONDING]["age_years"])  # fmt: skip
    below = correction_from(body, plain, plain, MODEL_ID)
    view = _view([below])
    ear = _ears(view)[RESPONDING]
    assert (ear["status"], ear["threshold_db"], ear["threshold_flag"]) == ("corrected", 10.0, BELOW_MIN)
    row = next(r for r in _rows(view) if f"{r['patient_id']}/{r['ear']}" == RESPONDING)
    assert (row["ear_threshold_db"], row["ear_threshold_status"], row["ear_response"]) == ("10", BELOW_MIN, "response")
    assert "below the softest tested level 20" in row["ear_threshold_note"] and "≤ 20" in row["ear_threshold_note"]
    assert "Ear R: threshold ≤ 20 dB nHL* (corrected by" in "\n".join(report_lines(view, "P000"))
    inside = next(r for r in _rows(_view([_threshold(RESPONDING, 40.0)])) if r["ear"] == "R" and r["patient_id"] ==
                  "P000")  # fmt: skip
    assert (inside["ear_threshold_db"], inside["ear_threshold_status"], inside["ear_threshold_note"]) == (
        "40", "corrected", "")  # fmt: skip


# ------------------------------------------------------------------------------------------------ #5, #13 waves
def test_the_ears_no_response_mark_overrides_a_peak_moved_before_it() -> None:
    plain = _view()
    moved = _record(plain, RESPONDING, 80.0)
    gone = _record(plain, RESPONDING, 60.0)
    peaks = [_peak(plain, moved, 6.4), _peak(plain, gone, None, "absent")]
    before = _view(peaks)
    assert before["records"][moved]["waves"]["V"]["status"] == "corrected"  # in force without the mark
    view = _view([*peaks, _threshold(RESPONDING, None, "no response")])
    wave = view["records"][moved]["waves"]["V"]
    assert (wave["status"], wave["latency_ms"], wave["amplitude_uv"], wave["corrected_by"]) == (
        "ear_no_response", None, None, None)  # fmt: skip
    assert view["records"][gone]["waves"]["V"]["status"] == "corrected_absent"  # "absent" agrees with the mark
    assert [c["value"] for c in view["corrections"] if c["target"] == "peak"] == [6.4, None]  # kept in history
    row = _rows(view)[moved]
    assert (row["V_status"], row["V_latency_final_ms"], row["V_amplitude_final_uv"]) == ("ear_no_response", "", "")
    assert row["V_model_latency_ms"] == "6" and row["I_V_final_ms"] == ""
    assert "Corrected values (*): 2" in "\n".join(report_lines(view, "P000"))  # the mark and the absent wave


def test_a_model_no_response_ear_has_no_final_wave_values() -> None:
    view = _view()
    rows = _rows(view)
    silent = [r for r in rows if f"{r['patient_id']}/{r['ear']}" == NO_RESPONSE]
    assert silent and all(r["ear_response"] == "no response" for r in silent)
    for w in WAVES:
        assert {(r[f"{w}_status"], r[f"{w}_latency_final_ms"], r[f"{w}_amplitude_final_uv"]) for r in silent} == {
            ("model_no_response", "", "")}  # fmt: skip
        assert {r[f"{w}_latency_ms"] for r in silent} == {"6"} and {r[f"{w}_model_latency_ms"] for r in silent} == {
            "6"}  # fmt: skip
    assert {r["I_V_final_ms"] for r in silent} == {""}
    responding = [r for r in rows if f"{r['patient_id']}/{r['ear']}" == RESPONDING]
    assert {(r["V_status"], r["V_latency_final_ms"]) for r in responding} == {("model", "6")}
    # the page keeps drawing the model's marks there (the expert may move one): only the export's final columns empty
    wave = view["records"][_record(view, NO_RESPONSE, 80.0)]["waves"]["V"]
    assert (wave["status"], wave["latency_ms"]) == ("model", 6.0)
    # an expert's threshold makes the ear respond: the model's waves are final again; a moved peak is always final
    plain = _view()
    loud = _record(plain, NO_RESPONSE, 80.0)
    corrected = _rows(_view([_threshold(NO_RESPONSE, 60.0)]))
    assert {r["V_status"] for r in corrected if f"{r['patient_id']}/{r['ear']}" == NO_RESPONSE} == {"model"}
    row = _rows(_view([_peak(plain, loud, 6.5)]))[loud]
    assert (row["V_status"], row["V_latency_final_ms"], row["I_status"]) == ("corrected", "6.5", "model_no_response")


# ------------------------------------------------------------------------------------------------ #11 bracket
def test_the_bracket_below_the_threshold_is_in_the_ear_json_and_the_export() -> None:
    report = _report(_mouse())
    series = report.series()
    assert series is not None
    table = {(p, e, s): b for p, e, s, b in zip(series["patient_id"], series["ear"], series["stimulus"],
                                                   series["threshold_bracket_lo_db"], strict=True)}  # fmt: skip
    view = _mouse_view(report)
    for ear in view["ears"]:
        assert ear["threshold_bracket_lo_db"] == table[ear["patient_id"], ear["ear"], ear["stimulus"]]
    got = {(r["ear"], r["stimulus"]): (r["ear_threshold_bracket_lo_db"], r["ear_threshold_model_bracket_lo_db"])
           for r in _rows(view)}  # fmt: skip
    assert got == {("L", K8): ("20", "20"), ("L", K16): ("40", "40"), ("R", K8): ("20", "20")}
    # corrected: the bracket describes the model's threshold, so only its model_ copy stays
    corrected = _mouse_view(report, [_threshold("M1/R", 60.0)])
    cells = {(r["ear"], r["ear_threshold_bracket_lo_db"], r["ear_threshold_model_bracket_lo_db"])
             for r in _rows(corrected) if r["ear"] == "R"}  # fmt: skip
    assert cells == {("R", "", "20")}


def test_the_sparse_level_warning_points_at_the_exports_column() -> None:
    """An ear tested at 80 and 20 dB with V at 80 only: the warning names the export's column, whose value is the
    next softer tested level (20 dB); a threshold at the softest level has none (empty)."""
    mouse = _mouse()
    cohort = mouse.subset(np.flatnonzero((mouse.ear == "R") & np.isin(mouse.static_column("intensity_db"), [80, 20])))
    pred = _predictions(cohort, np.where(cohort.static_column("intensity_db") >= 80, 0.95, 0.02).astype(np.float32))
    ears = aggregate_ears(pred, cohort)
    (warning,) = sparse_level_brackets(ears, cohort)
    text = viewer_text(warning)
    assert "(export CSV: ear_threshold_bracket_lo_db)" in text and "series table" not in text, text
    report = PredictionReport(cohort=cohort, predictions=pred, ears=ears, warnings=[warning])
    payload = build_payload(report, file_hash="f" * 64, filename="m.tsv", source="/srv/m.tsv", checkpoint="best.ckpt",
                            model_sha256="a" * 64)  # fmt: skip
    (row, *_) = _rows(with_corrections(payload, [], []))
    assert (row["ear_threshold_db"], row["ear_threshold_bracket_lo_db"]) == ("80", "20")
    everywhere = _predictions(cohort, np.full(cohort.n_records, 0.95, np.float32))
    at_floor = PredictionReport(cohort=cohort, predictions=everywhere, ears=aggregate_ears(everywhere, cohort))
    payload = build_payload(at_floor, file_hash="f" * 64, filename="m.tsv", source="/srv/m.tsv",
                            checkpoint="best.ckpt", model_sha256="a" * 64)  # fmt: skip
    (ear,) = payload["ears"]
    assert ear["threshold_at_min_level"] and ear["threshold_bracket_lo_db"] is None
    assert _rows(with_corrections(payload, [], []))[0]["ear_threshold_bracket_lo_db"] == ""


def test_an_open_upper_bound_stays_open_in_the_page_and_the_export() -> None:
    """The series table leaves ``threshold_hi_db`` empty where the 90 % interval would end above the loudest level
    (hunt 15 #8); the viewer filled it with threshold + 1.645 SD (81 dB on an ear tested up to 80 dB)."""
    from abrnet.viewer.analysis import _interval
    from abrnet.viewer.export import ear_cells

    assert _interval({"threshold_lo_db": 20.0, "threshold_hi_db": float("nan")}, 50.0, 19.0) == [20.0, None]
    assert _interval({"threshold_lo_db": 20.0, "threshold_hi_db": 70.0}, 50.0, 10.0) == [20.0, 70.0]
    ear = {"status": "model", "response": "response", "threshold_db": 50.0, "model_threshold_db": 50.0,
           "threshold_sd_db": 19.0, "interval_90_db": [20.0, None], "max_level_db": 80.0, "min_level_db": 0.0,
           "threshold_above_max_level": False, "threshold_at_min_level": False, "corrected_by": None,
           "corrected_at": None, "corrected_reading_age_years": None, "corrected_model_sha256": None,
           "corrected_model_note": None, "p_no_response": 0.1, "class_pred": "NORMAL"}  # fmt: skip
    cells = ear_cells(ear)
    assert cells["ear_threshold_lo_db"] == 20.0 and cells["ear_threshold_hi_db"] is None
