"""A model's records are warned about against the ranges its own training cohort covered (stop 50).

Why: `predict` and `generate` read the default simulator's ranges whatever the checkpoint had trained on, so a model
trained on a lab's file of 50–90 /s adult recordings was told its own recordings lay "outside the training cohort's
stimulus rates (11.1–49.1 /s)" and were 3 % of its cohort, while a level or an FMP it never saw passed silently.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from abrnet.constants import STATIC_PARAMS
from abrnet.data.metadata import SIMULATED, SPECIES
from abrnet.data.normalizer import Normalizer
from abrnet.data.schema import ABRCohort
from abrnet.data.simulate import SimulationConfig, simulate_cohort
from abrnet.inference.domain import IN_DOMAIN
from abrnet.inference.input_warnings import input_warnings
from abrnet.inference.training_ranges import DEFAULT_RANGES, TrainingRanges

AGE, LEVEL, RATE, FMP = (STATIC_PARAMS.index(k) for k in ("age_years", "intensity_db", "stimulus_rate_hz", "fmp"))


def _lab() -> ABRCohort:
    """A lab's file: adults of 50–60 years at 50–90 /s, 30–80 dB, FMP 0.5–8 (one record without FMP)."""
    c = simulate_cohort(SimulationConfig(n_patients=4), seed=3)
    static = c.static.copy()
    rng = np.random.default_rng(0)
    static[:, AGE] = rng.uniform(50, 60, c.n_records)
    static[:, RATE] = rng.choice([50.0, 90.0], c.n_records)
    static[:, LEVEL] = rng.choice(np.arange(30.0, 85.0, 5.0), c.n_records)
    static[:, FMP] = rng.uniform(0.5, 8.0, c.n_records)
    static[0, FMP] = np.nan
    c = dataclasses.replace(c, static=static.astype(np.float32))
    c.extras[SPECIES] = np.full(c.n_records, SIMULATED[SPECIES])
    c.extras["domain"] = np.full(c.n_records, IN_DOMAIN)
    return c


def _with(c: ABRCohort, **values: float) -> ABRCohort:
    static = c.static.copy()
    for name, value in values.items():
        static[:, STATIC_PARAMS.index(name)] = value
    return dataclasses.replace(c, static=static)


def _said(c: ABRCohort, ranges: TrainingRanges) -> list[str]:
    return [w for w in input_warnings(c, "f.h5", ranges=ranges) if "training cohort" in w]


def test_the_normaliser_records_the_training_splits_range_and_an_older_one_reads_as_it_was() -> None:
    lab = _lab()
    norm = Normalizer.fit(lab)
    assert norm.static_min == pytest.approx(np.nanmin(lab.static, axis=0).tolist())
    assert norm.static_max == pytest.approx(np.nanmax(lab.static, axis=0).tolist())
    assert norm.static_max[FMP] == pytest.approx(float(np.nanmax(lab.static[:, FMP])))  # the NaN FMP is skipped
    assert Normalizer.from_dict(norm.to_dict()) == norm
    older = {"signal_scale": 0.2, "static_mean": [0.1] * 4, "static_std": [1.0] * 4}  # a checkpoint before stop 50
    assert Normalizer.from_dict(older).to_dict() == older  # its dict, and so its model_content_sha256, unchanged
    no_fmp = _with(lab, fmp=np.nan)
    assert np.isnan(Normalizer.fit(no_fmp).static_max[FMP])


def test_a_file_trained_model_warns_against_its_own_ranges_not_the_simulators() -> None:
    lab = _lab()
    ranges = TrainingRanges.of(Normalizer.fit(lab), simulated=False)
    assert _said(lab, ranges) == []  # its own records: no range line
    assert not any("from adults" in w for w in input_warnings(lab, "f.h5", ranges=ranges))  # nor the simulator's share
    said_by_default = input_warnings(lab, "f.h5", ranges=DEFAULT_RANGES)  # what predict said before stop 50
    assert any("11.1–49.1 /s" in w for w in said_by_default) and any("from adults" in w for w in said_by_default)
    infant = _with(lab.subset(np.arange(3)), age_years=0.5, stimulus_rate_hz=21.1, intensity_db=100.0, fmp=1000.0)
    lines = _said(infant, ranges)
    norm = Normalizer.fit(lab)
    young, levels = norm.static_min[AGE], f"{norm.static_min[LEVEL]:g}–{norm.static_max[LEVEL]:g}"
    assert lines == [
        "f.h5: 3 of 3 records at 21.1 /s, outside the training cohort's stimulus rates (50–90 /s): latencies and "
        "thresholds shift with rate in ways the model never saw",
        f"f.h5: 3 of 3 records of patients aged 0.5 years, younger than anyone in the training cohort ({young:g} "
        "years): the readings of such ears are extrapolations",
        f"f.h5: 3 of 3 records at 100 dB, outside the training cohort's levels ({levels} dB): the readings at "
        "such levels are extrapolations",
        f"f.h5: 3 of 3 records with FMP 1000, above the training cohort's (largest: {norm.static_max[FMP]:.3g}): "
        "the model reads them by extrapolation",
    ]
    assert _said(_with(lab, age_years=young, stimulus_rate_hz=90.0, fmp=norm.static_max[FMP]), ranges) == []  # edges


def test_a_file_trained_checkpoint_before_the_record_says_only_its_fmp_bound() -> None:
    older = Normalizer(0.2, [30.0, 50.0, 40.0, 1.0], [10.0, 20.0, 10.0, 0.5])  # no static_min / static_max
    ranges = TrainingRanges.of(older, simulated=False)
    assert (ranges.age_years, ranges.intensity_db, ranges.stimulus_rate_hz) == (None, None, None)
    odd = _with(_lab(), age_years=90.0, stimulus_rate_hz=200.0, fmp=1000.0)
    (line,) = _said(odd, ranges)
    bound = float(np.expm1(1.0 + 5.0 * 0.5))
    assert line.endswith(
        f"above the training cohort's (mean + 5 SD of log FMP: {bound:.3g}): the model reads them by extrapolation"
    )
    assert TrainingRanges.of(older, simulated=True).stimulus_rate_hz == (11.1, 49.1)  # the simulator's, as before


def test_a_model_trained_on_no_fmp_warns_every_fmp_it_is_given() -> None:
    from abrnet.inference.generation import condition_warnings

    ranges = TrainingRanges.of(Normalizer.fit(_with(_lab(), fmp=np.nan)), simulated=False)
    (line,) = _said(_with(_lab(), fmp=2.0), ranges)
    assert "above the training cohort's (which had none)" in line
    asked = _with(_lab().subset(np.arange(1)), fmp=2.0)
    (said,) = condition_warnings(asked, ranges)  # generate's line too, not "(largest: nan)" (review 50f #2)
    assert "FMP 2 above the training split's FMP (which had none)" in said, said


def test_predict_and_generate_use_the_checkpoints_own_ranges(tiny_run: dict) -> None:
    """The shared tiny run trained on a file: its ranges are its training split's, and predict names them."""
    import abrnet
    from abrnet.evaluation.evaluate import split_of
    from abrnet.inference.generation import generation_warnings

    model = abrnet.load(tiny_run["dir"] / "best.ckpt")
    train = split_of(model.loaded, tiny_run["cohort"], "train")
    assert model.ranges.stimulus_rate_hz == (float(train.static[:, RATE].min()), float(train.static[:, RATE].max()))
    assert model.ranges.age_years == (float(train.static[:, AGE].min()), float(train.static[:, AGE].max()))
    cohort = ABRCohort.from_signals(
        tiny_run["cohort"].signals[:2], age_years=0.5, intensity_db=[60, 40], stimulus_rate_hz=300.0, fmp=5e4,
        patient_id="P1", ear="L",
    )  # fmt: skip
    report = model.predict(cohort)
    lo, hi = model.ranges.stimulus_rate_hz
    assert any(f"outside the training cohort's stimulus rates ({lo:g}–{hi:g} /s)" in w for w in report.warnings)
    assert any("with FMP 50000, above the training cohort's (largest: " in w for w in report.warnings)
    with pytest.warns(UserWarning):
        g = model.generate(1, conditions=[[0.5, 60.0, 300.0, 2.0]], steps=1)
    assert any(f"outside the training cohort's {lo:g}–{hi:g} /s" in w for w in generation_warnings(g))
