"""A file lacking several values (age, rate, level) is answered with the form's fields, in one line (hunt 43 #4).

The readers refuse such a file once, naming every missing value (`MissingOptionsError`), in the words of the CLI and
the Python API ("pass age_years=..., stimulus_rate_hz=..., level_db=... (CLI --age, --rate, --level)"). The viewer
translated only the one-value sentence, so its user was told keywords and flags they have no way to pass. It now
builds its own line from the names the error carries.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from abrnet.data.importers.needed import MissingOptionsError
from abrnet.data.schema import DataError
from abrnet.viewer.form import error_text
from tests.conftest import FIXTURES, require_fixture
from tests.test_viewer_reading_options import time_columns

KG = FIXTURES / "epl_abr_peak_analysis" / "KG_fzmaABR.csv"
ALL_THREE = (
    "not recorded in this file: the subject's age (years), the stimulus rate (per second) and the stimulus level (dB); "
    "enter them in the form's Age, Rate (/s) and Level (dB) fields and analyse again"
)
RATE_AND_LEVEL = (
    "not recorded in this file: the stimulus rate (per second) and the stimulus level (dB); enter them in the form's "
    "Rate (/s) and Level (dB) fields and analyse again"
)


@pytest.fixture(scope="module")
def client(tiny_run: dict, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    import abrnet
    from abrnet.viewer.app import create_app

    model = abrnet.load(Path(tiny_run["dir"]) / "best.ckpt")
    with TestClient(create_app(model, tmp_path_factory.mktemp("missing") / "data")) as c:
        yield c


def refusal(client: Any, name: str, data: bytes, fields: dict[str, str]) -> str:
    res = client.post("/api/analyze", files={"file": (name, data)}, data=fields)
    assert res.status_code == 400, res.text
    detail = res.json()["detail"]
    assert "\n" not in detail and "CLI" not in detail and "=..." not in detail and "--" not in detail, detail
    return detail


def test_error_text_names_the_forms_fields_from_the_errors_names() -> None:
    exc = MissingOptionsError("/srv/uploads/ab12/x.txt", ["age_years", "stimulus_rate_hz", "level_db"], row=1)
    assert error_text(exc, "/srv/uploads/ab12/x.txt", "x.txt") == f"x.txt: {ALL_THREE}"
    exc = MissingOptionsError("/srv/x.txt", ["age_years", "level_db"])
    assert error_text(exc, "/srv/x.txt", "x.txt") == (
        "x.txt: not recorded in this file: the subject's age (years) and the stimulus level (dB); enter them in the "
        "form's Age and Level (dB) fields and analyse again"
    )
    other = DataError("/srv/x.txt", "level_db", "the file names no stimulus level; pass level_db=... (CLI --level)")
    assert error_text(other, "/srv/x.txt", "x.txt") == (  # one value: the reader's sentence with the form's field
        "x.txt: field 'level_db': the file names no stimulus level; enter the stimulus level (dB) in the form's Level "
        "(dB) field and analyse again"
    )


def test_an_upload_lacking_several_values_names_every_form_field(client: Any) -> None:
    unlevelled = time_columns(201, levels=("avg",))
    assert refusal(client, "rec.csv", unlevelled, {}) == f"rec.csv: {ALL_THREE}"
    assert refusal(client, "rec.csv", unlevelled, {"age_years": "30"}) == f"rec.csv: {RATE_AND_LEVEL}"
    detail = refusal(client, "rec.csv", unlevelled, {"age_years": "30", "stimulus_rate_hz": "21.1"})
    assert "the form's Level (dB) field" in detail, detail


def test_the_hunts_fixture_names_every_form_field(client: Any) -> None:
    data = require_fixture(KG).read_bytes()
    assert refusal(client, KG.name, data, {}) == f"{KG.name}: {ALL_THREE}"
    assert refusal(client, KG.name, data, {"age_years": "30"}) == f"{KG.name}: {RATE_AND_LEVEL}"
