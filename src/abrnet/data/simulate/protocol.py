"""Which levels a simulated tester records, decided only from what the tester can see.

The first simulator let its tester descend relative to the hidden threshold, so the list of tested levels alone
gave the answer (a levels-only model reached 2.4 dB MAE). Here a protocol never reads the threshold:

* ``fixed``: every ear is recorded at one grid of levels (e.g. 0–100 dB in 5-dB steps), whatever its hearing.
* ``clinical``: a descending/ascending search driven by a detection statistic computed from each simulated noisy
  recording (the split-buffer variance ratio a device shows), with a per-ear criterion and lapses (tester error).
  Its levels carry exactly the information a real tester's decisions carry, and no more.
* ``mixed``: each ear draws one of the two (and, when fixed, one of several grids), so training sees both.

The clinical search works on *candidate* recordings: every ear in the clinical protocol is rendered at every level
of the 5-dB grid, twice (a first run and a replicate); the tester walks the grid reading only the candidates'
statistics, and the runs it chose become the ear's records. That keeps the simulation vectorised.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GRID_DB: tuple[float, ...] = tuple(float(x) for x in range(0, 101, 5))  # levels a clinical tester can choose
MAX_LEVEL_DB = 100.0
CLINICAL_RUNS = 2  # candidate runs per (ear, level) in the clinical protocol: first run + replicate
# Grids a fixed-protocol ear draws from in the mixed protocol: none depends on the ear's hearing.
MIXED_FIXED_GRIDS: tuple[tuple[float, ...], ...] = (
    GRID_DB,
    tuple(float(x) for x in range(0, 101, 10)),
    tuple(float(x) for x in range(0, 61, 10)),
    tuple(float(x) for x in range(20, 101, 10)),
)
PROTOCOLS: tuple[str, ...] = ("fixed", "clinical", "mixed")
DOUBT = 1.1  # a run whose statistic is above this but below the criterion is replicated


@dataclass
class Plan:
    """Candidate recordings of every ear: one row per (ear, level, run) that may be recorded."""

    ear: np.ndarray  # (C,) ear index
    level_db: np.ndarray  # (C,)
    run: np.ndarray  # (C,) 0 = first run, 1 = replicate
    clinical: np.ndarray  # (E,) bool: the ear follows the clinical search (else its fixed grid, all kept)


def plan_candidates(
    rng: np.random.Generator, n_ears: int, protocol: str, fixed_levels_db: tuple[float, ...], fixed_fraction: float
) -> Plan:
    """Candidate (ear, level, run) rows; fixed ears get their grid once, clinical ears the 5-dB grid twice."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    if protocol == "fixed":
        clinical = np.zeros(n_ears, bool)
        grids = [tuple(fixed_levels_db)] * n_ears
    elif protocol == "clinical":
        clinical = np.ones(n_ears, bool)
        grids = [()] * n_ears
    else:
        clinical = rng.uniform(size=n_ears) >= fixed_fraction
        pick = rng.integers(0, len(MIXED_FIXED_GRIDS), n_ears)
        grids = [() if c else MIXED_FIXED_GRIDS[k] for c, k in zip(clinical, pick, strict=True)]
    ear, level, run = [], [], []
    for e in range(n_ears):
        if clinical[e]:
            lv = np.repeat(np.asarray(GRID_DB), CLINICAL_RUNS)
            rn = np.tile(np.arange(CLINICAL_RUNS), len(GRID_DB))
        else:
            lv = np.asarray(grids[e], dtype=float)[::-1]  # recorded from the top down, as clinics do
            rn = np.zeros(lv.size, int)
        ear.append(np.full(lv.size, e))
        level.append(lv)
        run.append(rn)
    return Plan(np.concatenate(ear), np.concatenate(level), np.concatenate(run), clinical)


@dataclass
class Tester:
    """One simulated tester per ear: how strong a response must look, how often a decision slips, habits."""

    criterion: np.ndarray  # (E,) detection-statistic threshold for "I see a response"
    lapse: float  # probability that a single decision is flipped
    start_db: np.ndarray  # (E,) first level
    big_steps: np.ndarray  # (E,) bool: 20-dB steps while the response is clearly there
    replicate: np.ndarray  # (E,) probability of replicating a run near the visual threshold


def draw_testers(rng: np.random.Generator, n_ears: int, criterion_range: tuple[float, float], lapse: float) -> Tester:
    """One `Tester` per ear: testers differ in criterion, start level and habits, so a cohort's series vary as a
    clinic's do (one shared tester would give every ear the same search)."""
    return Tester(
        criterion=rng.uniform(*criterion_range, n_ears),
        lapse=lapse,
        start_db=rng.choice([60.0, 70.0, 80.0], size=n_ears, p=[0.3, 0.4, 0.3]),
        big_steps=rng.uniform(size=n_ears) < 0.3,
        replicate=rng.uniform(0.4, 0.9, n_ears),
    )


def clinical_search(
    rng: np.random.Generator, stat: dict[tuple[float, int], float], tester: Tester, e: int
) -> list[tuple[float, int]]:
    """The (level, run) pairs one tester records for ear ``e``, in recording order.

    ``stat[(level, run)]`` is the detection statistic of the candidate recording (FMP from its buffers). The tester
    sees a response when it exceeds the ear's criterion; a doubtful run (above ``DOUBT``) is replicated and judged
    on both runs; each decision slips with probability ``lapse``. Start at 60–80 dB; with nothing there, ascend in
    10-dB steps (to 100 dB at most) until a response is seen; then descend (10 dB, 20 dB while the response is
    strong) to the first level without one, bracket 5 dB above it, and replicate the lowest level seen.
    """
    crit = tester.criterion[e]
    done: list[tuple[float, int]] = []
    seen_at: dict[float, bool] = {}

    def decide(level: float) -> bool:
        if level in seen_at:
            return seen_at[level]
        done.append((level, 0))
        s0 = stat[(level, 0)]
        seen = s0 > crit
        if not seen and s0 > DOUBT:
            done.append((level, 1))
            s1 = stat[(level, 1)]
            seen = s1 > crit or 0.5 * (s0 + s1) > 0.85 * crit
        seen_at[level] = (not seen) if rng.uniform() < tester.lapse else seen
        return seen_at[level]

    level = float(tester.start_db[e])
    while not decide(level):
        if level >= MAX_LEVEL_DB:
            if (level, 1) not in done:
                done.append((level, 1))  # no response at the maximum: confirm it
            return done
        level = min(level + 10.0, MAX_LEVEL_DB)
    while level > 0:
        step = 20.0 if tester.big_steps[e] and stat[(level, 0)] > 4.0 * crit and level >= 40 else 10.0
        nxt = max(level - step, 0.0)
        if decide(nxt):
            level = nxt
            continue
        for bracket in (nxt + 5.0, nxt + 10.0):
            if bracket < level and bracket not in seen_at and decide(bracket):
                level = bracket
                break
        break
    if (level, 1) not in done and rng.uniform() < tester.replicate[e]:
        done.append((level, 1))
    return done


def proxy_series_length(
    rng: np.random.Generator, threshold_db: np.ndarray, protocol: str, fixed_n: int, fixed_fraction: float
) -> float:
    """Mean records per ear of a class, for the class mix only (no label depends on it).

    The clinical search is run on a proxy statistic (a response is seen 5 dB above the threshold), so the cohort's
    record-level class fractions land near their targets without rendering a pilot cohort.
    """
    if protocol == "fixed":
        return float(fixed_n)
    n = threshold_db.size
    tester = draw_testers(rng, n, (2.0, 3.0), 0.0)
    lengths = []
    for e, thr in enumerate(threshold_db):
        seen = {(lv, r): (10.0 if np.isfinite(thr) and lv >= thr + 5 else 1.0) for lv in GRID_DB for r in (0, 1)}
        lengths.append(len(clinical_search(rng, seen, tester, e)))
    clinical = float(np.mean(lengths))
    if protocol == "clinical":
        return clinical
    fixed = float(np.mean([len(g) for g in MIXED_FIXED_GRIDS]))
    return (1.0 - fixed_fraction) * clinical + fixed_fraction * fixed
