"""--resume continues on the very data file its run trained on (hunt 44 #1).

The config names the data file by its path, so a lab that re-imported its exports into the same lab.h5 between the
two legs of a run had the second leg fitted on another cohort, without a word. Each checkpoint of a run trained on
a file now records the file's SHA-256 (`run_folder.DataRecord`), and `check_resume` compares it with the file.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import abrnet.training.run as run_mod
from abrnet.config.train_config import load_config
from abrnet.data.files import file_sha256
from abrnet.data.io import save_cohort
from abrnet.data.schema import DataError
from abrnet.data.simulate import SimulationConfig, simulate_cohort
from abrnet.training.run_folder import DATA_SHA256_KEY, DataRecord, check_resume, check_same_data
from tests.test_training_resume import overrides


def test_a_run_on_a_file_records_it_and_resume_refuses_the_file_rewritten(tmp_path: Path) -> None:
    data = save_cohort(simulate_cohort(SimulationConfig(n_patients=20), seed=11), tmp_path / "lab.h5")
    cfg = load_config(None, overrides(data, steps=2, every=2))
    run_mod.train(cfg, tmp_path / "run", enable_progress_bar=False)
    last = tmp_path / "run" / "last.ckpt"
    recorded = torch.load(last, map_location="cpu", weights_only=True)[DATA_SHA256_KEY]
    assert recorded == file_sha256(data)
    check_resume(last, cfg)  # the same config on the same bytes: resumable
    save_cohort(simulate_cohort(SimulationConfig(n_patients=24), seed=12), data, force=True)  # re-imported
    with pytest.raises(DataError, match=r"data\.path.*changed since the run --resume continues started"):
        check_resume(last, cfg)


def test_the_simulated_default_records_nothing_and_an_old_checkpoint_passes(tmp_path: Path) -> None:
    default = load_config(None)
    assert default.data.path is None
    record, ckpt = DataRecord(default), {}
    record.on_save_checkpoint(None, None, ckpt)
    assert ckpt == {}  # the default cohort is made again from its seed and config, which --resume compares
    data = tmp_path / "lab.h5"
    data.write_bytes(b"one cohort")
    on_file = load_config(None, [f"data.path={data}"])
    check_same_data({}, on_file)  # a checkpoint from before the record: nothing to compare
    check_same_data({DATA_SHA256_KEY: file_sha256(data)}, on_file)
    data.write_bytes(b"another cohort")
    with pytest.raises(DataError, match="resume on the same file"):
        check_same_data({DATA_SHA256_KEY: file_sha256(tmp_path / "lab.h5") + "x"}, on_file)
