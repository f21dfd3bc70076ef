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


def series_stimulus(cohort: ABRCohort) -> np.ndarray:
    """(N,) the stimulus that tells a record's series apart from the other series of its ear: its `stimulus_labels`
    text where the ear holds more than one stated stimulus, "" where the ear holds one (its series is the ear).

    An unstated stimulus ("unknown": a file without a stimulus column merged with one that has it) counts as none:
    beside one stated stimulus its records are that series (split off, an ear's click rows read "no response" and
    its unstated rows "response" at 50 dB: hunt 15 #3); beside two or more they form a series of their own."""
    labels = stimulus_labels(cohort)  # (N,) "click", "tone_pip 8000 Hz", "unknown"
    ears = cohort.ear_key.astype(str)  # (N,)
    stated = labels != UNKNOWN  # an unstated stimulus is no stimulus of its own: it joins an ear's one stated one
    pairs = np.unique(np.stack([ears[stated], labels[stated]], axis=1), axis=0) if stated.any() else np.zeros((0, 2))
    distinct_ears, n_stimuli = np.unique(pairs[:, 0], return_counts=True)
    mixed = set(distinct_ears[n_stimuli > 1].tolist())
    if not mixed:
        return np.full(cohort.n_records, "").astype(str)
    return np.where(np.isin(ears, list(mixed)), labels, "").astype(str)


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
