"""The embedded default dataset: simulated once per (size, seed) and cached as an abrnet file."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from abrnet.data.io import load_cohort, save_cohort
from abrnet.data.schema import ABRCohort


def default_cohort_path(cache_dir: str | Path, patients: int, seed: int, balanced: bool = False) -> Path:
    """Cache file name; it carries the simulator version, so a changed simulator never reuses an old cohort."""
    from abrnet.data.simulate import GENERATOR_VERSION

    tag = "balanced" if balanced else "default"
    return Path(cache_dir) / f"cohort_{tag}_p{patients}_s{seed}_v{GENERATOR_VERSION}.h5"


def simulated_cohort(
    patients: int,
    seed: int,
    cache_dir: str | Path | None = None,
    *,
    balanced: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[ABRCohort, Path | None]:
    """Load the cached cohort for (patients, seed) or simulate and cache it. Same seed → same cohort.

    Two processes may miss the cache at once (two `abrnet train` in one folder, the test suite's workers): each
    writes its own file and renames it into place, so the cache is always one whole file, never a mix of both."""
    from abrnet.data.simulate import SimulationConfig, simulate_cohort

    path = default_cohort_path(cache_dir, patients, seed, balanced) if cache_dir is not None else None
    if path is not None and path.exists():
        return load_cohort(path), path
    cohort = simulate_cohort(SimulationConfig(n_patients=patients, balanced=balanced), seed=seed, progress=progress)
    if path is not None:
        own = path.with_name(f".{path.stem}.{os.getpid()}{path.suffix}")  # this process's file, a cohort name
        try:
            save_cohort(cohort, own, force=True)
            own.replace(path)  # atomic; the same seed wrote the same cohort, so the last rename loses nothing
        finally:
            own.unlink(missing_ok=True)
    return cohort, path
