"""Splits are patient-disjoint, stratified and deterministic; normalisation sees train only."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from abrnet.data.normalizer import Normalizer
from abrnet.data.schema import DataError
from abrnet.data.splits import split_patients
from abrnet.training.datamodule import ABRDataModule
from tests.conftest import make_toy_cohort


def test_no_patient_in_two_splits_and_all_records_assigned() -> None:
    cohort = make_toy_cohort(n_patients=40)
    split = split_patients(cohort, seed=3)
    sets = [set(cohort.patient_id[split[name]]) for name in ("train", "val", "test")]
    assert not (sets[0] & sets[1]) and not (sets[0] & sets[2]) and not (sets[1] & sets[2])
    all_idx = np.sort(np.concatenate([split.train, split.val, split.test]))
    np.testing.assert_array_equal(all_idx, np.arange(cohort.n_records))


def test_split_is_deterministic_by_seed_and_changes_with_it() -> None:
    cohort = make_toy_cohort(n_patients=40)
    a, b, c = (split_patients(cohort, seed=s) for s in (1, 1, 2))
    np.testing.assert_array_equal(a.test, b.test)
    assert not np.array_equal(a.test, c.test)


def test_every_class_reaches_test_and_val() -> None:
    cohort = make_toy_cohort(n_patients=40)  # 8 patients per class
    split = split_patients(cohort, seed=0, val_fraction=0.1, test_fraction=0.15)
    for name in ("val", "test"):
        assert set(np.unique(cohort.class_id[split[name]])) == {0, 1, 2, 3, 4}


def test_bad_fractions_rejected() -> None:
    with pytest.raises(ValueError, match="< 1"):
        split_patients(make_toy_cohort(), seed=0, val_fraction=0.5, test_fraction=0.6)


def test_normaliser_fitted_on_train_only_and_invertible() -> None:
    cohort = make_toy_cohort(n_patients=30)
    dm = ABRDataModule(cohort, seed=0, batch_size=8)
    train = cohort.subset(dm.split.train)
    ref = Normalizer.fit(train)
    assert dm.normalizer.signal_scale == pytest.approx(ref.signal_scale)
    full = Normalizer.fit(cohort)
    cohort.signals[dm.split.test] *= 100.0  # test data must not move the statistics
    assert ABRDataModule(cohort, seed=0).normalizer.signal_scale == pytest.approx(ref.signal_scale)
    assert full.signal_scale != pytest.approx(Normalizer.fit(cohort).signal_scale)
    z = dm.normalizer.static(train.static)
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(dm.normalizer.static_to_physical(z), train.static, rtol=1e-4, atol=1e-3)
    assert Normalizer.from_dict(dm.normalizer.to_dict()) == dm.normalizer


def test_loaders_yield_normalised_batches_with_nan_labels_kept() -> None:
    dm = ABRDataModule(make_toy_cohort(n_patients=30), seed=0, batch_size=8)
    batch = next(iter(dm.train_dataloader()))
    assert batch["signal"].shape == (8, 200) and batch["static"].shape == (8, 4)
    assert batch["latency"].shape == (8, 3) and batch["clean"].shape == (8, 200)
    assert batch["latency"][:, 0].isnan().all()  # toy data never labels wave I
    n_val = sum(len(b["signal"]) for b in dm.val_dataloader())
    assert n_val == len(dm.split.val)


def test_training_extra_joins_train_only_and_leaves_val_and_test_where_they_were() -> None:
    """`data.balanced_train_patients`: extra patients are appended to the training split; the validation and test
    records (and so every reported figure's split) are the same records as without them."""
    cohort = make_toy_cohort(n_patients=40)
    extra = make_toy_cohort(n_patients=10).with_patient_prefix("X")
    plain = ABRDataModule(cohort, seed=4)
    grown = ABRDataModule(cohort, seed=4, train_extra=extra)
    for name in ("val", "test"):
        np.testing.assert_array_equal(grown.part(name).signals, plain.part(name).signals)
    assert grown.split.train.size == plain.split.train.size + extra.n_records
    np.testing.assert_array_equal(grown.part("train").signals[-extra.n_records :], extra.signals)
    assert set(extra.patient_id) <= set(grown.part("train").patient_id)


def test_concat_refuses_shared_patient_ids() -> None:
    cohort = make_toy_cohort(n_patients=5)
    with pytest.raises(DataError, match="share patient ids"):
        cohort.concat(make_toy_cohort(n_patients=5))
    both = cohort.concat(make_toy_cohort(n_patients=5).with_patient_prefix("B"))  # a prefix keeps them apart
    assert both.n_records == 2 * cohort.n_records
    assert len(np.unique(both.patient_id)) == 2 * len(np.unique(cohort.patient_id))


def test_every_path_reads_records_centred_so_an_offset_changes_no_reading() -> None:
    """Training batches and `predict_cohort` (validation's and `abrnet evaluate`'s path) read each record with its
    mean removed; the clean targets keep theirs. A model that can read a record's mean learns that a response lifts
    it, and a constant offset then moves thresholds (stop 39)."""
    from abrnet.inference.predictor import predict_cohort
    from abrnet.models.config import ModelConfig
    from abrnet.models.unet import OptimizedHierarchicalUNet

    cohort = make_toy_cohort(n_patients=12)
    dm = ABRDataModule(cohort, seed=0, batch_size=8)
    batch = next(iter(dm.train_dataloader()))
    np.testing.assert_allclose(batch["signal"].mean(dim=-1).numpy(), 0.0, atol=1e-5)
    assert batch["clean"].mean(dim=-1).abs().max() > 1e-3  # targets as simulated: the diffusion generates them
    torch.manual_seed(0)
    model = OptimizedHierarchicalUNet(ModelConfig.from_preset("tiny")).eval()
    shifted = cohort.subset(np.arange(cohort.n_records))
    shifted.signals = shifted.signals + np.float32(0.3)  # µV on every sample
    kw = {"with_denoise": False, "with_reconstruction": False}
    a = predict_cohort(model, cohort, dm.normalizer, **kw)
    b = predict_cohort(model, shifted, dm.normalizer, **kw)
    np.testing.assert_allclose(a.peak_presence_prob, b.peak_presence_prob, atol=1e-4)
    np.testing.assert_allclose(a.threshold_db, b.threshold_db, atol=1e-3)
