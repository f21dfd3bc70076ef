"""The benchmarks' one way of reading their arguments, refusing to replace committed results and writing a results
table (benchmarks/_common.py): every script goes through it, none writes its own copy."""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
# scripts that print their findings and write no results table (no --force either)
PRINT_ONLY = {"prototype_noise_input", "refit_series_stage", "val_counterfactuals", "val_drift"}


@pytest.fixture
def common(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(BENCH))
    monkeypatch.delitem(sys.modules, "_common", raising=False)
    import _common

    return _common


def _script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _CheckedError(Exception):
    """Raised in place of the results check: the script got that far and no further."""


# (script, its arguments, the results it must check before measuring, relative to benchmarks/results)
PLANNED = [
    ("baselines", [], ["baselines.json", "baselines.md"]),
    ("compare_runs", ["a.json", "b.json", "--tag", "mine"], ["mine.json", "mine.md"]),
    ("condition_guidance", [], ["condition_guidance.json", "condition_guidance.md"]),
    ("dc_offset", [], ["dc_offset.json", "dc_offset.md"]),
    ("denoise", [], ["denoise.json", "denoise.md"]),
    ("ear_class_prior", [], ["ear_class_prior.json", "ear_class_prior.md"]),
    ("evaluation_speed", [], ["evaluation_speed.json", "evaluation_speed.md"]),
    ("generate", [], ["generate.json", "generate.md"]),
    ("generate", ["--device", "cuda", "--raw"], ["generate_cuda_raw.json", "generate_cuda_raw.md"]),
    ("generation_low_levels", [], ["generation_low_levels.json", "generation_low_levels.md"]),
    ("generation_seeds", ["--tag", "s"], ["s.json", "s.md"]),
    ("import_speed", [], ["import.json", "import.md"]),
    ("interval_fit", ["a.ckpt"], ["interval_fit.json", "interval_fit.md"]),
    ("microphonic_ceiling", [], ["microphonic_ceiling.json", "microphonic_ceiling.md"]),
    ("model", ["--device", "cuda:1"], ["model_cuda.json", "model_cuda.md"]),
    ("polarity_check", [], ["polarity_check.json", "polarity_check.md"]),
    ("predict", ["--device", "cuda"], ["predict_cuda.json", "predict_cuda.md"]),
    ("presence_limits", [], ["presence_limits.json", "presence_limits.md"]),
    ("profile_step", ["--preset", "base", "--device", "cuda"], ["profile_base_cuda.md"]),
    ("series_classifier", [], ["series_classifier.json", "series_classifier.md"]),
    ("series_split_cue", [], ["series_split_cue.json", "series_split_cue.md"]),
    ("simulate", [], ["simulate.json", "simulate.md"]),
    ("signal_quality", [], ["signal_quality.json", "signal_quality.md"]),
    ("skip_attention", [], ["skip_attention.json", "skip_attention.md"]),
    ("slow_trend", [], ["slow_trend.json", "slow_trend.md"]),
    ("threshold_ceiling", [], ["threshold_ceiling.json", "threshold_ceiling.md"]),
    ("threshold_cues", [], ["threshold_cues.json", "threshold_cues.md"]),
    ("train", [], ["train.json", "train.md"]),
    ("train", ["--profile", "cpu"], ["train_profile.md"]),
    ("train", ["--one", "cpu"], []),  # the script measuring one preset for itself writes nothing
]


def test_every_results_script_is_checked_here() -> None:
    scripts = {p.stem for p in BENCH.glob("*.py")} - {"_common"} - PRINT_ONLY
    assert scripts == {name for name, _, _ in PLANNED}


@pytest.mark.parametrize(("name", "argv", "planned"), PLANNED)
def test_each_script_checks_its_results_as_soon_as_its_arguments_are_read(
    common: ModuleType, monkeypatch: pytest.MonkeyPatch, name: str, argv: list[str], planned: list[str]
) -> None:
    """parse_args checks the very paths the script writes, before anything is measured (the check is replaced by a
    signal, so nothing runs past it)."""

    def check(*paths: Path, force: bool) -> None:
        raise _CheckedError([Path(p) for p in paths], force)

    def parse_args(*args: object) -> None:
        real_parse_args(*args)
        raise AssertionError("parse_args returned without checking the results")

    real_parse_args = common.parse_args
    monkeypatch.setattr(common, "check_results", check)
    monkeypatch.setattr(common, "parse_args", parse_args)  # the script, loaded below, imports this one
    monkeypatch.setattr(sys, "argv", [f"{name}.py", *argv, "--force"])
    with pytest.raises(_CheckedError) as seen:
        _script(name).main()
    assert seen.value.args == ([common.RESULTS / p for p in planned], True)


def test_parse_args_refuses_existing_results_unless_forced(
    common: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(common, "RESULTS", tmp_path)
    (tmp_path / "x.md").write_text("mine\n")
    for results in ("x", lambda a: "x", lambda a: [tmp_path / "x.md"]):
        monkeypatch.setattr(sys, "argv", ["b.py"])
        with pytest.raises(SystemExit) as ei:  # exit code 2 and one line, as the CLI refuses (was exit code 1)
            common.parse_args(argparse.ArgumentParser(), results)
        assert ei.value.code == 2
        assert capsys.readouterr().err == f"error: {tmp_path / 'x.md'}: file exists; pass --force to overwrite it\n"
        monkeypatch.setattr(sys, "argv", ["b.py", "--force"])
        assert common.parse_args(argparse.ArgumentParser(), results).force is True
    monkeypatch.setattr(sys, "argv", ["b.py"])
    assert common.parse_args(argparse.ArgumentParser(), "y").force is False  # nothing there: goes on
    assert (tmp_path / "x.md").read_text() == "mine\n"


def test_every_refusal_is_one_line_with_exit_code_2(
    common: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A missing checkpoint and a generation choice made on the test split stop a benchmark as the CLI refuses bad
    input: one ``error:`` line naming the file (and field), exit code 2 (they were ``sys.exit(text)``, code 1)."""
    missing = tmp_path / "runs" / "best.ckpt"
    with pytest.raises(SystemExit) as ei:
        common.require_checkpoint(missing)
    assert ei.value.code == 2
    assert capsys.readouterr().err == (
        f"error: {missing}: no such checkpoint; train one (abrnet train --out runs/default) or pass --checkpoint\n"
    )
    chosen = tmp_path / "generation.json"
    chosen.write_text(json.dumps({"selection": {"split": "test", "chosen": {"steps": 10}}}))
    with pytest.raises(SystemExit) as ei:
        common.validation_choice(chosen)
    assert ei.value.code == 2
    err = capsys.readouterr().err
    assert err == f"error: {chosen}: field 'selection.split': chose its settings on 'test', not on val\n", err
    chosen.write_text(json.dumps({"selection": {"split": "val", "chosen": {"steps": 10}}}))
    assert common.validation_choice(chosen) == {"steps": 10}


def test_the_scripts_own_refusals_are_refuse_too(
    common: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A missing run, a missing metrics file, unlike runs to merge and a failed `abrnet predict` stop their script with
    one ``error:`` line and exit code 2 (`refuse`), as the CLI and the checks above do; they were ``sys.exit(text)``
    or ``SystemExit(text)``, code 1."""
    import subprocess

    def stops(run: Callable[[], object]) -> str:
        with pytest.raises(SystemExit) as ei:
            run()
        assert ei.value.code == 2
        return capsys.readouterr().err

    monkeypatch.setattr(sys, "argv", ["baselines.py", "--run", str(tmp_path), "--force"])
    ckpt = tmp_path / "best.ckpt"
    err = stops(_script("baselines").main)
    assert err == f"error: {ckpt}: not found; train first (abrnet train --out {tmp_path}) or pass --run\n"
    monkeypatch.setattr(sys, "argv", ["compare_runs.py", str(tmp_path / "a.json"), str(ckpt), "--force"])
    assert stops(_script("compare_runs").main) == f"error: {tmp_path / 'a.json'}: no such file\n"
    runs = [tmp_path / "s1.json", tmp_path / "s2.json"]
    for path, n in zip(runs, (10, 20), strict=True):
        path.write_text(json.dumps({"settings": {}, "n": n, "min_count": 1, "split": "val"}))
    err = stops(lambda: _script("generation_seeds")._merged(runs))
    assert err == f"error: {runs[1]}: settings differ from {runs[0]}; only like runs can share a table\n"
    failed = subprocess.CompletedProcess([], 2, "", "Traceback (most recent call last):\nerror: r.csv: bad row 3\n")
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: failed)
    data = tmp_path / "in.csv"
    err = stops(lambda: _script("predict").end_to_end(data, ckpt, 1))
    assert err == f"error: {data}: abrnet predict failed (exit code 2): r.csv: bad row 3\n"


def test_results_head_is_the_title_and_the_provenance_line(common: ModuleType) -> None:
    meta = {"command": "python benchmarks/x.py --n 2", "date": "2024-01-02 03:04", "machine": "Linux, x86_64, 2 CPUs",
            "python": "3.11.9", "torch": "2.3.0", "torch_threads": 2}  # fmt: skip
    line = (
        "`python benchmarks/x.py --n 2`: 2024-01-02 03:04, Linux, x86_64, 2 CPUs, Python 3.11.9, torch 2.3.0, "
        "2 torch thread(s)."
    )
    assert common.results_head("T", meta) == ["# T", "", line, ""]
    assert common.results_head("T", meta, "Load 1.") == ["# T", "", line + " Load 1.", ""]
    assert set(common.provenance()) == set(meta)


def test_the_recorded_command_runs_again_as_a_shell_reads_it(
    common: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--names "stop 41 (AVX-512)"` was recorded unquoted: no shell or argparse could run it again (hunt 50g #2)."""
    import shlex

    argv = ["/x/benchmarks/compare_runs.py", "--names", "stop 41 (AVX-512)", "stop 45"]
    monkeypatch.setattr("sys.argv", argv)
    command = common.provenance()["command"]
    assert command == "python benchmarks/compare_runs.py --names 'stop 41 (AVX-512)' 'stop 45'"
    assert shlex.split(command)[2:] == argv[1:]


def test_write_results_json_markdown_kept_section_and_folder(
    common: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import numpy as np

    (tmp_path / "t.md").write_text("old table\n\n## Before / after\nhand-written\n")
    (tmp_path / "t.json").write_text("{}")
    common.write_results("t", {"a": np.float32(0.5), "b": [1]}, "new table\n", force=True, folder=tmp_path,
                         keep="\n## Before / after", echo=False)  # fmt: skip
    assert (tmp_path / "t.json").read_text() == '{\n  "a": 0.5,\n  "b": [\n    1\n  ]\n}\n'
    assert (tmp_path / "t.md").read_text() == "new table\n\n## Before / after\nhand-written\n"
    assert capsys.readouterr().out == ""
    common.write_results("u", {}, "table\n", folder=tmp_path / "new")  # the folder is made; the table echoed
    assert (tmp_path / "new" / "u.md").read_text() == "table\n" and capsys.readouterr().out == "table\n\n"
    assert json.loads((tmp_path / "new" / "u.json").read_text()) == {}


def test_no_script_writes_its_own_copy_of_the_pattern() -> None:
    """Results are located, checked, headed and written only in _common; print-only scripts write nothing."""
    copies = {
        "a results folder of its own": r"^RESULTS\s*=|/ \"results\"",
        "its own check": r"\bcheck_results\(",
        "its own provenance line": r"provenance_markdown|\['machine'\]|torch thread\(s\)",
        "its own JSON file": r"json\.dump\(|\.write_text\(json",
        "a text file written by hand": r"\.write_text\(",
        "parse_args without its results": r"\bparse_args\((ap|parser)\)",
        "its own refusal, exit code 1 (`refuse` exits 2)": r"sys\.exit\(\s*f?[\"']",
    }
    found = []
    for path in sorted(BENCH.glob("*.py")):
        if path.stem == "_common":
            continue
        text = path.read_text()
        found += [f"{path.name}: {what}" for what, pattern in copies.items() if re.search(pattern, text, re.M)]
        if path.stem in PRINT_ONLY:
            found += [f"{path.name}: writes results" for w in ("write_results(", "write_files(") if w in text]
        elif not re.search(r"(?<![.\w])parse_args\(", text):
            found.append(f"{path.name}: its arguments not read by _common.parse_args with its results")
    assert found == []
