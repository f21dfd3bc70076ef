"""Weighted metric kernels: each statistic of the records under a (B, N) weight matrix, one row per resample.

The point estimate uses weight 1 per record; the patient bootstrap gives each record its patient's draw count
(`abrnet.metrics.task_metrics`). The kernels take calls, not probabilities: the caller thresholds wave presence
with `constants.is_present` (>= 0.5) and no-response with `series.per_ear.is_no_response` (> 0.5). A class
without support is NaN.
"""

from __future__ import annotations

import numpy as np


def weighted_mean(W: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Σ w·x / Σ w per row of W; NaN where the row's weights sum to 0."""
    sw = W.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(sw > 0, W @ x / np.where(sw > 0, sw, 1.0), np.nan)


def weighted_r2(W: np.ndarray, y: np.ndarray, y_hat: np.ndarray) -> np.ndarray:
    """Coefficient of determination 1 − SS_res/SS_tot per weight row; NaN when the weighted truth has no variance."""
    y = np.asarray(y, dtype=np.float64)
    y_hat = np.asarray(y_hat, dtype=np.float64)
    sw = W.sum(axis=1)
    if y.size == 0:
        return np.full(W.shape[0], np.nan)
    yc = y - y.mean()
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_c = np.where(sw > 0, W @ yc / np.where(sw > 0, sw, 1.0), 0.0)
        ss_tot = np.einsum("bn,bn->b", W, (yc[None, :] - mean_c[:, None]) ** 2)
        ss_res = W @ (y - y_hat) ** 2
        scale = max(1.0, float(np.abs(y).mean()))
        degenerate = ss_tot <= sw * (1e-9 * scale) ** 2
        return np.where(degenerate, np.nan, 1.0 - ss_res / np.where(degenerate, 1.0, ss_tot))


def weighted_binary_f1(W: np.ndarray, truth: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """F1 = 2TP / (2TP + FP + FN) with weighted counts; NaN when there is no positive in truth or prediction."""
    truth = np.asarray(truth, dtype=bool)
    pred = np.asarray(pred, dtype=bool)
    tp = W @ (truth & pred).astype(np.float64)
    fp = W @ (~truth & pred).astype(np.float64)
    fn = W @ (truth & ~pred).astype(np.float64)
    den = 2 * tp + fp + fn
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, 2 * tp / np.where(den > 0, den, 1.0), np.nan)


def weighted_confusion(W: np.ndarray, truth: np.ndarray, pred: np.ndarray, k: int) -> np.ndarray:
    """(B, k, k) weighted confusion matrices, rows = truth."""
    code = np.asarray(truth, dtype=np.int64) * k + np.asarray(pred, dtype=np.int64)
    onehot = np.zeros((code.shape[0], k * k))
    onehot[np.arange(code.shape[0]), code] = 1.0
    return (W @ onehot).reshape(W.shape[0], k, k)


def per_class_f1(C: np.ndarray) -> np.ndarray:
    """(B, k) F1 per class from (B, k, k) confusion matrices; NaN for classes without support."""
    tp = np.diagonal(C, axis1=1, axis2=2)
    support = C.sum(axis=2)
    predicted = C.sum(axis=1)
    den = support + predicted
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, 2 * tp / np.where(den > 0, den, 1.0), np.nan)


MIN_CLASSES = 2  # class macro-F1 and balanced accuracy need this many classes in the truth


def class_macro_f1(truth: np.ndarray, pred: np.ndarray, W: np.ndarray | None = None, k: int = 5) -> np.ndarray:
    """(B,) class macro-F1 of (n,) predicted classes against (n,) known true classes (0..k-1) under (B, n) weights
    (None: one row of 1s, the point estimate): the mean F1 of the classes present in ``truth`` (`_truth_class_mean`).

    The one definition of every class macro-F1 abrnet prints, the network's (per record and per ear, with their
    bootstrap) and every baseline's (`evaluation.trivial_baselines.ear_scores`), so an interval is always printed
    beside the value it belongs to. Why the truth's classes, not every class truth or prediction names (sklearn's
    ``average="macro"``): a class no ear has cannot be recalled, so it would count as an F1 of 0 whenever one ear is
    predicted into it; a lab's small file without, say, TOTAL ears then read 0.53 × 3/5 = 0.32. Such a prediction
    still costs the recall of the ear's true class. k = 5: `constants.CLASS_NAMES`.
    """
    truth, pred = np.asarray(truth, dtype=np.int64), np.asarray(pred, dtype=np.int64)
    W = np.ones((1, truth.size)) if W is None else W
    return _truth_class_mean(per_class_f1(weighted_confusion(W, truth, pred, k)), truth)


def class_balanced_accuracy(truth: np.ndarray, pred: np.ndarray, W: np.ndarray | None = None, k: int = 5) -> np.ndarray:
    """(B,) balanced accuracy (mean recall) over the classes present in ``truth``, arguments as `class_macro_f1`."""
    truth, pred = np.asarray(truth, dtype=np.int64), np.asarray(pred, dtype=np.int64)
    W = np.ones((1, truth.size)) if W is None else W
    C = weighted_confusion(W, truth, pred, k)
    tp = np.diagonal(C, axis1=1, axis2=2)
    support = C.sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(support > 0, tp / np.where(support > 0, support, 1.0), np.nan)
    return _truth_class_mean(recall, truth)


def _truth_class_mean(per_class: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(B,) mean of (B, k) per-class scores over the classes of the full ``truth``, fixed for every weight row.

    Why fixed: a patient resample that loses a rare class and averaged over the classes it still had scored an
    easier problem (a constant NORMAL predictor, balanced accuracy 0.33, got the interval [0.33, 0.89]); such a
    resample is undefined (NaN) instead, so `metrics.builder.bootstrap_intervals` refuses an interval whose
    resamples lose a class too often. Fewer than `MIN_CLASSES` classes in the truth: undefined everywhere (a
    constant predictor scored 1.0 on a one-class file)."""
    classes = np.unique(truth)
    if classes.size < MIN_CLASSES:
        return np.full(per_class.shape[0], np.nan)
    x = per_class[:, classes]
    ok = np.isfinite(x).all(axis=1)
    return np.where(ok, np.where(ok[:, None], x, 0.0).mean(axis=1), np.nan)


SILENT_TARGET_RMS_UV: float = 1e-3  # 1 nV RMS, ~1/80 of a typical residual noise


def has_waveform(target: np.ndarray) -> np.ndarray:
    """(N,) bool: the record's target carries a waveform to correlate with (RMS ≥ 1 nV about its mean).

    A clean target below threshold is an exact zero (TOTAL) or the float-dust tail of a response tens of dB below
    threshold (~1e-7 µV): a correlation with it measures the reconstruction's noise alone, so it is undefined.
    """
    t = np.asarray(target, dtype=np.float64)
    return np.sqrt(((t - t.mean(axis=1, keepdims=True)) ** 2).mean(axis=1)) >= SILENT_TARGET_RMS_UV


def rowwise_correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of each row of `a` with the same row of `b`; NaN for a constant row."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    den = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 1e-20, (a * b).sum(axis=1) / np.where(den > 1e-20, den, 1.0), np.nan)
