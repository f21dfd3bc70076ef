"""What the prediction tables say beside their numbers: the "no response" threshold placeholder, the ear's domain,
the JSON form, the warnings about what a file did not record, and the API's checks of reading options.

Why: an ear with no wave V at any tested level gets ``threshold_db`` = highest level + 5 dB (what the per-ear
evaluation scores); printed alone, "65 dB" for an ear tested up to 60 dB reads as a measured threshold. Series rows
of a mouse file looked like clinical ones, the JSON series rows lacked columns series.csv has, and a reader option
such as ``units=5`` failed deep in a reader with an AttributeError.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from abrnet.constants import WAVES
from abrnet.data.schema import ABRCohort, DataError
from abrnet.inference.arguments import check_flag, check_input
from abrnet.inference.input_warnings import reading_warnings
from abrnet.inference.result_plots import save_plots
from abrnet.inference.result_tables import PredictionReport, columns_to_records, series_columns, write_columns_csv
from abrnet.models.predictions import Predictions
from abrnet.series.per_ear import ABOVE_HIGHEST_DB, aggregate_ears
from tests.conftest import make_toy_cohort

V = WAVES.index("V")


def _cohort() -> ABRCohort:
    """3 patients × 2 ears × levels 80/60/40/20 dB (toy signals), with a domain column."""
    cohort = make_toy_cohort(n_patients=3)
    cohort.extras["domain"] = np.full(cohort.n_records, "in").astype(str)
    return cohort


def _predictions(cohort: ABRCohort, p_v: np.ndarray) -> Predictions:
    n = cohort.n_records
    presence = np.full((n, 3), 0.1, np.float32)
    presence[:, V] = p_v
    return Predictions(
        peak_presence_prob=presence, latency_ms=np.full((n, 3), 6.0, np.float32),
        latency_sd_ms=np.full((n, 3), 0.1, np.float32), amplitude_uv=np.full((n, 3), 0.3, np.float32),
        amplitude_sd_uv=np.full((n, 3), 0.05, np.float32), class_prob=np.full((n, 5), 0.2, np.float32),
        threshold_db=np.full(n, 30.0, np.float32), threshold_sd_db=np.full(n, 5.0, np.float32),
        p_no_response=np.full(n, 0.2, np.float32),
    )  # fmt: skip


def _report() -> tuple[PredictionReport, ABRCohort]:
    """Ear P000/L shows no V at any level (placeholder threshold), every other ear a V from 40 dB up."""
    cohort = _cohort()
    level = cohort.static_column("intensity_db")
    p_v = np.where(level >= 40, 0.95, 0.02).astype(np.float32)
    p_v[cohort.ear_key.astype(str) == "P000/L"] = 0.02
    pred = _predictions(cohort, p_v)
    return PredictionReport(cohort=cohort, predictions=pred, ears=aggregate_ears(pred, cohort)), cohort


def test_no_response_threshold_is_flagged_and_numbers_unchanged() -> None:
    report, _ = _report()
    ears = report.ears
    assert ears is not None
    cols = report.series()
    assert cols is not None
    keys = [f"{p}/{e}" for p, e in zip(cols["patient_id"], cols["ear"], strict=True)]
    flagged = dict(zip(keys, cols["threshold_above_max_level"].tolist(), strict=True))
    assert flagged == {k: k == "P000/L" for k in keys}
    np.testing.assert_array_equal(cols["max_level_db"], np.full(len(keys), 80.0))
    # the numbers the evaluation scores are untouched: the placeholder is still highest level + 5 dB
    np.testing.assert_array_equal(cols["threshold_db"], ears.threshold_db)
    assert cols["threshold_db"][keys.index("P000/L")] == 80.0 + ABOVE_HIGHEST_DB
    assert cols["threshold_db"][keys.index("P000/R")] == 40.0
    assert list(cols)[:6] == [
        "patient_id", "ear", "stimulus", "threshold_db", "threshold_above_max_level", "max_level_db"
    ]  # fmt: skip
    assert "threshold_above_max_level" not in series_columns(ears)  # without the cohort: the old table


def test_threshold_at_the_lowest_level_is_flagged_as_a_bound() -> None:
    """An ear with a V at every tested level (or tested at one level) has its threshold at that level *or lower*:
    its SD and interval see nothing below, so "20 ± 0 dB (20-20)" must not read as a threshold known exactly."""
    cohort = _cohort()
    level = cohort.static_column("intensity_db")
    key = cohort.ear_key.astype(str)
    p_v = np.where(level >= 40, 0.95, 0.02).astype(np.float32)
    p_v[key == "P001/R"] = 0.97  # a V down to 20 dB, the lowest level tested
    pred = _predictions(cohort, p_v)
    cols = PredictionReport(cohort=cohort, predictions=pred, ears=aggregate_ears(pred, cohort)).series()
    assert cols is not None
    keys = [f"{p}/{e}" for p, e in zip(cols["patient_id"], cols["ear"], strict=True)]
    at_min = dict(zip(keys, cols["threshold_at_min_level"].tolist(), strict=True))
    assert at_min == {k: k == "P001/R" for k in keys}
    row = keys.index("P001/R")
    assert cols["min_level_db"][row] == 20.0 and cols["threshold_db"][row] == 20.0
    assert cols["threshold_sd_db"][row] == 0.0  # why the flag is needed: the curve cannot see below 20 dB
    one = cohort.subset(np.flatnonzero((key == "P002/L") & (level == 80)))  # one record: a screening level
    pred1 = _predictions(one, np.array([0.9], np.float32))
    cols1 = PredictionReport(cohort=one, predictions=pred1, ears=aggregate_ears(pred1, one)).series()
    assert cols1 is not None
    assert cols1["threshold_at_min_level"].tolist() == [True]
    assert cols1["threshold_above_max_level"].tolist() == [False]


def test_plots_state_the_series_reading_or_none(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Without series mode the waterfall names no per-ear threshold (it printed one aggregated without the series
    stage, which series.csv contradicted); with it, the title says what series.csv says, "≤" at the lowest level."""
    import abrnet.plots.waterfall as waterfall

    titles: dict[str, tuple[str, Any]] = {}

    def record(ax: Any, *args: Any, title: str, threshold_db: float | None, **kw: Any) -> None:
        titles[title.split(":")[0]] = (title, threshold_db)

    monkeypatch.setattr(waterfall, "plot_waterfall", record)
    report, cohort = _report()
    save_plots(PredictionReport(cohort=cohort, predictions=report.predictions), tmp_path / "a", series=False)
    assert all("records only" in t and thr is None for t, thr in titles.values()), titles
    p_v = report.predictions.peak_presence_prob[:, V].copy()
    p_v[cohort.ear_key.astype(str) == "P001/R"] = 0.97
    pred = _predictions(cohort, p_v)
    save_plots(PredictionReport(cohort=cohort, predictions=pred, ears=aggregate_ears(pred, cohort)), tmp_path / "b",
               series=True)  # fmt: skip
    assert "threshold ≤ 20 dB (V at the lowest level)" in titles["P001/R"][0]
    assert titles["P001/L"][1] == 40.0 and "threshold 40 dB (90 %: " in titles["P001/L"][0]


def test_an_ear_with_two_rates_is_warned_about_and_two_stimuli_are_not() -> None:
    """The series stage reads an ear's records of one stimulus as one intensity series, rates pooled: 11.1/s and
    51.1/s at one ear get one threshold, while `data describe` lists them apart. 8 and 16 kHz tone pips at one ear
    are two series (`abrnet.data.series_key`) and need no warning."""
    from abrnet.data.metadata import metadata_columns
    from abrnet.inference.inputs import mixed_series_warnings

    cohort = _cohort()
    assert mixed_series_warnings(cohort) == []  # one click series per ear
    freq = np.where(cohort.static_column("intensity_db") >= 60, 8000.0, 16000.0)
    cohort.extras.update(metadata_columns(cohort.n_records, stimulus="tone_pip", stimulus_freq_hz=freq))
    assert mixed_series_warnings(cohort) == []  # two series per ear, one rate each
    rates = _cohort()
    rates.static[rates.patient_id == "P001", 2] = 51.1
    rates.static[(rates.patient_id == "P001") & (rates.static_column("intensity_db") < 60), 2] = 11.1
    (line,) = mixed_series_warnings(rates)
    assert line.startswith("2 series hold more than one stimulus rate") and "\n" not in line
    assert "unknown at 51.1/s, unknown at 11.1/s" in line  # toy: no stimulus


def test_series_domain_column_names_every_reason_of_the_ear() -> None:
    report, cohort = _report()
    keys = cohort.ear_key.astype(str)
    domain = np.full(cohort.n_records, "in", dtype=object)
    rows = np.flatnonzero(keys == "P001/R")
    domain[rows[0]] = "species: mouse; level unit: dB SPL"
    domain[rows[1]] = "species: mouse; window: covers 0.00–8.00 ms of 0–10 ms"
    cohort.extras["domain"] = domain.astype(str)
    cols = report.series()
    assert cols is not None
    by_ear = {f"{p}/{e}": d for p, e, d in zip(cols["patient_id"], cols["ear"], cols["domain"], strict=True)}
    assert by_ear.pop("P001/R") == "species: mouse; level unit: dB SPL; window: covers 0.00–8.00 ms of 0–10 ms"
    assert set(by_ear.values()) == {"in"}


def test_json_has_the_same_tables_as_the_csv_files() -> None:
    report, _ = _report()
    out = report.to_json()
    series, patients = report.series(), report.patients()
    assert series is not None and patients is not None
    assert list(out["series"][0]) == list(series)  # clinical and domain columns included, as in series.csv
    assert [r["patient_id"] for r in out["patients"]] == patients["patient_id"].tolist()
    flags = [r["threshold_above_max_level"] for r in out["series"]]
    assert all(isinstance(f, bool) for f in flags) and flags.count(True) == 1  # a flag, not 1.0
    assert columns_to_records({"x": np.array([True, False])}) == [{"x": True}, {"x": False}]


def test_plot_title_of_a_no_response_ear_prints_no_threshold(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import abrnet.plots.waterfall as waterfall

    titles: dict[str, tuple[str, Any]] = {}

    def record(ax: Any, *args: Any, title: str, threshold_db: float, **kw: Any) -> None:
        titles[title.split(":")[0]] = (title, threshold_db)

    monkeypatch.setattr(waterfall, "plot_waterfall", record)
    report, _ = _report()
    save_plots(report, tmp_path, series=True)
    title, _ = titles["P000/L"]
    assert "no wave V up to 80 dB" in title and "threshold" not in title and "85" not in title
    assert "threshold 40 dB (90 %: " in titles["P000/R"][0]
    assert (tmp_path / "latency_intensity_P000_L.png").exists()


def test_reader_option_values_are_checked_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    for name, value in [("stimulus_rate_hz", math.nan), ("stimulus_rate_hz", -5.0), ("level_db", math.inf)]:
        with pytest.raises(DataError, match=rf"^reading options: field '{name}': must be a finite number"):
            check_input(path, {name: value})
    with pytest.raises(DataError, match=r"field 'fmp'.*or NaN"):
        check_input(path, {"fmp": -1.0})
    check_input(path, {"fmp": math.nan, "level_db": 60, "stimulus_rate_hz": np.float32(21.1)})  # NaN FMP: missing
    for name in ("units", "species", "ear"):
        with pytest.raises(TypeError, match=rf"^{name} must be a str"):
            check_input(path, {name: 5})
    with pytest.raises(TypeError, match="level_db must be a finite number"):
        check_input(path, {"level_db": [10, 20]})
    # the vocabulary the CLI refuses is refused here too (one check, `data.importers.options`): it used to pass
    for name, value, accepted in [("ear", "Q", "L or R"), ("species", "zzz", "mouse"), ("units", "xx", "uV, nV")]:
        with pytest.raises(DataError, match=rf"^reading options: field '{name}': must be .*{accepted}.*, got '"):
            check_input(path, {name: value})
    with pytest.raises(DataError, match=r"^reading options: field 'age_years': must be .* from 0 to 120, got -3$"):
        check_input(path, {"age_years": -3})
    check_input(path, {"ear": " left", "units": "µV", "species": "Mouse", "level_unit": "db spl"})
    with pytest.raises(TypeError, match=r"^series must be True or False, got 'no'"):
        check_flag("series", "no")
    assert check_flag("series", np.bool_(True)) is True


def test_reading_warnings_say_what_the_file_lacks() -> None:
    cohort = _cohort()
    cohort.attrs["fmp_source"] = "missing"
    cohort.static[:, 3] = np.nan
    (line,) = reading_warnings(cohort, "a.csv")
    assert line.startswith("a.csv: no FMP and no split buffers")
    cohort.buffers = np.stack([cohort.signals, cohort.signals], axis=1)
    (line,) = reading_warnings(cohort, "a.csv")
    assert "no split buffers" not in line and "split buffers give none" in line  # the file has buffers
    cohort.attrs["fmp_source"] = "given"
    cohort.static[1:, 3] = 1.5
    cohort.attrs["ear_unknown"] = 1
    fmp_line, ear_line = reading_warnings(cohort, "a.csv")
    n = cohort.n_records
    assert fmp_line == f"a.csv: 1 of {n} records have no FMP; it is treated as missing on those (pass fmp=...)"
    assert ear_line.startswith(f"a.csv: {n} of {n} records name no ear") and "(pass ear=...)" in ear_line
    fmp_line, ear_line = reading_warnings(cohort, "a.csv", {"fmp": "--fmp", "ear": "--ear"})  # the CLI's names
    assert fmp_line.endswith("(pass --fmp)") and ear_line.endswith("(pass --ear)")


def test_shipped_model_on_a_mouse_export_flags_ear_domain_and_bad_options() -> None:
    """A real tone-pip export that names no ear, species or level unit (read in place, never copied): the ear
    warning is one line, the series row carries the domain reasons, and bad options stop before reading."""
    import abrnet
    from tests.conftest import FIXTURES, require_fixture

    path = require_fixture(FIXTURES / "epl_abr_peak_analysis" / "8 kHz waveform.txt")
    model = abrnet.load()
    report = model.predict(path, series=True, age_years=0.2, stimulus_rate_hz=21.1)
    assert all("\n" not in w for w in report.warnings)
    assert any("records name no ear; they are reported as ear R (pass ear=...)" in w for w in report.warnings)
    cols = report.series()
    assert cols is not None
    assert cols["domain"].tolist() == ["species unknown; stimulus: tone_pip 8000 Hz; level unit unknown"]
    assert cols["max_level_db"].tolist() == [80.0]
    with pytest.raises(TypeError, match=r"^units must be a str"):
        model.predict(path, age_years=0.2, stimulus_rate_hz=21.1, units=5)
    with pytest.raises(DataError, match="field 'stimulus_rate_hz'"):
        model.predict(path, age_years=0.2, stimulus_rate_hz=math.nan)


def test_levels_come_back_as_typed_in_every_table(tmp_path: Path) -> None:
    """Hunt A #5: levels typed 77.3 / 57.3 / 0.1 dB (stored as float32) came back as 57.29999924 in ``columns()`` and
    57.2999992 in results.csv and series.csv (threshold, its interval and bracket, the tested levels), so the tables
    could not be joined back on level; the model's own per-record numbers keep their dtype."""
    typed = (77.3, 57.3, 37.3, 0.1)
    cohort = make_toy_cohort(n_patients=2, levels=typed)  # type: ignore[arg-type]
    level = cohort.static_column("intensity_db")
    p_v = np.where(level >= 37, 0.95, 0.02).astype(np.float32)
    p_v[cohort.ear_key.astype(str) == "P000/L"] = 0.02  # no V: the placeholder above the highest level
    pred = _predictions(cohort, p_v)
    report = PredictionReport(cohort=cohort, predictions=pred, ears=aggregate_ears(pred, cohort))
    records, series, patients = report.columns(), report.series(), report.patients()
    assert series is not None and patients is not None
    assert set(records["intensity_db"].tolist()) == set(typed) and records["intensity_db"].dtype == np.float64
    assert records["threshold_db"].dtype == np.float32  # the model's reading, not a typed level: as it was
    placeholder = round(77.3 + ABOVE_HIGHEST_DB, 6)
    assert set(series["threshold_db"].tolist()) == {37.3, placeholder}
    assert set(series["max_level_db"].tolist()) == {77.3} and set(series["min_level_db"].tolist()) == {0.1}
    levels = {*typed, placeholder}
    for name in ("threshold_lo_db", "threshold_hi_db", "threshold_bracket_lo_db"):
        assert {v for v in series[name].tolist() if not math.isnan(v)} <= levels, name
        assert series[name].dtype == np.float64
    assert 0.1 in series["threshold_bracket_lo_db"].tolist()
    assert [v for v in patients["level_db"].tolist() if not math.isnan(v)] == [77.3]
    write_columns_csv(series, tmp_path / "r.series.csv")
    header, first = (tmp_path / "r.series.csv").read_text().splitlines()[:2]
    cells = dict(zip(header.split(","), first.split(","), strict=False))
    assert (cells["max_level_db"], cells["min_level_db"]) == ("77.3", "0.1")
    write_columns_csv(records, tmp_path / "r.csv")
    header, first = (tmp_path / "r.csv").read_text().splitlines()[:2]
    assert dict(zip(header.split(","), first.split(","), strict=False))["intensity_db"] == "77.3"


@pytest.mark.parametrize("width_in", [4.0, 4.5, 9.0])  # the waterfall's and latency plot's widths, and a wide one
def test_the_domain_footer_stays_inside_the_figure(width_in: float) -> None:
    """The red out-of-domain footer was wrapped at 19 characters per inch and ran past both edges of a narrow (4.4-in)
    waterfall (4.0 in, hunt 42): every wrapped line must now lie inside the figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from abrnet.inference.result_plots import PLOT_DPI, _note_domain

    words = (
        "outside the model's domain: species unknown; stimulus unknown; level unit: dB SPL; low-frequency content: "
        "0.32 µV RMS below ~100 Hz (the ear's median; simulated ears up to 0.13 µV): drift, a slow wave or mains hum; "
        "the model learnt 100–3000 Hz records: each record's slow trend is removed before reading, what is faster "
        "(hum harmonics) is not (high-pass at 100 Hz or re-record)"
    )
    fig, ax = plt.subplots(figsize=(width_in, 10), dpi=PLOT_DPI)  # glyph widths are hinted at the saved dpi
    ax.plot([0, 1], [0, 1])
    _note_domain(fig, words)
    fig.canvas.draw()
    (text,) = fig.texts
    box = text.get_window_extent()  # (pixels)
    assert box.x0 >= 0 and box.x1 <= fig.bbox.width, (box, fig.bbox.width)
    plt.close(fig)


def test_a_plot_title_states_the_series_tables_interval_open_above_where_it_is() -> None:
    """An ear read at its highest level, 80 dB, with the interval open above: the title said "80 ± 20 dB" (60–100 to
    a reader) where the series table wrote threshold_lo_db 80 and an empty threshold_hi_db (hunt 48)."""
    from abrnet.inference.result_plots import _threshold_words

    row = {"threshold_above_max_level": False, "threshold_at_min_level": False, "threshold_db": 80.0,
           "threshold_sd_db": 20.0, "threshold_lo_db": 80.0, "threshold_hi_db": np.nan}  # fmt: skip
    table = {k: np.array([v]) for k, v in row.items()}
    assert _threshold_words(table, 0) == "threshold 80 dB (90 %: ≥ 80)"
    table["threshold_hi_db"] = np.array([90.0])
    assert _threshold_words(table, 0) == "threshold 80 dB (90 %: 80–90)"
