"""User hunt C, "train and evaluate my own model": each setting that crashed mid-fit, trained the wrong model or
scored the wrong patients is refused in one line before anything is written, a series stage stays with the network
it was fitted on, and a run's own folder is recognised from any working folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from abrnet.cli.main import app
from abrnet.config.train_config import ConfigError, load_config
from abrnet.data.io import save_cohort
from abrnet.data.simulate import SimulationConfig, simulate_cohort
from abrnet.inference.checkpoint import SERIES_KEY

FAST_EVAL = ["--balanced-patients", "0", "--bootstrap", "0"]


def _cli(*args: str) -> tuple[int, list[str]]:
    """`abrnet ARGS` in process → (exit code, non-empty output lines)."""
    res = CliRunner().invoke(app, list(args))
    return res.exit_code, [line for line in res.output.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def small_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hunt_c")
    return save_cohort(simulate_cohort(SimulationConfig(n_patients=6), seed=3), root / "c.h5")


# ------------------------------------------------------------------------------------------ #2, #3, #10: overrides
@pytest.mark.parametrize(
    ("override", "expect"),
    [
        ("{n_classes: 3}", "n_classes (the data's 5, got 3): fixed by the data"),
        ("{n_static: 2}", "n_static (the data's 4, got 2): fixed by the data"),
        ("{n_waves: 2, latency_center_ms: [1.0, 2.0]}", "n_waves (the data's 3, got 2): fixed by the data"),
        ("{latency_center_ms: [1.0, 2.0]}", "latency_center_ms needs 3 (= n_waves) values"),
        ("{input_length: 400}", "input_length (the data's 200, got 400): fixed by the data"),
        ("{static_missing_prob: 5.0}", "static_missing_prob must be in [0, 1], got 5.0"),
        ("{static_missing_prob: -0.1}", "static_missing_prob must be in [0, 1], got -0.1"),
    ],
)
def test_model_overrides_the_data_fixes_or_out_of_range_are_config_errors(override: str, expect: str) -> None:
    """n_classes/n_static/n_waves crashed mid-fit (leaving a blocking run folder); input_length 400 trained silently
    on 200-sample records and read the world on a 0-20 ms grid; static_missing_prob 5.0 hid every FMP."""
    with pytest.raises(ConfigError, match=r"^<defaults>: model\.overrides: ") as info:
        load_config(None, [f"model.overrides={override}"])
    assert expect in str(info.value) and "\n" not in str(info.value)


def test_model_overrides_equal_to_the_data_still_load() -> None:
    """A config (or a stored checkpoint config) naming the data's own sizes is no mismatch."""
    cfg = load_config(None, ["model.overrides={n_classes: 5, n_static: 4, n_waves: 3, input_length: 200}"])
    assert cfg.network_config().n_classes == 5


def test_the_train_cli_refuses_a_data_fixed_override_before_making_the_run_folder(small_file, tmp_path) -> None:
    out = tmp_path / "run"
    code, lines = _cli("train", "--data", str(small_file), "--out", str(out), "--set", "model.overrides={n_classes: 3}")
    assert code == 2 and len(lines) == 1 and "field '--set model.overrides': n_classes" in lines[0], lines
    assert not out.exists()


# ------------------------------------------------------------------------------------------------- #9: val_fraction
def test_val_fraction_zero_is_refused_by_train_not_by_the_config(small_file: Path, tmp_path: Path) -> None:
    """Training with no validation split chose no best.ckpt and fitted no series stage; the refusal was made in the
    config's validation, which a stored checkpoint's config passes through too (next test), so it lives in `train`."""
    assert load_config(None, ["data.val_fraction=0"]).data.val_fraction == 0.0  # a valid description of a fit
    with pytest.raises(ConfigError, match=r"data\.val_fraction: Input should be greater than or equal to 0"):
        load_config(None, ["data.val_fraction=-0.1"])
    out = tmp_path / "run"
    code, lines = _train_cli(small_file, out, "data.val_fraction=0")
    assert code == 2 and len(lines) == 1, lines
    assert "field 'data.val_fraction': must be > 0 (got 0): the validation split chooses best.ckpt" in lines[0], lines
    assert not out.exists()


def test_a_checkpoint_trained_with_val_fraction_zero_still_loads(tiny_run: dict, tmp_path: Path) -> None:
    """Checkpoints trained before val_fraction 0 was refused failed to load for predict and evaluate ("must be > 0"):
    loading describes a fit that happened, and only starting one is refused."""
    from abrnet.inference.checkpoint import load_checkpoint

    ckpt = torch.load(tiny_run["dir"] / "best.ckpt", map_location="cpu", weights_only=True)
    ckpt["hyper_parameters"]["config"]["data"]["val_fraction"] = 0.0
    torch.save(ckpt, tmp_path / "old.ckpt")
    loaded = load_checkpoint(tmp_path / "old.ckpt")
    assert loaded.config.data.val_fraction == 0.0 and loaded.series_model is not None


# ------------------------------------------------------------------------ #3, #6, #8: train() before the run folder
def _train_cli(data: Path, out: Path, *items: str) -> tuple[int, list[str]]:
    args = ["train", "--data", str(data), "--out", str(out), "--balanced-patients", "0"]
    for item in ("model.preset=tiny", "trainer.max_steps=2", *items):
        args += ["--set", item]
    return _cli(*args)


def test_batch_larger_than_the_training_split_is_refused_naming_both(small_file: Path, tmp_path: Path) -> None:
    """data.batch_size=100000 was OOM-killed without a word; 1000 on ~600 records trained on duplicates (as here)."""
    out = tmp_path / "run"
    code, lines = _train_cli(small_file, out, "data.batch_size=1000")
    assert code == 2 and len(lines) == 1, lines
    assert "field 'data.batch_size': 1000 exceeds the training split (" in lines[0], lines
    assert not out.exists()


def test_records_of_another_length_than_the_model_reads_are_refused(tmp_path: Path) -> None:
    """Nothing compared the cohort's record length with the network's input length."""
    cohort = simulate_cohort(SimulationConfig(n_patients=3), seed=1)
    cohort.signals = np.concatenate([cohort.signals, cohort.signals], axis=1)  # 400 samples at 20 kHz: 0-20 ms
    cohort.clean, cohort.buffers = None, None
    data = save_cohort(cohort, tmp_path / "long.h5")
    code, lines = _train_cli(data, tmp_path / "run")
    assert code == 2 and len(lines) == 1, lines
    assert "field 'signals': records of 400 samples; the model reads 200 (10 ms)" in lines[0], lines
    assert not (tmp_path / "run").exists()


def test_16_mixed_on_cpu_names_only_values_the_config_takes_and_makes_no_folder(small_file, tmp_path) -> None:
    if torch.cuda.is_available():
        pytest.skip("16-mixed runs on a GPU machine")
    out = tmp_path / "run"
    code, lines = _train_cli(small_file, out, "trainer.precision=16-mixed")
    assert code == 2 and len(lines) == 1, lines
    assert "16-mixed needs a GPU; on CPU use 'auto', '32' or 'bf16-mixed'" in lines[0] and "32-true" not in lines[0]
    assert not out.exists()
    for value in ("auto", "32", "bf16-mixed"):  # each value named is one the config accepts
        assert load_config(None, [f"trainer.precision={value}"]).trainer.precision == value


# ------------------------------------------------------------------------------------------- #5: --split all
def test_evaluate_split_all_needs_data(tmp_path: Path) -> None:
    """It scored the training cohort, training patients included, with no warning."""
    out = tmp_path / "ev"
    code, lines = _cli("evaluate", "--checkpoint", str(tmp_path / "x.ckpt"), "--out", str(out), "--split", "all")
    assert code == 2 and len(lines) == 1, lines
    assert "field '--split': all needs --data" in lines[0], lines
    assert not out.exists()
    help_text = " ".join(CliRunner().invoke(app, ["evaluate", "--help"], env={"COLUMNS": "250"}).output.split())
    assert "all (every record of --data; needs --data)" in help_text


def test_evaluate_checkpoint_refuses_split_all_of_the_training_cohort_from_python(tiny_run: dict, tmp_path) -> None:
    """The refusal lived in the CLI alone: `evaluate_checkpoint(ckpt, split="all", out_dir=...)` scored the whole
    training cohort, training patients included. It is evaluate_checkpoint's own now, in the CLI's words."""
    from abrnet.data.schema import DataError
    from abrnet.evaluation.evaluate import check_split_data, evaluate_checkpoint

    out = tmp_path / "ev"
    with pytest.raises(DataError) as info:
        evaluate_checkpoint(tiny_run["dir"] / "best.ckpt", split="all", out_dir=out, balanced_patients=0)
    assert str(info.value) == (
        "abrnet evaluate: field '--split': all needs --data: the training cohort holds the patients the model was "
        "trained on (use --split test)"
    )
    assert not out.exists()
    check_split_data("all", tiny_run["data"])  # a file, or records handed in, are the caller's choice
    check_split_data("all", None, tiny_run["cohort"])
    check_split_data("test", None)


# ------------------------------------------------------------------------------------- #1: series stage per network
def test_the_series_stage_is_written_into_best_ckpt_only_and_its_absence_is_said(tiny_run: dict, tmp_path) -> None:
    """last.ckpt carried the stage fitted on best.ckpt's outputs: predict/export of last.ckpt read another network's
    crossing, interval, class rule and peak blend without a word."""
    best = torch.load(tiny_run["dir"] / "best.ckpt", map_location="cpu", weights_only=True)
    last = torch.load(tiny_run["dir"] / "last.ckpt", map_location="cpu", weights_only=True)
    assert SERIES_KEY in best and SERIES_KEY not in last
    few = save_cohort(tiny_run["cohort"].subset(np.arange(8)), tmp_path / "few.h5")
    said = "holds no fitted series stage"
    for ckpt, warned in ((tiny_run["dir"] / "last.ckpt", True), (tiny_run["dir"] / "best.ckpt", False)):
        code, lines = _cli("predict", str(few), "--out", str(tmp_path / f"{ckpt.stem}.csv"), "--checkpoint", str(ckpt))
        assert code == 0, lines
        assert any(said in line and "last.ckpt is for --resume" in line for line in lines) is warned, lines
        code, lines = _cli("model", "export", str(ckpt), "--out", str(tmp_path / f"{ckpt.stem}-slim.ckpt"))
        assert code == 0, lines
        assert any(said in line for line in lines) is warned, lines


# ------------------------------------------------- #4: a run re-evaluated from another working folder keeps its record
def test_a_record_written_relative_from_another_folder_keeps_the_run_record_by_model(tiny_run: dict) -> None:
    """metrics.json names the checkpoint as typed, relative to the working folder it was written from: the same
    model (model_content_sha256) still keeps the run record from another one; another model does not."""
    from abrnet.evaluation.folder import run_record

    previous = {"checkpoint": "elsewhere/best.ckpt", "model_content_sha256": "a" * 64, "training": {"steps": 3}}
    assert run_record(previous, tiny_run["dir"] / "best.ckpt", "a" * 64) == {"training": {"steps": 3}}
    assert run_record(previous, tiny_run["dir"] / "best.ckpt", "b" * 64) == {}
    run = tiny_run["dir"]  # the run's own checkpoints keep it, into their own folder only (`RUN_CHECKPOINTS`)
    assert run_record(previous, run / "last.ckpt", "b" * 64, run_folder=run) == {"training": {"steps": 3}}
    assert run_record(previous, run / "last.ckpt", "b" * 64, run_folder=run / "elsewhere") == {}
    assert run_record(previous, run / "other.ckpt", "b" * 64, run_folder=run) == {}


def test_a_run_re_evaluated_into_its_folder_from_another_working_folder_is_the_same_evaluation(
    tiny_run: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`cd /tmp; evaluate --checkpoint /abs/runs/a2/best.ckpt --out /abs/runs/a2` was refused without --force: the
    folder's metrics.json names the checkpoint as typed ("a2/best.ckpt", from runs/), which was read against /tmp.
    The same model (model_content_sha256) with the same data, split and options is the same evaluation again."""
    from abrnet.evaluation.folder import RUN_RECORD_KEYS
    from abrnet.training.run import record_run

    run = tmp_path / "runs" / "a2"
    shutil.copytree(tiny_run["dir"], run)
    monkeypatch.chdir(tmp_path / "runs")
    code, lines = _cli("evaluate", "--checkpoint", "a2/best.ckpt", "--out", "a2", *FAST_EVAL)
    assert code == 0, lines
    record_run(run, json.loads((run / "run.json").read_text()), {"evaluation_s": 1.0})  # as `abrnet train` does
    trained = json.loads((run / "metrics.json").read_text())
    assert trained["checkpoint"] == "a2/best.ckpt" and trained["training"]["steps"] == 12  # recorded as typed

    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    before = (run / "metrics.json").read_bytes()
    for args, expect in (  # the model is recognised, so what differs is named; another model is still refused
        (["--checkpoint", str(run / "best.ckpt"), "--seed", "1"], "seed 0 there, 1 here"),
        (["--checkpoint", str(run / "last.ckpt")], "holds the metrics of a2/best.ckpt"),
    ):
        code, lines = _cli("evaluate", "--out", str(run), *FAST_EVAL, *args)
        assert code == 2 and len(lines) == 1 and expect in lines[0] and "--force" in lines[0], (args, lines)
        assert (run / "metrics.json").read_bytes() == before
    code, lines = _cli("evaluate", "--checkpoint", str(run / "best.ckpt"), "--out", str(run), *FAST_EVAL)
    assert code == 0, lines
    again = json.loads((run / "metrics.json").read_text())
    assert again["checkpoint"] == str(run / "best.ckpt")  # as typed this time
    assert {k: again[k] for k in RUN_RECORD_KEYS} == {k: trained[k] for k in RUN_RECORD_KEYS}
