"""Tiny synthetic cohorts and predictions shared by the evaluation tests (plus a check that they are valid)."""

from __future__ import annotations

import numpy as np

from abrnet.constants import CLASS_NAMES, WAVES
from abrnet.data.schema import ABRCohort
from abrnet.models.predictions import Predictions

FS = 20_000.0
T = 200


def make_cohort(n_patients: int = 20, levels: tuple[float, ...] = (80.0, 60.0, 40.0, 20.0), seed: int = 0) -> ABRCohort:
    """Patients × 2 ears × intensity series with a learnable structure.

    Wave latencies shrink with intensity, amplitudes grow; waves are labelled only above the ear's threshold; some
    ears are no-response (no waves, NaN threshold). Class is tied to threshold so it is learnable from the signals.
    """
    rng = np.random.default_rng(seed)
    t_ms = np.arange(T) * 1000.0 / FS
    rows: dict[str, list] = {k: [] for k in ("sig", "clean", "static", "pid", "ear", "lat", "amp", "cls", "thr", "nr")}
    for p in range(n_patients):
        age = rng.uniform(1, 80)
        for ear in ("L", "R"):
            cls = int(rng.integers(0, len(CLASS_NAMES)))
            no_resp = cls == 3 and rng.random() < 0.7
            thr = np.nan if no_resp else float(np.clip(10 + 15 * cls + rng.normal(0, 5), 0, 90))
            for level in levels:
                above = not no_resp and level > thr
                lat = np.array([1.6, 3.7, 5.6]) + 0.02 * (80 - level) + 0.1 * (cls == 1)
                amp = np.array([0.15, 0.2, 0.4]) * (level - thr) / 60 if above else np.zeros(3)
                clean = sum(a * np.exp(-0.5 * ((t_ms - m) / 0.25) ** 2) for a, m in zip(amp, lat, strict=True))
                clean = np.asarray(clean, dtype=np.float64) + np.zeros(T)
                rows["clean"].append(clean)
                rows["sig"].append(clean + rng.normal(0, 0.05, T))
                rows["static"].append([age, level, 21.1, 2.0 + rng.random()])
                rows["pid"].append(f"P{p:03d}")
                rows["ear"].append(ear)
                labelled = above & (amp > 0.02)
                rows["lat"].append(np.where(labelled, lat + rng.normal(0, 0.03, 3), np.nan))
                rows["amp"].append(np.where(labelled, amp, np.nan))
                rows["cls"].append(cls)
                rows["thr"].append(thr)
                rows["nr"].append(no_resp)
    return ABRCohort(
        signals=np.asarray(rows["sig"], np.float32),
        static=np.asarray(rows["static"], np.float32),
        patient_id=np.asarray(rows["pid"]),
        ear=np.asarray(rows["ear"]),
        latency_ms=np.asarray(rows["lat"], np.float32),
        amplitude_uv=np.asarray(rows["amp"], np.float32),
        class_id=np.asarray(rows["cls"], np.int64),
        threshold_db=np.asarray(rows["thr"], np.float32),
        no_response=np.asarray(rows["nr"], bool),
        sampling_rate_hz=FS,
        clean=np.asarray(rows["clean"], np.float32),
    ).validate("toy")


def noisy_predictions(data: ABRCohort, noise: float = 1.0, seed: int = 1) -> Predictions:
    """Truth plus Gaussian noise of known sd (so calibration is ~nominal); unlabelled entries get plausible values."""
    rng = np.random.default_rng(seed)
    n = data.n_records
    lat_sd = np.full((n, len(WAVES)), 0.1 * noise)
    amp_sd = np.full((n, len(WAVES)), 0.05 * noise)
    lat = np.where(np.isfinite(data.latency_ms), data.latency_ms, 5.0) + rng.normal(0, 1, (n, 3)) * lat_sd
    amp = np.where(np.isfinite(data.amplitude_uv), data.amplitude_uv, 0.0) + rng.normal(0, 1, (n, 3)) * amp_sd
    labelled = np.isfinite(data.latency_ms)
    presence = np.clip(np.where(labelled, 0.8, 0.2) + rng.normal(0, 0.2 * noise, (n, 3)), 0, 1)
    logits = rng.normal(0, noise, (n, len(CLASS_NAMES)))
    logits[np.arange(n), np.maximum(data.class_id, 0)] += 2.0
    prob = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    thr_sd = np.full(n, 5.0 * noise)
    thr = np.where(np.isfinite(data.threshold_db), data.threshold_db, 80.0) + rng.normal(0, 1, n) * thr_sd
    p_nr = np.clip(np.where(data.no_response, 0.8, 0.2) + rng.normal(0, 0.2 * noise, n), 0, 1)
    recon = data.signals + rng.normal(0, 0.02, data.signals.shape)
    denoised = data.clean + rng.normal(0, 0.01, data.signals.shape)
    return Predictions(
        peak_presence_prob=presence,
        latency_ms=lat,
        latency_sd_ms=lat_sd,
        amplitude_uv=amp,
        amplitude_sd_uv=amp_sd,
        class_prob=prob,
        threshold_db=thr,
        threshold_sd_db=thr_sd,
        p_no_response=p_nr,
        reconstruction=recon,
        denoised=denoised,
    )


def test_toy_cohort_is_valid_and_has_every_label_kind() -> None:
    data = make_cohort(n_patients=10)
    assert data.n_records == 10 * 2 * 4
    assert np.isfinite(data.latency_ms).any() and (~np.isfinite(data.latency_ms)).any()
    assert data.no_response.any()
    noisy_predictions(data).validate(data.n_records, data.n_samples)


def tiny_cohort(n: int, n_samples: int = 16, **fields: np.ndarray) -> ABRCohort:
    """An n-record cohort with neutral defaults (one patient per record, nothing labelled); override any field."""
    base: dict = {
        "signals": np.sin(np.linspace(0, 6, n_samples))[None, :].repeat(n, 0).astype(np.float32),
        "static": np.tile(np.array([30.0, 70.0, 21.1, 2.5], np.float32), (n, 1)),
        "patient_id": np.array([f"P{i:03d}" for i in range(n)]),
        "ear": np.array(["L"] * n),
        "latency_ms": np.full((n, 3), np.nan, np.float32),
        "amplitude_uv": np.full((n, 3), np.nan, np.float32),
        "class_id": np.full(n, -1, np.int64),
        "threshold_db": np.full(n, np.nan, np.float32),
        "no_response": np.zeros(n, bool),
        "sampling_rate_hz": FS,
    }
    base.update(fields)
    return ABRCohort(**base)


def flat_predictions(n: int, **fields: np.ndarray) -> Predictions:
    """Uninformative but valid predictions for n records; override any field."""
    base: dict = {
        "peak_presence_prob": np.full((n, 3), 0.1),
        "latency_ms": np.full((n, 3), 5.0),
        "latency_sd_ms": np.full((n, 3), 0.2),
        "amplitude_uv": np.full((n, 3), 0.3),
        "amplitude_sd_uv": np.full((n, 3), 0.1),
        "class_prob": np.full((n, len(CLASS_NAMES)), 1.0 / len(CLASS_NAMES)),
        "threshold_db": np.full(n, 40.0),
        "threshold_sd_db": np.full(n, 10.0),
        "p_no_response": np.full(n, 0.1),
    }
    base.update(fields)
    return Predictions(**base)
