"""`abrnet serve` as a user's scripts meet it: a real server process on loopback, the JSON API, and faults.

The fault test sends 50 bad uploads (truncated, binary garbage, wrong delimiter, 0 bytes, oversized): every one must
get a 4xx with a one-line message, then 10 concurrent good uploads must all get 200, and the server must still answer.
The helpers here (free port, server process, multipart POST) are shared with the browser test.
"""

from __future__ import annotations

import contextlib
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

from tests.conftest import SHARED

FAST_ABR = SHARED / "fixtures" / "epl_abr_peak_analysis" / "XYZ999-ABR-15-1000.tsv"
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
    if not FAST_ABR.exists():
        pytest.skip(f"{FAST_ABR} not available (../shared fixtures)")
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
    if not FAST_ABR.exists():
        pytest.skip(f"{FAST_ABR} not available (../shared fixtures)")
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
