"""Writers that guard their own output: an existing file is refused unless the caller passes ``overwrite``.

Why: the CLI checks every planned output against --force before it computes anything, but a writer that trusted
its callers replaced any file a new caller (a script, the API) handed it. Each writer now runs `check_fname` itself,
and the CLI passes the --force it already checked, so users see no change.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from abrnet.config.train_config import TrainConfig, dump_config, load_config
from abrnet.inference.generation import plot_generated
from abrnet.inference.result_plots import plot_paths, save_plots
from abrnet.inference.result_tables import PredictionReport
from abrnet.models.predictions import Predictions
from tests.conftest import make_toy_cohort

OLD = b"an earlier file"


def _existing(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(OLD)
    return path


def test_dump_config_refuses_an_existing_file(tmp_path: Path) -> None:
    path = _existing(tmp_path / "run" / "config.yaml")
    with pytest.raises(FileExistsError, match="file exists"):
        dump_config(TrainConfig(), path)
    assert path.read_bytes() == OLD
    dump_config(TrainConfig(), path, overwrite=True)
    assert load_config(path) == TrainConfig()


def test_plot_generated_refuses_an_existing_file(tmp_path: Path) -> None:
    cohort = make_toy_cohort(n_patients=1, levels=(80, 40))
    cohort.attrs = {"mode": "joint", "sampler": "ddim", "steps": 10, "seed": 0, "signal_kind": "clean response"}
    path = _existing(tmp_path / "g.png")
    with pytest.raises(FileExistsError, match="file exists"):
        plot_generated(cohort, path)
    assert path.read_bytes() == OLD
    plot_generated(cohort, path, overwrite=True)
    assert path.read_bytes().startswith(b"\x89PNG")


def test_save_plots_refuses_an_existing_file_before_writing_any(tmp_path: Path) -> None:
    cohort = make_toy_cohort(n_patients=1, levels=(80, 40))
    n = cohort.n_records
    pred = Predictions(
        peak_presence_prob=np.full((n, 3), 0.9, np.float32), latency_ms=np.full((n, 3), 6.0, np.float32),
        latency_sd_ms=np.full((n, 3), 0.1, np.float32), amplitude_uv=np.full((n, 3), 0.3, np.float32),
        amplitude_sd_uv=np.full((n, 3), 0.05, np.float32), class_prob=np.full((n, 5), 0.2, np.float32),
        threshold_db=np.full(n, 30.0, np.float32), threshold_sd_db=np.full(n, 5.0, np.float32),
        p_no_response=np.full(n, 0.2, np.float32),
    )  # fmt: skip
    report = PredictionReport(cohort=cohort, predictions=pred)
    planned = [p for paths in plot_paths(cohort, tmp_path, series=False).values() for p in paths.values()]
    assert len(planned) == 2  # one waterfall per ear
    last = _existing(planned[-1])
    with pytest.raises(FileExistsError, match="file exists"):
        save_plots(report, tmp_path, series=False)
    assert last.read_bytes() == OLD and not planned[0].exists()  # refused before the first plot was written
    assert save_plots(report, tmp_path, series=False, overwrite=True) == planned
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in planned)
