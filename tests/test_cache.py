"""The embedded default dataset is simulated once per (size, seed, simulator version) and then read back."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from abrnet.data.cache import default_cohort_path, simulated_cohort
from abrnet.data.simulate import GENERATOR_VERSION


def test_cached_cohort_is_reused_and_versioned(tmp_path: Path) -> None:
    first, path = simulated_cohort(8, seed=4, cache_dir=tmp_path)
    assert path == default_cohort_path(tmp_path, 8, 4) and path.is_file()
    assert f"_v{GENERATOR_VERSION}" in path.name
    stamp = path.stat().st_mtime_ns
    again, same = simulated_cohort(8, seed=4, cache_dir=tmp_path)
    assert same == path and path.stat().st_mtime_ns == stamp  # read, not rewritten
    np.testing.assert_array_equal(again.signals, first.signals)
    other, other_path = simulated_cohort(8, seed=5, cache_dir=tmp_path)
    assert other_path != path and not np.array_equal(other.signals[:5], first.signals[:5])


def test_a_cache_file_written_meanwhile_by_another_process_is_no_error(tmp_path: Path, monkeypatch) -> None:
    """Two processes missing the cache at once (the test suite's workers, two runs in one folder): the one that
    finishes second used to fail with 'file exists'; now each renames its own whole file into place."""
    import abrnet.data.simulate as simulate
    from abrnet.data.io import load_cohort, save_cohort

    real = simulate.simulate_cohort
    path = default_cohort_path(tmp_path, 6, 3)

    def simulate_while_another_process_caches(*args, **kwargs):
        cohort = real(*args, **kwargs)
        save_cohort(cohort, path)  # the other process got there first
        return cohort

    monkeypatch.setattr(simulate, "simulate_cohort", simulate_while_another_process_caches)
    cohort, written = simulated_cohort(6, seed=3, cache_dir=tmp_path)
    assert written == path and sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no stray own file
    np.testing.assert_array_equal(load_cohort(path).signals, cohort.signals)
