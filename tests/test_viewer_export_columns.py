"""The viewer's CSV export: the ear's call and interval, no placeholder number, and results.csv's names kept honest.

An audit (hunt 8 #9, #10) found the export printed an "uncertain" ear's threshold beside P(no response) with no call
and no interval, the placeholder (highest level + 5 dB) of a "no response" ear as a threshold although the README
says the CSV shows none, and ``V_latency_ms``, ``V_amplitude_uv``, ``I_V_ms`` holding the series-blended values (and
intervals between waves read from noise) where ``abrnet predict``'s results.csv holds the record's under the same
names. Toy files read through the server's own code (`toy_view`), no model needed.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
from pathlib import Path
from typing import Any

import numpy as np

from abrnet.constants import WAVES
from abrnet.inference.result_tables import PredictionReport, write_columns_csv
from abrnet.series.per_ear import aggregate_ears
from abrnet.viewer.analysis import build_payload, trace_value, with_corrections
from abrnet.viewer.export import export_csv
from abrnet.viewer.report import _ear_lines
from abrnet.viewer.store import Correction
from tests.conftest import make_toy_cohort
from tests.test_predict_tables import _predictions
from tests.test_viewer_levels import FLOOR
from tests.test_viewer_levels import _view as _floor_view
from tests.test_viewer_placeholder import NO_RESPONSE, RESPONDING, UNCERTAIN, _corrected, _ears, _view

LATENCY = (1.6, 3.8, 5.8)  # waves I, III, V: distinct, so an interval is not 0 by construction
SERIES_SHIFT_MS, SERIES_AMPLITUDE = 0.25, 0.8  # the series reading differs from the record's, as a real one does


def _rows(view: dict[str, Any]) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(export_csv(view))))


def _by_ear(rows: list[dict[str, str]], *columns: str) -> dict[str, tuple[str, ...]]:
    """``{"P000/L": (cells...)}``: one tuple per ear (asserting every record row of the ear carries the same)."""
    out: dict[str, set[tuple[str, ...]]] = {}
    for r in rows:
        out.setdefault(f"{r['patient_id']}/{r['ear']}", set()).add(tuple(r[c] for c in columns))
    assert all(len(v) == 1 for v in out.values()), out
    return {k: v.pop() for k, v in out.items()}


def test_each_ear_carries_its_call_and_no_placeholder_number() -> None:
    """The "uncertain" and the "no response" ear (placeholder 85 dB, tested up to 80): call, flag, no number, no SD
    or interval; the responding ear's interval is the payload's; the call is series.csv's word."""
    view = _view()
    rows = _rows(view)
    cols = ("ear_response", "ear_threshold_db", "ear_threshold_above_max_level", "ear_threshold_sd_db",
            "ear_threshold_lo_db", "ear_threshold_hi_db", "ear_threshold_model_db")  # fmt: skip
    got = _by_ear(rows, *cols)
    for key, call in ((UNCERTAIN, "uncertain"), (NO_RESPONSE, "no response")):
        assert got[key] == (call, "", "true", "", "", "", ""), (key, got[key])
    responding = _ears(view)[RESPONDING]
    lo, hi = responding["interval_90_db"]
    assert got[RESPONDING][:3] == ("response", "40", "false")
    assert [float(x) if x else None for x in got[RESPONDING][3:6]] == [
        None if v is None else float(format(v, ".6g")) for v in (responding["threshold_sd_db"], lo, hi)
    ]  # an open upper bound (above the loudest level) is an empty cell
    assert got[RESPONDING][6] == "40"
    assert "85" not in {r["ear_threshold_db"] for r in rows} | {r["ear_threshold_model_db"] for r in rows}
    header = list(rows[0])
    assert header.index("ear_response") < header.index("ear_threshold_db") < header.index("ear_p_no_response")
    at = header.index("ear_threshold_sd_db")
    assert header[at : at + 3] == ["ear_threshold_sd_db", "ear_threshold_lo_db", "ear_threshold_hi_db"]


def test_a_corrected_placeholder_ear_shows_the_experts_value_without_the_models_interval() -> None:
    got = _by_ear(_rows(_view([_corrected(70.0)])), "ear_response", "ear_threshold_db", "ear_threshold_above_max_level",
                  "ear_threshold_sd_db", "ear_threshold_lo_db", "ear_threshold_hi_db", "ear_threshold_status",
                  "ear_threshold_model_db")  # fmt: skip
    # the model found no threshold up to 80 dB: its placeholder 85 is no "model value" beside the expert's (hunt 9, #3)
    # the expert's threshold makes the final call "response" (hunt 12, #2); the model's call keeps its own column
    assert got[UNCERTAIN] == ("response", "70", "false", "", "", "", "corrected", "")
    assert _by_ear(_rows(_view([_corrected(70.0)])), "ear_response_model")[UNCERTAIN] == ("uncertain",)
    pdf_lines = _ear_lines(next(e for e in _view([_corrected(70.0)])["ears"] if e["key"] == UNCERTAIN), 80.0)
    assert "model: none up to 80.0 dB" in pdf_lines[0] and "model 85" not in pdf_lines[0]


def test_a_floor_ear_keeps_its_bound_and_flag() -> None:
    got = _by_ear(_rows(_floor_view()), "ear_response", "ear_threshold_db", "ear_threshold_at_min_level",
                  "ear_threshold_lo_db")  # fmt: skip
    assert got[FLOOR] == ("response", "20", "true", "20")


def _series_report(n_patients: int = 2) -> PredictionReport:
    """A toy report with a series reading that differs from the record one (latency +0.25 ms, amplitude x0.8), wave
    I present only at 60 dB and up, III at 80 dB only, V from 40 dB up."""
    cohort = make_toy_cohort(n_patients=n_patients)
    cohort.extras["domain"] = np.full(cohort.n_records, "in").astype(str)
    level = cohort.static_column("intensity_db")
    pred = _predictions(cohort, np.where(level >= 40, 0.95, 0.02).astype(np.float32))
    pred.peak_presence_prob[:, 0] = np.where(level >= 60, 0.9, 0.1)
    pred.peak_presence_prob[:, 1] = np.where(level >= 80, 0.9, 0.1)
    pred.latency_ms[:] = np.asarray(LATENCY, np.float32)
    series = dataclasses.replace(
        pred, latency_ms=pred.latency_ms + SERIES_SHIFT_MS, amplitude_uv=pred.amplitude_uv * SERIES_AMPLITUDE
    )
    return PredictionReport(cohort=cohort, predictions=pred, ears=aggregate_ears(pred, cohort),
                            series_predictions=series)  # fmt: skip


def _report_view(report: PredictionReport, corrections: list[Correction] | None = None) -> dict[str, Any]:
    payload = build_payload(report, file_hash="f" * 64, filename="toy.csv", source="/srv/toy.csv",
                            checkpoint="best.ckpt", model_sha256="a" * 64)  # fmt: skip
    return with_corrections(payload, corrections or [], corrections or [])


def _same(a: str, b: str) -> bool:
    """Two CSV cells hold the same value: both empty, equal text, or equal numbers to float32 precision."""
    if a == b:
        return True
    try:
        x, y = float(a), float(b)
    except ValueError:
        return False
    return math.isclose(x, y, rel_tol=1e-5, abs_tol=1e-6)


def test_columns_named_as_results_csv_hold_its_values(tmp_path: Path) -> None:
    """Every column the export shares with results.csv (same file, same model) holds the same cell in every row."""
    report = _series_report()
    results = list(csv.DictReader(write_columns_csv(report.columns(), tmp_path / "results.csv").open()))
    rows = _rows(_report_view(report))
    shared = [c for c in results[0] if c in rows[0]]
    assert len(rows) == len(results)
    for res, exp in zip(results, rows, strict=True):
        differ = [(c, res[c], exp[c]) for c in shared if not _same(res[c], exp[c])]
        assert not differ, differ
    for w in WAVES:  # the columns the audit found differing are among those compared
        assert {f"{w}_latency_ms", f"{w}_amplitude_uv", f"{w}_latency_series_ms", f"{w}_amplitude_series_uv"} <= set(
            shared
        )
    assert {"I_III_ms", "III_V_ms", "I_V_ms", "threshold_db", "p_no_response"} <= set(shared)
    loud = [r for r in rows if r["intensity_db"] == "80"]
    assert loud and {round(float(r["I_V_ms"]), 4) for r in loud} == {round(LATENCY[2] - LATENCY[0], 4)}
    assert {r["I_V_ms"] for r in rows if r["intensity_db"] == "40"} == {""}  # wave I absent: no interval


def test_a_moved_peak_is_in_the_final_columns() -> None:
    """A clinician's wave V correction shows in ``V_latency_final_ms`` (and its interval), beside the record's and
    the series' readings, which stay the model's; an unmoved wave's final value is the series reading."""
    report = _series_report()
    rec = next(i for i, lvl in enumerate(report.cohort.static_column("intensity_db")) if lvl == 80)
    pid, ear = str(report.cohort.patient_id[rec]), str(report.cohort.ear[rec])
    moved = Correction("peak", rec, pid, ear, "V", 6.5, LATENCY[2] + SERIES_SHIFT_MS, "dr-v", "2025-01-01T00:00:00Z",
                       None, "a" * 64, "best.ckpt")  # fmt: skip
    view = _report_view(report, [moved])
    row = _rows(view)[rec]
    assert (row["V_status"], float(row["V_latency_final_ms"]), row["V_corrected_by"]) == ("corrected", 6.5, "dr-v")
    assert math.isclose(float(row["V_latency_ms"]), LATENCY[2], rel_tol=1e-6)  # the record's, as in results.csv
    assert math.isclose(float(row["V_latency_series_ms"]), LATENCY[2] + SERIES_SHIFT_MS, rel_tol=1e-6)
    assert math.isclose(float(row["V_model_latency_ms"]), LATENCY[2] + SERIES_SHIFT_MS, rel_tol=1e-6)
    signal = view["records"][rec]["signal"]
    amplitude = trace_value(signal, view["time_ms"], 6.5)
    assert amplitude is not None and math.isclose(float(row["V_amplitude_final_uv"]), amplitude, rel_tol=1e-5)
    assert math.isclose(float(row["I_latency_final_ms"]), LATENCY[0] + SERIES_SHIFT_MS, rel_tol=1e-6)
    assert math.isclose(float(row["I_V_final_ms"]), 6.5 - (LATENCY[0] + SERIES_SHIFT_MS), rel_tol=1e-5)
    assert math.isclose(float(row["I_V_ms"]), LATENCY[2] - LATENCY[0], rel_tol=1e-5)  # results.csv's, unmoved
