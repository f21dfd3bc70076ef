"""The targets table says "met" only where a figure meets its target, and the README's table is the main job's."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from abrnet.evaluation.targets import targets_markdown

ROOT = Path(__file__).resolve().parents[1]
MAIN_JOB = ROOT / "benchmarks" / "results" / "main_job.json"
BEGIN, END = "<!-- targets:begin -->", "<!-- targets:end -->"


def _row(markdown: str, section: str, label: str) -> list[str]:
    """The cells of the row `label` in the table under the bold `section` title."""
    text = markdown.split(f"**{section}")[1]
    line = next(line for line in text.splitlines() if line.startswith(f"| {label} |"))
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_readme_table_is_the_main_jobs() -> None:
    """The README reports what `benchmarks/results/main_job.json` (the main job's metrics.json) says, verbatim."""
    readme = (ROOT / "README.md").read_text()
    assert readme.count(BEGIN) == 1 and readme.count(END) == 1, "README needs exactly one targets block"
    block = readme.split(BEGIN)[1].split(END)[0].strip()
    assert block == targets_markdown(json.loads(MAIN_JOB.read_text())).strip(), (
        "README's targets table differs from benchmarks/results/main_job.json: "
        "python -c 'import json; from abrnet.evaluation.targets import targets_markdown as t; "
        'print(t(json.load(open("benchmarks/results/main_job.json"))))\''
    )


def test_met_and_beats_follow_the_figures() -> None:
    metrics = json.loads(MAIN_JOB.read_text())
    fixed = "Fixed protocol"
    good = copy.deepcopy(metrics)
    good["fixed_protocol"]["per_ear"]["threshold"]["within_10_db"] = 0.95
    bad = copy.deepcopy(metrics)
    bad["fixed_protocol"]["per_ear"]["threshold"]["within_10_db"] = 0.5  # below the Fmp criterion's 0.70
    cells_good = _row(targets_markdown(good), fixed, "threshold within 10 dB, per ear")
    cells_bad = _row(targets_markdown(bad), fixed, "threshold within 10 dB, per ear")
    assert cells_good[1].startswith("0.950") and cells_good[3] == "**yes**" and cells_good[5] == "**yes**"
    assert cells_bad[1].startswith("0.500") and cells_bad[3] == "no" and cells_bad[5] == "no"
    # lower is better for an error: an MAE above the best baseline's does not beat it
    bad["fixed_protocol"]["per_ear"]["threshold"]["mae_db"] = 30.0
    mae = _row(targets_markdown(bad), fixed, "threshold MAE per ear, dB")
    assert mae[3] == "no" and mae[5] == "no"
    # the target relative to a baseline reads that baseline from the same run
    lift = copy.deepcopy(metrics)
    lift["baselines"]["intensity_only"]["v_presence_f1"] = lift["peaks"]["V"]["presence_f1"] - 0.04
    v = _row(targets_markdown(lift), "Held-out", "wave V presence F1, per record")
    assert v[5] == "no", "F1 only 0.04 above intensity-only must miss the ≥ + 0.05 target"


def test_counterfactual_limit_needs_both_cohorts() -> None:
    metrics = json.loads(MAIN_JOB.read_text())
    metrics["counterfactuals"]["time_reversed"]["mean_p_v_where_v"] = 0.1
    metrics["fixed_protocol"]["counterfactuals"]["time_reversed"]["mean_p_v_where_v"] = 0.15
    met = _row(targets_markdown(metrics), "Counterfactuals", "time-reversed records with a labelled V")
    assert met[-1] == "**yes**"
    metrics["fixed_protocol"]["counterfactuals"]["time_reversed"]["mean_p_v_where_v"] = 0.25
    assert _row(targets_markdown(metrics), "Counterfactuals", "time-reversed records with a labelled V")[-1] == "no"


def test_a_run_without_shortcut_checks_has_no_fixed_or_counterfactual_table() -> None:
    metrics = json.loads(MAIN_JOB.read_text())
    for key in ("fixed_protocol", "counterfactuals", "baselines"):
        metrics.pop(key)
    text = targets_markdown(metrics)
    assert "Fixed protocol" not in text and "Counterfactuals" not in text
    assert _row(text, "Held-out", "threshold MAE per ear, dB")[2] == "—"  # no baseline to beat: said, not guessed


def test_a_refused_interval_is_said_beside_its_point() -> None:
    """A class macro-F1 whose bootstrap was refused (a class absent from too many resamples) printed as a bare point
    among intervals, as if the interval had been forgotten; the cell now says why there is none."""
    metrics = json.loads(MAIN_JOB.read_text())
    path = "per_ear.classification.macro_f1"
    metrics["intervals"][path] = None
    why = "a class of the split's truth (5 classes) is absent from 7% of resamples"
    metrics["undefined"][f"intervals.{path}"] = why
    cell = _row(targets_markdown(metrics), "Held-out", "class macro-F1, per ear")[1]
    assert f"(no interval: {why})" in cell, cell
    metrics["intervals"][path] = [0.5, 0.6]
    metrics["undefined"].pop(f"intervals.{path}")
    cell = _row(targets_markdown(metrics), "Held-out", "class macro-F1, per ear")[1]
    assert cell.endswith("[0.500, 0.600]") and "no interval" not in cell, cell
