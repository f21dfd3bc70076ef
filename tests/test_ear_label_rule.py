"""One per-ear truth and one class macro-F1 for the network and every baseline (hunt 42: `abrnet evaluate` printed
the network's per-ear macro-F1 twice, 0.528 and 0.317, and went "—" for every per-ear baseline on a file with the
ear's labels on one of its rows)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import f1_score
from typer.testing import CliRunner

from abrnet.data.io import save_cohort
from abrnet.data.schema import ABRCohort
from abrnet.data.simulate import SimulationConfig, simulate_cohort
from abrnet.evaluation.trivial_baselines import ear_level_features, ear_scores, ear_table_scores, trivial_baselines
from abrnet.metrics.kernels import class_macro_f1
from abrnet.metrics.task_metrics import compute_metrics
from abrnet.series.label_conflicts import label_conflict_warnings
from abrnet.series.per_ear import aggregate_ears, ear_truth
from tests.test_evaluation_per_ear import _two_ears
from tests.test_evaluation_toy import flat_predictions, make_cohort


def _last_row_labels(data: ABRCohort) -> ABRCohort:
    """`data` with threshold_db / class / no_response kept on each ear's last record only (a lab sheet's layout)."""
    out = data.subset(np.arange(data.n_records))
    _, inverse = np.unique(out.ear_key, return_inverse=True)  # (N,) record → ear
    last = np.zeros(out.n_records, bool)
    last[[np.flatnonzero(inverse == e)[-1] for e in range(inverse.max() + 1)]] = True
    out.class_id = np.where(last, out.class_id, -1)
    out.threshold_db = np.where(last, out.threshold_db, np.nan).astype(np.float32)
    out.no_response = out.no_response & last
    return out


def test_class_predicted_but_absent_from_the_truth_scores_alike_on_both_paths() -> None:
    """Ear P0/L (class 2) is predicted NORMAL (0), a class no ear has: the per-ear metric and the headline's
    `ear_scores` both average over the truth's classes (2 and 3): (0 + 1) / 2. sklearn's macro over every label
    named by truth or prediction gave 1/3 on the headline path, with the per-ear interval printed beside it."""
    data, pred, *_ = _two_ears()  # P0/L (records 0, 2) reads r1 and the uniform r2: NORMAL; P1/R reads r3: TOTAL
    ears = aggregate_ears(pred, data)
    assert ears.predicted_class.tolist() == [0, 3]
    per_ear = compute_metrics(pred, data, split="t", n_bootstrap=0)["per_ear"]["classification"]["macro_f1"]
    headline = ear_table_scores(ears)["ear_class_macro_f1"]
    assert per_ear == pytest.approx(0.5) and headline == pytest.approx(per_ear)
    truth = {"threshold": ears.true_threshold_db, "no_response": ears.true_no_response, "class": ears.true_class}
    prior = ear_scores(truth, np.full(2, 40.0), np.zeros(2, bool), np.zeros(2, np.int64))  # a baseline: all NORMAL
    assert prior["ear_class_macro_f1"] == pytest.approx(0.0)  # no true class recalled, however many are predicted
    assert float(class_macro_f1(np.array([2, 3]), np.array([0, 3]))[0]) == pytest.approx(headline)
    # every class in the truth: sklearn's macro-F1, so the main job's figures stand (main_job.json: 0.5420117…)
    rng = np.random.default_rng(0)
    y = np.concatenate([np.arange(5), rng.integers(0, 5, 95)])  # (100,) true classes
    y_hat = np.where(rng.random(100) < 0.6, y, rng.integers(0, 5, 100))  # (100,)
    assert float(class_macro_f1(y, y_hat)[0]) == pytest.approx(f1_score(y, y_hat, average="macro"))


def test_sparse_ear_labels_give_baselines_on_the_network_ears() -> None:
    """Labels on each ear's last record: the baselines read the same truth as the network's ear table, so they are
    scored (not "—") on the same ears; they read each ear's first record, which is blank here."""
    train, full = make_cohort(n_patients=30, seed=3), make_cohort(n_patients=10, seed=4)
    sparse = _last_row_labels(full)
    ears = aggregate_ears(flat_predictions(sparse.n_records), sparse)
    _, _, truth = ear_level_features(sparse)
    _, _, full_truth = ear_level_features(full)
    np.testing.assert_array_equal(truth["class"], ears.true_class)
    np.testing.assert_array_equal(truth["threshold"], ears.true_threshold_db)
    np.testing.assert_array_equal(truth["no_response"], ears.true_no_response)
    np.testing.assert_array_equal(truth["class"], full_truth["class"])  # the labels as the full file gives them
    scores, full_scores = trivial_baselines(train, sparse), trivial_baselines(train, full)
    for name in ("levels_only", "prior"):  # the per-ear figures as with the labels on every record
        assert all(v is not None for v in scores[name].values()), scores[name]
        assert scores[name] == full_scores[name]


def test_conflicting_ear_labels_are_counted_and_warned_in_one_line() -> None:
    data = make_cohort(n_patients=3, seed=5)  # 6 ears × 4 records, labels on every record
    assert ear_truth(data).conflicts == {"threshold_db": 0, "class": 0, "no_response": 0}
    assert label_conflict_warnings(data, "lab.csv") == []
    rows = [np.flatnonzero(data.ear_key == k) for k in np.unique(data.ear_key)]  # each ear's records, file order
    measurable = [r for r in rows if np.isfinite(data.threshold_db[r[0]])]
    data.threshold_db[measurable[0][1]] += 10.0  # a later record disagrees: the first record's value is kept
    data.threshold_db[measurable[1][0]] += 5.0  # the first record disagrees: its value is the one scored
    data.class_id[rows[2][3]] = (data.class_id[rows[2][0]] + 1) % 5
    truth = ear_truth(data)
    assert truth.conflicts == {"threshold_db": 2, "class": 1, "no_response": 0}
    e0, e1 = (int(np.searchsorted(np.unique(data.ear_key), data.ear_key[r[0]])) for r in measurable[:2])
    assert truth.threshold_db[e0] == data.threshold_db[measurable[0][0]]
    assert truth.threshold_db[e1] == data.threshold_db[measurable[1][0]]
    (line,) = label_conflict_warnings(data, "lab.csv")
    assert line.startswith("lab.csv: ") and "\n" not in line
    assert "threshold_db on 2 ears" in line and "class on 1 ear" in line and "no_response" not in line


@pytest.mark.slow
def test_evaluate_data_with_sparse_and_conflicting_labels(tmp_path: Path, tiny_run: dict) -> None:
    """`abrnet evaluate --data` on a file with each ear's labels on its last record and one ear's threshold also
    written, differently, on its first: every per-ear baseline is scored and one line warns of the conflict.
    (The tiny trained model: its baselines are fitted on 40 patients, the shipped model's on 2,000.)"""
    from abrnet.cli.main import app

    tiny = simulate_cohort(SimulationConfig(n_patients=2, protocol="fixed"), seed=0)
    sparse = _last_row_labels(tiny)
    measurable = [k for k in np.unique(tiny.ear_key) if np.isfinite(tiny.threshold_db[tiny.ear_key == k]).all()]
    first = np.flatnonzero(tiny.ear_key == measurable[0])[0]
    sparse.threshold_db[first] = tiny.threshold_db[first] + 10.0
    data = save_cohort(sparse, tmp_path / "sparse.h5")
    args = ["evaluate", "--checkpoint", str(tiny_run["dir"] / "best.ckpt"), "--data", str(data), "--split", "all"]
    res = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "e"), "--balanced-patients", "0", "--bootstrap", "0"])
    assert res.exit_code == 0, res.output
    lines = [w for w in res.output.splitlines() if "different per-ear labels" in w]
    assert len(lines) == 1 and lines[0].startswith(f"warning: {data}: "), res.output
    assert "threshold_db on 1 ear)" in lines[0]
    m = json.loads((tmp_path / "e" / "metrics.json").read_text())
    assert m["input_warnings"][-1] == lines[0].removeprefix("warning: ")
    for name in ("levels_only", "prior", "fmp_criterion", "adjacent_level_correlation"):
        assert m["baselines"][name]["ear_threshold_mae_db"] is not None, (name, m["baselines"][name])
    network = m["headline"]["network"]
    assert network["ear_class_macro_f1"] == m["per_ear"]["classification"]["macro_f1"]


def test_data_import_says_an_ears_conflicting_labels_when_it_stores_them(tmp_path: Path) -> None:
    """`abrnet data import` stored a file whose ear said NORMAL on one row and SNHL on the others without a word; only
    a later `evaluate --data` said it (hunt 50e #2). The import now says it as evaluate does."""
    from typer.testing import CliRunner

    from abrnet.cli.main import app
    from abrnet.data.csv_io import write_wide_csv

    data = make_cohort(n_patients=2, seed=6)
    first = np.flatnonzero(data.ear_key == data.ear_key[0])
    data.class_id[first[-1]] = (data.class_id[first[0]] + 1) % 5
    csv = write_wide_csv(data, tmp_path / "lab.csv")
    res = CliRunner().invoke(app, ["data", "import", str(csv), "--out", str(tmp_path / "lab.h5")])
    flat = " ".join(res.output.split())
    assert res.exit_code == 0 and f"{csv}: records of one ear carry different per-ear labels (class on 1 ear)" in flat
