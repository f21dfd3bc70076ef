"""The model abrnet ships: current with the code, small, and used by `abrnet predict` when no checkpoint is given."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from abrnet.cli.main import app
from abrnet.inference.checkpoint import load_checkpoint
from abrnet.inference.default_model import (
    DEFAULT_CARD,
    DEFAULT_CHECKPOINT,
    code_versions,
    export_checkpoint,
    recorded_versions,
)
from abrnet.inference.inputs import read_many
from tests.conftest import require_fixture
from tests.test_reader_contract import FIXTURES

runner = CliRunner()
CLI_OPTS = ["--age", "1.0", "--rate", "21", "--level", "80"]  # what the device files do not state
READ_OPTS = {"age_years": 1.0, "stimulus_rate_hz": 21.0, "level_db": 80.0}  # the same, as reader options


def test_shipped_model_is_trained_on_this_simulator_and_architecture() -> None:
    """Fails when the simulator or the network changes and the shipped weights were not retrained (README)."""
    assert DEFAULT_CHECKPOINT.exists(), f"{DEFAULT_CHECKPOINT} missing: retrain and export it (README, Default model)"
    assert recorded_versions(DEFAULT_CHECKPOINT) == code_versions()
    assert DEFAULT_CHECKPOINT.stat().st_size < 10e6  # a slim copy: weights, config, series stage
    loaded = load_checkpoint(DEFAULT_CHECKPOINT)
    assert loaded.series_model is not None and loaded.config.model.preset == "cpu"
    assert DEFAULT_CARD.exists() and '"headline"' in DEFAULT_CARD.read_text()


@pytest.mark.parametrize(("fmt", "make"), [f[1:] for f in FIXTURES], ids=[f[0] for f in FIXTURES])
def test_predict_without_checkpoint_reads_every_format(fmt: str, make, tmp_path: Path) -> None:
    path = require_fixture(make(tmp_path))  # a file in ../shared/fixtures, or one written here
    out = tmp_path / "r.csv"
    res = runner.invoke(app, ["predict", str(path), "--out", str(out), *([] if fmt in ("h5", "csv") else CLI_OPTS)])
    assert res.exit_code == 0, res.output
    with out.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    # one row per record read (the reading path predict uses, with the same options), each naming its patient and ear
    cohort, _ = read_many([path], **({} if fmt in ("h5", "csv") else READ_OPTS))
    assert len(rows) == cohort.n_records > 0
    assert Counter((r["patient_id"], r["ear"]) for r in rows) == Counter(
        zip(cohort.patient_id.astype(str), cohort.ear.astype(str), strict=True)
    )
    assert {r["ear"] for r in rows} <= {"L", "R"} and all(r["patient_id"] for r in rows)
    p_v = np.array([float(r["V_presence_prob"]) for r in rows])
    assert np.all((p_v >= 0) & (p_v <= 1))


def test_export_writes_a_slim_loadable_copy(tiny_run: dict, tmp_path: Path) -> None:
    src = tiny_run["dir"] / "best.ckpt"
    dst = export_checkpoint(src, tmp_path / "m.ckpt", card={"command": "test"})
    assert recorded_versions(dst) == code_versions() and recorded_versions(src) == {}
    assert dst.stat().st_size < src.stat().st_size  # no optimizer state
    full, slim = load_checkpoint(src), load_checkpoint(dst)
    for (k, a), (_, b) in zip(full.model.state_dict().items(), slim.model.state_dict().items(), strict=True):
        assert torch.equal(a, b), k
    assert slim.series_model is not None
    with pytest.raises(FileExistsError, match="--force"):
        export_checkpoint(src, dst)
    fresh = tmp_path / "fresh.ckpt"
    fresh.with_suffix(".json").write_text("{}")  # only the card exists: refused before the checkpoint is written
    with pytest.raises(FileExistsError, match=r"fresh\.json"):
        export_checkpoint(src, fresh, card={"command": "test"})
    assert not fresh.exists()


def test_re_exporting_a_slim_checkpoint_keeps_its_card_and_takes_the_new_evaluation(
    tiny_run: dict, tmp_path: Path
) -> None:
    """The shipped model's series stage is refitted and re-evaluated from its slim file: the new card must keep how
    the weights were trained and carry the new figures, with how they were made."""
    import json

    first, second = tmp_path / "first.ckpt", tmp_path / "second.ckpt"
    metrics = tmp_path / "metrics.json"

    def evaluated(path: Path, **sections: object) -> None:  # as `abrnet evaluate` writes them, of `path`'s model
        metrics.write_text(json.dumps({**sections, "model_content_sha256": load_checkpoint(path).model_content_sha256}))

    evaluated(tiny_run["dir"] / "best.ckpt", headline={"network": {"f1": 0.5}}, training={"steps": 7})
    args = ["model", "export", str(tiny_run["dir"] / "best.ckpt"), "--out", str(first), "--metrics", str(metrics)]
    assert runner.invoke(app, [*args, "--command", "abrnet train X"]).exit_code == 0
    evaluated(first, headline={"network": {"f1": 0.6}})  # a re-evaluation of the slim copy has no training section
    res = runner.invoke(
        app, ["model", "export", str(first), "--out", str(second), "--metrics", str(metrics), "--evaluated", "refit"]
    )
    assert res.exit_code == 0, res.output
    card = json.loads(second.with_suffix(".json").read_text())
    assert card["source"] == str(tiny_run["dir"] / "best.ckpt") and card["command"] == "abrnet train X"
    assert card["training"] == {"steps": 7} and card["evaluated"] == "refit"
    assert card["headline"] == {"network": {"f1": 0.6}} and card["versions"] == code_versions()
    assert load_checkpoint(second).series_model is not None


def test_an_ears_series_reading_does_not_depend_on_the_other_patients_read_with_it() -> None:
    """One file of several patients, then each patient alone, through the shipped model's series stage: every ear's
    class, call, threshold and CM cue are the same (hunt 48: with the CM whitener pooled over the input, 8 of 30 ears
    of one file changed class; the per-record network outputs differ by float noise only, ~1e-7)."""
    import abrnet
    from abrnet.data.simulate import SimulationConfig, simulate_cohort

    cohort = simulate_cohort(SimulationConfig(n_patients=6, balanced=True, protocol="fixed"), seed=4848)
    model = abrnet.load()
    whole = model.predict(cohort, series=True).ears
    assert whole is not None and whole.n_ears == 12
    for patient in np.unique(cohort.patient_id):
        alone = model.predict(cohort.subset(cohort.patient_id == patient), series=True).ears
        rows = [whole.ear_key.tolist().index(key) for key in alone.ear_key.tolist()]
        assert len(rows) == 2
        np.testing.assert_allclose(alone.cm_log_snr, whole.cm_log_snr[rows], rtol=1e-9, atol=1e-12)
        np.testing.assert_array_equal(alone.predicted_class, whole.predicted_class[rows])
        np.testing.assert_array_equal(alone.threshold_db, whole.threshold_db[rows])
        np.testing.assert_array_equal(alone.response, whole.response[rows])
        np.testing.assert_allclose(alone.class_prob, whole.class_prob[rows], atol=1e-5)
