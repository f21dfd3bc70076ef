"""`abrnet.load(ckpt)`: lazy import, predict on a cohort or a file, generate, and the generation evaluation."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import abrnet
from abrnet.data.io import save_cohort


def test_import_abrnet_stays_light() -> None:
    code = "import sys, abrnet; assert 'torch' not in sys.modules; assert callable(abrnet.load); print('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"
    with pytest.raises(AttributeError):
        _ = abrnet.no_such_thing


def test_load_predict_cohort_and_file(tiny_run: dict, tmp_path: Path) -> None:
    model = abrnet.load(tiny_run["dir"] / "best.ckpt")
    cohort = tiny_run["cohort"].subset(np.arange(30))
    report = model.predict(cohort, series=True)
    cols = report.columns()
    assert len(cols["patient_id"]) == 30
    assert np.all((cols["p_no_response"] >= 0) & (cols["p_no_response"] <= 1))
    assert report.ears is not None and report.ears.n_ears == len(np.unique(cohort.ear_key))
    from_file = model.predict(save_cohort(cohort, tmp_path / "c.h5"))
    np.testing.assert_allclose(from_file.predictions.latency_ms, report.predictions.latency_ms, atol=1e-6)
    assert report.to_json()["series"][0]["patient_id"] == str(report.ears.patient_id[0])


def test_missing_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        abrnet.load(tmp_path / "nope.ckpt")


def test_generation_eval_report(tiny_run: dict, tmp_path: Path) -> None:
    import json

    from abrnet.evaluation.evaluate import split_of
    from abrnet.evaluation.generation_eval import evaluate_generation, write_generation_report

    model = abrnet.load(tiny_run["dir"] / "best.ckpt")
    test = split_of(model.loaded, tiny_run["cohort"], "test")
    report = evaluate_generation(model, test, n=24, steps=3, seed=0, min_count=3)
    path = write_generation_report(report, tmp_path)
    back = json.loads(path.read_text())
    cond = back["conditional"]
    assert back["n_conditions"] == 24 and back["reference_signals"] == "clean"
    assert 0.0 <= cond["two_sample_auc"] <= 1.0 and cond["spectral_distance_db"] >= 0.0
    assert "per_bin" in cond["heads_vs_labels"]["latency"] and "max_abs_ms" in cond["classical_vs_labels"]["latency"]
    assert set(cond["rms_by_level"]) == {"reference_median_uv", "generated_median_uv", "ratio"}
    assert back["band_limit"] is True and "heads_with_recording_noise_vs_heads_on_test" in cond
    assert set(back["joint"]["ks_static"]) == {"age_years", "intensity_db", "stimulus_rate_hz", "fmp"}
    assert all(0.0 <= v <= 1.0 for v in back["joint"]["ks_static"].values())


def test_evaluate_generation_flag_writes_json(tiny_run: dict, tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from abrnet.cli.main import app

    args = ["evaluate", "--checkpoint", str(tiny_run["dir"] / "best.ckpt"), "--out", str(tmp_path), "--data"]
    args += [str(tiny_run["data"]), "--bootstrap", "0", "--balanced-patients", "0", "--generation"]
    res = CliRunner().invoke(app, [*args, "--generation-n", "16", "--generation-steps", "2", "--generation-raw"])
    assert res.exit_code == 0, res.output
    report = json.loads((tmp_path / "generation.json").read_text())
    assert report["n_conditions"] == 16 and report["steps"] == 2 and report["band_limit"] is False
    assert "raw sampler output" in res.output
    assert (tmp_path / "metrics.json").exists()
    assert "threshold MAE: per record" in res.output
