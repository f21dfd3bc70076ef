"""Patient-disjoint, class-stratified, seed-deterministic train/val/test splits.

The earlier public attempt split records, so one patient's series sat in train and test at once. Here whole
patients are assigned: a patient's stratum is the rarest class among its ears, and each stratum is split on its own
so that the minority classes reach every split.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from abrnet.constants import CLASS_NAMES
from abrnet.data.schema import ABRCohort

SPLITS: tuple[str, ...] = ("train", "val", "test")


@dataclass(frozen=True)
class Split:
    """Record indices per split (sorted int64 arrays)."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in SPLITS:
            raise KeyError(f"unknown split {name!r}; expected one of {', '.join(SPLITS)}")
        return getattr(self, name)


def patient_strata(cohort: ABRCohort) -> dict[str, int]:
    """Each patient's stratum: the rarest class (by record count) among its records, -1 if unlabelled."""
    counts = np.bincount(cohort.class_id[cohort.class_id >= 0], minlength=len(CLASS_NAMES))
    rarity = np.where(counts > 0, counts, np.iinfo(np.int64).max)
    strata: dict[str, int] = {}
    for pid, cls in zip(cohort.patient_id.astype(str), cohort.class_id, strict=True):
        cur = strata.get(pid, -1)
        if cls >= 0 and (cur < 0 or rarity[cls] < rarity[cur]):
            strata[pid] = int(cls)
        else:
            strata.setdefault(pid, cur)
    return strata


def split_patients(cohort: ABRCohort, *, seed: int, val_fraction: float = 0.1, test_fraction: float = 0.15) -> Split:
    """Assign whole patients to train/val/test, stratified by `patient_strata`, deterministically from `seed`."""
    if not (0.0 <= val_fraction < 1 and 0.0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ValueError(f"val_fraction + test_fraction must be < 1 (got {val_fraction} + {test_fraction})")
    strata = patient_strata(cohort)
    rng = np.random.default_rng(seed)
    assign: dict[str, int] = {}
    for stratum in sorted(set(strata.values())):
        patients = np.array(sorted(p for p, s in strata.items() if s == stratum))
        patients = patients[rng.permutation(len(patients))]
        n = len(patients)
        n_test = int(round(n * test_fraction))
        n_val = int(round(n * val_fraction))
        if n >= 3 and test_fraction > 0:  # a rare class still reaches test and val
            n_test = max(n_test, 1)
            n_val = max(n_val, 1) if val_fraction > 0 else 0
        for i, p in enumerate(patients):
            assign[p] = 2 if i < n_test else (1 if i < n_test + n_val else 0)
    which = np.array([assign[p] for p in cohort.patient_id.astype(str)])
    return Split(*(np.flatnonzero(which == k).astype(np.int64) for k in range(3)))
