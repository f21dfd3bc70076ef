"""`abrnet model export`: the slim copy of a trained model and its card, with every bad input refused in one line
(exit 2) before anything is written, and only the metrics of the model it exports (`evaluate` records which one).

Why apart from test_training_cli.py: export packages a finished run's checkpoint for shipping; it is not training.
These tests share only the `tiny_run` fixture (tests/conftest.py) with the training CLI tests."""

from __future__ import annotations

from pathlib import Path


def _cli(*args: str) -> tuple[int, list[str]]:
    """`abrnet ARGS` in process → (exit code, non-empty output lines)."""
    from typer.testing import CliRunner

    from abrnet.cli.main import app

    res = CliRunner().invoke(app, list(args))
    return res.exit_code, [line for line in res.output.splitlines() if line.strip()]


def _export(*args: str) -> tuple[int, list[str]]:
    """`abrnet model export ARGS` in process → (exit code, non-empty output lines)."""
    return _cli("model", "export", *args)


def test_model_export_refuses_an_out_that_is_its_own_card(tiny_run: dict, tmp_path: Path) -> None:
    """--out m.json: the card (<out>.json) was written over the checkpoint (--force) or after it (half export)."""
    src = str(tiny_run["dir"] / "best.ckpt")
    for force in ([], ["--force"]):
        code, lines = _export(src, "--out", str(tmp_path / "m.json"), *force)
        assert code == 2 and len(lines) == 1 and "--out" in lines[0] and "m.json" in lines[0], lines
        assert list(tmp_path.iterdir()) == []


def test_model_export_bad_inputs_are_one_line_errors(tiny_run: dict, tmp_path: Path) -> None:
    """A non-checkpoint, invalid --metrics JSON and a folder as --out were tracebacks (exit 1)."""
    src = str(tiny_run["dir"] / "best.ckpt")
    not_ckpt = tmp_path / "x.csv"
    not_ckpt.write_text("patient_id,ear\nP1,L\n")
    bad = tmp_path / "bad.json"
    bad.write_text("{bad")
    folder = tmp_path / "d"
    folder.mkdir()
    cases = [
        ([str(not_ckpt), "--out", str(tmp_path / "g.ckpt")], "x.csv"),
        ([src, "--out", str(tmp_path / "b.ckpt"), "--metrics", str(bad)], "--metrics"),
        ([src, "--out", str(folder), "--force"], "is a folder"),
    ]
    for args, expect in cases:
        code, lines = _export(*args)
        assert code == 2 and len(lines) == 1 and expect in lines[0], (args, lines)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.json", "d", "x.csv"] and not list(folder.iterdir())


def test_model_export_takes_only_the_metrics_of_the_model_it_exports(tiny_run: dict, tmp_path: Path) -> None:
    """--metrics from another run (or of last.ckpt beside best.ckpt) went into the card as the exported model's
    figures; evaluate now records which model it scored (weights, config, series stage), and export refuses a
    mismatch or an unattributed file. A slim export is the same model as its source, so its metrics carry over."""
    import json

    import torch

    from abrnet.inference.checkpoint import load_checkpoint

    last = tiny_run["dir"] / "last.ckpt"
    other = torch.load(last, weights_only=True)  # another model: one weight differs
    name = next(k for k in other["state_dict"] if k.startswith("model."))
    other["state_dict"][name] = other["state_dict"][name] + 1.0
    torch.save(other, tmp_path / "other.ckpt")
    fast = ["--balanced-patients", "0", "--bootstrap", "0"]
    code, lines = _cli("evaluate", "--checkpoint", str(last), "--out", str(tmp_path / "ev"), *fast)
    assert code == 0, lines
    metrics = tmp_path / "ev" / "metrics.json"
    recorded = json.loads(metrics.read_text())["model_content_sha256"]
    assert (
        recorded
        == load_checkpoint(last).model_content_sha256
        != load_checkpoint(tmp_path / "other.ckpt").model_content_sha256
    )
    unattributed = tmp_path / "hand.json"
    unattributed.write_text('{"headline": {}}')
    for src, m, expect in ((tmp_path / "other.ckpt", metrics, "another model"), (last, unattributed, "missing")):
        code, lines = _export(str(src), "--out", str(tmp_path / "m.ckpt"), "--metrics", str(m))
        assert code == 2 and len(lines) == 1 and "model_content_sha256" in lines[0] and expect in lines[0], lines
        assert not (tmp_path / "m.ckpt").exists() and not (tmp_path / "m.json").exists()
    code, lines = _export(str(last), "--out", str(tmp_path / "m.ckpt"), "--metrics", str(metrics))
    assert code == 0, lines
    assert load_checkpoint(tmp_path / "m.ckpt").model_content_sha256 == recorded  # the slim copy is the model evaluated
    card = json.loads((tmp_path / "m.json").read_text())
    assert card["headline"] == json.loads(metrics.read_text())["headline"]


def test_model_export_never_writes_over_what_it_reads(tiny_run: dict, tmp_path: Path) -> None:
    """--force replaced the run's best.ckpt with a slim copy (no longer resumable), or wrote the card over the run's
    metrics.json (--out metrics.ckpt); both are inputs, refused with or without --force, and left as they were."""
    import shutil

    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(tiny_run["dir"] / "best.ckpt", run / "best.ckpt")
    (run / "metrics.json").write_text('{"headline": {}}')
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    ckpt, metrics = str(run / "best.ckpt"), str(run / "metrics.json")
    for out in (ckpt, str(run / "metrics.ckpt")):
        code, lines = _export(ckpt, "--out", out, "--metrics", metrics, "--force")
        assert code == 2 and len(lines) == 1 and "is an input" in lines[0], lines
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before
