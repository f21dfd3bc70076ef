"""`ABRCohort.from_signals`: numpy traces into the API without ten hand-filled fields (hunt 12, #8)."""

from __future__ import annotations

import numpy as np
import pytest

from abrnet.constants import STATIC_PARAMS
from abrnet.data.schema import ABRCohort, DataError


def test_scalars_broadcast_arrays_stay_per_record_and_labels_are_unknown() -> None:
    x = np.random.default_rng(0).normal(0.0, 0.05, (3, 200))
    c = ABRCohort.from_signals(
        x, age_years=30, intensity_db=[80, 60, 40], stimulus_rate_hz=21.1, patient_id="P1", ear="L"
    )
    assert c.signals.dtype == np.float32 and np.allclose(c.signals, x, atol=1e-7)
    assert c.static_column("intensity_db").tolist() == [80.0, 60.0, 40.0]
    assert np.all(c.static_column("age_years") == 30.0) and np.isnan(c.static_column("fmp")).all()
    assert c.static.shape == (3, len(STATIC_PARAMS))
    assert c.ear.tolist() == ["L"] * 3 and c.patient_id.tolist() == ["P1"] * 3
    assert np.isnan(c.latency_ms).all() and (c.class_id == -1).all() and not c.no_response.any()
    assert c.sampling_rate_hz == 20_000.0 and c.t0_ms == 0.0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"intensity_db": [80, 60, 40]}, "intensity_db"),  # neither one value nor one per record
        ({"ear": "X"}, "ear"),
        ({"age_years": 500}, "age_years"),
        ({"signals": np.zeros(200)}, "signals"),  # one trace must still be (1, T)
    ],
)
def test_a_bad_argument_is_a_data_error_naming_the_field(change: dict, field: str) -> None:
    kw = {"age_years": 30, "intensity_db": 80, "stimulus_rate_hz": 21.1, "patient_id": "P1", "ear": "L"}
    signals = change.pop("signals", np.zeros((2, 200)))
    with pytest.raises(DataError, match=f"field '{field}'"):
        ABRCohort.from_signals(signals, **(kw | change))


_KW = {"age_years": 30, "intensity_db": [80, 60], "stimulus_rate_hz": 21.1, "patient_id": "P1", "ear": "L"}


@pytest.mark.parametrize(("ear", "read"), [("l", "LL"), ("Left", "LL"), (" right ", "RR"), (["left", "R"], "LR")])
def test_ears_are_spelled_as_every_reader_reads_them(ear: object, read: str) -> None:
    """Hunt A #4: "l" / "Left" read as L by the wide CSV and ``predict(path, ear=...)`` (`abrnet.data.ears.ear_of`)
    were refused here."""
    c = ABRCohort.from_signals(np.zeros((2, 200)), **(_KW | {"ear": ear}))
    assert c.ear.tolist() == list(read)


@pytest.mark.parametrize(
    ("change", "field", "row"),
    [
        ({"age_years": "adult"}, "age_years", None),
        ({"intensity_db": [80, "loud"]}, "intensity_db", 1),
        ({"signals": [[0.0] * 200, ["a"] * 200]}, "signals", 1),
    ],
)
def test_a_value_that_is_no_number_is_a_data_error_naming_field_and_row(change: dict, field: str, row: int) -> None:
    """Hunt A #4: ``age_years="adult"`` was numpy's bare "could not convert string to float", naming no field."""
    signals = change.pop("signals", np.zeros((2, 200)))
    with pytest.raises(DataError, match=f"field '{field}'.*must be a number") as exc:
        ABRCohort.from_signals(signals, **(_KW | change))
    assert exc.value.field == field and exc.value.row == row


def test_the_cohort_shares_no_memory_with_the_callers_traces() -> None:
    """Hunt A #4: a notebook reusing its float32 buffer changed a cohort already validated (99 µV afterwards)."""
    x = np.full((2, 200), 0.1, np.float32)
    c = ABRCohort.from_signals(x, **_KW)
    assert not np.shares_memory(c.signals, x)
    x[:] = 99.0
    assert np.all(c.signals == np.float32(0.1))


def test_a_bad_ear_is_quoted_as_the_user_typed_it() -> None:
    """``ear="X"`` said ``got np.str_('X')``, numpy's repr, to a Python user who typed "X" (hunt 44c #9)."""
    with pytest.raises(DataError, match=r"field 'ear', row 0: must be 'L' or 'R', got 'X'$"):
        ABRCohort.from_signals(np.zeros((2, 200)), **(_KW | {"ear": "X"}))


KW = {"age_years": 30, "intensity_db": 80, "stimulus_rate_hz": 21.1, "patient_id": "P1", "ear": "L"}


@pytest.mark.parametrize(
    ("signals", "change", "said"),
    [  # hunt 50b #3-#5: each was a bare Python error, a wrong row, or a value dropped with numpy's warning only
        ([[0.0] * 200, [0.0] * 199, [0.0] * 200], {}, "field 'signals', row 1: has 199 values where row 0 has 200"),
        (np.zeros((2, 200)), {"sampling_rate_hz": "fast"}, "field 'sampling_rate_hz': must be one number"),
        (np.zeros((2, 200)), {"sampling_rate_hz": None}, "field 'sampling_rate_hz': must be one number"),
        (np.zeros((2, 200)), {"t0_ms": [0.0, 0.0]}, "field 't0_ms': must be one number"),
        (np.zeros((2, 200), complex), {}, "field 'signals': must be real numbers, got complex values"),
        (np.zeros((2, 200), bool), {}, "field 'signals': must be real numbers, got true/false values"),
        (np.zeros((2, 200)), {"age_years": 1e40}, "field 'age_years': value 1e+40 is beyond float32"),
        (np.zeros((2, 200)), {"fmp": [1.0, 1e40]}, "field 'fmp', row 1: value 1e+40 is beyond float32"),
        (np.zeros((2, 200)), {"patient_id": None}, "field 'patient_id': missing"),
        (np.zeros((2, 200)), {"patient_id": ["P1", None]}, "field 'patient_id', row 1: missing"),
        (np.zeros((2, 200)), {"patient_id": ["P1", " "]}, "field 'patient_id', row 1: empty"),
    ],
)
def test_a_malformed_argument_is_named_in_one_short_line(signals: object, change: dict, said: str) -> None:
    with pytest.raises(DataError) as err:
        ABRCohort.from_signals(signals, **(KW | change))
    assert said in str(err.value) and "\n" not in str(err.value) and len(str(err.value)) < 200, str(err.value)
