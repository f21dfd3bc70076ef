"""`abrnet data describe` keys and counts series as the rest of the tool does (`abrnet.data.series_key`).

On ``abrnet simulate --patients 20 --seed 0`` describe said "(316 records, 45 series)" for 40 ears, and its --json
listed ``SIM000005/R`` twice, once per stimulus rate: the rows (one per rate, kept apart on purpose: one row would
print a rate nobody used) shared their series' key and were counted as series. Each row is now named uniquely where
its series is several rows (``P000/R (51.1/s)``), says its series (``in_series``), and the header counts series as
predict and the viewer do, then the rows and why there are more of them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from abrnet.cli.data_import import series_count
from abrnet.cli.main import app
from abrnet.data.describe import describe_series
from abrnet.data.io import save_cohort
from abrnet.data.metadata import SIMULATED, STIMULUS, STIMULUS_FREQ_HZ, metadata_columns
from abrnet.data.schema import ABRCohort
from abrnet.data.series_key import series_keys
from tests.conftest import make_toy_cohort

runner = CliRunner()
RATE = 2  # the static column of the stimulus rate (age, level, rate, FMP)


def _two_rates(n_patients: int = 3) -> ABRCohort:
    """Toy click cohort (33.1/s), 4 records per ear, where P000/R's two loudest records were taken at 51.1/s."""
    cohort = make_toy_cohort(n_patients=n_patients)
    cohort.extras.update(metadata_columns(cohort.n_records, **SIMULATED))
    cohort.static[4:6, RATE] = 51.1  # records 0-3: P000/L, 4-7: P000/R
    return cohort


def test_rows_of_a_series_with_two_rates_have_unique_keys_naming_the_rate() -> None:
    cohort = _two_rates()
    rows = describe_series(cohort)
    names = [r["series"] for r in rows]
    assert len(set(names)) == len(names) == 7, names  # 6 ears, P000/R listed twice: it said "P000/R" both times
    assert names[:3] == ["P000/L", "P000/R (51.1/s)", "P000/R (33.1/s)"]
    assert [r["stimulus_rate_hz"] for r in rows[1:3]] == [51.1, 33.1] and [r["n_records"] for r in rows[1:3]] == [2, 2]
    assert {r["in_series"] for r in rows} == set(series_keys(cohort).tolist())  # the tool's own series, 6 of them
    assert all(r["series"] == r["in_series"] for r in rows if not r["series"].startswith("P000/R"))


def test_rows_of_one_series_are_listed_together() -> None:
    """P000/L's 51.1/s records come after P000/R's in the file: its rows were split around P000/R."""
    cohort = make_toy_cohort(n_patients=2)
    cohort.extras.update(metadata_columns(cohort.n_records, **SIMULATED))
    cohort.static[2:4, RATE] = 51.1
    cohort = cohort.subset(np.array([0, 1, 4, 5, 6, 7, 2, 3, *range(8, cohort.n_records)]))
    names = [r["series"] for r in describe_series(cohort)]
    assert names == ["P000/L (33.1/s)", "P000/L (51.1/s)", "P000/R", "P001/L", "P001/R"], names


def test_an_unstated_stimulus_beside_a_stated_one_is_one_series_of_two_named_rows() -> None:
    """The tool pools records without a stimulus into the ear's one stated stimulus (`series_labels`); describe lists
    them apart (its ``stimulus`` column says "unknown"), and the two rows were both keyed ``P001/L``."""
    cohort = make_toy_cohort(n_patients=2)
    cohort.extras.update(metadata_columns(cohort.n_records, **SIMULATED))
    stimulus = cohort.extras[STIMULUS].astype("<U16")  # "click" fits <U5: "unknown" would read "unkno"
    stimulus[8:10] = "unknown"  # P001/L's two loudest
    cohort.extras[STIMULUS] = stimulus
    rows = [r for r in describe_series(cohort) if r["in_series"] == "P001/L"]
    assert [(r["series"], r["stimulus"]) for r in rows] == [
        ("P001/L (stimulus unknown)", "unknown"),
        ("P001/L (click)", "click"),
    ]
    assert len(set(series_keys(cohort).tolist())) == 4
    assert (
        series_count(describe_series(cohort))
        == "4 series; 5 rows: 1 series holds records with and without a stated stimulus"
    )


def test_an_ear_with_two_tone_pips_and_two_rates_keys_both() -> None:
    """The stimulus is the tool's key (``P000/L, tone_pip 8000 Hz``); the rate is added only where it splits one."""
    cohort = make_toy_cohort(n_patients=1)
    cohort.extras.update(metadata_columns(cohort.n_records, **{**SIMULATED, STIMULUS: "tone_pip"}))
    cohort.extras[STIMULUS_FREQ_HZ][:] = [8000, 8000, 16000, 16000, 8000, 8000, 8000, 8000]
    cohort.static[1, RATE] = 21.1
    names = [r["series"] for r in describe_series(cohort)]
    assert names == [
        "P000/L, tone_pip 8000 Hz (33.1/s)",
        "P000/L, tone_pip 8000 Hz (21.1/s)",
        "P000/L, tone_pip 16000 Hz",
        "P000/R",
    ], names


def test_series_count_says_series_then_rows() -> None:
    rows = describe_series(_two_rates())
    assert series_count(rows) == "6 series; 7 rows: 1 series holds two stimulus rates"
    assert series_count(describe_series(make_toy_cohort(n_patients=3))) == "6 series"  # one row each: as before
    three = _two_rates()
    three.static[6, RATE] = 11.1
    assert series_count(describe_series(three)) == "6 series; 8 rows: 1 series holds two or more stimulus rates"


def test_describe_command_counts_series_as_predict_does(tmp_path: Path) -> None:
    path = save_cohort(_two_rates(), tmp_path / "b.h5")
    res = runner.invoke(app, ["data", "describe", str(path)], env={"COLUMNS": "300"})
    assert res.exit_code == 0, res.output
    said = " ".join(res.output.split())  # the title wraps at the table's width
    assert "(24 records, 6 series; 7 rows: 1 series holds two stimulus rates)" in said, res.output
    res = runner.invoke(app, ["data", "describe", str(path), "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output)
    keys = [s["series"] for s in summary["series"]]
    assert len(keys) == len(set(keys)) == 7, keys  # --json had "P000/R" twice
    assert summary["n_series"] == summary["n_ears"] == 6
    assert {s["in_series"] for s in summary["series"]} == {f"P00{p}/{e}" for p in range(3) for e in "LR"}


def test_the_summarys_order_statistics_read_as_typed() -> None:
    """``describe --json`` gave the median rate as 33.099998 (float32 rounded to 6 decimals) beside series rows
    saying 33.1 (hunt 48); medians, minima and maxima are values of the column, so they read as typed."""
    from abrnet.constants import STATIC_PARAMS
    from abrnet.data.describe import describe_cohort
    from tests.conftest import make_toy_cohort

    toy = make_toy_cohort(2)
    toy.static[:, STATIC_PARAMS.index("stimulus_rate_hz")] = np.float32(33.1)
    toy.static[:, STATIC_PARAMS.index("age_years")] = np.float32(0.3)
    summary = describe_cohort(toy)
    assert summary["stimulus_rate_hz"]["median"] == 33.1 and summary["age_years"]["median"] == 0.3
    assert summary["intensity_db"]["max"] == 80.0
