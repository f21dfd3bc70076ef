"""The viewer reads files that need a reading option (rate, level, ear, FMP), and keeps them as part of the reading.

`abrnet predict` takes ``--rate``, ``--level``, ``--ear`` and ``--fmp`` for what a file does not record; the viewer's
form had only the age, so a psi average export (no repetition rate) was refused with "pass stimulus_rate_hz=... (...
CLI --rate)", advice its user could not follow. The form now has those fields; a missing value names the field to
fill in, a bad one is a one-line 422 naming it, and the options are stored with the upload like its age: re-opening
the file reads it with them, and once it has corrections a re-upload or a correction made on a reading with other
options is refused (409) instead of silently moving the corrections to another reading.

The files are time-column CSVs written here ("time (ms)", one column per level): the format names no rate and, in
column names without a level, no level.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from abrnet.viewer.store import AgeConflictError, Correction, Store, content_hash
from tests.test_viewer_browser import browser as browser  # the headless Chromium fixture (skips without one)
from tests.test_viewer_browser import pdf_text
from tests.test_viewer_levels import _view
from tests.test_viewer_placeholder import _render

RATE = {"stimulus_rate_hz": "21"}


def time_columns(
    variant: int, *, levels: tuple[str, ...] = ("80 dB SPL", "60 dB SPL", "40 dB SPL", "20 dB SPL")
) -> bytes:
    """A time-column CSV: 10 ms at 20 kHz, one wave-V-like bump per column; `variant` changes the bytes (and so the
    content hash) without changing the format, so that no two tests share a stored file."""
    t = np.arange(200) / 20.0
    lines = ["time (ms)," + ",".join(levels)]
    for tt in t:
        bumps = [0.5 * np.exp(-0.5 * ((tt - 5.6 - 0.02 * k) / 0.3) ** 2) + 1e-4 * variant for k in range(len(levels))]
        lines.append(f"{tt:.3f}," + ",".join(f"{v:.5f}" for v in bumps))
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture(scope="module")
def client(tiny_run: dict, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    import abrnet
    from abrnet.viewer.app import create_app

    model = abrnet.load(Path(tiny_run["dir"]) / "best.ckpt")
    with TestClient(create_app(model, tmp_path_factory.mktemp("reading-options") / "data")) as c:
        yield c


def analyze(client: Any, data: bytes, fields: dict[str, str], name: str = "rec.csv") -> tuple[int, Any]:
    res = client.post("/api/analyze", files={"file": (name, data)}, data={"age_years": "0.2", **fields})
    return res.status_code, res.json()


def threshold_body(view: dict[str, Any], value: float, **extra: Any) -> dict[str, Any]:
    ear = view["ears"][0]
    return {"target": "threshold", "patient_id": ear["patient_id"], "ear": ear["ear"], "value": value,
            "age_years": ear["age_years"], **extra}  # fmt: skip


def test_a_file_without_a_rate_or_level_is_read_with_the_forms_fields(client: Any) -> None:
    status, res = analyze(client, time_columns(1), {})
    detail = res["detail"]
    assert status == 400 and "\n" not in detail, res
    assert "the form's Rate (/s) field" in detail and "CLI" not in detail and "stimulus_rate_hz=" not in detail, detail
    status, view = analyze(client, time_columns(1), {**RATE, "ear": "left", "fmp": "1.5"})
    assert status == 200, view
    assert view["reading_options"] == {"ear": "L", "fmp": 1.5, "stimulus_rate_hz": 21.0}
    assert {(r["ear"], r["stimulus_rate_hz"], r["fmp"], r["level_unit"]) for r in view["records"]} == {
        ("L", 21.0, 1.5, "dB SPL")
    }
    form_flags = ("--rate", "--level)", "--ear", "--fmp", "--age", "CLI")  # the domain note's --level-unit stays
    assert not [w for w in view["warnings"] if any(f in w for f in form_flags)], view["warnings"]
    # without an ear the file is read as R, and the warning points at the form's field, not at --ear
    status, view = analyze(client, time_columns(2), RATE)
    assert status == 200 and {r["ear"] for r in view["records"]} == {"R"}, view
    assert any("(enter it in the form's Ear field)" in w for w in view["warnings"]), view["warnings"]
    # a column without a level needs the Level field
    unlevelled = time_columns(3, levels=("avg",))
    status, res = analyze(client, unlevelled, RATE)
    assert status == 400 and "the form's Level (dB) field" in res["detail"] and "CLI" not in res["detail"], res
    status, view = analyze(client, unlevelled, {**RATE, "level_db": "60"})
    assert status == 200 and [r["intensity_db"] for r in view["records"]] == [60.0], view
    assert view["reading_options"] == {"level_db": 60.0, "stimulus_rate_hz": 21.0}


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"stimulus_rate_hz": "0"}, "form: field 'Rate (/s)': must be a finite number from 0.1 to 1000, got 0"),
        ({"ear": "X"}, "form: field 'Ear': must be L or R"),
        ({"level_db": "500"}, "form: field 'Level (dB)': must be a finite number from -40 to 140, got 500"),
        ({"fmp": "nan"}, "form: field 'FMP': must be a finite number"),
        ({"stimulus_rate_hz": "fast"}, "form: field 'Rate (/s)': Input should be a valid number"),
    ],
)
def test_a_bad_reading_option_is_one_line_naming_its_field(client: Any, fields: dict[str, str], words: str) -> None:
    files = client.get("/api/health").json()["files"]
    status, res = analyze(client, time_columns(4), fields)
    assert status == 422 and res["detail"].startswith(words) and "\n" not in res["detail"], res
    assert client.get("/api/health").json()["files"] == files  # nothing registered


def test_a_file_keeps_the_options_its_corrections_were_made_with(client: Any) -> None:
    data = time_columns(5)
    status, view = analyze(client, data, {**RATE, "user": "dr-a"})
    assert status == 200, view
    url = f"/api/files/{view['file_hash']}"
    res = client.post(url + "/corrections", json=threshold_body(view, 500.0, reading_options=view["reading_options"]))
    assert res.status_code == 422 and "dB SPL" in res.json()["detail"] and "nHL" not in res.json()["detail"], res.text
    res = client.post(url + "/corrections", json=threshold_body(view, 40.0, user="dr-a",
                                                                reading_options={"stimulus_rate_hz": 21}))  # fmt: skip
    assert res.status_code == 200, res.text
    status, res = analyze(client, data, {"stimulus_rate_hz": "40", "user": "dr-b"})
    detail = res["detail"]
    assert status == 409 and "\n" not in detail and "dr-a" in detail and "rate 21 /s" in detail, res
    reopened = client.get(url).json()  # the stored reading: the file's options, its corrections
    assert reopened["reading_options"] == {"stimulus_rate_hz": 21.0}
    assert {r["stimulus_rate_hz"] for r in reopened["records"]} == {21.0}
    assert reopened["ears"][0]["status"] == "corrected" and reopened["ears"][0]["threshold_db"] == 40.0
    status, again = analyze(client, data, RATE)
    assert status == 200 and again["ears"][0]["status"] == "corrected", again
    pdf = client.get(f"{url}/report/{view['ears'][0]['patient_id']}.pdf").content
    text = pdf_text(pdf)
    assert "with the form's rate 21 /s" in text and "threshold 40.0 dB SPL*" in text and "nHL" not in text


def test_a_correction_made_on_a_reading_with_other_options_is_refused(client: Any) -> None:
    """dr-a opens the file at rate 21; dr-b analyses it again at rate 40 (allowed: no corrections yet); dr-a's
    correction, sent with the options their page shows, is refused with 409, one that names none with 422."""
    data = time_columns(6)
    status, first = analyze(client, data, RATE)
    assert status == 200, first
    status, second = analyze(client, data, {"stimulus_rate_hz": "40"})
    assert status == 200 and second["reading_options"] == {"stimulus_rate_hz": 40.0}, second
    url = f"/api/files/{first['file_hash']}/corrections"
    res = client.post(url, json=threshold_body(first, 40.0, reading_options=first["reading_options"]))
    detail = res.json()["detail"]
    assert res.status_code == 409 and "now read with rate 40 /s" in detail and "showed rate 21 /s" in detail, detail
    res = client.post(url, json=threshold_body(first, 40.0))
    assert res.status_code == 422 and "reading_options" in res.json()["detail"], res.text
    assert client.get(f"/api/files/{first['file_hash']}").json()["corrections"] == []
    res = client.post(url, json=threshold_body(second, 40.0, reading_options=second["reading_options"]))
    assert res.status_code == 200 and res.json()["ears"][0]["status"] == "corrected", res.text


def test_the_store_keeps_reading_options_and_opens_a_store_without_them(tmp_path: Path) -> None:
    """A viewer.sqlite from before options were kept gains the column on open (its files read back with none); a file
    with corrections refuses other options, and a correction is stored only against the options registered now."""
    root = tmp_path / "data"
    root.mkdir()
    data = b"recording bytes"
    digest = content_hash(data)
    (root / "uploads" / digest).mkdir(parents=True)
    (root / "uploads" / digest / "r.csv").write_bytes(data)
    with sqlite3.connect(root / "viewer.sqlite") as con:
        con.executescript("""CREATE TABLE files (hash TEXT PRIMARY KEY, filename TEXT NOT NULL, size INTEGER NOT NULL,
            age_years REAL, uploaded_by TEXT, uploaded_at TEXT NOT NULL);""")
        con.execute("INSERT INTO files VALUES (?, 'r.csv', 15, 1.0, 'dr-old', '2024-01-01T00:00:00Z')", (digest,))
    con.close()
    store = Store(root)
    info = store.file_info(digest)
    assert info is not None and (info.age_years, info.options) == (1.0, {})
    path = info.path
    store.register(digest, path, age_years=1.0, user="dr-a", options={"stimulus_rate_hz": 21.0})
    corr = Correction("threshold", -1, "P1", "L", "", 40.0, 35.0, "dr-a", "2025-01-01T00:00:00Z", 1.0)
    with pytest.raises(AgeConflictError, match=r"analysed again \(age 1 years with rate 21 /s, not age 1 years\)"):
        store.add_correction(digest, corr, file_age=1.0)
    store.add_correction(digest, corr, file_age=1.0, file_options={"stimulus_rate_hz": 21.0})
    with pytest.raises(
        AgeConflictError, match=r"by dr-a made at age 1 years with rate 21 /s .*\(not age 1 years with rate 40 /s\)"
    ):
        store.register(digest, path, age_years=1.0, user="dr-b", options={"stimulus_rate_hz": 40.0})
    store.register(digest, path, age_years=1.0, user="dr-b", options={"stimulus_rate_hz": 21.0})
    assert store.file_info(digest) == (path, 1.0, {"stimulus_rate_hz": 21.0})


def test_page_sends_the_forms_reading_options_and_a_corrections_options(browser: Any, tmp_path: Path) -> None:
    """The upload sends each filled reading field (and no empty one); the page names the options a file was read with
    and sends them back with a correction. The static page from a file, with the server's answers stubbed."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    view = {**_view(), "reading_options": {"stimulus_rate_hz": 21.0, "ear": "L"}}
    _render(browser, tmp_path, view)
    stub = """window.sent = null; window.fetch = async (url, opts) => {
        window.sent = { url, body: opts && opts.body instanceof FormData
          ? [...opts.body.entries()].filter(([k]) => k !== "file") : JSON.parse(opts.body) };
        return { ok: false, status: 400, json: async () => ({ detail: "refused in the test" }) }; };"""
    browser.execute_script(stub)
    info = browser.find_element(By.ID, "file-info").text
    assert info.endswith("; read with the form's Rate (/s) 21, Ear L"), info
    line = browser.find_element(By.CSS_SELECTOR, 'section.ear[data-ear-key="P000/R"] g.threshold')
    line.send_keys(Keys.ARROW_UP)
    sent = WebDriverWait(browser, 10).until(lambda d: d.execute_script("return window.sent"))
    assert sent["url"].endswith("/corrections") and sent["body"]["reading_options"] == view["reading_options"]

    recording = tmp_path / "rec.csv"
    recording.write_bytes(time_columns(7))
    browser.execute_script(stub)
    browser.find_element(By.ID, "file").send_keys(str(recording))
    for field, value in (("age", "0.2"), ("rate", "21"), ("fmp", "1.5")):
        browser.find_element(By.ID, field).send_keys(value)
    browser.execute_script('document.querySelector("#ear").value = "R"')
    browser.find_element(By.ID, "analyze").click()
    sent = WebDriverWait(browser, 10).until(lambda d: d.execute_script("return window.sent"))
    assert sent["url"] == "/api/analyze"
    assert sent["body"] == [["age_years", "0.2"], ["stimulus_rate_hz", "21"], ["ear", "R"], ["fmp", "1.5"],
                            ["user", ""]]  # fmt: skip
    WebDriverWait(browser, 10).until(lambda d: d.find_element(By.ID, "status").text == "refused in the test")
    assert json.dumps(sent).count("level_db") == 0  # the empty Level field is not sent
