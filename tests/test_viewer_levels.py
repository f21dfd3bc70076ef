"""The viewer prints levels in each file's own unit, and a threshold at an ear's softest tested level as a bound.

A mouse file's levels are dB SPL, but the page, the PDF report and the correction messages said "dB nHL" for every
file. And where an ear's p(V) curve already crosses at its softest tested level the model's threshold is that level
*or lower*: its SD is then often 0 and its 90 % interval "20-20 dB", which the page and report printed as a threshold
known exactly ("20.0 ± 0.0 dB nHL"). Here a toy file in dB SPL holds such an ear (a V at every level, 20 dB the
softest), a responding ear (a V from 40 dB up) and a "no response" ear, read through the same code as the server's.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from abrnet.viewer.export import export_csv
from abrnet.viewer.report import _ear_lines, _latency_intensity, patient_figure
from abrnet.viewer.store import Correction
from tests.conftest import make_toy_cohort
from tests.test_viewer_browser import browser as browser  # the headless Chromium fixture (skips without one)
from tests.test_viewer_placeholder import _ears, _render, _section, toy_view

FLOOR, RESPONDING, NO_RESPONSE = "P000/L", "P000/R", "P001/L"
FLOOR_TEXT = "wave V at the lowest level tested; nothing softer was recorded"


def _view(corrections: list[Correction] | None = None, unit: str | None = "dB SPL") -> dict[str, Any]:
    """The page's JSON for a toy file whose levels (80, 60, 40, 20 dB) are in `unit` (None: the file names none)."""
    cohort = make_toy_cohort(n_patients=2)
    n = cohort.n_records
    cohort.extras["domain"] = np.full(n, "in").astype(str)
    if unit is not None:
        cohort.extras["level_unit"] = np.full(n, unit).astype(str)
    keys, level = cohort.ear_key.astype(str), cohort.static_column("intensity_db")
    p_v = np.where(level >= 40, 0.95, 0.02).astype(np.float32)
    p_v[keys == FLOOR] = 0.95  # a V at every level, the softest included
    p_v[keys == NO_RESPONSE] = 0.02
    return toy_view(cohort, p_v, np.where(keys == NO_RESPONSE, 0.9, 0.2), "mouse.csv", corrections)


def _corrected(value: float) -> Correction:
    pid, ear = FLOOR.split("/")
    return Correction("threshold", -1, pid, ear, "", value, 20.0, "dr-f", "2025-01-01T00:00:00Z", None, "a" * 64,
                      "best.ckpt")  # fmt: skip


def test_each_ear_carries_the_floor_flag_its_lowest_level_and_its_level_unit() -> None:
    view = json.loads(json.dumps(_view()))  # as the page receives it
    ears = _ears(view)
    assert {k: (e["threshold_at_min_level"], e["min_level_db"]) for k, e in ears.items()} == {
        FLOOR: (True, 20.0), RESPONDING: (False, 20.0), NO_RESPONSE: (False, 20.0), "P001/R": (False, 20.0),
    }  # fmt: skip
    floor = ears[FLOOR]
    assert floor["model_threshold_db"] == 20.0 and floor["interval_90_db"][0] == 20.0  # the number stays: a real level
    assert {e["level_unit"] for e in ears.values()} == {"dB SPL"}
    assert {r["level_unit"] for r in view["records"]} == {"dB SPL"}
    unknown = _view(unit=None)
    assert (
        {e["level_unit"] for e in unknown["ears"]}
        == {r["level_unit"] for r in unknown["records"]}
        == {"dB, unit unknown"}
    )


def test_report_lines_say_the_ears_unit_and_print_a_floor_as_a_bound() -> None:
    ears = _ears(_view())
    head, _ = _ear_lines(ears[FLOOR], 80.0)
    assert head == f"Ear L: threshold ≤ 20 dB SPL ({FLOOR_TEXT})"
    assert "±" not in head and "interval" not in head
    assert _ear_lines(ears[RESPONDING], 80.0)[0].startswith("Ear R: threshold 40.0 ± ")
    assert " dB SPL (90 % interval " in _ear_lines(ears[RESPONDING], 80.0)[0]
    assert _ear_lines(ears[NO_RESPONSE], 80.0)[0] == (
        "Ear L: no response up to 80.0 dB SPL: threshold above the tested levels")  # fmt: skip
    corrected = _ears(_view([_corrected(30.0)]))[FLOOR]  # the expert's value is a reading, printed as one
    assert _ear_lines(corrected, 80.0)[0].startswith("Ear L: threshold 30.0 dB SPL* (corrected by dr-f at ")
    unknown = _ears(_view(unit=None))[RESPONDING]
    assert " dB, unit unknown (90 % interval " in _ear_lines(unknown, 80.0)[0]
    for line in (_ear_lines(e, 80.0)[0] for e in ears.values()):
        assert "nHL" not in line, line


def test_pdf_axis_and_page_text_name_the_unit() -> None:
    from matplotlib.figure import Figure

    view = _view()
    ax = Figure().add_subplot()
    _latency_intensity(ax, view, _ears(view)[FLOOR])
    assert ax.get_xlabel() == "intensity (dB SPL)"
    fig = patient_figure(view, "P000", generated_at="2025-01-01T00:00:00Z")
    texts = [t.get_text() for t in fig.texts] + [a.get_xlabel() for a in fig.axes]
    assert f"Ear L: threshold ≤ 20 dB SPL ({FLOOR_TEXT})" in texts
    assert not [t for t in texts if "nHL" in t], texts


def test_csv_export_flags_a_floor_threshold_and_gives_the_unit() -> None:
    rows = list(csv.DictReader(io.StringIO(export_csv(_view()))))
    flags = {f"{r['patient_id']}/{r['ear']}": (r["ear_threshold_at_min_level"], r["ear_min_level_db"]) for r in rows}
    assert flags == {FLOOR: ("true", "20"), RESPONDING: ("false", "20"), NO_RESPONSE: ("false", "20"),
                     "P001/R": ("false", "20")}  # fmt: skip
    assert {r["level_unit"] for r in rows} == {"dB SPL"}
    header = list(rows[0])
    at = header.index("ear_max_level_db")
    assert header[at + 1 : at + 3] == ["ear_threshold_at_min_level", "ear_min_level_db"]
    assert header.index("level_unit") == header.index("intensity_db") + 1
    corrected = list(csv.DictReader(io.StringIO(export_csv(_view([_corrected(30.0)])))))
    left = {(r["ear_threshold_at_min_level"], r["ear_threshold_db"]) for r in corrected if r["patient_id"] == "P000"
            and r["ear"] == "L"}  # fmt: skip
    assert left == {("false", "30")}  # the expert's value is a reading, not a bound


def test_page_prints_the_floor_as_a_bound_in_the_files_unit(browser: Any, tmp_path: Path) -> None:
    """The floor ear reads "Threshold ≤ 20 dB SPL (...)", its line's label "≤20" with no 90 % band; every ear's text
    and latency-intensity axis say dB SPL; a corrected floor ear shows the expert's value."""
    from selenium.webdriver.common.by import By

    view = _view()
    _render(browser, tmp_path, view)
    text = {k: _section(browser, k).find_element(By.CSS_SELECTOR, ".threshold-text").text for k in _ears(view)}
    assert text[FLOOR] == f"Threshold ≤ 20 dB SPL ({FLOOR_TEXT})"
    assert text[RESPONDING].startswith("Threshold 40.0 ± ") and " dB SPL (90 % interval " in text[RESPONDING]
    assert text[NO_RESPONSE] == "No response up to 80.0 dB SPL: threshold above the tested levels"
    page = browser.find_element(By.TAG_NAME, "body").text
    assert "nHL" not in page
    for key, label, bands in ((FLOOR, "≤20", 0), (RESPONDING, "40", 1)):
        handle = _section(browser, key).find_element(By.CSS_SELECTOR, "g.threshold")
        assert handle.find_element(By.TAG_NAME, "text").text == label
        assert len(handle.find_elements(By.CSS_SELECTOR, "rect.band")) == bands, key
        title = handle.find_element(By.TAG_NAME, "title").get_attribute("textContent")
        assert ("at or below 20 dB SPL" in title) == (key == FLOOR), title
    axis = [t.text for t in _section(browser, FLOOR).find_elements(By.CSS_SELECTOR, "svg.latint text")]
    assert "intensity (dB SPL)" in axis

    _render(browser, tmp_path, _view([_corrected(30.0)]))
    sec = _section(browser, FLOOR)
    assert sec.find_element(By.CSS_SELECTOR, ".threshold-text").text.startswith("Threshold 30.0 dB SPL* — corrected by")
    assert sec.find_element(By.CSS_SELECTOR, "g.threshold text").text == "30*"
