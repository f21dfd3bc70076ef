"""Cohort summaries: the marginals a clinical data scientist checks first (and that the simulator must match)."""

from __future__ import annotations

import numpy as np

from abrnet.constants import CLASS_NAMES, WAVES
from abrnet.data.schema import ABRCohort
from abrnet.data.splits import SPLITS, Split


def describe_cohort(cohort: ABRCohort, split: Split | None = None) -> dict:
    """JSON-ready summary: counts, class fractions, static marginals, label rates (per split if given)."""
    age = cohort.static_column("age_years")
    fmp = cohort.static_column("fmp")
    n = cohort.n_records
    counts = np.bincount(cohort.class_id[cohort.class_id >= 0], minlength=len(CLASS_NAMES))
    labelled = np.isfinite(cohort.latency_ms)
    ears = cohort.ear_key
    _, ear_first = np.unique(ears, return_index=True)
    out: dict = {
        "n_records": n,
        "n_patients": int(len(np.unique(cohort.patient_id))),
        "n_ears": int(len(ear_first)),
        "n_samples": cohort.n_samples,
        "sampling_rate_hz": cohort.sampling_rate_hz,
        "t0_ms": cohort.t0_ms,
        "has_clean": cohort.clean is not None,
        "class_count": {c: int(k) for c, k in zip(CLASS_NAMES, counts, strict=True)},
        "class_fraction": {c: float(k / max(n, 1)) for c, k in zip(CLASS_NAMES, counts, strict=True)},
        "age_years": {"median": _f(np.median(age)), "mean": _f(age.mean())},
        "intensity_db": {
            "mean": _f(cohort.static_column("intensity_db").mean()),
            "min": _f(cohort.static_column("intensity_db").min()),
            "max": _f(cohort.static_column("intensity_db").max()),
        },
        "stimulus_rate_hz": {"median": _f(np.median(cohort.static_column("stimulus_rate_hz")))},
        "fmp": {"median": _f(np.median(fmp)), "mean": _f(fmp.mean()), "frac_above_3": _f((fmp > 3).mean())},
        "label_rate": {w: _f(labelled[:, j].mean()) for j, w in enumerate(WAVES)},
        "no_response_ear_fraction": _f(cohort.no_response[ear_first].mean()),
        "threshold_db": {
            "mean_measurable": _f(np.nanmean(cohort.threshold_db)) if np.isfinite(cohort.threshold_db).any() else None
        },
    }
    if split is not None:
        out["splits"] = {}
        for name in SPLITS:
            idx = split[name]
            cls = cohort.class_id[idx]
            out["splits"][name] = {
                "n_records": int(len(idx)),
                "n_patients": int(len(np.unique(cohort.patient_id[idx]))),
                "class_count": {
                    c: int(k) for c, k in zip(CLASS_NAMES, np.bincount(cls[cls >= 0], minlength=5), strict=True)
                },
            }
    return out


def _f(x: float) -> float:
    return float(np.round(float(x), 6))
