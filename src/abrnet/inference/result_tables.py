"""Result tables of `abrnet predict` and the Python API: per-record and per-ear columns, CSV/JSON (plots:
`abrnet.inference.result_plots`).

Kept apart from the model object (`abrnet.inference.api`) so reading results needs no sampler code.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from abrnet.constants import (
    CLASS_NAMES,
    LEVEL_TOL_DB,
    WAVES,
)
from abrnet.data.describe import stimulus_order
from abrnet.data.files import check_fname, staged_write
from abrnet.data.schema import ABRCohort, float32_column_as_typed
from abrnet.inference.clinical_columns import (
    clinical_ear_columns,
    clinical_record_columns,
    ear_floors,
    patient_columns,
    present_latency,
)
from abrnet.inference.domain import IN_DOMAIN, merged_reasons
from abrnet.inference.series_warnings import lower_brackets
from abrnet.models.predictions import Predictions
from abrnet.series.classifier import adjusted_record_probs
from abrnet.series.per_ear import EarTable, SeriesModel, aggregate_ears, highest_levels, lowest_levels

INTERPEAK: tuple[tuple[str, str], ...] = (("I", "III"), ("III", "V"), ("I", "V"))
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # what makes a spreadsheet read a cell as a formula
PLAIN_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
# Series columns holding a tested level (or the placeholder above the highest): written as typed (`series_columns`)
SERIES_LEVELS = (
    "threshold_db", "threshold_lo_db", "threshold_hi_db", "threshold_bracket_lo_db", "max_level_db", "min_level_db",
)  # fmt: skip


# ------------------------------------------------------------------------------------------------ predict output
def prediction_columns(
    pred: Predictions,
    cohort: ABRCohort,
    series_pred: Predictions | None = None,
    class_bias: list[float] | None = None,
) -> dict[str, np.ndarray]:
    """The results table (one entry per column, N rows) in the documented column order.

    Interpeak intervals are differences of the latencies of waves the model calls present (p ≥ 0.5), empty where
    either wave is absent, as in <out>.series.csv and the viewer: an interval of two waves read from noise looked like a
    normal conduction time. `series_pred` (series mode) adds each wave's latency and
    amplitude read together with the rest of the ear's series (``<wave>_latency_series_ms``, …). ``class_pred``
    applies the checkpoint's record decision rule: the argmax over classes of log ``p_<CLASS>`` + a per-class
    log-prior shift (`class_bias`, tuned for macro-F1 on validation records; `adjusted_record_probs`), so it can
    differ from the argmax of the printed ``p_<CLASS>``, which are the network's own probabilities (about one record
    in six on a simulated cohort). The bias is not printed as columns: the column set stays the documented one.
    """
    cols: dict[str, np.ndarray] = {
        "patient_id": np.asarray(cohort.patient_id).astype(str),
        "ear": np.asarray(cohort.ear).astype(str),
        "intensity_db": float32_column_as_typed(cohort.static_column("intensity_db")),  # as typed: 57.3
    }
    for j, w in enumerate(WAVES):
        cols[f"{w}_presence_prob"] = pred.peak_presence_prob[:, j]
        cols[f"{w}_latency_ms"] = pred.latency_ms[:, j]
        cols[f"{w}_latency_sd_ms"] = pred.latency_sd_ms[:, j]
        cols[f"{w}_amplitude_uv"] = pred.amplitude_uv[:, j]
        cols[f"{w}_amplitude_sd_uv"] = pred.amplitude_sd_uv[:, j]
        if series_pred is not None:
            cols[f"{w}_latency_series_ms"] = series_pred.latency_ms[:, j]
            cols[f"{w}_amplitude_series_uv"] = series_pred.amplitude_uv[:, j]
    present = present_latency(pred)  # (N, 3) NaN where the wave is absent
    for a, b in INTERPEAK:
        cols[f"{a}_{b}_ms"] = present[:, WAVES.index(b)] - present[:, WAVES.index(a)]
    cols.update(clinical_record_columns(pred, cohort))
    if "domain" in cohort.extras:
        cols["domain"] = np.asarray(cohort.extras["domain"]).astype(str)
    cols["class_pred"] = np.array(CLASS_NAMES)[np.argmax(adjusted_record_probs(pred.class_prob, class_bias), axis=1)]
    for c, name in enumerate(CLASS_NAMES):
        cols[f"p_{name}"] = pred.class_prob[:, c]
    cols["threshold_db"] = pred.threshold_db
    cols["threshold_sd_db"] = pred.threshold_sd_db
    cols["p_no_response"] = pred.p_no_response
    return cols


def series_columns(ears: EarTable, cohort: ABRCohort | None = None) -> dict[str, np.ndarray]:
    """One row per series (sorted `series_keys`: an ear, split by stimulus where it holds more than one; the
    ``stimulus`` column tells two rows of one ear apart): the series threshold with its uncertainty and the class.

    With the `cohort` the ears were read from (`PredictionReport.series` passes it), six more columns say how to
    read the row:

    * ``threshold_above_max_level`` (bool; 1/0 in CSV): the ear's p(V) curve crosses at no tested level, so
      ``threshold_db`` is *not* a measured level but the placeholder ``max_level_db`` + 5 dB ("above the highest
      level tested", as a report writes "> 100 dB"). The number stays (the per-ear evaluation scores it, and it
      sorts above every measured level); the flag says what it is. Its interval is written "above the highest
      level" (`above_max_interval`): ``threshold_lo_db`` = ``max_level_db``, ``threshold_hi_db`` and
      ``threshold_sd_db`` empty. Elsewhere too, a ``threshold_hi_db`` the 90 % interval would put above the highest
      level is left empty (open: "above ``max_level_db``"). Why: "65 dB" for an ear
      tested up to 60 dB read like a measured threshold, and the ``response`` column is not enough, because an
      "uncertain" ear can have the placeholder too.
    * ``max_level_db``: the highest level the ear was tested at.
    * ``threshold_at_min_level`` (bool): the mirror case. The curve already crosses at the ear's lowest tested level
      ``min_level_db``, so the threshold is that level *or lower*: nothing below it was recorded. Its SD and the
      interval's low end cannot see below that level either (one level, or a V at every level, gave "100 ± 0 dB,
      90 % interval 100-100"), so they are no measure of certainty there. Why: a screening series at one level,
      or a grid starting at 30 dB, read as a threshold known exactly.
    * ``min_level_db``: the lowest level the ear was tested at.
    * ``threshold_bracket_lo_db``: the highest level tested below ``threshold_db`` (empty where the threshold is at
      the lowest level, or above the highest: a placeholder has no bracket, `lower_brackets`). A crossing can only
      sit at a tested level, so the threshold lies anywhere in (this level, ``threshold_db``]; the 90 % interval,
      drawn on tested levels, omits that gap. Why: with 30–50 dB untested
      (or only 80 and 20 dB), an ear of 20 dB read "60 [60, 60]" (`series_warnings.sparse_level_brackets` warns).
    * ``domain``: ``in`` when every record of the ear is in the model's domain, else their reasons
      (`abrnet.inference.domain`); the per-ear answer of a mouse series otherwise looked like a clinical one.
    """
    cols: dict[str, np.ndarray] = {
        "patient_id": ears.patient_id.astype(str),
        "ear": ears.ear.astype(str),  # as the records give it: never parsed out of the key (ids may hold '/')
        "stimulus": ears.stimulus.astype(str),  # "click", "tone_pip 8000 Hz", "unknown": one series per stimulus
        "threshold_db": ears.threshold_db,
    }
    sd, lo, hi = ears.threshold_sd_db, ears.threshold_lo_db, ears.threshold_hi_db
    if cohort is not None:
        reading = threshold_reading(ears, cohort)
        cols.update(reading)
        sd, lo, hi = above_max_interval(reading, sd, lo, hi)
    cols |= {
        "threshold_sd_db": sd,
        "threshold_lo_db": lo,  # 90 % interval read off the ear's p(V) curve
        "threshold_hi_db": hi,
        "p_no_response": ears.p_no_response,
        "response": ears.response,  # response / no response / uncertain (the threshold and p_no_response disagree)
        "class_pred": np.array(CLASS_NAMES)[ears.predicted_class],
        "cm_log_snr": ears.cm_log_snr,  # cochlear-microphonic cue at the loudest levels: ~0 none, ANSD higher
        "n_records": ears.n_records,
    }
    if cohort is not None:  # after the existing columns: the threshold lies in (bracket, threshold_db]
        cols["threshold_bracket_lo_db"] = lower_brackets(ears, cohort)
    cols |= {k: float32_column_as_typed(v) for k, v in cols.items() if k in SERIES_LEVELS}  # 57.3, not 57.29999924
    if cohort is not None and "domain" in cohort.extras:
        cols["domain"] = ear_domain(ears, cohort)
    for c, name in enumerate(CLASS_NAMES):
        cols[f"p_{name}"] = ears.class_prob[:, c]
    return cols


def threshold_reading(ears: EarTable, cohort: ABRCohort) -> dict[str, np.ndarray]:
    """``threshold_above_max_level``, ``max_level_db``, ``threshold_at_min_level`` and ``min_level_db`` per ear
    (see `series_columns`).

    A crossing is always at a tested level, so a threshold above the ear's highest level is the placeholder, and
    one at its lowest level is a bound ("at or below"), not a reading."""
    if ears.record_ear.shape[0] != cohort.n_records:
        raise ValueError(f"{ears.record_ear.shape[0]} records in the ear table for {cohort.n_records} in the cohort")
    level = cohort.static_column("intensity_db").astype(np.float64)
    max_db = highest_levels(ears.record_ear, level, ears.n_ears)
    min_db = lowest_levels(ears.record_ear, level, ears.n_ears)
    threshold = np.asarray(ears.threshold_db, dtype=np.float64)
    return {
        "threshold_above_max_level": threshold > max_db + LEVEL_TOL_DB,
        "max_level_db": max_db,
        "threshold_at_min_level": threshold <= min_db + LEVEL_TOL_DB,
        "min_level_db": min_db,
    }


def above_max_interval(
    reading: dict[str, np.ndarray], sd: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(SD, low, high) of the threshold as <out>.series.csv writes them: for an ear with ``threshold_above_max_level``
    the interval "above the highest level": low = ``max_level_db``, high and SD NaN; for any other ear a high end
    above ``max_level_db`` is NaN too, an open bound (the EarTable the evaluation scores keeps its numbers).

    Why: the p(V) curve of a no-response ear is a flat line of noise that passes the lower quantile at the softest
    level and has no increments, so it printed "0–85 dB, SD 0" — "may be normal, known exactly" for an ear with no
    wave V at any level. And where the curve of a measured threshold never reaches the upper quantile, the series
    stage puts that end at the above-max placeholder (``max_level_db`` + 5 dB): "50 dB [20, 85]" for an ear tested
    up to 80 dB printed a bound at a level nobody tested (hunt 15 #8); it is only known to be above 80 dB."""
    above = np.asarray(reading["threshold_above_max_level"], dtype=bool)
    max_db = np.asarray(reading["max_level_db"], dtype=np.float64)
    hi = np.asarray(hi, dtype=np.float64)
    nan = np.full(above.shape, np.nan)
    return (
        np.where(above, nan, np.asarray(sd, dtype=np.float64)),
        np.where(above, max_db, np.asarray(lo, dtype=np.float64)),
        np.where(above | (hi > max_db + LEVEL_TOL_DB), nan, hi),
    )


def reading_rows(cols: dict[str, np.ndarray]) -> np.ndarray:
    """Row indices that put a series or patients table (or the ear table's own ``patient_id``/``ear``/``stimulus``
    columns) in reading order: by patient, ear (where the table has one), then stimulus type and its frequency as a
    number (`abrnet.data.describe.stimulus_order`). Ties keep their order.

    Why: the series stage keeps its series sorted by key text, so ``tone_pip 16000 Hz`` came before
    ``tone_pip 8000 Hz`` (hunt 15 #12). One rule for the CSV and JSON tables, the Python API and the viewer's panels
    (which orders the ear table's keys with it, to pair them with the rows of `PredictionReport.series`)."""
    patient = np.asarray(cols["patient_id"]).astype(str).tolist()
    ear = np.asarray(cols["ear"]).astype(str).tolist() if "ear" in cols else [""] * len(patient)
    stimulus = np.asarray(cols["stimulus"]).astype(str).tolist() if "stimulus" in cols else [""] * len(patient)
    keys = [(p, e, *stimulus_order(s)) for p, e, s in zip(patient, ear, stimulus, strict=True)]
    return np.array(sorted(range(len(keys)), key=keys.__getitem__), dtype=np.intp)


def reading_order(cols: dict[str, np.ndarray] | None) -> dict[str, np.ndarray] | None:
    """The table `cols` with its rows in `reading_rows` order, as `PredictionReport.series` and
    `PredictionReport.patients` return them and <out>.series.csv, <out>.patients.csv and the JSON write them."""
    if not cols or "patient_id" not in cols:
        return cols
    order = reading_rows(cols)
    return {name: np.asarray(values)[order] for name, values in cols.items()}


def ear_domain(ears: EarTable, cohort: ABRCohort) -> np.ndarray:
    """(E,) ``in`` where every record of the ear is in the model's domain, else the distinct reasons of its records
    (``species: mouse; level unit: dB SPL``), in order of first appearance."""
    domain = np.asarray(cohort.extras["domain"]).astype(str)
    reasons: list[dict[str, None]] = [{} for _ in range(ears.n_ears)]
    pairs = np.unique(np.stack([ears.record_ear.astype(str), domain], axis=1), axis=0)
    for e, value in pairs.tolist():
        if value != IN_DOMAIN:
            reasons[int(e)].update(dict.fromkeys(value.split("; ")))
    return np.array(["; ".join(merged_reasons(list(r))) or IN_DOMAIN for r in reasons]).astype(str)


def spreadsheet_text(text: str) -> str:
    """A CSV text cell as a spreadsheet shows it, never runs it: one that starts like a formula (= + - @ tab CR) gets
    a leading ``'`` (OWASP's CSV-injection advice), except a plain number, which stays a number ("-3.5").

    Why: patient ids and other text come from users' files; ``=HYPERLINK(...)`` or ``@SUM(...)`` as an id ran as a
    formula when a clinician opened the CSV in Excel. The one definition for every CSV abrnet writes for people
    (`write_columns_csv`, the viewer's export); JSON output keeps the text as is."""
    if text.startswith(FORMULA_START) and not PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def _cell(v: Any) -> str:
    if isinstance(v, (str, np.str_)):
        return spreadsheet_text(str(v))
    x = float(v)
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    return "" if math.isnan(x) else format(x, ".9g")  # .9g: float32 values read back bit-exact


def column_cells(values: np.ndarray) -> list[str]:
    """One column's CSV cells, exactly as `_cell` writes each value (text through `spreadsheet_text`), formatted a
    column at a time.

    Why: a 50k-row results table has ~2M cells; calling `_cell` per cell (type checks, NumPy scalar boxing) cost
    more than the rest of writing. ``tolist()`` turns a float32/float64 column into Python floats of the same value,
    so ``format(x, ".9g")`` gives the same text; other dtypes (object, mixed) keep the per-cell rule.
    """
    arr = np.asarray(values)
    kind = arr.dtype.kind
    if kind == "U":
        return [spreadsheet_text(v) for v in arr.tolist()]
    if kind in "iu":
        return [str(v) for v in arr.tolist()]
    if kind == "b":  # `_cell`: a bool is neither str nor integer, so float(True) → "1"
        return ["1" if v else "0" for v in arr.tolist()]
    if kind == "f":
        return ["" if x != x else format(x, ".9g") for x in arr.tolist()]  # x != x: NaN
    return [_cell(v) for v in arr]


def write_columns_csv(cols: dict[str, np.ndarray], path: str | Path, *, force: bool = False) -> Path:
    """Write a column table as CSV (NaN = empty cell); refuse to replace a file unless `force`.

    Cells are formatted per column (`column_cells`) and written with one ``writerows``: same text as a per-cell
    loop, several times faster on a 50k-record `abrnet predict` output. Text cells pass `spreadsheet_text`: these
    files (results.csv and its series and patients tables) are opened by people in spreadsheets, and a patient id from a
    user's file such as ``=HYPERLINK(...)`` ran there as a formula; abrnet never reads them back as input.
    """
    path = check_fname(path, overwrite=force)  # before the cells are formatted
    cells = [column_cells(v) for v in cols.values()]
    with staged_write(path, overwrite=force) as staged, staged.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(list(cols))
        w.writerows(zip(*cells, strict=True))
    return path


def columns_to_records(cols: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts (NaN → None)."""
    n = len(next(iter(cols.values()))) if cols else 0

    def conv(v: Any) -> Any:
        if isinstance(v, (str, np.str_)):
            return str(v)
        if isinstance(v, (bool, np.bool_)):  # a flag, not the number 1.0
            return bool(v)
        if isinstance(v, (int, np.integer)):
            return int(v)
        x = float(v)
        return None if not math.isfinite(x) else x

    return [{k: conv(v[i]) for k, v in cols.items()} for i in range(n)]


def _series_rows(ears: EarTable) -> np.ndarray:
    """The ear table's rows in `reading_rows` order, read off its own columns (which `series_columns` copies)."""
    return reading_rows({"patient_id": ears.patient_id, "ear": ears.ear, "stimulus": ears.stimulus})


@dataclass
class PredictionReport:
    """What `predict` returns: the input on the model grid, per-record predictions and (series mode) per-ear ones."""

    cohort: ABRCohort
    predictions: Predictions
    ears: EarTable | None = None
    warnings: list[str] = field(default_factory=list)
    series_predictions: Predictions | None = None  # waves read with the ear's series (series mode, fitted blend)
    class_bias: list[float] | None = None  # the record decision rule of the checkpoint's series stage

    def columns(self) -> dict[str, np.ndarray]:
        """One row per input record, in input order: `prediction_columns` (what `abrnet predict` writes)."""
        return prediction_columns(self.predictions, self.cohort, self.series_predictions, self.class_bias)

    def series(self) -> dict[str, np.ndarray] | None:
        """Series mode: one row per series, an ear under one stimulus (`series_columns` with the cohort, then
        `clinical_ear_columns`): what `abrnet predict --group-by patient_id,ear` writes to <out>.series.csv, in the
        same `reading_order` (row i is the series `series_keys()[i]`). None without series mode.

        Why here and not only in the CLI: a notebook got the ear table's text order (16 kHz before 8 kHz), another
        row order than the CSV of the same run."""
        if self.ears is None:
            return None
        keys = self.ears.ear_key
        ear_cols = clinical_ear_columns(self.predictions, self.cohort, keys, ear_floors(self.ears, keys))
        cols, order = {**series_columns(self.ears, self.cohort), **ear_cols}, _series_rows(self.ears)
        return {name: np.asarray(v)[order] for name, v in cols.items()}

    def series_keys(self) -> np.ndarray | None:
        """(E,) the series key (``ears.ear_key``) of each `series` row, in its order; None without series mode. The
        viewer pairs a row with its records by it (a key cannot be parsed back: ids may hold '/')."""
        return None if self.ears is None else self.ears.ear_key[_series_rows(self.ears)]

    def patients(self) -> dict[str, np.ndarray] | None:
        """Series mode: one row per patient and stimulus with both ears (interaural wave V latency difference,
        each ear read at levels ≥ its series threshold, as in <out>.series.csv; `patient_columns`), in
        `reading_order` as <out>.patients.csv writes it."""
        return None if self.ears is None else reading_order(patient_columns(self.predictions, self.cohort, self.ears))

    def to_json(self) -> dict[str, Any]:
        """The three tables as JSON-ready rows (NaN → None), with the same columns as `columns`, `series` and
        `patients` (the series rows used to lack the clinical and domain columns <out>.series.csv has)."""
        return tables_json(self.columns(), self.series(), self.patients(), self.warnings)


def tables_json(
    records: dict[str, np.ndarray],
    series: dict[str, np.ndarray] | None,
    patients: dict[str, np.ndarray] | None,
    warnings: list[str],
) -> dict[str, Any]:
    """`PredictionReport.to_json` from tables already computed (`abrnet predict` writes them as CSV too): the series
    and patients rows in the order given, `reading_order` as `PredictionReport.series` and `patients` return them."""
    out: dict[str, Any] = {"records": columns_to_records(records), "warnings": list(warnings)}
    if series is not None and patients is not None:
        out["series"] = columns_to_records(series)
        out["patients"] = columns_to_records(patients)
    return out


def threshold_mae_by_mode(
    pred: Predictions, data: ABRCohort, series_model: SeriesModel | None = None
) -> dict[str, float | int | None]:
    """Threshold MAE (dB) per record vs per ear from the whole series (series mode), on measurable thresholds.

    Same rule as `compute_metrics`' `threshold.mae_db` and `per_ear.threshold.mae_db` (with the same fitted series
    stage, whose threshold crossing it uses); this puts them side by side to show what reading the series buys.
    """
    ok = np.isfinite(data.threshold_db) & ~np.asarray(data.no_response, bool)
    rec = float(np.mean(np.abs(pred.threshold_db[ok] - data.threshold_db[ok]))) if ok.any() else None
    ears = aggregate_ears(pred, data, series_model)
    ok_e = np.isfinite(ears.true_threshold_db) & ~ears.true_no_response
    ear = float(np.mean(np.abs(ears.threshold_db[ok_e] - ears.true_threshold_db[ok_e]))) if ok_e.any() else None
    return {
        "per_record_mae_db": rec,
        "series_mae_db": ear,
        "n_records": int(ok.sum()),
        "n_ears": int(ok_e.sum()),
    }
