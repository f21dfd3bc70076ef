"""`abrnet train` as a real process: a bad config exits 2 with one line, a SIGKILLed run resumes to the same
weights as an uninterrupted one, and DDP on 2 CPU processes (gloo) runs to completion; then train's step budget and
safety stop, and the one-line refusals of train, evaluate and serve run in process.

`abrnet model export` (packaging a finished run, not training) is tested in test_model_export_cli.py."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from abrnet.config.train_config import load_config
from abrnet.data.io import save_cohort
from abrnet.data.simulate import SimulationConfig, simulate_cohort
from abrnet.training.run import train

from .test_training_resume import assert_same_training_state, overrides


def abrnet_cmd(tmp_path: Path) -> list[str]:
    """The `abrnet` CLI as a module command line, so Lightning's DDP launcher can re-run it."""
    return [sys.executable, "-m", "abrnet.cli.main"]


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def _cli_args(data: Path, out: Path, steps: int, every: int) -> list[str]:
    """CLI options equal to `overrides(data, steps, every)` of the in-process tests."""
    args = ["train", "--data", str(data), "--out", str(out), "--balanced-patients", "0"]
    for item in overrides(None, steps, every):
        args += ["--set", item]
    return args


@pytest.fixture(scope="module")
def cohort_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli_cohort")
    return save_cohort(simulate_cohort(SimulationConfig(n_patients=20), seed=11), root / "cohort.h5")


# ----------------------------------------------------------------------------------------------- 7. bad config
def test_unknown_config_key_exits_2_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("optim:\n  lr: 0.001\n  transfomer_lr: 0.0005\n")
    proc = subprocess.run(
        [*abrnet_cmd(tmp_path), "train", "--config", str(bad), "--out", str(tmp_path / "run")],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error:") and "optim.transfomer_lr" in lines[0] and str(bad) in lines[0]
    assert not (tmp_path / "run").exists()  # stopped before any work


# ------------------------------------------------------------------------------------------ 4b. kill and resume
@pytest.mark.slow
def test_sigkill_then_resume_matches_uninterrupted_run(tmp_path: Path, cohort_file: Path) -> None:
    n, every = 12, 2
    out = tmp_path / "killed"
    cmd = [*abrnet_cmd(tmp_path), *_cli_args(cohort_file, out, n, every)]
    log = tmp_path / "killed.log"
    with log.open("w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=_env())
    last = out / "last.ckpt"
    deadline = time.monotonic() + 180
    try:
        while not last.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert proc.poll() is None, f"run ended before it could be killed: {log.read_text()[-2000:]}"
        assert last.exists(), "no last.ckpt within 180 s"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    mid = torch.load(last, map_location="cpu", weights_only=True)  # the atomic save left a whole file
    assert 0 < mid["global_step"] < n

    resumed = subprocess.run([*cmd, "--resume", str(last)], capture_output=True, text=True, env=_env(), timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert (out / "metrics.json").exists()  # the CLI evaluated the finished run

    cfg = load_config(None, overrides(cohort_file, n, every))
    train(cfg, tmp_path / "straight", enable_progress_bar=False)
    assert (out / "config.yaml").read_text() == (tmp_path / "straight" / "config.yaml").read_text()
    a = torch.load(tmp_path / "straight" / "last.ckpt", map_location="cpu", weights_only=True)
    b = torch.load(last, map_location="cpu", weights_only=True)
    assert b["global_step"] == n
    assert_same_training_state(a, b)


# ------------------------------------------------------------------------------------------------ 5. DDP on CPU
@pytest.mark.slow
def test_ddp_two_cpu_processes(tmp_path: Path, cohort_file: Path) -> None:
    out = tmp_path / "ddp"
    args = _cli_args(cohort_file, out, 6, 3)
    args += ["--devices", "2", "--strategy", "ddp", "--set", "trainer.accelerator=cpu"]
    args += ["--set", "trainer.log_every_n_steps=1"]
    proc = subprocess.run([*abrnet_cmd(tmp_path), *args], capture_output=True, text=True, env=_env(), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in ("best.ckpt", "last.ckpt", "config.yaml", "metrics.json", "run.json", "csv/metrics.csv"):
        assert (out / name).exists(), name
    last = torch.load(out / "last.ckpt", map_location="cpu", weights_only=True)
    best = torch.load(out / "best.ckpt", map_location="cpu", weights_only=True)
    assert last["global_step"] == 6
    assert best["global_step"] in (3, 6)
    assert (out / "best.ckpt").read_bytes() != (out / "last.ckpt").read_bytes()  # chosen by val/score, not copied
    assert all(torch.isfinite(v).all() for v in last["state_dict"].values() if v.is_floating_point())
    with (out / "csv" / "metrics.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    scores = [float(r["val/score"]) for r in rows if r.get("val/score")]
    assert len(scores) == 2  # validation on the whole split (gathered over both ranks) at steps 3 and 6
    assert any(r.get("train/loss") for r in rows)


# ------------------------------------------------------------------------------------- step budget, safety stop
def test_default_run_is_a_step_budget() -> None:
    """The main job's length is steps (one seed, one model); the clock is only a guard that does not shape it."""
    t = load_config(None).trainer
    assert t.max_steps == 1400 and t.max_minutes is None and t.safety_stop_minutes


def test_safety_stop_cuts_the_fit_and_says_so(tmp_path: Path) -> None:
    import json

    from .conftest import make_toy_cohort

    cfg = load_config(
        None,
        ["model.preset=tiny", "data.batch_size=8", "trainer.max_steps=30", "trainer.val_every_n_steps=30",
         "trainer.safety_stop_minutes=0.00001", "series.enabled=false"],
    )  # fmt: skip
    summary = train(cfg, tmp_path / "run", enable_progress_bar=False, cohort=make_toy_cohort())
    tr = summary["training"]
    assert tr["stopped_by"] == "safety_stop" and tr["steps"] == 10  # the clock is read every 10 steps
    assert tr["samples_seen"] == 10 * 8
    alerts = [json.loads(line) for line in (tmp_path / "run" / "alerts.jsonl").read_text().splitlines()]
    assert any(a["kind"] == "safety_stop" and "NOT the budgeted one" in a["message"] for a in alerts)
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["training"]["stopped_by"] == "safety_stop" and run["wall_time"]["fit_s"] > 0


def test_the_safety_stop_warning_goes_to_stderr_and_the_budget_line_to_stdout(capsys) -> None:
    """The loud line is a warning, so it is on stderr beside every other warning (it was on stdout, where a script
    reading the command's output got it and one reading stderr for problems missed it)."""
    from abrnet.cli.train import _report_budget

    training = {"steps": 10, "max_steps": 30, "samples_seen": 80, "stopped_by": "safety_stop"}
    _report_budget({"training": training, "wall_time": {"fit_s": 1.0, "total_s": 2.0}})
    out, err = capsys.readouterr()
    assert "trained 10 optimizer steps (80 samples)" in out and "safety stop" not in out
    assert "WARNING" in err and "the wall-clock safety stop ended the fit at step 10 of 30" in err
    _report_budget({"training": {**training, "steps": 30, "stopped_by": "max_steps"}, "wall_time": {}})
    out, err = capsys.readouterr()
    assert "trained 30 optimizer steps" in out and err == ""
    # a --resume's fit counts every leg, the command only its own: said, not "137 s of fit, 12 s in all" (hunt 50d)
    _report_budget({"training": {**training, "stopped_by": "max_steps"}, "wall_time": {"fit_s": 137.0, "total_s": 12}})
    out, _ = capsys.readouterr()
    assert "in 137 s of fit, earlier legs included; this command took 12 s" in " ".join(out.split()), out


def test_training_into_a_folder_that_holds_a_model_is_refused(tmp_path: Path) -> None:
    """Nothing is silently overwritten: a trained model in --out needs --resume or another folder."""
    (tmp_path / "best.ckpt").write_bytes(b"model")
    with pytest.raises(FileExistsError, match="holds a trained model"):
        train(load_config(None), tmp_path)
    assert (tmp_path / "best.ckpt").read_bytes() == b"model"


# --------------------------------------------------------------------------------- option and folder errors
def _cli(*args: str) -> tuple[int, list[str]]:
    """`abrnet ARGS` in process → (exit code, non-empty output lines)."""
    from typer.testing import CliRunner

    from abrnet.cli.main import app

    res = CliRunner().invoke(app, list(args))
    return res.exit_code, [line for line in res.output.splitlines() if line.strip()]


def test_train_bad_resume_out_and_options_are_one_line_errors(tiny_run: dict, tmp_path: Path) -> None:
    """Each was a traceback (after config.yaml was replaced), a silent overwrite, or a silently changed run."""
    run = tiny_run["dir"]
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    not_ckpt = tmp_path / "x.ckpt"
    not_ckpt.write_text("not a checkpoint")
    other = tmp_path / "other"
    other.mkdir()
    (other / "best.ckpt").write_bytes(b"model")
    new = str(tmp_path / "new")
    stopped = tmp_path / "stopped"  # a run interrupted before its first checkpoint: config and logs, no model
    stopped.mkdir()
    (stopped / "config.yaml").write_text("seed: 0\n")
    cases = [
        (["--out", str(stopped)], "saved no checkpoint (stopped before its first), so there is nothing to resume"),
        (["--resume", str(tmp_path), "--out", new], "is a folder"),
        (["--resume", str(not_ckpt), "--out", new], "not a readable abrnet checkpoint"),
        (["--resume", str(run / "last.ckpt"), "--out", new], "trained with another config"),
        (["--config", str(run / "config.yaml"), "--resume", str(run / "last.ckpt"), "--out", str(other)], "another"),
        (["--out", str(run)], "holds a run's outputs"),
        (["--seed", "-1", "--out", new], "abrnet train: field '--seed': "),  # as typed, not as a config key
        (["--strategy", "nonsense", "--out", new], "abrnet train: field '--strategy': unknown strategy"),
        (["--balanced-patients", "-1", "--out", new], "--balanced-patients"),
        (["--data", "null", "--out", new], "null: "),
        (["--data", str(run / "best.ckpt"), "--patients", "50", "--out", new], "--patients"),  # ignored with --data
    ]
    for args, expect in cases:
        code, lines = _cli("train", *args)
        assert code == 2 and len(lines) == 1 and expect in lines[0], (args, lines)
    assert not (tmp_path / "new").exists() and (other / "best.ckpt").read_bytes() == b"model"
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before


def test_evaluate_bad_options_and_another_runs_metrics_are_refused(tiny_run: dict, tmp_path: Path) -> None:
    """--split was a usage box, negative counts were read as 0, and another run's metrics.json was replaced."""
    ckpt = str(tiny_run["dir"] / "best.ckpt")
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "metrics.json").write_text('{"checkpoint": "elsewhere/best.ckpt"}')
    a_file = tmp_path / "f"
    a_file.write_text("")
    fresh = str(tmp_path / "fresh")
    cases = [
        (["--split", "nonsense", "--out", fresh], "--split"),
        (["--bootstrap", "-1", "--out", fresh], "--bootstrap"),
        (["--balanced-patients", "-5", "--out", fresh], "--balanced-patients"),
        (["--out", str(taken)], "holds the metrics of elsewhere/best.ckpt"),
        (["--out", str(a_file)], "is a file"),
    ]
    for args, expect in cases:
        code, lines = _cli("evaluate", "--checkpoint", ckpt, *args)
        assert code == 2 and len(lines) == 1 and expect in lines[0], (args, lines)
    assert (taken / "metrics.json").read_text() == '{"checkpoint": "elsewhere/best.ckpt"}'
    assert not (tmp_path / "fresh").exists()


def test_evaluate_keeps_a_folders_metrics_of_other_data_or_split(tiny_run: dict, tmp_path: Path) -> None:
    """`evaluate --data other.h5 --out RUN` replaced the run's own test-split metrics.json without --force (the
    guard looked at the checkpoint only), and `model export --metrics` then carded the other file's figures."""
    import json

    ckpt = str(tiny_run["dir"] / "best.ckpt")
    (tmp_path / "metrics.json").write_text(json.dumps({"checkpoint": ckpt, "split": "test"}))
    before = (tmp_path / "metrics.json").read_text()
    for args in (["--data", str(tiny_run["data"]), "--split", "all"], ["--split", "val"]):
        code, lines = _cli("evaluate", "--checkpoint", ckpt, "--out", str(tmp_path), *args)
        assert code == 2 and len(lines) == 1, lines
        assert "holds this checkpoint's metrics on its training cohort, test split" in lines[0], lines
    assert (tmp_path / "metrics.json").read_text() == before
    from abrnet.data.schema import DataError
    from abrnet.evaluation.folder import Evaluation, check_folder, evaluation_options

    # the fixture trained on a file (data.path): --data naming it is its training cohort, not "other data" (hunt 9, #8)
    (tmp_path / "metrics.json").write_text(json.dumps({"checkpoint": ckpt, "split": "test", "options": {}}))
    for data in (None, Path(tiny_run["data"])):
        with pytest.raises(DataError, match="other options"):  # past checkpoint, data and split: only options differ
            check_folder(tmp_path, Evaluation(Path(ckpt), data, "test", evaluation_options()))


def test_serve_data_dir_that_is_a_file_is_one_line(tmp_path: Path) -> None:
    """It was a NotADirectoryError traceback from the viewer's store."""
    a_file = tmp_path / "f"
    a_file.write_text("")
    code, lines = _cli("serve", "--data-dir", str(a_file))
    assert code == 2 and len(lines) == 1 and "--data-dir" in lines[0], lines


def test_serve_on_a_busy_port_is_one_line_before_anything_is_made(tmp_path: Path) -> None:
    """It printed the viewer's banner, then uvicorn's "address already in use" with exit 3, after the data folder
    (and its database) had been made (hunt 7, #10)."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        code, lines = _cli("serve", "--port", port, "--data-dir", str(tmp_path / "viewer"))
    assert code == 2 and len(lines) == 1 and "--port" in lines[0] and f"127.0.0.1:{port}" in lines[0], lines
    assert not (tmp_path / "viewer").exists()


def test_evaluate_into_its_own_run_folder_keeps_the_run_record(tiny_run: dict, tmp_path: Path) -> None:
    """Re-evaluating a training run's checkpoint into its own folder kept only the new metrics: the ``training``,
    ``environment`` and ``wall_time`` sections `abrnet train` recorded were dropped. They describe the fit, so they
    stay for its best.ckpt and last.ckpt, never for another model's (`run_record`'s test, test_train_workflow_*)."""
    import json
    import shutil

    from abrnet.training.run import record_run

    run = tmp_path / "run"
    shutil.copytree(tiny_run["dir"], run)
    fast = ["--balanced-patients", "0", "--bootstrap", "0"]
    code, lines = _cli("evaluate", "--checkpoint", str(run / "best.ckpt"), "--out", str(run), *fast)
    assert code == 0, lines
    summary = json.loads((run / "run.json").read_text())
    record_run(run, summary, {"evaluation_s": 1.0, "total_s": 2.0})  # as `abrnet train` records after evaluating
    trained = json.loads((run / "metrics.json").read_text())
    kept = {k: trained[k] for k in ("training", "environment", "wall_time")}
    assert kept["training"]["steps"] == 12 and "Training: 12 optimizer steps" in (run / "metrics.md").read_text()

    code, lines = _cli("evaluate", "--checkpoint", str(run / "best.ckpt"), "--out", str(run), *fast)
    assert code == 0, lines
    again = json.loads((run / "metrics.json").read_text())
    assert {k: again.get(k) for k in kept} == kept
    assert {k: v for k, v in again.items() if k not in kept} == {k: v for k, v in trained.items() if k not in kept}
    assert (run / "metrics.md").read_text().count("Training: 12 optimizer steps") == 1

    code, lines = _cli("evaluate", "--checkpoint", str(run / "last.ckpt"), "--out", str(run), "--force", *fast)
    assert code == 0, lines  # another model (no series stage) of the same fit: the fit's record is true of it too
    other = json.loads((run / "metrics.json").read_text())
    assert other["model_content_sha256"] != trained["model_content_sha256"] and {k: other.get(k) for k in kept} == kept
    assert (run / "metrics.md").read_text().count("Training: 12 optimizer steps") == 1
