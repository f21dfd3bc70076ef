"""The page sends the age it shows with each correction, and a page left showing an earlier reading cannot save one.

dr-a opens a device export at age 5; dr-b analyses the same file again at age 1 (allowed: nothing was corrected yet).
dr-a's next correction, made on the age-5 reading still on screen, is refused; the page says so, shows the current
(age 1) reading instead, and a correction made on that one is saved with its age. Headless Chromium as in
`tests/test_viewer_browser.py` (skips where it is not installed).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_viewer_browser import _wait
from tests.test_viewer_browser import browser as browser  # the module's headless Chromium fixture
from tests.test_viewer_server import FAST_ABR, get_json, post_file, running_server


@pytest.fixture(scope="module")
def checkpoint(tiny_run: dict) -> Path:
    return Path(tiny_run["dir"]) / "best.ckpt"


@pytest.fixture(scope="module")
def server(checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_server(checkpoint, tmp_path_factory.mktemp("browser-age") / "data") as base:
        yield base


def _upload(driver: object, base: str, path: Path, age: str) -> None:
    """A fresh page: reviewer dr-a, `age` typed in the Age field, `path` analysed (waits for the marks)."""
    from selenium.webdriver.common.by import By

    driver.get(base + "/")
    driver.find_element(By.ID, "user").clear()
    driver.find_element(By.ID, "user").send_keys("dr-a")
    driver.find_element(By.ID, "age").send_keys(age)
    driver.find_element(By.ID, "file").send_keys(str(path))
    driver.find_element(By.ID, "analyze").click()
    _wait(driver, "g.mark", timeout=20)


def _device_file(tmp_path: Path, variant: int) -> Path:
    if not FAST_ABR.exists():
        pytest.skip(f"{FAST_ABR} not available (../shared fixtures)")
    path = tmp_path / f"device{variant}.tsv"
    path.write_bytes(FAST_ABR.read_bytes() + b"\n" * variant)  # the same recording under bytes of its own
    return path


def test_a_page_showing_an_earlier_reading_cannot_save_a_correction(browser, server, tmp_path) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    path, driver, base = _device_file(tmp_path, 3), browser, server
    _upload(driver, base, path, "5")
    assert driver.find_element(By.CSS_SELECTOR, "p.age").text == "Read by the model at age 5 years"
    url = f"{base}/api/files/{driver.current_url.split('#file=')[1]}"
    status, _ = post_file(base, path.name, path.read_bytes(), {"age_years": "1", "user": "dr-b"})
    assert status == 200

    def press_right_on_first_v() -> None:
        driver.execute_script("arguments[0].focus()", _wait(driver, 'g.mark[data-wave="V"]')[0])
        ActionChains(driver).send_keys(Keys.ARROW_RIGHT).perform()

    press_right_on_first_v()
    text = _wait(driver, "#status.error")[0].text
    assert "now read at age 1 years" in text and "showed age 5 years" in text and "Reloaded" in text, text
    assert driver.find_element(By.CSS_SELECTOR, "p.age").text == "Read by the model at age 1 years"
    assert driver.find_elements(By.CSS_SELECTOR, "g.mark.corrected") == []
    assert get_json(url)["corrections"] == []
    press_right_on_first_v()  # on the reading the page shows now: saved, with that age
    _wait(driver, "g.mark.corrected")
    assert driver.find_element(By.ID, "status").text == "Correction saved."
    assert [(c["user"], c["age_years"]) for c in get_json(url)["corrections"]] == [("dr-a", 1.0)]


def test_the_age_field_takes_a_newborns_age(browser, server, tmp_path) -> None:
    """Newborns are tested days after birth: 0.02 years (a week) is a valid age. The field's step of 0.1 made the
    browser refuse it (the form never submitted, nothing was analysed)."""
    from selenium.webdriver.common.by import By

    _upload(browser, server, _device_file(tmp_path, 4), "0.02")
    assert browser.find_element(By.CSS_SELECTOR, "p.age").text == "Read by the model at age 0.02 years"
