"""`abrnet simulate` and `abrnet data describe/plot/export` from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from abrnet.cli.main import app
from abrnet.data.csv_io import read_wide_csv
from abrnet.data.io import load_cohort

runner = CliRunner()


def test_simulate_describe_plot_export(tmp_path: Path) -> None:
    out = tmp_path / "c.h5"
    res = runner.invoke(app, ["simulate", "--patients", "60", "--seed", "3", "--out", str(out)])
    assert res.exit_code == 0, res.output
    cohort = load_cohort(out)
    assert cohort.n_records > 60 * 10 and cohort.clean is not None

    # same seed, same cohort; refuses to overwrite without --force
    again = runner.invoke(app, ["simulate", "--patients", "60", "--seed", "3", "--out", str(out)])
    assert again.exit_code == 2 and "--force" in again.output
    other = tmp_path / "d.h5"
    assert runner.invoke(app, ["simulate", "--patients", "60", "--seed", "3", "--out", str(other)]).exit_code == 0
    np.testing.assert_array_equal(load_cohort(other).signals, cohort.signals)

    res = runner.invoke(app, ["data", "describe", str(out), "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output)
    for key in ("n_records", "n_patients", "n_samples", "sampling_rate_hz", "class_fraction", "label_rate"):
        assert key in summary
    assert summary["n_records"] == cohort.n_records and summary["n_samples"] == 200
    assert abs(sum(summary["class_fraction"].values()) - 1.0) < 1e-6
    assert set(summary["fmp"]) >= {"median", "mean", "frac_above_3"}
    assert set(summary["label_rate"]) == {"I", "III", "V"}
    assert summary["splits"]["test"]["n_records"] > 0

    table = runner.invoke(app, ["data", "describe", str(out)])
    assert table.exit_code == 0 and "wave V labelled" in table.output

    png = tmp_path / "fig.png"
    res = runner.invoke(app, ["data", "plot", str(out), "--out", str(png)])
    assert res.exit_code == 0, res.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000

    csv = tmp_path / "x.csv"
    res = runner.invoke(app, ["data", "export", str(out), "--out", str(csv), "--split", "test"])
    assert res.exit_code == 0, res.output
    back = read_wide_csv(csv)
    assert back.n_records == summary["splits"]["test"]["n_records"]
    assert runner.invoke(app, ["data", "export", str(out), "--out", str(csv)]).exit_code == 2


def test_every_command_has_help() -> None:
    for cmd in (["--help"], ["simulate", "--help"], ["data", "describe", "--help"], ["data", "plot", "--help"]):
        res = runner.invoke(app, cmd)
        assert res.exit_code == 0 and "Usage" in res.output
