"""Serving cohorts to PyTorch: normalisation fitted on train only, a map-style Dataset, a Lightning DataModule."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from abrnet.data.fmp import noise_trace
from abrnet.data.normalizer import Normalizer
from abrnet.data.schema import ABRCohort
from abrnet.data.splits import Split, split_patients


class ABRTensorDataset(Dataset):
    """One item per record: a dict of tensors (normalised signal/static, physical-unit labels)."""

    def __init__(self, cohort: ABRCohort, norm: Normalizer) -> None:
        self.tensors: dict[str, torch.Tensor] = {
            "signal": torch.from_numpy(norm.recording(cohort.signals)),  # (N, T) centred
            "static": torch.from_numpy(norm.static(cohort.static)),  # (N, 4)
            "latency": torch.from_numpy(cohort.latency_ms.astype(np.float32)),  # (N, 3) ms, NaN = absent
            "amplitude": torch.from_numpy(cohort.amplitude_uv.astype(np.float32)),  # (N, 3) µV
            "class_id": torch.from_numpy(cohort.class_id.astype(np.int64)),  # (N,)
            "threshold": torch.from_numpy(cohort.threshold_db.astype(np.float32)),  # (N,) dB
            "no_response": torch.from_numpy(cohort.no_response.astype(np.float32)),  # (N,)
            "index": torch.arange(cohort.n_records),
        }
        if cohort.clean is not None:
            self.tensors["clean"] = torch.from_numpy(norm.signal(cohort.clean))
        if cohort.buffers is not None:  # the recording's own noise, (A - B)/2: a waveless negative for training
            noise = noise_trace(cohort.buffers[:, 0], cohort.buffers[:, 1])
            self.tensors["noise_only"] = torch.from_numpy(norm.recording(noise))

    def __len__(self) -> int:
        return int(self.tensors["signal"].shape[0])

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {k: v[i] for k, v in self.tensors.items()}


class StepSampler(Sampler[int]):
    """Training order as a function of (seed, global step): a resumed run continues exactly where it stopped.

    The whole run is one pass over `total_steps` batches drawn from consecutive seeded permutations (incomplete
    last batches dropped); `start_step()` (the trainer's global step at iteration time) says where to begin.
    """

    def __init__(
        self, n: int, batch_size: int, seed: int, total_steps: int, start_step: Callable[[], int] = lambda: 0
    ) -> None:
        self.n, self.batch_size, self.seed, self.total_steps = n, batch_size, seed, total_steps
        self.per_epoch = max(1, n // batch_size) * batch_size if n >= batch_size else n
        self.start_step = start_step

    def _perm(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, epoch]).permutation(self.n)[: self.per_epoch]

    def __iter__(self):
        start = int(self.start_step()) * self.batch_size
        epoch, perm = -1, None
        for i in range(start, self.total_steps * self.batch_size):
            e, pos = divmod(i, self.per_epoch)
            if e != epoch:
                epoch, perm = e, self._perm(e)
            yield int(perm[pos])

    def __len__(self) -> int:
        return max(0, self.total_steps * self.batch_size - int(self.start_step()) * self.batch_size)


class ABRDataModule(L.LightningDataModule):
    """Patient-disjoint splits of one cohort, normalised with train-only statistics."""

    def __init__(
        self,
        cohort: ABRCohort,
        *,
        seed: int,
        batch_size: int = 64,
        val_fraction: float = 0.1,
        test_fraction: float = 0.15,
        num_workers: int = 0,
        normalizer: Normalizer | None = None,
        train_extra: ABRCohort | None = None,
    ) -> None:
        super().__init__()
        self.split: Split = split_patients(cohort, seed=seed, val_fraction=val_fraction, test_fraction=test_fraction)
        if train_extra is not None:  # appended after the cohort: val/test indices (and so the splits) do not move
            extra = np.arange(cohort.n_records, cohort.n_records + train_extra.n_records)
            cohort = cohort.concat(train_extra)
            self.split = Split(np.concatenate([self.split.train, extra]), self.split.val, self.split.test)
        self.cohort, self.seed, self.batch_size, self.num_workers = cohort, seed, batch_size, num_workers
        self.normalizer = normalizer or Normalizer.fit(cohort.subset(self.split.train))
        self._datasets: dict[str, ABRTensorDataset] = {}
        self.total_steps: int | None = None  # set for training: the run is one seeded pass of this many batches

    @classmethod
    def from_file(cls, path: str | Path, **kwargs: Any) -> ABRDataModule:
        from abrnet.data.io import load_cohort

        return cls(load_cohort(path), **kwargs)

    def part(self, name: str) -> ABRCohort:
        return self.cohort.subset(self.split[name])

    def dataset(self, name: str) -> ABRTensorDataset:
        if name not in self._datasets:
            self._datasets[name] = ABRTensorDataset(self.part(name), self.normalizer)
        return self._datasets[name]

    def _loader(self, name: str, shuffle: bool) -> DataLoader:
        gen = torch.Generator().manual_seed(self.seed)
        return DataLoader(
            self.dataset(name),
            batch_size=self.batch_size,
            shuffle=shuffle,
            drop_last=shuffle and len(self.dataset(name)) > self.batch_size,
            num_workers=self.num_workers,
            generator=gen if shuffle else None,
        )

    def train_dataloader(self) -> DataLoader:
        if self.total_steps is None:
            return self._loader("train", shuffle=True)
        trainer = self.trainer
        sampler = StepSampler(
            len(self.dataset("train")),
            self.batch_size,
            self.seed,
            self.total_steps,
            start_step=(lambda: trainer.global_step) if trainer is not None else (lambda: 0),
        )
        return DataLoader(
            self.dataset("train"),
            batch_size=self.batch_size,
            sampler=sampler,
            drop_last=True,
            num_workers=self.num_workers,
        )

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)


__all__ = ["ABRDataModule", "ABRTensorDataset", "StepSampler"]
