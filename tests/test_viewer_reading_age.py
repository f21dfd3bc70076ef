"""A viewer correction is tied to the reading it was made on: the age the model read the ear at.

Before a file has corrections it may be analysed again at another age; a page opened before that still shows the old
reading, and its correction must be refused (409, nothing stored) rather than stored against numbers its author never
saw. A stored correction keeps its age (history, CSV export), and a store written before ages were kept still opens,
its corrections reading back with the age unknown.
"""

from __future__ import annotations

import csv
import io
import sqlite3
import urllib.parse
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from abrnet.data.csv_io import write_wide_csv
from abrnet.viewer.store import AgeConflictError, Correction, Store, content_hash
from tests.conftest import make_toy_cohort, require_fixture
from tests.test_viewer_server import (
    AGE,
    FAST_ABR,
    correct,
    get_bytes,
    get_json,
    post_file,
    request_json,
    running_server,
)

# the store's schema before corrections kept their age (what an existing clinic's viewer.sqlite holds)
OLD_SCHEMA = """
CREATE TABLE files (hash TEXT PRIMARY KEY, filename TEXT NOT NULL, size INTEGER NOT NULL, age_years REAL,
    uploaded_by TEXT, uploaded_at TEXT NOT NULL);
CREATE TABLE corrections (id INTEGER PRIMARY KEY AUTOINCREMENT, file_hash TEXT NOT NULL, target TEXT NOT NULL,
    record INTEGER NOT NULL, patient_id TEXT NOT NULL, ear TEXT NOT NULL, wave TEXT NOT NULL, value REAL,
    model_value REAL, user TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE INDEX corrections_by_file ON corrections (file_hash, id);
"""


def device_export(variant: int) -> bytes:
    """The FAST ABR export (no age in it: the form's age is what the model reads) with `variant` extra blank lines:
    the same recording under another content hash, so that no two tests share corrections."""
    require_fixture(FAST_ABR)
    return FAST_ABR.read_bytes() + b"\n" * variant


@pytest.fixture(scope="module")
def checkpoint(tiny_run: dict) -> Path:
    return Path(tiny_run["dir"]) / "best.ckpt"


@pytest.fixture(scope="module")
def server(checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_server(checkpoint, tmp_path_factory.mktemp("reading-age") / "data") as base:
        yield base


def test_a_correction_made_on_an_earlier_reading_is_refused(server: str) -> None:
    """dr-a opens the file at age 5; dr-b analyses it again at age 1 (allowed: no corrections yet); dr-a's
    corrections, sent with the age 5 their page shows, are refused with 409 and nothing is stored."""
    data = device_export(1)
    status, first = post_file(server, "stale.tsv", data, {"age_years": "5", "user": "dr-a"})
    assert status == 200 and first["ears"][0]["age_years"] == 5.0, first
    status, second = post_file(server, "stale.tsv", data, {"age_years": "1", "user": "dr-b"})
    assert status == 200 and second["ears"][0]["age_years"] == 1.0, second
    url = f"{server}/api/files/{first['file_hash']}"
    ear = first["ears"][0]
    rec = first["records"][ear["records"][len(ear["records"]) // 2]]
    level = float(rec["intensity_db"])
    stale: list[dict[str, Any]] = [
        {"target": "threshold", "patient_id": ear["patient_id"], "ear": ear["ear"], "value": level, "age_years": 5.0},
        {"target": "peak", "record": rec["index"], "wave": "V", "value": rec["waves"]["V"]["latency_ms"],
         "age_years": 5.0},
    ]  # fmt: skip
    for body in stale:
        code, res, _ = request_json(url + "/corrections", {**body, "user": "dr-a"})
        detail = res["detail"]
        assert code == 409 and "\n" not in detail, (body, res)
        assert "now read at age 1 years" in detail and "showed age 5 years" in detail and "reload" in detail, detail
    code, res, _ = request_json(url + "/corrections", {**stale[0], "age_years": None})
    assert code == 409, res  # null is "no single age": not this ear's reading either
    # a correction that does not say which reading it was made on is refused too (a page from before sends no age)
    no_age = {k: v for k, v in stale[0].items() if k != "age_years"}
    code, res, _ = request_json(url + "/corrections", no_age)
    assert code == 422 and isinstance(res["detail"], str) and "age_years" in res["detail"], res
    view = get_json(url)
    assert view["corrections"] == [] and view["ears"][0]["status"] == "model"
    assert all(w["status"] == "model" for r in view["records"] for w in r["waves"].values())
    # the same correction made on the current reading is kept, with its age
    assert correct(url, **{**stale[0], "age_years": 1.0}) == 200
    assert [c["age_years"] for c in get_json(url)["corrections"]] == [1.0]


def test_a_correction_keeps_its_age_in_the_history_and_the_export(server: str) -> None:
    data = device_export(2)
    status, view = post_file(server, "kept.tsv", data, {"age_years": "1.5", "user": "dr-a"})
    assert status == 200, view
    url = f"{server}/api/files/{view['file_hash']}"
    ear = view["ears"][0]
    rec = next(view["records"][i] for i in ear["records"] if view["records"][i]["waves"]["V"]["latency_ms"])
    v = rec["waves"]["V"]["latency_ms"]
    body = {"target": "peak", "record": rec["index"], "wave": "V", "value": round(v + 0.1, 3), "age_years": 1.5}
    code, res, _ = request_json(url + "/corrections", body)
    assert code == 200 and res["records"][rec["index"]]["waves"]["V"]["corrected_reading_age_years"] == 1.5, res
    level = float(rec["intensity_db"])
    assert correct(url, target="threshold", patient_id=ear["patient_id"], ear=ear["ear"], value=level,
                   age_years=1.5, user="dr-b") == 200  # fmt: skip
    history = get_json(url)["corrections"]
    assert [(c["target"], c["user"], c["age_years"]) for c in history] == [
        ("peak", "anonymous", 1.5),
        ("threshold", "dr-b", 1.5),
    ]
    rows = list(csv.DictReader(io.StringIO(get_bytes(url + "/export.csv").decode())))
    assert {r["ear_threshold_corrected_reading_age_years"] for r in rows} == {"1.5"}
    ages = [r["V_corrected_reading_age_years"] for r in rows]
    assert ages[rec["index"]] == "1.5" and ages.count("") == len(rows) - 1
    assert rows[rec["index"]]["V_corrected_by"] == "anonymous"


def test_reupload_at_another_age_never_changes_the_age_behind_corrections(server: str) -> None:
    """Before any correction a file may be analysed again at another age; once corrected, a re-upload at another
    age gets 409 naming the first age and the correctors, and the file keeps its age, corrections and exports."""
    require_fixture(FAST_ABR)
    from tests.test_viewer_browser import pdf_text

    good = FAST_ABR.read_bytes()
    status, body = post_file(server, FAST_ABR.name, good, {"age_years": "5"})
    assert status == 200 and body["records"][0]["age_years"] == 5.0, body
    status, body = post_file(server, FAST_ABR.name, good, {"age_years": AGE})  # no corrections yet: allowed
    assert status == 200 and body["records"][0]["age_years"] == float(AGE), body
    url = f"{server}/api/files/{body['file_hash']}"
    pid, ear = body["ears"][0]["patient_id"], body["ears"][0]["ear"]
    assert correct(url, target="threshold", patient_id=pid, ear=ear, value=40.0, user="dr-a") == 200
    status, res = post_file(server, FAST_ABR.name, good, {"age_years": "5", "user": "dr-b"})
    assert status == 409, res
    assert "\n" not in res["detail"] and "age 1 years" in res["detail"] and "dr-a" in res["detail"], res
    view = get_json(url)
    assert view["records"][0]["age_years"] == float(AGE) and view["ears"][0]["threshold_db"] == 40.0
    status, body = post_file(server, FAST_ABR.name, good, {"age_years": AGE})  # the same age: corrections back
    assert status == 200 and body["ears"][0]["status"] == "corrected"
    rows = list(csv.DictReader(io.StringIO(get_bytes(url + "/export.csv").decode())))
    assert {r["age_years"] for r in rows} == {"1"}
    pdf = get_bytes(f"{url}/report/{urllib.parse.quote(pid, safe='')}.pdf")
    assert "model ran at age 1 years" in pdf_text(pdf)


def test_a_store_written_before_ages_were_kept_opens_with_its_corrections(checkpoint: Path, tmp_path: Path) -> None:
    """A viewer.sqlite of the previous schema opens (the column is added, nothing rewritten): its corrections read
    back with age unknown (null, an empty export cell), and new ones are stored with their age beside them."""
    cohort = make_toy_cohort(n_patients=1, levels=(80, 60, 40, 20), seed=7)
    cohort.patient_id = np.full(cohort.n_records, "P-old")
    cohort.static[:, 0] = 2.5  # the file's own age (a wide CSV carries one per record)
    data = write_wide_csv(cohort, tmp_path / "old.csv").read_bytes()
    digest = content_hash(data)
    root = tmp_path / "data"
    (root / "uploads" / digest).mkdir(parents=True)
    (root / "uploads" / digest / "old.csv").write_bytes(data)
    with sqlite3.connect(root / "viewer.sqlite") as con:
        con.executescript(OLD_SCHEMA)
        con.execute("INSERT INTO files VALUES (?, 'old.csv', ?, NULL, 'dr-old', '2024-01-01T00:00:00Z')",
                    (digest, len(data)))  # fmt: skip
        con.execute("INSERT INTO corrections (file_hash, target, record, patient_id, ear, wave, value, model_value, "
                    "user, created_at) VALUES (?, 'threshold', -1, 'P-old', 'L', '', 40.0, 35.0, 'dr-old', "
                    "'2024-01-02T00:00:00Z')", (digest,))  # fmt: skip
    con.close()
    with running_server(checkpoint, root) as base:
        url = f"{base}/api/files/{digest}"
        view = get_json(url)
        assert [(c["user"], c["value"], c["age_years"]) for c in view["corrections"]] == [("dr-old", 40.0, None)]
        left = next(e for e in view["ears"] if e["ear"] == "L")
        assert left["threshold_db"] == 40.0 and left["corrected_by"] == "dr-old"
        assert left["corrected_reading_age_years"] is None
        rows = list(csv.DictReader(io.StringIO(get_bytes(url + "/export.csv").decode())))
        assert {r["ear_threshold_corrected_reading_age_years"] for r in rows if r["ear"] == "L"} == {""}
        assert {r["ear_threshold_db"] for r in rows if r["ear"] == "L"} == {"40"}
        assert correct(url, target="threshold", patient_id="P-old", ear="R", value=50.0, user="dr-new") == 200
        assert [(c["user"], c["age_years"]) for c in get_json(url)["corrections"]] == [
            ("dr-old", None),
            ("dr-new", 2.5),
        ]


def test_the_store_refuses_a_correction_once_the_file_is_registered_at_another_age(tmp_path: Path) -> None:
    """The app checks the age against the reading it analysed; a re-upload at another age may be registered between
    that check and the insert, so the store checks again under its lock (atomically with `register`)."""
    store = Store(tmp_path / "data")
    with store.upload(b"recording bytes", "r.tsv") as (digest, path):
        store.register(digest, path, age_years=5.0, user="dr-a")
    store.register(digest, path, age_years=1.0, user="dr-b")  # no corrections yet: the new age replaces the old
    corr = Correction("threshold", -1, "P1", "L", "", 40.0, 35.0, "dr-a", "2025-01-01T00:00:00Z", 5.0)
    with pytest.raises(AgeConflictError, match=r"analysed again \(age 1 years, not age 5 years\).*reload"):
        store.add_correction(digest, corr, file_age=5.0)
    assert store.history(digest) == []
    store.add_correction(digest, replace(corr, age_years=1.0), file_age=1.0)
    assert [c.age_years for c in store.history(digest)] == [1.0]


def test_report_says_no_response_instead_of_the_placeholder_threshold() -> None:
    """A "no response" ear's threshold is a number above the tested levels; the report must not print it as a
    reading ("threshold 65.0 ± 18.0 dB"), but a corrected one is the expert's reading and is printed."""
    from abrnet.viewer.report import _ear_lines

    ear = {
        "ear": "R", "threshold_db": 65.0, "threshold_sd_db": 18.0, "interval_90_db": [40.0, 65.0],
        "status": "model", "response": "no response", "p_no_response": 0.8, "class_prob": {"TOTAL": 0.7},
        "class_pred": "TOTAL", "model_threshold_db": 65.0, "corrected_by": None, "corrected_at": None,
        "level_unit": "dB nHL",
    }  # fmt: skip
    head = _ear_lines(ear, 60.0)[0]
    assert head == "Ear R: no response up to 60.0 dB nHL: threshold above the tested levels"
    assert "65.0" not in head
    responding = _ear_lines({**ear, "response": "response"}, 60.0)[0]
    assert responding.startswith("Ear R: threshold 65.0 ± 18.0 dB nHL")
    corrected = {**ear, "status": "corrected", "threshold_db": 55.0, "corrected_by": "ann", "corrected_at": "t"}
    assert _ear_lines(corrected, 60.0)[0].startswith("Ear R: threshold 55.0 dB nHL*")


def test_pdf_text_reads_a_stream_whose_data_ends_in_a_carriage_return() -> None:
    """The tests' PDF reader stripped a CR before "endstream" as a line end, which cut a stream whose compressed data
    ends in 0x0D (about 1 report in 256) and made a report's text read as empty: a flaky export assertion."""
    import zlib

    from tests.test_viewer_browser import pdf_text

    data = next(c for k in range(10_000) if (c := zlib.compress(f"BT (model ran {k}) Tj ET".encode())).endswith(b"\r"))
    text = pdf_text(b"1 0 obj\n<< /Length 9 >>\nstream\n" + data + b"\nendstream\nendobj\n")
    assert text.startswith("model ran ")
