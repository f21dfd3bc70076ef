"""The one-page PDF report per patient of a reviewed file (`patient_pdf`; the CSV export: `abrnet.viewer.export`).

The page is what a clinician signs, so it carries what the viewer's page shows: per ear the waterfall with final
marks (corrected ones orange and starred; a wave the expert marked absent as an orange "x" at the model's latency)
and a µV scale bar (the traces are drawn to a common scale: without a bar a 1000x unit error looked like a normal
ABR), the latency-intensity plot on a fixed scale like the page's (at least 1-8 ms, levels +/- 5 dB: an autoscaled
0.4 ms span looked like a steep function), the threshold and the ear's final call beside the model's, the file's
warnings, the stimulus and rate, and every corrected value. Long lines are wrapped (`report_lines`), and text that
does not fit below the plots continues on further pages: a report must not cut a caveat off.

An ear with more than one stimulus is one intensity series per stimulus (`abrnet.data.series_key`): each gets its
own plots and lines, named "ear L, tone_pip 8000 Hz" (`series_name`); an ear with one stimulus reads as before.

Text from users and files is data: the PDF prints ``$`` as is (matplotlib would read ``$...$`` as mathtext).
"""

from __future__ import annotations

import io
import math
import textwrap
from typing import Any

from abrnet.constants import WAVES
from abrnet.inference.result_plots import UNKNOWN_LEVEL_UNIT
from abrnet.viewer.analysis import (
    CORRECTED_PEAK,
    model_label,
    model_threshold_placeholder,
    threshold_at_floor,
    threshold_placeholder,
)
from abrnet.viewer.export import level_text
from abrnet.viewer.flags import ABOVE_MAX, BELOW_MIN
from abrnet.viewer.reading_text import options_text

WAVE_COLORS: dict[str, str] = {"I": "#1f77b4", "III": "#2ca02c", "V": "#d62728"}
CORRECTED_COLOR = "#ff7f0e"
FLOOR_WORDS = "wave V at the lowest level tested; nothing softer was recorded"  # the page says the same
LINE_CHARS = 128  # monospace 6.5 pt characters across the A4 text block
TEXT_TOP, LINE_STEP, PAGE_LINES = 0.245, 0.0085, 105  # the first page's text block; a continuation page's lines


def scale_bar_uv(room: float) -> float:
    """The largest 1-2-5 step (µV) that fits in `room` µV: the waterfall's amplitude scale bar."""
    exp = math.floor(math.log10(max(room, 1e-9)))
    for f in (5, 2, 1):
        if f * 10**exp <= room:
            return float(f * 10**exp)
    return float(10 ** (exp - 1) * 5)


def _waterfall(ax: Any, payload: dict[str, Any], ear: dict[str, Any]) -> None:
    """The ear's traces stacked (loudest on top), final marks (corrected ones orange, starred; an expert's "absent"
    an orange x at the model's latency), threshold line, and a µV scale bar."""
    import numpy as np

    t = np.asarray(payload["time_ms"])
    recs = [payload["records"][i] for i in ear["records"]]
    spread = [float(np.ptp(r["signal"])) for r in recs]
    step = max(0.05, 0.9 * float(np.median(spread))) if spread else 1.0
    for k, rec in enumerate(recs):
        y0 = -k * step
        sig = np.asarray(rec["signal"])
        ax.plot(t, np.clip(sig, -0.95 * step, 0.95 * step) + y0, color="black", lw=0.6)  # artefacts clipped
        ax.text(t[-1] + 0.15, y0, f"{level_text(rec['intensity_db'])} dB", fontsize=6, va="center")
        for w in WAVES:
            wave = rec["waves"][w]
            absent = wave["status"] == "corrected_absent"
            lat = wave["model_latency_ms"] if absent else wave["latency_ms"]
            corrected = wave["status"] == "corrected"
            if lat is None or not (corrected or absent or wave["present"]):
                continue
            yv = float(np.clip(np.interp(lat, t, sig), -0.95 * step, 0.95 * step)) + y0
            color = CORRECTED_COLOR if corrected or absent else WAVE_COLORS[w]
            sd = wave["latency_sd_ms"]
            if not (corrected or absent) and sd:
                ax.plot([lat - sd, lat + sd], [yv, yv], color=color, lw=1.2, alpha=0.4)
            ax.plot([lat], [yv], marker="x" if absent else "v", color=color, ms=4)
            label = w + (" absent*" if absent else "*" if corrected else "")
            ax.text(lat, yv + 0.18 * step, label, fontsize=5.5, color=color, ha="center")
    levels = [r["intensity_db"] for r in recs]
    thr = ear["threshold_db"]
    marked = not threshold_placeholder(ear) and ear.get("threshold_flag") != ABOVE_MAX  # neither is a tested level
    if thr is not None and len(levels) > 1 and marked:
        pos = -float(np.interp(thr, levels[::-1], np.arange(len(levels))[::-1])) * step  # level → stack position
        ax.axhline(pos, color=CORRECTED_COLOR if ear["status"] == "corrected" else "tab:purple", ls="--", lw=0.8)
    bar = scale_bar_uv(0.8 * step)
    x_bar, y_bar = t[-1] + 1.0, -(len(recs) - 0.5) * step
    ax.plot([x_bar, x_bar], [y_bar, y_bar + bar], color="black", lw=1.2, clip_on=False)
    ax.text(x_bar + 0.1, y_bar + bar / 2, f"{bar:g} µV", fontsize=5.5, va="center", parse_math=False)
    ax.set_yticks([])
    ax.set_xlim(t[0], t[-1] + 1.6)
    ax.set_xlabel("time (ms)", fontsize=7)
    ax.tick_params(labelsize=6)
    ax.set_title(f"{series_name(ear)}: waterfall", fontsize=8, parse_math=False)


def _latency_intensity(ax: Any, payload: dict[str, Any], ear: dict[str, Any]) -> None:
    """Final latencies against level on the page's fixed scale: at least 1-8 ms, the ear's levels +/- 5 dB."""
    lows, highs = [1.0], [8.0]
    for w in WAVES:
        for rec in (payload["records"][i] for i in ear["records"]):
            wave = rec["waves"][w]
            corrected = wave["status"] == "corrected"
            if wave["latency_ms"] is None or not (corrected or wave["present"]):
                continue
            sd = None if corrected else wave["latency_sd_ms"]
            lows.append(wave["latency_ms"] - (sd or 0.0))
            highs.append(wave["latency_ms"] + (sd or 0.0))
            ax.errorbar(
                rec["intensity_db"], wave["latency_ms"], yerr=sd, fmt="s" if corrected else "o", ms=3, capsize=1.5,
                color=CORRECTED_COLOR if corrected else WAVE_COLORS[w], lw=0.8,
            )  # fmt: skip
    ax.set_ylim(max(0.0, min(lows) - 0.3), max(highs) + 0.3)
    levels = [payload["records"][i]["intensity_db"] for i in ear["records"]]
    levels = [v for v in levels if v is not None]
    if levels:
        ax.set_xlim(min(levels) - 5, max(levels) + 5)
    ax.set_xlabel(f"intensity ({ear.get('level_unit') or UNKNOWN_LEVEL_UNIT})", fontsize=7, parse_math=False)
    ax.set_ylabel("latency (ms)", fontsize=7)
    ax.tick_params(labelsize=6)
    ax.set_title("latency–intensity (I blue, III green, V red; corrected orange)", fontsize=7)


def series_name(ear: dict[str, Any]) -> str:
    """A series as the report names it: "ear L", and its stimulus where the ear holds more than one
    ("ear L, tone_pip 8000 Hz")."""
    stimulus = ear.get("series_stimulus") or ""
    return f"ear {ear['ear']}" + (f", {stimulus}" if stimulus else "")


def panel_boxes(n: int) -> list[tuple[tuple[float, ...], tuple[float, ...]]]:
    """(waterfall, latency–intensity) axes boxes of `n` series on the first page: side by side for one or two (as
    the report always had), two to a row for more, all within the plots' band (0.29–0.92 of the page height)."""
    cols, rows = min(n, 2), -(-n // 2)
    width, height = 0.86 / cols - 0.08, 0.63 / rows
    boxes = []
    for k in range(n):
        x0, y0 = 0.07 + (width + 0.08) * (k % cols), 0.92 - height * (k // cols + 1)
        boxes.append(((x0, y0 + height / 3, width, height * 2 / 3), (x0, y0, width, height * 0.15 / 0.63)))
    return boxes


def _ear_lines(ear: dict[str, Any], top_db: float) -> list[str]:
    """The ear's summary lines; ``top_db`` is its loudest tested level, levels in the ear's own ``level_unit``. An
    uncorrected ear whose threshold is the placeholder above the tested levels (`threshold_placeholder`) gets no
    threshold number: printed as "65 ± 18 dB" it would be taken for a reading. A "no response" ear says so; an
    "uncertain" one says that no tested level crosses, and that the no-response call is uncertain. One whose V shows
    at its softest level gets "≤ that level" (`threshold_at_floor`), without its SD and zero-width interval. A
    corrected ear's second line gives the final call (an expert's threshold is a response, an expert's mark "no
    response") and then the model's call, labelled as the model's: the two must not read as if they agreed. A stored
    correction that does not stand as it looks (`abrnet.viewer.flags`) gets its note on a third line, and one outside
    the tested levels prints as what it means ("above 80.0", "≤ 0")."""
    thr, sd, iv = ear["threshold_db"], ear["threshold_sd_db"], ear["interval_90_db"]
    unit = ear.get("level_unit") or UNKNOWN_LEVEL_UNIT
    model = (f"model: none up to {top_db:.1f} dB" if model_threshold_placeholder(ear)
             else f"model {ear['model_threshold_db']:.1f} dB")  # fmt: skip
    if ear["status"] == "corrected":  # a value outside the tested levels reads as what it means (`flags`)
        flag = ear.get("threshold_flag")
        shown = (f"above {top_db:.1f}" if flag == ABOVE_MAX else f"≤ {level_text(ear['min_level_db'])}"
                 if flag == BELOW_MIN else f"{thr:.1f}")  # fmt: skip
        head = (f"threshold {shown} {unit}* (corrected by {ear['corrected_by']} at {ear['corrected_at']}; "
                f"{model}){_model_tag(ear)}")  # fmt: skip
    elif ear["status"] == "corrected_no_response":
        head = (f"no response up to {top_db:.1f} {unit}* (marked by {ear['corrected_by']} at {ear['corrected_at']}; "
                f"{model}){_model_tag(ear)}")  # fmt: skip
    elif ear.get("response") == "no response":
        head = f"no response up to {top_db:.1f} {unit}: threshold above the tested levels"
    elif threshold_placeholder(ear):  # kept short: the PDF prints it on one monospace row
        head = (f"p(V) crosses at no tested level up to {top_db:.1f} {unit}: threshold above the tested levels; "
                f"no-response call uncertain (P(no response) {ear['p_no_response']:.2f})")  # fmt: skip
    elif threshold_at_floor(ear):
        head = f"threshold ≤ {level_text(ear['min_level_db'])} {unit} ({FLOOR_WORDS})"
    elif thr is not None:
        upper = f"{iv[1]:.1f}" if iv[1] is not None else f"above {top_db:.1f}"  # open: past the loudest level
        head = f"threshold {thr:.1f} ± {sd:.1f} {unit} (90 % interval {iv[0]:.1f}-{upper} dB)"
    else:
        head = "threshold: not available"
    probs = ", ".join(f"{c} {p:.2f}" for c, p in ear["class_prob"].items() if p is not None)
    call = ear.get("response", "call not stored")
    if ear["status"] != "model":
        why = "the expert's threshold" if ear["status"] == "corrected" else "the expert's mark"
        call = f"{ear.get('final_response')}* ({why}); model's call {call}"
    name = series_name(ear)
    note = [f"  note: {ear['threshold_note']}"] if ear.get("threshold_note") else []
    return [f"{name[0].upper()}{name[1:]}: {head}", f"  {call}: P(no response) {ear['p_no_response']:.2f}; class "
            f"{ear['class_pred']} ({probs})", *note]  # fmt: skip


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


def wrapped(lines: list[str], width: int = LINE_CHARS) -> list[str]:
    """`lines` wrapped at `width` characters, continuation rows indented under their line's own indent + 4."""
    out: list[str] = []
    for line in lines:
        indent = " " * (len(line) - len(line.lstrip(" ")))
        out += textwrap.wrap(line, width, subsequent_indent=indent + "    ", break_on_hyphens=False) or [""]
    return out


def _stimulus_line(recs: list[dict[str, Any]]) -> str:
    """The ears' stimulus and rate as the model read them ("not recorded" where the file does not say)."""
    stimuli = sorted({str(r.get("stimulus")) for r in recs} - {"unknown", "None", ""}) or ["not recorded"]
    rates = sorted({r["stimulus_rate_hz"] for r in recs} - {None})
    rate = " and ".join(f"{v:g}" for v in rates) + " /s" if rates else "not recorded"
    return f"stimulus {' and '.join(stimuli)}, stimulus rate {rate}"


def _peak_line(rec: dict[str, Any], w: str, wave: dict[str, Any], ear: dict[str, Any]) -> str:
    """A corrected peak for the report's list: the expert's latency or "absent", beside the model's reading; `ear`
    is its series (its stimulus named where the ear holds several)."""
    stimulus = f" {ear['series_stimulus']}" if ear.get("series_stimulus") else ""
    where = f"{rec['ear']}{stimulus} {level_text(rec['intensity_db'])} dB wave {w}"
    model = f"model {wave['model_latency_ms']:.2f} ms" if wave["model_latency_ms"] is not None else "model none"
    if wave["status"] == "corrected_absent":
        what = f"absent* ({model}, P(present) {wave['presence_prob']:.2f}), marked by"
    else:
        what = f"{wave['latency_ms']:.2f} ms* ({model}), corrected by"
    return f"{where}: {what} {wave['corrected_by']} at {wave['corrected_at']}" + _model_tag(wave)


def patient_warnings(payload: dict[str, Any], patient_id: str) -> list[str]:
    """The file's warnings that a patient's report may carry: one naming only other patients' ears is left out, and
    in one naming this patient's too the others' ear keys are replaced. Why: a PDF is handed on per patient, and it
    printed every warning of the file, other patients' ids included (hunt 13 #3)."""
    keys = lambda e: {e["key"], e.get("ear_key") or e["key"]}  # the series' key and its ear's
    others = sorted(set().union(*(keys(e) for e in payload["ears"] if e["patient_id"] != patient_id)), key=len,
                    reverse=True)  # fmt: skip
    mine = [k for e in payload["ears"] if e["patient_id"] == patient_id for k in keys(e)]
    kept = []
    for text in payload.get("warnings") or []:
        if any(key in text for key in others) and not any(key in text for key in mine):
            continue
        for key in others:
            text = text.replace(key, "(another patient's ear)")
        kept.append(text)
    return kept


def report_lines(payload: dict[str, Any], patient_id: str) -> list[str]:
    """Every text line of a patient's report below its title, wrapped (KeyError when the file has no such patient):
    the file and model, the reading (age, the form's options, stimulus and rate), per ear its threshold, calls and
    domain notes, the file's warnings as the page shows them, and every corrected value."""
    ears = [e for e in payload["ears"] if e["patient_id"] == patient_id]  # every series of the patient
    if not ears:
        raise KeyError(patient_id)
    recs = [payload["records"][i] for e in ears for i in e["records"]]
    ages = {r["age_years"] for r in recs} - {None}
    age = " and ".join(f"{a:g}" for a in sorted(ages)) or "?"  # what the model ran at (the form's or the file's)
    given = options_text(payload.get("reading_options") or {})  # what the form supplied beside the age
    lines = [f"file {payload['filename']} (sha256 {payload['file_hash'][:12]})",
             f"model {payload['checkpoint']} (sha256 {payload['model_sha256'][:12]})",
             f"the model ran at age {age} years" + (f" with the form's {given}" if given else "") + "; "
             + _stimulus_line(recs)]  # fmt: skip
    for ear in ears:
        mine = [payload["records"][i] for i in ear["records"]]
        lines += _ear_lines(ear, max(r["intensity_db"] for r in mine))
        dom = sorted({str(v) for r in mine for v in (r.get("domain") or {}).values() if v not in (None, "", "in")})
        if dom:
            lines.append("  out of the model's domain: " + " | ".join(dom))
    if warnings := patient_warnings(payload, patient_id):
        lines.append(f"Warnings on reading the file ({len(warnings)}):")
        lines += [f"  - {w}" for w in warnings]
    peaks = [(rec, w, wave, ear) for ear in ears for rec in (payload["records"][i] for i in ear["records"])
             for w, wave in rec["waves"].items() if wave["status"] in CORRECTED_PEAK]  # fmt: skip
    n_corrected = len(peaks) + sum(e["status"] != "model" for e in ears)
    lines.append(f"Corrected values (*): {n_corrected or 'none'}")
    lines += _model_lines([e for e in ears if e["status"] != "model"] + [p[2] for p in peaks], payload)
    lines += ["  " + _peak_line(*p) for p in peaks]
    return wrapped(lines)


def patient_figures(payload: dict[str, Any], patient_id: str, *, generated_at: str) -> list[Any]:
    """The report's pages (A4 matplotlib Figures, no pyplot state): the first with per ear the waterfall and the
    latency–intensity plot above `report_lines`; lines that do not fit continue on further text pages."""
    from matplotlib.figure import Figure

    lines = report_lines(payload, patient_id)
    ears = [e for e in payload["ears"] if e["patient_id"] == patient_id]
    fig = Figure(figsize=(8.27, 11.69))
    fig.text(0.05, 0.965, f"ABR report: patient {patient_id}", fontsize=14, weight="bold", parse_math=False)
    fig.text(0.05, 0.948, f"generated {generated_at}", fontsize=7)
    for ear, (waterfall_box, li_box) in zip(ears, panel_boxes(len(ears)), strict=True):
        _waterfall(fig.add_axes(waterfall_box), payload, ear)
        _latency_intensity(fig.add_axes(li_box), payload, ear)
    first = int(TEXT_TOP / LINE_STEP)
    pages, rest = [fig], lines[first:]
    for j, line in enumerate(lines[:first]):
        fig.text(0.05, TEXT_TOP - j * LINE_STEP, line, fontsize=6.5, family="monospace", parse_math=False)
    while rest:
        page = Figure(figsize=(8.27, 11.69))
        page.text(0.05, 0.965, f"ABR report: patient {patient_id} (continued)", fontsize=10, parse_math=False)
        for j, line in enumerate(rest[:PAGE_LINES]):
            page.text(0.05, 0.94 - j * LINE_STEP, line, fontsize=6.5, family="monospace", parse_math=False)
        pages.append(page)
        rest = rest[PAGE_LINES:]
    return pages


def patient_figure(payload: dict[str, Any], patient_id: str, *, generated_at: str) -> Any:
    """The report's first page (`patient_figures`)."""
    return patient_figures(payload, patient_id, generated_at=generated_at)[0]


def patient_pdf(payload: dict[str, Any], patient_id: str, *, generated_at: str) -> bytes:
    """`patient_figures` as a PDF (KeyError when the file has no such patient)."""
    from matplotlib.backends.backend_pdf import PdfPages

    figures = patient_figures(payload, patient_id, generated_at=generated_at)
    buf = io.BytesIO()
    with PdfPages(buf, metadata={"Title": f"ABR report {patient_id}", "Creator": "abrnet serve"}) as pdf:
        for fig in figures:
            pdf.savefig(fig)
    return buf.getvalue()
