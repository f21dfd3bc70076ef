"""`predict` says where a recording's stimulus rate or age lies outside the training cohort, as `generate` does.

Why (hunt 48): `generate` warned for a 200/s rate or a 90-year-old, while `predict` read the same values silently
(a 200/s series went from "response, 40 dB" to "uncertain, above 85 dB"), and the adults' line spoke of "3 % of the
cohort" where nobody in it was older than 40.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from abrnet.constants import STATIC_PARAMS
from abrnet.data.metadata import SIMULATED, SPECIES
from abrnet.data.schema import ABRCohort
from abrnet.data.simulate import SimulationConfig
from abrnet.inference.domain import IN_DOMAIN
from abrnet.inference.input_warnings import input_warnings
from tests.conftest import make_toy_cohort


def _with(column: str, value: float, rows: slice = slice(None)) -> ABRCohort:
    toy = make_toy_cohort(2)
    toy.extras[SPECIES] = np.full(toy.n_records, SIMULATED[SPECIES])  # human, as abrnet's own formats are
    static = toy.static.copy()
    static[rows, STATIC_PARAMS.index(column)] = value
    return dataclasses.replace(toy, static=static)


def _said(cohort: ABRCohort) -> list[str]:
    cohort.extras["domain"] = np.full(cohort.n_records, IN_DOMAIN)  # assessed by the caller (`assess_domain`)
    return [w for w in input_warnings(cohort, "f.csv") if "the training cohort" in w]


def test_a_rate_outside_the_cohorts_rates_is_said() -> None:
    cfg = SimulationConfig()
    assert (min(cfg.rates_hz), max(cfg.rates_hz)) == (11.1, 49.1)
    cohort = _with("stimulus_rate_hz", 200.0, slice(0, 3))
    assert _said(cohort) == [
        f"f.csv: 3 of {cohort.n_records} records at 200 /s, outside the training cohort's stimulus rates "
        "(11.1–49.1 /s): latencies and thresholds shift with rate in ways the model never saw"
    ]
    assert _said(_with("stimulus_rate_hz", 49.1)) == []  # the edge is inside


def test_an_age_above_the_cohorts_oldest_is_said() -> None:
    cohort = _with("age_years", 90.0)
    assert _said(cohort) == [
        f"f.csv: {cohort.n_records} of {cohort.n_records} records of patients aged 90 years, older than anyone in "
        "the training cohort (40 years): the readings of such ears are extrapolations"
    ]
    assert _said(_with("age_years", 40.0)) == [] and np.isfinite(cohort.static).all()
