"""The polarity warning (hunt 8 #5: an inverted trace read as "no response" with nothing to tell the user): an ear
that reads as no wave V at its loudest levels but as a clear V with its sign flipped is named, once, and nothing
else changes."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import abrnet
from abrnet.constants import WAVES
from abrnet.data.schema import ABRCohort
from abrnet.data.simulate import SimulationConfig, simulate_cohort
from abrnet.inference.inputs import on_model_grid
from abrnet.inference.polarity import FLIPPED_GAIN, FLIPPED_MIN, flipped_ears, polarity_warning
from tests.conftest import make_toy_cohort

V = WAVES.index("V")


def _fake_pred(p: np.ndarray):
    class _P:  # only what flipped_ears reads
        peak_presence_prob = p

    return _P()


def _reader(cohort: ABRCohort):
    n = cohort.n_records
    p = np.full((n, len(WAVES)), 0.1, np.float32)
    p[:, V] = np.where(cohort.signals[:, 120] > 0, 0.9, 0.1)
    return _fake_pred(p)


def test_only_an_ear_whose_loudest_records_read_better_flipped_is_named() -> None:
    """Ear 0: positive at 6 ms at its loudest levels (reads fine) → not named; ear 1: negative there → named; ear 2:
    negative only at its quiet levels (below its loudest 20 dB) → not named, because the check reads the top levels."""
    toy = make_toy_cohort(n_patients=3, levels=(80, 60, 40, 20))
    signals = np.zeros_like(toy.signals)
    keys = toy.ear_key.astype(str)
    ears = list(dict.fromkeys(keys))
    level = toy.static_column("intensity_db")
    signals[keys == ears[0], 120] = 1.0
    signals[keys == ears[1], 120] = -1.0
    signals[(keys == ears[2]) & (level >= 60), 120] = 1.0
    signals[(keys == ears[2]) & (level < 60), 120] = -1.0
    for k in ears[3:]:
        signals[keys == k, 120] = 1.0
    cohort = replace(toy, signals=signals)
    named = flipped_ears(cohort, _reader(cohort), _reader)
    assert [key for key, _, _ in named] == [ears[1]]
    _, before, after = named[0]
    assert after >= FLIPPED_MIN and after - before >= FLIPPED_GAIN
    (line,) = polarity_warning(named)
    assert ears[1] in line and "--invert" in line and "1 ear(s)" in line
    assert polarity_warning([]) == []


def test_an_ear_that_still_reads_as_a_v_but_much_clearer_flipped_is_named() -> None:
    """An inverted ABR often still reads as a V (its flipped trough after V is a peak): the former rule (as recorded
    < 0.4) missed such ears, most inverted hearing ears. Named: 0.6 as recorded → 0.95 flipped; not named: a gain
    below `FLIPPED_GAIN` (0.5 → 0.7) or a flipped reading below `FLIPPED_MIN` (0.1 → 0.5)."""
    toy = make_toy_cohort(n_patients=2, levels=(80, 60, 40, 20))
    keys = toy.ear_key.astype(str)
    ears = list(dict.fromkeys(keys))
    readings = {ears[0]: (0.6, 0.95), ears[1]: (0.5, 0.7), ears[2]: (0.1, 0.5)}  # as recorded, flipped
    ear_of_row = np.array([readings.get(k, (0.9, 0.9)) for k in keys])  # (N, 2); ear 3 reads fine both ways
    signals = np.ones_like(toy.signals)  # +1 as recorded, -1 flipped: the stand-in reader tells them apart
    cohort = replace(toy, signals=signals, extras=dict(toy.extras, row=np.arange(toy.n_records)))

    def reader(c: ABRCohort):
        p = np.full((c.n_records, len(WAVES)), 0.1, np.float32)
        rows = c.extras["row"]
        p[:, V] = np.where(c.signals[:, 0] > 0, ear_of_row[rows, 0], ear_of_row[rows, 1])
        return _fake_pred(p)

    named = flipped_ears(cohort, reader(cohort), reader)
    assert [(key, round(b, 2), round(a, 2)) for key, b, a in named] == [(ears[0], 0.6, 0.95)]


def test_records_of_another_stimulus_or_species_are_not_judged() -> None:
    """Every ear troughs at its loudest levels; the check names it only where the file states the trained click and
    human (or states nothing). Before, a chirp ear of a real export (ABR-703-18) was named "inverted"."""
    toy = make_toy_cohort(n_patients=2, levels=(80, 60, 40, 20))
    signals = np.zeros_like(toy.signals)
    signals[:, 120] = -1.0
    n = toy.n_records
    keys = toy.ear_key.astype(str)
    ears = list(dict.fromkeys(keys))
    stimulus = np.full(n, "click").astype(object)
    species = np.full(n, "unknown").astype(object)
    stimulus[keys == ears[0]] = "chirp"
    species[keys == ears[1]] = "mouse"
    extras = dict(toy.extras, stimulus=stimulus.astype(str), species=species.astype(str))
    cohort = replace(toy, signals=signals, extras=extras)
    named = {key for key, _, _ in flipped_ears(cohort, _reader(cohort), _reader)}
    assert named == set(ears[2:]) and ears[2:], named


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_the_shipped_model_names_inverted_hearing_ears_and_not_the_same_ears_as_recorded() -> None:
    """End to end through `ABRModel.predict`: a fixed-protocol cohort of hearing and deaf ears gets no polarity
    warning as simulated, and one naming hearing ears once every sample (and buffer) is negated."""
    model = abrnet.load()
    cohort = simulate_cohort(
        SimulationConfig(n_patients=6, balanced=True, protocol="fixed", fixed_levels_db=(20.0, 40.0, 60.0, 80.0)),
        seed=11,
    )
    as_recorded = model.predict(cohort)
    assert not any(w.startswith("polarity:") for w in as_recorded.warnings)
    inverted = model.predict(replace(cohort, signals=-cohort.signals, buffers=-cohort.buffers))
    (line,) = [w for w in inverted.warnings if w.startswith("polarity:")]
    hearing = {str(k) for k, nr in zip(cohort.ear_key, cohort.no_response, strict=True) if not nr}
    named = {k for k in hearing if k in line}
    assert named, line
    deaf = {str(k) for k in cohort.ear_key} - hearing
    assert not any(f"{k} (" in line for k in deaf), line
    read = on_model_grid(replace(cohort, signals=-cohort.signals, buffers=-cohort.buffers))[0]  # as predict reads it
    assert np.array_equal(inverted.predictions.peak_presence_prob, model.predict_cohort(read).peak_presence_prob)


def test_read_with_invert_already_the_advice_is_to_read_it_as_recorded() -> None:
    """Hunt 13: an ordinary file read with --invert got "read it again with --invert"."""
    named = [("P1/L", 0.1, 0.9)]
    (plain,) = polarity_warning(named)
    (already,) = polarity_warning(named, inverted=True)
    assert "read it again with --invert" in plain and "as recorded → flipped" in plain
    assert "without --invert" in already and "as read with --invert → flipped" in already
