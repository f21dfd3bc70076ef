"""Cohort summaries: the marginals a clinical data scientist checks first (and that the simulator must match), and
per-series summaries of imported recordings (species, stimulus, levels, grid)."""

from __future__ import annotations

import math
import re

import numpy as np

from abrnet.constants import CLASS_NAMES, WAVES
from abrnet.data.metadata import LEVEL_UNIT, POLARITY, SPECIES, STIMULUS, STIMULUS_FREQ_HZ, UNKNOWN, metadata_of
from abrnet.data.noise_estimate import buffer_noise_traces, has_buffer_trace
from abrnet.data.schema import ABRCohort, ears_assumed, float32_as_typed
from abrnet.data.splits import SPLITS, Split


def describe_cohort(cohort: ABRCohort, split: Split | None = None) -> dict:
    """JSON-ready summary: counts, class fractions, static marginals, label rates (per split if given)."""
    age = cohort.static_column("age_years")
    fmp = cohort.static_column("fmp")
    n = cohort.n_records
    counts = np.bincount(cohort.class_id[cohort.class_id >= 0], minlength=len(CLASS_NAMES))
    labelled = np.isfinite(cohort.latency_ms)
    ears = cohort.ear_key
    _, ear_first = np.unique(ears, return_index=True)
    out: dict = {
        "n_records": n,
        "n_patients": int(len(np.unique(cohort.patient_id))),
        "n_ears": int(len(ear_first)),
        "n_samples": cohort.n_samples,
        "sampling_rate_hz": cohort.sampling_rate_hz,
        "t0_ms": cohort.t0_ms,
        "has_clean": cohort.clean is not None,
        "class_count": {c: int(k) for c, k in zip(CLASS_NAMES, counts, strict=True)},
        "class_fraction": {c: float(k / max(n, 1)) for c, k in zip(CLASS_NAMES, counts, strict=True)},
        "class_unlabelled": float((cohort.class_id < 0).sum() / max(n, 1)),  # a device export's: every record
        "age_years": {"median": _typed(np.median(age)), "mean": _f(age.mean())},
        "intensity_db": {
            "mean": _f(cohort.static_column("intensity_db").mean()),
            "min": _typed(cohort.static_column("intensity_db").min()),
            "max": _typed(cohort.static_column("intensity_db").max()),
        },
        "stimulus_rate_hz": {"median": _typed(np.median(cohort.static_column("stimulus_rate_hz")))},
        "fmp": _fmp_summary(fmp),
        "label_rate": {w: _f(labelled[:, j].mean()) for j, w in enumerate(WAVES)},
        "no_response_ear_fraction": _f(cohort.no_response[ear_first].mean()),
        "threshold_db": {
            "mean_measurable": _f(np.nanmean(cohort.threshold_db)) if np.isfinite(cohort.threshold_db).any() else None
        },
    }
    if split is not None:
        out["splits"] = {}
        for name in SPLITS:
            idx = split[name]
            cls = cohort.class_id[idx]
            out["splits"][name] = {
                "n_records": int(len(idx)),
                "n_patients": int(len(np.unique(cohort.patient_id[idx]))),
                "class_count": {
                    c: int(k) for c, k in zip(CLASS_NAMES, np.bincount(cls[cls >= 0], minlength=5), strict=True)
                },
            }
    return out


def _fmp_summary(fmp: np.ndarray) -> dict:
    """FMP marginals over measured records (NaN = not measured, counted separately)."""
    ok = fmp[np.isfinite(fmp)]
    if ok.size == 0:
        return {"median": None, "mean": None, "frac_above_3": None, "frac_measured": 0.0}
    return {
        "median": _f(np.median(ok)),
        "mean": _f(ok.mean()),
        "frac_above_3": _f((ok > 3).mean()),
        "frac_measured": _f(ok.size / fmp.size),
    }


def _f(x: float) -> float:
    return float(np.round(float(x), 6))


def _typed(x: float) -> float:
    """An order statistic (median, min, max) of a float32 static column: one of its values, so as it was typed (33.1,
    not 33.099998, which `_f` gave while the series rows beside it said 33.1; hunt 48)."""
    return float32_as_typed(float(x))


def hz_text(rate_hz: float) -> str:
    """A sampling rate as every command prints it: to 0.01 Hz, trailing zeros dropped (``97656.25``, ``20000``).

    Why one formatter: `data describe` printed its JSON value rounded to 6 decimals through ``:g`` (97656.2) and
    `data import` the stored float through ``:g`` (97656.3), so one file read as two rates. ``:g`` keeps 6
    significant digits, too few for a rate above 10 kHz; 0.01 Hz tells every device's grid apart."""
    return f"{float(rate_hz):.2f}".rstrip("0").rstrip(".")


def stimulus_labels(cohort: ABRCohort) -> np.ndarray:
    """(N,) each record's stimulus as people name it: ``click``, ``tone_pip 8000 Hz``, ``unknown``."""
    meta = metadata_of(cohort.extras, cohort.n_records)
    pairs = zip(meta[STIMULUS].astype(str), meta[STIMULUS_FREQ_HZ], strict=True)
    return np.array([s if not np.isfinite(f) else f"{s} {f:g} Hz" for s, f in pairs]).astype(str)


_TONE_LABEL = re.compile(r"(.*\S) (\S+) Hz")  # `stimulus_labels`' "<type> <frequency> Hz"


def stimulus_order(label: str) -> tuple[str, float, str]:
    """A sort key for `stimulus_labels` text: the stimulus type, then its frequency as a number (a label without one
    first), then the text. Why: sorted as text, ``tone_pip 16000 Hz`` came before ``tone_pip 8000 Hz`` in the series
    table; an audiogram and every device list frequencies upwards."""
    match = _TONE_LABEL.fullmatch(label)
    if match is not None:
        try:
            return match.group(1), float(match.group(2)), label
        except ValueError:
            pass
    return label, -math.inf, label


def series_conditions(cohort: ABRCohort) -> np.ndarray:
    """(N,) what must be equal for records of one ear to form one intensity series: the stimulus and its rate
    (``tone_pip 8000 Hz at 21.1/s``). The rate is read to 0.1/s: float32 storage makes 21.1 not 21.1 to the last
    bit."""
    rates = [f"{r:.1f}" for r in cohort.static_column("stimulus_rate_hz")]
    return np.array([f"{s} at {r}/s" for s, r in zip(stimulus_labels(cohort), rates, strict=True)]).astype(str)


def describe_series(cohort: ABRCohort) -> list[dict]:
    """One entry (row) per recorded series and stimulus rate: species, stimulus, levels, stimulus rate, sampling
    rate, window, units - what a user checks first after importing a file. Metadata a file does not state reads
    "unknown", and so does an ear the reader had to assume (`ears_assumed`: per record where a file mixes both). The
    stored (float32) rate prints as typed (`float32_as_typed`). ``fmp_source`` is what the row's own records hold
    (`series_fmp`), and so is ``split_buffers`` (`series_buffers`).

    ``in_series`` is the series as predict, its plots and the viewer key it (`abrnet.data.series_key`: one ear under
    one stimulus, ``P1/L``, or ``P1/L, tone_pip 8000 Hz`` where the ear holds two stimuli; rates pooled). A series
    whose records were taken at two rates (11.1/s and 51.1/s) is listed as two rows, one per rate, because one row
    would have to print a rate nobody used; and so is one whose records state its stimulus beside records that do
    not. ``series`` names the row: ``in_series`` where the series is one row, else with what tells its rows apart
    (``P1/L (11.1/s)``). Why: keyed by the series alone, such a series' rows shared one key (the --json list had
    ``SIM000005/R`` twice) and were counted as that many series. The rows of one series are listed together."""
    from abrnet.data.series_key import join_series_key, series_keys, series_stimulus  # it reads stimulus_labels

    assumed = ears_assumed(cohort)
    has_buffers = has_buffer_trace(buffer_noise_traces(cohort), cohort.n_records)  # (N,)
    meta = metadata_of(cohort.extras, cohort.n_records)
    stim = stimulus_labels(cohort)
    split_by = series_stimulus(cohort)  # (N,) "" where the ear holds one stimulus
    level = cohort.static_column("intensity_db")
    stimulus_rate = cohort.static_column("stimulus_rate_hz")
    series_of = series_keys(cohort)  # (N,) the tool's own series of each record
    conditions = series_conditions(cohort)  # (N,) stimulus and rate: what a row's records share
    keys = np.char.add(np.char.add(series_of, "|"), conditions)
    _, series_first = np.unique(series_of, return_index=True)
    first_of = dict(zip(series_of[series_first].tolist(), series_first.tolist(), strict=True))
    _, row_first = np.unique(keys, return_index=True)
    row_first = sorted(row_first.tolist(), key=lambda r: (first_of[str(series_of[r])], r))  # a series' rows together
    end_ms = cohort.t0_ms + cohort.n_samples * 1000.0 / cohort.sampling_rate_hz
    out = []
    for r in row_first:
        idx = np.flatnonzero(keys == keys[r])
        i, s = int(idx[0]), first_of[str(series_of[r])]
        ear = "unknown" if assumed[i] else str(cohort.ear[i])
        named = "unknown" if assumed[s] else str(cohort.ear[s])  # the series' label: from its first record
        label = join_series_key(f"{cohort.patient_id[s]}/{named}", str(split_by[s]))
        out.append(
            {
                "series": label,  # made unique by `_row_names` where the series is several rows
                "in_series": label,
                "patient_id": str(cohort.patient_id[i]),
                "ear": ear,
                "species": str(meta[SPECIES][i]),
                "stimulus": str(stim[i]),
                "polarity": str(meta[POLARITY][i]),
                "levels": [_f(v) for v in sorted(set(level[idx].tolist()), reverse=True)],
                "level_unit": str(meta[LEVEL_UNIT][i]),
                "n_records": int(idx.size),
                "stimulus_rate_hz": float32_as_typed(stimulus_rate[i]),  # one rate per row (the key)
                "sampling_rate_hz": _f(cohort.sampling_rate_hz),
                "window_ms": [_f(cohort.t0_ms), _f(end_ms)],
                "units": "µV",
                "fmp_source": series_fmp(cohort, idx),
                "split_buffers": series_buffers(has_buffers[idx]),
                "_rate": f"{stimulus_rate[i]:.1f}/s",  # as `series_conditions` split the rows (dropped on return)
                "_series": str(series_of[r]),  # the tool's key: the label may spell an assumed ear "unknown"
            }
        )
    return _row_names(out)


def _row_names(rows: list[dict]) -> list[dict]:
    """Name each row of a series listed as several (`describe_series`) by what tells its rows apart: the stimulus
    where they differ (one states it, one does not: "stimulus unknown"), the rate (to 0.1/s, as the rows were split)
    where they differ. Unique, since the rows of a series differ in one or both."""
    by_series: dict[str, list[dict]] = {}
    for row in rows:
        by_series.setdefault(row.pop("_series"), []).append(row)
    for group in by_series.values():
        stimuli = len({row["stimulus"] for row in group}) > 1
        rates = len({row["_rate"] for row in group}) > 1
        for row in group:
            stimulus = "stimulus unknown" if row["stimulus"] == UNKNOWN else row["stimulus"]
            apart = [stimulus] * stimuli + [row["_rate"]] * rates
            if apart:
                row["series"] = f"{row['in_series']} ({', '.join(apart)})"
    for row in rows:
        del row["_rate"]
    return rows


def series_buffers(has: np.ndarray) -> bool | str:
    """What the records of one series hold as split buffers (``has``: `has_buffer_trace` of its records): True
    when every record has them, False when none has, "partly: n of m" otherwise.

    Why from the records: an .h5 made from files with and without buffers has no ``buffers`` dataset, so the
    cohort-wide answer said False for series whose every record keeps its (A - B)/2 (and its noise estimate)."""
    if has.all():
        return True
    if not has.any():
        return False
    return f"partly: {int(has.sum())} of {has.size}"


def series_fmp(cohort: ABRCohort, idx: np.ndarray) -> str:
    """What the records ``idx`` (one series) hold as FMP: where it came from when every record has one (the file's
    ``fmp_source``, or the record's ``attr_fmp_source`` in a cohort joined from several files; "measured" without
    either), "missing" when none has, "partly: n of m" otherwise.

    Why from the records: the file's ``fmp_source`` said "given" for an ear none of whose records had an FMP (a CSV
    with its first rows' FMP cells empty), and predict then warned those records had none (hunt 42 #7)."""
    has = np.isfinite(cohort.static_column("fmp")[idx])
    if not has.any():
        return "missing"
    if not has.all():
        return f"partly: {int(has.sum())} of {has.size}"
    per_record = cohort.extras.get("attr_fmp_source")
    source = str(per_record[idx[0]]) if per_record is not None else str(cohort.attrs.get("fmp_source", ""))
    return source if source not in ("", "missing") else "measured"
