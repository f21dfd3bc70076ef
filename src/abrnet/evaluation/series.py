"""The series stage: one hearing-loss class per ear from its whole intensity series.

A single averaged trace below threshold carries no class information, and the signature of several classes is a
property of the series, not of a trace: a conductive ear's whole latency–intensity curve is shifted with a normal
I–V interval, an SNHL ear's curve is steep near a raised threshold, TOTAL and NEUROPATHY show nothing or a small late
V only. `per_ear.series_features` turns the network's per-record outputs into such series features; this module fits
a multinomial logistic regression on them (class-balanced), on ears the network never trained on: a freshly
simulated class-balanced cohort for the default data, the validation split otherwise.

The same ears fit the series-informed latency/amplitude blend (`series_peaks`). The fitted weights are plain
lists, stored inside the checkpoint (loadable with `weights_only=True`; no pickle).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression

from abrnet.constants import CLASS_NAMES
from abrnet.data.schema import ABRCohort
from abrnet.evaluation.per_ear import SERIES_FEATURES, aggregate_ears, series_features
from abrnet.evaluation.predictions import Predictions
from abrnet.evaluation.series_peaks import fit_peak_blend


@dataclass
class SeriesClassifier:
    """Standardise → linear → softmax over the classes; fitted by `fit_series_classifier`."""

    features: list[str]
    mean: list[float]
    scale: list[float]
    coef: list[list[float]]  # (C, F)
    intercept: list[float]  # (C,)
    n_ears: int
    source: str
    no_response_coef: list[float] | None = None  # (F,) logistic regression for "no response at the maximum level"
    no_response_intercept: float | None = None
    peak_blend: dict[str, list[float]] | None = None  # series-informed latency/amplitude (evaluation.series_peaks)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """(E, F) series features → (E, C) class probabilities."""
        z = (np.nan_to_num(np.asarray(X, dtype=np.float64)) - self.mean) / self.scale  # (E, F)
        logits = z @ np.asarray(self.coef).T + np.asarray(self.intercept)  # (E, C)
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    def predict_no_response(self, X: np.ndarray) -> np.ndarray | None:
        """(E, F) series features → (E,) probability of no response at the ear's maximum level (None if not fit)."""
        if self.no_response_coef is None or self.no_response_intercept is None:
            return None
        z = (np.nan_to_num(np.asarray(X, dtype=np.float64)) - self.mean) / self.scale  # (E, F)
        return 1.0 / (1.0 + np.exp(-(z @ np.asarray(self.no_response_coef) + self.no_response_intercept)))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> SeriesClassifier:
        model = cls(**d)
        if list(model.features) != list(SERIES_FEATURES):
            raise ValueError("series classifier was fitted on other features; refit it")
        return model


def fit_series_classifier(pred: Predictions, data: ABRCohort, *, source: str, c: float = 1.0) -> SeriesClassifier:
    """Fit on the ears of `data` (their true classes) from the network's predictions `pred` for its records."""
    table = aggregate_ears(pred, data)
    X = np.nan_to_num(series_features(pred, data, table))  # (E, F)
    y = table.true_class
    keep = y >= 0
    nr = table.true_no_response[keep]
    X, y = X[keep], y[keep]
    present = np.unique(y)
    if len(present) < 2:
        raise ValueError(f"series classifier needs ears of at least two classes, got {present.tolist()}")
    mean, scale = X.mean(axis=0), X.std(axis=0)
    scale = np.where(scale > 1e-9, scale, 1.0)
    lr = LogisticRegression(C=c, class_weight="balanced", max_iter=5000)
    lr.fit((X - mean) / scale, y)
    coef = np.zeros((len(CLASS_NAMES), X.shape[1]))
    intercept = np.full(len(CLASS_NAMES), -1e3)  # a class never seen in fitting is never predicted
    coef[lr.classes_] = lr.coef_ if len(present) > 2 else np.vstack([-lr.coef_, lr.coef_])
    intercept[lr.classes_] = lr.intercept_ if len(present) > 2 else np.array([-lr.intercept_[0], lr.intercept_[0]])
    nr_coef: list[float] | None = None
    nr_intercept: float | None = None
    if 0 < nr.sum() < len(nr):
        nr_lr = LogisticRegression(C=c, class_weight="balanced", max_iter=5000).fit((X - mean) / scale, nr)
        nr_coef, nr_intercept = nr_lr.coef_[0].tolist(), float(nr_lr.intercept_[0])
    return SeriesClassifier(
        no_response_coef=nr_coef,
        no_response_intercept=nr_intercept,
        features=list(SERIES_FEATURES),
        mean=mean.tolist(),
        scale=scale.tolist(),
        coef=coef.tolist(),
        intercept=intercept.tolist(),
        n_ears=int(keep.sum()),
        source=source,
        peak_blend=fit_peak_blend(pred, data) or None,
    )
