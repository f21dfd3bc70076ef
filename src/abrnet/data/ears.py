"""Which ear a record is, as every reader decides it: the accepted spellings, the ear assumed where a file names
none, and the one case where that assumption is refused.

Why one module: the wide CSV (`abrnet.data.csv_io`) and the device importers (`abrnet.data.importers._common`)
once wrote these rules each in their own words, and the CSV refused "Left" that a device header's ``Left`` and
``--ear Left`` read as L. `abrnet.data.schema.ears_assumed` reads the marks set here back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

# How files and users spell an ear (upper-cased): anything else ("X", "Lunch") is refused, not cut to its letter.
EAR_SPELLINGS: dict[str, str] = {"L": "L", "R": "R", "LEFT": "L", "RIGHT": "R"}
# The ear a record gets when its file names none; always marked assumed, never taken for a recorded right ear.
ASSUMED_EAR = "R"


def ear_of(text: str) -> str | None:
    """``"L"`` or ``"R"`` for a spelling in `EAR_SPELLINGS` (case and surrounding spaces ignored), None for any other
    text (the caller reports it where the user can fix it: cell, header line or option)."""
    return EAR_SPELLINGS.get(text.strip().upper())


def assume_ears(ears: Sequence[str]) -> tuple[np.ndarray, dict[str, int], dict[str, np.ndarray]]:
    """(N,) ears with each empty one ("": not recorded) read as `ASSUMED_EAR`, and the marks that say so.

    Returns ``(ears, attrs, extras)``: ``attrs`` holds ``ear_unknown = 1`` where any ear is assumed; ``extras`` holds
    the per-record ``attr_ear_unknown`` (1 assumed, NaN recorded) only where some are and some are not, so a file
    that names no ear keeps one file-wide mark and the recorded ears of a mixed file stay recorded.
    """
    given = np.array(ears, dtype=str)
    blank = given == ""
    attrs = {"ear_unknown": 1} if blank.any() else {}
    extras = {"attr_ear_unknown": np.where(blank, 1.0, np.nan)} if blank.any() and not blank.all() else {}
    return np.where(blank, ASSUMED_EAR, given), attrs, extras


def recorded_ears(
    patient_id: Sequence[str] | np.ndarray, ear: Sequence[str] | np.ndarray, assumed: np.ndarray
) -> dict[str, set[str]]:
    """Each patient's recorded ears (those not ``assumed``), for `unassumable`."""
    out: dict[str, set[str]] = {}
    for pid, e, guess in zip(patient_id, ear, assumed, strict=True):
        if not guess:
            out.setdefault(str(pid), set()).add(str(e))
    return out


def unassumable(
    patient_id: Sequence[str] | np.ndarray, assumed: np.ndarray, recorded: Mapping[str, set[str]]
) -> np.ndarray:
    """Indices of the ``assumed`` ears whose patient has a recorded ear in ``recorded`` (`recorded_ears` of the same
    file, or of another file of the same patient): each is an error for the caller to report.

    Why: an assumed "R" beside a recorded R pooled the two ears' records as one series (one threshold for a normal
    and a deaf ear), and beside a recorded L it may be that ear's replicate, compared with it as "right". Only a
    patient with no recorded ear anywhere is safe to assume."""
    return np.array(
        [i for i, (pid, guess) in enumerate(zip(patient_id, assumed, strict=True)) if guess and str(pid) in recorded],
        dtype=np.int64,
    )
