"""The viewer's threshold of an ear whose p(V) curve crosses at no tested level: a placeholder, not a reading.

Such an ear gets ``threshold_db`` = highest level + 5 dB (`series_columns`' ``threshold_above_max_level``). The page and
the PDF report decided "threshold above the tested levels" from ``response == "no response"`` alone, so an "uncertain"
ear (no crossing, but P(no response) <= 0.5) read "Threshold 85 ± 18 dB nHL" for an ear tested up to 80 dB, and the
CSV export's ``ear_threshold_db`` carried the same number with nothing saying what it was. Here one file holds a
responding ear, an "uncertain" placeholder ear and a "no response" ear, read through the same code as the server's.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from abrnet.data.schema import ABRCohort
from abrnet.inference.result_tables import PredictionReport
from abrnet.series.per_ear import ABOVE_HIGHEST_DB, aggregate_ears
from abrnet.viewer.analysis import build_payload, with_corrections
from abrnet.viewer.export import export_csv
from abrnet.viewer.report import _ear_lines, _waterfall
from abrnet.viewer.store import Correction
from tests.conftest import make_toy_cohort
from tests.test_predict_tables import _predictions
from tests.test_viewer_browser import browser as browser  # the headless Chromium fixture (skips without one)

UNCERTAIN, NO_RESPONSE, RESPONDING = "P000/L", "P001/L", "P000/R"
TOP_DB = 80.0  # the toy cohort's levels: 80, 60, 40, 20 dB


def _view(corrections: list[Correction] | None = None) -> dict[str, Any]:
    """The page's JSON for a toy file: P000/L shows no V at any level with P(no response) 0.2 ("uncertain"), P001/L
    none with P(no response) 0.9 ("no response"), every other ear a V from 40 dB up."""
    cohort: ABRCohort = make_toy_cohort(n_patients=2)
    cohort.extras["domain"] = np.full(cohort.n_records, "in").astype(str)
    cohort.extras["level_unit"] = np.full(cohort.n_records, "dB nHL").astype(str)  # as a clinical file states it
    keys, level = cohort.ear_key.astype(str), cohort.static_column("intensity_db")
    p_v = np.where(level >= 40, 0.95, 0.02).astype(np.float32)
    p_v[np.isin(keys, [UNCERTAIN, NO_RESPONSE])] = 0.02
    return toy_view(cohort, p_v, np.where(keys == NO_RESPONSE, 0.9, 0.2), "toy.csv", corrections)


def toy_view(
    cohort: ABRCohort, p_v: np.ndarray, p_no_response: np.ndarray, filename: str, corrections: list[Correction] | None
) -> dict[str, Any]:
    """The page's JSON for `cohort` read with these wave V and no-response probabilities, through the server's own
    code (series stage, payload, corrections)."""
    pred = _predictions(cohort, p_v)
    pred.p_no_response[:] = p_no_response
    report = PredictionReport(cohort=cohort, predictions=pred, ears=aggregate_ears(pred, cohort))
    payload = build_payload(report, file_hash="f" * 64, filename=filename, source=f"/srv/{filename}",
                            checkpoint="best.ckpt", model_sha256="a" * 64)  # fmt: skip
    corrections = corrections or []
    return with_corrections(payload, corrections, corrections)


def _ears(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["key"]: e for e in view["ears"]}


def _corrected(value: float) -> Correction:
    pid, ear = UNCERTAIN.split("/")
    return Correction("threshold", -1, pid, ear, "", value, TOP_DB + ABOVE_HIGHEST_DB, "dr-p", "2025-01-01T00:00:00Z",
                      None, "a" * 64, "best.ckpt")  # fmt: skip


def test_each_ear_of_the_payload_carries_the_flag_and_its_highest_level() -> None:
    view = _view()
    ears = _ears(view)
    assert {k: (e["response"], e["threshold_above_max_level"]) for k, e in ears.items()} == {
        UNCERTAIN: ("uncertain", True), NO_RESPONSE: ("no response", True),
        RESPONDING: ("response", False), "P001/R": ("response", False),
    }  # fmt: skip
    assert {e["max_level_db"] for e in ears.values()} == {TOP_DB}
    assert ears[UNCERTAIN]["model_threshold_db"] == TOP_DB + ABOVE_HIGHEST_DB  # the number stays; the flag says what
    again = json.loads(json.dumps(view))  # as the page receives it: a JSON true, not 1.0
    assert [e["threshold_above_max_level"] for e in again["ears"]].count(True) == 2


def test_report_lines_print_no_placeholder_number_for_an_uncertain_ear() -> None:
    ears = _ears(_view())
    head, calls = _ear_lines(ears[UNCERTAIN], TOP_DB)
    assert head == ("Ear L: p(V) crosses at no tested level up to 80.0 dB nHL: threshold above the tested levels; "
                    "no-response call uncertain (P(no response) 0.20)")  # fmt: skip
    assert "85" not in head and calls.startswith("  uncertain: P(no response) 0.20")
    assert _ear_lines(ears[NO_RESPONSE], TOP_DB)[0] == (
        "Ear L: no response up to 80.0 dB nHL: threshold above the tested levels")  # fmt: skip
    assert _ear_lines(ears[RESPONDING], TOP_DB)[0].startswith("Ear R: threshold 40.0 ± ")
    corrected = _ears(_view([_corrected(70.0)]))[UNCERTAIN]  # the expert's reading is printed
    assert _ear_lines(corrected, TOP_DB)[0].startswith("Ear L: threshold 70.0 dB nHL* (corrected by dr-p at ")


def test_pdf_waterfall_draws_no_threshold_line_at_a_placeholder() -> None:
    from matplotlib.figure import Figure

    def dashed_lines(view: dict[str, Any], key: str) -> int:
        ax = Figure().add_subplot()
        _waterfall(ax, view, _ears(view)[key])
        return sum(line.get_linestyle() == "--" for line in ax.get_lines())

    view = _view()
    assert [dashed_lines(view, k) for k in (UNCERTAIN, NO_RESPONSE, RESPONDING)] == [0, 0, 1]
    assert dashed_lines(_view([_corrected(70.0)]), UNCERTAIN) == 1


def test_csv_export_says_which_ear_thresholds_are_placeholders() -> None:
    rows = list(csv.DictReader(io.StringIO(export_csv(_view()))))
    flags = {f"{r['patient_id']}/{r['ear']}": (r["ear_threshold_above_max_level"], r["ear_threshold_db"]) for r in rows}
    # no placeholder number: the page and the PDF print none either (hunt 8 #9)
    assert flags == {UNCERTAIN: ("true", ""), NO_RESPONSE: ("true", ""), RESPONDING: ("false", "40"),
                     "P001/R": ("false", "40")}  # fmt: skip
    assert {r["ear_max_level_db"] for r in rows} == {"80"}
    header = list(rows[0])
    assert header.index("ear_threshold_above_max_level") == header.index("ear_threshold_db") + 1
    corrected = list(csv.DictReader(io.StringIO(export_csv(_view([_corrected(70.0)])))))
    left = [r for r in corrected if (r["patient_id"], r["ear"]) == ("P000", "L")]  # the expert's value is a reading
    assert {(r["ear_threshold_above_max_level"], r["ear_threshold_db"]) for r in left} == {("false", "70")}


def _render(driver: Any, tmp_path: Path, view: dict[str, Any]) -> None:
    """The page's script on `view` (the static page from a file: no server and no model needed)."""
    static = Path(__file__).resolve().parents[1] / "src" / "abrnet" / "viewer" / "static"
    page = tmp_path / "index.html"
    page.write_text((static / "index.html").read_text(encoding="utf-8").replace('"/static/', f'"{static.as_uri()}/'))
    driver.get(page.as_uri())
    driver.execute_script("render(arguments[0])", view)


def _section(driver: Any, key: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, f'section.ear[data-ear-key="{key}"]')


def test_page_shows_no_placeholder_number_and_no_dashed_line(browser: Any, tmp_path: Path) -> None:
    """The uncertain ear says why it has no threshold; its line is a handle labelled ">80", not "85", and its
    latency–intensity plot draws no threshold line; a corrected one shows the expert's value again."""
    from selenium.webdriver.common.by import By

    _render(browser, tmp_path, _view())
    text = {k: _section(browser, k).find_element(By.CSS_SELECTOR, ".threshold-text").text for k in _ears(_view())}
    assert text[UNCERTAIN] == ("The p(V) curve crosses at no tested level up to 80.0 dB nHL: threshold above the "
                               "tested levels; the no-response call is uncertain (P(no response) 0.20)")  # fmt: skip
    assert text[NO_RESPONSE] == "No response up to 80.0 dB nHL: threshold above the tested levels"
    assert text[RESPONDING].startswith("Threshold 40.0 ± ")
    for key, label in ((UNCERTAIN, ">80"), (NO_RESPONSE, ">80"), (RESPONDING, "40")):
        handle = _section(browser, key).find_element(By.CSS_SELECTOR, "g.threshold")
        assert handle.find_element(By.TAG_NAME, "text").text == label
        assert ("placeholder" in handle.get_attribute("class")) == (key != RESPONDING)
        dashed = _section(browser, key).find_elements(By.CSS_SELECTOR, 'svg.latint line[stroke-dasharray="4 3"]')
        assert len(dashed) == (key == RESPONDING), key

    _render(browser, tmp_path, _view([_corrected(70.0)]))
    sec = _section(browser, UNCERTAIN)
    assert sec.find_element(By.CSS_SELECTOR, ".threshold-text").text.startswith("Threshold 70.0 dB nHL* — corrected by")
    assert sec.find_element(By.CSS_SELECTOR, "g.threshold text").text == "70*"
    assert len(sec.find_elements(By.CSS_SELECTOR, 'svg.latint line[stroke-dasharray="4 3"]')) == 1
