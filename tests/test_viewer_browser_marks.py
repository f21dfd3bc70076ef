"""The page's "none" marks and its stale-page answer in a real browser (hunt 12 #1, #4; headless Chromium as in
`tests/test_viewer_browser.py`, skipped where chromium / chromedriver are not installed).

A reviewer clicks a wave's mark and presses A (the wave is absent), presses the ear's "no response" button, and a
correction from the page after another reviewer changed the same mark shows the server's 409 sentence.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_viewer_browser import _mark, _wait
from tests.test_viewer_browser import browser as browser  # the module's headless Chromium fixture
from tests.test_viewer_browser_regressions import _open, _toy_csv
from tests.test_viewer_server import get_json, request_json, running_server


@pytest.fixture(scope="module")
def checkpoint(tiny_run: dict) -> Path:
    return Path(tiny_run["dir"]) / "best.ckpt"


@pytest.fixture(scope="module")
def server(checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_server(checkpoint, tmp_path_factory.mktemp("browser-marks") / "data") as base:
        yield base


def _status(driver: object, words: str) -> str:
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        WebDriverWait(driver, 60).until(lambda d: words in d.find_element(By.ID, "status").text)
    except TimeoutException:
        active = driver.execute_script(
            "const a = document.activeElement; return a.tagName + ' ' + a.getAttribute('class')"
        )
        raise AssertionError(f"status {driver.find_element(By.ID, 'status').text!r}, focus on {active}") from None
    return driver.find_element(By.ID, "status").text


def test_a_wave_absent_an_ear_no_response_and_a_stale_page_in_the_browser(browser, server, tmp_path) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    driver = browser
    _open(driver, server, _toy_csv(tmp_path / "marks.csv"), user="dr-a")
    record = int(_wait(driver, "section.ear g.mark.wave-V")[0].get_attribute("data-record"))
    circle = _mark(driver, record, "V").find_element(By.TAG_NAME, "circle")  # the mark's own shape, not its label
    ActionChains(driver).click(circle).send_keys("a").perform()
    assert "Marked absent." in _status(driver, "Marked absent.")
    gone = _mark(driver, record, "V")
    assert gone.get_attribute("data-status") == "corrected_absent" and "absent*" in gone.text
    sec = driver.find_elements(By.CSS_SELECTOR, "section.ear")[0]
    sec.find_element(By.CSS_SELECTOR, "button.no-response").click()
    _status(driver, "Marked no response.")
    sec = driver.find_elements(By.CSS_SELECTOR, "section.ear")[0]
    assert sec.find_element(By.CSS_SELECTOR, "p.threshold-text").text.startswith("No response up to 80.0 ")
    assert sec.find_element(By.CSS_SELECTOR, "p.call").text.startswith("no response* (the expert's mark)")
    assert sec.find_elements(By.CSS_SELECTOR, "text.scale-bar-label")[0].text.endswith(" µV")
    # bob, in another tab, returns the wave to the model; this page still shows it absent: its revert is refused
    digest = driver.execute_script("return current.file_hash")
    file_url = f"{server}/api/files/{digest}"
    ear = next(e for e in get_json(file_url)["ears"] if record in e["records"])
    body = {"target": "peak", "record": record, "wave": "V", "value": None, "user": "bob",
            "age_years": ear["age_years"], "expected_previous": "absent"}  # fmt: skip
    assert request_json(file_url + "/corrections", body)[0] == 200
    circle = _mark(driver, record, "V").find_element(By.TAG_NAME, "circle")
    ActionChains(driver).click(circle).send_keys("a").perform()  # A on a wave this page shows absent: a revert
    text = _status(driver, "changed by bob")
    assert "since your page loaded" in text and "Reloaded" in text, text
    # the page now shows bob's change: the wave is the model's again, in an ear marked "no response": no mark drawn
    _status(driver, "Reloaded")
    assert not driver.find_elements(By.CSS_SELECTOR, f'g.mark[data-record="{record}"][data-wave="V"]')
    assert get_json(file_url)["records"][record]["waves"]["V"]["status"] == "ear_no_response"
