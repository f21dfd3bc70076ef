"""A correction request as the viewer's API takes it, checked against the reading it corrects (`correction_from`).

Kept apart from the routes (`abrnet.viewer.app`) because the checks are the rules a correction must meet: the
reading it was made on (age, options), the target it names, the order of the waves and the range of a threshold,
and a mark "none" (`abrnet.viewer.marks`) only on the target that can take it. Each failing check is one line.
"""

from __future__ import annotations

import math
from itertools import pairwise
from typing import Any

from fastapi import HTTPException
from pydantic import BaseModel, ConfigDict

from abrnet.constants import LEVEL_TOL_DB, WAVES
from abrnet.viewer.marks import ABSENT, NO_RESPONSE
from abrnet.viewer.store import Correction, utc_now


class CorrectionIn(BaseModel):
    """A correction sent by the page: a peak (record + wave) or an ear's threshold (patient_id + ear, and
    ``stimulus`` where the ear holds more than one series: the ear entry's ``series_stimulus`` or ``stimulus``).

    ``age_years`` is the ear's age as the page showed it (null where it showed none). It must be sent (a missing key
    is not read as null): only what the client saw can tell the server which reading the correction was made on.
    Strict types: a lax model read ``"record": true`` as record 1 and ``"value": "6"`` as 6 ms, silently correcting
    what the sender did not name; JSON numbers stay accepted (an integer where a float is expected too).

    ``absent`` (peaks) and ``no_response`` (thresholds) set the mark "none" (`abrnet.viewer.marks`), with ``value``
    null. ``expected_previous`` is what the page showed for the target (null: the model's value; the corrected
    number; "absent" / "no response"); when sent, a correction whose target was changed since is refused (409). An
    unknown key is refused (422): ``"absent": true`` was once silently ignored and stored as a revert.
    """

    model_config = ConfigDict(strict=True, extra="forbid")

    target: str
    value: float | None
    user: str = ""
    record: int | None = None
    wave: str = ""
    patient_id: str | None = None
    ear: str | None = None
    stimulus: str | None = None
    age_years: float | None = None
    reading_options: dict[str, bool | float | str] | None = None
    absent: bool = False
    no_response: bool = False
    expected_previous: float | str | None = None


USER_MAX_CHARS = 80  # a reviewer's name as stored and shown; the rest of a longer one is cut


def user_name(text: str) -> str:
    """Who did it, as stored: trimmed and at most `USER_MAX_CHARS`, or "anonymous". Why one function: a correction's
    user was cut to 80 characters but an uploader's was kept whole, and a 5,000-character name then filled every
    re-upload's warning line (hunt 50a #3)."""
    return text.strip()[:USER_MAX_CHARS] or "anonymous"


def correction_from(
    body: CorrectionIn, payload: dict[str, Any], view: dict[str, Any], model_id: tuple[str, str]
) -> Correction:
    """The `Correction` `body` asks for on the model's reading `payload` (`view`: the same with the corrections in
    force), or HTTPException 422/409 naming what is wrong. `model_id` is (model_sha256, checkpoint) of the reading."""
    user = user_name(body.user)
    for field in ("value", "age_years"):
        if getattr(body, field) is not None and not math.isfinite(getattr(body, field)):
            raise HTTPException(422, f"{field} must be a finite number or null, got {getattr(body, field)}")
    wrong = "no_response" if body.target == "peak" else "absent" if body.target == "threshold" else None
    if wrong and getattr(body, wrong):
        right = "absent (a wave)" if wrong == "no_response" else "no_response (an ear's threshold)"
        raise HTTPException(422, f"{wrong} does not apply to a {body.target} correction (use {right})")
    mark = ABSENT if body.absent else NO_RESPONSE if body.no_response else None
    if mark is not None and body.value is not None:
        raise HTTPException(422, f"a mark '{mark}' carries no value: send value null")
    if body.target == "peak":
        if body.record is None or not 0 <= body.record < payload["n_records"] or body.wave not in WAVES:
            raise HTTPException(422, "a peak correction needs a valid record index and wave (I, III or V)")
        rec = payload["records"][body.record]
        if body.value is not None and not payload["time_ms"][0] <= body.value <= payload["time_ms"][-1]:
            raise HTTPException(422, f"latency {body.value:g} ms is outside the recording window")
        model_value = rec["waves"][body.wave]["model_latency_ms"]
        ear = next((e for e in payload["ears"] if e["key"] == rec["ear_key"]), {"age_years": rec["age_years"]})
        check_age(ear, rec["ear_key"], body.age_years)
        marked = next((e for e in view["ears"] if e["key"] == rec["ear_key"]), {}).get("status")
        if marked == "corrected_no_response" and (mark is not None or body.value is not None):
            raise HTTPException(422, f"ear {rec['ear_key']} is marked 'no response': a wave there has no value to "
                                     "correct; undo the mark first (a correction may still be reverted)")  # fmt: skip
        if mark is None:
            check_wave_order(view["records"][body.record], body.wave, body.value, model_value)
        return Correction("peak", body.record, rec["patient_id"], rec["ear"], body.wave, body.value,
                          model_value, user, utc_now(), ear["age_years"], *model_id, mark=mark)  # fmt: skip
    if body.target == "threshold":
        if body.patient_id is None or body.ear is None:
            raise HTTPException(422, "a threshold correction needs the ear's patient_id and ear")
        ear = threshold_series(payload, body.patient_id, body.ear, body.stimulus)
        check_age(ear, ear["key"], body.age_years)
        lo, hi, why = threshold_bounds(payload, ear)
        if body.value is not None and not lo - LEVEL_TOL_DB <= body.value <= hi + LEVEL_TOL_DB:
            unit = ear["level_unit"]
            raise HTTPException(422, f"threshold {body.value:g} dB is outside {lo:g}..{hi:g} {unit} ({why})")
        return Correction("threshold", -1, ear["patient_id"], ear["ear"], "", body.value, ear["model_threshold_db"],
                          user, utc_now(), ear["age_years"], *model_id, mark=mark,
                          stimulus=ear.get("series_stimulus", ""))  # fmt: skip
    raise HTTPException(422, f"unknown correction target {body.target!r} (peak or threshold)")


def threshold_series(payload: dict[str, Any], patient_id: str, ear: str, stimulus: str | None) -> dict[str, Any]:
    """The ear entry (one intensity series) a threshold correction names, or 422: the ear's only series, or the one
    whose ``series_stimulus`` or ``stimulus`` is `stimulus`. Why: an ear with 8 and 16 kHz tone pips has a
    threshold per frequency, and a correction naming only the ear must not pick one of them silently."""
    series = [e for e in payload["ears"] if (e["patient_id"], e["ear"]) == (patient_id, ear)]
    if not series:
        raise HTTPException(422, f"no ear {patient_id}/{ear} in this file")
    if stimulus:
        named = [e for e in series if stimulus in (e.get("series_stimulus"), e.get("stimulus"))]
        if len(named) != 1:
            have = ", ".join(str(e.get("stimulus")) for e in series)
            raise HTTPException(422, f"no series {stimulus!r} at ear {patient_id}/{ear} in this file (it has {have})")
        return named[0]
    if len(series) > 1:
        have = ", ".join(str(e.get("stimulus")) for e in series)
        raise HTTPException(422, f"ear {patient_id}/{ear} holds {len(series)} series ({have}): name one as stimulus")
    return series[0]


def check_age(ear: dict[str, Any], key: str, shown: float | None) -> None:
    """Refuse (409) a correction made on another reading than the current one: `shown`, the ear's age on the sender's
    page, must be the age the model reads the ear at now. Why: before a file has corrections it may be analysed
    again at another age (`Store.register`), and a page opened before that still shows the old reading; its
    correction would be stored against numbers its author never saw."""
    now = ear["age_years"]
    if (now is None) != (shown is None) or (now is not None and not math.isclose(now, shown, abs_tol=1e-9)):
        raise HTTPException(409, f"not saved: ear {key} is now read at {ear_age_text(now)}, your page showed "
                                 f"{ear_age_text(shown)} (the file was analysed again since): reload the file, check "
                                 "the new reading and correct it again")  # fmt: skip


def ear_age_text(age: float | None) -> str:
    """An ear's reading age as the 409 message spells it ("age 3 years", or "no single age")."""
    return "no single age" if age is None else f"age {age:g} years"


def check_wave_order(rec: dict[str, Any], wave: str, value: float | None, model_value: float | None) -> None:
    """Refuse (422) a peak correction that breaks I < III < V in latency within its record. A corrected value must lie
    in order with the other waves' current values (corrected or the model's); a revert (`value` None) only with the
    corrected ones: the model's own reading is not policed, but a reverted mark may not land on a corrected one."""
    new = model_value if value is None else value
    if new is None:
        return
    k = WAVES.index(wave)
    for j, other in enumerate(WAVES):
        cur = rec["waves"][other]
        if j == k or cur["latency_ms"] is None or (value is None and cur["status"] != "corrected"):
            continue
        if (j < k and new <= cur["latency_ms"]) or (j > k and new >= cur["latency_ms"]):
            what = f"wave {wave} at {new:.3f} ms" + (" (the model's value)" if value is None else "")
            side = "after" if j < k else "before"
            raise HTTPException(422, f"{what} must come {side} wave {other} ({cur['latency_ms']:.3f} ms): "
                                     "peaks keep the order I < III < V")  # fmt: skip


def threshold_bounds(payload: dict[str, Any], ear: dict[str, Any]) -> tuple[float, float, str]:
    """The range a corrected threshold may take, as the page clamps it: from one level step (its smallest gap between
    distinct levels; 10 dB for one level) below the ear's softest tested level up to its loudest, within -20..140 dB
    → (low, high, why). Why not above the loudest: nothing was measured there, and a value "one step above" exported
    as a measured threshold beside the model's "no response"; an ear without a response takes the "no response"
    mark instead."""
    levels = sorted({float(payload["records"][i]["intensity_db"]) for i in ear["records"]
                     if payload["records"][i]["intensity_db"] is not None})  # fmt: skip
    if not levels:
        return -20.0, 140.0, "no tested level known"
    step = min((b - a for a, b in pairwise(levels)), default=10.0)
    lo, hi = max(-20.0, levels[0] - step), min(140.0, levels[-1])
    return (
        lo,
        hi,
        (
            f"the ear's tested levels {levels[0]:g}..{levels[-1]:g} dB, down to one level step of {step:g} dB below; "
            "above the loudest level nothing was measured: mark the ear 'no response'"
        ),
    )
