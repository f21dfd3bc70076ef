"""The viewer in a real browser (headless Debian Chromium through Selenium and chromedriver), as a clinician uses it.

Upload a real device export, see the marks, drag a wave V peak and the threshold, reload and see the corrections
kept, restart the server and see them kept, re-upload the same bytes and see them come back, then export the CSV and
the PDF report and check the numbers in them. Skips only when chromium / chromedriver are not installed
(`.ci/run` installs them, so CI runs it) or the device export in ../shared/fixtures is missing (`require_fixture`).
The page regressions found later, each on a toy CSV of its own, are in `tests/test_viewer_browser_regressions.py`.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require_fixture
from tests.test_viewer_server import AGE, FAST_ABR, get_bytes, get_json, running_server

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
USER = "dr-tester"
DRAG_PX = 40


@pytest.fixture(scope="module")
def checkpoint(tiny_run: dict) -> Path:
    return Path(tiny_run["dir"]) / "best.ckpt"


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """One headless Chromium for the module (its console log kept, to check the page logs no errors)."""
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip("chromium and chromedriver are not installed (apt-get install chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    profile = tmp_path_factory.mktemp("chromium-profile")
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                f"--user-data-dir={profile}", "--window-size=1280,1400"):  # fmt: skip
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def _wait(driver: object, css: str, timeout: float = 60) -> list:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(lambda d: d.find_elements(By.CSS_SELECTOR, css))


def _mark(driver: object, record: int, wave: str) -> object:
    return _wait(driver, f'g.mark[data-record="{record}"][data-wave="{wave}"]')[0]


def pdf_text(data: bytes) -> str:
    """Text strings of a matplotlib PDF (Flate streams, strings in Tj/TJ), each stream read to its own end."""
    lines = []
    for m in re.finditer(rb"stream\r?\n(.*?)endstream", data, re.S):
        try:
            raw = zlib.decompressobj().decompress(m.group(1))
        except zlib.error:
            continue
        for block in re.findall(rb"BT(.*?)ET", raw, re.S):
            parts = re.findall(rb"\((.*?)(?<!\\)\)", block)
            lines.append(re.sub(rb"\\(.)", rb"\1", b"".join(parts)).decode("latin-1"))
    return "\n".join(lines)


def test_review_correct_reload_restart_export(checkpoint: Path, browser: object, tmp_path: Path) -> None:
    require_fixture(FAST_ABR)
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    import abrnet

    driver = browser
    data_dir = tmp_path / "data"
    with running_server(checkpoint, data_dir) as base:
        driver.get(base + "/")
        driver.find_element(By.ID, "user").clear()
        driver.find_element(By.ID, "user").send_keys(USER)
        driver.find_element(By.ID, "age").send_keys(AGE)
        driver.find_element(By.ID, "file").send_keys(str(FAST_ABR))
        driver.find_element(By.ID, "analyze").click()
        marks = _wait(driver, "g.mark")
        # the marks: every record of the one ear has I, III and V, with the waterfall, threshold and plots
        assert len(driver.find_elements(By.CSS_SELECTOR, "section.ear")) == 1
        assert len(marks) == 13 * 3 and len(driver.find_elements(By.CSS_SELECTOR, "path.trace")) == 13
        assert driver.find_elements(By.CSS_SELECTOR, "g.threshold line")
        assert len(driver.find_elements(By.CSS_SELECTOR, ".prob")) == 5
        assert driver.find_elements(By.CSS_SELECTOR, "svg.latint")
        assert "13 records analysed" in driver.find_element(By.ID, "status").text
        digest = driver.current_url.split("#file=")[1]

        # drag the wave V peak of the 60 dB record to the right
        view = get_json(f"{base}/api/files/{digest}")
        rec = next(r for r in view["records"] if r["intensity_db"] == 60)
        lat0 = rec["waves"]["V"]["latency_ms"]
        circle = _mark(driver, rec["index"], "V").find_element(By.TAG_NAME, "circle")
        ActionChains(driver).click_and_hold(circle).move_by_offset(DRAG_PX, 0).release().perform()
        moved = _wait(driver, f'g.mark.corrected[data-record="{rec["index"]}"][data-wave="V"]')[0]
        lat1 = float(moved.get_attribute("data-latency"))
        ms_per_px = (view["time_ms"][-1] - view["time_ms"][0]) / (640 - 56 - 70)  # the waterfall's x scale
        assert lat1 == pytest.approx(lat0 + DRAG_PX * ms_per_px, abs=0.05)
        assert len(driver.find_elements(By.CSS_SELECTOR, "g.mark.corrected")) == 1  # that peak and no other

        # drag the threshold line down (towards softer levels); its grip's centre (5 ms) lies between the marks
        grip = driver.find_element(By.CSS_SELECTOR, "g.threshold rect.grip")
        # in view with room below: the page's warnings above the waterfall grow with the file's (e.g. resampling)
        driver.execute_script("arguments[0].scrollIntoView({block: 'start'})", grip)
        ActionChains(driver).click_and_hold(grip).move_by_offset(0, 3 * 46).release().perform()  # three rows down
        thr_el = _wait(driver, "g.threshold.corrected")[0]
        thr1 = float(thr_el.get_attribute("data-value"))
        assert thr1 != view["ears"][0]["threshold_db"]
        assert "corrected by " + USER in driver.find_element(By.CSS_SELECTOR, ".threshold-text").text

        # reload: the corrections come back from the server
        driver.refresh()
        again = _wait(driver, f'g.mark.corrected[data-record="{rec["index"]}"][data-wave="V"]')[0]
        assert float(again.get_attribute("data-latency")) == pytest.approx(lat1)
        assert float(_wait(driver, "g.threshold.corrected")[0].get_attribute("data-value")) == pytest.approx(thr1)

    # restart the server on the same data folder: the corrections survive
    with running_server(checkpoint, data_dir) as base:
        driver.get(f"{base}/#file={digest}")
        again = _wait(driver, f'g.mark.corrected[data-record="{rec["index"]}"][data-wave="V"]')[0]
        assert float(again.get_attribute("data-latency")) == pytest.approx(lat1)
        # opening the same bytes again (a fresh page, an upload) brings them back too: keyed by content hash
        driver.get(base + "/")
        driver.find_element(By.ID, "age").send_keys(AGE)
        driver.find_element(By.ID, "file").send_keys(str(FAST_ABR))
        driver.find_element(By.ID, "analyze").click()
        again = _wait(driver, f'g.mark.corrected[data-record="{rec["index"]}"][data-wave="V"]')[0]
        assert float(again.get_attribute("data-latency")) == pytest.approx(lat1)
        assert float(_wait(driver, "g.threshold.corrected")[0].get_attribute("data-value")) == pytest.approx(thr1)

        # export: the CSV behind the page's link
        href = driver.find_element(By.ID, "export-csv").get_attribute("href")
        rows = list(csv.DictReader(io.StringIO(get_bytes(href).decode())))
        pdf_href = driver.find_element(By.CSS_SELECTOR, "a.export-pdf").get_attribute("href")
        pdf = get_bytes(pdf_href)

    assert len(rows) == 13
    # uncorrected numbers are the Python API's (the same call `abrnet predict --group-by patient_id,ear` makes)
    api = abrnet.load(checkpoint).predict(FAST_ABR, series=True, age_years=float(AGE))
    cols = api.columns()
    series_v = cols.get("V_latency_series_ms", cols["V_latency_ms"])
    series_i = cols.get("I_latency_series_ms", cols["I_latency_ms"])
    ear = api.series()
    placeholder = bool(ear["threshold_above_max_level"][0]) or ear["response"][0] == "no response"
    model_thr = "" if placeholder else pytest.approx(float(ear["threshold_db"][0]), rel=1e-5)  # none: no number
    for i, row in enumerate(rows):  # W_latency_ms: the record's reading, as results.csv; *_final_*: what the page marks
        assert float(row["intensity_db"]) == pytest.approx(float(cols["intensity_db"][i]))
        assert float(row["I_latency_ms"]) == pytest.approx(float(cols["I_latency_ms"][i]), rel=1e-5)
        assert float(row["I_latency_final_ms"]) == pytest.approx(float(series_i[i]), rel=1e-5)
        assert float(row["V_model_latency_ms"]) == pytest.approx(float(series_v[i]), rel=1e-5)
        assert (row["ear_threshold_model_db"] if placeholder else float(row["ear_threshold_model_db"])) == model_thr
        if i == rec["index"]:
            assert row["V_status"] == "corrected" and row["V_corrected_by"] == USER and row["V_corrected_at"]
            assert float(row["V_corrected_reading_age_years"]) == float(AGE)  # the age the page showed and sent
            assert float(row["V_latency_final_ms"]) == pytest.approx(lat1, abs=1e-4)
            assert float(row["III_V_final_ms"]) == pytest.approx(lat1 - float(row["III_latency_final_ms"]), abs=1e-4)
        else:
            assert row["V_status"] == "model" and row["V_corrected_by"] == ""
            assert float(row["V_latency_final_ms"]) == pytest.approx(float(series_v[i]), rel=1e-5)
        below = thr1 < float(row["ear_min_level_db"])  # the line may go one level step below the softest level
        assert row["ear_threshold_status"] == ("corrected_below_min_level" if below else "corrected")
        assert row["ear_threshold_corrected_by"] == USER and (row["ear_threshold_note"] != "") == below
        assert float(row["ear_threshold_corrected_reading_age_years"]) == float(AGE)
        assert float(row["ear_threshold_db"]) == pytest.approx(thr1)
    print(f"\nexported: V at {rows[rec['index']]['intensity_db']} dB {lat0:.3f} -> {lat1:.3f} ms (corrected by {USER}),"
          f" threshold {float(rows[0]['ear_threshold_model_db']):.1f} -> {thr1:.1f} dB")  # fmt: skip

    # the PDF: one page, the corrected values marked with who and when
    assert pdf.startswith(b"%PDF") and len(re.findall(rb"/Type\s*/Page[^s]", pdf)) == 1
    text = pdf_text(pdf)
    assert f"wave V: {lat1:.2f} ms*" in text and f"corrected by {USER} at " in text
    floor = float(rows[0]["ear_min_level_db"])  # a value below the softest level prints as "≤ that level"
    shown = f" {round(floor, 1):g}" if thr1 < floor else f"threshold {thr1:.1f}"  # "≤" is no latin-1 text here
    assert f"{shown} dB SPL* (corrected by {USER} at " in text  # the export's levels are dB SPL
