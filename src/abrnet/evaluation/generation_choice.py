"""Choose the generation settings (guidance scale, sampler, sampling steps) on the validation split, never on test.

Why: these settings used to be picked by looking at test-split figures, which makes the test figures of the chosen
setting optimistic. `abrnet evaluate --generation` now runs a small, stated grid on validation conditions, keeps
the best candidate by one criterion, and only then generates for the test split — once, with that setting.

Grid (defaults; each axis configurable): guidance ∈ {1, 2, 3} × sampler ∈ {ddim, dpm} (every sampler of
`abrnet.diffusion.sampling`) × steps ∈ {10, 20} = 12 candidates, each generating one signal for each of `n`
validation conditions (default 256), all from the same seed (common random numbers: the candidates differ by their
settings, not by their draws).

Criterion (`CRITERION`): the report's headline figure, the wave V latency–intensity gap, measured model-free —
the classical peak picker on the generated signals vs the same picker on the validation reference signals (clean
when the file has them), over the conditions whose record has a labelled wave V, per 10 dB bin with at least
`min_count` waves on both sides. Using the same picker on both sides cancels its own bias. Candidates are ranked
by (bins of the reference that the generated signals miss, mean |gap| in ms); NaN counts as worst; ties go to fewer
steps, then to grid order (cheaper first). The in-band real-vs-generated AUC is recorded beside it, not ranked on.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from abrnet.constants import WAVES
from abrnet.data.files import json_ready
from abrnet.data.schema import ABRCohort
from abrnet.diffusion.sampling import SAMPLERS
from abrnet.evaluation.classical import pick_wave_v
from abrnet.evaluation.generation import ABR_BAND_HZ, latency_intensity_gap, latency_intensity_table, two_sample_auc
from abrnet.evaluation.generation_eval import evaluate_generation

CHOICE_SPLIT = "val"
DEFAULT_GUIDANCE: tuple[float, ...] = (1.0, 2.0, 3.0)
DEFAULT_SAMPLERS: tuple[str, ...] = SAMPLERS  # every sampler abrnet.diffusion.sampling builds
DEFAULT_STEPS: tuple[int, ...] = (10, 20)
DEFAULT_CHOICE_N = 256
DEFAULT_CHOICE_MIN_COUNT = 10  # fewer conditions than the test report: bins need fewer waves to count
CRITERION = (
    "lowest (missing 10 dB bins, mean |wave V latency gap| ms) of the classical picker on generated vs on the "
    "validation reference signals, conditions with a labelled wave V; ties: fewer steps, then grid order"
)
_V = WAVES.index("V")


@dataclass(frozen=True)
class Candidate:
    """One generation setting of the grid."""

    guidance: float
    sampler: str
    steps: int


Scorer = Callable[..., dict[str, Any]]


def candidate_grid(
    guidance: Sequence[float] = DEFAULT_GUIDANCE,
    samplers: Sequence[str] = DEFAULT_SAMPLERS,
    steps: Sequence[int] = DEFAULT_STEPS,
) -> list[Candidate]:
    """Every (guidance, sampler, steps) combination, in that nesting order; duplicates dropped."""
    for s in samplers:
        if s not in DEFAULT_SAMPLERS:
            raise ValueError(f"sampler must be one of {DEFAULT_SAMPLERS}, got {s!r}")
    if not guidance or not samplers or not steps:
        raise ValueError("each axis of the generation grid needs at least one value")
    if any(int(k) < 1 for k in steps) or any(float(g) < 0 for g in guidance):
        raise ValueError(f"steps must be >= 1 and guidance >= 0, got {list(steps)} and {list(guidance)}")
    out = [Candidate(float(g), str(s), int(k)) for g in guidance for s in samplers for k in steps]
    return list(dict.fromkeys(out))


def score_candidate(
    model: Any,
    data: ABRCohort,
    candidate: Candidate,
    *,
    seed: int = 0,
    eta: float = 0.0,
    band_limit: bool = True,
    min_count: int = DEFAULT_CHOICE_MIN_COUNT,
) -> dict[str, Any]:
    """Generate one signal per condition of `data` (the validation conditions) with `candidate` and score it.

    Returns missing_bins, mean_abs_ms, max_abs_ms, n_shared (latency gap, see the module docstring),
    two_sample_auc_abr_band (not ranked on) and seconds. `eta` applies to the ddim sampler only.
    """
    reference = data.clean if data.clean is not None else data.signals  # (n, T) µV
    level = data.static_column("intensity_db")
    resp = np.isfinite(data.latency_ms[:, _V])  # a latency–intensity function exists where there is a response
    t0 = time.perf_counter()
    gen = model.generate(
        1, conditions=data.static, sampler=candidate.sampler, steps=candidate.steps, guidance=candidate.guidance,
        seed=seed, eta=eta if candidate.sampler == "ddim" else 0.0, band_limit=band_limit,
    )  # fmt: skip
    seconds = time.perf_counter() - t0
    ref_table = latency_intensity_table(pick_wave_v(reference[resp], data.time_ms)[0], level[resp], min_count=min_count)
    gen_lat = pick_wave_v(gen.signals[resp], data.time_ms)[0]  # (n_resp,) ms, NaN = no wave
    gap = latency_intensity_gap(ref_table, latency_intensity_table(gen_lat, level[resp], min_count=min_count))
    auc = two_sample_auc(reference, gen.signals, seed=seed, fs=data.sampling_rate_hz, band=ABR_BAND_HZ)
    return {
        "missing_bins": len(gap["missing_in_gen"]),
        "mean_abs_ms": gap["mean_abs_ms"],
        "max_abs_ms": gap["max_abs_ms"],
        "n_shared": gap["n_shared"],
        "two_sample_auc_abr_band": auc,
        "seconds": seconds,
    }


def rank_key(score: dict[str, Any], candidate: Candidate, index: int) -> tuple[float, float, int, int]:
    """Sort key of `CRITERION` (smaller is better): missing bins, mean gap (NaN → inf), steps, grid position."""
    mean = score.get("mean_abs_ms")
    mean_f = float(mean) if mean is not None and math.isfinite(float(mean)) else math.inf
    missing = score.get("missing_bins")
    return (float(missing) if missing is not None else math.inf, mean_f, candidate.steps, index)


def choose_generation_settings(
    model: Any,
    val: ABRCohort,
    *,
    guidance: Sequence[float] = DEFAULT_GUIDANCE,
    samplers: Sequence[str] = DEFAULT_SAMPLERS,
    steps: Sequence[int] = DEFAULT_STEPS,
    n: int = DEFAULT_CHOICE_N,
    seed: int = 0,
    eta: float = 0.0,
    band_limit: bool = True,
    min_count: int = DEFAULT_CHOICE_MIN_COUNT,
    scorer: Scorer | None = None,
) -> dict[str, Any]:
    """Score every grid candidate on `n` conditions of the validation split `val` and pick one by `CRITERION`.

    The same `n` validation records (drawn with `seed`) serve every candidate. `scorer` defaults to
    `score_candidate` (looked up at call time, so tests can replace it). Returns a JSON-ready dict: split ("val"),
    n_conditions, criterion, grid, candidates (settings + validation score each) and chosen (settings).
    """
    grid = candidate_grid(guidance, samplers, steps)
    if val.n_records < 2:
        raise ValueError(f"the {CHOICE_SPLIT} split has {val.n_records} records: too few to choose generation settings")
    rng = np.random.default_rng(seed)
    data = val.subset(np.sort(rng.choice(val.n_records, size=min(n, val.n_records), replace=False)))
    score_fn = scorer if scorer is not None else score_candidate
    rows = []
    for cand in grid:
        score = score_fn(model, data, cand, seed=seed, eta=eta, band_limit=band_limit, min_count=min_count)
        rows.append({**asdict(cand), "score": score})
    best = min(range(len(grid)), key=lambda i: rank_key(rows[i]["score"], grid[i], i))
    return json_ready({
        "split": CHOICE_SPLIT,
        "n_conditions": int(data.n_records),
        "seed": int(seed),
        "min_count": int(min_count),
        "criterion": CRITERION,
        "grid": {"guidance": [float(g) for g in guidance], "sampler": list(samplers), "steps": [int(k) for k in steps]},
        "candidates": rows,
        "chosen": asdict(grid[best]),
    })  # fmt: skip


def evaluate_generation_chosen_on_val(
    model: Any,
    val: ABRCohort,
    test: ABRCohort,
    *,
    guidance: Sequence[float] = DEFAULT_GUIDANCE,
    samplers: Sequence[str] = DEFAULT_SAMPLERS,
    steps: Sequence[int] = DEFAULT_STEPS,
    choice_n: int = DEFAULT_CHOICE_N,
    choice_min_count: int = DEFAULT_CHOICE_MIN_COUNT,
    seed: int = 0,
    eta: float = 0.0,
    band_limit: bool = True,
    **report_options: Any,
) -> dict[str, Any]:
    """Choose (guidance, sampler, steps) on `val`, then run `evaluate_generation` on `test` once with the choice.

    The test split is generated for exactly once and never scored for the choice. `report_options` go to
    `evaluate_generation` (n, n_joint, min_count, static_marginals). The returned report carries the choice
    under "selection" (grid, each candidate's validation score, chosen, split "val").
    """
    selection = choose_generation_settings(
        model, val, guidance=guidance, samplers=samplers, steps=steps, n=choice_n, seed=seed, eta=eta,
        band_limit=band_limit, min_count=choice_min_count,
    )  # fmt: skip
    c = selection["chosen"]
    report = evaluate_generation(
        model, test, sampler=c["sampler"], steps=c["steps"], guidance=c["guidance"], seed=seed,
        eta=eta if c["sampler"] == "ddim" else 0.0, band_limit=band_limit, **report_options,
    )  # fmt: skip
    return json_ready({**report, "settings_chosen_on": CHOICE_SPLIT, "selection": selection})
