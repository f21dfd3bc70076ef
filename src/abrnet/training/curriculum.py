"""The training curriculum as pure functions of run progress p ∈ [0, 1] (the share of the step budget spent).

Two timelines, both set in `CurriculumConfig` as shares of the run:

* Attention: ``s4_warmup`` [0, w) gates *every* attention path to 0 (transformer layers, attention skip fusion,
  peak attention, cross-task attention: no attention module runs), so the S4 backbone learns the signal first
  (attention on an untrained representation tends to collapse onto a few positions); ``transformer_ramp``
  [w, w + r) ramps the gate linearly 0 → 1.
* Tasks, in the design's order: each stage of `TASK_STAGES` has its own ``start`` and ``ramp`` (``stages`` in the
  config). A task's loss multiplier is ``task_floor`` before its stage starts and ramps linearly to 1 over the
  stage's ramp. Default: signal and peaks from the start, then classification, threshold and no-response, then
  the static parameters (joint generation) — each head is introduced once the representation it reads exists.

Design decision, task floor: before their stage the task losses are scaled by ``task_floor``, not 0. A small floor
keeps the heads learning from the start (so they are not random when their full weight arrives) while the tasks
of the current stage still dominate the trunk's learning. ``task_floor: 0`` gives a strict order.

Named phases (for logging and checkpoints, `PHASES`): ``s4_warmup`` and ``transformer_intro`` follow the attention
timeline; after them the run is in ``task_curriculum`` while any task multiplier is below 1, then
``full_multitask``.

Progress: `run_progress` maps (step, elapsed time) to p using whichever run limit (max_steps / max_minutes) is
closer to being reached, so the curriculum completes on time in a time-limited run.
"""

from __future__ import annotations

from typing import Any

from abrnet.training.losses import TASKS

__all__ = [
    "PHASES",
    "TASK_STAGES",
    "phase_index",
    "phase_name",
    "phase_table",
    "run_progress",
    "task_weight_multipliers",
    "transformer_gate",
]

PHASES: tuple[str, ...] = ("s4_warmup", "transformer_intro", "task_curriculum", "full_multitask")

# The design's task order: stage name (a key of ``curriculum.stages``) → the tasks it introduces.
TASK_STAGES: dict[str, tuple[str, ...]] = {
    "signal_peaks": ("signal", "peak_presence", "peak_latency", "peak_amplitude"),
    "classification_threshold": ("classification", "threshold", "no_response"),
    "static": ("static",),
}
assert sorted(t for ts in TASK_STAGES.values() for t in ts) == sorted(TASKS), "every task in exactly one stage"


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
    """Multiplier of every attention path: exactly 0 in the S4 warm-up, a linear ramp, then 1."""
    return _ramp(_clip01(p), cfg.s4_warmup, cfg.transformer_ramp)


def task_weight_multipliers(p: float, cfg: Any) -> dict[str, float]:
    """Per-task multipliers of the base loss weights: ``task_floor`` before the task's stage, then its own ramp
    to 1 (stage start and ramp from ``cfg.stages``)."""
    floor = float(cfg.task_floor)
    out: dict[str, float] = {}
    for stage, tasks in TASK_STAGES.items():
        s = getattr(cfg.stages, stage)
        m = floor + (1.0 - floor) * _ramp(_clip01(p), s.start, s.ramp)
        out |= dict.fromkeys(tasks, m)
    return {t: out[t] for t in TASKS}


def phase_name(p: float, cfg: Any) -> str:
    """Name of the curriculum phase at progress p (for logging): one of `PHASES`."""
    p = _clip01(p)
    if p < cfg.s4_warmup:
        return "s4_warmup"
    if p < cfg.s4_warmup + cfg.transformer_ramp:
        return "transformer_intro"
    if any(m < 1.0 for m in task_weight_multipliers(p, cfg).values()):
        return "task_curriculum"
    return "full_multitask"


def phase_index(p: float, cfg: Any) -> int:
    """Index of `phase_name` in `PHASES` (a number the step logger can plot)."""
    return PHASES.index(phase_name(p, cfg))


def phase_table(cfg: Any, max_steps: int | None = None) -> list[dict[str, Any]]:
    """Every timeline segment with its share of the run (and its steps when ``max_steps`` is known), for the log.

    Rows: the attention warm-up and ramp, then one row per task stage (its ramp, and its tasks).
    """

    def row(name: str, start: float, length: float, **extra: Any) -> dict[str, Any]:
        r: dict[str, Any] = {"phase": name, "start": start, "end": min(1.0, start + length), "share": length}
        if max_steps:
            r |= {"start_step": int(round(start * max_steps)), "end_step": int(round(r["end"] * max_steps))}
        return r | extra

    w, r = cfg.s4_warmup, cfg.transformer_ramp
    rows = [row("s4_warmup", 0.0, w, gate=0.0), row("transformer_intro", w, r, gate="0 -> 1")]
    for stage, tasks in TASK_STAGES.items():
        s = getattr(cfg.stages, stage)
        weight = "1" if s.start == 0.0 and s.ramp == 0.0 else f"{cfg.task_floor:g} -> 1"
        rows.append(row(f"tasks:{stage}", s.start, s.ramp, tasks=list(tasks), weight=weight))
    return rows


def run_progress(step: int, elapsed_s: float, trainer_cfg: Any) -> float:
    """Run progress in [0, 1]: the larger of step / max_steps and elapsed / max_minutes (whichever limit is set)."""
    fractions = [0.0]
    if getattr(trainer_cfg, "max_steps", None):
        fractions.append(step / trainer_cfg.max_steps)
    if getattr(trainer_cfg, "max_minutes", None):
        fractions.append(elapsed_s / (60.0 * trainer_cfg.max_minutes))
    return _clip01(max(fractions))
