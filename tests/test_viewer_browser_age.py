"""The page sends the age it shows with each correction, and a page left showing an earlier reading cannot save one.

dr-a opens a device export at age 5; dr-b analyses the same file again at age 1 (allowed: nothing was corrected yet).
dr-a's next correction, made on the age-5 reading still on screen, is refused; the page says so, shows the current
(age 1) reading instead, and a correction made on that one is saved with its age. The page's correction history
shows each correction's reading (age, model), newest first, with reviewers' names as text, and says where a value was
corrected against another model. Headless Chromium as in `tests/test_viewer_browser.py` (skips where it is not
installed).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require_fixture
from tests.test_viewer_browser import _wait
from tests.test_viewer_browser import browser as browser  # the module's headless Chromium fixture
from tests.test_viewer_server import FAST_ABR, correct, get_json, post_file, running_server


@pytest.fixture(scope="module")
def checkpoint(tiny_run: dict) -> Path:
    return Path(tiny_run["dir"]) / "best.ckpt"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("browser-age") / "data"


@pytest.fixture(scope="module")
def server(checkpoint: Path, data_dir: Path) -> Iterator[str]:
    with running_server(checkpoint, data_dir) as base:
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
    require_fixture(FAST_ABR)
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


def test_history_lists_corrections_newest_first_as_text_and_flags_another_model(browser, server, data_dir, tmp_path):
    """An old threshold correction made against another model (written to the store as a server running that model
    would) and a newer peak correction by a reviewer whose name is markup: the collapsible history lists them newest
    first as text, names each one's model, and the page says the threshold was corrected against another model. A
    correction from the keyboard then lands on top, the list staying open through the redraw."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    from abrnet.viewer.store import Correction, Store

    driver, xss, bold = browser, "<img src=x onerror=window.__h=1>", "<b>dr-b</b>"
    _upload(driver, server, _device_file(tmp_path, 5), "2")
    digest = driver.current_url.split("#file=")[1]
    view = get_json(f"{server}/api/files/{digest}")
    ear = view["ears"][0]
    old = Correction("threshold", -1, ear["patient_id"], ear["ear"], "", 40.0, ear["model_threshold_db"], xss,
                     "2024-01-01T00:00:00Z", 2.0, "0" * 64, "/old/runs/best.ckpt")  # fmt: skip
    Store(data_dir).add_correction(digest, old, file_age=2.0)
    rec = next(view["records"][i] for i in ear["records"] if view["records"][i]["waves"]["V"]["latency_ms"])
    v = round(rec["waves"]["V"]["latency_ms"] + 0.05, 3)
    url = f"{server}/api/files/{digest}"
    assert correct(url, target="peak", record=rec["index"], wave="V", value=v, user=bold) == 200
    driver.refresh()
    summary = _wait(driver, "#history details summary")[0]
    assert summary.text == "Correction history (2, newest first)"
    summary.click()
    items = [li.text for li in driver.find_elements(By.CSS_SELECTOR, "#history li.history-entry")]
    assert len(items) == 2 and f" · {bold} · " in items[0] and "wave V" in items[0], items
    assert f" · {xss} · " in items[1] and "threshold: " in items[1] and "→ 40.0 dB" in items[1], items
    assert "read at age 2 years" in items[1] and "model best.ckpt (sha256 000000000000)" in items[1], items
    assert "corrected against model best.ckpt (sha256 000000000000), which read" in items[1], items
    assert driver.find_elements(By.CSS_SELECTOR, "#history li.other-model") and "other-model" not in (
        driver.find_elements(By.CSS_SELECTOR, "#history li")[0].get_attribute("class"))  # fmt: skip
    assert not driver.find_elements(By.CSS_SELECTOR, "img, #history b")
    assert driver.execute_script("return window.__h") is None
    assert "against another model" in driver.find_element(By.ID, "other-model-note").text
    note = driver.find_element(By.CSS_SELECTOR, "p.threshold-model-note").text
    assert "corrected against model best.ckpt (sha256 000000000000)" in note and "now read by model" in note, note

    driver.execute_script("arguments[0].focus()", _wait(driver, "g.threshold")[0])
    ActionChains(driver).send_keys(Keys.ARROW_UP).perform()  # 40 -> 41 dB, on this model's reading
    _wait(driver, "#history li.history-entry:nth-child(3)")
    assert driver.find_element(By.CSS_SELECTOR, "#history details").get_attribute("open") is not None
    top = driver.find_elements(By.CSS_SELECTOR, "#history li.history-entry")[0].text
    assert " · dr-a · " in top and "40.0 dB → 41.0 dB" in top, top
    assert not driver.find_elements(By.ID, "other-model-note")  # the value in force is this model's now
