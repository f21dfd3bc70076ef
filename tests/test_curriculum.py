"""Curriculum: gate exactly 0 in warm-up, monotone ramp, 1 after; task multipliers; phases; progress."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import numpy as np
import pytest

from abrnet.training.config import CurriculumConfig, TrainerConfig
from abrnet.training.curriculum import phase_name, run_progress, task_weight_multipliers, transformer_gate
from abrnet.training.losses import TASKS

CFG = CurriculumConfig(s4_warmup=0.2, transformer_ramp=0.2, task_ramp=0.4, task_floor=0.1)


def test_gate_zero_then_ramp_then_one() -> None:
    ps = np.linspace(0.0, 1.0, 1001)
    g = np.array([transformer_gate(p, CFG) for p in ps])
    assert np.all(g[ps < 0.2] == 0.0)
    assert np.all(np.diff(g) >= 0.0)
    assert np.all(g[ps >= 0.4] == 1.0)
    assert transformer_gate(0.3, CFG) == pytest.approx(0.5)
    assert transformer_gate(-1.0, CFG) == 0.0 and transformer_gate(2.0, CFG) == 1.0


def test_gate_zero_length_ramp_is_a_step() -> None:
    cfg = CurriculumConfig(s4_warmup=0.3, transformer_ramp=0.0, task_ramp=0.0)
    assert transformer_gate(0.2999, cfg) == 0.0
    assert transformer_gate(0.3, cfg) == 1.0


def test_task_multipliers() -> None:
    early = task_weight_multipliers(0.1, CFG)
    assert set(early) == set(TASKS)
    assert early["signal"] == 1.0
    assert all(v == pytest.approx(0.1) for k, v in early.items() if k != "signal")
    mid = task_weight_multipliers(0.6, CFG)  # halfway through the task ramp [0.4, 0.8)
    assert mid["threshold"] == pytest.approx(0.1 + 0.9 * 0.5)
    late = task_weight_multipliers(0.9, CFG)
    assert all(v == 1.0 for v in late.values())
    seq = [task_weight_multipliers(p, CFG)["classification"] for p in np.linspace(0, 1, 201)]
    assert all(b >= a for a, b in itertools.pairwise(seq))
    zero_floor = CurriculumConfig(s4_warmup=0.2, transformer_ramp=0.2, task_ramp=0.4, task_floor=0.0)
    assert task_weight_multipliers(0.1, zero_floor)["peak_latency"] == 0.0


def test_phase_names() -> None:
    assert [phase_name(p, CFG) for p in (0.0, 0.19, 0.2, 0.39, 0.4, 0.79, 0.8, 1.0)] == [
        "s4_warmup",
        "s4_warmup",
        "transformer_intro",
        "transformer_intro",
        "task_curriculum",
        "task_curriculum",
        "full_multitask",
        "full_multitask",
    ]


def test_run_progress_uses_closest_limit() -> None:
    t = TrainerConfig(max_steps=1000, max_minutes=10.0)
    assert run_progress(100, 0.0, t) == pytest.approx(0.1)
    assert run_progress(100, 300.0, t) == pytest.approx(0.5)
    assert run_progress(5000, 0.0, t) == 1.0
    assert run_progress(10, 60.0, SimpleNamespace(max_steps=None, max_minutes=2.0)) == pytest.approx(0.5)
