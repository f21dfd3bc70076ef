"""The fast `abrnet predict` path gives the same per-record and per-ear outputs as the straightforward one.

Why: issue 12 made the results CSV writer format a column at a time and grouped the per-ear / per-patient clinical
tables with one sort instead of a mask per key; the network runs batched under `inference_mode`. Each is compared
here with the plain implementation it replaced, on a tiny untrained model and a small simulated cohort.

Tolerances: the CSV text and the grouped tables are exact (same floats, same order of operations); the batched
network outputs match a one-record-at-a-time `no_grad` forward within atol 1e-4, rtol 1e-4 (float32 batched vs
unbatched BLAS summation order).
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from abrnet.constants import PRESENCE_THRESHOLD, WAVES
from abrnet.data.normalizer import Normalizer
from abrnet.data.schema import ABRCohort
from abrnet.data.simulate import SimulationConfig, simulate_cohort
from abrnet.inference.clinical_columns import clinical_ear_columns, patient_columns
from abrnet.inference.predictor import outputs_to_numpy, predict_cohort
from abrnet.inference.result_tables import PredictionReport, write_columns_csv
from abrnet.metrics.clinical import ear_numbers, interaural_v_latencies, peak_to_trough
from abrnet.models import OptimizedHierarchicalUNet
from abrnet.models.config import ModelConfig
from abrnet.models.predictions import Predictions

ATOL = RTOL = 1e-4  # batched inference_mode forward vs one record at a time


@pytest.fixture(scope="module")
def cohort() -> ABRCohort:
    return simulate_cohort(SimulationConfig(n_patients=6), seed=7)


@pytest.fixture(scope="module")
def tiny() -> OptimizedHierarchicalUNet:
    torch.manual_seed(0)
    return OptimizedHierarchicalUNet(ModelConfig.from_preset("tiny")).eval()


def _reference_cell(v: Any) -> str:
    """The per-cell rule the writer used before (kept here as the reference)."""
    if isinstance(v, (str, np.str_)):
        return str(v)
    x = float(v)
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    return "" if math.isnan(x) else format(x, ".9g")


def _reference_csv(cols: dict[str, np.ndarray]) -> str:
    buf = io.StringIO(newline="")
    w = csv.writer(buf)
    w.writerow(list(cols))
    for i in range(len(next(iter(cols.values())))):
        w.writerow([_reference_cell(v[i]) for v in cols.values()])
    return buf.getvalue()


def test_csv_writer_text_identical(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 50
    f32 = rng.normal(size=n).astype(np.float32) * 1e3
    f32[[1, 5]] = np.nan
    f32[7] = np.inf
    cols = {
        "patient_id": np.array([f"p,{i}" if i % 7 == 0 else f'p"{i}' for i in range(n)]),
        "f32": f32,
        "f64": rng.normal(size=n) / 3.0,
        "int": np.arange(n, dtype=np.int64) - 10,
        "bool": rng.random(n) > 0.5,
    }
    out = write_columns_csv(cols, tmp_path / "r.csv")
    assert out.read_bytes().decode("utf-8") == _reference_csv(cols)


def _random_predictions(n: int, seed: int = 0) -> Predictions:
    rng = np.random.default_rng(seed)
    f = lambda *shape: rng.random(shape, dtype=np.float32)
    return Predictions(
        peak_presence_prob=f(n, 3), latency_ms=f(n, 3) * 8 + 1, latency_sd_ms=f(n, 3), amplitude_uv=f(n, 3),
        amplitude_sd_uv=f(n, 3), class_prob=rng.dirichlet(np.ones(5), n).astype(np.float32),
        threshold_db=f(n) * 80, threshold_sd_db=f(n), p_no_response=f(n),
    )  # fmt: skip


def _assert_same_table(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert list(a) == list(b)
    for k in a:
        x, y = np.asarray(a[k]), np.asarray(b[k])
        if x.dtype.kind == "f":
            np.testing.assert_array_equal(x, y, err_msg=k)  # NaN == NaN here
        else:
            assert x.tolist() == y.tolist(), k


def test_ear_and_patient_tables_identical(cohort: ABRCohort) -> None:
    pred = _random_predictions(cohort.n_records)
    lat = np.where(pred.peak_presence_prob >= PRESENCE_THRESHOLD, pred.latency_ms, np.nan).astype(np.float64)
    amp, _ = peak_to_trough(cohort.signals, cohort.time_ms, lat)
    level = cohort.static_column("intensity_db").astype(np.float64)
    keys = cohort.ear_key.astype(str)
    ear_keys = np.unique(keys)[::-1]  # any order of the requested ears
    rows = [ear_numbers(level[keys == k], lat[keys == k], amp[keys == k]) for k in ear_keys]
    ref = {name: np.array([r[name] for r in rows]) for name in rows[0]}
    _assert_same_table(clinical_ear_columns(pred, cohort, ear_keys), ref)

    lat_v, pid = lat[:, WAVES.index("V")], cohort.patient_id.astype(str)
    ref_p: dict[str, list[Any]] = {k: [] for k in ("patient_id", "level_db", "V_latency_L_ms", "V_latency_R_ms")}
    ref_p["interaural_V_ms"] = []
    for p in np.unique(pid):
        lm, rm = (pid == p) & (cohort.ear == "L"), (pid == p) & (cohort.ear == "R")
        if not (lm.any() and rm.any()):
            continue
        top, v_l, v_r = interaural_v_latencies(level[lm], lat_v[lm], level[rm], lat_v[rm])
        d = v_r - v_l
        ref_p["patient_id"].append(p)
        ref_p["level_db"].append(top)
        ref_p["interaural_V_ms"].append(d)
        for side, m in (("L", lm), ("R", rm)):  # the mean of the ear's replicates with V at that level
            ref_p[f"V_latency_{side}_ms"].append(np.nanmean(lat_v[m][level[m] == top]) if np.isfinite(top) else np.nan)
    got = patient_columns(pred, cohort)
    assert len(got["patient_id"]) > 0
    assert len(set(got.pop("stimulus").tolist())) == 1  # one stimulus per patient: one row each, as before
    assert ((got.pop("note") == "") == np.isfinite(got["interaural_V_ms"])).all()  # a note says why a row is blank
    _assert_same_table(got, {k: np.array(ref_p[k]) for k in got})


def test_batched_network_matches_one_record_at_a_time(cohort: ABRCohort, tiny: OptimizedHierarchicalUNet) -> None:
    model = tiny
    norm = Normalizer.fit(cohort)
    fast = predict_cohort(model, cohort, norm, batch_size=16, with_denoise=False, with_reconstruction=False)
    x = torch.from_numpy(norm.recording(cohort.signals))
    s = torch.from_numpy(norm.static(cohort.static))
    model.set_attention_monitoring(0)
    with torch.no_grad():
        per = [outputs_to_numpy(model(x[i : i + 1], s[i : i + 1], torch.zeros(1, dtype=torch.long)))
               for i in range(cohort.n_records)]  # fmt: skip
    for name, value in {k: np.concatenate([p[k] for p in per]) for k in per[0]}.items():
        np.testing.assert_allclose(getattr(fast, name), value, atol=ATOL, rtol=RTOL, err_msg=name)

    # the whole per-record table (what `abrnet predict` writes) from both
    ref_pred = Predictions(**{k: np.concatenate([p[k] for p in per]) for k in per[0]})
    a = PredictionReport(cohort=cohort, predictions=fast).columns()
    b = PredictionReport(cohort=cohort, predictions=ref_pred).columns()
    assert list(a) == list(b)
    for k in a:
        if a[k].dtype.kind == "f":
            np.testing.assert_allclose(a[k], b[k], atol=ATOL, rtol=RTOL, err_msg=k)
        elif k != "class_pred":  # an argmax may flip on a near tie; the probabilities are checked above
            assert a[k].tolist() == b[k].tolist(), k
