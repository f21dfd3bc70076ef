"""From an uploaded file to what the viewer draws: the model's reading per record and per ear, plus corrections.

The numbers are exactly those of ``abrnet predict --group-by patient_id,ear`` (the same `ABRModel.predict(...,
series=True)` call, which reads every format through `abrnet.data.importers.read_recording`). The viewer's mark for a
wave is the series reading (``W_latency_series_ms``, the wave read with the ear's other levels) where the checkpoint
has one, since that is the better estimate; the ±SD drawn around it is the record head's own uncertainty.

A corrected peak carries the clinician's latency; its amplitude is the trace's value at that latency (the recording's
own zero), because the model's amplitude belongs to the model's latency and would be wrong at the new one.

Each ear carries ``age_years``, the age its records were read at (None when they were read at different ages or at
none known). The page shows it and sends it back with a correction: the reading depends on the age, and the same file
may be analysed again at another age while a page still shows the old reading (see `ear_age`).

A correction also names the model whose reading it corrected (`Correction.model_sha256`). A corrected value made
against another model than the one reading the file now keeps its place (the audit trail stays visible) but carries a
``corrected_model_note`` saying so, because the "model" value shown beside it is the current model's, not the one the
expert corrected (see `model_note`).

Each ear also carries ``threshold_above_max_level`` and ``max_level_db`` (`series_columns`): where its p(V) curve
crosses at no tested level, the model's threshold is a placeholder (highest level + 5 dB), not a measured level. The
``response`` call does not say so alone: an "uncertain" ear (no crossing, but P(no response) <= 0.5) has the
placeholder too, and the page and report printed it as "Threshold 65 ± 18 dB nHL" for an ear tested up to 60 dB.
`threshold_placeholder` is the one rule the page's script mirrors.

Each ear likewise carries ``threshold_at_min_level`` and ``min_level_db``: where the p(V) curve already crosses at
the ear's softest tested level, the threshold is that level *or lower* (nothing softer was recorded), and its SD and
90 % interval (often 0 and "20-20 dB") say nothing of certainty. The page and report print "Threshold ≤ 20 dB" for
such an ear (`threshold_at_floor`, mirrored by the page's script), and the CSV export flags it.

An "ear" of the page is one intensity series (`abrnet.data.series_key`): an ear with 8 and 16 kHz tone pips is two
entries, each with its own threshold, shown and corrected apart. Each carries ``stimulus`` (the series' stimulus,
"tone_pip 8000 Hz") and ``series_stimulus``, what a threshold correction names to pick the series: "" where the ear
holds one stimulus (its key is then the plain 'patient/ear', so corrections stored before series were split keep
their target), else the stimulus. A record's ``ear_key`` is its series' key, the ear entry's ``key``.

Each ear also carries ``threshold_bracket_lo_db``, the series table's column of that name (the highest tested level
below the model's threshold, `series_warnings.lower_brackets`): the threshold lies in (that level, threshold], a gap
the 90 % interval does not show, and the sparse-levels warning sends the reader to it.

Levels are in each file's own unit: every record and ear carries ``level_unit`` ("dB nHL", "dB SPL", ...; "dB, unit
unknown" where the file does not say, as `abrnet predict`'s plots write it). A mouse file's levels are dB SPL, and the
page and report printed them as dB nHL.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import numpy as np

from abrnet.constants import CLASS_NAMES, PRESENCE_THRESHOLD, WAVES, is_present
from abrnet.data.describe import stimulus_labels
from abrnet.data.grouping import group_indices
from abrnet.data.schema import float32_as_typed
from abrnet.data.series_key import series_keys, series_stimulus
from abrnet.inference.result_plots import UNKNOWN_LEVEL_UNIT, level_unit_labels
from abrnet.inference.result_tables import PredictionReport, columns_to_records
from abrnet.viewer.flags import ABOVE_MAX, pooled_flag, range_flag, unmatched_note
from abrnet.viewer.marks import ABSENT, NO_RESPONSE
from abrnet.viewer.store import Correction

Z90 = 1.6448536  # only where the series gives no interval bound: the central 90 % of a Gaussian with its SD
SIGNAL_DECIMALS = 4  # µV to 0.1 nV: far below any recording's noise, keeps the JSON small


def _num(x: Any) -> float | None:
    """JSON-safe float (NaN/inf → None)."""
    if x is None:
        return None
    v = float(x)
    return v if math.isfinite(v) else None


def _static(x: Any) -> float | None:
    """A static column's value as typed (`float32_as_typed`: the form's 0.02 years, not 0.0199999995), or None."""
    v = _num(x)
    return None if v is None else float32_as_typed(v)


def _domain_fields(row: dict[str, Any]) -> dict[str, Any]:
    """Out-of-domain columns (``domain``, ``domain_*``) when the inference layer provides them; else empty."""
    return {k: v for k, v in row.items() if k == "domain" or k.startswith("domain_")}


def trace_value(signal: list[float], time_ms: list[float], latency_ms: float) -> float | None:
    """The trace's value (µV) at `latency_ms`, linearly interpolated; None outside the window."""
    if not (time_ms[0] <= latency_ms <= time_ms[-1]):
        return None
    return float(np.interp(latency_ms, time_ms, signal))


def build_payload(
    report: PredictionReport, *, file_hash: str, filename: str, source: str, checkpoint: str, model_sha256: str
) -> dict[str, Any]:
    """The model's reading as JSON: per record (signal, waves, class, threshold) and per ear (series answer).

    `source` is the stored upload's path: warnings name the user's file name instead of the server's path.
    `checkpoint` and `model_sha256` name the model that read it (its path, and the SHA-256 of its bytes).
    """
    cohort = report.cohort
    rows = columns_to_records(report.columns())
    series_rows = columns_to_records(report.series() or {})
    time_ms = [round(float(t), 6) for t in cohort.time_ms]
    static = cohort.static
    units = level_unit_labels(cohort)
    stimuli = stimulus_labels(cohort)  # "click", "tone_pip 8000 Hz", ...; "unknown"
    split_by = series_stimulus(cohort)  # "" where the ear holds one stimulus
    record_keys = series_keys(cohort)  # the one series key: 'patient/ear'[, stimulus] (ids may hold '/')
    records: list[dict[str, Any]] = []
    for i, row in enumerate(rows):
        waves: dict[str, Any] = {}
        for w in WAVES:
            lat_series = row.get(f"{w}_latency_series_ms")
            amp_series = row.get(f"{w}_amplitude_series_uv")
            waves[w] = {
                "presence_prob": row[f"{w}_presence_prob"],
                "present": bool(is_present(row[f"{w}_presence_prob"] or 0.0)),
                "latency_record_ms": row[f"{w}_latency_ms"],
                "latency_sd_ms": row[f"{w}_latency_sd_ms"],
                "amplitude_record_uv": row[f"{w}_amplitude_uv"],
                "amplitude_sd_uv": row[f"{w}_amplitude_sd_uv"],
                "latency_series_ms": lat_series,  # None without a series stage; results.csv's column of the name
                "amplitude_series_uv": amp_series,
                "model_latency_ms": lat_series if lat_series is not None else row[f"{w}_latency_ms"],
                "model_amplitude_uv": amp_series if amp_series is not None else row[f"{w}_amplitude_uv"],
            }
        records.append(
            {
                "index": i,
                "patient_id": row["patient_id"],
                "ear": row["ear"],
                "ear_key": str(record_keys[i]),
                "intensity_db": row["intensity_db"],
                "level_unit": str(units[i]),
                "age_years": _static(static[i, 0]),
                "stimulus_rate_hz": _static(static[i, 2]),
                "stimulus": str(stimuli[i]),
                "fmp": _static(static[i, 3]),
                "signal": [round(float(v), SIGNAL_DECIMALS) for v in cohort.signals[i]],
                "waves": waves,
                "class_pred": row["class_pred"],
                "class_prob": {c: row[f"p_{c}"] for c in CLASS_NAMES},
                "threshold_db": row["threshold_db"],
                "threshold_sd_db": row["threshold_sd_db"],
                "p_no_response": row["p_no_response"],
                "domain": _domain_fields(row),
            }
        )
    ears: list[dict[str, Any]] = []
    distinct, groups = group_indices(record_keys)  # each series' records in file order: one sort, not a scan each
    ear_rows = dict(zip(distinct.tolist(), groups, strict=True))
    keys = report.series_keys()  # series_rows' order, `reading_order`: the panels list 8 kHz before 16 kHz
    table_keys = [] if keys is None else keys.astype(str).tolist()
    for key, srow in zip(table_keys, series_rows, strict=True):
        members = sorted((records[i] for i in ear_rows[key]), key=lambda r: -(r["intensity_db"] or 0.0))  # loudest top
        thr, sd = srow["threshold_db"], srow["threshold_sd_db"]
        ears.append(
            {
                "key": key,
                "patient_id": srow["patient_id"],
                "ear": srow["ear"],
                "ear_key": str(cohort.ear_key[ear_rows[key][0]]),  # the ear's own 'patient/ear', whatever its series
                "stimulus": srow["stimulus"],
                "series_stimulus": str(split_by[ear_rows[key][0]]),
                "records": [r["index"] for r in members],
                "model_threshold_db": thr,
                "threshold_above_max_level": bool(srow["threshold_above_max_level"]),
                "max_level_db": srow["max_level_db"],
                "threshold_at_min_level": bool(srow["threshold_at_min_level"]),
                "min_level_db": srow["min_level_db"],
                "threshold_bracket_lo_db": srow.get("threshold_bracket_lo_db"),  # the series table's (lower_brackets)
                "level_unit": ear_unit(members),
                "threshold_sd_db": sd,
                "interval_90_db": _interval(srow, thr, sd),
                "p_no_response": srow["p_no_response"],
                "response": srow["response"],
                "class_pred": srow["class_pred"],
                "class_prob": {c: srow[f"p_{c}"] for c in CLASS_NAMES},
                "n_records": srow["n_records"],
                "age_years": ear_age(members),
                "domain": _domain_fields(srow),
            }
        )
    return {
        "file_hash": file_hash,
        "filename": filename,
        "checkpoint": checkpoint,
        "model_sha256": model_sha256,
        "n_records": len(records),
        "time_ms": time_ms,
        "waves": list(WAVES),
        "class_names": list(CLASS_NAMES),
        "presence_cut": PRESENCE_THRESHOLD,
        "warnings": [w.replace(source, filename) for w in report.warnings],
        "records": records,
        "ears": ears,
    }


def threshold_placeholder(ear: dict[str, Any]) -> bool:
    """Whether the threshold an ear shows is the model's placeholder "above the tested levels", not a reading: not
    corrected (a corrected value is the expert's reading), and the ear's p(V) curve crosses at no tested level (every
    "no response" ear; some "uncertain" ones). Such a threshold is printed as no number and drawn as no line."""
    return ear.get("status") in (None, "model") and model_threshold_placeholder(ear)


def model_threshold_placeholder(ear: dict[str, Any]) -> bool:
    """Whether the model's own threshold of an ear is its placeholder "above the tested levels", corrected or not.
    Why: beside an expert's correction the page, PDF and CSV printed it as "model 85 dB", a reading the model never
    made (it found no threshold up to 80 dB)."""
    return ear.get("response") == "no response" or bool(ear.get("threshold_above_max_level"))


def threshold_at_floor(ear: dict[str, Any]) -> bool:
    """Whether the threshold an ear shows is a bound "at or below its softest tested level", not a reading: not
    corrected, no placeholder above the tested levels, and the ear's p(V) curve already crosses at its lowest level
    (``threshold_at_min_level``). Such a threshold is printed as "≤ <level>" without SD or interval."""
    if ear.get("status") not in (None, "model") or threshold_placeholder(ear):
        return False
    return bool(ear.get("threshold_at_min_level"))


def ear_unit(members: list[dict[str, Any]]) -> str:
    """The level unit of an ear's records ("dB SPL"); the distinct ones joined by " / " should a file mix them."""
    return " / ".join(dict.fromkeys(r["level_unit"] for r in members)) or UNKNOWN_LEVEL_UNIT


def ear_age(members: list[dict[str, Any]]) -> float | None:
    """The one age an ear's records were read at; None when they differ (or none is known).

    Why per ear: a peak's series latency and the ear's threshold are read from all of the ear's records together, so
    the ear's age is what a correction there depends on. A form's age applies to every record of a file, and a file's
    own ages never change for the same bytes, so an ear without one age cannot be re-read at another.
    """
    ages = {r["age_years"] for r in members}
    return ages.pop() if len(ages) == 1 else None


CORRECTED_PEAK = ("corrected", "corrected_absent")  # a wave's statuses that are an expert's correction of it


def with_corrections(payload: dict[str, Any], corrections: list[Correction], history: list[Correction]) -> dict:
    """A copy of `payload` whose final values carry the corrections in force (status, who, when, at which age and
    against which model) and the file's history (`history_json`, oldest first).

    A wave's status is "model", "corrected", "corrected_absent" (the expert's mark: final latency and amplitude
    None) or "ear_no_response" (in a series the expert marked "no response": no final latency or amplitude either,
    as an ear without a response has no waves; the model's stay in ``model_*``; a peak moved before the mark is
    overridden by it, kept in the history, and back in force once the mark is undone). An ear's is "model",
    "corrected" or "corrected_no_response" (threshold None), and its ``final_response`` is the call the final values
    make: the model's ``response`` unless corrected, "response" once an expert sets a threshold, "no response" once
    one marks it so. Why: a report printed "threshold 65 dB*" beside the model's "no response" as if the two agreed;
    the model's call stays in ``response``, labelled as the model's. ``threshold_flag`` and ``threshold_note`` say
    where a stored threshold correction does not stand as it looks (`abrnet.viewer.flags`: made on the pooled ear
    before it was split by stimulus, or outside the tested levels; None elsewhere); one naming an ear the reading
    does not hold is added to ``warnings`` (`unmatched_note`)."""
    out = copy.deepcopy(payload)
    peaks = {(c.record, c.wave): c for c in corrections if c.target == "peak"}
    thresholds = {(c.patient_id, c.ear, c.stimulus): c for c in corrections if c.target == "threshold"}
    for ear in out["ears"]:
        c = thresholds.get((ear["patient_id"], ear["ear"], ear.get("series_stimulus", "")))
        flag: tuple[str | None, str | None] = (None, None)
        if c is None:
            ear.update(threshold_db=ear["model_threshold_db"], status="model", final_response=ear["response"],
                       **_corrected_by(None, out))  # fmt: skip
            pooled = thresholds.get((ear["patient_id"], ear["ear"], "")) if ear.get("series_stimulus") else None
            flag = (None, None) if pooled is None else pooled_flag(pooled)  # stored before the ear was split
        elif c.mark == NO_RESPONSE:
            ear.update(threshold_db=None, status="corrected_no_response", final_response=NO_RESPONSE,
                       **_corrected_by(c, out))  # fmt: skip
        else:  # an expert's threshold is a response at that level, whatever the model's call was, if one was tested
            flag = range_flag(ear, float(c.value or 0.0))
            final = NO_RESPONSE if flag[0] == ABOVE_MAX else "response"
            ear.update(threshold_db=c.value, status="corrected", final_response=final, **_corrected_by(c, out))
        ear.update(threshold_flag=flag[0], threshold_note=flag[1])
    held = {(ear["patient_id"], ear["ear"]) for ear in out["ears"]}
    lost = [unmatched_note(c) for c in thresholds.values() if (c.patient_id, c.ear) not in held]
    out["warnings"] = [*out.get("warnings", []), *lost]
    silenced = {ear["key"] for ear in out["ears"] if ear["status"] == "corrected_no_response"}  # no waves there
    for rec in out["records"]:
        for w, wave in rec["waves"].items():
            c = peaks.get((rec["index"], w))
            if rec["ear_key"] in silenced and (c is None or c.mark != ABSENT):  # a moved peak too: kept in history
                wave.update(latency_ms=None, amplitude_uv=None, status="ear_no_response", **_corrected_by(None, out))
            elif c is None:
                wave.update(latency_ms=wave["model_latency_ms"], amplitude_uv=wave["model_amplitude_uv"],
                            status="model", **_corrected_by(None, out))  # fmt: skip
            elif c.mark == ABSENT:  # the expert says the wave is not there: no final latency or amplitude
                wave.update(latency_ms=None, amplitude_uv=None, status="corrected_absent", **_corrected_by(c, out))
            else:
                amplitude = trace_value(rec["signal"], out["time_ms"], float(c.value or 0))
                wave.update(latency_ms=c.value, amplitude_uv=amplitude, status="corrected", **_corrected_by(c, out))
    out["corrections"] = history_json(history, out)
    return out


def _corrected_by(c: Correction | None, payload: dict[str, Any]) -> dict[str, Any]:
    """The ``corrected_*`` fields of a value: who, when, the age and model of the reading corrected (all None for
    the model's own value) and `model_note` (None unless the correction was made against another model)."""
    return {
        "corrected_by": None if c is None else c.user,
        "corrected_at": None if c is None else c.created_at,
        "corrected_reading_age_years": None if c is None else c.age_years,
        "corrected_model_sha256": None if c is None else c.model_sha256,
        "corrected_model_checkpoint": None if c is None else c.model_checkpoint,
        "corrected_model_note": None if c is None else model_note(c, payload),
    }


def model_label(checkpoint: str | None, sha256: str) -> str:
    """A model as people read it: the checkpoint's file name and the start of its SHA-256 (the name alone is
    ambiguous: every training run writes a best.ckpt)."""
    return f"{Path(checkpoint).name if checkpoint else 'unnamed checkpoint'} (sha256 {sha256[:12]})"


def model_note(c: Correction, payload: dict[str, Any]) -> str | None:
    """None when `c` was made against the model that reads the file now (`payload`'s); else one line saying which
    model it corrected (with that model's value) and that the model value shown now is another model's. Why: a
    server restarted with another checkpoint shows its own values beside corrections made on the old one's; the
    corrections stay in force and visible (they are the audit trail), but nobody may read them as corrections of
    the numbers now beside them. A correction from before models were recorded cannot be checked, and says so."""
    if c.model_sha256 == payload["model_sha256"]:
        return None
    then = ("a model that was not recorded (a correction from before the viewer kept it)" if c.model_sha256 is None
            else f"model {model_label(c.model_checkpoint, c.model_sha256)}")  # fmt: skip
    if c.model_value is not None:
        then += f", which read {c.model_value:.2f} ms" if c.target == "peak" else f", which read {c.model_value:.1f} dB"
    now = model_label(payload["checkpoint"], payload["model_sha256"])
    return f"corrected against {then}; now read by model {now}: the model value shown is that model's"


def history_json(history: list[Correction], payload: dict[str, Any]) -> list[dict[str, Any]]:
    """The audit trail as JSON, in `history`'s order: each correction with ``previous_value`` (the value in force just
    before it: the earlier correction's, or the model's when there was none or it was reverted), ``previous_mark``
    (the mark in force before it, "absent" / "no response", else None) and ``model_note``."""
    before: dict[tuple[str, int, str, str, str, str], tuple[float | None, str | None]] = {}
    out: list[dict[str, Any]] = []
    for c in history:
        previous, previous_mark = before.get(c.key, (None, None))
        out.append({**c.to_json(), "previous_value": c.model_value if previous is None else previous,
                    "previous_mark": previous_mark, "model_note": model_note(c, payload)})  # fmt: skip
        before[c.key] = (c.value, c.mark)
    return out


def _interval(srow: dict[str, Any], thr: float | None, sd: float | None) -> list[float] | None:
    """The ear's 90 % threshold interval as the series stage read it off the p(V) curve (its chosen quantiles);
    a lower bound the curve never reaches falls back to threshold − 1.645 SD. An upper bound the series table leaves
    open (it would lie above the loudest tested level: hunt 15 #8) stays open, None: "above the tested levels", not
    threshold + 1.645 SD, which put a bound at a level nobody tested."""
    if thr is None or sd is None:
        return None
    lo, hi = srow.get("threshold_lo_db"), srow.get("threshold_hi_db")
    lo = thr - Z90 * sd if lo is None or not math.isfinite(lo) else float(lo)
    return [lo, None if hi is None or not math.isfinite(hi) else float(hi)]
