"""Class macro-F1 and balanced accuracy: scored on the split's own classes in every patient resample (resampled
within the split's class strata, so a rare class stays in), and undefined on a split with fewer than two classes.

Why: each resample averaged over the classes it happened to hold, so one that lost a rare class scored an easier
problem and the interval rose above the point (hunt 45: point 0.790, interval [0.765, 1.0]); and a one-class file
scored a constant predictor 1.0, "met" in the targets table.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score, f1_score

from abrnet.evaluation.targets import targets_markdown
from abrnet.metrics.kernels import class_balanced_accuracy, class_macro_f1
from abrnet.metrics.task_metrics import compute_metrics
from tests.test_evaluation_toy import flat_predictions, tiny_cohort

CLASS_PATHS = (
    "classification.macro_f1",
    "classification.balanced_accuracy",
    "per_ear.classification.macro_f1",
)


def _scored(truth: np.ndarray, called: np.ndarray, n_bootstrap: int = 200) -> dict:
    """compute_metrics of one record (= one ear, one patient) per entry of `truth`, each called `called`."""
    n = truth.size
    prob = np.full((n, 5), 0.01)
    prob[np.arange(n), called] = 0.96
    data = tiny_cohort(n, class_id=truth.astype(np.int64))
    return compute_metrics(flat_predictions(n, class_prob=prob), data, split="t", n_bootstrap=n_bootstrap, seed=0)


def test_a_rare_class_held_by_one_patient_stays_in_every_resample_so_the_interval_is_defined() -> None:
    """One patient holds the only class-4 ear, misread. Drawn from all 40 patients at once, ~37 % of resamples lost
    it and the interval was refused (before that: [0.77, 1], an easier problem). Resampled within the split's strata
    (each patient's rarest class, as the split is drawn) that patient is in every resample: an interval on the
    split's own five classes, which holds the point and never the perfect score the misread ear rules out."""
    truth = np.arange(40) % 4
    truth[-1] = 4
    called = truth.copy()
    called[-1] = 0
    m = _scored(truth, called)
    labels = np.unique(truth)  # the point is unchanged: the mean over the truth's classes
    assert m["classification"]["macro_f1"] == pytest.approx(f1_score(truth, called, labels=labels, average="macro"))
    assert m["classification"]["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(truth, called))
    for path in CLASS_PATHS:
        lo, hi = m["intervals"][path]
        point = m[path.split(".")[0]]["classification"]["macro_f1"] if path.startswith("per_ear") else None
        point = point if point is not None else m["classification"][path.split(".")[-1]]
        assert lo <= point <= hi < 1.0, path  # class 4 is misread in every resample
        assert f"intervals.{path}" not in m["undefined"], path


def test_a_class_no_patient_is_stratified_by_can_still_leave_a_resample_and_its_interval_is_refused() -> None:
    """Patients X and Y both have class 3 as their rarest (2 records); class 4 (3 records) sits in X alone, so a
    resample that draws Y twice from their stratum loses class 4: undefined there, so refused, not made easier."""
    truth = np.array([0, 1, 2] * 12 + [3, 4, 4, 4, 3])
    patients = [f"P{i:02d}" for i in range(36)] + ["X", "X", "X", "X", "Y"]
    ears = ["L"] * 36 + ["L", "R", "R", "R", "L"]
    n = truth.size
    prob = np.full((n, 5), 0.01)
    prob[np.arange(n), truth] = 0.96
    data = tiny_cohort(n, class_id=truth.astype(np.int64), patient_id=np.array(patients), ear=np.array(ears))
    m = compute_metrics(flat_predictions(n, class_prob=prob), data, split="t", n_bootstrap=200, seed=0)
    assert m["classification"]["macro_f1"] == pytest.approx(1.0)
    assert m["intervals"]["classification.macro_f1"] is None
    reason = m["undefined"]["intervals.classification.macro_f1"]
    assert reason.startswith("a class of the split's truth (5 classes) is absent from")
    assert reason.endswith("% of patient resamples")


def test_a_constant_predictor_gets_no_interval_from_easier_class_sets_only_its_own_figure() -> None:
    """The hunt's tiny model: NORMAL for every ear of 12 patients, 3 classes. Point 1/3; the interval was [0.33, 0.89]
    from resamples holding NORMAL alone. Every stratified resample holds all three classes, and a constant call
    scores 1/3 on any set that does: the interval is that figure, nothing easier."""
    truth = np.array([0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 2])
    m = _scored(truth, np.zeros(12, np.int64))
    assert m["classification"]["balanced_accuracy"] == pytest.approx(1 / 3)
    assert m["intervals"]["classification.balanced_accuracy"] == pytest.approx([1 / 3, 1 / 3])


def test_intervals_stand_where_every_resample_keeps_every_class() -> None:
    """40 patients of each of 2 classes: a resample without one never happens, so the interval is given."""
    truth = np.arange(80) % 2
    called = np.where(np.arange(80) % 5 == 0, 1 - truth, truth)
    m = _scored(truth, called)
    for path in CLASS_PATHS:
        lo, hi = m["intervals"][path]
        assert lo <= 0.8 <= hi, path


def test_kernels_give_nan_for_a_resample_without_a_class_of_the_truth() -> None:
    truth = np.array([0, 0, 1, 2])
    pred = np.array([0, 0, 0, 2])
    W = np.array([[1.0, 1, 1, 1], [2, 1, 0, 1], [1, 1, 1, 0]])  # row 2 has no class 1, row 3 no class 2
    f1 = class_macro_f1(truth, pred, W)
    ba = class_balanced_accuracy(truth, pred, W)
    assert np.isfinite(f1[0]) and np.isfinite(ba[0])
    assert np.isnan(f1[1:]).all() and np.isnan(ba[1:]).all()


def test_a_split_with_one_true_class_has_no_class_macro_f1() -> None:
    """Every ear NORMAL, every call NORMAL: undefined ("—"), not 1.0 and "met"."""
    m = _scored(np.zeros(10, np.int64), np.zeros(10, np.int64), n_bootstrap=20)
    for path in CLASS_PATHS:
        section, *rest = path.split(".")
        node = m[section]
        for part in rest:
            node = node[part]
        assert node is None, path
        assert m["undefined"][path] == "undefined: the split's truth holds 1 class (NORMAL); needs at least 2"
    assert np.isnan(class_macro_f1(np.zeros(4), np.zeros(4))).all()
    assert np.isnan(class_balanced_accuracy(np.zeros(4), np.zeros(4))).all()
    row = next(line for line in targets_markdown(m).splitlines() if line.startswith("| class macro-F1, per record"))
    assert row.split("|")[2].strip() == "—" and row.split("|")[-2].strip() == "—"
