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
    """`load` gives the checkpoint's network: `predict` equals that network's heads on the normalised records, a
    file gives the same answer as the cohort it holds, and series mode adds one row per ear of the input."""
    import torch

    from abrnet.inference.checkpoint import load_checkpoint
    from abrnet.inference.inputs import on_model_grid

    model = abrnet.load(tiny_run["dir"] / "best.ckpt")
    cohort = tiny_run["cohort"].subset(np.arange(30))
    report = model.predict(cohort, series=True)
    pred = report.predictions

    loaded = load_checkpoint(tiny_run["dir"] / "best.ckpt")  # the same weights, read independently
    net = loaded.model.eval()
    with torch.no_grad():
        out = net(
            torch.from_numpy(loaded.normalizer.signal(on_model_grid(cohort)[0].signals)),  # as the reader hands it
            torch.from_numpy(loaded.normalizer.static(cohort.static)),
        )
    np.testing.assert_allclose(pred.latency_ms, out["peak_latency"].numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(pred.threshold_db, out["threshold"].numpy(), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(pred.p_no_response, torch.sigmoid(out["no_response_logit"]).numpy(), atol=1e-6)
    np.testing.assert_allclose(pred.class_prob, torch.softmax(out["class_logits"], -1).numpy(), atol=1e-6)
    cols = report.columns()
    assert list(cols["patient_id"]) == list(cohort.patient_id)  # one row per input record, in input order
    np.testing.assert_allclose(cols["p_no_response"], pred.p_no_response)

    from_file = model.predict(save_cohort(cohort, tmp_path / "c.h5"))
    for field in ("latency_ms", "amplitude_uv", "peak_presence_prob", "class_prob", "threshold_db", "p_no_response"):
        np.testing.assert_allclose(getattr(from_file.predictions, field), getattr(pred, field), atol=1e-6)
    assert from_file.ears is None  # series mode is opt-in

    ears = report.ears
    assert ears is not None
    assert sorted(ears.ear_key.astype(str)) == sorted(set(cohort.ear_key.astype(str)))  # one row per input ear
    assert list(ears.n_records) == [int((cohort.ear_key == k).sum()) for k in ears.ear_key]  # its whole series
    rows = report.to_json()["series"]
    assert [f"{r['patient_id']}/{r['ear']}" for r in rows] == list(ears.ear_key.astype(str))


def test_missing_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        abrnet.load(tmp_path / "nope.ckpt")


def test_generation_eval_report(tiny_run: dict, tmp_path: Path) -> None:
    import json

    from abrnet.evaluation.evaluate import split_of
    from abrnet.evaluation.generation import ks_distances
    from abrnet.evaluation.generation_eval import evaluate_generation, write_generation_report

    model = abrnet.load(tiny_run["dir"] / "best.ckpt")
    test = split_of(model.loaded, tiny_run["cohort"], "test")
    report = evaluate_generation(model, test, n=24, steps=3, seed=0, min_count=3)
    path = write_generation_report(report, tmp_path)
    back = json.loads(path.read_text())
    assert back == json.loads(json.dumps(report))  # the file holds the report, nothing lost or added
    cond = back["conditional"]
    assert back["n_conditions"] == 24 and back["reference_signals"] == "clean" and back["steps"] == 3
    assert 0.5 <= cond["two_sample_auc"] <= 1.0 and cond["spectral_distance_db"] > 0.0  # generated ≠ real signals
    assert "per_bin" in cond["heads_vs_labels"]["latency"] and "max_abs_ms" in cond["classical_vs_labels"]["latency"]
    assert set(cond["rms_by_level"]) == {"reference_median_uv", "generated_median_uv", "ratio"}
    assert back["band_limit"] is True and "heads_with_recording_noise_vs_heads_on_test" in cond
    per_bin = cond["labelled_v_per_bin"]  # how many labelled waves each bin's median stands on
    assert sum(per_bin.values()) == cond["n_with_response"] and all(float(k) % 10 == 0 for k in per_bin)
    # the joint KS distances are those of the generated static parameters against the test split's
    ks = back["joint"]["ks_static"]
    assert set(ks) == {"age_years", "intensity_db", "stimulus_rate_hz", "fmp"}
    again = evaluate_generation(model, test, n=24, steps=3, seed=0, min_count=3)
    assert again["joint"]["ks_static"] == pytest.approx(ks)  # seeded: the same generation, the same figures
    gen = model.generate(24, joint=True, steps=3, seed=1)  # what evaluate_generation draws for the joint part
    assert ks == pytest.approx(ks_distances(test.static, gen.static))


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


@pytest.mark.parametrize(
    ("data", "kwargs", "error", "message"),
    [
        (np.zeros((3, 200)), {}, TypeError, "data must be a file or folder path, .*ABRCohort, got ndarray; .*wide CSV"),
        ([[0.0] * 200], {}, TypeError, "data must be .*got a list holding list; .*ABRCohort"),
        (None, {}, TypeError, "data must be .*ABRCohort, got NoneType"),
        ([], {}, ValueError, "data must be .*got an empty list"),
        ("records.csv", {"batch_size": 0}, ValueError, "batch_size must be an integer >= 1, got 0"),
        ("records.csv", {"age_years": "abc"}, TypeError, "age_years must be a finite number .*got 'abc'"),
        ("records.csv", {"sampling_rate_hz": -1.0}, ValueError, "sampling_rate_hz must be a finite number > 0"),
    ],
)
def test_predict_refuses_unclear_inputs_up_front(
    tiny_run: dict, monkeypatch: pytest.MonkeyPatch, data: object, kwargs: dict, error: type[Exception], message: str
) -> None:
    """Arrays, None, an empty list, batch_size 0 or a non-numeric age: one line naming the argument, before any
    file is read (they used to fail deep inside with os.PathLike or range() messages)."""
    from abrnet.inference import inputs

    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("files were read before the arguments were checked")

    monkeypatch.setattr(inputs, "read_many", refuse)
    with pytest.raises(error, match=message):
        abrnet.load(tiny_run["dir"] / "best.ckpt").predict(data, **kwargs)


@pytest.mark.parametrize("option", [{"age_years": 90.0}, {"sampling_rate_hz": 10000.0}, {"fmt": "csv"}])
def test_predict_refuses_reading_options_with_a_cohort(tiny_run: dict, option: dict) -> None:
    """An in-memory cohort already has its ages and rate: reading options with one are an error, not dropped."""
    ((name, value),) = option.items()
    with pytest.raises(ValueError, match=f"{name}={value!r}: reading options apply to files only"):
        abrnet.load(tiny_run["dir"] / "best.ckpt").predict(tiny_run["cohort"].subset(np.arange(3)), **option)
