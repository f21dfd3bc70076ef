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
