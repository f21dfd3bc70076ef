"""`abrnet serve` as a user's scripts meet it: a real server process on loopback, the JSON API, and faults.

The fault test sends 50 bad uploads (truncated, binary garbage, wrong delimiter, 0 bytes, oversized): every one must
get a 4xx with a one-line message, then 10 concurrent good uploads must all get 200, and the server must still answer.
The helpers here (free port, server process, multipart POST) are shared with the browser test.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from abrnet.data.csv_io import write_wide_csv
from tests.conftest import FIXTURES, make_toy_cohort, require_fixture

FAST_ABR = FIXTURES / "epl_abr_peak_analysis" / "XYZ999-ABR-15-1000.tsv"
AGE = "1.0"  # the export stores no age; a user types it in the form


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def running_server(checkpoint: Path, data_dir: Path, *, max_upload_mb: float = 20.0) -> Iterator[str]:
    """`abrnet serve` in a child process on a free loopback port; yields its base URL and stops it afterwards."""
    port = free_port()
    cmd = [sys.executable, "-m", "abrnet.cli.main", "serve", "--checkpoint", str(checkpoint), "--port", str(port),
           "--data-dir", str(data_dir), "--max-upload-mb", str(max_upload_mb)]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    log = data_dir.parent / f"serve-{port}.log"
    with log.open("w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"abrnet serve exited with {proc.returncode}: {log.read_text()[-2000:]}")
            with contextlib.suppress(OSError):
                if get_json(base + "/api/health")["status"] == "ok":
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"abrnet serve did not come up: {log.read_text()[-2000:]}")
            time.sleep(0.3)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as res:
        return json.loads(res.read())


def get_bytes(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as res:
        return res.read()


def post_file(base: str, filename: str, data: bytes, fields: dict[str, str] | None = None) -> tuple[int, Any]:
    """Multipart POST to /api/analyze → (status, parsed JSON body or None). Connection errors are status 0."""
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in (fields or {}).items()
    ]
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n").encode()  # fmt: skip
    body = b"".join(parts) + head + data + f"\r\n--{boundary}--\r\n".encode()
    req = urllib.request.Request(
        base + "/api/analyze", data=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    try:
        with urllib.request.urlopen(req, timeout=120) as res:
            return res.status, json.loads(res.read())
    except urllib.error.HTTPError as err:
        text = err.read()
        try:
            return err.code, json.loads(text)
        except ValueError:
            return err.code, None
    except OSError:
        return 0, None


def request_json(url: str, body: dict[str, Any] | None = None) -> tuple[int, Any, bytes]:
    """GET (or POST `body` as JSON) → (status, parsed JSON or None, raw body), 4xx/5xx included."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(req, timeout=120) as res:
            status, raw = res.status, res.read()
    except urllib.error.HTTPError as err:
        status, raw = err.code, err.read()
    try:
        return status, json.loads(raw), raw
    except ValueError:
        return status, None, raw


def shown_age(file_url: str, body: dict[str, Any]) -> float | None:
    """The age a page showing the current reading sends with `body`: that of the ear the correction is in."""
    view = get_json(file_url)
    peak = body.get("target") == "peak"
    key = view["records"][body["record"]]["ear_key"] if peak else f"{body['patient_id']}/{body['ear']}"
    return next(e["age_years"] for e in view["ears"] if e["key"] == key)


def correct(file_url: str, **body: Any) -> int:
    """POST one correction to ``<file_url>/corrections`` → HTTP status; without an `age_years` it sends the ear's
    current age, as a page showing the current reading does."""
    if "age_years" not in body:
        body["age_years"] = shown_age(file_url, body)
    return request_json(file_url + "/corrections", body)[0]


def wide_csv(tmp_path: Path, patient_id: str, *, seed: int = 0, levels: tuple[int, ...] = (80, 60, 40, 20)) -> bytes:
    """A small wide CSV (one patient, two ears, four levels) whose ``patient_id`` is `patient_id`."""
    cohort = make_toy_cohort(n_patients=1, levels=levels, seed=seed)
    cohort.patient_id = np.full(cohort.n_records, patient_id)
    return write_wide_csv(cohort, tmp_path / f"wide{seed}.csv", force=True).read_bytes()


def bad_uploads(good: bytes, max_bytes: int) -> list[tuple[str, str, bytes]]:
    """50 (kind, file name, bytes) uploads that must all be refused."""
    rng = np.random.default_rng(15)
    data_at = good.index(b"[DATA]")
    cuts = [10, 100, 300, data_at - 5, data_at + 3, data_at + 60, data_at + 200, data_at + 2000, len(good) // 2,
            len(good) - 100]  # fmt: skip
    out = [("truncated", f"cut{c}.tsv", good[:c]) for c in cuts]
    for k in range(10):
        blob = rng.integers(0, 256, int(rng.integers(1, 50_000)), dtype=np.uint8).tobytes()
        prefix = [b"", b"\x89HDF\r\n\x1a\n", b"[FAST ABR]\n", b"\x00\x00", b"PK\x03\x04"][k % 5]
        out.append(("garbage", f"garbage{k}" + (".h5" if k % 5 == 1 else ".tsv"), prefix + blob))
    for k, sep in enumerate([b";", b",", b" ", b"|", b"::"] * 2):
        name = f"delim{k}" + (".tsv" if k < 5 else ".txt")
        out.append(("wrong delimiter", name, good.replace(b"\t", sep)))
    for name in ["empty.tsv", "empty.csv", "empty.h5", "empty.txt", "empty", "e.TSV", "e.HDF5", "e.dat", "no name",
                 "e.bin"]:  # fmt: skip
        out.append(("0 bytes", name, b""))
    for k in range(10):
        size = max_bytes + 1 + k * 150_000
        out.append(("oversized", f"big{k}.tsv", (good * (size // len(good) + 1))[:size]))
    return out


@pytest.fixture(scope="module")
def checkpoint(tiny_run: dict) -> Path:
    return Path(tiny_run["dir"]) / "best.ckpt"


def test_api_analyze_health_and_faults(checkpoint: Path, tmp_path: Path) -> None:
    require_fixture(FAST_ABR)
    good = FAST_ABR.read_bytes()
    max_mb = 0.2
    with running_server(checkpoint, tmp_path / "data", max_upload_mb=max_mb) as base:
        # a good upload: per-record and per-ear JSON, same numbers as the Python API
        status, body = post_file(base, FAST_ABR.name, good, {"age_years": AGE, "user": "tester"})
        assert status == 200, body
        assert body["n_records"] == 13 and len(body["ears"]) == 1 and body["ears"][0]["n_records"] == 13
        assert {"waves", "class_prob", "signal", "threshold_db"} <= set(body["records"][0])
        assert all(r["waves"][w]["status"] == "model" for r in body["records"] for w in ("I", "III", "V"))

        bad = bad_uploads(good, int(max_mb * 1e6))
        assert len(bad) == 50
        codes: Counter[str] = Counter()
        for kind, name, data in bad:
            st, res = post_file(base, name, data, {"age_years": AGE})
            codes[f"{kind} {st}"] += 1
            assert 400 <= st < 500, (kind, name, st, res)
            detail = res["detail"] if isinstance(res, dict) else ""
            assert isinstance(detail, str) and detail and "\n" not in detail, (kind, name, res)
            if kind != "oversized":
                assert "/tmp" not in detail and str(tmp_path) not in detail  # names the user's file, not ours
        print(f"\nbad uploads: {sum(codes.values())} sent, all 4xx: {dict(sorted(codes.items()))}")
        assert get_json(base + "/api/health")["status"] == "ok"

        with ThreadPoolExecutor(10) as pool:
            results = list(pool.map(lambda k: post_file(base, f"copy{k}.tsv", good, {"age_years": AGE}), range(10)))
        ok = [st for st, _ in results]
        print(f"concurrent good uploads: {len(ok)} sent, {ok.count(200)} x 200")
        assert ok == [200] * 10
        assert len({res["file_hash"] for _, res in results}) == 1  # content-keyed: same bytes, same file
        health = get_json(base + "/api/health")
        print(f"server alive after: {health}")
        assert health["status"] == "ok" and health["files"] == 1


def test_export_and_report_keep_a_non_ascii_file_name(checkpoint: Path, tmp_path: Path) -> None:
    """The reviewed CSV and the PDF report of an upload named "Müller 患者.tsv" download (they were a 500: headers
    are Latin-1), under that exact name in ``filename*`` and an ASCII stand-in in ``filename``."""
    require_fixture(FAST_ABR)
    name = "Müller 患者.tsv"
    with running_server(checkpoint, tmp_path / "data") as base:
        status, body = post_file(base, name, FAST_ABR.read_bytes(), {"age_years": AGE})
        assert status == 200, body
        patient = body["ears"][0]["patient_id"]
        urls = {
            "Müller 患者_reviewed.csv": f"{base}/api/files/{body['file_hash']}/export.csv",
            f"report_{patient}.pdf": f"{base}/api/files/{body['file_hash']}/report/{urllib.parse.quote(patient)}.pdf",
        }
        for expected, url in urls.items():
            with urllib.request.urlopen(url, timeout=60) as res:
                header, content = res.headers["Content-Disposition"], res.read()
            assert res.status == 200 and content, url
            ascii_part, utf8_part = header.split("; filename*=UTF-8''")
            assert ascii_part.isascii() and 'filename="' in ascii_part
            assert urllib.parse.unquote(utf8_part) == expected


@pytest.fixture(scope="module")
def server(checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One server for the regression tests below; each uploads bytes of its own, so they share no file state."""
    with running_server(checkpoint, tmp_path_factory.mktemp("viewer") / "data") as base:
        yield base


def test_concurrent_uploads_of_one_bad_file_all_get_400(server: str) -> None:
    """Many concurrent uploads of the same unreadable file all get the importer's 400 (one request refusing the
    file removed the upload folder while another was writing into it: FileExistsError / FileNotFoundError, 500)."""
    bad = b"this is not an ABR recording\n" * 40
    with ThreadPoolExecutor(24) as pool:
        results = list(pool.map(lambda _: post_file(server, "bad.txt", bad, {"age_years": AGE}), range(96)))
    codes = Counter(st for st, _ in results)
    assert codes == {400: 96}, codes
    details = {res["detail"] for _, res in results}
    assert len(details) == 1 and "bad.txt" in next(iter(details)), details
    assert get_json(server + "/api/health")["status"] == "ok"


def test_pdf_report_prints_dollar_signs_literally(server: str, tmp_path: Path) -> None:
    """A `$` in a corrector's name or a patient_id is text, not matplotlib mathtext (was a 500 on every report)."""
    from tests.test_viewer_browser import pdf_text

    patient, user = "P $a^b$", "Dr $5 ^_^ $x"
    status, body = post_file(server, "dollar.csv", wide_csv(tmp_path, patient, seed=1))
    assert status == 200, body
    url = f"{server}/api/files/{body['file_hash']}"
    assert correct(url, target="threshold", patient_id=patient, ear="L", value=30.0, user=user) == 200
    status, _, pdf = request_json(f"{url}/report/{urllib.parse.quote(patient, safe='')}.pdf")
    assert status == 200 and pdf.startswith(b"%PDF")
    text = pdf_text(pdf)
    assert f"patient {patient}" in text and f"corrected by {user} at" in text


def test_pdf_report_for_a_patient_id_with_a_slash(server: str, tmp_path: Path) -> None:
    """Patient "A/B" gets its report at report/A%2FB.pdf, the link the page builds (was a 404)."""
    status, body = post_file(server, "slash.csv", wide_csv(tmp_path, "A/B", seed=2))
    assert status == 200, body
    assert {e["patient_id"] for e in body["ears"]} == {"A/B"}
    url = f"{server}/api/files/{body['file_hash']}/report"
    status, _, pdf = request_json(f"{url}/A%2FB.pdf")
    assert status == 200 and pdf.startswith(b"%PDF")
    status, res, _ = request_json(f"{url}/A%2FC.pdf")
    assert status == 404 and res["detail"] == "no patient 'A/C' in this file"


def test_csv_export_neutralises_formula_cells(server: str, tmp_path: Path) -> None:
    """Text cells starting with = + - @ (tab, CR) get a leading ' (OWASP CSV injection); numbers stay numbers."""
    patient, user = '=HYPERLINK("http://x","y")', "=cmd|'/c calc'!A1"
    status, body = post_file(server, "formula.csv", wide_csv(tmp_path, patient, seed=3, levels=(60, 40, 20, 0)))
    assert status == 200, body
    url = f"{server}/api/files/{body['file_hash']}"
    for ear, value in (("L", -10.0), ("R", 20.0)):
        assert correct(url, target="threshold", patient_id=patient, ear=ear, value=value, user=user) == 200
    text = get_bytes(url + "/export.csv").decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {r["patient_id"] for r in rows} == {"'" + patient}
    assert {r["ear_threshold_corrected_by"] for r in rows} == {"'" + user}
    assert {r["ear"]: r["ear_threshold_db"] for r in rows} == {"L": "-10", "R": "20"}
    cells = [c for r in csv.reader(io.StringIO(text)) for c in r]
    assert not [c for c in cells if c[:1] in ("=", "+", "@", "\t", "\r")]
    assert not [c for c in cells if c.startswith("-") and not c.lstrip("-").replace(".", "", 1).isdigit()]


def test_reupload_under_a_new_name_answers_with_that_name(server: str, tmp_path: Path) -> None:
    """The same bytes uploaded as b.csv answer filename "b.csv" (the cached analysis named the first upload), and a
    file whose format carries its own ages can be re-uploaded with another age after corrections (same reading)."""
    data = wide_csv(tmp_path, "P-rename", seed=4)
    status, first = post_file(server, "a.csv", data, {"age_years": AGE})
    assert status == 200 and first["filename"] == "a.csv"
    url = f"{server}/api/files/{first['file_hash']}"
    assert correct(url, target="threshold", patient_id="P-rename", ear="R", value=50.0) == 200
    status, again = post_file(server, "b.csv", data, {"age_years": AGE})
    assert status == 200 and again["filename"] == "b.csv", again
    assert again["file_hash"] == first["file_hash"] and len(again["corrections"]) == 1
    status, other_age = post_file(server, "c.csv", data, {"age_years": "7"})  # the CSV's own ages are used
    assert status == 200 and other_age["filename"] == "c.csv" and len(other_age["corrections"]) == 1, other_age
    assert [r["age_years"] for r in other_age["records"]] == [r["age_years"] for r in first["records"]]


def test_an_upload_without_an_age_points_to_the_forms_age_field(server: str) -> None:
    """The importer's hint for a missing age names the CLI ("pass age_years=... (CLI --age)"); the viewer's user has
    the form's Age field instead."""
    require_fixture(FAST_ABR)
    status, body = post_file(server, "no-age.tsv", FAST_ABR.read_bytes())
    assert status == 400, body
    detail = body["detail"]
    assert detail.startswith("no-age.tsv") and "Age field" in detail, detail
    assert "CLI" not in detail and "age_years=" not in detail and "\n" not in detail, detail


def test_corrections_endpoint_refuses_peaks_out_of_wave_order(server: str, tmp_path: Path) -> None:
    """The server took any latency in the window: V on I's latency, or a revert landing V before a corrected III."""
    status, view = post_file(server, "order-api.csv", wide_csv(tmp_path, "P-order", seed=31))
    assert status == 200, view
    url, waves = f"{server}/api/files/{view['file_hash']}", ("I", "III", "V")
    rec = next(r for r in view["records"] if None not in [r["waves"][w]["latency_ms"] for w in waves])
    lat, i = {w: rec["waves"][w]["latency_ms"] for w in waves}, rec["index"]
    age = next(e["age_years"] for e in view["ears"] if e["key"] == rec["ear_key"])
    body_of = lambda wave, value: {"target": "peak", "record": i, "wave": wave, "value": value, "age_years": age}
    post = lambda wave, value: request_json(url + "/corrections", body_of(wave, value))
    code, body, _ = post("V", lat["I"])
    assert code == 422 and "order I < III < V" in body["detail"] and "\n" not in body["detail"], body
    code, body, _ = post("I", lat["V"])
    assert code == 422 and "before wave III" in body["detail"], body
    assert get_json(url)["records"][i]["waves"]["V"]["status"] == "model"  # nothing kept
    # V moved late, III after V's model value: reverting V would put it before III, so it is refused
    late = round(min(view["time_ms"][-1] - 0.1, max(lat["V"], lat["III"]) + 1.5), 3)
    assert post("V", late)[0] == 200 and post("III", round((lat["V"] + late) / 2, 3))[0] == 200
    code, body, _ = post("V", None)
    assert code == 422 and "model's value" in body["detail"], body
    assert post("III", None)[0] == 200 and post("V", None)[0] == 200  # reverts that keep the order are fine


def test_threshold_corrections_stay_within_the_ears_levels_and_one_step(server: str, tmp_path: Path) -> None:
    """The server took any threshold in -20..140 dB; the page keeps one within the ear's tested levels, down to one
    level step below (the smallest gap between its levels; 10 dB for an ear tested at one level), and now so does the
    server. Nothing above the loudest level: "one step above" exported as a measured threshold (hunt 12), where the
    ear's "no response" mark is the reviewer's answer."""
    status, view = post_file(server, "thr-range.csv", wide_csv(tmp_path, "P-thr-range", seed=41))  # 20..80 dB
    assert status == 200, view
    url = f"{server}/api/files/{view['file_hash']}"
    one = make_toy_cohort(n_patients=1, levels=(50,), seed=42)
    one.patient_id = np.full(one.n_records, "P-thr-one")
    status, single = post_file(server, "thr-one.csv", write_wide_csv(one, tmp_path / "one.csv").read_bytes())
    assert status == 200, single
    one_url = f"{server}/api/files/{single['file_hash']}"
    for base, pid, bad, good in ((url, "P-thr-range", (-0.5, -20.0, 80.5, 100.0, 140.0), (0.0, 80.0, 55.5)),
                                 (one_url, "P-thr-one", (39.9, 50.1, -20.0), (40.0, 50.0))):  # fmt: skip
        for value in bad:
            sent = {"target": "threshold", "patient_id": pid, "ear": "L", "value": value}
            code, body, _ = request_json(base + "/corrections", {**sent, "age_years": shown_age(base, sent)})
            assert code == 422 and "\n" not in body["detail"] and "tested levels" in body["detail"], (value, body)
            assert "mark the ear 'no response'" in body["detail"], body
            assert get_json(base)["ears"][0]["status"] == "model" and not get_json(base)["corrections"]
        for value in good:
            assert correct(base, target="threshold", patient_id=pid, ear="L", value=value) == 200, value
            assert next(e for e in get_json(base)["ears"] if e["ear"] == "L")["threshold_db"] == value
        assert correct(base, target="threshold", patient_id=pid, ear="L", value=None) == 200  # a revert is always fine


def test_malformed_requests_get_one_line_messages_and_change_nothing(server: str, tmp_path: Path) -> None:
    """FastAPI answered a malformed body with a JSON list (the page showed "[{'type': ..."); ``"record": true`` was
    taken as record 1 and ``"value": "6"`` as 6; an age outside 0..120 was "could not analyse the file"."""
    status, view = post_file(server, "malformed.csv", wide_csv(tmp_path, "P-bad", seed=51))
    assert status == 200, view
    url, age = f"{server}/api/files/{view['file_hash']}", view["ears"][0]["age_years"]
    v = round(view["records"][1]["waves"]["V"]["latency_ms"] + 0.05, 3)
    peak = {"target": "peak", "record": 1, "wave": "V", "value": v, "age_years": age}
    no_value = {k: x for k, x in peak.items() if k != "value"}
    for bad, words in (({**peak, "record": True}, "record: "), ({**peak, "value": str(v)}, "value: "),
                       ({**peak, "record": 0.5}, "record: "), ({**peak, "value": float("nan")}, "finite"),
                       (no_value, "value: Field required"), ([], "body")):  # fmt: skip
        code, res, _ = request_json(url + "/corrections", bad)  # type: ignore[arg-type]
        assert code == 422 and isinstance(res["detail"], str) and words in res["detail"], (bad, res)
        assert "\n" not in res["detail"] and "{'type'" not in res["detail"], res
    assert get_json(url)["corrections"] == []
    for age_field, words in (("abc", "form: field 'Age': "), ("-1", "0 to 120"), ("130", "0 to 120")):
        status, res = post_file(server, "malformed.csv", wide_csv(tmp_path, "P-bad", seed=51), {"age_years": age_field})
        assert status == 422 and words in res["detail"] and "could not analyse" not in res["detail"], res
