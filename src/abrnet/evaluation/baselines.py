"""Classical baselines the network has to beat: gradient-boosted trees on simple signal features.

A deep model is only worth its cost if it does better than a well-tuned off-the-shelf learner on the same inputs.
Features: the signal averaged into `N_BINS` time bins (the raw shape, downsampled) plus the static parameters
(age, intensity, rate, log10 FMP). One scikit-learn `HistGradientBoosting*` model per task.

Uncertainties: the sd columns are the residual std of each regressor on a held-out 20% of the *training patients*
(the model is fitted on the other 80%), because in-sample residuals of boosted trees are far too small and would make
the baseline look badly calibrated for no fault of the method. With too few patients to hold out, the in-sample
residual std is used instead.

Denoising baseline: `denoised` is the observed signal through a zero-phase 4th-order Butterworth low-pass at
1.5 kHz (the classical ABR filter); no reconstruction is produced.
"""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

from abrnet.constants import CLASS_NAMES, STATIC_PARAMS, WAVES
from abrnet.data.filters import lowpass_filter
from abrnet.data.schema import ABRCohort
from abrnet.models.predictions import Predictions

N_BINS = 40
LOWPASS_HZ = 1500.0
MIN_FIT_ROWS = 10  # fewer labelled training rows than this: predict the training mean / prior instead
HOLDOUT_FRACTION = 0.2


def features(data: ABRCohort, n_bins: int = N_BINS) -> np.ndarray:
    """(N, n_bins + 4) float32: bin means of the signal, then age, intensity, rate, log10(1 + fmp)."""
    n_bins = min(n_bins, data.n_samples)
    edges = np.linspace(0, data.n_samples, n_bins + 1).astype(int)
    sig = np.asarray(data.signals, dtype=np.float64)
    binned = np.add.reduceat(sig, edges[:-1], axis=1) / np.diff(edges)[None, :]
    static = np.asarray(data.static, dtype=np.float64).copy()
    j = STATIC_PARAMS.index("fmp")
    static[:, j] = np.log10(1.0 + static[:, j])
    return np.concatenate([binned, static], axis=1).astype(np.float32)


def lowpass(signals: np.ndarray, sampling_rate_hz: float, cutoff_hz: float = LOWPASS_HZ) -> np.ndarray:
    """Zero-phase Butterworth low-pass of each row (the classical ABR denoising filter)."""
    return lowpass_filter(signals, sampling_rate_hz, cutoff_hz).astype(np.float32)


def _holdout_split(patient_id: np.ndarray, seed: int) -> np.ndarray:
    """Bool mask of records whose patient is held out for residual estimation (all False if too few patients)."""
    patients = np.unique(patient_id)
    n_hold = int(round(HOLDOUT_FRACTION * len(patients)))
    if n_hold < 2 or len(patients) - n_hold < 2:
        return np.zeros(patient_id.shape[0], dtype=bool)
    held = np.random.default_rng(seed).choice(patients, size=n_hold, replace=False)
    return np.isin(patient_id, held)


class _Fitter:
    """Fits one model per task with shared features, hold-out split and seed."""

    def __init__(self, train: ABRCohort, seed: int, max_iter: int) -> None:
        self.X = features(train)
        self.hold = _holdout_split(np.asarray(train.patient_id).astype(str), seed)
        self.seed = seed
        self.max_iter = max_iter

    def regress(self, y: np.ndarray, rows: np.ndarray, X_test: np.ndarray) -> tuple[np.ndarray, float]:
        """Mean prediction for X_test and residual sd (held-out where possible) of target y on `rows`."""
        fit = rows & ~self.hold
        val = rows & self.hold
        if fit.sum() < MIN_FIT_ROWS or val.sum() < 2:
            fit, val = rows, rows  # too little data to hold out: in-sample residuals
        if fit.sum() == 0:
            return np.zeros(X_test.shape[0]), 1.0
        if fit.sum() < MIN_FIT_ROWS:
            mean = float(np.mean(y[fit]))
            sd = float(np.std(y[fit])) if fit.sum() > 1 else 1.0
            return np.full(X_test.shape[0], mean), max(sd, 1e-3)
        model = HistGradientBoostingRegressor(max_iter=self.max_iter, random_state=self.seed)
        model.fit(self.X[fit], y[fit])
        resid = y[val] - model.predict(self.X[val])
        sd = float(np.sqrt(np.mean(resid**2)))
        return model.predict(X_test), max(sd, 1e-3)

    def classify(self, y: np.ndarray, rows: np.ndarray, X_test: np.ndarray, n_classes: int) -> np.ndarray:
        """(N_test, n_classes) probabilities; classes unseen in training get 0, a single seen class gets 1."""
        prob = np.zeros((X_test.shape[0], n_classes))
        seen = np.unique(y[rows]).astype(int)
        if seen.size == 0:
            prob[:] = 1.0 / n_classes
            return prob
        if seen.size == 1 or rows.sum() < MIN_FIT_ROWS:
            prior = np.bincount(y[rows].astype(int), minlength=n_classes) / rows.sum()
            prob[:] = prior
            return prob
        model = HistGradientBoostingClassifier(max_iter=self.max_iter, random_state=self.seed)
        model.fit(self.X[rows], y[rows].astype(int))
        prob[:, model.classes_.astype(int)] = model.predict_proba(X_test)
        return prob


def fit_predict_gbm(
    train: ABRCohort, test: ABRCohort, seed: int, *, max_iter: int = 200, n_threads: int | None = None
) -> Predictions:
    """Fit the GBM baselines on `train` and predict every task for `test` (see module docstring).

    `n_threads` caps the OpenMP threads of the tree learners (None: library default, all cores). On a machine shared
    with other jobs pass a small number: oversubscribed OpenMP spin-waits can make small fits 20x slower.
    """
    with threadpool_limits(limits=n_threads, user_api="openmp"):
        return _fit_predict(train, test, seed, max_iter)


def _fit_predict(train: ABRCohort, test: ABRCohort, seed: int, max_iter: int) -> Predictions:
    if train.n_samples != test.n_samples or train.sampling_rate_hz != test.sampling_rate_hz:
        raise ValueError(
            f"train and test signals differ: {train.n_samples} samples at {train.sampling_rate_hz} Hz vs "
            f"{test.n_samples} at {test.sampling_rate_hz} Hz"
        )
    f = _Fitter(train, seed, max_iter)
    X_test = features(test)
    n, w = test.n_records, len(WAVES)
    everyone = np.ones(train.n_records, dtype=bool)

    presence = np.zeros((n, w))
    lat, lat_sd = np.zeros((n, w)), np.zeros((n, w))
    amp, amp_sd = np.zeros((n, w)), np.zeros((n, w))
    for j in range(w):
        labelled = np.isfinite(train.latency_ms[:, j])
        presence[:, j] = f.classify(labelled.astype(int), everyone, X_test, 2)[:, 1]
        lat[:, j], lat_sd[:, j] = f.regress(train.latency_ms[:, j].astype(np.float64), labelled, X_test)
        has_amp = np.isfinite(train.amplitude_uv[:, j])
        amp[:, j], amp_sd[:, j] = f.regress(train.amplitude_uv[:, j].astype(np.float64), has_amp, X_test)

    class_prob = f.classify(train.class_id, train.class_id >= 0, X_test, len(CLASS_NAMES))
    measurable = np.isfinite(train.threshold_db) & ~train.no_response
    thr, thr_sd = f.regress(train.threshold_db.astype(np.float64), measurable, X_test)
    nr_known = train.no_response | np.isfinite(train.threshold_db)
    p_nr = f.classify(train.no_response.astype(int), nr_known, X_test, 2)[:, 1]

    return Predictions(
        peak_presence_prob=presence,
        latency_ms=lat,
        latency_sd_ms=lat_sd,
        amplitude_uv=amp,
        amplitude_sd_uv=amp_sd,
        class_prob=class_prob,
        threshold_db=thr,
        threshold_sd_db=np.full(n, thr_sd),
        p_no_response=p_nr,
        reconstruction=None,
        denoised=lowpass(test.signals, test.sampling_rate_hz),
    )
