"""Trivial baselines beside every evaluation, and counterfactual inputs that show what the network reads.

A figure means nothing until it beats a model that cannot read the waveform. Each baseline here is fitted on the
training split of the model's own training cohort and scored on the evaluated records with the same functions
that score the network in `headline` (so the two columns are comparable line by line):

* ``levels_only``: per ear, the tested levels and the age, no waveform (gradient boosting on the level list's
  summary). On a protocol that follows the hidden threshold it wins; on a fixed grid it can only learn the prior.
* ``prior``: the training ears' median threshold / majority class / no-response rate.
* ``intensity_only``: per record, wave V presence, V latency and the threshold from the stimulus level alone.
* ``always_present``: wave V called present in every record.
* ``moving_average``: a 3-tap moving average of the recording as its reconstruction.

Counterfactuals: the same records time-reversed (no ABR where wave V should be), noise-only records made from
the recordings' own split buffers, (A − B)/2, labelled at every level from 0 to 100 dB, the same records relabelled
at every level from 0 to 100 dB (what the level input alone moves, on any file: no buffers needed), and the same
records with FMP hidden (what the FMP input moves): mean p(V) of each. The last two are the checks that showed the
first model reading the level and not the waveform, on real recordings without split buffers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

from abrnet.constants import STATIC_PARAMS, is_present
from abrnet.data.fmp import noise_trace
from abrnet.data.schema import ABRCohort
from abrnet.data.series_key import series_keys
from abrnet.metrics.builder import (
    MEASURABLE,
    class_reason,
    no_response_f1_reason,
    presence_f1_reason,
    r2_reason,
    within,
)
from abrnet.metrics.kernels import class_macro_f1, weighted_binary_f1, weighted_mean, weighted_r2
from abrnet.metrics.task_metrics import has_waveform, rowwise_correlation
from abrnet.models.predictions import Predictions
from abrnet.series.per_ear import EarTable, ear_truth, is_no_response

TRAINING_SPLIT = "training split of the model's training cohort"  # where every baseline is fitted (`fitted_on`)
COUNTERFACTUAL_LEVELS_DB: tuple[float, ...] = tuple(float(x) for x in range(0, 101, 20))
_V = 2


def ear_level_features(data: ABRCohort) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """(E, F) features of each ear's tested levels and age, the ear keys, and per-ear truth; an "ear" is one
    intensity series (`series_keys`, as `aggregate_ears` groups them), its truth read by the network's own rule
    (`ear_truth`: a file with the ear's labels on one of its rows gets baselines on the ears the network is scored
    on, and an ear whose rows disagree is scored against the same label on both sides)."""
    keys, first, inv = np.unique(series_keys(data), return_index=True, return_inverse=True)
    inv = inv.ravel()  # (N,) record → ear
    level = data.static_column("intensity_db").astype(np.float64)
    n = np.bincount(inv, minlength=keys.size).astype(np.float64)
    lo, hi = np.full(keys.size, np.inf), np.full(keys.size, -np.inf)
    np.minimum.at(lo, inv, level)
    np.maximum.at(hi, inv, level)
    grid = np.stack([np.bincount(inv, level == g, keys.size) for g in range(0, 101, 10)], axis=1)
    X = np.column_stack([lo, hi, n, np.bincount(inv, level, keys.size) / n, grid, data.static[first, 0]])
    ear = ear_truth(data, inv)
    return X, keys, {"threshold": ear.threshold_db, "no_response": ear.no_response, "class": ear.class_id}


def _kept(reasons: dict[str, str] | None, key: str, x: np.ndarray, reason: str) -> float | None:
    """The kernel's (1,) value as a float, or None with `reason` recorded under `key` in `reasons` (NaN: undefined)."""
    v = float(np.asarray(x).reshape(-1)[0]) if np.asarray(x).size else float("nan")
    if np.isfinite(v):
        return v
    if reasons is not None:
        reasons[key] = reason
    return None


def ear_scores(
    truth: dict[str, np.ndarray],
    threshold: np.ndarray,
    no_response: np.ndarray,
    cls: np.ndarray,
    reasons: dict[str, str] | None = None,
) -> dict[str, float | None]:
    """Per-ear threshold MAE / within 10 dB (measurable ears), no-response F1 (ears whose answer is known: a
    threshold or a no-response), class macro-F1 over the classes present in the truth.

    Every figure is the network's own kernel at weight 1 per ear (`weighted_mean` with `within`'s 1e-6 tolerance,
    `weighted_binary_f1`, `class_macro_f1`), in float64, with the network's 'undefined' reason put into `reasons`
    (keyed by the figure) where it is None: sklearn's ``zero_division=0`` printed an undefined F1 as 0 and its plain
    ``<= 10`` dropped a float32 error of 10 dB that the network's figure counts, so the two columns differed on the
    same ears. One definition, so the interval printed beside the network's figure is that figure's."""
    t_thr = np.asarray(truth["threshold"], np.float64)
    m = np.isfinite(t_thr) & ~truth["no_response"]
    err = np.asarray(threshold, np.float64)[m] - t_thr[m]
    ones = lambda n: np.ones((1, n))
    known = truth["class"] >= 0
    nr_known = m | truth["no_response"]
    no_thr = f"no ear in split has {MEASURABLE}"
    t_cls = np.asarray(truth["class"])[known]
    return {
        "ear_threshold_mae_db": _kept(
            reasons, "ear_threshold_mae_db", weighted_mean(ones(m.sum()), np.abs(err)), no_thr
        ),
        "ear_threshold_within_10_db": _kept(
            reasons, "ear_threshold_within_10_db", weighted_mean(ones(m.sum()), within(err, 10.0)), no_thr
        ),
        "ear_no_response_f1": _kept(
            reasons,
            "ear_no_response_f1",
            weighted_binary_f1(ones(nr_known.sum()), truth["no_response"][nr_known], np.asarray(no_response)[nr_known]),
            no_response_f1_reason("ear"),
        ),
        "ear_class_macro_f1": _kept(
            reasons, "ear_class_macro_f1", class_macro_f1(t_cls, np.asarray(cls)[known]), class_reason(t_cls, "ear")
        ),
    }


def record_scores(
    data: ABRCohort, p_v: np.ndarray, lat_v: np.ndarray, threshold: np.ndarray, reasons: dict[str, str] | None = None
) -> dict:
    """Per-record wave V presence F1, V latency R² (labelled V), threshold MAE (measurable records), by the network's
    kernels and 'undefined' reasons (`ear_scores`). Presence F1 is undefined where no record has any wave labelled, as
    in `abrnet.metrics.task_metrics`; R² is undefined (not 0) where the labelled latencies do not vary."""
    present = np.isfinite(data.latency_ms[:, _V])
    m = np.isfinite(data.threshold_db) & ~data.no_response
    labelled = bool(np.isfinite(data.latency_ms).any())
    y = data.latency_ms[present, _V].astype(np.float64)
    err = np.asarray(threshold, np.float64)[m] - np.asarray(data.threshold_db, np.float64)[m]
    f1 = weighted_binary_f1(np.ones((1, data.n_records)), present, is_present(p_v)) if labelled else np.nan
    return {
        "v_presence_f1": _kept(reasons, "v_presence_f1", f1, presence_f1_reason("V", labelled)),
        "v_latency_r2": _kept(
            reasons,
            "v_latency_r2",
            weighted_r2(np.ones((1, y.size)), y, np.asarray(lat_v, np.float64)[present]),
            r2_reason(y, "wave V latency labelled"),
        ),
        "record_threshold_mae_db": _kept(
            reasons,
            "record_threshold_mae_db",
            weighted_mean(np.ones((1, err.size)), np.abs(err)),
            f"no record in split has {MEASURABLE}",
        ),
    }


def _correlation(reasons: dict[str, str] | None, key: str, recon: np.ndarray, clean: np.ndarray) -> float | None:
    """Mean correlation of `recon` with the clean target over records whose target has a waveform (`has_waveform`),
    as the network's signal correlation."""
    r = rowwise_correlation(recon, clean)
    ok = np.isfinite(r) & has_waveform(clean)
    why = "correlation undefined: every clean target (< 1 nV RMS) or reconstruction is flat"
    return _kept(reasons, key, weighted_mean(np.ones((1, int(ok.sum()))), r[ok]), why)


def _gbm(kind: str, seed: int):
    cls = HistGradientBoostingClassifier if kind == "classify" else HistGradientBoostingRegressor
    return cls(max_iter=150, learning_rate=0.1, random_state=seed)


class _Constant:
    """A stand-in model that predicts one value (a training set with a single target value has nothing to fit)."""

    def __init__(self, value: float) -> None:
        self.value = value

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.full(X.shape[0], self.value)


def _fit(kind: str, X: np.ndarray, y: np.ndarray, seed: int, fill: float) -> Any:
    """A fitted gradient-boosting model, or `_Constant` where `y` holds fewer than two values."""
    if np.unique(y).size < 2:
        return _Constant(fill if kind == "regress" else y[0] if y.size else fill)
    return _gbm(kind, seed).fit(X, y)


@dataclass
class TrivialBaselines:
    """Every trivial baseline, fitted once on a training cohort (`fit`) and scored on any evaluated one (`score`):
    an evaluation scores the test split and the fixed-protocol cohort with the same fitted models."""

    median_threshold_db: float
    prior_no_response: bool
    majority_class: int
    ear_models: dict[str, Any]  # "threshold", "no_response", "class": from `ear_level_features`
    p_v: Any | None  # P(wave V | level) classifier; None: every record p 0 (no V, or only V, in training)
    latency: Any  # V latency from the level
    record_threshold: Any  # the threshold from the level
    fitted_on: str = TRAINING_SPLIT  # what `train` was: the report's ``fitted_on``

    @classmethod
    def fit(cls, train: ABRCohort, seed: int = 0, fitted_on: str = TRAINING_SPLIT) -> TrivialBaselines:
        X_tr, _, t_tr = ear_level_features(train)
        has_thr = np.isfinite(t_tr["threshold"]) & ~t_tr["no_response"]
        median_thr = float(np.median(t_tr["threshold"][has_thr])) if has_thr.any() else 40.0
        known = t_tr["class"] >= 0
        lv_tr = train.static[:, [STATIC_PARAMS.index("intensity_db")]].astype(np.float64)
        v_tr = np.isfinite(train.latency_ms[:, _V])
        m_tr = np.isfinite(train.threshold_db) & ~train.no_response
        return cls(
            median_threshold_db=median_thr,
            prior_no_response=bool(t_tr["no_response"].mean() > 0.5),
            majority_class=int(np.bincount(t_tr["class"][known]).argmax()) if known.any() else 0,
            ear_models={
                "threshold": _fit("regress", X_tr[has_thr], t_tr["threshold"][has_thr], seed, median_thr),
                "no_response": _fit("classify", X_tr, t_tr["no_response"].astype(int), seed, 0),
                "class": _fit("classify", X_tr[known], t_tr["class"][known], seed, 0),
            },
            p_v=_gbm("classify", seed).fit(lv_tr, v_tr.astype(int)) if 0 < v_tr.sum() < v_tr.size else None,
            latency=_fit("regress", lv_tr[v_tr], train.latency_ms[v_tr, _V], seed, 6.0),
            record_threshold=_fit("regress", lv_tr[m_tr], train.threshold_db[m_tr], seed, median_thr),
            fitted_on=fitted_on,
        )

    def score(self, data: ABRCohort, reasons: dict[str, str] | None = None) -> dict[str, Any]:
        """Every baseline's figures on `data`; why a figure is None goes into `reasons` as ``<baseline>.<figure>``
        (the network's own reason text: `ear_scores`)."""
        X_te, _, t_te = ear_level_features(data)
        E = X_te.shape[0]
        why: dict[str, dict[str, str]] = {}
        r = lambda name: why.setdefault(name, {})
        out: dict[str, Any] = {
            "fitted_on": self.fitted_on,
            "levels_only": ear_scores(
                t_te,
                self.ear_models["threshold"].predict(X_te),
                self.ear_models["no_response"].predict(X_te).astype(bool),
                self.ear_models["class"].predict(X_te).astype(int),
                r("levels_only"),
            ),
            "prior": ear_scores(
                t_te,
                np.full(E, self.median_threshold_db),
                np.full(E, self.prior_no_response),
                np.full(E, self.majority_class),
                r("prior"),
            ),
        }
        lv_te = data.static[:, [STATIC_PARAMS.index("intensity_db")]].astype(np.float64)
        p_v = np.zeros(data.n_records) if self.p_v is None else self.p_v.predict_proba(lv_te)[:, 1]
        lat, rec_thr = self.latency.predict(lv_te), self.record_threshold.predict(lv_te)
        out["intensity_only"] = record_scores(data, p_v, lat, rec_thr, r("intensity_only"))
        always = record_scores(data, np.ones(data.n_records), lat, rec_thr, r("always_present"))
        out["always_present"] = {"v_presence_f1": always["v_presence_f1"]}
        if data.clean is not None:
            smooth = np.apply_along_axis(lambda x: np.convolve(x, np.ones(3) / 3.0, mode="same"), 1, data.signals)
            out["moving_average"] = {
                "reconstruction_correlation": _correlation(
                    r("moving_average"), "reconstruction_correlation", smooth, data.clean
                )
            }
        if reasons is not None:
            reasons.update({f"{n}.{k}": v for n, d in why.items() for k, v in d.items() if k in out.get(n, {})})
        return out


def trivial_baselines(train: ABRCohort, data: ABRCohort, seed: int = 0) -> dict[str, Any]:
    """Every trivial baseline fitted on ``train`` and scored on ``data`` (see the module docstring)."""
    return TrivialBaselines.fit(train, seed).score(data)


def ear_table_scores(ears: EarTable, reasons: dict[str, str] | None = None) -> dict[str, float | None]:
    """`ear_scores` of the series stage's per-ear readings against the ears' own truth (no-response: P > 0.5,
    `is_no_response`, as the network's per-ear figure)."""
    truth = {"threshold": ears.true_threshold_db, "no_response": ears.true_no_response, "class": ears.true_class}
    return ear_scores(truth, ears.threshold_db, is_no_response(ears.p_no_response), ears.predicted_class, reasons)


def network_scores(
    pred: Predictions, data: ABRCohort, ears: EarTable, reasons: dict[str, str] | None = None
) -> dict[str, Any]:
    """The network's figures computed by the same functions as the baselines (the `headline` column); why a figure
    is None goes into `reasons`, keyed by the figure."""
    out: dict[str, Any] = ear_table_scores(ears, reasons)
    out |= record_scores(data, pred.peak_presence_prob[:, _V], pred.latency_ms[:, _V], pred.threshold_db, reasons)
    if data.clean is not None and pred.reconstruction is not None:
        out["reconstruction_correlation"] = _correlation(
            reasons, "reconstruction_correlation", pred.reconstruction, data.clean
        )
    return out


def counterfactual_inputs(data: ABRCohort) -> dict[str, ABRCohort]:
    """Variants of `data`'s records (module doc), keyed by name: ``time_reversed``; ``noise_only_<L>db`` ((A − B)/2
    of each record, labelled L dB; only with split buffers); ``relabelled_<L>db`` (each record as recorded, its level
    input set to L dB); ``fmp_hidden`` (FMP set to "not measured"; only where some record has one). L: 0–100 dB."""
    copy = lambda: data.subset(np.arange(data.n_records))
    level_col, fmp_col = STATIC_PARAMS.index("intensity_db"), STATIC_PARAMS.index("fmp")
    rev = copy()
    rev.signals = np.ascontiguousarray(rev.signals[:, ::-1])
    if rev.buffers is not None:
        rev.buffers = np.ascontiguousarray(rev.buffers[:, :, ::-1])
    out = {"time_reversed": rev}
    if data.buffers is not None:
        noise = noise_trace(data.buffers[:, 0], data.buffers[:, 1])
        for level in COUNTERFACTUAL_LEVELS_DB:
            c = copy()
            c.signals = np.ascontiguousarray(noise, dtype=np.float32)
            c.buffers = None
            c.static[:, level_col] = level
            c.static[:, fmp_col] = np.nan  # no split buffers: FMP unknown
            out[f"noise_only_{int(level)}db"] = c
    for level in COUNTERFACTUAL_LEVELS_DB:
        c = copy()
        c.static[:, level_col] = level
        out[f"relabelled_{int(level)}db"] = c
    if np.isfinite(data.static[:, fmp_col]).any():
        c = copy()
        c.static[:, fmp_col] = np.nan
        out["fmp_hidden"] = c
    return out


def counterfactual_report(data: ABRCohort, p_v_observed: np.ndarray, p_v: dict[str, np.ndarray]) -> dict[str, Any]:
    """Mean p(V) of each counterfactual beside the recordings' own, split by whether a V is labelled (or over all
    records where the data has no wave labels)."""
    has_v = np.isfinite(data.latency_ms[:, _V])
    below = np.zeros(data.n_records, bool)
    if "true_threshold_db" in data.extras:  # simulator truth, read only to select records for this report
        true_thr = np.asarray(data.extras["true_threshold_db"], np.float64)
        below = ~np.isfinite(true_thr) | (data.static_column("intensity_db") <= true_thr)
    mean = lambda x, m: float(x[m].mean()) if m.any() else None
    if np.isfinite(data.latency_ms).any():
        split = lambda x: {"mean_p_v_where_v": mean(x, has_v), "mean_p_v_where_no_v": mean(x, ~has_v)}
    else:  # no peak labels at all (an imported recording): one mean, not every record filed under "no V"
        split = lambda x: {"mean_p_v_all_records": mean(x, np.ones(len(x), bool))}
    out: dict[str, Any] = {
        "as_recorded": split(p_v_observed),
        "as_recorded_below_true_threshold": mean(p_v_observed, below),
    }
    if "time_reversed" in p_v:
        out["time_reversed"] = split(p_v["time_reversed"])
    noise = {k.removeprefix("noise_only_"): float(v.mean()) for k, v in p_v.items() if k.startswith("noise_only_")}
    if noise:
        out["noise_only_by_level"] = noise
    relabelled = {k.removeprefix("relabelled_"): split(v) for k, v in p_v.items() if k.startswith("relabelled_")}
    if relabelled:
        out["relabelled_by_level"] = relabelled
    if "fmp_hidden" in p_v:
        out["fmp_hidden"] = split(p_v["fmp_hidden"])
    return out
