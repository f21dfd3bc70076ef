"""An intensity series is one patient's ear under one stimulus (`abrnet.data.series_key`), not the ear alone.

Why: a mouse file with 8 kHz and 16 kHz tone pips at one ear (a normal lab export) got one threshold for both
frequencies and only a warning said so; an audiologist, or EPL's ABR peak analysis, reads one threshold per frequency.
The key stays the plain 'patient/ear' where an ear holds one stimulus (every simulated cohort, saved viewer sessions),
and an ear that mixes only stimulus rates stays one series, with the warning.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi import HTTPException

from abrnet.data.metadata import metadata_columns
from abrnet.data.schema import ABRCohort
from abrnet.data.series_key import series_keys
from abrnet.inference.inputs import mixed_series_warnings
from abrnet.inference.result_plots import plot_paths
from abrnet.inference.result_tables import PredictionReport
from abrnet.series.per_ear import aggregate_ears
from abrnet.viewer.analysis import build_payload, with_corrections
from abrnet.viewer.correcting import CorrectionIn, correction_from
from abrnet.viewer.export import export_rows
from abrnet.viewer.report import report_lines
from abrnet.viewer.store import Store
from tests.test_predict_tables import _predictions

LEVELS = (80.0, 60.0, 40.0, 20.0)
K8, K16 = "tone_pip 8000 Hz", "tone_pip 16000 Hz"
V_FROM_DB = {8000.0: 40.0, 16000.0: 60.0}  # the lowest level with a wave V per frequency: two thresholds


def _mouse(right: tuple[float, ...] = (8000.0,)) -> ABRCohort:
    """Mouse M1: left ear 8 and 16 kHz tone pips at 80–20 dB SPL, right ear 8 kHz only (12 records, no labels), or
    the tone frequencies `right` names."""
    plan = [("L", f, lv) for f in (8000.0, 16000.0) for lv in LEVELS] + [("R", f, lv) for f in right for lv in LEVELS]
    rng = np.random.default_rng(0)
    cohort = ABRCohort.from_signals(
        rng.normal(0.0, 0.05, (len(plan), 200)),  # (N, T) µV
        age_years=0.3,
        intensity_db=np.array([lv for *_, lv in plan]),
        stimulus_rate_hz=21.1,
        patient_id="M1",
        ear=np.array([e for e, *_ in plan]),
    )
    freq = np.array([f for _, f, _ in plan])
    cohort.extras.update(metadata_columns(cohort.n_records, level_unit="dB SPL", stimulus="tone_pip",
                                          stimulus_freq_hz=freq, species="mouse"))  # fmt: skip
    return cohort


def _report(cohort: ABRCohort) -> PredictionReport:
    """Wave V present from 40 dB up at 8 kHz and from 60 dB up at 16 kHz (`V_FROM_DB`), latency 6 ms everywhere."""
    freq = cohort.extras["stimulus_freq_hz"]
    level = cohort.static_column("intensity_db")
    p_v = np.where(level >= np.vectorize(V_FROM_DB.get)(freq), 0.95, 0.02).astype(np.float32)  # (N,)
    pred = _predictions(cohort, p_v)
    return PredictionReport(cohort=cohort, predictions=pred, ears=aggregate_ears(pred, cohort))


def _view(report: PredictionReport, corrections: list[Any] | None = None) -> dict[str, Any]:
    payload = build_payload(report, file_hash="f" * 64, filename="mouse.tsv", source="/srv/mouse.tsv",
                            checkpoint="best.ckpt", model_sha256="a" * 64)  # fmt: skip
    return with_corrections(payload, corrections or [], corrections or [])


def test_two_tone_frequencies_at_one_ear_are_two_series_with_their_own_thresholds() -> None:
    cohort = _mouse()
    keys = series_keys(cohort)
    assert sorted(set(keys.tolist())) == [f"M1/L, {K16}", f"M1/L, {K8}", "M1/R"]  # one stimulus: the plain ear key
    series = _report(cohort).series()
    assert series is not None
    named = zip(series["patient_id"], series["ear"], series["stimulus"], strict=True)
    rows = {(p, e, s): k for k, (p, e, s) in enumerate(named)}
    assert sorted(rows) == [("M1", "L", K16), ("M1", "L", K8), ("M1", "R", K8)]
    assert series["threshold_db"][rows["M1", "L", K8]] == 40.0
    assert series["threshold_db"][rows["M1", "L", K16]] == 60.0  # not one threshold pooled over both frequencies
    assert series["threshold_db"][rows["M1", "R", K8]] == 40.0
    assert series["n_records"].tolist() == [4, 4, 4]
    assert not series["threshold_at_min_level"].any()  # each series' own lowest level (20 dB), not the ear's


def test_patients_compare_the_ears_under_the_same_stimulus() -> None:
    """patients.csv: one row per patient and stimulus recorded at both ears (M1: 8 kHz only); the left ear's 16 kHz
    series is not compared with the right ear's 8 kHz one."""
    patients = _report(_mouse()).patients()
    assert patients is not None
    assert patients["patient_id"].tolist() == ["M1"] and patients["stimulus"].tolist() == [K8]
    assert patients["level_db"].tolist() == [80.0] and patients["interaural_V_ms"].tolist() == [0.0]


def test_plots_are_drawn_per_series() -> None:
    paths = plot_paths(_mouse(), Path("plots"), series=True)
    assert sorted(paths) == [f"M1/L, {K16}", f"M1/L, {K8}", "M1/R"]
    assert len({p for v in paths.values() for p in v.values()}) == 6  # two figures each, no file shared


def test_the_viewer_shows_and_exports_each_series_apart() -> None:
    view = _view(_report(_mouse()))
    ears = {(e["ear"], e["stimulus"]): e for e in view["ears"]}
    assert sorted(ears) == [("L", K16), ("L", K8), ("R", K8)]
    assert [ears["L", K8]["model_threshold_db"], ears["L", K16]["model_threshold_db"]] == [40.0, 60.0]
    assert ears["L", K16]["series_stimulus"] == K16 and ears["R", K8]["series_stimulus"] == ""  # "": the ear's only
    assert ears["R", K8]["key"] == "M1/R" and ears["L", K8]["ear_key"] == "M1/L"
    for e in view["ears"]:  # each series lists its own records only
        assert {view["records"][i]["ear_key"] for i in e["records"]} == {e["key"]} and len(e["records"]) == 4
    cells = {(r["ear"], r["stimulus"], r["ear_threshold_db"]) for r in export_rows(view)}
    assert cells == {("L", K8, 40.0), ("L", K16, 60.0), ("R", K8, 40.0)}
    lines = "\n".join(report_lines(view, "M1"))
    assert f"Ear L, {K8}: threshold 40.0" in lines and f"Ear L, {K16}: threshold 60.0" in lines
    assert "Ear R: threshold 40.0" in lines  # an ear with one stimulus reads as before


def _body(**fields: Any) -> CorrectionIn:
    return CorrectionIn(**{"target": "threshold", "patient_id": "M1", "ear": "L", "age_years": 0.3, **fields})


def test_a_reviewer_corrects_one_series_of_an_ear(tmp_path: Path) -> None:
    """A threshold correction names its series; one naming only an ear with two series is refused (422), and the
    stored correction (its ``stimulus`` kept by the store) changes that series alone."""
    report = _report(_mouse())
    payload = _view(report)
    model_id = ("a" * 64, "best.ckpt")
    with pytest.raises(HTTPException) as refused:
        correction_from(_body(value=50.0), payload, payload, model_id)
    assert refused.value.status_code == 422 and "holds 2 series" in refused.value.detail
    corr = correction_from(_body(value=70.0, stimulus=K16), payload, payload, model_id)
    assert corr.stimulus == K16 and corr.model_value == 60.0
    right = correction_from(_body(value=30.0, ear="R"), payload, payload, model_id)  # one series: no stimulus needed
    assert right.stimulus == ""
    store = Store(tmp_path)
    store.register("f" * 64, Path(__file__), age_years=None, user="dr-a")
    for c in (corr, right):
        store.add_correction("f" * 64, c, file_age=None)
    assert [c.stimulus for c in store.history("f" * 64)] == [K16, ""]
    view = _view(report, store.current("f" * 64))
    final = {(e["ear"], e["stimulus"]): (e["threshold_db"], e["status"]) for e in view["ears"]}
    assert final == {("L", K8): (40.0, "model"), ("L", K16): (70.0, "corrected"), ("R", K8): (30.0, "corrected")}


def test_a_simulated_cohort_keeps_its_ear_keys() -> None:
    """Every simulated ear is one click series: its series key is its ear key, so the evaluation does not move."""
    from abrnet.data.simulate import SimulationConfig, simulate_cohort

    cohort = simulate_cohort(SimulationConfig(n_patients=6), seed=3)
    assert series_keys(cohort).tolist() == cohort.ear_key.astype(str).tolist()
    pred = _predictions(cohort, np.full(cohort.n_records, 0.5, np.float32))
    assert aggregate_ears(pred, cohort).ear_key.tolist() == np.unique(cohort.ear_key.astype(str)).tolist()


def test_an_ear_mixing_only_rates_stays_one_series_with_the_warning() -> None:
    """Rates stay pooled within a series (a click series may mix rates); the warning names the rate mix only."""
    cohort = _mouse().subset(np.arange(4))  # M1/L, 8 kHz, 80–20 dB
    cohort.static[2:, 2] = 51.1  # the two softest levels at another rate
    assert set(series_keys(cohort).tolist()) == {"M1/L"}
    (line,) = mixed_series_warnings(cohort)
    assert line.startswith("1 series hold more than one stimulus rate (M1/L: ")
    assert f"{K8} at 21.1/s, {K8} at 51.1/s" in line
    series = _report(cohort).series()
    assert series is not None and series["n_records"].tolist() == [4] and series["stimulus"].tolist() == [K8]
    assert mixed_series_warnings(_mouse()) == []  # two stimuli at one ear: two series, nothing pooled


def test_an_unstated_stimulus_joins_the_ears_one_stated_stimulus() -> None:
    """Hunt 15 #3: an ear whose soft rows say click and whose loud rows leave the stimulus empty (two files merged)
    was split into a click series read "no response" and an "unknown" one read "response". Unstated rows now join
    the ear's one stated stimulus; beside two stated stimuli they stay a series of their own."""
    cohort = _mouse()
    left8 = np.flatnonzero((cohort.ear == "L") & (cohort.extras["stimulus_freq_hz"] == 8000.0))
    stimulus = cohort.extras["stimulus"].astype(object)
    stimulus[(cohort.ear == "R") & (cohort.static_column("intensity_db") >= 60)] = "unknown"  # R: 8 kHz + unstated
    stimulus[left8[:2]] = "unknown"  # L: 8 and 16 kHz stated, two rows unstated
    cohort.extras["stimulus"] = stimulus.astype(str)
    freq = cohort.extras["stimulus_freq_hz"].copy()
    freq[stimulus == "unknown"] = np.nan
    cohort.extras["stimulus_freq_hz"] = freq
    keys = series_keys(cohort)
    assert set(keys[cohort.ear == "R"].tolist()) == {"M1/R"}  # one series: the unstated rows are its 8 kHz ones
    assert set(keys[cohort.ear == "L"].tolist()) == {f"M1/L, {K8}", f"M1/L, {K16}", "M1/L, unknown"}
    # the series table names the joined series by its stated stimulus, though its first (loudest) record states none
    ears = aggregate_ears(_predictions(cohort, np.full(cohort.n_records, 0.5, np.float32)), cohort)
    assert dict(zip(ears.ear_key.tolist(), ears.stimulus.tolist(), strict=True))["M1/R"] == K8
