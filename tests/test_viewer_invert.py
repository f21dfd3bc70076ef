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
