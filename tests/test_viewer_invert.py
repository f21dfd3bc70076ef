"""The viewer's Invert box (predict's ``--invert``): an inverted export is named by the polarity warning in the
form's words, and the box reads it as recorded the right way up (hunt 8 #5; the form had no such field)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from abrnet.data.csv_io import write_wide_csv
from abrnet.data.simulate import SimulationConfig, simulate_cohort
from abrnet.inference.polarity import INVERT_HINT
from abrnet.viewer.form import INVERT_WORDS
from tests.conftest import make_toy_cohort


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    import abrnet
    from abrnet.viewer.app import create_app

    with TestClient(create_app(abrnet.load(), tmp_path_factory.mktemp("invert") / "data")) as c:
        yield c


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_an_inverted_export_is_named_in_the_forms_words_and_the_invert_box_reads_it(
    client: Any, tmp_path: Path
) -> None:
    config = SimulationConfig(n_patients=6, balanced=True, protocol="fixed", fixed_levels_db=(20.0, 40.0, 60.0, 80.0))
    cohort = simulate_cohort(config, seed=11)  # hearing ears the polarity check names once inverted (test_polarity)
    flipped = replace(cohort, signals=-cohort.signals, buffers=-cohort.buffers)
    data = write_wide_csv(flipped, tmp_path / "inverted.csv").read_bytes()

    as_given = client.post("/api/analyze", files={"file": ("inverted.csv", data)})
    assert as_given.status_code == 200, as_given.text
    (line,) = [w for w in as_given.json()["warnings"] if w.startswith("polarity:")]
    assert INVERT_WORDS in line and INVERT_HINT not in line and "--invert" not in line
    assert as_given.json()["reading_options"] == {}

    again = write_wide_csv(flipped.with_patient_prefix("B"), tmp_path / "inverted_b.csv").read_bytes()
    boxed = client.post("/api/analyze", files={"file": ("inverted_b.csv", again)}, data={"invert": "true"})
    assert boxed.status_code == 200, boxed.text
    view = boxed.json()
    assert view["reading_options"] == {"invert": True}
    assert not any(w.startswith("polarity:") for w in view["warnings"])
    reopened = client.get(f"/api/files/{view['file_hash']}").json()  # a reload reads it the same way
    assert reopened["reading_options"] == {"invert": True}
    assert [r["ear_key"] for r in reopened["records"]] == [r["ear_key"] for r in view["records"]]


def test_a_reupload_with_the_box_ticked_is_another_reading_and_conflicts_with_corrections(
    client: Any, tmp_path: Path
) -> None:
    """Hunt 13 #1: the same bytes uploaded again with Invert ticked answered with the inverted reading but kept the
    first upload's options (a reload showed the other sign), and was accepted over existing corrections."""
    data = write_wide_csv(make_toy_cohort(n_patients=1, seed=5), tmp_path / "toy.csv").read_bytes()
    first = client.post("/api/analyze", files={"file": ("toy.csv", data)})
    assert first.status_code == 200 and first.json()["reading_options"] == {}
    boxed = client.post("/api/analyze", files={"file": ("toy.csv", data)}, data={"invert": "true"})
    assert boxed.status_code == 200 and boxed.json()["reading_options"] == {"invert": True}
    view = client.get(f"/api/files/{boxed.json()['file_hash']}").json()
    assert view["reading_options"] == {"invert": True}
    ear = view["ears"][0]
    body = {"target": "threshold", "patient_id": ear["patient_id"], "ear": ear["key"].rsplit("/", 1)[1], "value": 40.0}
    body |= {"user": "eve", "age_years": ear["age_years"], "reading_options": {"invert": True}}
    saved = client.post(f"/api/files/{view['file_hash']}/corrections", json=body)
    assert saved.status_code == 200, saved.text
    unboxed = client.post("/api/analyze", files={"file": ("toy.csv", data)})
    assert unboxed.status_code == 409, unboxed.text
    assert client.get(f"/api/files/{view['file_hash']}").json()["reading_options"] == {"invert": True}


def test_a_patients_report_leaves_out_warnings_about_other_patients() -> None:
    """Hunt 13 #3: every warning of the file was printed in each patient's PDF, other patients' ids included."""
    from abrnet.viewer.report import patient_warnings

    ears = [{"key": k, "patient_id": k.split("/")[0]} for k in ("A/L", "A/R", "B/L")]
    payload = {"ears": ears, "warnings": ["file-wide note", "polarity: B/L (0.1 → 0.9)", "mixed: A/R and B/L"]}
    assert patient_warnings(payload, "A") == ["file-wide note", "mixed: A/R and (another patient's ear)"]
    assert patient_warnings(payload, "B") == [
        "file-wide note",
        "polarity: B/L (0.1 → 0.9)",
        "mixed: (another patient's ear) and B/L",
    ]


def test_a_reload_gets_the_forms_age_back(client: Any, tmp_path: Path) -> None:
    """Hunt 12 #7f: a reload restored the reading options but left the Age field empty."""
    data = write_wide_csv(make_toy_cohort(n_patients=1, seed=8), tmp_path / "aged.csv").read_bytes()
    res = client.post("/api/analyze", files={"file": ("aged.csv", data)}, data={"age_years": "0.5"})
    assert res.status_code == 200, res.text
    assert client.get(f"/api/files/{res.json()['file_hash']}").json()["form_age_years"] == 0.5
    other = write_wide_csv(make_toy_cohort(n_patients=1, seed=9), tmp_path / "plain.csv").read_bytes()
    plain = client.post("/api/analyze", files={"file": ("plain.csv", other)}).json()
    assert client.get(f"/api/files/{plain['file_hash']}").json()["form_age_years"] is None
