"""Shared fixtures: a small hand-made cohort (no simulator needed), the path to ../shared and the one way a test
asks for a file in ../shared/fixtures (`require_fixture`)."""

from __future__ import annotations

import os
from pathlib import Path

# `make test` runs the suite with one pytest-xdist worker per logical CPU. A worker's torch then gets one thread
# (abrnet's commands it starts inherit that), and a run that pins more (`trainer.cpu_threads`, 2 by default) has
# its waiting threads sleep: by default they spin, and beside the other worker the suite took twice as long as on
# one core. Set before torch is loaded, which reads both once.
IN_XDIST_WORKER = "PYTEST_XDIST_WORKER" in os.environ
if IN_XDIST_WORKER:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    # xdist gives its workers COLUMNS=80, which the CLI's Rich consoles would take as fixed when created: the tests
    # that need a wide table set COLUMNS per command, as in a plain pytest run.
    os.environ.pop("COLUMNS", None)
    os.environ.pop("LINES", None)

import numpy as np  # noqa: E402  (after the environment above)
import pytest  # noqa: E402
import torch  # noqa: E402

from abrnet.data.schema import ABRCohort  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _one_torch_thread_after_each_test():
    """A fit pins `trainer.cpu_threads` for its whole process; under xdist the next test gets one thread again."""
    yield
    if IN_XDIST_WORKER:
        torch.set_num_threads(1)


SHARED = Path(__file__).resolve().parents[1].parent / "shared"
FIXTURES = SHARED / "fixtures"  # real device exports; outside the repository
REQUIRE_FIXTURES_ENV = "ABRNET_REQUIRE_FIXTURES"


def require_fixture(path: Path) -> Path:
    """Return `path` if it exists. If not, skip the test with the reason, or fail it when ABRNET_REQUIRE_FIXTURES=1
    (CI sets it in .ci/run, so a missing ../shared cannot turn the importer tests into quiet skips)."""
    if path.exists():
        return path
    reason = f"{path} not present (../shared/fixtures)"
    if os.environ.get(REQUIRE_FIXTURES_ENV) == "1":
        pytest.fail(f"{reason}, and {REQUIRE_FIXTURES_ENV}=1 requires it", pytrace=False)
    pytest.skip(reason)


def make_toy_cohort(n_patients: int = 12, levels: tuple[int, ...] = (80, 60, 40, 20), seed: int = 0) -> ABRCohort:
    """Gaussian-bump 'ABRs' with per-ear classes and thresholds: enough structure to test plumbing."""
    rng = np.random.default_rng(seed)
    t = np.arange(200) / 20.0  # ms
    rows = []
    for p in range(n_patients):
        cls = p % 5
        for ear in ("L", "R"):
            thr = float(rng.choice([10, 20, 30, 50]))
            no_resp = cls == 3
            for lvl in levels:
                lat_v = 5.6 + 2.0 * np.exp(-lvl / 30.0)
                amp = 0.0 if (no_resp or lvl <= thr) else 0.5
                clean = amp * np.exp(-0.5 * ((t - lat_v) / 0.3) ** 2)
                rows.append((f"P{p:03d}", ear, cls, np.nan if no_resp else thr, no_resp, lvl, lat_v, amp, clean))
    n = len(rows)
    clean = np.stack([r[8] for r in rows]).astype(np.float32)
    signals = (clean + 0.05 * rng.standard_normal(clean.shape)).astype(np.float32)
    latency = np.full((n, 3), np.nan, np.float32)
    amplitude = np.full((n, 3), np.nan, np.float32)
    visible = np.array([r[7] > 0 for r in rows])
    latency[visible, 2] = [r[6] for r in rows if r[7] > 0]
    amplitude[visible, 2] = [r[7] for r in rows if r[7] > 0]
    static = np.stack(
        [
            rng.integers(0, 40, n).astype(np.float32),
            np.array([r[5] for r in rows], np.float32),
            np.full(n, 33.1, np.float32),
            rng.gamma(1.0, 1.5, n).astype(np.float32),
        ],
        axis=1,
    )
    return ABRCohort(
        signals=signals,
        static=static,
        patient_id=np.array([r[0] for r in rows]),
        ear=np.array([r[1] for r in rows]),
        latency_ms=latency,
        amplitude_uv=amplitude,
        class_id=np.array([r[2] for r in rows], np.int64),
        threshold_db=np.array([r[3] for r in rows], np.float32),
        no_response=np.array([r[4] for r in rows], bool),
        sampling_rate_hz=20000.0,
        clean=clean,
        extras={"sex": np.array(["F", "M"] * (n // 2) + ["F"] * (n % 2))},
        attrs={"generator": "toy", "seed": seed},
    )


@pytest.fixture
def toy_cohort() -> ABRCohort:
    return make_toy_cohort()


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A real (tiny, short) training run shared by the tests that need a checkpoint.

    Returns {"dir": run folder with best.ckpt/last.ckpt, "data": cohort .h5 path, "cohort": ABRCohort, "config"}.
    """
    from abrnet.config.train_config import load_config
    from abrnet.data.io import save_cohort
    from abrnet.data.simulate import SimulationConfig, simulate_cohort
    from abrnet.training.run import train

    root = tmp_path_factory.mktemp("tiny_run")
    cohort = simulate_cohort(SimulationConfig(n_patients=40), seed=5)
    data = save_cohort(cohort, root / "cohort.h5")
    cfg = load_config(
        None,
        [
            "seed=5",
            "model.preset=tiny",
            f"data.path={data}",
            "data.batch_size=16",
            "trainer.max_steps=12",
            "trainer.max_minutes=null",
            "trainer.val_every_n_steps=6",
        ],
    )
    train(cfg, root / "run", enable_progress_bar=False)
    return {"dir": root / "run", "data": data, "cohort": cohort, "config": cfg}
