"""`abrnet predict`: same numbers as evaluation, CSV round trip, one-line errors, series mode, resampling, --force."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import Result
from typer.testing import CliRunner

from abrnet.cli.main import app
from abrnet.constants import CLASS_NAMES, WAVES
from abrnet.data.csv_io import write_wide_csv
from abrnet.data.io import save_cohort
from abrnet.inference.checkpoint import load_checkpoint
from abrnet.series.classifier import adjusted_record_probs
from abrnet.series.per_ear import aggregate_ears

runner = CliRunner()


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


def col(rows: list[dict[str, str]], name: str) -> np.ndarray:
    return np.array([float(r[name]) if r[name] != "" else np.nan for r in rows])


@pytest.fixture(scope="module")
def test_split(tiny_run: dict, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The fixture run's test split as a file, with evaluate_model's predictions for it (the reference), made on
    the records as the reader hands them to the model (`on_model_grid`: every record centred)."""
    from abrnet.evaluation.evaluate import evaluate_model, split_of
    from abrnet.inference.checkpoint import load_checkpoint
    from abrnet.inference.inputs import on_model_grid

    loaded = load_checkpoint(tiny_run["dir"] / "best.ckpt")
    test = split_of(loaded, tiny_run["cohort"], "test")
    root = tmp_path_factory.mktemp("predict")
    path = save_cohort(test, root / "test.h5")
    _, pred = evaluate_model(loaded, on_model_grid(test)[0], split="test", n_bootstrap=0, figures=False)
    return {"cohort": test, "path": path, "pred": pred, "ckpt": str(tiny_run["dir"] / "best.ckpt"), "loaded": loaded}


def assert_matches(rows: list[dict[str, str]], test_split: dict) -> None:
    cohort, pred = test_split["cohort"], test_split["pred"]
    assert len(rows) == cohort.n_records
    assert [r["patient_id"] for r in rows] == list(cohort.patient_id)
    assert [r["ear"] for r in rows] == list(cohort.ear)
    np.testing.assert_allclose(col(rows, "intensity_db"), cohort.static_column("intensity_db"))
    for j, w in enumerate(WAVES):
        np.testing.assert_allclose(col(rows, f"{w}_presence_prob"), pred.peak_presence_prob[:, j], atol=1e-5)
        np.testing.assert_allclose(col(rows, f"{w}_latency_ms"), pred.latency_ms[:, j], atol=1e-5)
        np.testing.assert_allclose(col(rows, f"{w}_latency_sd_ms"), pred.latency_sd_ms[:, j], atol=1e-5)
        np.testing.assert_allclose(col(rows, f"{w}_amplitude_uv"), pred.amplitude_uv[:, j], atol=1e-5)
        np.testing.assert_allclose(col(rows, f"{w}_amplitude_sd_uv"), pred.amplitude_sd_uv[:, j], atol=1e-5)
    both = (pred.peak_presence_prob[:, 0] >= 0.5) & (pred.peak_presence_prob[:, 2] >= 0.5)  # I and V called present
    i_v = np.where(both, pred.latency_ms[:, 2] - pred.latency_ms[:, 0], np.nan)  # empty otherwise, as series.csv
    np.testing.assert_allclose(col(rows, "I_V_ms"), i_v, atol=2e-5)
    for c, name in enumerate(CLASS_NAMES):
        np.testing.assert_allclose(col(rows, f"p_{name}"), pred.class_prob[:, c], atol=1e-5)
    rule = getattr(test_split["loaded"].series_model, "record_class_bias", None)  # validation-tuned decision
    decided = adjusted_record_probs(pred.class_prob, rule).argmax(1)
    assert [r["class_pred"] for r in rows] == [CLASS_NAMES[k] for k in decided]
    np.testing.assert_allclose(col(rows, "threshold_db"), pred.threshold_db, atol=1e-5)
    np.testing.assert_allclose(col(rows, "threshold_sd_db"), pred.threshold_sd_db, atol=1e-5)
    np.testing.assert_allclose(col(rows, "p_no_response"), pred.p_no_response, atol=1e-5)


def test_predict_h5_equals_evaluate_and_json(test_split: dict, tmp_path: Path) -> None:
    out = tmp_path / "results.csv"
    res = runner.invoke(
        app, ["predict", "--checkpoint", test_split["ckpt"], str(test_split["path"]), "--out", str(out), "--json"]
    )
    assert res.exit_code == 0, res.output
    header, rows = read_csv(out)
    expected_head = ["patient_id", "ear", "intensity_db", "I_presence_prob", "I_latency_ms", "I_latency_sd_ms"]
    assert header[:6] == expected_head
    assert header[-3:] == ["threshold_db", "threshold_sd_db", "p_no_response"]
    assert {"I_III_ms", "III_V_ms", "I_V_ms", "class_pred", "p_NORMAL"} <= set(header)
    assert_matches(rows, test_split)
    payload = json.loads((tmp_path / "results.json").read_text())
    assert len(payload["records"]) == len(rows)
    assert payload["records"][0]["V_latency_ms"] == pytest.approx(float(rows[0]["V_latency_ms"]), abs=1e-6)


def test_interpeak_intervals_only_between_waves_called_present(test_split: dict) -> None:
    """results.csv gave every record I–V ≈ 4.9 ms, a total-loss ear's included (hunt 8, #1): the difference of two
    latencies read from noise, while series.csv and the viewer leave an absent wave's intervals empty."""
    import dataclasses

    from abrnet.inference.result_tables import prediction_columns

    pred = test_split["pred"]
    p = np.zeros_like(pred.peak_presence_prob)
    p[::2] = 0.9  # every wave present on even records; on odd ones only III and V
    p[1::2, 1:] = 0.9
    cols = prediction_columns(dataclasses.replace(pred, peak_presence_prob=p), test_split["cohort"])
    lat = pred.latency_ms
    np.testing.assert_allclose(cols["I_V_ms"][::2], lat[::2, 2] - lat[::2, 0], atol=1e-6)
    np.testing.assert_allclose(cols["III_V_ms"], lat[:, 2] - lat[:, 1], atol=1e-6)
    assert np.isnan(cols["I_V_ms"][1::2]).all() and np.isnan(cols["I_III_ms"][1::2]).all()


def test_predict_csv_round_trip(test_split: dict, tmp_path: Path) -> None:
    src = write_wide_csv(test_split["cohort"], tmp_path / "test.csv")
    out = tmp_path / "results.csv"
    res = runner.invoke(app, ["predict", "--checkpoint", test_split["ckpt"], str(src), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert_matches(read_csv(out)[1], test_split)


def test_refuses_overwrite_without_force(test_split: dict, tmp_path: Path) -> None:
    out = tmp_path / "results.csv"
    out.write_text("keep me\n")
    args = ["predict", "--checkpoint", test_split["ckpt"], str(test_split["path"]), "--out", str(out)]
    res = runner.invoke(app, args)
    assert res.exit_code == 2
    assert "exists" in res.output and "--force" in res.output
    assert out.read_text() == "keep me\n"
    res = runner.invoke(app, [*args, "--force"])
    assert res.exit_code == 0, res.output
    assert len(read_csv(out)[1]) == test_split["cohort"].n_records


def _small_csv(test_split: dict, tmp_path: Path) -> tuple[Path, list[str], list[list[str]]]:
    src = write_wide_csv(test_split["cohort"].subset(np.arange(3)), tmp_path / "small.csv")
    with src.open(newline="") as fh:
        rows = list(csv.reader(fh))
    return src, rows[0], rows[1:]


def _write(path: Path, header: list[str], body: list[list[str]]) -> Path:
    with path.open("w", newline="") as fh:
        csv.writer(fh).writerows([header, *body])
    return path


@pytest.mark.parametrize("case", ["missing_column", "text_sample", "wrong_length"])
def test_malformed_csv_one_line_error(test_split: dict, tmp_path: Path, case: str) -> None:
    _src, header, body = _small_csv(test_split, tmp_path)
    bad = tmp_path / f"{case}.csv"
    if case == "missing_column":
        j = header.index("intensity_db")
        _write(bad, header[:j] + header[j + 1 :], [r[:j] + r[j + 1 :] for r in body])
        expect = ("intensity_db", "row 0")
    elif case == "text_sample":
        body[1][header.index("s17")] = "abc"
        _write(bad, header, body)
        expect = ("s17", "row 2")
    else:
        dropped = {f"{p}s{i}" for p in ("", "a_", "b_") for i in range(150, 200)}  # signal and split buffers
        dropped |= {"sampling_rate_hz", "t0_ms"}  # a CSV that does not record its grid (another tool's)
        keep = [j for j, h in enumerate(header) if h not in dropped]
        _write(bad, [header[j] for j in keep], [[r[j] for j in keep] for r in body])
        expect = ("s0..s149", "row 1")
    res = runner.invoke(
        app, ["predict", "--checkpoint", test_split["ckpt"], str(bad), "--out", str(tmp_path / "r.csv")]
    )
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1, res.output
    assert str(bad) in lines[0] and all(e in lines[0] for e in expect), lines[0]
    assert not (tmp_path / "r.csv").exists()


def test_series_mode_matches_aggregate_ears_and_metrics(test_split: dict, tmp_path: Path) -> None:
    from abrnet.metrics.task_metrics import compute_metrics

    out = tmp_path / "results.csv"
    plots = tmp_path / "plots"
    args = ["predict", "--checkpoint", test_split["ckpt"], str(test_split["path"]), "--out", str(out)]
    res = runner.invoke(app, [*args, "--group-by", "patient_id,ear", "--plot", str(plots)])
    assert res.exit_code == 0, res.output
    header, rows = read_csv(tmp_path / "results.series.csv")
    assert header[:14] == [
        "patient_id", "ear", "stimulus", "threshold_db", "threshold_above_max_level", "max_level_db",
        "threshold_at_min_level", "min_level_db", "threshold_sd_db", "threshold_lo_db", "threshold_hi_db",
        "p_no_response", "response", "class_pred",
    ]  # fmt: skip
    assert "domain" in header  # the ear's domain, as the per-record table has it
    series_model = load_checkpoint(test_split["ckpt"]).series_model  # fitted after training, in the checkpoint
    ears = aggregate_ears(test_split["pred"], test_split["cohort"], series_model)
    assert len(rows) == ears.n_ears
    assert [f"{r['patient_id']}/{r['ear']}" for r in rows] == list(ears.ear_key)
    np.testing.assert_allclose(col(rows, "threshold_db"), ears.threshold_db, atol=1e-4)
    np.testing.assert_allclose(col(rows, "threshold_sd_db"), ears.threshold_sd_db, atol=1e-4)
    np.testing.assert_allclose(col(rows, "p_no_response"), ears.p_no_response, atol=1e-5)
    assert [r["response"] for r in rows] == ears.response.tolist()
    # predict's series thresholds are exactly what `abrnet evaluate` scores in its per-ear section
    metrics = compute_metrics(
        test_split["pred"], test_split["cohort"], split="test", n_bootstrap=0, series_model=series_model
    )
    ok = np.isfinite(ears.true_threshold_db) & ~ears.true_no_response
    mae = float(np.mean(np.abs(col(rows, "threshold_db")[ok] - ears.true_threshold_db[ok])))
    assert mae == pytest.approx(metrics["per_ear"]["threshold"]["mae_db"], abs=1e-3)
    from abrnet.inference.result_tables import threshold_mae_by_mode

    modes = threshold_mae_by_mode(test_split["pred"], test_split["cohort"], series_model)
    assert modes["series_mae_db"] == pytest.approx(metrics["per_ear"]["threshold"]["mae_db"], rel=1e-5)
    assert modes["per_record_mae_db"] == pytest.approx(metrics["threshold"]["mae_db"], rel=1e-5)
    assert len(list(plots.glob("waterfall_*.png"))) == ears.n_ears
    assert len(list(plots.glob("latency_intensity_*.png"))) == ears.n_ears


def test_group_by_other_key_rejected(test_split: dict, tmp_path: Path) -> None:
    args = ["predict", "--checkpoint", test_split["ckpt"], str(test_split["path"]), "--out", str(tmp_path / "r.csv")]
    res = runner.invoke(app, [*args, "--group-by", "patient_id"])
    assert res.exit_code == 2
    assert not (tmp_path / "r.csv").exists()


def test_resampled_40khz_csv_with_short_window(test_split: dict, tmp_path: Path) -> None:
    """A 40 kHz CSV covering 0-8 ms: resampled to the model grid, with a warning that 8-10 ms is missing."""
    from scipy.signal import resample_poly

    cohort = test_split["cohort"].subset(np.arange(4))
    up = resample_poly(cohort.signals.astype(np.float64), 2, 1, axis=1)[:, :320].astype(np.float32)  # 0-7.975 ms
    hi = cohort.subset(np.arange(4))
    hi.signals, hi.clean, hi.buffers, hi.sampling_rate_hz = up, None, None, 40_000.0
    src = write_wide_csv(hi, tmp_path / "k40.csv")
    out = tmp_path / "r.csv"
    base = ["predict", "--checkpoint", test_split["ckpt"], str(src), "--out", str(out)]
    res = runner.invoke(app, [*base, "--sampling-rate", "40000"])
    assert res.exit_code == 0, res.output
    assert "warning" in res.output and "39 model samples are missing (8.05–9.95 ms, after the last" in res.output
    rows = read_csv(out)[1]
    assert len(rows) == 4
    assert np.all(np.isfinite(col(rows, "V_latency_ms")))
    # the file records its rate (`data export` writes it): the option is not needed, and the reading is the same
    res = runner.invoke(app, [*base[:-1], str(tmp_path / "r2.csv")])
    assert res.exit_code == 0, res.output
    assert read_csv(tmp_path / "r2.csv")[1] == rows
    # a CSV that does not record its grid: the 320-sample rows are refused without the rate, not silently mis-timed
    header, *body = [line.split(",") for line in src.read_text().splitlines()]
    keep = [j for j, h in enumerate(header) if h not in ("sampling_rate_hz", "t0_ms")]
    bare = tmp_path / "k40_bare.csv"
    bare.write_text("\n".join(",".join(r[j] for j in keep) for r in [header, *body]) + "\n")
    res = runner.invoke(app, [*base[:3], str(bare), "--out", str(tmp_path / "r3.csv")])
    assert res.exit_code == 2 and "--sampling-rate" in res.output


def test_predict_on_a_real_device_export(test_split: dict, tmp_path: Path) -> None:
    """An EPL CFTS click series (25 kHz, 0-17 ms) is resampled to the model grid and analysed per level."""
    from tests.conftest import FIXTURES, require_fixture

    src = require_fixture(FIXTURES / "epl_abr_peak_analysis" / "ABR-136-1")
    out = tmp_path / "r.csv"
    args = ["predict", "--checkpoint", test_split["ckpt"], str(src), "--out", str(out), "--age-years", "0.2"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    rows = read_csv(out)[1]
    assert len(rows) == 17  # one row per stimulus level in the file
    assert sorted(col(rows, "intensity_db")) == sorted(set(col(rows, "intensity_db")))  # distinct levels kept
    assert np.all(np.isfinite(col(rows, "threshold_db"))) and np.all(np.isfinite(col(rows, "V_latency_ms")))
    assert "fmp" in res.output.lower()  # the export has no FMP: the placeholder is announced, not silent


def _one_line_error(res: Result) -> str:
    """The only line a refused run prints (exit code 2, no traceback)."""
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert res.exit_code == 2 and len(lines) == 1, res.output
    assert "Traceback" not in res.output
    return lines[0]


def test_outputs_of_one_run_that_are_the_same_file_are_refused(test_split: dict, tmp_path: Path) -> None:
    """--json <x>.json wrote the JSON over the results (as --out series.csv with --group-by once wrote the series
    table over them, before the tables were named after --out)."""
    args = ["predict", "--checkpoint", test_split["ckpt"], str(test_split["path"]), "--out", str(tmp_path / "r.json")]
    line = _one_line_error(runner.invoke(app, [*args, "--json", "--force"]))
    assert "--out" in line and "must be named .csv" in line and "r.json" in line, line  # so <out>.json is never --out
    assert list(tmp_path.iterdir()) == []


def test_series_tables_are_named_after_out_so_two_analyses_share_a_folder(test_split: dict, tmp_path: Path) -> None:
    """series.csv and patients.csv had fixed names: a second analysis into the same folder was refused, or replaced
    the first one's tables with --force. Now each is <out>.series.csv and <out>.patients.csv."""
    series = ["--group-by", "patient_id,ear"]
    for name in ("left.csv", "right.csv"):
        args = ["predict", "--checkpoint", test_split["ckpt"], str(test_split["path"]), "--out", str(tmp_path / name)]
        res = runner.invoke(app, [*args, *series])
        assert res.exit_code == 0, res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "left.csv", "left.patients.csv", "left.series.csv", "right.csv", "right.patients.csv", "right.series.csv",
    ]  # fmt: skip


def test_plot_folder_that_is_a_file_is_refused_before_writing(test_split: dict, tmp_path: Path) -> None:
    (tmp_path / "plotfile").write_text("keep")
    out = tmp_path / "r.csv"
    args = ["predict", "--checkpoint", test_split["ckpt"], str(test_split["path"]), "--out", str(out)]
    line = _one_line_error(runner.invoke(app, [*args, "--plot", str(tmp_path / "plotfile")]))
    assert "--plot" in line and "plotfile" in line, line
    assert not out.exists() and (tmp_path / "plotfile").read_text() == "keep"


def test_plot_names_stay_distinct_when_ids_sanitize_alike(test_split: dict, tmp_path: Path) -> None:
    """'P 1' and 'P_1' both became waterfall_P_1_L.png: one ear's plots replaced the other's."""
    from abrnet.inference.result_plots import plot_stems

    stems = plot_stems(["P 1/L", "P_1/L", "Q/R", "q/R", "SIM7/L"])
    assert len(set(stems.values())) == 5 and stems["SIM7/L"] == "SIM7_L"  # ordinary ids keep their names
    cohort = test_split["cohort"]
    keys = cohort.ear_key.astype(str)
    first, second = np.flatnonzero(keys == np.unique(keys)[0]), np.flatnonzero(keys == np.unique(keys)[-1])
    both = cohort.subset(np.concatenate([first, second]))
    both.patient_id = np.array(["P 1"] * len(first) + ["P_1"] * len(second))
    both.ear = np.array(["L"] * len(both.ear))
    src = save_cohort(both, tmp_path / "collide.h5")
    plots = tmp_path / "plots"
    args = ["predict", "--checkpoint", test_split["ckpt"], str(src), "--out", str(tmp_path / "r.csv")]
    res = runner.invoke(app, [*args, "--plot", str(plots), "--group-by", "patient_id,ear"])
    assert res.exit_code == 0, res.output
    assert len(list(plots.glob("waterfall_*.png"))) == 2 and len(list(plots.glob("latency_intensity_*.png"))) == 2
    assert "and 3 more" in res.output  # 3 tables + 4 plots: the count is what is on disk


def test_strict_names_the_file_and_row_of_the_record(test_split: dict, tmp_path: Path) -> None:
    """With several inputs --strict named all of them and the row counted over every file's records; the row counts
    from 1 in the file's order, as every other error does, and the record is named (hunt 44b #3)."""
    mouse = test_split["cohort"].subset(np.arange(4))
    mouse.patient_id = np.array([f"M{i}" for i in range(4)])
    mouse.extras["species"] = np.full(4, "mouse")
    mouse.extras["species"][0] = "human"
    src = save_cohort(mouse, tmp_path / "mouse.h5")
    args = ["predict", "--checkpoint", test_split["ckpt"], str(test_split["path"]), str(src), "--strict"]
    line = _one_line_error(runner.invoke(app, [*args, "--out", str(tmp_path / "r.csv")]))
    assert line.startswith(f"error: {src}: field 'domain', row 2:") and "mouse" in line, line
    assert "(patient M1, ear " in line, line
    assert not (tmp_path / "r.csv").exists()


def test_predict_option_out_of_range_names_the_option(test_split: dict, tmp_path: Path) -> None:
    """The API's argument checks raise ValueError about its keyword (age_years); the CLI names --age, one line."""
    args = ["predict", "--checkpoint", test_split["ckpt"], str(test_split["path"]), "--out", str(tmp_path / "r.csv")]
    line = _one_line_error(runner.invoke(app, [*args, "--age", "500"]))
    assert "--age" in line and "500" in line, line
    line = _one_line_error(runner.invoke(app, [*args, "--sampling-rate", "-5"]))
    assert "--sampling-rate" in line, line
    assert not (tmp_path / "r.csv").exists()


def test_strict_names_the_path_when_two_inputs_share_a_file_name(test_split: dict, tmp_path: Path) -> None:
    """a/x.h5 and b/x.h5: --strict gave the bare name 'x.h5' and counted the row over both files' records."""
    first = test_split["cohort"].subset(np.arange(3))
    first.patient_id = np.array([f"A{i}" for i in range(3)])
    second = test_split["cohort"].subset(np.arange(4))
    second.patient_id = np.array([f"B{i}" for i in range(4)])
    second.extras["species"] = np.array(["human", "human", "mouse", "mouse"])
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = save_cohort(first, tmp_path / "a" / "x.h5")
    b = save_cohort(second, tmp_path / "b" / "x.h5")
    args = ["predict", "--checkpoint", test_split["ckpt"], str(a), str(b), "--strict", "--out", str(tmp_path / "r.csv")]
    line = _one_line_error(runner.invoke(app, args))
    assert line.startswith(f"error: {b}: field 'domain', row 3:") and "mouse" in line, line
    assert not (tmp_path / "r.csv").exists()
