"""Page regressions in a real browser (headless Chromium, as in `tests/test_viewer_browser.py`, whose fixture and
helpers these tests share; they skip where chromium / chromedriver are not installed).

One server for the module; each test uploads a small toy CSV of its own (the wide CSV `abrnet data export` writes)
and checks one thing a clinician ran into: ids rendered as text, grabbing the threshold line, correcting from the
keyboard, a failed upload, peak order and the threshold's range.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import make_toy_cohort
from tests.test_viewer_browser import _mark, _wait
from tests.test_viewer_browser import browser as browser  # the module's headless Chromium fixture
from tests.test_viewer_server import get_json, running_server


@pytest.fixture(scope="module")
def checkpoint(tiny_run: dict) -> Path:
    return Path(tiny_run["dir"]) / "best.ckpt"


@pytest.fixture(scope="module")
def server(checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_server(checkpoint, tmp_path_factory.mktemp("browser-regressions") / "data") as base:
        yield base


# what the pointer hits along the grip's centre line, every 2 px (x relative to the grip's centre)
HITS_ALONG_GRIP = """
const r = arguments[0].getBoundingClientRect(), y = r.top + r.height / 2, out = [];
for (let x = r.left + 1; x < r.right - 1; x += 2) {
  const e = document.elementFromPoint(x, y);
  out.push([x - (r.left + r.width / 2), e.closest("g.threshold") ? "line" : e.closest("g.mark") ? "mark" : e.tagName]);
}
return out;"""
# a point on the grip's centre line where a trace crosses it and no mark covers it (x relative to the grip's centre)
TRACE_CROSSING = """
const g = arguments[0], r = g.getBoundingClientRect(), y = r.top + r.height / 2;
for (const p of g.closest("svg").querySelectorAll("path.trace")) {
  const m = p.getScreenCTM();
  for (let s = 0; s < p.getTotalLength(); s += 0.5) {
    const q = p.getPointAtLength(s), x = m.a * q.x + m.e, yy = m.d * q.y + m.f;
    const inside = Math.abs(yy - y) < 0.5 && x > r.left + 2 && x < r.right - 2;
    if (inside && !document.elementFromPoint(x, y).closest("g.mark")) return x - (r.left + r.width / 2);
  }
}
return null;"""


def _toy_csv(path: Path, ids: tuple[str, ...] = ("P000",), levels: tuple[int, ...] = (80, 60, 40, 20)) -> Path:
    """A toy wide CSV; its seed comes from the file name, so that no two tests upload the same bytes (corrections
    are kept per content hash: one test's corrections would come back in another's upload)."""
    from abrnet.data.csv_io import write_wide_csv

    cohort = make_toy_cohort(n_patients=len(ids), levels=levels, seed=zlib.crc32(path.name.encode()))
    cohort.patient_id = np.array([ids[int(p[1:])] for p in cohort.patient_id])
    return write_wide_csv(cohort, path, force=True)


def _open(driver: object, base: str, path: Path, user: str = "dr-kb") -> None:
    """A fresh page: type the reviewer, upload `path`, wait for the marks."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(base + "/")
    driver.find_element(By.ID, "user").clear()
    driver.find_element(By.ID, "user").send_keys(user)
    driver.find_element(By.ID, "file").send_keys(str(path))
    driver.find_element(By.ID, "analyze").click()
    WebDriverWait(driver, 60).until(lambda d: f"{path.name}: " in d.find_element(By.ID, "status").text)
    assert "records analysed" in driver.find_element(By.ID, "status").text
    _wait(driver, "g.mark")


def _threshold(driver: object, k: int = 0) -> object:
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, "section.ear")[k].find_element(By.CSS_SELECTOR, "g.threshold")


def test_patient_ids_render_as_text_long_ones_wrap_and_no_console_errors(browser, server, tmp_path) -> None:
    """A patient id is text, never markup; a 300-character id wraps instead of widening the page threefold; the page
    logs no errors (it asked for a /favicon.ico the server does not have: a 404 in the console on every load)."""
    from selenium.webdriver.common.by import By

    driver, xss, long_id = browser, "<img src=x onerror=window.__x=1>", "P" * 300
    driver.get_log("browser")  # drop what earlier tests logged
    _open(driver, server, _toy_csv(tmp_path / "ids.csv", (xss, long_id)))
    heads = [h.text for h in driver.find_elements(By.CSS_SELECTOR, "section.ear h2")]
    assert f"Patient {xss}, ear L" in heads and driver.execute_script("return window.__x") is None
    assert not driver.find_elements(By.CSS_SELECTOR, "img")
    assert any(a.text == f"PDF report {xss}" for a in driver.find_elements(By.CSS_SELECTOR, "a.export-pdf"))
    widths = driver.execute_script("const e = document.documentElement; return [e.scrollWidth, e.clientWidth]")
    assert widths[0] <= widths[1], f"the page is {widths[0]} px wide in a {widths[1]} px window"
    assert [e for e in driver.get_log("browser") if e["level"] == "SEVERE"] == []


def test_threshold_line_can_be_grabbed_where_a_trace_crosses_it(browser, server, tmp_path) -> None:
    """The traces sat on top of the threshold line's grip: pressing the line where a trace crossed it (often: the
    line sits on a tested level's baseline) grabbed the trace, and the drag did nothing."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    driver = browser
    _open(driver, server, _toy_csv(tmp_path / "crossing.csv"))
    grip = _threshold(driver).find_element(By.CSS_SELECTOR, "rect.grip")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", grip)
    # what the pointer hits along the line's centre, every 2 px: the line, or a mark drawn over it, never a trace
    hits = driver.execute_script(HITS_ALONG_GRIP, grip)
    assert {h for _, h in hits} <= {"line", "mark"}, [h for h in hits if h[1] not in ("line", "mark")][:5]
    # and a drag from a point where a trace crosses the line moves the line
    crossing = driver.execute_script(TRACE_CROSSING, grip)
    assert crossing is not None
    before = float(_threshold(driver).get_attribute("data-value"))
    press = ActionChains(driver).move_to_element_with_offset(grip, int(round(crossing)), 0).click_and_hold()
    press.move_by_offset(0, 46).release().perform()
    assert float(_wait(driver, "g.threshold.corrected")[0].get_attribute("data-value")) != before


@pytest.mark.parametrize("levels", [(60,), (60, 60)], ids=["one-level", "one-level-twice"])
def test_threshold_of_an_ear_with_one_level_can_be_corrected(browser, server, tmp_path, levels) -> None:
    """An ear recorded at one level had no threshold line (nothing to drag); two records at one level had one that
    moved the wrong way (dragged down = louder) by a made-up scale. Now: one row per 10 dB, up = louder."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    driver = browser
    _open(driver, server, _toy_csv(tmp_path / f"level{len(levels)}.csv", levels=levels))
    assert len(driver.find_elements(By.CSS_SELECTOR, "section.ear g.threshold")) == 2  # both ears
    grip = _threshold(driver).find_element(By.CSS_SELECTOR, "rect.grip")
    # drag the line to half a row below the (first) 60 dB trace's baseline: 55 dB, wherever the model put it
    dy = driver.execute_script(
        "const g = arguments[0], top = g.closest('svg').getBoundingClientRect().top, r = g.getBoundingClientRect();"
        "return top + 18 + 46 / 2 + 23 - (r.top + r.height / 2);",
        grip,
    )
    ActionChains(driver).click_and_hold(grip).move_by_offset(0, int(round(dy))).release().perform()
    assert float(_wait(driver, "g.threshold.corrected")[0].get_attribute("data-value")) == pytest.approx(55, abs=0.3)


def test_marks_and_threshold_can_be_corrected_from_the_keyboard(browser, server, tmp_path) -> None:
    """Tab reaches the marks and the threshold line; arrows correct them, Delete reverts, and focus stays put."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    driver = browser
    _open(driver, server, _toy_csv(tmp_path / "keys.csv"))
    focused = "const a = document.activeElement; return [a.getAttribute('class'), a.dataset.record, a.dataset.wave]"
    driver.find_element(By.ID, "analyze").send_keys("")  # focus the last control of the form, then Tab on
    for _ in range(12):
        ActionChains(driver).send_keys(Keys.TAB).perform()
        if (driver.execute_script(focused)[0] or "").startswith("mark"):
            break
    cls, record, wave = driver.execute_script(focused)
    assert cls.startswith("mark"), "Tab never reached a peak mark"
    sel = f'g.mark[data-record="{record}"][data-wave="{wave}"]'
    lat0 = float(driver.find_element(By.CSS_SELECTOR, sel).get_attribute("data-latency"))
    ActionChains(driver).send_keys(Keys.ARROW_RIGHT).perform()
    moved = _wait(driver, sel + ".corrected")[0]
    assert float(moved.get_attribute("data-latency")) == pytest.approx(lat0 + 0.05, abs=1e-3)
    assert driver.execute_script(focused)[1:] == [record, wave]  # focus is kept across the redraw
    ActionChains(driver).send_keys(Keys.DELETE).perform()
    _wait(driver, sel + '[data-status="model"]')
    thr = _threshold(driver)
    before = float(thr.get_attribute("data-value"))
    driver.execute_script("arguments[0].focus()", thr)
    assert thr.get_attribute("data-status") == "model"
    ActionChains(driver).key_down(Keys.SHIFT).send_keys(Keys.ARROW_UP).key_up(Keys.SHIFT).perform()
    assert float(_wait(driver, "g.threshold.corrected")[0].get_attribute("data-value")) == pytest.approx(before + 10)


def test_a_failed_upload_leaves_nothing_of_the_previous_file_on_screen(browser, server, tmp_path) -> None:
    """A failed upload left the previous file's waterfall, links and URL under a red error naming the new file."""
    from selenium.webdriver.common.by import By

    _open(browser, server, _toy_csv(tmp_path / "before-fail.csv"))
    (bad := tmp_path / "not-abr.csv").write_text("this is not an ABR recording\n" * 20)
    browser.find_element(By.ID, "file").send_keys(str(bad))  # same page: no reload in between
    browser.find_element(By.ID, "analyze").click()
    _wait(browser, "#status.error")
    assert "not-abr.csv" in browser.find_element(By.ID, "status").text and "#file=" not in browser.current_url
    assert browser.find_elements(By.CSS_SELECTOR, "section.ear, g.mark, #exports a, #help:not([hidden])") == []


def test_a_peak_cannot_be_dropped_on_another_wave(browser, server, tmp_path) -> None:
    """V dragged onto I was kept, and I could no longer be grabbed; now V stops after III, by mouse or keyboard."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    _open(browser, server, _toy_csv(tmp_path / "order.csv"))
    view = get_json(f"{server}/api/files/{browser.current_url.split('#file=')[1]}")
    rec = next(r for r in view["records"] if None not in [r["waves"][w]["latency_ms"] for w in ("I", "III", "V")])
    circle = {w: _mark(browser, rec["index"], w).find_element(By.TAG_NAME, "circle") for w in ("I", "V")}
    xi, xv = (browser.execute_script("return arguments[0].getBoundingClientRect().x", circle[w]) for w in ("I", "V"))
    ActionChains(browser).click_and_hold(circle["V"]).move_by_offset(int(round(xi - xv)), 0).release().perform()
    sel_v = f'g.mark.corrected[data-record="{rec["index"]}"][data-wave="V"]'
    v, iii = float(_wait(browser, sel_v)[0].get_attribute("data-latency")), rec["waves"]["III"]["latency_ms"]
    assert iii < v < iii + 0.5 and "stops just after wave III" in browser.find_element(By.ID, "status").text, (iii, v)
    hit = "const p = arguments[0].getBoundingClientRect(); return document.elementFromPoint(p.x + p.width / 2, "
    hit += "p.y + p.height / 2).closest('g.mark').dataset.wave"  # I is what the pointer grabs at its centre
    assert browser.execute_script(hit, _mark(browser, rec["index"], "I").find_element(By.TAG_NAME, "circle")) == "I"
    browser.execute_script("arguments[0].focus()", _wait(browser, sel_v)[0])  # the keyboard: Shift+Left moves nothing
    ActionChains(browser).key_down(Keys.SHIFT).send_keys(Keys.ARROW_LEFT).key_up(Keys.SHIFT).perform()
    assert "stops just after wave III" in browser.find_element(By.ID, "status").text
    assert float(_wait(browser, sel_v)[0].get_attribute("data-latency")) == pytest.approx(v)


def test_threshold_drag_stays_in_range_and_a_press_that_moves_nothing_clears_the_status(browser, server, tmp_path):
    """Far up, the drag saved ~118 dB while the line sat at the edge (now it stops at the loudest level, 80 dB:
    nothing was measured above it); a press that moved nothing kept the status."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    _open(browser, server, _toy_csv(tmp_path / "thr-clamp.csv"))  # levels 80, 60, 40, 20: rows 46 px = 20 dB apart
    line_y = lambda: float(_threshold(browser).find_element(By.TAG_NAME, "line").get_attribute("y1"))
    grip = lambda: _threshold(browser).find_element(By.CSS_SELECTOR, "rect.grip")
    y = browser.execute_script("const r = arguments[0].getBoundingClientRect(); return r.top + r.height / 2;", grip())
    ActionChains(browser).click_and_hold(grip()).move_by_offset(0, -int(y - 2)).release().perform()  # to the page top
    value = float(_wait(browser, "g.threshold.corrected")[0].get_attribute("data-value"))
    assert value == 80 and line_y() == pytest.approx(41, abs=0.6), value
    assert browser.find_element(By.ID, "status").text == "Correction saved."
    ActionChains(browser).click_and_hold(browser.find_element(By.CSS_SELECTOR, "g.mark circle")).release().perform()
    assert browser.find_element(By.ID, "status").text == ""  # a press on a mark that moved nothing
    ActionChains(browser).click_and_hold(grip()).move_by_offset(0, 600).release().perform()  # far below the waterfall
    _wait(browser, f'g.threshold.corrected:not([data-value="{value:g}"])')
    value = float(_threshold(browser).get_attribute("data-value"))
    assert 0 <= value < 20 and line_y() == pytest.approx(41 + 3 * 46 + (20 - value) * 2.3, abs=0.6), value
