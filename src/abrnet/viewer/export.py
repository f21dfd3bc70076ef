"""Exports of a reviewed file: a CSV row per record (the PDF report per patient: `abrnet.viewer.report`).

Both carry the *final* values (a clinician's correction where there is one, else the model's) and say which is
which: per wave ``W_status`` is ``model`` or ``corrected`` with ``W_corrected_by`` / ``W_corrected_at`` and the model's
own value beside it (``corrected_absent``: the expert marked the wave absent; its final latency and amplitude are
empty); the ear's threshold likewise (``ear_threshold_*``; ``corrected_no_response``: the expert marked the ear
"no response", final threshold empty). A report that hid whether a number was
machine-read or human-corrected could not be signed off. ``W_corrected_reading_age_years`` (and the ear's) is the age
the model read the ear at when the correction was made (empty: not recorded, a correction from before ages were kept):
a correction is only meaningful next to the reading it corrected, which depends on the age. For the same reason
``W_corrected_model_sha256`` names the model (SHA-256 of its checkpoint) whose reading was corrected, and
``W_corrected_model_note`` is filled where that is not the model whose values the row carries (``model_sha256``):
"corrected against model A ...; now read by model B ...: the model value shown is that model's". The PDF marks such
values ``[other model]`` and says which models they are.

CSV columns: source_file, file_sha256, patient_id, ear, stimulus (the record's stimulus, "tone_pip 8000 Hz": an ear
with several is one series per stimulus, each with its own ``ear_*`` values), intensity_db, level_unit, age_years,
stimulus_rate_hz, fmp, model_checkpoint, model_sha256; per wave W ``W_presence_prob, W_latency_ms, W_latency_sd_ms,
W_amplitude_uv, W_latency_series_ms, W_amplitude_series_uv, W_latency_final_ms, W_amplitude_final_uv, W_status,
W_model_latency_ms, W_model_amplitude_uv, W_corrected_by, W_corrected_at, W_corrected_reading_age_years,
W_corrected_model_sha256, W_corrected_model_note``; interpeak intervals ``I_III_ms, III_V_ms, I_V_ms`` then
``I_III_final_ms, III_V_final_ms, I_V_final_ms``; the record's class_pred and p_<CLASS>, threshold_db,
threshold_sd_db, p_no_response; the ear's (its series') ``ear_response, ear_response_model, ear_threshold_db,
ear_threshold_above_max_level, ear_max_level_db, ear_threshold_at_min_level, ear_min_level_db, ear_threshold_sd_db,
ear_threshold_lo_db, ear_threshold_hi_db, ear_threshold_bracket_lo_db, ear_threshold_status, ear_threshold_note,
ear_threshold_model_db, ear_threshold_model_sd_db, ear_threshold_model_lo_db, ear_threshold_model_hi_db,
ear_threshold_model_bracket_lo_db, ear_threshold_corrected_by, ear_threshold_corrected_at,
ear_threshold_corrected_reading_age_years, ear_threshold_corrected_model_sha256, ear_threshold_corrected_model_note,
ear_p_no_response, ear_class_pred``; then any out-of-domain columns.

A column named as one of ``abrnet predict``'s results.csv holds that column's quantity, computed the same way: a lab
merging the two files must not find two numbers under one name. ``W_latency_ms``, ``W_latency_sd_ms`` and
``W_amplitude_uv`` are the record head's reading, ``W_latency_series_ms`` and ``W_amplitude_series_uv`` the wave read
with the ear's other levels (empty without a series stage), and ``I_III_ms, III_V_ms, I_V_ms`` differences of record
latencies, empty unless both waves are called present (p >= 0.5). What the viewer marks, a clinician's moved peak
included, is ``W_latency_final_ms`` / ``W_amplitude_final_uv`` (the correction, else the model's series reading where
there is one, else the record's; ``W_model_*`` the model value it stands for), and ``*_final_ms`` the intervals
between final latencies of waves called present or corrected.

The ear's ``ear_response`` is the final call (``response``, ``no response``, ``uncertain``): the series table's call,
which ``ear_response_model`` always holds, until an expert corrects the ear: an expert's threshold makes it
``response``, an expert's "no response" mark ``no response``. Why: the export printed a corrected "65 dB" beside the
model's "no response" as if they agreed. P(no response) beside a threshold does not say alone whether the two agree.
``ear_threshold_lo_db`` / ``ear_threshold_hi_db`` are the model's 90 % interval (the series table's ``threshold_lo_db``
/ ``threshold_hi_db``); like ``ear_threshold_sd_db`` they are empty once the threshold is corrected, as they describe
the model's value, not the expert's; ``ear_threshold_model_sd_db`` / ``_lo_db`` / ``_hi_db`` keep them beside
``ear_threshold_model_db`` (a corrected file must not lose the model's reading). ``ear_threshold_bracket_lo_db`` is
likewise the series table's ``threshold_bracket_lo_db`` (the highest tested level below the model's threshold: the
threshold lies in (that level, threshold], a gap the interval omits), ``ear_threshold_model_bracket_lo_db`` its copy
kept once corrected; both empty for a placeholder (``ear_max_level_db`` says all there is).

Where the series' final call is "no response", its waves have no final values: ``W_status`` is ``ear_no_response``
when an expert's correction made the call (a peak moved before the ear was marked "no response" included: the mark
overrides it; it stays in the history) and ``model_no_response`` when it is the model's call (the model's readings
stay in ``W_latency_ms``, ``W_latency_series_ms``, ``W_model_latency_ms``, ...). Why: a reader of the final columns
got wave V latencies for an ear reported as not responding. A peak the expert moved in an ear the model calls
"no response" keeps its final value: the expert placed it.

``ear_threshold_status`` is the ear's ``model`` / ``corrected`` / ``corrected_no_response``, or where a stored
correction does not stand as it looks (`abrnet.viewer.flags`), with a one-line ``ear_threshold_note`` (else empty):
``pooled_correction_not_applied`` (corrected on the ear before it was split by stimulus into the series it is now:
which series it meant is unknown, so the final values are the model's), ``corrected_above_max_level`` (an older
viewer's value above the loudest tested level, refused now: no ``ear_threshold_db``,
``ear_threshold_above_max_level`` true, ``ear_response`` "no response") and ``corrected_below_min_level`` (a value
below the softest tested level, accepted as "≤ that level": ``ear_threshold_db`` is the expert's extrapolation, to be
read as ``≤ ear_min_level_db``, not a measured level).

Text from users and files (patient ids, correctors' names, file names) is data, never markup: a CSV text cell that a
spreadsheet would run as a formula gets a leading ``'`` (OWASP's CSV-injection advice; `spreadsheet_text`, the rule
`abrnet predict`'s CSVs use too) and the PDF prints ``$`` as is (matplotlib would read ``$...$`` as mathtext: a
silent change, or a failed report on unbalanced ``$``).

``ear_threshold_above_max_level`` is ``true`` where the ear's threshold is the model's placeholder (the ear's p(V)
curve crosses at no tested level: highest level ``ear_max_level_db`` + 5 dB), not a measured level
(`threshold_placeholder`; a corrected threshold is the expert's reading, so ``false``). ``ear_threshold_db``, its SD,
interval and ``ear_threshold_model_db`` are then empty, as the page and the PDF print no number and draw no line for
such an ear. Why: the number read as a measurement, for an "uncertain" ear above all, whose call does not say "no
response". A corrected ear keeps the model's value beside the expert's (``ear_threshold_model_db``), as the page does,
unless the model's was itself the placeholder (`model_threshold_placeholder`): then it stays empty.

``ear_threshold_at_min_level`` is ``true`` where ``ear_threshold_db`` is a bound, not a reading: the ear's p(V) curve
already crosses at its softest tested level ``ear_min_level_db``, so the threshold is that level or lower
(`threshold_at_floor`; ``false`` once corrected). Its SD (often 0) is no measure of certainty there; the PDF prints
"threshold ≤ 20 dB nHL" without SD or interval. Levels are printed in the file's own unit (``level_unit``: a mouse
file's are dB SPL; "dB, unit unknown" where the file does not say).
"""

from __future__ import annotations

import csv
import io
import math
from typing import Any

from abrnet.constants import CLASS_NAMES, WAVES
from abrnet.inference.result_tables import INTERPEAK, spreadsheet_text
from abrnet.viewer.analysis import model_threshold_placeholder, threshold_at_floor, threshold_placeholder
from abrnet.viewer.flags import ABOVE_MAX, final_wave_status


def level_text(db: float) -> str:
    """A tested level as the page prints it (20, 22.5): one decimal at most, no trailing zeros."""
    return f"{round(float(db), 1):g}"


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "" if not math.isfinite(v) else format(v, ".6g")
    return str(v)


def _cell(v: Any) -> str:
    """`_fmt`, text cells through `spreadsheet_text` (one that starts like a formula gets a leading ``'``)."""
    text = _fmt(v)
    return spreadsheet_text(text) if isinstance(v, str) else text


def export_rows(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """One dict per record in the CSV's column order (see the module docstring)."""
    ears = {e["key"]: e for e in payload["ears"]}
    rows: list[dict[str, Any]] = []
    for rec in payload["records"]:
        row: dict[str, Any] = {
            "source_file": payload["filename"],
            "file_sha256": payload["file_hash"],
            "patient_id": rec["patient_id"],
            "ear": rec["ear"],
            "stimulus": rec.get("stimulus"),  # the record's series: an ear's 8 and 16 kHz rows have their own ear_*
            "intensity_db": rec["intensity_db"],
            "level_unit": rec["level_unit"],
            "age_years": rec["age_years"],
            "stimulus_rate_hz": rec["stimulus_rate_hz"],
            "fmp": rec["fmp"],
            "model_checkpoint": payload["checkpoint"],
            "model_sha256": payload["model_sha256"],
        }
        ear = ears.get(rec["ear_key"])
        waves = final_waves(rec["waves"], final_wave_status(ear))
        for w in WAVES:
            wave = waves[w]
            row.update(
                {
                    f"{w}_presence_prob": wave["presence_prob"],
                    f"{w}_latency_ms": wave["latency_record_ms"],
                    f"{w}_latency_sd_ms": wave["latency_sd_ms"],
                    f"{w}_amplitude_uv": wave["amplitude_record_uv"],
                    f"{w}_latency_series_ms": wave.get("latency_series_ms"),
                    f"{w}_amplitude_series_uv": wave.get("amplitude_series_uv"),
                    f"{w}_latency_final_ms": wave["latency_ms"],
                    f"{w}_amplitude_final_uv": wave["amplitude_uv"],
                    f"{w}_status": wave["status"],
                    f"{w}_model_latency_ms": wave["model_latency_ms"],
                    f"{w}_model_amplitude_uv": wave["model_amplitude_uv"],
                    f"{w}_corrected_by": wave["corrected_by"],
                    f"{w}_corrected_at": wave["corrected_at"],
                    f"{w}_corrected_reading_age_years": wave["corrected_reading_age_years"],
                    f"{w}_corrected_model_sha256": wave["corrected_model_sha256"],
                    f"{w}_corrected_model_note": wave["corrected_model_note"],
                }
            )
        row.update(interpeak_cells(waves))
        row["class_pred"] = rec["class_pred"]
        row.update({f"p_{c}": rec["class_prob"][c] for c in CLASS_NAMES})
        row.update(
            threshold_db=rec["threshold_db"], threshold_sd_db=rec["threshold_sd_db"], p_no_response=rec["p_no_response"]
        )
        if ear is not None:
            row.update(ear_cells(ear))
        row.update(rec.get("domain") or {})
        rows.append(row)
    return rows


def final_waves(waves: dict[str, dict[str, Any]], silent: str | None) -> dict[str, dict[str, Any]]:
    """A record's waves as the final columns give them: those the model's reading fills ("model") without a final
    latency or amplitude, status `silent`, where the series' final call is "no response" (`final_wave_status`; the
    model's values stay in the non-final columns); `waves` itself where `silent` is None."""
    if silent is None:
        return waves
    blank = {"latency_ms": None, "amplitude_uv": None, "status": silent}
    return {w: {**wave, **blank} if wave["status"] == "model" else wave for w, wave in waves.items()}


def interpeak_cells(waves: dict[str, dict[str, Any]]) -> dict[str, float | None]:
    """A record's interpeak intervals: ``A_B_ms`` as results.csv computes them (record latencies, both waves called
    present), then ``A_B_final_ms`` between the final latencies (what the viewer marks; a corrected wave counts as
    present: the expert placed it). Empty where a wave does not count."""

    def final(w: str) -> float | None:
        wave = waves[w]
        return wave["latency_ms"] if wave["present"] or wave["status"] == "corrected" else None

    def record(w: str) -> float | None:
        return waves[w]["latency_record_ms"] if waves[w]["present"] else None

    cells: dict[str, float | None] = {}
    for suffix, latency in (("ms", record), ("final_ms", final)):
        for a, b in INTERPEAK:
            la, lb = latency(a), latency(b)
            cells[f"{a}_{b}_{suffix}"] = None if la is None or lb is None else lb - la
    return cells


def ear_cells(ear: dict[str, Any]) -> dict[str, Any]:
    """The ear's columns of a row: its final call beside the model's, and its threshold as the page and the PDF print
    it (no number, SD or interval for a placeholder, `threshold_placeholder`, an expert's "no response" or a value
    above the tested levels; no SD or interval for the expert's value) with its status and note, then the model's own
    threshold, SD, 90 % interval and bracket, kept once corrected."""
    placeholder = threshold_placeholder(ear)
    above = ear.get("threshold_flag") == ABOVE_MAX  # an old correction above the loudest level: no measured value
    model_own = ear["status"] == "model" and not placeholder  # SD and interval describe the model's reading
    model_known = not model_threshold_placeholder(ear)  # the model read a threshold (not "none up to the top")
    lo, hi = ear.get("interval_90_db") or (None, None)
    bracket = ear.get("threshold_bracket_lo_db")
    return {
        "ear_response": ear.get("final_response", ear.get("response")),
        "ear_response_model": ear.get("response"),
        "ear_threshold_db": None if placeholder or above else ear["threshold_db"],
        "ear_threshold_above_max_level": placeholder or above or ear["status"] == "corrected_no_response",
        "ear_max_level_db": ear.get("max_level_db"),
        "ear_threshold_at_min_level": threshold_at_floor(ear),
        "ear_min_level_db": ear.get("min_level_db"),
        "ear_threshold_sd_db": ear["threshold_sd_db"] if model_own else None,
        "ear_threshold_lo_db": lo if model_own else None,
        "ear_threshold_hi_db": hi if model_own else None,
        "ear_threshold_bracket_lo_db": bracket if model_own else None,
        "ear_threshold_status": ear.get("threshold_flag") or ear["status"],
        "ear_threshold_note": ear.get("threshold_note"),
        "ear_threshold_model_db": ear["model_threshold_db"] if model_known else None,
        "ear_threshold_model_sd_db": ear["threshold_sd_db"] if model_known else None,
        "ear_threshold_model_lo_db": lo if model_known else None,
        "ear_threshold_model_hi_db": hi if model_known else None,
        "ear_threshold_model_bracket_lo_db": bracket if model_known else None,
        "ear_threshold_corrected_by": ear["corrected_by"],
        "ear_threshold_corrected_at": ear["corrected_at"],
        "ear_threshold_corrected_reading_age_years": ear["corrected_reading_age_years"],
        "ear_threshold_corrected_model_sha256": ear["corrected_model_sha256"],
        "ear_threshold_corrected_model_note": ear["corrected_model_note"],
        "ear_p_no_response": ear["p_no_response"],
        "ear_class_pred": ear["class_pred"],
    }


def export_csv(payload: dict[str, Any]) -> str:
    """The CSV text (UTF-8, header row first, empty cell = not available)."""
    rows = export_rows(payload)
    header: list[str] = []
    for r in rows:
        header += [k for k in r if k not in header]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for r in rows:
        writer.writerow([_cell(r.get(k)) for k in header])
    return buf.getvalue()
