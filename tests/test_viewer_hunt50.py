"""Hunt 50a's viewer findings, through the HTTP API in-process.

#1: two corrections sent at once (wave III later, wave V earlier), each valid against the page before the other,
were both stored and left III after V: the order check read the view outside the store's lock. #2: a wide CSV named
``.txt``, or with a 129-character ``….csv`` name (cut to 120 characters, suffix and all), was read as a CSV but its
form Age was refused as missing. #3: an uploader's name was stored whole (5,000 characters in a re-upload's warning)
where a correction's user is cut to 80.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from abrnet.data.csv_io import write_wide_csv
from abrnet.viewer.correcting import USER_MAX_CHARS
from abrnet.viewer.store import MAX_FILENAME_CHARS, safe_filename
from tests.conftest import make_toy_cohort


@pytest.fixture(scope="module")
def client(tiny_run: dict, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    import abrnet
    from abrnet.viewer.app import create_app

    model = abrnet.load(Path(tiny_run["dir"]) / "best.ckpt")
    with TestClient(create_app(model, tmp_path_factory.mktemp("hunt50") / "data")) as c:
        yield c


def _csv(tmp_path: Path, seed: int, *, age: bool = True) -> bytes:
    cohort = make_toy_cohort(n_patients=1, seed=seed)
    path = write_wide_csv(cohort, tmp_path / f"h{seed}.csv", force=True)
    if age:
        return path.read_bytes()
    lines = path.read_text().splitlines()
    k = lines[0].split(",").index("age_years")
    return ("\n".join(",".join(c for j, c in enumerate(ln.split(",")) if j != k) for ln in lines) + "\n").encode()


def _peak(client: Any, digest: str, record: int, wave: str, value: float, age: float | None) -> int:
    body = {"target": "peak", "record": record, "wave": wave, "value": value, "age_years": age, "user": wave}
    return client.post(f"/api/files/{digest}/corrections", json=body).status_code


def test_two_corrections_sent_at_once_cannot_break_the_wave_order(
    client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import abrnet.viewer.app as app_module

    view = client.post("/api/analyze", files={"file": ("race.csv", _csv(tmp_path, 50))}).json()
    digest, rec = view["file_hash"], view["records"][0]
    age = next(e["age_years"] for e in view["ears"] if e["ear_key"] == rec["ear_key"])
    for wave, value in (("I", 1.0), ("III", 3.0), ("V", 6.0)):  # known places, each in order
        assert _peak(client, digest, rec["index"], wave, value, age) == 200
    checked = app_module.correction_from

    def slow(*args: Any, **kwargs: Any) -> Any:  # each request checks the view, then waits before storing
        out = checked(*args, **kwargs)
        time.sleep(0.5)
        return out

    monkeypatch.setattr(app_module, "correction_from", slow)
    codes: dict[str, int] = {}
    start = threading.Barrier(2)

    def send(wave: str, value: float) -> None:
        start.wait()
        codes[wave] = _peak(client, digest, rec["index"], wave, value, age)

    threads = [threading.Thread(target=send, args=a) for a in (("III", 5.0), ("V", 4.0))]  # each valid alone
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes.values()) == [200, 422], codes
    waves = client.get(f"/api/files/{digest}").json()["records"][rec["index"]]["waves"]
    assert waves["I"]["latency_ms"] < waves["III"]["latency_ms"] < waves["V"]["latency_ms"], waves


def test_a_long_name_keeps_its_suffix_and_a_csv_by_content_takes_the_forms_age(client: Any, tmp_path: Path) -> None:
    long = "y" * 125 + ".csv"
    kept = safe_filename(long)
    assert kept.endswith(".csv") and len(kept) == MAX_FILENAME_CHARS
    assert safe_filename("a" * 300) == "a" * MAX_FILENAME_CHARS and safe_filename("ok name.h5") == "ok name.h5"
    data = _csv(tmp_path, 51, age=False)
    for name in (long, "noage.txt", "noage.csv"):
        res = client.post("/api/analyze", files={"file": (name, data)}, data={"age_years": "30"})
        assert res.status_code == 200, (name, res.text)
        assert {e["age_years"] for e in res.json()["ears"]} == {30.0}, name


def test_an_uploaders_name_is_cut_as_a_reviewers_is(client: Any, tmp_path: Path) -> None:
    data = _csv(tmp_path, 52)
    first = client.post("/api/analyze", files={"file": ("u1.csv", data)}, data={"user": "x" * 5000})
    assert first.status_code == 200, first.text
    again = client.post("/api/analyze", files={"file": ("u2.csv", data)}).json()
    (note,) = [w for w in again["warnings"] if "u1.csv" in w]
    assert "x" * USER_MAX_CHARS in note and "x" * (USER_MAX_CHARS + 1) not in note and len(note) < 600, note
