"""The viewer lists a file's series (one panel each) in the order of <out>.series.csv: by patient, ear, stimulus type
and frequency as a number, so an ear's 8 kHz series comes before its 16 kHz one (the page listed 16 kHz first, the
ear table's text order). Asked of the app's JSON API with a stand-in model: no browser, no checkpoint."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from abrnet.inference.result_tables import PredictionReport
from tests.test_series_by_stimulus import K8, K16, _mouse, _report


class _StandInModel:
    """What the viewer needs of a loaded model: its checkpoint's name and hash, and `predict` giving the mouse
    report (both ears at 8 and 16 kHz) whatever the upload holds."""

    checkpoint = Path("best.ckpt")
    checkpoint_sha256 = "a" * 64

    def predict(self, *args: Any, **kwargs: Any) -> PredictionReport:
        return _report(_mouse(right=(16000.0, 8000.0)))


@pytest.fixture()
def client(tmp_path: Path) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from abrnet.viewer.app import create_app

    with TestClient(create_app(_StandInModel(), tmp_path / "data")) as c:
        yield c


def test_the_pages_series_are_in_the_tables_reading_order(client: Any) -> None:
    res = client.post("/api/analyze", files={"file": ("mouse.tsv", b"read by the stand-in model only\n")})
    assert res.status_code == 200, res.text
    view = res.json()
    expected = [("L", K8), ("L", K16), ("R", K8), ("R", K16)]
    assert [(e["ear"], e["stimulus"]) for e in view["ears"]] == expected
    assert [e["key"] for e in view["ears"]] == [f"M1/{ear}, {stim}" for ear, stim in expected]
    assert [e["model_threshold_db"] for e in view["ears"]] == [40.0, 60.0, 40.0, 60.0]  # each row with its own key
    for ear in view["ears"]:  # each panel draws its own series' records
        assert {view["records"][i]["ear_key"] for i in ear["records"]} == {ear["key"]}
    again = client.get(f"/api/files/{view['file_hash']}").json()  # a reload: the same order
    assert [e["key"] for e in again["ears"]] == [e["key"] for e in view["ears"]]
