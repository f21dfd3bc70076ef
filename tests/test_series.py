"""The series stage: per-ear class from the whole intensity series, stored safely in the checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from abrnet.inference.checkpoint import SERIES_KEY, load_checkpoint
from abrnet.inference.predictor import predict_cohort
from abrnet.metrics.task_metrics import compute_metrics
from abrnet.models.predictions import Predictions
from abrnet.series.classifier import SeriesClassifier, fit_series_classifier
from abrnet.series.per_ear import SERIES_FEATURES, aggregate_ears, series_features
from tests.conftest import make_toy_cohort


def _oracle_predictions(cohort, shift_by_class: dict[int, float], seed: int = 0) -> Predictions:
    """Per-record outputs that carry class information only through the series' latency shift."""
    rng = np.random.default_rng(seed)
    n = cohort.n_records
    intensity = cohort.static[:, 1]
    lat_v = 5.07 + 4.35 * np.exp(-intensity / 37.2)
    lat_v = lat_v + np.array([shift_by_class[c] for c in cohort.class_id]) + rng.normal(0, 0.1, n)
    lat = np.stack([lat_v - 4.0, lat_v - 2.0, lat_v], axis=1)
    return Predictions(
        peak_presence_prob=np.full((n, 3), 0.9),
        latency_ms=lat,
        latency_sd_ms=np.full((n, 3), 0.2),
        amplitude_uv=np.full((n, 3), 0.3),
        amplitude_sd_uv=np.full((n, 3), 0.1),
        class_prob=np.full((n, 5), 0.2),  # the record classifier knows nothing
        threshold_db=np.full(n, 30.0),
        threshold_sd_db=np.full(n, 10.0),
        p_no_response=np.full(n, 0.1),
    )


def test_series_classifier_learns_a_series_level_signature() -> None:
    shifts = {0: 0.0, 1: 3.0, 2: 1.0, 3: -1.0, 4: 2.0}
    fit = make_toy_cohort(n_patients=60, seed=1)
    test = make_toy_cohort(n_patients=30, seed=2)
    model = fit_series_classifier(_oracle_predictions(fit, shifts, 1), fit, source="toy")
    ears = aggregate_ears(_oracle_predictions(test, shifts, 2), test, model)
    assert (ears.predicted_class == ears.true_class).mean() > 0.9
    plain = aggregate_ears(_oracle_predictions(test, shifts, 2), test)  # geometric mean of uninformative records
    assert (plain.predicted_class == plain.true_class).mean() < 0.5
    np.testing.assert_allclose(ears.class_prob.sum(axis=1), 1.0, atol=1e-9)
    # no response (class 3 in the toy cohort) is read from the series too, not from the flat record outputs
    assert model.no_response_coef is not None
    assert ((ears.p_no_response > 0.5) == ears.true_no_response).mean() > 0.9
    assert np.allclose(plain.p_no_response, 0.1)
    again = SeriesClassifier.from_dict(model.to_dict())
    np.testing.assert_allclose(again.predict_proba(series_features(_oracle_predictions(test, shifts, 2), test, ears)),
                               ears.class_prob)  # fmt: skip
    assert len(SERIES_FEATURES) == len(model.mean)


def test_fit_needs_two_classes() -> None:
    toy = make_toy_cohort(n_patients=5)
    one = toy.subset(toy.class_id == 0)
    with pytest.raises(ValueError, match="two classes"):
        fit_series_classifier(_oracle_predictions(one, dict.fromkeys(range(5), 0.0)), one, source="toy")


def test_series_classifier_travels_in_the_checkpoint(tiny_run: dict, tmp_path: Path) -> None:
    loaded = load_checkpoint(tiny_run["dir"] / "best.ckpt")
    cohort = tiny_run["cohort"]
    pred = predict_cohort(loaded.model, cohort, loaded.normalizer, with_denoise=False, with_reconstruction=False)
    model = fit_series_classifier(pred, cohort, source="test")
    ckpt = torch.load(tiny_run["dir"] / "best.ckpt", weights_only=True)
    ckpt[SERIES_KEY] = model.to_dict()
    path = tmp_path / "with_series.ckpt"
    torch.save(ckpt, path)
    back = load_checkpoint(path)
    assert back.series_model is not None and back.series_model.source == "test"
    metrics = compute_metrics(pred, cohort, split="all", n_bootstrap=0, series_model=back.series_model)
    assert metrics["per_ear"]["class_method"] == "series classifier"
    assert compute_metrics(pred, cohort, split="all", n_bootstrap=0)["per_ear"]["class_method"] == "geometric mean"


def test_record_decision_rule_stops_over_calling_a_rare_class() -> None:
    """Probabilities that over-call class 2 (as a class-balanced network does at natural prevalence): the tuned
    log-prior shift raises macro-F1 on fresh records from the same distribution and leaves NORMAL's at 0."""
    from sklearn.metrics import f1_score

    from abrnet.series.classifier import adjusted_record_probs, fit_record_class_bias

    def sample(seed: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(seed)
        y = rng.choice(5, size=3000, p=[0.8, 0.01, 0.1, 0.04, 0.05])
        logits = rng.normal(0, 1.0, (3000, 5))
        logits[np.arange(3000), y] += 1.5
        logits[:, 2] += 1.2  # over-called
        p = np.exp(logits)
        return p / p.sum(1, keepdims=True), y

    (p_fit, y_fit), (p_new, y_new) = sample(0), sample(1)
    bias = fit_record_class_bias(p_fit, y_fit)
    assert bias is not None and bias[0] == 0.0 and bias[2] < 0.0
    f1 = lambda p: f1_score(y_new, p.argmax(1), labels=list(range(5)), average="macro", zero_division=0)
    assert f1(adjusted_record_probs(p_new, bias)) > f1(p_new) + 0.02
    assert fit_record_class_bias(p_fit, np.zeros(3000, dtype=int)) is None  # one class: nothing to tune
    np.testing.assert_allclose(adjusted_record_probs(p_new, None), p_new)


def test_threshold_crossing_is_fitted_on_the_series_ears_and_used() -> None:
    """A network whose p(V) reaches only 0.35 at and above the labelled threshold (0.1 below): the 0.5 crossing
    puts every ear above its levels; the fitted crossing (nearest 0.5 among the equally good ones) reads them."""
    from abrnet.series.classifier import fit_threshold_point

    fit = make_toy_cohort(n_patients=40, seed=3)
    intensity = fit.static[:, 1]
    measurable = np.isfinite(fit.threshold_db)
    pred = _oracle_predictions(fit, dict.fromkeys(range(5), 0.0))
    p_v = np.where(measurable & (intensity >= np.nan_to_num(fit.threshold_db, nan=1e9)), 0.35, 0.1)
    pred.peak_presence_prob[:, 2] = p_v
    assert fit_threshold_point(pred, fit) == 0.3
    model = fit_series_classifier(pred, fit, source="toy")
    plain = aggregate_ears(pred, fit, model)
    model.threshold_point = 0.3
    fitted = aggregate_ears(pred, fit, model)
    ears = np.isfinite(fitted.true_threshold_db)
    assert ears.sum() >= 20
    lowest_seen = np.full(fitted.n_ears, np.inf)  # the toy grid is coarser than the labels: the first level seen
    np.minimum.at(lowest_seen, fitted.record_ear, np.where(p_v > 0.3, intensity, np.inf))
    np.testing.assert_allclose(fitted.threshold_db[ears], lowest_seen[ears])
    assert (plain.threshold_db[ears] > plain.true_threshold_db[ears]).all()  # 0.5 is never reached
    assert (fitted.threshold_lo_db <= fitted.threshold_db).all() and (
        fitted.threshold_db <= fitted.threshold_hi_db
    ).all()
    assert SeriesClassifier.from_dict(model.to_dict()).threshold_point == 0.3


def test_long_grids_get_their_own_fitted_interval() -> None:
    """Ears on a long grid (≥ DENSE_SERIES_LEVELS levels) read the dense pair; short series keep theirs."""
    from abrnet.series.classifier import fit_threshold_quantiles
    from abrnet.series.per_ear import DENSE_SERIES_LEVELS

    long_levels = tuple(range(0, 65, 5))
    assert len(long_levels) >= DENSE_SERIES_LEVELS
    short, long = make_toy_cohort(n_patients=30, seed=5), make_toy_cohort(n_patients=30, levels=long_levels, seed=6)
    both = short.concat(long.with_patient_prefix("LONG"))
    rng = np.random.default_rng(0)

    def predictions(cohort):  # a noisy p(V) that rises through the labelled threshold
        pred = _oracle_predictions(cohort, dict.fromkeys(range(5), 0.0))
        above = cohort.static[:, 1] - np.nan_to_num(cohort.threshold_db, nan=200.0)
        pred.peak_presence_prob[:, 2] = np.clip(
            1 / (1 + np.exp(-above / 8)) + rng.normal(0, 0.15, cohort.n_records), 0, 1
        )
        return pred

    assert fit_threshold_quantiles(predictions(short), short)[1] is None  # no long grid: no own pair
    pred = predictions(both)
    short_pair, dense_pair = fit_threshold_quantiles(pred, both)
    assert dense_pair is not None and dense_pair[0] < dense_pair[1]
    assert short_pair[0] < short_pair[1]
    model = fit_series_classifier(pred, both, source="toy")
    model.threshold_quantiles = [0.05, 0.95]
    single = aggregate_ears(pred, both, model)
    model.dense_threshold_quantiles = [0.45, 0.55]
    split = aggregate_ears(pred, both, model)
    is_long = np.char.startswith(split.ear_key.astype(str), "LONG")
    assert is_long.sum() == 60 and (~is_long).sum() == 60
    np.testing.assert_array_equal(split.threshold_lo_db[~is_long], single.threshold_lo_db[~is_long])
    np.testing.assert_array_equal(split.threshold_hi_db[~is_long], single.threshold_hi_db[~is_long])
    width = lambda t: t.threshold_hi_db[is_long] - t.threshold_lo_db[is_long]
    assert (width(split) <= width(single)).all() and (width(split) < width(single)).any()
    np.testing.assert_array_equal(split.threshold_db, single.threshold_db)  # the point does not use it
    assert SeriesClassifier.from_dict(model.to_dict()).dense_threshold_quantiles == [0.45, 0.55]


def test_a_fixed_grid_cohort_joins_the_long_grid_interval_fit() -> None:
    """`long_grid` ears are pooled with the fitting ears, exactly as if they were one cohort: a mixed cohort of 300
    patients held 59 measurable long-grid ears, and their pair's coverage swung from 95 % to 88 % between two runs.
    Without its own long grids the fitting cohort gets a long-grid pair from the extra ears alone."""
    from abrnet.series.classifier import fit_threshold_quantiles

    short = make_toy_cohort(n_patients=30, seed=5)
    long = make_toy_cohort(n_patients=30, levels=tuple(range(0, 65, 5)), seed=6).with_patient_prefix("LONG")
    both = short.concat(long)
    rng = np.random.default_rng(1)
    pred = _oracle_predictions(both, dict.fromkeys(range(5), 0.0))
    above = both.static[:, 1] - np.nan_to_num(both.threshold_db, nan=200.0)
    pred.peak_presence_prob[:, 2] = np.clip(1 / (1 + np.exp(-above / 8)) + rng.normal(0, 0.15, both.n_records), 0, 1)
    first, rest = np.arange(short.n_records), np.arange(short.n_records, both.n_records)

    pooled = fit_threshold_quantiles(pred.subset(first), short, long_grid=(pred.subset(rest), long))
    assert pooled == fit_threshold_quantiles(pred, both)
    assert fit_threshold_quantiles(pred.subset(first), short)[1] is None and pooled[1] is not None
    assert all(round(q, 2) == q for q in (*pooled[0], *pooled[1]))  # on the 0.01 grid the checkpoint stores


def test_interval_fit_scores_the_ends_the_report_gives() -> None:
    """The quantile pair is fitted on the interval ends exactly as `aggregate_ears` reports them.

    p(V) here rises through the labelled threshold but saturates at 0.8: a pair whose q_hi the curves never reach
    reports "above the highest level" as its upper end. The fit once filled such ends with the 0.5 crossing, so a
    (q_lo, 0.99) pair looked as narrow as (q_lo, 0.5) and was reported spanning the whole grid.
    """
    from abrnet.series.classifier import fit_threshold_quantiles
    from abrnet.series.per_ear import ABOVE_HIGHEST_DB, interval_bounds, presence_cdfs

    levels = np.array([0.0, 10.0, 20.0, 30.0])
    cdfs = presence_cdfs(np.zeros(4, int), levels, np.array([0.0, 0.2, 0.6, 0.7]))
    above = np.array([30.0 + ABOVE_HIGHEST_DB])
    lo, hi = interval_bounds(cdfs, 1, (0.1, 0.99), above)
    assert lo[0] == 10.0 and hi[0] == above[0]  # never reaches 0.99: above the highest level, not the 0.5 crossing
    assert interval_bounds(cdfs, 1, (0.1, 0.65), above)[1][0] == 30.0

    cohort = make_toy_cohort(n_patients=60, levels=tuple(range(0, 85, 5)), seed=7)
    rng = np.random.default_rng(3)
    pred = _oracle_predictions(cohort, dict.fromkeys(range(5), 0.0))
    above_thr = cohort.static[:, 1] - np.nan_to_num(cohort.threshold_db, nan=200.0)
    p_v = 0.8 / (1 + np.exp(-(above_thr + 2.5) / 3)) + rng.normal(0, 0.03, cohort.n_records)
    pred.peak_presence_prob[:, 2] = np.clip(p_v, 0, 1)
    short_pair, dense_pair = fit_threshold_quantiles(pred, cohort)
    pair = dense_pair or short_pair
    assert pair[1] < 0.8  # a pair the curves reach
    model = fit_series_classifier(pred, cohort, source="toy")
    model.threshold_quantiles, model.dense_threshold_quantiles = short_pair, dense_pair
    ears = aggregate_ears(pred, cohort, model)
    keep = np.isfinite(ears.true_threshold_db) & ~ears.true_no_response
    covered = (ears.threshold_lo_db <= ears.true_threshold_db) & (ears.true_threshold_db <= ears.threshold_hi_db)
    assert covered[keep].mean() >= 0.9  # the coverage the fit aimed at, on the same ears, as reported
    assert np.median((ears.threshold_hi_db - ears.threshold_lo_db)[keep]) <= 20.0  # not the whole 0-80 dB grid
