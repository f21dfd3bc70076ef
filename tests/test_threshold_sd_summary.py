"""The per-ear threshold SD summary: undefined where the ear's p(V) curve never passes 0.5, and over the same ears
(the measurable ones) as the 90 % interval width beside it.

Why: an ear with no information (p(V) flat at 0.46) or no response (p(V) 0) printed an SD of 0 dB, "known
exactly", and `median_sd_db` took every ear while `median_interval_90_width_db` took the measurable ones.
"""

from __future__ import annotations

import numpy as np
import pytest

from abrnet.metrics.task_metrics import compute_metrics
from abrnet.series.per_ear import EarTable, aggregate_ears
from tests.test_evaluation_toy import flat_predictions, make_cohort


def _with_p_v(p_v: object, n_patients: int = 8) -> tuple[dict, EarTable]:
    data = make_cohort(n_patients=n_patients, seed=0)
    presence = np.full((data.n_records, 3), 0.1)
    presence[:, 2] = p_v(data) if callable(p_v) else p_v
    pred = flat_predictions(data.n_records, peak_presence_prob=presence)
    return compute_metrics(pred, data, split="t", n_bootstrap=0), aggregate_ears(pred, data)


def test_no_information_gives_no_sd_rather_than_0_db() -> None:
    m, ears = _with_p_v(np.full(1, 0.46))
    thr = m["per_ear"]["threshold"]
    assert thr["median_sd_db"] is None
    assert m["undefined"]["per_ear.threshold.median_sd_db"].startswith("SD undefined on half the measurable ears")
    assert thr["n_ears_sd_undefined"] == thr["n_ears_measurable"] > 0
    assert not ears.threshold_sd_defined.any()


def test_sd_and_width_summarise_the_measurable_ears() -> None:
    """Measurable ears get a ramp (SD > 0); no-response ears p(V) 0 (SD undefined): the median is the ramp's SD."""

    def ramp(data):
        level = data.static[:, 1].astype(np.float64)
        return np.where(data.no_response, 0.0, level / 100.0)

    m, ears = _with_p_v(ramp, n_patients=20)
    measurable = np.isfinite(ears.true_threshold_db) & ~ears.true_no_response
    assert (~measurable).any()
    expected = np.median(ears.threshold_sd_db[measurable])
    assert expected > 0
    thr = m["per_ear"]["threshold"]
    assert thr["median_sd_db"] == pytest.approx(expected)
    assert thr["n_ears_sd_undefined"] == 0
    assert not ears.threshold_sd_defined[ears.true_no_response].any()
