"""The clinical read-outs of `abrnet predict` read an ear as its series reading does (hunt8 items 2, 3, 8, 14, 15,
21, 22).

Why: series.csv's wave V latency–intensity function listed V below the ear's threshold and in "no response" ears,
and took replicates as separate points, so one false V flipped the slope; patients.csv printed the first replicate's
latencies beside the difference of the last ones; a placeholder threshold carried a "0–85 dB, SD 0" interval; the
``--plot`` figures drew other latencies than series.csv, marked a V under a title saying "no wave V", and lost the
out-of-domain reason. Constructed predictions on a toy cohort, so each answer is known.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from abrnet.constants import WAVES
from abrnet.data.schema import ABRCohort
from abrnet.inference.result_plots import save_plots
from abrnet.inference.result_tables import PredictionReport, prediction_columns
from abrnet.metrics.clinical import ear_numbers, level_means, replicate_r
from abrnet.models.predictions import Predictions
from abrnet.series.per_ear import aggregate_ears
from tests.conftest import make_toy_cohort

V = WAVES.index("V")
README = Path(__file__).resolve().parents[1] / "README.md"


def _cohort() -> ABRCohort:
    """3 patients × 2 ears × 80/60/40/20 dB, plus a second record (replicate) of every ear at 60 and 80 dB."""
    base = make_toy_cohort(n_patients=3)
    level = base.static_column("intensity_db")
    cohort = base.subset(np.r_[np.arange(base.n_records), np.flatnonzero(level >= 60)])
    cohort.extras["domain"] = np.full(cohort.n_records, "in").astype(str)
    return cohort


def _report(cohort: ABRCohort) -> PredictionReport:
    """Every ear: V (p 0.95) at 80 and 60 dB, none at 40 dB, a false V (p 0.6, 5.0 ms) at 20 dB, so the p(V) curve
    crosses at 60 dB. Latency 5.6 ms at 80, 6.3 ms at 60 dB; the replicates 0.2 ms later. P000/L has no V at all but
    the false one (and P(no response) 0.9): a "no response" ear."""
    n = cohort.n_records
    level = cohort.static_column("intensity_db")
    key = cohort.ear_key.astype(str)
    replicate = np.arange(n) >= n - int((level >= 60).sum())
    p_v = np.select([level >= 60, level == 20], [0.95, 0.6], 0.02).astype(np.float32)
    p_v[(key == "P000/L") & (level >= 40)] = 0.02
    lat_v = np.select([level == 80, level == 60, level == 20], [5.6, 6.3, 5.0], 7.0) + 0.2 * replicate
    presence = np.full((n, 3), 0.1, np.float32)
    presence[:, V] = p_v
    latency = np.full((n, 3), 3.0, np.float32)
    latency[:, V] = lat_v
    p_nr = np.where(key == "P000/L", 0.9, 0.1).astype(np.float32)
    pred = Predictions(
        peak_presence_prob=presence, latency_ms=latency, latency_sd_ms=np.full((n, 3), 0.1, np.float32),
        amplitude_uv=np.full((n, 3), 0.3, np.float32), amplitude_sd_uv=np.full((n, 3), 0.05, np.float32),
        class_prob=np.full((n, 5), 0.2, np.float32), threshold_db=np.full(n, 30.0, np.float32),
        threshold_sd_db=np.full(n, 5.0, np.float32), p_no_response=p_nr,
    )  # fmt: skip
    return PredictionReport(cohort=cohort, predictions=pred, ears=aggregate_ears(pred, cohort))


def _series_rows(report: PredictionReport) -> dict[str, dict[str, Any]]:
    cols = report.series()
    assert cols is not None
    keys = [f"{p}/{e}" for p, e in zip(cols["patient_id"], cols["ear"], strict=True)]
    return {k: {name: v[i] for name, v in cols.items()} for i, k in enumerate(keys)}


def test_latency_intensity_function_reads_the_ear_at_or_above_its_threshold() -> None:
    report = _report(_cohort())
    rows = _series_rows(report)
    ear = rows["P001/L"]
    assert ear["threshold_db"] == 60.0 and ear["response"] == "response"
    # the false V at 20 dB is gone; the 60 dB replicates (6.3, 6.5) are one point, their mean
    assert ear["V_latency_intensity"] == "80:5.700;60:6.400"
    assert ear["V_li_slope_us_per_db"] == pytest.approx((6.4 - 5.7) / -20.0 * 1000.0)
    assert ear["V_li_slope_positive"] == 0.0
    assert ear["V_amplitude_intensity"].count(":") == 2
    no_response = rows["P000/L"]
    assert no_response["response"] == "no response"
    assert no_response["V_latency_intensity"] == "" and no_response["V_amplitude_intensity"] == ""
    # no slope: no flag either way (it read 0, "not positive", for an ear with no function; hunt 9, #10)
    assert np.isnan(no_response["V_li_slope_us_per_db"]) and np.isnan(no_response["V_li_slope_positive"])


def test_a_positive_slope_is_kept_and_flagged() -> None:
    level = np.array([80.0, 60.0, 60.0, 40.0])
    lat = np.full((4, 3), np.nan)
    lat[:, V] = [5.6, 5.3, 5.5, 7.0]  # 60 dB (mean 5.4) earlier than 80 dB
    out = ear_numbers(level, lat, np.full((4, 3), 0.3), 60.0)
    assert out["V_li_slope_us_per_db"] == pytest.approx(10.0) and out["V_li_slope_positive"] == 1.0
    levels, means = level_means(level, lat[:, V])
    assert levels.tolist() == [80.0, 60.0, 40.0] and means == pytest.approx([5.6, 5.4, 7.0])


def test_interaural_difference_is_the_difference_of_the_printed_latencies() -> None:
    cohort = _cohort()
    report = _report(cohort)
    key = cohort.ear_key.astype(str)
    level = cohort.static_column("intensity_db")
    lat = report.predictions.latency_ms
    right = np.flatnonzero((key == "P001/R") & (level == 80))
    lat[right, V] = [5.9, 6.3]  # replicates disagree; their mean is 6.1
    patients = report.patients()
    assert patients is not None
    row = patients["patient_id"].tolist().index("P001")
    assert patients["level_db"][row] == 80.0
    assert patients["V_latency_L_ms"][row] == pytest.approx(5.7)
    assert patients["V_latency_R_ms"][row] == pytest.approx(6.1)
    assert patients["interaural_V_ms"][row] == patients["V_latency_R_ms"][row] - patients["V_latency_L_ms"][row]
    # P000: the left ear is "no response", its false V at 20 dB is no latency to compare
    assert np.isnan(patients["interaural_V_ms"][patients["patient_id"].tolist().index("P000")])


def test_placeholder_threshold_interval_reads_above_the_highest_level() -> None:
    report = _report(_cohort())
    ears = report.ears
    assert ears is not None
    row = _series_rows(report)["P000/L"]
    assert row["threshold_above_max_level"] and row["max_level_db"] == 80.0
    assert row["threshold_lo_db"] == 80.0 and np.isnan(row["threshold_hi_db"]) and np.isnan(row["threshold_sd_db"])
    e = ears.ear_key.astype(str).tolist().index("P000/L")
    assert np.isfinite(ears.threshold_sd_db[e]) and ears.threshold_lo_db[e] < 80.0  # the evaluation's table as is
    (json_row,) = [r for r in report.to_json()["series"] if (r["patient_id"], r["ear"]) == ("P000", "L")]
    assert json_row["threshold_lo_db"] == 80.0 and json_row["threshold_hi_db"] is None
    measured = _series_rows(report)["P001/L"]
    assert np.isfinite(measured["threshold_sd_db"]) and measured["threshold_lo_db"] == 20.0
    # its interval passes the loudest level: an open bound, not the 85-dB placeholder (hunt 15 #8)
    e = ears.ear_key.astype(str).tolist().index("P001/L")
    assert ears.threshold_hi_db[e] == 85.0 and np.isnan(measured["threshold_hi_db"])


def _capture_figures(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Patch `Figure.savefig` to keep, per file name, the figure's texts and each errorbar's (label, x, y), and to
    write an empty file in place of the image."""
    from matplotlib.figure import Figure

    seen: dict[str, Any] = {}

    def savefig(fig: Figure, path: Any, **kw: Any) -> None:
        texts = [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))]
        bars = {}
        for c in fig.axes[0].containers:
            line = c.lines[0]
            bars[c.get_label()] = (np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float))
        staged = Path(path)  # the writer's staged file (`staged_write`): `.NAME.partial.png`, moved onto NAME.png
        staged.write_bytes(b"")
        seen[staged.name.removeprefix(".").replace(".partial.", ".")] = {"texts": texts, "bars": bars}

    monkeypatch.setattr(Figure, "savefig", savefig)
    return seen


def test_latency_intensity_plot_draws_the_points_series_csv_lists(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from dataclasses import replace

    seen = _capture_figures(monkeypatch)
    report = _report(_cohort())
    pred = report.predictions
    report.series_predictions = replace(pred, latency_ms=pred.latency_ms + 0.15)  # the blend: not series.csv's
    save_plots(report, tmp_path, series=True)
    rows = _series_rows(report)
    for key in ("P001/L", "P002/R"):
        x, y = seen[f"latency_intensity_{key.replace('/', '_')}.png"]["bars"]["wave V"]
        listed = [p.split(":") for p in rows[key]["V_latency_intensity"].split(";")]
        order = np.argsort(-x)
        assert x[order].tolist() == [float(a) for a, _ in listed]
        assert y[order] == pytest.approx([float(b) for _, b in listed], abs=5e-4)
    x, _ = seen["latency_intensity_P000_L.png"]["bars"]["wave V"]
    assert x.size == 0
    assert "no response: no latency–intensity function" in seen["latency_intensity_P000_L.png"]["texts"]


def test_waterfall_marks_agree_with_its_title_and_name_the_domain(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import abrnet.plots.waterfall as waterfall

    drawn: dict[str, tuple[str, np.ndarray, np.ndarray]] = {}
    original = waterfall.plot_waterfall

    def record(ax: Any, t: Any, x: Any, levels: np.ndarray, lat: np.ndarray, *, title: str, **kw: Any) -> None:
        drawn[title.split(":")[0]] = (title, levels, lat)
        original(ax, t, x, levels, lat, title=title, **kw)

    monkeypatch.setattr(waterfall, "plot_waterfall", record)
    seen = _capture_figures(monkeypatch)
    cohort = _cohort()
    domain = np.asarray(cohort.extras["domain"]).astype(object)
    domain[cohort.ear_key.astype(str) == "P002/R"] = "species: mouse; level unit: dB SPL"
    cohort.extras["domain"] = domain.astype(str)
    save_plots(_report(cohort), tmp_path, series=True)
    title, levels, lat = drawn["P000/L"]
    assert "no wave V up to 80 dB" in title and np.isnan(lat).all()  # the false V at 20 dB is not marked
    assert "1 record(s) with a possible wave left unmarked: the ear is read as no response" in title
    title, levels, lat = drawn["P001/L"]
    assert "threshold 60" in title
    assert np.isfinite(lat[levels >= 60, V]).all() and np.isnan(lat[levels < 60]).all()
    words = "outside the model's domain: species: mouse; level unit: dB SPL"
    for name in ("waterfall_P002_R.png", "latency_intensity_P002_R.png"):
        assert any(words in t.replace("\n", " ") for t in seen[name]["texts"]), name
    assert not any("domain" in t for t in seen["waterfall_P001_L.png"]["texts"])


def test_readme_says_class_pred_is_not_the_argmax_of_the_printed_probabilities() -> None:
    text = " ".join(README.read_text(encoding="utf-8").split())
    assert "so it can differ from the argmax of the printed `p_<CLASS>`" in text
    assert 'interval reads "above": `threshold_lo_db` = `max_level_db`' in text
    assert "only at levels ≥ the ear's `threshold_db`, none for a `no response` ear" in text


def test_replicate_correlation_per_record() -> None:
    t = np.arange(200) / 20.0
    wave = np.exp(-0.5 * ((t - 5.6) / 0.3) ** 2)
    rng = np.random.default_rng(0)
    signals = np.stack([wave, wave + 0.05 * rng.standard_normal(200), rng.standard_normal(200), wave])
    r = replicate_r(signals, t, np.array(["a", "a", "b", "c"]))
    assert r[0] == pytest.approx(r[1]) and r[0] > 0.95
    assert np.isnan(r[2:]).all()  # one record at its level
    cohort = _cohort()
    cols = prediction_columns(_report(cohort).predictions, cohort)
    level = cohort.static_column("intensity_db")
    assert np.isfinite(cols["replicate_r"][level >= 60]).all() and np.isnan(cols["replicate_r"][level < 60]).all()


def test_series_interpeak_intervals_are_replicate_means_at_or_above_threshold() -> None:
    """series.csv's intervals took the first replicate at the top level (row order decided) and were given for an
    ear called "no response", while the L–I function beside them used replicate means from the threshold up
    (hunt 9, #4)."""
    from abrnet.metrics.clinical import ear_numbers

    level = np.array([80.0, 80.0, 60.0, 40.0])
    lat = np.array([[1.6, 3.7, 5.6], [1.6, 3.8, 5.9], [1.9, 4.0, 6.0], [np.nan, 4.3, 6.5]])  # (n, 3) I, III, V
    amp = np.full((4, 3), 0.3)
    got = ear_numbers(level, lat, amp)
    assert got["I_V_ms"] == pytest.approx((4.0 + 4.3) / 2) and got["III_V_ms"] == pytest.approx((1.9 + 2.1) / 2)
    assert np.isnan(ear_numbers(level, lat, amp, from_db=np.inf)["I_V_ms"])  # a "no response" ear: none
    lat[:2, 0] = np.nan  # no wave I at 80 dB: I–V comes from 60 dB, unless the threshold is above it
    assert ear_numbers(level, lat, amp)["I_V_ms"] == pytest.approx(4.1)
    assert np.isnan(ear_numbers(level, lat, amp, from_db=70.0)["I_V_ms"])


def test_results_table_shows_the_fmp_and_residual_noise_the_reading_rests_on() -> None:
    """An audiologist accepts an absent response only under low residual noise; results.csv showed neither the noise
    nor the FMP the model read (hunt 8, #14)."""
    from abrnet.data.fmp import residual_noise_from_buffers
    from abrnet.data.simulate import SimulationConfig, simulate_cohort

    cohort = simulate_cohort(SimulationConfig(n_patients=1), seed=2)  # keeps its split buffers
    cols = prediction_columns(_report(cohort).predictions, cohort)
    expected = residual_noise_from_buffers(cohort.buffers[:, 0], cohort.buffers[:, 1]) * 1000.0
    np.testing.assert_allclose(cols["recording_noise_nv"], expected, rtol=1e-6)
    assert set(cols["recording_noise_from"]) == {"split_buffers"}
    np.testing.assert_array_equal(cols["fmp"], cohort.static_column("fmp"))
    without = cohort.subset(np.arange(cohort.n_records))
    without.buffers = None
    assert set(prediction_columns(_report(without).predictions, without)["recording_noise_from"]) == {"late_window"}
