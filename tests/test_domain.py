"""Domain guard: human clicks in dB nHL on a 0–10 ms window are 'in'; anything else says why not."""

from __future__ import annotations

import numpy as np
import pytest

from abrnet.data.metadata import SIMULATED, metadata_columns
from abrnet.data.schema import DataError
from abrnet.inference.domain import IN_DOMAIN, assess_domain, domain_warnings, enforce_strict, window_reason
from tests.conftest import make_toy_cohort


def _with(**meta):
    c = make_toy_cohort(1)
    c.extras.update(metadata_columns(c.n_records, **{**SIMULATED, **meta}))
    return c


def test_simulated_like_records_are_in() -> None:
    assert set(assess_domain(_with())) == {IN_DOMAIN}


@pytest.mark.parametrize(
    ("meta", "reason"),
    [
        ({"species": "mouse"}, "species: mouse"),
        ({"species": None}, "species unknown"),
        ({"stimulus": "tone_pip", "stimulus_freq_hz": 8000.0}, "stimulus: tone_pip 8000 Hz"),
        ({"level_unit": "dB SPL"}, "level unit: dB SPL"),
    ],
)
def test_each_reason(meta: dict, reason: str) -> None:
    got = assess_domain(_with(**meta))
    assert all(reason in g for g in got) and IN_DOMAIN not in got


def test_window_and_rate() -> None:
    c = _with()
    c.sampling_rate_hz = 5000.0  # 200 samples at 5 kHz = 40 ms: window fine, rate too low
    assert all("sampling rate: 5000 Hz" in g for g in assess_domain(c))
    assert "covers 0–8.52 ms of 0–10 ms" in window_reason(25_000.0, 0.0, 213)  # Fast ABR: 15 % of 0-10 ms missing
    assert window_reason(25_000.0, 0.0, 240) is None  # 0-9.6 ms: within the 10 % tolerance
    assert window_reason(100_000.0, 0.0, 1700) is None


def test_warnings_and_strict() -> None:
    dom = assess_domain(_with(species="rat"))
    (line,) = domain_warnings(dom, "f.txt")
    assert line.startswith("f.txt:") and "species: rat" in line
    with pytest.raises(DataError, match=r"f\.txt: field 'domain', row 1: .*species: rat.*--strict refuses it$"):
        enforce_strict(dom, "f.txt")
    two = np.array([IN_DOMAIN, dom[0]])  # a CSV's second data row: row 2, on the file's line 3
    with pytest.raises(DataError, match=r"f\.csv: field 'domain', row 2: .*--strict refuses it \(line 3\)$"):
        enforce_strict(two, "f.csv")
    enforce_strict(np.array([IN_DOMAIN]), "ok.csv")


def test_an_ears_reasons_that_differ_only_in_a_number_are_said_once_with_the_range() -> None:
    """An ear's domain cell repeated "amplitude: X µV peak to peak, beyond a scalp ABR (...)" once per record
    (six times for a CAP series, hunt 44b #10): said once, with the range; other reasons stay as they are."""
    from abrnet.inference.domain import merged_reasons

    beyond = "µV peak to peak, beyond a scalp ABR"
    reasons = ["species unknown", f"amplitude: 108 {beyond}", "level unit: dB SPL", f"amplitude: 23.6 {beyond}",
               f"amplitude: 145 {beyond}", "window: covers 0–8.52 ms of 0–10 ms"]  # fmt: skip
    assert merged_reasons(reasons) == [
        "species unknown", f"amplitude: 23.6–145 {beyond}", "level unit: dB SPL", "window: covers 0–8.52 ms of 0–10 ms"
    ]  # fmt: skip
    assert merged_reasons([f"amplitude: 50 {beyond}", f"amplitude: 50.0 {beyond}"]) == [f"amplitude: 50 {beyond}"]
    assert merged_reasons(["level ", "level 60"]) == ["level ", "level 60"]  # one without a number is its own
    assert merged_reasons(["#A: 5 µV", "#A: 9 µV"]) == ["#A: 5–9 µV"]  # a "#" in the text stays where it is
