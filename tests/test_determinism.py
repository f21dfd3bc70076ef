"""The main job is reproducible: `abrnet train` twice with one seed on a tiny step budget → identical metrics.json.

Why this test exists: the fit used to stop on a wall clock, so how many steps a run got depended on how busy the
machine was (same seed, different model). Now the budget is steps; only the ``wall_time`` section may differ, and
the comparison drops exactly that key and nothing else.

Both runs use the default data path (the simulated, cached cohort) from their own working directory with the same
relative ``--out``, so every path written into metrics.json is the same text; the second run reads the cohort from
the cache the first one wrote (also checking that cached and fresh data train the same model). The first run is
in-process, the second a fresh interpreter with another hash seed, so per-process state (set order, RNG state left
by earlier tests) cannot make them agree by accident.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from abrnet.cli.main import app

TINY = (
    "model.preset=tiny",
    "data.batch_size=8",
    "trainer.val_every_n_steps=3",
    "trainer.log_every_n_steps=1",
    "series.patients=12",
    "series.long_grid_patients=4",
)


def _args(cache: Path) -> list[str]:
    args = ["train", "--out", "run", "--seed", "3", "--patients", "14", "--max-steps", "6", "--balanced-patients", "5"]
    for item in (*TINY, f"data.cache_dir={cache}"):
        args += ["--set", item]
    return args


def _in_process(workdir: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """`abrnet train` (the `make train` command) on a tiny budget, in this process; returns metrics.json."""
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    res = CliRunner().invoke(app, _args(cache))
    assert res.exit_code == 0, res.output
    return json.loads((workdir / "run" / "metrics.json").read_text())


def _subprocess(workdir: Path, cache: Path) -> dict:
    """The same command in a fresh interpreter (another PYTHONHASHSEED); returns metrics.json."""
    workdir.mkdir()
    env = {**os.environ, "PYTHONHASHSEED": "12345", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "abrnet.cli.main", *_args(cache)],
        cwd=workdir,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((workdir / "run" / "metrics.json").read_text())


@pytest.mark.slow
def test_same_seed_same_metrics_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    a = _in_process(tmp_path / "a", cache, monkeypatch)
    b = _subprocess(tmp_path / "b", cache)

    tr = a["training"]
    assert tr["steps"] == 6 and tr["stopped_by"] == "max_steps"
    assert tr["samples_seen"] == 6 * 8 * tr["world_size"]
    for wall in (a["wall_time"], b["wall_time"]):  # the clock readings are recorded, apart from the rest
        assert wall["fit_s"] > 0 and wall["total_s"] >= wall["fit_s"]
        assert wall["torch_threads"] == 2  # trainer.cpu_threads pins it, though b's process was started with 1
    assert not any("wall" in k or k.endswith("_s") for k in tr), "no clock reading outside wall_time"

    env = a["environment"]  # what tells two machines apart when their runs differ
    assert env["torch"] == torch.__version__ and env["torch_cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    a.pop("wall_time"), b.pop("wall_time")
    assert json.dumps(a, indent=2) == json.dumps(b, indent=2)
    run_a = json.loads((tmp_path / "a" / "run" / "run.json").read_text())
    assert run_a["training"] == tr and "fit_s" in run_a["wall_time"] and run_a["environment"] == env
