"""`evaluate_checkpoint(cohort=X)` fits the baselines on the model's own training split, as ``data_path`` does.

Why: it fitted them on X's own "train" split and labelled that "training split of the model's training cohort";
with ``split="all"`` the baselines were fitted on records they were then scored on.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import abrnet.evaluation.evaluate as ev
from abrnet.data.schema import ABRCohort, DataError
from abrnet.data.simulate import SimulationConfig, simulate_cohort
from abrnet.evaluation.trivial_baselines import TRAINING_SPLIT
from abrnet.inference.checkpoint import load_checkpoint


def _spy_fit(monkeypatch: pytest.MonkeyPatch) -> list[ABRCohort]:
    """Record every cohort `FittedBaselines.fit` is given."""
    seen: list[ABRCohort] = []
    original = ev.FittedBaselines.fit.__func__

    def spy(cls, train: ABRCohort, *args, **kwargs):
        seen.append(train)
        return original(cls, train, *args, **kwargs)

    monkeypatch.setattr(ev.FittedBaselines, "fit", classmethod(spy))
    return seen


def _evaluate(tiny_run: dict, cohort: ABRCohort, out: Path) -> dict:
    return ev.evaluate_checkpoint(
        tiny_run["dir"] / "best.ckpt", cohort=cohort, split="all", out_dir=out, balanced_patients=0, n_bootstrap=0
    )


def test_a_handed_in_cohort_gets_baselines_fitted_on_the_models_training_split(
    tiny_run: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _spy_fit(monkeypatch)
    other = simulate_cohort(SimulationConfig(n_patients=4), seed=99)
    m = _evaluate(tiny_run, other, tmp_path / "e")
    expected = ev.split_of(load_checkpoint(tiny_run["dir"] / "best.ckpt"), tiny_run["cohort"], "train")
    (train,) = seen
    assert train.n_records == expected.n_records
    assert np.array_equal(np.sort(train.patient_id.astype(str)), np.sort(expected.patient_id.astype(str)))
    assert m["baselines"]["fitted_on"] == TRAINING_SPLIT


def test_without_the_models_cohort_the_label_says_what_was_fitted(
    tiny_run: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The training file changed since: the handed-in cohort's own split is fitted, and the label says so."""

    def unreadable(loaded):
        raise DataError("lab.h5", "data.path", "changed since the model was trained on it")

    monkeypatch.setattr(ev, "model_training_cohort", unreadable)
    other = simulate_cohort(SimulationConfig(n_patients=4), seed=99)
    m = _evaluate(tiny_run, other, tmp_path / "e")
    label = m["baselines"]["fitted_on"]
    assert label.startswith("training split of the cohort handed in, NOT of the model's training cohort")
    assert "changed since the model was trained on it" in label
