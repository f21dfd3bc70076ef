"""--resume continues, and evaluate scores, on the very data file the run trained on (hunt 44 #1, stop 44).

The config names the data file by its path, so a lab that re-imported its exports into the same lab.h5 between the
two legs of a run had the second leg fitted on another cohort, without a word, and an evaluation without --data read
the new file's "test split": other patients, some trained on. Each checkpoint of a run trained on a file records
the file's SHA-256 (`data_record.DataRecord`; the slim export keeps it); `check_resume` and
`cohort_source.model_training_cohort` compare it with the file.
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
from abrnet.evaluation.evaluate import evaluate_checkpoint
from abrnet.inference.checkpoint import DATA_SHA256_KEY, load_checkpoint
from abrnet.inference.default_model import export_checkpoint
from abrnet.training.data_record import DataRecord
from abrnet.training.run_folder import check_resume, check_same_data
from tests.test_training_resume import overrides


def test_a_run_on_a_file_records_it_and_resume_refuses_the_file_rewritten(tmp_path: Path) -> None:
    data = save_cohort(simulate_cohort(SimulationConfig(n_patients=20), seed=11), tmp_path / "lab.h5")
    cfg = load_config(None, overrides(data, steps=2, every=2))
    run_mod.train(cfg, tmp_path / "run", enable_progress_bar=False)
    last = tmp_path / "run" / "last.ckpt"
    recorded = torch.load(last, map_location="cpu", weights_only=True)[DATA_SHA256_KEY]
    assert recorded == file_sha256(data)
    check_resume(last, cfg)  # the same config on the same bytes: resumable
    slim = export_checkpoint(tmp_path / "run" / "best.ckpt", tmp_path / "slim.ckpt")
    assert load_checkpoint(slim).data_sha256 == recorded  # the export keeps which file it trained on
    save_cohort(simulate_cohort(SimulationConfig(n_patients=24), seed=12), data, force=True)  # re-imported
    with pytest.raises(DataError, match=r"data\.path.*changed since the run --resume continues started"):
        check_resume(last, cfg)
    for model in (tmp_path / "run" / "best.ckpt", slim):
        refused = r"lab\.h5: field 'data\.path': changed since .* was trained on it.*restore"
        with pytest.raises(DataError, match=refused):
            evaluate_checkpoint(model, out_dir=tmp_path / "eval", n_bootstrap=0)
    assert not (tmp_path / "eval").exists()  # refused before anything is written


def test_the_simulated_default_records_nothing_and_an_old_checkpoint_passes(tmp_path: Path) -> None:
    default = load_config(None)
    assert default.data.path is None
    record, ckpt = DataRecord(default), {}
    record.on_save_checkpoint(None, None, ckpt)
    assert ckpt == {}  # the default cohort is made again from its seed and config, which --resume compares
    data = tmp_path / "lab.h5"
    data.write_bytes(b"one cohort")
    on_file = load_config(None, [f"data.path={data}"])
    path, words = on_file.data.path, {"since": "then", "remedy": "restore it"}
    check_same_data(None, path, **words)  # a checkpoint from before the record: nothing to compare
    check_same_data(file_sha256(data), path, **words)
    check_same_data("0" * 64, tmp_path / "gone.h5", **words)  # a missing file: its reader says so, not a hash error
    recorded = file_sha256(data)
    data.write_bytes(b"another cohort")
    with pytest.raises(DataError, match=r"lab\.h5: field 'data\.path': changed since then .*; restore it"):
        check_same_data(recorded, path, **words)
