"""Which intensity series a record belongs to: one patient's ear under one stimulus (type and tone frequency).

Why: a mouse file with 8 kHz and 16 kHz tone pips at one ear is two intensity series, each with its own threshold,
as an audiologist or EPL's ABR peak analysis reads them; grouping by ear alone gave one threshold for both. The
stimulus *rate* stays pooled: a click series may mix rates, and the simulator switches a few records of an ear to
another rate on purpose (`abrnet.inference.inputs.mixed_series_warnings` says so instead).

The key is backward compatible: where an ear holds one stimulus it is exactly `ABRCohort.ear_key` ("patient/ear"),
so every simulated (all click) cohort groups as before and saved viewer sessions keep their keys; only an ear with
more than one stimulus gets "patient/ear, <stimulus>" (``P1/L, tone_pip 8000 Hz``), as the waterfalls of unlabelled
series name them. An inverted electrode or an amplifier offset belongs to the ear's session, not to one stimulus:
`abrnet.inference.polarity` and `abrnet.data.baseline` keep grouping by ear.
"""

from __future__ import annotations

import numpy as np

from abrnet.data.describe import stimulus_labels
from abrnet.data.metadata import UNKNOWN
from abrnet.data.schema import ABRCohort

SERIES_SEPARATOR = ", "  # between the ear key and the stimulus of an ear that holds more than one


def series_labels(cohort: ABRCohort) -> tuple[np.ndarray, np.ndarray]:
    """(N,) the stimulus of each record's series and (N,) bool whether its ear holds more than one stated stimulus.

    A record's series stimulus is its `stimulus_labels` text, except that an unstated one ("unknown": a file without
    a stimulus column merged with one that has it) counts as none: beside one stated stimulus its records belong to
    that series and carry its label (split off, an ear's click rows read "no response" and its unstated rows
    "response" at 50 dB: hunt 15 #3); beside two or more they form an "unknown" series of their own. The series
    table's ``stimulus`` and the patients table's per-stimulus comparison read the same labels."""
    labels = stimulus_labels(cohort)  # (N,) "click", "tone_pip 8000 Hz", "unknown"
    ears = cohort.ear_key.astype(str)  # (N,)
    stated = labels != UNKNOWN
    pairs = np.unique(np.stack([ears[stated], labels[stated]], axis=1), axis=0) if stated.any() else np.zeros((0, 2))
    distinct, first, n_stimuli = np.unique(pairs[:, 0], return_index=True, return_counts=True)  # (P, 2) → ears
    single, single_label = distinct[n_stimuli == 1], pairs[first[n_stimuli == 1], 1]  # ears with one stated stimulus
    out = labels
    if single.size:  # a sorted lookup of each record's ear, not a loop per ear (files of 50k records)
        at = np.minimum(np.searchsorted(single, ears), single.size - 1)  # (N,)
        out = np.where(single[at] == ears, single_label[at], labels).astype(str)
    return out, np.isin(ears, distinct[n_stimuli > 1])


def series_stimulus(cohort: ABRCohort) -> np.ndarray:
    """(N,) the stimulus that tells a record's series apart from the other series of its ear: its series label
    (`series_labels`) where the ear holds more than one stated stimulus, "" where it holds one (its series is the
    ear)."""
    labels, mixed = series_labels(cohort)
    return np.where(mixed, labels, "").astype(str)


def join_series_key(ear_key: str, stimulus: str) -> str:
    """A series key from an ear key and its `series_stimulus` ("" → the ear key itself)."""
    return f"{ear_key}{SERIES_SEPARATOR}{stimulus}" if stimulus else ear_key


def series_keys(cohort: ABRCohort) -> np.ndarray:
    """(N,) each record's series key: `ABRCohort.ear_key`, plus ", <stimulus>" where its ear holds more than one
    stimulus (`series_stimulus`). The one definition of an intensity series: every per-ear reading groups by it."""
    ears = cohort.ear_key.astype(str)  # (N,)
    stimulus = series_stimulus(cohort)  # (N,)
    if not stimulus.any():
        return ears
    return np.array([join_series_key(e, s) for e, s in zip(ears.tolist(), stimulus.tolist(), strict=True)]).astype(str)
