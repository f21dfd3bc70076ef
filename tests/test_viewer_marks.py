"""Hunt 12 #1, #2, #4 and #3 through the viewer's HTTP API (in-process) and its report content.

#1: a reviewer could not mark a wave absent nor an ear "no response" (only a fake threshold above the top level), and
an unknown key (``"absent": true``) was ignored and stored as a revert. #2: a corrected threshold left the model's
"no response" as the ear's final call. #4: a stale tab silently overwrote another reviewer's correction. #3: the
PDF left out the file's warnings, the stimulus and rate, ran long lines off the page and had no µV scale.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from abrnet.data.csv_io import write_wide_csv
from abrnet.viewer.report import LINE_CHARS, _ear_lines, _latency_intensity, _waterfall, report_lines
from tests.conftest import make_toy_cohort


@pytest.fixture(scope="module")
def client(tiny_run: dict, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    import abrnet
    from abrnet.viewer.app import create_app

    model = abrnet.load(Path(tiny_run["dir"]) / "best.ckpt")
    with TestClient(create_app(model, tmp_path_factory.mktemp("marks") / "data")) as c:
        yield c


def upload(client: Any, tmp_path: Path, seed: int) -> dict[str, Any]:
    """A wide CSV of one patient (two ears, 80..20 dB) analysed → the view JSON."""
    cohort = make_toy_cohort(n_patients=1, seed=seed)
    data = write_wide_csv(cohort, tmp_path / f"marks{seed}.csv", force=True).read_bytes()
    res = client.post("/api/analyze", files={"file": (f"marks{seed}.csv", data)})
    assert res.status_code == 200, res.text
    return res.json()


def post(client: Any, view: dict[str, Any], body: dict[str, Any]) -> Any:
    """POST a correction with the age the page shows for the target's ear (as the page does)."""
    key = (
        view["records"][body["record"]]["ear_key"]
        if body["target"] == "peak"
        else f"{body['patient_id']}/{body['ear']}"
    )
    age = next(e["age_years"] for e in view["ears"] if e["key"] == key)
    return client.post(f"/api/files/{view['file_hash']}/corrections", json={"age_years": age, **body})


def csv_rows(client: Any, view: dict[str, Any]) -> list[dict[str, str]]:
    res = client.get(f"/api/files/{view['file_hash']}/export.csv")
    assert res.status_code == 200
    return list(csv.DictReader(io.StringIO(res.text)))


def test_a_wave_marked_absent_and_an_ear_marked_no_response_reach_page_csv_and_report(
    client: Any, tmp_path: Path
) -> None:
    view = upload(client, tmp_path, 31)
    ear = view["ears"][0]
    rec = ear["records"][0]
    res = post(client, view, {"target": "peak", "record": rec, "wave": "V", "value": None, "absent": True,
                              "user": "eve", "expected_previous": None})  # fmt: skip
    assert res.status_code == 200, res.text
    wave = res.json()["records"][rec]["waves"]["V"]
    assert (wave["status"], wave["latency_ms"], wave["amplitude_uv"], wave["corrected_by"]) == (
        "corrected_absent", None, None, "eve")  # fmt: skip
    res = post(client, view, {"target": "threshold", "patient_id": ear["patient_id"], "ear": ear["ear"],
                              "value": None, "no_response": True, "user": "eve"})  # fmt: skip
    assert res.status_code == 200, res.text
    now = next(e for e in res.json()["ears"] if e["key"] == ear["key"])
    assert (now["status"], now["threshold_db"], now["final_response"]) == ("corrected_no_response", None, "no response")
    assert now["response"] == ear["response"]  # the model's call is kept, as the model's
    row = next(r for r in csv_rows(client, view) if r["intensity_db"] and int(float(r["intensity_db"])) == int(
        view["records"][rec]["intensity_db"]) and r["ear"] == ear["ear"])  # fmt: skip
    assert (row["V_status"], row["V_latency_final_ms"], row["V_amplitude_final_uv"], row["V_corrected_by"]) == (
        "corrected_absent", "", "", "eve")  # fmt: skip
    assert row["V_model_latency_ms"] != "" and row["V_presence_prob"] != ""  # the model's reading stays beside it
    assert (row["ear_response"], row["ear_threshold_db"], row["ear_threshold_status"]) == (
        "no response", "", "corrected_no_response")  # fmt: skip
    assert row["ear_response_model"] == ear["response"] and row["ear_threshold_corrected_by"] == "eve"
    text = "\n".join(report_lines(res.json(), ear["patient_id"]))
    assert f"Ear {ear['ear']}: no response up to 80.0 " in text and "* (marked by eve at " in text, text
    assert "wave V: absent* (model " in text and "marked by eve" in text, text
    history = client.get(f"/api/files/{view['file_hash']}/history").json()["corrections"]
    assert [(c["target"], c["mark"]) for c in history[:2]] == [("threshold", "no response"), ("peak", "absent")]
    # the ear's other waves: no final values in an ear without a response (they kept the model's before)
    others = [r for r in csv_rows(client, view) if r["ear"] == ear["ear"]]
    assert {(r[f"{w}_status"], r[f"{w}_latency_final_ms"], r[f"{w}_amplitude_final_uv"]) for r in others
            for w in ("I", "III")} == {("ear_no_response", "", "")}  # fmt: skip
    assert all(r["I_V_final_ms"] == "" for r in others) and any(r["V_model_latency_ms"] != "" for r in others)
    assert "Corrected values (*): 2" in text, text  # the ear's mark and the one peak, not the silenced waves
    # a wave of an ear marked "no response" cannot be moved nor marked (hunt 15 #5); a revert still can (below)
    other = next(i for i in ear["records"] if i != rec)
    for extra in ({"value": 6.0}, {"value": None, "absent": True}):
        res = post(client, view, {"target": "peak", "record": other, "wave": "V", **extra})
        assert res.status_code == 422 and "marked 'no response'" in res.json()["detail"], res.text
    # a revert of the peak leaves it without a final value while the ear stays "no response"
    res = post(client, view, {"target": "peak", "record": rec, "wave": "V", "value": None,
                              "expected_previous": "absent"})  # fmt: skip
    assert res.status_code == 200 and res.json()["records"][rec]["waves"]["V"]["status"] == "ear_no_response"
    # undoing the ear's mark brings the model's values back
    res = post(client, view, {"target": "threshold", "patient_id": ear["patient_id"], "ear": ear["ear"],
                              "value": None, "expected_previous": "no response"})  # fmt: skip
    wave = res.json()["records"][rec]["waves"]["V"]
    assert res.status_code == 200 and (wave["status"], wave["latency_ms"]) == ("model", wave["model_latency_ms"])


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ({"target": "peak", "wave": "V", "absnt": True}, "unknown field 'absnt'"),
        ({"target": "peak", "wave": "V", "no_response": True}, "no_response does not apply to a peak correction"),
        ({"target": "threshold", "absent": True}, "absent does not apply to a threshold correction"),
        ({"target": "peak", "wave": "V", "absent": True, "value": 5.0}, "a mark 'absent' carries no value"),
    ],
)
def test_unknown_keys_and_misplaced_marks_are_refused(
    client: Any, tmp_path: Path, extra: dict[str, Any], words: str
) -> None:
    view = upload(client, tmp_path, 32)
    ear = view["ears"][0]
    body = {"record": ear["records"][0], "patient_id": ear["patient_id"], "ear": ear["ear"], "value": None, **extra}
    res = post(client, view, body)
    assert res.status_code == 422 and words in res.json()["detail"], res.text
    assert client.get(f"/api/files/{view['file_hash']}/history").json()["corrections"] == []  # nothing stored


def test_a_corrected_threshold_makes_the_final_call_a_response_and_keeps_the_models_interval(
    client: Any, tmp_path: Path
) -> None:
    view = upload(client, tmp_path, 33)
    ear = view["ears"][1]
    res = post(client, view, {"target": "threshold", "patient_id": ear["patient_id"], "ear": ear["ear"],
                              "value": 50.0, "user": "bob", "expected_previous": None})  # fmt: skip
    assert res.status_code == 200, res.text
    now = next(e for e in res.json()["ears"] if e["key"] == ear["key"])
    assert (now["status"], now["final_response"], now["response"]) == ("corrected", "response", ear["response"])
    calls = _ear_lines(now, 80.0)[1]
    assert calls.startswith(f"  response* (the expert's threshold); model's call {ear['response']}: "), calls
    row = next(r for r in csv_rows(client, view) if r["ear"] == ear["ear"])
    assert (row["ear_response"], row["ear_response_model"], row["ear_threshold_db"]) == ("response", ear["response"],
                                                                                          "50")  # fmt: skip
    assert row["ear_threshold_sd_db"] == ""  # the final value's SD: the expert gave none
    if ear["interval_90_db"] is not None and not (ear["threshold_above_max_level"] or ear["response"] == "no response"):
        lo, hi = (float(row[f"ear_threshold_model_{b}_db"] or "nan") for b in ("lo", "hi"))  # "": an open bound
        want = [float("nan") if b is None else b for b in ear["interval_90_db"]]
        assert (lo, hi) == pytest.approx(want, abs=1e-4, nan_ok=True)  # the model's interval is not lost


def test_a_correction_from_a_stale_page_is_refused_and_names_who_changed_it(client: Any, tmp_path: Path) -> None:
    view = upload(client, tmp_path, 34)
    rec = view["ears"][0]["records"][1]
    model_v = view["records"][rec]["waves"]["V"]["latency_ms"]
    bob = post(client, view, {"target": "peak", "record": rec, "wave": "V", "value": round(model_v + 0.05, 3),
                              "user": "bob", "expected_previous": None})  # fmt: skip
    assert bob.status_code == 200, bob.text
    # eve's tab still shows the model's value: her correction (or her revert) must not silently replace bob's
    for value in (round(model_v - 0.05, 3), None):
        eve = post(client, view, {"target": "peak", "record": rec, "wave": "V", "value": value, "user": "eve",
                                  "expected_previous": None})  # fmt: skip
        detail = eve.json()["detail"]
        assert eve.status_code == 409 and "changed by bob at " in detail and "since your page loaded" in detail, detail
        assert "reload" in detail and "\n" not in detail
    history = client.get(f"/api/files/{view['file_hash']}/history").json()["corrections"]
    assert [c["user"] for c in history] == ["bob"]
    # after a reload her page shows bob's value, and her correction goes through
    shown = bob.json()["records"][rec]["waves"]["V"]["latency_ms"]
    eve = post(client, view, {"target": "peak", "record": rec, "wave": "V", "value": round(model_v - 0.05, 3),
                              "user": "eve", "expected_previous": shown})  # fmt: skip
    assert eve.status_code == 200, eve.text
    # a stale "no response" page is refused likewise
    ear = view["ears"][0]
    body = {"target": "threshold", "patient_id": ear["patient_id"], "ear": ear["ear"], "user": "bob"}
    assert (
        post(client, view, {**body, "value": None, "no_response": True, "expected_previous": None}).status_code == 200
    )
    stale = post(client, view, {**body, "value": 40.0, "expected_previous": None})
    assert stale.status_code == 409 and "(to no response)" in stale.json()["detail"], stale.text


def test_report_lines_carry_the_files_warnings_stimulus_and_rate_wrapped(client: Any, tmp_path: Path) -> None:
    from matplotlib.figure import Figure

    view = upload(client, tmp_path, 35)
    long = "an out-of-domain note " + "that goes on and on " * 20 + "END"
    view["warnings"] = [*view["warnings"], long, "2 ear(s) hold more than one stimulus rate"]
    pid = view["ears"][0]["patient_id"]
    lines = report_lines(view, pid)
    assert all(len(line) <= LINE_CHARS for line in lines), [len(line) for line in lines]
    text = " ".join(line.strip() for line in lines)
    for warning in view["warnings"]:
        assert " ".join(warning.split()) in text, warning  # every warning the page shows, wrapped, not cut
    rates = {r["stimulus_rate_hz"] for r in view["records"]}
    assert "stimulus rate " + " and ".join(f"{v:g}" for v in sorted(rates)) + " /s" in text, text
    ax = Figure().add_subplot()
    _waterfall(ax, view, view["ears"][0])
    assert [t.get_text() for t in ax.texts if t.get_text().endswith(" µV")], "no µV scale bar"
    ax = Figure().add_subplot()
    _latency_intensity(ax, view, view["ears"][0])
    lo, hi = ax.get_ylim()
    assert lo <= 1.0 and hi >= 8.0, (lo, hi)  # the page's fixed scale, not an autoscaled sliver
    assert np.isfinite([lo, hi]).all()


def test_a_wide_csv_without_ages_is_read_at_the_forms_age_and_messages_name_no_cli_flags(
    client: Any, tmp_path: Path
) -> None:
    cohort = make_toy_cohort(n_patients=1, seed=36)
    path = write_wide_csv(cohort, tmp_path / "no_age.csv", force=True)
    rows = list(csv.reader(io.StringIO(path.read_text())))
    at = rows[0].index("age_years")
    data = "\n".join(",".join(c for k, c in enumerate(r) if k != at) for r in rows).encode() + b"\n"
    res = client.post("/api/analyze", files={"file": ("no_age.csv", data)})
    detail = res.json()["detail"]
    assert res.status_code == 400 and "field 'age_years', header: required column missing" in detail, detail
    assert "--age" not in detail and "row 0" not in detail and "the form's Age fills a missing" in detail, detail
    res = client.post("/api/analyze", files={"file": ("no_age.csv", data)}, data={"age_years": "0.5"})
    assert res.status_code == 200, res.text
    assert {r["age_years"] for r in res.json()["records"]} == {0.5}
    assert any("no age_years column: read at the form's Age (0.5 years)" in w for w in res.json()["warnings"])
    binary = bytes(range(256)) * 8
    res = client.post("/api/analyze", files={"file": ("scan.csv", binary)})
    assert res.status_code in (400, 422) and "not a text file" in res.json()["detail"], res.text


def test_the_out_of_domain_warning_points_at_the_file_not_at_cli_flags() -> None:
    from abrnet.viewer.form import viewer_text

    warning = ("x.csv: 3 of 3 records out of the model's domain (species mouse); predictions are extrapolations "
               "(pass --species/--stimulus/--level-unit if the file is wrong; --strict refuses)")  # fmt: skip
    text = viewer_text(warning)
    assert "--" not in text and "check the file's species, stimulus and level unit" in text, text
    # the viewer calls the Python API, whose line names keywords (`domain_warnings` without the CLI's names)
    from abrnet.inference.domain import domain_warnings

    (python,) = domain_warnings(np.array(["species: mouse"]), "x.csv")
    text = viewer_text(python)
    assert "=..." not in text and "check the file's species, stimulus and level unit" in text, text


def test_the_viewer_strips_the_out_of_domain_hint_the_cli_writes_now() -> None:
    """The viewer's spelling of CLI predict's hint (`CLI_DOMAIN_NAMES`, below the CLI so the viewer may import it)
    is the one the CLI writes: its flags as Typer declares them, and the line `domain_warnings` gives with the names
    predict passes. Why: the viewer once kept a literal copy of that sentence, which a renamed flag would have left
    behind, putting CLI flags in front of a browser user."""
    import typer.main

    from abrnet.cli.common import option_names
    from abrnet.cli.main import app
    from abrnet.cli.model_options import READ_OPTIONS
    from abrnet.inference.domain import domain_warnings
    from abrnet.inference.option_names import CLI_DOMAIN_NAMES
    from abrnet.viewer.form import DOMAIN_WORDS, viewer_text

    predict = typer.main.get_command(app).commands["predict"]  # type: ignore[attr-defined]
    declared = {p.name: p.opts[0] for p in predict.params if p.name in CLI_DOMAIN_NAMES}
    assert declared == dict(CLI_DOMAIN_NAMES)
    cli_names = option_names(READ_OPTIONS, strict="--strict")  # what `abrnet predict` hands the API
    assert {key: cli_names[key] for key in CLI_DOMAIN_NAMES} == dict(CLI_DOMAIN_NAMES)
    (line,) = domain_warnings(np.array(["species: mouse"]), "x.csv", cli_names)
    assert "--strict refuses" in line, line
    text = viewer_text(line)
    assert "--" not in text and text.endswith(f"extrapolations {DOMAIN_WORDS}"), text
