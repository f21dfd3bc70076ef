"""A training run leaves what the README promises in its folder."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from abrnet.config.train_config import TrainConfig


def test_run_folder_contents(tiny_run: dict) -> None:
    run = tiny_run["dir"]
    for name in ("best.ckpt", "last.ckpt", "config.yaml", "alerts.jsonl", "run.json"):
        assert (run / name).is_file(), name
    assert any((run / "tensorboard").rglob("events.out.tfevents.*"))
    header = (run / "csv" / "metrics.csv").read_text().splitlines()[0].split(",")
    assert "step" in header and "val/score" in header
    resolved = TrainConfig.model_validate(yaml.safe_load((run / "config.yaml").read_text()))
    assert resolved == tiny_run["config"]


def test_train_on_too_few_patients_keeps_the_model_and_says_why(tmp_path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from abrnet.cli.main import app
    from abrnet.data.io import save_cohort
    from abrnet.data.simulate import SimulationConfig, simulate_cohort

    data = save_cohort(simulate_cohort(SimulationConfig(n_patients=3), seed=1), tmp_path / "c.h5")
    monkeypatch.chdir(tmp_path)  # --data given relative to the current folder
    args = ["train", "--data", data.name, "--out", str(tmp_path / "run"), "--balanced-patients", "0"]
    # 0.3 holds one of the 3 patients out for validation (an empty validation split is refused) and none for testing
    sets = ("model.preset=tiny", "trainer.max_steps=2", "trainer.val_every_n_steps=2", "data.batch_size=8")
    for item in (*sets, "data.val_fraction=0.3"):
        args += ["--set", item]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "evaluation skipped" in res.output and "no records" in res.output
    # a warning, so on stderr like every other one: stdout is the command's output (it was printed there)
    assert "evaluation skipped" in res.stderr and "evaluation skipped" not in res.stdout
    assert (tmp_path / "run" / "best.ckpt").is_file()
    # recorded absolute: `abrnet evaluate` run from another folder holding another c.h5 scored that file instead
    assert f"path: {data.resolve()}" in (tmp_path / "run" / "config.yaml").read_text()


def _unlabelled(cohort):  # an imported recording: no class labels
    cohort.class_id[:] = -1
    return cohort


def _at_40_khz(cohort):  # the same 10 ms at 40 kHz
    cohort.signals = np.repeat(cohort.signals, 2, axis=1)
    cohort.clean, cohort.buffers, cohort.sampling_rate_hz = None, None, 40_000.0
    return cohort


@pytest.mark.parametrize(
    ("alter", "expect"),
    [
        (_unlabelled, "field 'class': no record has a class label"),
        (_at_40_khz, "records at 40000 Hz from 0 ms; training needs the model grid"),
    ],
    ids=["unlabelled", "40 kHz"],
)
def test_train_refuses_data_it_cannot_learn_from_in_one_line(tmp_path, alter, expect) -> None:
    """An imported recording (no labels) was a traceback ("class counts are all zero") after the run folder was made;
    a 40 kHz file trained on raw samples that predict, evaluate --data and the viewer resample to 20 kHz, so
    training and inference disagreed on what a sample is, without a word."""
    from typer.testing import CliRunner

    from abrnet.cli.main import app
    from abrnet.data.io import save_cohort
    from abrnet.data.simulate import SimulationConfig, simulate_cohort

    data = save_cohort(alter(simulate_cohort(SimulationConfig(n_patients=3), seed=1)), tmp_path / "d.h5")
    res = CliRunner().invoke(app, ["train", "--data", str(data), "--out", str(tmp_path / "run"), "--set",
                                   "model.preset=tiny"])  # fmt: skip
    assert res.exit_code == 2, res.output
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and expect in lines[0], lines
    assert not (tmp_path / "run").exists()


def test_train_says_what_each_stage_after_the_fit_does_in_order(tmp_path) -> None:
    """After the fit's progress bar the series stage (~30 s) and the evaluation (~3 min) ran without a word, and a
    user took the run for hung: each now prints one line as it starts, before the metrics table."""
    from typer.testing import CliRunner

    from abrnet.cli.main import app
    from abrnet.data.io import save_cohort
    from abrnet.data.simulate import SimulationConfig, simulate_cohort

    data = save_cohort(simulate_cohort(SimulationConfig(n_patients=20), seed=11), tmp_path / "c.h5")
    args = ["train", "--data", str(data), "--out", str(tmp_path / "run"), "--balanced-patients", "0"]
    for item in ("model.preset=tiny", "trainer.max_steps=2", "trainer.val_every_n_steps=2", "data.batch_size=8"):
        args += ["--set", item]
    res = CliRunner().invoke(app, args, env={"COLUMNS": "250"})
    assert res.exit_code == 0, res.output
    out = res.output
    stages = [
        "fitting the series stage on the validation split (",
        "evaluating the test split (",
        "scoring the baselines and the counterfactuals (",
        "Evaluation — test (",
        "run folder:",
    ]
    at = [out.find(line) for line in stages]
    assert all(i >= 0 for i in at) and at == sorted(at), out
    # the fixed-protocol cohort (skipped above: --balanced-patients 0 saves a minute) would say so too
    assert "fixed-protocol cohort" not in out
