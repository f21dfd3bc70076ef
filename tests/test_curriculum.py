"""Curriculum: attention gate exactly 0 in warm-up then a ramp; tasks introduced stage by stage in the design's
order, each on its own ramp; phases; the phase table; progress; and the config that sets all of it."""

from __future__ import annotations

import itertools
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml

from abrnet.config.train_config import ConfigError, CurriculumConfig, TrainerConfig, load_config
from abrnet.training.curriculum import (
    TASK_STAGES,
    phase_name,
    phase_table,
    run_progress,
    task_weight_multipliers,
    transformer_gate,
)
from abrnet.training.losses import TASKS

STAGES = {
    "signal_peaks": {"start": 0.0, "ramp": 0.1},
    "classification_threshold": {"start": 0.3, "ramp": 0.2},
    "static": {"start": 0.6, "ramp": 0.2},
}
CFG = CurriculumConfig(s4_warmup=0.2, transformer_ramp=0.2, task_floor=0.1, stages=STAGES)


def test_gate_zero_then_ramp_then_one() -> None:
    ps = np.linspace(0.0, 1.0, 1001)
    g = np.array([transformer_gate(p, CFG) for p in ps])
    assert np.all(g[ps < 0.2] == 0.0)
    assert np.all(np.diff(g) >= 0.0)
    assert np.all(g[ps >= 0.4] == 1.0)
    assert transformer_gate(0.3, CFG) == pytest.approx(0.5)
    assert transformer_gate(-1.0, CFG) == 0.0 and transformer_gate(2.0, CFG) == 1.0


def test_gate_zero_length_ramp_is_a_step() -> None:
    cfg = CurriculumConfig(s4_warmup=0.3, transformer_ramp=0.0)
    assert transformer_gate(0.2999, cfg) == 0.0
    assert transformer_gate(0.3, cfg) == 1.0


def test_every_task_belongs_to_one_stage_in_the_design_order() -> None:
    assert list(TASK_STAGES) == ["signal_peaks", "classification_threshold", "static"]
    assert TASK_STAGES["signal_peaks"] == ("signal", "peak_presence", "peak_latency", "peak_amplitude")
    assert set(TASK_STAGES["classification_threshold"]) == {"classification", "threshold", "no_response"}
    assert sorted(itertools.chain(*TASK_STAGES.values())) == sorted(TASKS)


def test_each_stage_has_its_own_ramp() -> None:
    def m(p: float) -> dict[str, float]:
        return task_weight_multipliers(p, CFG)

    assert set(m(0.0)) == set(TASKS)
    assert m(0.0)["signal"] == m(0.0)["peak_latency"] == pytest.approx(0.1)  # floor at the very start
    assert m(0.05)["peak_presence"] == pytest.approx(0.1 + 0.9 * 0.5)  # signal/peaks ramp [0, 0.1)
    early = m(0.2)
    assert early["signal"] == early["peak_amplitude"] == 1.0  # signal and peaks first
    assert early["classification"] == early["threshold"] == early["no_response"] == pytest.approx(0.1)
    assert early["static"] == pytest.approx(0.1)
    mid = m(0.4)  # half-way through [0.3, 0.5)
    assert mid["threshold"] == pytest.approx(0.1 + 0.9 * 0.5) and mid["static"] == pytest.approx(0.1)
    late = m(0.7)  # class/threshold done, static half-way through [0.6, 0.8)
    assert late["classification"] == 1.0 and late["static"] == pytest.approx(0.55)
    assert all(v == 1.0 for v in m(0.8).values())
    for task in TASKS:  # each multiplier is monotone in progress
        seq = [m(p)[task] for p in np.linspace(0, 1, 201)]
        assert all(b >= a for a, b in itertools.pairwise(seq)), task
    # a later stage never leads an earlier one
    for p in np.linspace(0, 1, 101):
        w = m(p)
        assert w["signal"] >= w["classification"] >= w["static"]


def test_zero_floor_is_a_strict_order() -> None:
    cfg = CurriculumConfig(task_floor=0.0, stages=STAGES)
    w = task_weight_multipliers(0.2, cfg)
    assert w["signal"] == 1.0 and w["classification"] == 0.0 and w["static"] == 0.0


def test_phase_names() -> None:
    got = [phase_name(p, CFG) for p in (0.0, 0.19, 0.2, 0.39, 0.4, 0.79, 0.8, 1.0)]
    assert got == ["s4_warmup", "s4_warmup", "transformer_intro", "transformer_intro", "task_curriculum",
                   "task_curriculum", "full_multitask", "full_multitask"]  # fmt: skip


def test_phase_table_states_each_share_and_step_range() -> None:
    rows = {r["phase"]: r for r in phase_table(CFG, max_steps=2000)}
    assert list(rows) == ["s4_warmup", "transformer_intro", "tasks:signal_peaks", "tasks:classification_threshold",
                          "tasks:static"]  # fmt: skip
    warm = rows["s4_warmup"]
    assert (warm["share"], warm["start_step"], warm["end_step"]) == (0.2, 0, 400)
    assert (rows["transformer_intro"]["start_step"], rows["transformer_intro"]["end_step"]) == (400, 800)
    static = rows["tasks:static"]
    assert (static["start_step"], static["end_step"], static["tasks"]) == (1200, 1600, ["static"])
    assert "start_step" not in phase_table(CFG)[0]  # a time-limited run: shares only


def test_run_progress_uses_closest_limit() -> None:
    t = TrainerConfig(max_steps=1000, max_minutes=10.0)
    assert run_progress(100, 0.0, t) == pytest.approx(0.1)
    assert run_progress(100, 300.0, t) == pytest.approx(0.5)
    assert run_progress(5000, 0.0, t) == 1.0
    assert run_progress(10, 60.0, SimpleNamespace(max_steps=None, max_minutes=2.0)) == pytest.approx(0.5)


# ------------------------------------------------------------------------------------------------ configuration
def _load(tmp_path: Path, curriculum: dict) -> object:
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump({"curriculum": curriculum}))
    return load_config(path)


def test_config_sets_every_share(tmp_path: Path) -> None:
    cfg = _load(tmp_path, {"s4_warmup": 0.15, "transformer_ramp": 0.05, "stages": {"static": {"start": 0.5}}})
    cur = cfg.curriculum  # type: ignore[attr-defined]
    got = (cur.s4_warmup, cur.transformer_ramp, cur.stages.static.start, cur.stages.static.ramp)
    assert got == (0.15, 0.05, 0.5, 0.0)
    assert cur.stages.classification_threshold == CurriculumConfig().stages.classification_threshold  # default kept


@pytest.mark.parametrize(
    ("curriculum", "message"),
    [
        ({"task_ramp": 0.1}, r"curriculum\.task_ramp: Extra inputs are not permitted"),
        ({"stages": {"peaks": {"start": 0.0}}}, r"curriculum\.stages\.peaks: Extra inputs are not permitted"),
        ({"stages": {"static": {"start": 0.1, "lenght": 0.1}}}, r"curriculum\.stages\.static\.lenght: Extra"),
        ({"stages": {"static": {"start": -0.1}}}, r"curriculum\.stages\.static\.start: Input should be greater"),
        ({"stages": {"static": {"start": 0.9, "ramp": 0.2}}}, r"curriculum\.stages\.static: start \+ ramp must be"),
        ({"stages": {"static": {"start": 0.05}}}, r"curriculum\.stages: stages must start in the design's order"),
        ({"s4_warmup": 0.7, "transformer_ramp": 0.4}, r"curriculum: s4_warmup \+ transformer_ramp must be <= 1"),
        ({"task_floor": 1.5}, r"curriculum\.task_floor: Input should be less than or equal to 1"),
    ],
)
def test_config_errors_name_the_key(tmp_path: Path, curriculum: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace(":", r" \(line \d+\):", 1)):  # and the key's line
        _load(tmp_path, curriculum)
