"""Nothing an evaluation wrote is replaced without --force (hunt 10, F5 and the writers with no guard of their own).

`abrnet evaluate` into a folder that held another seed's (or --bootstrap's, or --balanced-patients') evaluation
replaced metrics.json, metrics.md, figures/ and generation.json silently, and a folder holding metrics.md or figures/
without metrics.json was written over unchecked. Only the same evaluation again (a training run re-evaluated into its
own folder) may refresh its files; --force replaces anything. The benchmarks replaced committed results likewise.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

FAST = ["--balanced-patients", "0", "--bootstrap", "0"]
GENERATION = ["--generation", "--generation-n", "12", "--generation-choice-n", "8", "--generation-steps", "2"]
GENERATION += ["--generation-guidance", "1", "--generation-sampler", "ddim"]


def _cli(*args: str) -> tuple[int, list[str]]:
    """`abrnet ARGS` in process → (exit code, non-empty output lines)."""
    from typer.testing import CliRunner

    from abrnet.cli.main import app

    res = CliRunner().invoke(app, list(args))
    return res.exit_code, [line for line in res.output.splitlines() if line.strip()]


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_evaluate_refuses_another_seed_or_bootstrap_and_refreshes_the_same(tiny_run: dict, tmp_path: Path) -> None:
    ckpt, out = str(tiny_run["dir"] / "best.ckpt"), tmp_path / "ev"
    code, lines = _cli("evaluate", "--checkpoint", ckpt, "--out", str(out), *FAST)
    assert code == 0, lines
    first = _files(out)
    assert json.loads(first["metrics.json"])["options"] == {"balanced_patients": 0, "bootstrap": 0, "seed": 0}
    assert {"metrics.md", "figures/confusion_matrix.png", "figures/reconstructions.png"} <= set(first)

    for args, expect in (
        (["--seed", "1"], "seed 0 there, 1 here"),
        (["--bootstrap", "20"], "bootstrap 0 there, 20 here"),
    ):
        code, lines = _cli("evaluate", "--checkpoint", ckpt, "--out", str(out), *FAST, *args)
        assert code == 2 and len(lines) == 1 and expect in lines[0] and "--force" in lines[0], (args, lines)
        assert _files(out) == first  # nothing replaced

    code, lines = _cli("evaluate", "--checkpoint", ckpt, "--out", str(out), *FAST)  # the same evaluation again
    assert code == 0, lines
    code, lines = _cli("evaluate", "--checkpoint", ckpt, "--out", str(out), *FAST, "--seed", "1", "--force")
    assert code == 0, lines
    assert json.loads((out / "metrics.json").read_text())["options"]["seed"] == 1


@pytest.mark.parametrize("stray", ["metrics.md", "figures/threshold.png"])
def test_evaluate_refuses_a_folder_with_evaluation_files_but_no_metrics_json(
    tiny_run: dict, tmp_path: Path, stray: str
) -> None:
    out = tmp_path / "ev"
    (out / stray).parent.mkdir(parents=True)
    (out / stray).write_text("mine")
    code, lines = _cli("evaluate", "--checkpoint", str(tiny_run["dir"] / "best.ckpt"), "--out", str(out), *FAST)
    assert code == 2 and len(lines) == 1 and stray.split("/")[-1] in lines[0] and "--force" in lines[0], lines
    assert _files(out) == {stray: b"mine"}


def test_evaluate_metrics_json_without_recorded_options_is_not_the_same_evaluation(
    tiny_run: dict, tmp_path: Path
) -> None:
    """A metrics.json of this checkpoint, data and split that does not say its seed may be any seed's."""
    ckpt = str(tiny_run["dir"] / "best.ckpt")
    (tmp_path / "metrics.json").write_text(json.dumps({"checkpoint": ckpt, "split": "test"}))
    code, lines = _cli("evaluate", "--checkpoint", ckpt, "--out", str(tmp_path), *FAST)
    assert code == 2 and len(lines) == 1 and "records no evaluation options" in lines[0], lines
    assert json.loads((tmp_path / "metrics.json").read_text()) == {"checkpoint": ckpt, "split": "test"}


def test_evaluate_generation_json_is_guarded_by_its_own_options(tiny_run: dict, tmp_path: Path) -> None:
    ckpt, out = str(tiny_run["dir"] / "best.ckpt"), tmp_path / "ev"
    base = ["evaluate", "--checkpoint", ckpt, "--out", str(out), "--data", str(tiny_run["data"]), *FAST]
    code, lines = _cli(*base, *GENERATION)
    assert code == 0, lines
    first = _files(out)
    assert json.loads(first["generation.json"])["options"]["n"] == 12
    code, lines = _cli(*base, *GENERATION, "--generation-n", "10")
    assert code == 2 and len(lines) == 1 and "generation.json" in lines[0] and "n 12 there, 10 here" in lines[0], lines
    assert _files(out) == first

    other = tmp_path / "other"  # a generation.json beside no metrics.json: not this evaluation's
    other.mkdir()
    (other / "generation.json").write_text("{}")
    code, lines = _cli(*base[:4], str(other), *base[5:], *GENERATION)
    assert code == 2 and len(lines) == 1 and "generation.json" in lines[0] and "--force" in lines[0], lines
    assert _files(other) == {"generation.json": b"{}"}


def test_resume_refuses_to_re_evaluate_with_other_options_or_into_another_folder(
    tiny_run: dict, tmp_path: Path
) -> None:
    """`train --resume` evaluates into --out after the fit: refused before the fit when that would replace an
    evaluation made with other options, or files of a folder that is not the run's own."""
    run = tmp_path / "run"
    shutil.copytree(tiny_run["dir"], run)
    options = {"balanced_patients": 150, "bootstrap": 200, "seed": 0}
    record = {"checkpoint": str(run / "best.ckpt"), "split": "test", "options": options}
    (run / "metrics.json").write_text(json.dumps(record))
    before = _files(run)
    resume = ["train", "--config", str(run / "config.yaml"), "--resume", str(run / "last.ckpt")]
    code, lines = _cli(*resume, "--balanced-patients", "5")
    assert code == 2 and len(lines) == 1 and "balanced_patients 150 there, 5 here" in lines[0], lines
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "metrics.md").write_text("mine")
    code, lines = _cli(*resume, "--out", str(elsewhere))
    assert code == 2 and len(lines) == 1 and "metrics.md" in lines[0], lines
    assert _files(run) == before and _files(elsewhere) == {"metrics.md": b"mine"}


def test_figure_and_waterfall_writers_refuse_an_existing_file_unless_overwrite(tmp_path: Path) -> None:
    from abrnet.evaluation.generation_eval import write_generation_report
    from abrnet.plots.figures import save_figures
    from abrnet.plots.waterfall import plot_cohort_examples
    from tests.test_evaluation_toy import make_cohort, noisy_predictions

    cohort = make_cohort(n_patients=4)
    pred = noisy_predictions(cohort)
    (tmp_path / "figs").mkdir()
    (tmp_path / "figs" / "threshold.png").write_bytes(b"mine")
    with pytest.raises(FileExistsError, match=r"threshold\.png"):
        save_figures(pred, cohort, tmp_path / "figs")
    assert [p.name for p in (tmp_path / "figs").iterdir()] == ["threshold.png"]  # none written before the refusal
    assert len(save_figures(pred, cohort, tmp_path / "figs", overwrite=True)) == 4

    png = tmp_path / "cohort.png"
    png.write_bytes(b"mine")
    with pytest.raises(FileExistsError, match=r"cohort\.png"):
        plot_cohort_examples(cohort, png)
    assert png.read_bytes() == b"mine"
    assert plot_cohort_examples(cohort, png, overwrite=True).read_bytes() != b"mine"

    (tmp_path / "generation.json").write_text("{}")
    with pytest.raises(FileExistsError, match=r"generation\.json"):
        write_generation_report({"a": 1}, tmp_path)
    assert json.loads(write_generation_report({"a": 1}, tmp_path, overwrite=True).read_text()) == {"a": 1}


def test_benchmark_results_are_replaced_only_with_force(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks"))
    sys.modules.pop("_common", None)
    import _common

    monkeypatch.setattr(_common, "RESULTS", tmp_path)
    _common.write_results("x", {"a": 1}, "table\n")
    with pytest.raises(SystemExit) as ei:  # exit code 2 and one line, as the CLI refuses
        _common.write_results("x", {"a": 2}, "other\n")
    assert ei.value.code == 2 and "x.json: file exists; pass --force" in capsys.readouterr().err
    assert json.loads((tmp_path / "x.json").read_text()) == {"a": 1} and (tmp_path / "x.md").read_text() == "table\n"
    (tmp_path / "x.json").unlink()  # the .md alone still refuses both: nothing half-written
    with pytest.raises(SystemExit) as ei:
        _common.write_results("x", {"a": 2}, "other\n")
    assert ei.value.code == 2 and "x.md: file exists" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()
    _common.write_results("x", {"a": 2}, "other\n", force=True)
    assert json.loads((tmp_path / "x.json").read_text()) == {"a": 2}

    import argparse

    monkeypatch.setattr(sys, "argv", ["b.py", "--force"])
    assert _common.parse_args(argparse.ArgumentParser()).force is True
