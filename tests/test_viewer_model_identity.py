"""A viewer correction names the model whose reading it corrected, and the history is readable newest first.

A server restarted with another checkpoint on the same data folder shows its own model values beside corrections made
against the old model's; the corrections stay (the audit trail) but the JSON, the CSV export and the PDF report say
which model each was made against and that the model values beside it are now another model's. The model is the
SHA-256 of the checkpoint's bytes: both checkpoints here are called best.ckpt, as every training run's are.
"""

from __future__ import annotations

import csv
import io
import sqlite3
import urllib.parse
from pathlib import Path

import pytest

from abrnet.viewer.analysis import model_note
from abrnet.viewer.store import Correction, Store, content_hash
from tests.test_viewer_server import correct, get_bytes, get_json, post_file, request_json, running_server, wide_csv

# the store's schema once corrections kept their age, before they kept their model
AGE_ERA_SCHEMA = """
CREATE TABLE files (hash TEXT PRIMARY KEY, filename TEXT NOT NULL, size INTEGER NOT NULL, age_years REAL,
    uploaded_by TEXT, uploaded_at TEXT NOT NULL);
CREATE TABLE corrections (id INTEGER PRIMARY KEY AUTOINCREMENT, file_hash TEXT NOT NULL, target TEXT NOT NULL,
    record INTEGER NOT NULL, patient_id TEXT NOT NULL, ear TEXT NOT NULL, wave TEXT NOT NULL, value REAL,
    model_value REAL, user TEXT NOT NULL, created_at TEXT NOT NULL, age_years REAL);
CREATE INDEX corrections_by_file ON corrections (file_hash, id);
"""
SHA_A, SHA_B = "a" * 64, "b" * 64


@pytest.fixture(scope="module")
def checkpoint(tiny_run: dict) -> Path:
    return Path(tiny_run["dir"]) / "best.ckpt"


@pytest.fixture(scope="module")
def other_checkpoint(checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same weights under other bytes and the same file name (an extra key the loader ignores): another model as
    far as the viewer can tell, which is the point: it cannot know that two checkpoints read alike without running
    both."""
    import torch

    ckpt = torch.load(checkpoint, map_location="cpu", weights_only=True)
    ckpt["abrnet_test_note"] = "a copy with other bytes"
    path = tmp_path_factory.mktemp("other-run") / "best.ckpt"
    torch.save(ckpt, path)
    return path


def test_a_correction_stores_the_model_it_corrects(tmp_path: Path) -> None:
    store = Store(tmp_path / "data")
    with store.upload(b"recording bytes", "r.tsv") as (digest, path):
        store.register(digest, path, age_years=1.0, user="dr-a")
    corr = Correction("threshold", -1, "P1", "L", "", 40.0, 35.0, "dr-a", "2025-01-01T00:00:00Z", 1.0, SHA_A, "x.ckpt")
    store.add_correction(digest, corr, file_age=1.0)
    assert store.history(digest) == [corr]
    with sqlite3.connect(store.db_path) as con:
        assert con.execute("SELECT model_sha256, model_checkpoint FROM corrections").fetchall() == [(SHA_A, "x.ckpt")]
    con.close()
    assert content_hash(path.read_bytes()) == content_hash(b"recording bytes")


def test_a_store_from_before_models_were_kept_opens_with_the_model_not_recorded(tmp_path: Path) -> None:
    root = tmp_path / "data"
    root.mkdir()
    with sqlite3.connect(root / "viewer.sqlite") as con:
        con.executescript(AGE_ERA_SCHEMA)
        con.execute("INSERT INTO files VALUES ('h', 'old.csv', 3, 2.0, 'dr-old', '2024-01-01T00:00:00Z')")
        con.execute("INSERT INTO corrections (file_hash, target, record, patient_id, ear, wave, value, model_value, "
                    "user, created_at, age_years) VALUES ('h', 'threshold', -1, 'P', 'L', '', 40.0, 35.0, 'dr-old', "
                    "'2024-01-02T00:00:00Z', 2.0)")  # fmt: skip
    con.close()
    store = Store(root)
    (old,) = store.history("h")
    assert (old.user, old.value, old.age_years, old.model_sha256, old.model_checkpoint) == ("dr-old", 40.0, 2.0, None,
                                                                                            None)  # fmt: skip
    Store(root)  # opening it again (a second server) changes nothing
    new = Correction("threshold", -1, "P", "R", "", 50.0, 45.0, "dr-new", "2025-01-01T00:00:00Z", 2.0, SHA_B, "b.ckpt")
    store.add_correction("h", new, file_age=2.0)
    assert [c.model_sha256 for c in store.history("h")] == [None, SHA_B]
    payload = {"model_sha256": SHA_B, "checkpoint": "/runs/b.ckpt"}
    note = model_note(old, payload)
    assert note is not None and "not recorded" in note and "which read 35.0 dB" in note, note
    assert "now read by model b.ckpt (sha256 bbbbbbbbbbbb)" in note, note
    assert model_note(new, payload) is None


def test_a_server_with_another_checkpoint_marks_corrections_made_on_the_old_one(
    checkpoint: Path, other_checkpoint: Path, tmp_path: Path
) -> None:
    from tests.test_viewer_browser import pdf_text

    sha_a, sha_b = content_hash(checkpoint.read_bytes()), content_hash(other_checkpoint.read_bytes())
    assert sha_a != sha_b and checkpoint.name == other_checkpoint.name
    data_dir, pid = tmp_path / "data", "P-model"
    with running_server(checkpoint, data_dir) as base:
        assert get_json(base + "/api/health")["model_sha256"] == sha_a
        status, view = post_file(base, "model.csv", wide_csv(tmp_path, pid, seed=61))
        assert status == 200 and view["model_sha256"] == sha_a, view
        url = f"{base}/api/files/{view['file_hash']}"
        rec = next(r for r in view["records"] if r["ear"] == "L" and r["waves"]["V"]["latency_ms"] is not None)
        v = rec["waves"]["V"]["latency_ms"]
        assert correct(url, target="peak", record=rec["index"], wave="V", value=round(v + 0.05, 3), user="dr-a") == 200
        for value in (30.0, 35.0):
            assert correct(url, target="threshold", patient_id=pid, ear="L", value=value, user="dr-b") == 200
        view = get_json(url)
        left = next(e for e in view["ears"] if e["ear"] == "L")
        assert (left["corrected_model_sha256"], left["corrected_model_note"]) == (sha_a, None)
        assert [c["model_sha256"] for c in view["corrections"]] == [sha_a] * 3
        # the history endpoint: newest first, each with the value it replaced
        hist = get_json(url + "/history")
        assert [(c["target"], c["value"]) for c in hist["corrections"]] == [
            ("threshold", 35.0), ("threshold", 30.0), ("peak", round(v + 0.05, 3))]  # fmt: skip
        assert hist["corrections"][0]["previous_value"] == 30.0
        assert hist["corrections"][1]["previous_value"] == left["model_threshold_db"]
        assert all(c["model_note"] is None for c in hist["corrections"])
        assert request_json(f"{base}/api/files/{'0' * 64}/history")[0] == 404

    with running_server(other_checkpoint, data_dir) as base:
        url = f"{base}/api/files/{view['file_hash']}"
        assert correct(url, target="threshold", patient_id=pid, ear="R", value=40.0, user="dr-c") == 200
        now = get_json(url)
        assert now["model_sha256"] == sha_b
        left = next(e for e in now["ears"] if e["ear"] == "L")
        right = next(e for e in now["ears"] if e["ear"] == "R")
        wave = now["records"][rec["index"]]["waves"]["V"]
        assert (left["status"], left["threshold_db"], wave["status"]) == ("corrected", 35.0, "corrected")  # shown
        for value, read in ((left, "which read"), (wave, "which read")):
            note = value["corrected_model_note"]
            assert value["corrected_model_sha256"] == sha_a and note, value
            assert f"corrected against model best.ckpt (sha256 {sha_a[:12]}), {read}" in note, note
            assert f"now read by model best.ckpt (sha256 {sha_b[:12]})" in note and "model value shown" in note, note
        assert (right["corrected_model_sha256"], right["corrected_model_note"]) == (sha_b, None)
        hist = get_json(url + "/history")["corrections"]
        assert [c["model_note"] is not None for c in hist] == [False, True, True, True]

        rows = list(csv.DictReader(io.StringIO(get_bytes(url + "/export.csv").decode())))
        assert {r["model_sha256"] for r in rows} == {sha_b}
        assert {r["model_checkpoint"] for r in rows} == {str(other_checkpoint)}
        notes = {r["ear"]: r["ear_threshold_corrected_model_note"] for r in rows}
        assert notes["R"] == "" and f"sha256 {sha_a[:12]}" in notes["L"] and f"sha256 {sha_b[:12]}" in notes["L"]
        assert {r["ear"]: r["ear_threshold_corrected_model_sha256"] for r in rows} == {"L": sha_a, "R": sha_b}
        assert rows[rec["index"]]["V_corrected_model_sha256"] == sha_a
        assert "corrected against model best.ckpt" in rows[rec["index"]]["V_corrected_model_note"]
        assert [r["V_corrected_model_note"] for r in rows].count("") == len(rows) - 1

        text = pdf_text(get_bytes(f"{url}/report/{urllib.parse.quote(pid, safe='')}.pdf"))
        assert f"(sha256 {sha_b[:12]})" in text
        assert "threshold 35.0 dB nHL* (corrected by dr-b at" in text and "dB) [other model]" in text, text
        assert "threshold 40.0 dB nHL* (corrected by dr-c at" in text
        assert next(line for line in text.splitlines() if "corrected by dr-c" in line).endswith("dB)")
        assert "wave V:" in text and "corrected by dr-a at" in text
        assert f"[other model] 2 value(s) corrected against best.ckpt (sha256 {sha_a[:12]})" in text, text
        assert f"this report is read by model best.ckpt (sha256 {sha_b[:12]})" in text, text


def test_the_viewer_names_the_bytes_the_model_was_loaded_from(tmp_path: Path) -> None:
    """`abrnet.load` hashes the very bytes it reads the weights from (`ABRModel.checkpoint_sha256`), and the viewer
    labels readings and corrections with that hash. It hashed the path when the app started, apart from the load: a
    retrain writing best.ckpt in between labelled corrections with a model that was not the one reading."""
    import hashlib
    import shutil

    import abrnet
    from abrnet.inference.default_model import DEFAULT_CHECKPOINT
    from abrnet.viewer.app import create_app

    if not DEFAULT_CHECKPOINT.is_file():
        pytest.skip("this install ships no default model")
    path = tmp_path / "run" / "best.ckpt"
    path.parent.mkdir()
    shutil.copyfile(DEFAULT_CHECKPOINT, path)
    loaded = hashlib.sha256(path.read_bytes()).hexdigest()
    model = abrnet.load(path)
    assert model.checkpoint_sha256 == loaded == model.loaded.sha256
    path.write_bytes(b"a retrain's new best.ckpt, written after the load")  # the file no longer holds those bytes
    viewer = create_app(model, tmp_path / "data").state.viewer
    assert viewer.model_sha256 == loaded
    with viewer.store.upload(wide_csv(tmp_path, "P-bytes", seed=7), "bytes.csv") as (digest, upload):
        payload = viewer.analysed(digest, upload, upload.name, None)
    assert payload["model_sha256"] == loaded and payload["checkpoint"] == str(path)
