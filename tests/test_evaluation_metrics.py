"""Point metrics of `compute_metrics` against hand-computed values, and the never-NaN contract."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score, f1_score, r2_score

from abrnet.metrics.task_metrics import compute_metrics
from tests.test_evaluation_toy import flat_predictions, make_cohort, noisy_predictions, tiny_cohort

NAN = np.nan


def _latency_v(values: list[float]) -> np.ndarray:
    lat = np.full((len(values), 3), NAN, np.float32)
    lat[:, 2] = values
    return lat


def _pred_latency_v(values: list[float]) -> np.ndarray:
    lat = np.full((len(values), 3), 3.0)
    lat[:, 2] = values
    return lat


def test_peak_metrics_match_hand_computation() -> None:
    # 4 labelled wave-V records + 2 unlabelled ones whose wild predictions must be ignored.
    data = tiny_cohort(6, latency_ms=_latency_v([5.0, 6.0, 7.0, 8.0, NAN, NAN]))
    presence = np.full((6, 3), 0.1)
    presence[:, 2] = [0.9, 0.4, 0.8, 0.7, 0.6, 0.1]
    pred = flat_predictions(
        6, latency_ms=_pred_latency_v([5.5, 6.0, 6.5, 8.05, 25.0, 0.0]), peak_presence_prob=presence
    )
    v = compute_metrics(pred, data, split="t", n_bootstrap=0)["peaks"]["V"]
    # errors 0.5, 0, -0.5, 0.05: SS_res = 0.5025, SS_tot = 5 (mean 6.5)
    assert v["latency_r2"] == pytest.approx(1 - 0.5025 / 5)
    assert v["latency_mae_ms"] == pytest.approx((0.5 + 0 + 0.5 + 0.05) / 4)
    assert v["within_0_1_ms"] == pytest.approx(0.5)  # 0.0 and 0.05 are within, ±0.5 are not
    # presence: truth 1,1,1,1,0,0 vs >0.5 -> 1,0,1,1,1,0: TP 3, FP 1, FN 1 -> F1 = 6/8
    assert v["presence_f1"] == pytest.approx(0.75)
    assert v["n_labelled"] == 4


def test_split_without_wave_I_is_none_with_reason_and_strict_json() -> None:
    data = tiny_cohort(4, latency_ms=_latency_v([5.0, 6.0, 7.0, 8.0]), amplitude_uv=_latency_v([0.1, 0.2, 0.3, 0.4]))
    m = compute_metrics(flat_predictions(4), data, split="test", n_bootstrap=20)
    wave_i = m["peaks"]["I"]
    for key in ("latency_r2", "latency_mae_ms", "within_0_1_ms", "amplitude_r2", "presence_f1"):
        assert wave_i[key] is None
        assert f"peaks.I.{key}" in m["undefined"]
    assert "wave I" in m["undefined"]["peaks.I.latency_r2"]
    assert m["calibration"]["latency_I_90"] is None
    # no classes, thresholds or reconstructions either: all None, all explained
    assert m["classification"]["macro_f1"] is None and "classification.macro_f1" in m["undefined"]
    assert m["signal"]["correlation"] is None and "no reconstruction" in m["undefined"]["signal.correlation"]
    text = json.dumps(m, allow_nan=False)  # raises on any NaN/inf
    assert "NaN" not in text and "Infinity" not in text
    assert m["peaks"]["V"]["latency_r2"] is not None  # wave V is labelled, so it is defined


def test_constant_truth_gives_zero_variance_reason() -> None:
    data = tiny_cohort(3, latency_ms=_latency_v([5.0, 5.0, 5.0]))
    m = compute_metrics(flat_predictions(3), data, split="t", n_bootstrap=0)
    assert m["peaks"]["V"]["latency_r2"] is None
    assert "zero variance" in m["undefined"]["peaks.V.latency_r2"]
    assert m["peaks"]["V"]["latency_mae_ms"] == pytest.approx(0.0)  # MAE stays defined


def test_whole_split_differs_from_per_batch_average() -> None:
    truth = [5.0, 6.0, 7.0, 8.0, NAN, NAN]
    hat = [5.5, 5.5, 7.5, 7.5, 5.0, 5.0]
    data = tiny_cohort(6, latency_ms=_latency_v(truth))
    m = compute_metrics(flat_predictions(6, latency_ms=_pred_latency_v(hat)), data, split="t", n_bootstrap=0)
    # whole split: SS_res = 4 * 0.25 = 1, SS_tot = 5 -> 0.8
    assert m["peaks"]["V"]["latency_r2"] == pytest.approx(0.8)
    # naive per-batch averaging over batches of 2: R² = 0 in each labelled batch, NaN in the unlabelled one
    per_batch = []
    for b in range(3):
        t, h = np.array(truth[2 * b : 2 * b + 2]), np.array(hat[2 * b : 2 * b + 2])
        ok = np.isfinite(t)
        per_batch.append(r2_score(t[ok], h[ok]) if ok.sum() >= 2 else NAN)
    assert np.isnan(np.mean(per_batch))
    assert np.nanmean(per_batch) == pytest.approx(0.0)
    assert m["peaks"]["V"]["latency_r2"] != pytest.approx(np.nanmean(per_batch))


def test_classification_by_hand_and_against_sklearn() -> None:
    truth = np.array([0, 0, 1, 1, 2, 2, -1])
    hat = np.array([0, 1, 1, 1, 2, 0, 4])  # last record has unknown class: ignored
    prob = np.full((7, 5), 0.05)
    prob[np.arange(7), hat] = 0.8
    m = compute_metrics(flat_predictions(7, class_prob=prob), tiny_cohort(7, class_id=truth), split="t", n_bootstrap=0)
    c = m["classification"]
    # confusion rows [1,1,0],[0,2,0],[1,0,1]: F1 = 2/4, 4/5, 2/3
    assert c["per_class_f1"]["NORMAL"] == pytest.approx(0.5)
    assert c["per_class_f1"]["NEUROPATHY"] == pytest.approx(0.8)
    assert c["per_class_f1"]["SNHL"] == pytest.approx(2 / 3)
    assert c["macro_f1"] == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)
    assert c["balanced_accuracy"] == pytest.approx((0.5 + 1.0 + 0.5) / 3)
    assert c["confusion_matrix"][:3] == [[1, 1, 0, 0, 0], [0, 2, 0, 0, 0], [1, 0, 1, 0, 0]]
    assert np.asarray(c["confusion_matrix"]).shape == (5, 5)
    # classes without support: None with a reason, and excluded from the macro average
    assert c["per_class_f1"]["TOTAL"] is None and c["per_class_f1"]["CONDUCTIVE"] is None
    assert "support 0" in m["undefined"]["classification.per_class_f1.TOTAL"]
    t, h = truth[:6], hat[:6]
    assert c["macro_f1"] == pytest.approx(f1_score(t, h, labels=[0, 1, 2], average="macro"))
    assert c["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(t, h))


def test_threshold_metrics_use_only_measurable_records() -> None:
    thr = np.array([20, 30, 40, 50, NAN, NAN], np.float32)
    nr = np.array([0, 0, 0, 0, 1, 0], bool)  # record 5: threshold unknown, no-response unknown
    data = tiny_cohort(6, threshold_db=thr, no_response=nr)
    pred = flat_predictions(
        6,
        threshold_db=np.array([25.0, 30.0, 52.0, 50.0, 80.0, 10.0]),
        p_no_response=np.array([0.1, 0.6, 0.2, 0.2, 0.9, 0.9]),
    )
    t = compute_metrics(pred, data, split="t", n_bootstrap=0)["threshold"]
    assert t["mae_db"] == pytest.approx((5 + 0 + 12 + 0) / 4)
    assert t["within_5_db"] == pytest.approx(0.75)  # an error of exactly 5 dB counts as within
    assert t["within_10_db"] == pytest.approx(0.75)
    assert t["r2"] == pytest.approx(1 - 169 / 500)
    # no-response: known on records 0-4 only; TP 1, FP 1 (record 1) -> 2/3 (would be 0.5 if record 5 counted)
    assert t["no_response_f1"] == pytest.approx(2 / 3)


def test_signal_metrics() -> None:
    rng = np.random.default_rng(0)
    clean = np.sin(np.linspace(0, 12, 64))[None, :].repeat(5, 0) * rng.uniform(0.5, 2, (5, 1))
    noise = rng.normal(0, 0.3, clean.shape)
    data = tiny_cohort(5, signals=(clean + noise).astype(np.float32), clean=clean.astype(np.float32))
    sig = data.signals.astype(np.float64)
    pred = flat_predictions(5, reconstruction=2 * sig + 1, denoised=data.clean + noise / 2)
    s = compute_metrics(pred, data, split="t", n_bootstrap=0)["signal"]
    assert s["correlation"] == pytest.approx(1.0)  # affine reconstruction: perfect correlation
    assert s["mse"] == pytest.approx(np.mean((sig + 1) ** 2), rel=1e-6)
    assert s["snr_gain_db"] == pytest.approx(10 * np.log10(4), rel=1e-4)  # noise amplitude halved
    assert 0.5 < s["denoise_correlation_to_clean"] < 1.0


def test_silent_targets_are_not_scored() -> None:
    """A record whose target is flat dust (far below threshold) has no waveform: correlation skips it, counted."""
    rng = np.random.default_rng(1)
    clean = np.sin(np.linspace(0, 12, 64))[None, :].repeat(4, 0) * 0.2
    clean[2:] = rng.normal(0, 1e-7, (2, 64))  # two silent targets (1e-7 µV, like a response 40 dB below threshold)
    noise = rng.normal(0, 0.1, clean.shape)
    data = tiny_cohort(4, signals=(clean + noise).astype(np.float32), clean=clean.astype(np.float32))
    recon = np.where(np.arange(4)[:, None] < 2, clean, noise)  # perfect where there is a waveform, noise elsewhere
    view = tiny_cohort(4, signals=clean.astype(np.float32))
    s = compute_metrics(flat_predictions(4, reconstruction=recon, denoised=clean + noise / 2), view, split="t")
    assert s["signal"]["correlation"] == pytest.approx(1.0)
    assert s["signal"]["n_records_scored"] == 2
    d = compute_metrics(flat_predictions(4, reconstruction=recon, denoised=clean + noise / 2), data, split="t")
    assert d["signal"]["denoise_correlation_to_clean"] > d["signal"]["raw_correlation_to_clean"] > 0.5


def test_nonfinite_or_misshaped_predictions_are_rejected() -> None:
    data = tiny_cohort(3)
    bad = flat_predictions(3, threshold_db=np.array([1.0, NAN, 2.0]))
    with pytest.raises(ValueError, match="threshold_db"):
        compute_metrics(bad, data, split="t")
    with pytest.raises(ValueError, match="class_prob"):
        compute_metrics(flat_predictions(3, class_prob=np.full((3, 4), 0.25)), data, split="t")


def test_full_toy_metrics_are_sane_and_strict_json() -> None:
    data = make_cohort(n_patients=12)
    good = compute_metrics(noisy_predictions(data, noise=0.3), data, split="val", n_bootstrap=50)
    bad = compute_metrics(noisy_predictions(data, noise=3.0), data, split="val", n_bootstrap=50)
    json.dumps(good, allow_nan=False)
    assert good["n_records"] == data.n_records and good["n_patients"] == 12
    assert good["peaks"]["V"]["latency_r2"] > bad["peaks"]["V"]["latency_r2"]
    assert good["classification"]["macro_f1"] > bad["classification"]["macro_f1"]
    assert good["threshold"]["mae_db"] < bad["threshold"]["mae_db"]
    assert good["per_ear"]["n_ears"] == 24


def test_predictions_subset() -> None:
    pred = flat_predictions(4, threshold_db=np.array([1.0, 2.0, 3.0, 4.0]))
    sub = pred.subset(np.array([False, True, False, True]))
    assert sub.n_records == 2 and sub.threshold_db.tolist() == [2.0, 4.0]
    sub.threshold_db[0] = 99.0
    assert pred.threshold_db[1] == 2.0  # no shared arrays
    assert sub.reconstruction is None
