"""The training curriculum as pure functions of run progress p ∈ [0, 1].

Phases (sequential fractions of the run, from `CurriculumConfig`):

1. ``s4_warmup`` [0, w): the transformer branches are gated to 0, so the S4 backbone learns the signal first
   (attention on an untrained representation tends to collapse onto a few positions).
2. ``transformer_intro`` [w, w + r): the transformer gate ramps linearly 0 → 1.
3. ``task_curriculum`` [w + r, w + r + k): the task-loss multipliers ramp linearly ``task_floor`` → 1.
4. ``full_multitask`` [w + r + k, 1]: every multiplier is 1.

Design decision, task floor: before their ramp the task losses are scaled by ``task_floor`` (default 0.1), not 0.
A small floor keeps the heads learning from the start (so they are not random when their full weight arrives) and
keeps every task's term non-zero (the dominance alert and per-task grad norms compare them), while the signal loss
(always 1) still dominates the backbone's early learning. Set ``task_floor: 0`` for a strict signal-only warm-up.

Progress: `run_progress` maps (step, elapsed time) to p using whichever run limit (max_steps / max_minutes) is
closer to being reached, so the curriculum completes on time in a time-limited run.
"""

from __future__ import annotations

from typing import Any

from abrnet.training.losses import TASKS

__all__ = ["PHASES", "phase_name", "run_progress", "task_weight_multipliers", "transformer_gate"]

PHASES: tuple[str, ...] = ("s4_warmup", "transformer_intro", "task_curriculum", "full_multitask")


def _clip01(x: float) -> float:
    return 0.0 if x < 0.0 else 1.0 if x > 1.0 else float(x)


def _ramp(p: float, start: float, length: float) -> float:
    """0 before ``start``, linear to 1 over ``length``, 1 after (a zero length is a step at ``start``)."""
    if p < start:
        return 0.0
    if length <= 0.0:
        return 1.0
    return _clip01((p - start) / length)


def transformer_gate(p: float, cfg: Any) -> float:
    """Multiplier of the transformer branches' output: exactly 0 in the S4 warm-up, linear ramp, then 1."""
    return _ramp(_clip01(p), cfg.s4_warmup, cfg.transformer_ramp)


def task_weight_multipliers(p: float, cfg: Any) -> dict[str, float]:
    """Per-task multipliers of the base loss weights: signal always 1; others ``task_floor`` → 1 over task_ramp."""
    floor = float(getattr(cfg, "task_floor", 0.0))
    r = _ramp(_clip01(p), cfg.s4_warmup + cfg.transformer_ramp, cfg.task_ramp)
    m = floor + (1.0 - floor) * r
    return {t: (1.0 if t == "signal" else m) for t in TASKS}


def phase_name(p: float, cfg: Any) -> str:
    """Name of the curriculum phase at progress p (for logging): one of `PHASES`."""
    p = _clip01(p)
    a = cfg.s4_warmup
    b = a + cfg.transformer_ramp
    c = b + cfg.task_ramp
    if p < a:
        return "s4_warmup"
    if p < b:
        return "transformer_intro"
    if p < c:
        return "task_curriculum"
    return "full_multitask"


def run_progress(step: int, elapsed_s: float, trainer_cfg: Any) -> float:
    """Run progress in [0, 1]: the larger of step / max_steps and elapsed / max_minutes (whichever limit is set)."""
    fractions = [0.0]
    if getattr(trainer_cfg, "max_steps", None):
        fractions.append(step / trainer_cfg.max_steps)
    if getattr(trainer_cfg, "max_minutes", None):
        fractions.append(elapsed_s / (60.0 * trainer_cfg.max_minutes))
    return _clip01(max(fractions))
