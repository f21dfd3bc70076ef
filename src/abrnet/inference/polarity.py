"""Does an ear read as a response only with its sign flipped? A warning for exports that may be vertex-negative.

Why: the model learnt vertex-positive waves. A trace exported inverted (waves as troughs, swapped electrodes, a
device that plots vertex-negative up) read as "no response" for 3 of 4 hearing ears, with nothing to tell the user
(hunt 8, #5); `--invert` reads such a file once the user knows. This check tells them: an ear whose loudest records
read as a clear wave V with every sample negated (mean p(V) ≥ `FLIPPED_MIN`) and as a much weaker one as recorded
(at least `FLIPPED_GAIN` lower) is named in one warning. It warns and never changes a reading: the sign of a
recording is the user's to decide. Why a gain and not "no V as recorded": an inverted ABR often still reads as a V
(the trough after wave V, flipped, is a peak), so the former rule (as recorded < 0.4, flipped ≥ 0.7) named only
40–43 % of inverted hearing ears. Rates (`benchmarks/results/polarity_check.md`, 1,000 ears of each of two fresh
simulated cohorts; the two bounds chosen on two other seeds, where no correctly signed ear came within 0.11 of
passing both): one false alarm in 2,000 correctly signed ears (and one in the 40 of ``simulate --seed 0``: advice,
not proof), and on the same ears inverted it names most hearing ears of each class (none of the deaf ones), so a
whole inverted file is hard to miss and a single inverted ear usually named.

Only records of the trained stimulus and species are judged (`judged_records`): a chirp or a mouse tone pip reads
as no human click response either way round, and the check named a chirp ear of a real export "inverted" (fixture
ABR-703-18) while the domain column already says its readings are extrapolations. Metadata a file does not state
(``unknown``) is judged: a plain CSV of human clicks states neither.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from abrnet.constants import WAVES
from abrnet.data.grouping import group_indices
from abrnet.data.metadata import SIMULATED, SPECIES, STIMULUS, UNKNOWN, metadata_of
from abrnet.data.schema import ABRCohort
from abrnet.models.predictions import Predictions

TOP_LEVELS_DB = 20.0  # the ear's loudest records: those within this many dB of its highest level
MIN_RECORDS = 2  # an ear with fewer loudest records is not judged: one noise record flipped can read as a V
FLIPPED_MIN = 0.6  # mean p(V) there at least this with the sign flipped: a clear response inverted
FLIPPED_GAIN = 0.25  # and at least this much above the mean as recorded
MAX_NAMED_EARS = 5
INVERT_HINT = "read it again with --invert (Python: invert=True)"  # the viewer names its form's box instead
UNINVERT_HINT = "read it again without --invert (Python: invert=False)"  # the file was read inverted already
WAVE_V = WAVES.index("V")


def judged_records(cohort: ABRCohort) -> np.ndarray:
    """(N,) bool: records whose stimulus and species are the trained ones (click, human) or not stated."""
    meta = metadata_of(cohort.extras, cohort.n_records)
    judged = np.ones(cohort.n_records, bool)
    for key in (STIMULUS, SPECIES):
        value = meta[key].astype(str)
        judged &= (value == SIMULATED[key]) | (value == UNKNOWN)
    return judged


def flipped_ears(
    cohort: ABRCohort, pred: Predictions, predict: Callable[[ABRCohort], Predictions]
) -> list[tuple[str, float, float]]:
    """(ear key, mean p(V) as recorded, mean p(V) flipped) for each ear the rule names.

    ``pred``: the model's predictions for ``cohort`` as recorded; ``predict`` runs the same model on another cohort.
    Only the candidate ears' loudest records are run again, so the check costs a fraction of one prediction."""
    p_wave_v = pred.peak_presence_prob[:, WAVE_V]  # (N,)
    level = cohort.static_column("intensity_db")  # (N,)
    judged = judged_records(cohort)  # (N,)
    keys, groups = group_indices(cohort.ear_key)
    groups = [g[judged[g]] for g in groups]  # an ear with no judged record keeps an empty group
    tops = [g[level[g] >= level[g].max() - TOP_LEVELS_DB] if len(g) else g for g in groups]  # levels are finite
    candidates = [
        i for i, top in enumerate(tops) if len(top) >= MIN_RECORDS and p_wave_v[top].mean() <= 1.0 - FLIPPED_GAIN
    ]
    if not candidates:
        return []
    rows = np.concatenate([tops[i] for i in candidates])
    subset = cohort.subset(rows)
    flipped = replace(subset, signals=-subset.signals, buffers=None if subset.buffers is None else -subset.buffers)
    p_flipped = predict(flipped).peak_presence_prob[:, WAVE_V]  # (len(rows),)
    named, start = [], 0
    for i in candidates:
        n = len(tops[i])
        as_recorded, inverted = float(p_wave_v[tops[i]].mean()), float(p_flipped[start : start + n].mean())
        start += n
        if inverted >= FLIPPED_MIN and inverted - as_recorded >= FLIPPED_GAIN:
            named.append((str(keys[i]), as_recorded, inverted))
    return named


def polarity_warning(named: list[tuple[str, float, float]], *, inverted: bool = False) -> list[str]:
    """One warning line for the ears `flipped_ears` named (none when it named none). ``inverted``: the input was
    read with ``--invert`` already, so the advice is to read it as recorded (hunt 13: it said "use --invert" to a
    user who had, for an ordinary file)."""
    if not named:
        return []
    listed = ", ".join(f"{key} ({before:.2f} → {after:.2f})" for key, before, after in named[:MAX_NAMED_EARS])
    more = f" and {len(named) - MAX_NAMED_EARS} more" if len(named) > MAX_NAMED_EARS else ""
    read, advice = (
        ("as read with --invert", f"If the export already shows vertex-positive waves (peaks), {UNINVERT_HINT}")
        if inverted
        else ("as recorded", f"If the export shows vertex-negative waves (troughs), {INVERT_HINT}")
    )
    return [
        f"polarity: {len(named)} ear(s) read as a clear wave V at their loudest levels only with the sign flipped "
        f"(mean p(V) {read} → flipped): {listed}{more}. {advice}"
    ]
