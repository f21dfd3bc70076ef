"""Bootstrap intervals: contain the estimate, resample patients (not records), all of them on 10k records."""

from __future__ import annotations

import numpy as np
import pytest

from abrnet.metrics.task_metrics import BOOTSTRAP_PATHS, compute_metrics
from tests.test_evaluation_toy import flat_predictions, make_cohort, noisy_predictions, tiny_cohort

NAN = np.nan


def _get(d: dict, path: str) -> object:
    for part in path.split("."):
        d = d[part]
    return d


def test_intervals_contain_point_estimates() -> None:
    from abrnet.series.classifier import fit_series_classifier

    fit = make_cohort(n_patients=25, seed=5)  # other ears fit the series stage (with its blend: every path exists)
    series = fit_series_classifier(noisy_predictions(fit, noise=2.0, seed=6), fit, source="toy")
    data = make_cohort(n_patients=25, seed=4)
    pred = noisy_predictions(data)
    m = compute_metrics(pred, data, split="test", n_bootstrap=200, seed=0, series_model=series)
    assert set(m["intervals"]) == set(BOOTSTRAP_PATHS)
    for path in BOOTSTRAP_PATHS:
        lo, hi = m["intervals"][path]
        point = _get(m, path)
        assert lo <= point <= hi, path
        if point == 1.0 and lo == hi:  # a perfect score (the series classifier on these toy ears) has no spread
            continue
        assert lo < hi, path  # 25 patients with noisy predictions: a real spread


def _series(n_patients: int, copies: int) -> tuple:
    """Each patient's record repeated `copies` times (identical truth and prediction)."""
    rng = np.random.default_rng(3)
    lat_v = rng.uniform(5.0, 7.0, n_patients)
    hat_v = lat_v + rng.normal(0, 0.3, n_patients)
    cls = rng.integers(0, 3, n_patients)
    cls_hat = np.where(rng.random(n_patients) < 0.7, cls, (cls + 1) % 3)
    thr = rng.uniform(10, 70, n_patients)
    thr_hat = thr + rng.normal(0, 8, n_patients)
    rep = lambda a: np.repeat(a, copies, axis=0)
    lat = np.full((n_patients, 3), NAN, np.float32)
    lat[:, 2] = lat_v
    pred_lat = np.full((n_patients, 3), 3.0)
    pred_lat[:, 2] = hat_v
    prob = np.full((n_patients, 5), 0.05)
    prob[np.arange(n_patients), cls_hat] = 0.8
    data = tiny_cohort(
        n_patients * copies,
        patient_id=rep(np.array([f"P{i:03d}" for i in range(n_patients)])),
        latency_ms=rep(lat),
        class_id=rep(cls),
        threshold_db=rep(thr.astype(np.float32)),
    )
    pred = flat_predictions(
        n_patients * copies, latency_ms=rep(pred_lat), class_prob=rep(prob), threshold_db=rep(thr_hat)
    )
    return data, pred


def test_intervals_resample_patients_not_records() -> None:
    data_1, pred_1 = _series(12, 1)
    data, pred = _series(12, 25)
    once = compute_metrics(pred_1, data_1, split="t", n_bootstrap=300, seed=7)
    many = compute_metrics(pred, data, split="t", n_bootstrap=300, seed=7)
    for path in ("peaks.V.latency_r2", "peaks.V.latency_mae_ms", "classification.macro_f1", "threshold.mae_db"):
        assert _get(once, path) == pytest.approx(_get(many, path))
        # patient resampling: 25 identical copies carry no extra information -> exactly the same interval
        np.testing.assert_allclose(once["intervals"][path], many["intervals"][path], rtol=1e-9)
    # a record-level bootstrap would wrongly shrink the interval ~sqrt(25) = 5 times
    err = np.abs(pred.threshold_db - data.threshold_db)
    rng = np.random.default_rng(0)
    record_level = [err[rng.integers(0, err.size, err.size)].mean() for _ in range(300)]
    rec_width = np.subtract(*np.percentile(record_level, [97.5, 2.5]))
    lo, hi = many["intervals"]["threshold.mae_db"]
    assert hi - lo > 3 * rec_width


def test_each_resample_keeps_every_stratum_s_patient_count() -> None:
    """Patients are drawn within their stratum (the split's: `data.splits.patient_strata`), so a resample has as many
    of each stratum as the split, and its patients are drawn from that stratum alone."""
    from abrnet.metrics.builder import Builder, Undefined, bootstrap_intervals

    strata = np.array([0, 0, 0, 0, 0, 1, 1, 1, 4, -1])  # (P,) -1: a patient without a class label
    b = Builder(strata.size)
    for s in np.unique(strata):
        b.add(f"n{s}", lambda counts, cols=strata == s: counts[:, cols].sum(axis=1), "never")
    b.add("first", lambda counts: counts[:, 0], "never")  # one patient's multiplicity: varies
    paths = (*(f"n{s}" for s in np.unique(strata)), "first")
    out = bootstrap_intervals(b, paths, dict.fromkeys(paths, 1.0), strata, 200, 0, Undefined())
    for s in np.unique(strata):
        assert out[f"n{s}"] == [float((strata == s).sum())] * 2
    lo, hi = out["first"]
    assert lo == 0 and hi >= 2


def test_single_patient_has_no_interval() -> None:
    # records differ, but there is one patient: resampling patients cannot change anything, and a zero-width
    # interval around the figure would read as certainty
    data = tiny_cohort(6, patient_id=np.array(["P0"] * 6), threshold_db=np.linspace(10, 60, 6).astype(np.float32))
    pred = flat_predictions(6, threshold_db=np.array([12.0, 25.0, 28.0, 41.0, 49.0, 70.0]))
    m = compute_metrics(pred, data, split="t", n_bootstrap=100)
    assert m["threshold"]["mae_db"] == pytest.approx(3.5)  # errors 2, 5, 2, 1, 1, 10
    assert m["intervals"]["threshold.mae_db"] is None
    assert m["undefined"]["intervals.threshold.mae_db"].startswith("one patient")


def test_bootstrap_is_seeded_and_optional() -> None:
    data = make_cohort(n_patients=8, seed=5)
    pred = noisy_predictions(data)
    a = compute_metrics(pred, data, split="t", n_bootstrap=50, seed=1)["intervals"]
    b = compute_metrics(pred, data, split="t", n_bootstrap=50, seed=1)["intervals"]
    c = compute_metrics(pred, data, split="t", n_bootstrap=50, seed=2)["intervals"]
    assert a == b
    assert a != c
    assert compute_metrics(pred, data, split="t", n_bootstrap=0)["intervals"] == {}


def test_interval_undefined_when_point_undefined() -> None:
    data = tiny_cohort(4)  # nothing labelled
    m = compute_metrics(flat_predictions(4), data, split="t", n_bootstrap=20)
    assert m["intervals"]["peaks.V.latency_r2"] is None
    assert m["undefined"]["intervals.peaks.V.latency_r2"] == "point estimate undefined"


def test_bootstrap_200_on_10k_records_gives_every_interval() -> None:
    """A large split (2,500 ears) gets every interval; how long it takes is benchmarks/evaluation_speed.py's."""
    data = make_cohort(n_patients=1250, levels=(80.0, 60.0, 40.0, 20.0), seed=6)
    assert data.n_records == 10_000
    pred = noisy_predictions(data)
    m = compute_metrics(pred, data, split="t", n_bootstrap=200)
    assert all(v is not None for v in m["intervals"].values())
