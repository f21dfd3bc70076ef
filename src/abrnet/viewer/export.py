"""Exports of a reviewed file: a CSV row per record and a one-page PDF report per patient.

Both carry the *final* values (a clinician's correction where there is one, else the model's) and say which is
which: per wave ``W_status`` is ``model`` or ``corrected`` with ``W_corrected_by`` / ``W_corrected_at`` and the model's
own value beside it; the ear's threshold likewise (``ear_threshold_*``). A report that hid whether a number was
machine-read or human-corrected could not be signed off. ``W_corrected_reading_age_years`` (and the ear's) is the age
the model read the ear at when the correction was made (empty: not recorded, a correction from before ages were kept):
a correction is only meaningful next to the reading it corrected, which depends on the age. For the same reason
``W_corrected_model_sha256`` names the model (SHA-256 of its checkpoint) whose reading was corrected, and
``W_corrected_model_note`` is filled where that is not the model whose values the row carries (``model_sha256``):
"corrected against model A ...; now read by model B ...: the model value shown is that model's". The PDF marks such
values ``[other model]`` and says which models they are.

CSV columns: source_file, file_sha256, patient_id, ear, intensity_db, level_unit, age_years, stimulus_rate_hz, fmp,
model_checkpoint, model_sha256; per wave W ``W_presence_prob, W_latency_ms, W_latency_sd_ms, W_amplitude_uv,
W_latency_series_ms, W_amplitude_series_uv, W_latency_final_ms, W_amplitude_final_uv, W_status, W_model_latency_ms,
W_model_amplitude_uv, W_corrected_by, W_corrected_at, W_corrected_reading_age_years, W_corrected_model_sha256,
W_corrected_model_note``; interpeak intervals ``I_III_ms, III_V_ms, I_V_ms`` then ``I_III_final_ms, III_V_final_ms,
I_V_final_ms``; the record's class_pred and p_<CLASS>, threshold_db, threshold_sd_db, p_no_response; the ear's
``ear_response, ear_threshold_db, ear_threshold_above_max_level, ear_max_level_db, ear_threshold_at_min_level,
ear_min_level_db, ear_threshold_sd_db, ear_threshold_lo_db, ear_threshold_hi_db, ear_threshold_status,
ear_threshold_model_db, ear_threshold_corrected_by, ear_threshold_corrected_at,
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

The ear's ``ear_response`` is series.csv's call (``response``, ``no response``, ``uncertain``): P(no response) beside a
threshold does not say alone whether the two agree. ``ear_threshold_lo_db`` / ``ear_threshold_hi_db`` are the model's
90 % interval (series.csv's ``threshold_lo_db`` / ``threshold_hi_db``); like ``ear_threshold_sd_db`` they are empty
once the threshold is corrected, as they describe the model's value, not the expert's.

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
from abrnet.inference.result_plots import UNKNOWN_LEVEL_UNIT
from abrnet.inference.result_tables import INTERPEAK, spreadsheet_text
from abrnet.viewer.analysis import model_label, model_threshold_placeholder, threshold_at_floor, threshold_placeholder
from abrnet.viewer.store import options_text

WAVE_COLORS: dict[str, str] = {"I": "#1f77b4", "III": "#2ca02c", "V": "#d62728"}
CORRECTED_COLOR = "#ff7f0e"
FLOOR_WORDS = "wave V at the lowest level tested; nothing softer was recorded"  # the page says the same


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
            "intensity_db": rec["intensity_db"],
            "level_unit": rec["level_unit"],
            "age_years": rec["age_years"],
            "stimulus_rate_hz": rec["stimulus_rate_hz"],
            "fmp": rec["fmp"],
            "model_checkpoint": payload["checkpoint"],
            "model_sha256": payload["model_sha256"],
        }
        for w in WAVES:
            wave = rec["waves"][w]
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
        row.update(interpeak_cells(rec["waves"]))
        row["class_pred"] = rec["class_pred"]
        row.update({f"p_{c}": rec["class_prob"][c] for c in CLASS_NAMES})
        row.update(
            threshold_db=rec["threshold_db"], threshold_sd_db=rec["threshold_sd_db"], p_no_response=rec["p_no_response"]
        )
        ear = ears.get(rec["ear_key"])
        if ear is not None:
            row.update(ear_cells(ear))
        row.update(rec.get("domain") or {})
        rows.append(row)
    return rows


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
    """The ear's columns of a row: its call, and its threshold as the page and the PDF print it (no number, SD or
    interval for a placeholder, `threshold_placeholder`; no SD or interval for the expert's value)."""
    placeholder = threshold_placeholder(ear)
    model_own = ear["status"] != "corrected" and not placeholder  # SD and interval describe the model's reading
    lo, hi = ear.get("interval_90_db") or (None, None)
    return {
        "ear_response": ear.get("response"),
        "ear_threshold_db": None if placeholder else ear["threshold_db"],
        "ear_threshold_above_max_level": placeholder,
        "ear_max_level_db": ear.get("max_level_db"),
        "ear_threshold_at_min_level": threshold_at_floor(ear),
        "ear_min_level_db": ear.get("min_level_db"),
        "ear_threshold_sd_db": ear["threshold_sd_db"] if model_own else None,
        "ear_threshold_lo_db": lo if model_own else None,
        "ear_threshold_hi_db": hi if model_own else None,
        "ear_threshold_status": ear["status"],
        "ear_threshold_model_db": None if model_threshold_placeholder(ear) else ear["model_threshold_db"],
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


def _waterfall(ax: Any, payload: dict[str, Any], ear: dict[str, Any]) -> None:
    """The ear's traces stacked (loudest on top), final marks (corrected ones orange, starred), threshold line."""
    import numpy as np

    t = np.asarray(payload["time_ms"])
    recs = [payload["records"][i] for i in ear["records"]]
    spread = [float(np.ptp(r["signal"])) for r in recs]
    step = max(0.05, 0.9 * float(np.median(spread))) if spread else 1.0
    for k, rec in enumerate(recs):
        y0 = -k * step
        sig = np.asarray(rec["signal"])
        ax.plot(t, np.clip(sig, -0.95 * step, 0.95 * step) + y0, color="black", lw=0.6)  # artefacts clipped
        ax.text(t[-1] + 0.15, y0, f"{rec['intensity_db']:.0f} dB", fontsize=6, va="center")
        for w in WAVES:
            wave = rec["waves"][w]
            lat = wave["latency_ms"]
            corrected = wave["status"] == "corrected"
            if lat is None or not (corrected or wave["present"]):
                continue
            yv = float(np.clip(np.interp(lat, t, sig), -0.95 * step, 0.95 * step)) + y0
            color = CORRECTED_COLOR if corrected else WAVE_COLORS[w]
            sd = wave["latency_sd_ms"]
            if not corrected and sd:
                ax.plot([lat - sd, lat + sd], [yv, yv], color=color, lw=1.2, alpha=0.4)
            ax.plot([lat], [yv], marker="v", color=color, ms=4)
            ax.text(lat, yv + 0.18 * step, w + ("*" if corrected else ""), fontsize=5.5, color=color, ha="center")
    levels = [r["intensity_db"] for r in recs]
    thr = ear["threshold_db"]
    if thr is not None and len(levels) > 1 and not threshold_placeholder(ear):  # a placeholder is no level to mark
        pos = -float(np.interp(thr, levels[::-1], np.arange(len(levels))[::-1])) * step  # level → stack position
        ax.axhline(pos, color=CORRECTED_COLOR if ear["status"] == "corrected" else "tab:purple", ls="--", lw=0.8)
    ax.set_yticks([])
    ax.set_xlim(t[0], t[-1] + 1.6)
    ax.set_xlabel("time (ms)", fontsize=7)
    ax.tick_params(labelsize=6)
    ax.set_title(f"ear {ear['ear']}: waterfall", fontsize=8, parse_math=False)


def _latency_intensity(ax: Any, payload: dict[str, Any], ear: dict[str, Any]) -> None:
    for w in WAVES:
        for rec in (payload["records"][i] for i in ear["records"]):
            wave = rec["waves"][w]
            corrected = wave["status"] == "corrected"
            if wave["latency_ms"] is None or not (corrected or wave["present"]):
                continue
            sd = None if corrected else wave["latency_sd_ms"]
            ax.errorbar(
                rec["intensity_db"], wave["latency_ms"], yerr=sd, fmt="s" if corrected else "o", ms=3, capsize=1.5,
                color=CORRECTED_COLOR if corrected else WAVE_COLORS[w], lw=0.8,
            )  # fmt: skip
    ax.set_xlabel(f"intensity ({ear.get('level_unit') or UNKNOWN_LEVEL_UNIT})", fontsize=7, parse_math=False)
    ax.set_ylabel("latency (ms)", fontsize=7)
    ax.tick_params(labelsize=6)
    ax.set_title("latency–intensity (I blue, III green, V red; corrected orange)", fontsize=7)


def _ear_lines(ear: dict[str, Any], top_db: float) -> list[str]:
    """The ear's summary lines; ``top_db`` is its loudest tested level, levels in the ear's own ``level_unit``. An
    uncorrected ear whose threshold is the placeholder above the tested levels (`threshold_placeholder`) gets no
    threshold number: printed as "65 ± 18 dB" it would be taken for a reading. A "no response" ear says so; an
    "uncertain" one says that no tested level crosses, and that the no-response call is uncertain. One whose V shows
    at its softest level gets "≤ that level" (`threshold_at_floor`), without its SD and zero-width interval."""
    thr, sd, iv = ear["threshold_db"], ear["threshold_sd_db"], ear["interval_90_db"]
    unit = ear.get("level_unit") or UNKNOWN_LEVEL_UNIT
    if ear["status"] == "corrected":
        model = (f"model: none up to {top_db:.1f} dB" if model_threshold_placeholder(ear)
                 else f"model {ear['model_threshold_db']:.1f} dB")  # fmt: skip
        head = (f"threshold {thr:.1f} {unit}* (corrected by {ear['corrected_by']} at {ear['corrected_at']}; "
                f"{model}){_model_tag(ear)}")  # fmt: skip
    elif ear.get("response") == "no response":
        head = f"no response up to {top_db:.1f} {unit}: threshold above the tested levels"
    elif threshold_placeholder(ear):  # kept short: the PDF prints it on one monospace row
        head = (f"p(V) crosses at no tested level up to {top_db:.1f} {unit}: threshold above the tested levels; "
                f"no-response call uncertain (P(no response) {ear['p_no_response']:.2f})")  # fmt: skip
    elif threshold_at_floor(ear):
        head = f"threshold ≤ {level_text(ear['min_level_db'])} {unit} ({FLOOR_WORDS})"
    elif thr is not None:
        head = f"threshold {thr:.1f} ± {sd:.1f} {unit} (90 % interval {iv[0]:.1f}-{iv[1]:.1f} dB)"
    else:
        head = "threshold: not available"
    probs = ", ".join(f"{c} {p:.2f}" for c, p in ear["class_prob"].items() if p is not None)
    return [
        f"Ear {ear['ear']}: {head}",
        f"  {ear.get('response', 'call not stored')}: P(no response) {ear['p_no_response']:.2f}; "
        f"class {ear['class_pred']} ({probs})",
    ]


def _model_tag(value: dict[str, Any]) -> str:
    """The tag " [other model]" after a value corrected against another model than the report's (`_model_lines`)."""
    return "" if not value.get("corrected_model_note") else " [other model]"


def _model_lines(corrected: list[dict[str, Any]], payload: dict[str, Any]) -> list[str]:
    """What ``[other model]`` means on this page: the models the marked values were corrected against, and that the
    model values printed beside them are this report's model's. Why: a report must not let a correction made on one
    model's reading pass for a correction of another model's numbers."""
    other = [v for v in corrected if v.get("corrected_model_note")]
    if not other:
        return []
    unknown = "a model not recorded (before the viewer kept it)"
    models = sorted({unknown if v["corrected_model_sha256"] is None
                     else model_label(v["corrected_model_checkpoint"], v["corrected_model_sha256"])
                     for v in other})  # fmt: skip
    now = model_label(payload["checkpoint"], payload["model_sha256"])
    return [f"[other model] {len(other)} value(s) corrected against {' and '.join(models)};",
            f"  this report is read by model {now}: the model values printed beside them are that model's"]  # fmt: skip


def patient_figure(payload: dict[str, Any], patient_id: str, *, generated_at: str) -> Any:
    """The report page (an A4 matplotlib Figure, no pyplot state): per ear the waterfall, latency–intensity plot,
    threshold, class, and a list of every corrected value (who, when, the model's value)."""
    from matplotlib.figure import Figure

    ears = [e for e in payload["ears"] if e["patient_id"] == patient_id][:2]
    if not ears:
        raise KeyError(patient_id)
    fig = Figure(figsize=(8.27, 11.69))
    text = lambda y, s, **kw: fig.text(0.05, y, s, parse_math=False, **kw)  # user text: "$" is not mathtext
    ages = {payload["records"][i]["age_years"] for e in ears for i in e["records"]} - {None}
    age = " and ".join(f"{a:g}" for a in sorted(ages)) or "?"  # what the model ran at (the form's or the file's)
    text(0.965, f"ABR report: patient {patient_id}", fontsize=14, weight="bold")
    text(0.945, f"file {payload['filename']} (sha256 {payload['file_hash'][:12]}), generated {generated_at}", size=7)
    given = options_text(payload.get("reading_options") or {})  # what the form supplied beside the age
    given = f" with the form's {given}" if given else ""
    text(0.932, f"model {payload['checkpoint']} (sha256 {payload['model_sha256'][:12]}); the model ran at age {age} "
         f"years{given}", fontsize=7)  # fmt: skip
    width = 0.86 / len(ears) - 0.08
    for k, ear in enumerate(ears):
        x0 = 0.07 + (width + 0.08) * k
        _waterfall(fig.add_axes((x0, 0.50, width, 0.40)), payload, ear)
        _latency_intensity(fig.add_axes((x0, 0.29, width, 0.15)), payload, ear)
    lines: list[str] = []
    for ear in ears:
        recs = [payload["records"][i] for i in ear["records"]]
        lines += _ear_lines(ear, max(r["intensity_db"] for r in recs))
        dom = sorted({str(v) for r in recs for v in (r.get("domain") or {}).values() if v not in (None, "", "in")})
        if dom:
            lines.append("  out of the model's domain: " + " | ".join(dom))
    peaks = [
        (rec, w, wave)
        for ear in ears
        for rec in (payload["records"][i] for i in ear["records"])
        for w, wave in rec["waves"].items()
        if wave["status"] == "corrected"
    ]
    corrected = [
        f"{rec['ear']} {rec['intensity_db']:.0f} dB wave {w}: {wave['latency_ms']:.2f} ms* (model "
        f"{wave['model_latency_ms']:.2f} ms), corrected by {wave['corrected_by']} at {wave['corrected_at']}"
        + _model_tag(wave)
        for rec, w, wave in peaks
    ]
    lines.append("Corrected values (*): " + ("none" if not corrected else f"{len(corrected)}"))
    lines += _model_lines([e for e in ears if e["status"] == "corrected"] + [wave for *_, wave in peaks], payload)
    lines += ["  " + c for c in corrected[:14]]
    if len(corrected) > 14:
        lines.append(f"  ... and {len(corrected) - 14} more")
    for j, line in enumerate(lines[:26]):
        text(0.24 - j * 0.0085, line, fontsize=6.5, family="monospace")
    return fig


def patient_pdf(payload: dict[str, Any], patient_id: str, *, generated_at: str) -> bytes:
    """`patient_figure` as a one-page PDF (KeyError when the file has no such patient)."""
    from matplotlib.backends.backend_pdf import PdfPages

    fig = patient_figure(payload, patient_id, generated_at=generated_at)
    buf = io.BytesIO()
    with PdfPages(buf, metadata={"Title": f"ABR report {patient_id}", "Creator": "abrnet serve"}) as pdf:
        pdf.savefig(fig)
    return buf.getvalue()
