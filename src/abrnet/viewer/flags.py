"""Final values that must not be read as they look: a stored threshold correction that today's rules would not take,
and the waves of an ear whose final call is "no response".

Corrections are an append-only audit trail (`abrnet.viewer.store`), so rows written by an older viewer stay and are
read with today's reading. Three kinds no longer say what a final column claims, and each gets a flag and a one-line
note (the ear's ``threshold_flag`` / ``threshold_note``; the CSV's ``ear_threshold_status`` / ``ear_threshold_note``):

* `POOLED`: a threshold corrected on an ear before its series were split by stimulus (stored stimulus NULL/"") where
  the ear is now two or more series. Which series it meant cannot be told, so it is applied to none; every series
  of the ear shows it with the note (before, it vanished from page and CSV, listed only in the history).
* `ABOVE_MAX`: a corrected threshold above the ear's loudest tested level (an older viewer let the line go one step
  higher; the server now refuses it with 422). Nothing was measured there, so it is no measured threshold: exported
  without a number, "above the tested levels", the final call "no response" (what such a value meant before the
  "no response" mark existed).
* `BELOW_MIN`: a corrected threshold below the ear's softest tested level (accepted on purpose, one level step
  down: experts report "≤ 0 dB"). It is an extrapolation, not a measured level: exported with the flag and a note
  reading it as "≤ softest level".

A fourth kind has no ear to sit on: a threshold correction (or "no response" mark) naming a patient and ear the file's
reading does not hold (`unmatched_note`). An earlier viewer re-pointed a file to the name of its latest upload, and a
device export's patient id is its file name, so a store it wrote may keep such rows; they are listed in the file's
warnings (page and PDF) instead of vanishing from everything but the history.

Why flags beside the page's ``status`` rather than new statuses in it: the page's script decides what it shows and
what it sends back as "what the page showed" (`abrnet.viewer.marks`) from ``status`` and ``threshold_db``, which must
keep naming what is stored for the target, or the next correction of it would be refused as stale (409).
"""

from __future__ import annotations

from typing import Any

from abrnet.constants import LEVEL_TOL_DB

POOLED = "pooled_correction_not_applied"
ABOVE_MAX = "corrected_above_max_level"
BELOW_MIN = "corrected_below_min_level"
MODEL_NO_RESPONSE = "model_no_response"  # a wave's final status in an ear the model calls "no response"
EAR_NO_RESPONSE = "ear_no_response"  # a wave's final status in an ear an expert made "no response"


def pooled_flag(c: Any) -> tuple[str, str]:
    """(`POOLED`, its note) for the ear's correction `c` stored before the ear was split by stimulus."""
    what = "marked 'no response'" if c.mark else f"threshold corrected to {c.value:g} dB"
    return POOLED, (
        f"{what} by {c.user} at {c.created_at} on the pooled ear {c.patient_id}/{c.ear} before it was split by "
        "stimulus: not applied to any series; re-apply it to one series"
    )


def unmatched_note(c: Any) -> str:
    """The warning for an ear's correction `c` whose patient and ear the reading holds no series of."""
    what = "marked 'no response'" if c.mark else f"threshold corrected to {c.value:g} dB"
    return (
        f"{what} by {c.user} at {c.created_at} on ear {c.patient_id}/{c.ear}, which this reading does not hold (the "
        "file was stored under another name since; a device export's patient id is its file name): not applied; "
        "re-apply it to this file's ear"
    )


def range_flag(ear: dict[str, Any], value: float) -> tuple[str | None, str | None]:
    """(`ABOVE_MAX` or `BELOW_MIN`, its note) where a corrected threshold `value` lies outside the ear's tested
    levels (``max_level_db`` / ``min_level_db``), else (None, None)."""
    top, bottom, unit = ear.get("max_level_db"), ear.get("min_level_db"), ear.get("level_unit") or "dB"
    if top is not None and value > top + LEVEL_TOL_DB:
        return ABOVE_MAX, (
            f"corrected to {value:g} {unit}, above the loudest tested level {top:g} {unit}: nothing was measured "
            f"there, so it reads as no response up to {top:g} {unit}, not a measured threshold; set a tested level "
            "or mark the ear 'no response'"
        )
    if bottom is not None and value < bottom - LEVEL_TOL_DB:
        return BELOW_MIN, (
            f"corrected to {value:g} {unit}, below the softest tested level {bottom:g} {unit}: an extrapolation, "
            f"read it as threshold ≤ {bottom:g} {unit}"
        )
    return None, None


def final_wave_status(ear: dict[str, Any] | None) -> str | None:
    """The final status of the uncorrected waves of a series whose final call is "no response" (`MODEL_NO_RESPONSE`
    where that is the model's call, `EAR_NO_RESPONSE` where an expert's correction made it so), else None.

    Why: their model latencies are no waves of an ear reported as not responding; a reader of the final columns
    got wave V latencies for it. The model's values stay in their own (non-final) columns."""
    if ear is None or ear.get("final_response", ear.get("response")) != "no response":
        return None
    return MODEL_NO_RESPONSE if ear.get("status") in (None, "model") else EAR_NO_RESPONSE
