"""The same bytes uploaded again under another file name keep every correction made on them (hunt 43 #2).

A device export's patient id is its file name, and an ear's threshold correction (or "no response" mark) names the
patient. The store re-pointed a file's hash to its latest upload's name, so after Bob uploaded Alice's corrected file
as ``bob-copy.csv`` its ear became patient "bob-copy" and her threshold and mark left the page, the CSV and the PDF
(only the history kept them); the first uploader was overwritten too. A hash now keeps its first name and uploader
and is read as that file whatever name the bytes come under; the reply to the re-upload says so. A store written by
the earlier viewer after such a re-upload lists the correction it can no longer place in the file's warnings.

The files are the time-column CSVs of `tests.test_viewer_reading_options` (a device format: no patient id inside).
"""

from __future__ import annotations

import csv
import io
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.test_viewer_reading_options import RATE, analyze, time_columns

FIRST, COPY = "alice-rec.csv", "bob-copy.csv"


@pytest.fixture(scope="module")
def served(tiny_run: dict, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Path]]:
    """(a test client of the viewer, its data folder)."""
    from fastapi.testclient import TestClient

    import abrnet
    from abrnet.viewer.app import create_app

    data = tmp_path_factory.mktemp("reupload") / "data"
    with TestClient(create_app(abrnet.load(Path(tiny_run["dir"]) / "best.ckpt"), data)) as c:
        yield c, data


def correct_ear(client: Any, view: dict[str, Any], user: str, **body: Any) -> Any:
    """POST a threshold correction of the file's one ear as its page would (age, options, what it showed)."""
    ear = view["ears"][0]
    shown = ear["threshold_db"] if ear["status"] == "corrected" else None
    return client.post(
        f"/api/files/{view['file_hash']}/corrections",
        json={"target": "threshold", "patient_id": ear["patient_id"], "ear": ear["ear"], "user": user,
              "age_years": ear["age_years"], "reading_options": view["reading_options"], "expected_previous": shown,
              **body},
    )  # fmt: skip


def ear_rows(client: Any, digest: str) -> list[dict[str, str]]:
    res = client.get(f"/api/files/{digest}/export.csv")
    assert res.status_code == 200, res.text
    return list(csv.DictReader(io.StringIO(res.text)))


def test_corrections_come_back_when_the_same_bytes_are_uploaded_under_another_name(served: Any) -> None:
    client, data_dir = served
    threshold_file, silent_file = time_columns(101), time_columns(102)
    digests = {}
    for data, body in ((threshold_file, {"value": 40.0}), (silent_file, {"value": None, "no_response": True})):
        status, view = analyze(client, data, {**RATE, "user": "alice"}, name=FIRST)
        assert status == 200 and view["ears"][0]["patient_id"] == "alice-rec", view
        assert correct_ear(client, view, "alice", **body).status_code == 200
        digests[data] = view["file_hash"]

    for data in (threshold_file, silent_file):  # Bob: the same bytes under his name
        status, again = analyze(client, data, {**RATE, "user": "bob"}, name=COPY)
        assert status == 200 and again["filename"] == COPY, again  # the reply names his upload ...
        assert {e["patient_id"] for e in again["ears"]} == {"alice-rec"}  # ... read as the file corrected
        note = f"{COPY}: the same bytes as {FIRST}, uploaded by alice at "
        assert any(w.startswith(note) for w in again["warnings"]), again["warnings"]
        assert client.get(f"/api/files/{again['file_hash']}").json()["filename"] == FIRST

    rows = ear_rows(client, digests[threshold_file])
    columns = ("patient_id", "ear_threshold_db", "ear_threshold_status", "ear_response", "ear_threshold_corrected_by")
    assert {tuple(r[c] for c in columns) for r in rows} == {("alice-rec", "40", "corrected", "response", "alice")}
    rows = ear_rows(client, digests[silent_file])
    assert {(r["patient_id"], r["ear_threshold_db"], r["ear_threshold_status"], r["ear_response"]) for r in rows} == {
        ("alice-rec", "", "corrected_no_response", "no response")
    }
    assert {r["V_status"] for r in rows} == {"ear_no_response"}  # the mark still silences the ear's waves

    # a later correction lands on the same target: Bob's page showed Alice's 40 dB, and his change replaces it
    view = client.get(f"/api/files/{digests[threshold_file]}").json()
    assert correct_ear(client, view, "bob", value=60.0).status_code == 200
    assert {(r["ear_threshold_db"], r["ear_threshold_corrected_by"]) for r in ear_rows(client, view["file_hash"])} == {
        ("60", "bob")
    }
    with sqlite3.connect(data_dir / "viewer.sqlite") as con:  # the first upload keeps its name and uploader
        rows = con.execute("SELECT hash, filename, uploaded_by FROM files").fetchall()
    assert {(h, name, who) for h, name, who in rows if h in digests.values()} == {
        (d, FIRST, "alice") for d in digests.values()
    }
    for digest in digests.values():  # and one copy of the bytes, under that name
        assert [p.name for p in (data_dir / "uploads" / digest).iterdir()] == [FIRST]


def test_a_store_that_lost_the_name_lists_the_correction_it_cannot_place(served: Any) -> None:
    """A store the earlier viewer re-pointed to a re-upload's name (as it did) reads with a warning naming the
    correction that no ear of the file matches, instead of dropping it silently."""
    client, data_dir = served
    status, view = analyze(client, time_columns(103), {**RATE, "user": "alice"}, name=FIRST)
    assert status == 200 and correct_ear(client, view, "alice", value=40.0).status_code == 200
    folder = data_dir / "uploads" / view["file_hash"]
    shutil.copy(folder / FIRST, folder / COPY)
    with sqlite3.connect(data_dir / "viewer.sqlite") as con:  # what the old `register` wrote on Bob's re-upload
        con.execute("UPDATE files SET filename = ?, uploaded_by = 'bob' WHERE hash = ?", (COPY, view["file_hash"]))
    lost = client.get(f"/api/files/{view['file_hash']}").json()
    assert lost["ears"][0]["patient_id"] == "bob-copy" and lost["ears"][0]["status"] == "model"
    notes = [w for w in lost["warnings"] if "threshold corrected to 40 dB by alice" in w]
    assert len(notes) == 1 and "alice-rec/R" in notes[0] and "not applied" in notes[0], lost["warnings"]
