"""The warnings about what an input's records are, one list for every way records reach the model.

`inputs.read_for_model` (a file) and `api._as_cohort` (a cohort built in Python: `ABRCohort.from_signals`,
`read_recording`, a cohort saved earlier) both call `input_warnings`. Why one function: the cohort path once
assessed the domain but warned about nothing, so a README example with ``age_years=30`` or traces in volts gave
``report.warnings == []`` where the same data as a wide CSV gave the adult or out-of-domain line, with identical
numbers (hunt A #2); two lists of calls had drifted apart. A time base the reader assumed (a wide CSV without
``sampling_rate_hz``/``t0_ms``, an export's sampling rate) is here too: the reader records it in the cohort's attrs,
so ``read_recording(path)`` → ``predict(cohort)`` says it as ``predict(path)`` does, once on either path (it once
stayed with the file read, and a Python user holding the cohort was told nothing).

What stays with the file read (`read_for_model`): options ignored or overriding the file's values
(`option_warnings`) and the check that a CSV's rows fit the model. They judge a reading call, and a cohort reaches
`predict` with no reading options (`arguments.check_input` refuses them).

Every hint names the option as the caller's user sets it (``names``, `option_names`): ``fmp=...`` by default,
``--fmp`` where the CLI passes its options, and ``--fmp to abrnet data import, then ...`` for `abrnet evaluate`, which
takes none (`pass_hint`).
"""

from __future__ import annotations

import numpy as np

from abrnet.constants import DEFAULT_SAMPLING_RATE_HZ, DEFAULT_T0_MS
from abrnet.data.schema import ABRCohort, ears_assumed, grid_assumed, sampling_rate_assumed
from abrnet.inference.domain import domain_warnings, sparse_age_warnings
from abrnet.inference.option_names import OptionNames, pass_hint
from abrnet.inference.training_ranges import DEFAULT_RANGES, TrainingRanges, training_range_warnings


def input_warnings(
    cohort: ABRCohort, source: str, names: OptionNames | None = None, ranges: TrainingRanges = DEFAULT_RANGES
) -> list[str]:
    """What the records are, each as a line naming ``source``: what the input did not record (`reading_warnings`),
    the records out of the model's domain (`domain_warnings` of ``extras["domain"]``, which the caller assessed on
    the native grid, `assess_domain`; an out-of-range level named by its rows where abrnet's formats hold it in a
    column), adult ages the model saw little of (`sparse_age_warnings`, a model trained on the simulated default) and
    rates, ages, levels or FMPs outside those of the model's training cohort (`training_range_warnings` of
    ``ranges``, the checkpoint's: `ABRModel.ranges`; the default simulator's where no model is at hand)."""
    domain = cohort.extras["domain"]
    level_field = "intensity_db" if cohort.attrs.get("format") in ("csv", "h5") else None  # a column: rows
    return (
        reading_warnings(cohort, source, names)
        + duplicate_record_warnings(cohort, source)
        + domain_warnings(domain, source, names, level_field=level_field)
        + (sparse_age_warnings(cohort, source) if ranges.simulated else [])
        + training_range_warnings(cohort, source, ranges)
    )


def reading_warnings(cohort: ABRCohort, src: str, names: OptionNames | None = None) -> list[str]:
    """One line each for what the file did not record and the results will not show: its time base (a grid or a
    sampling rate the reader assumed, from ``attrs``), FMP (all or some records) and the ear (a reader's assumed
    "R").

    Why: the results table prints ear ``R`` for a file that names no ear exactly as for a recorded right ear, and a
    file whose split buffers give no FMP was told it had "no split buffers" (the wide CSV reads FMP from the buffers
    for every row without a stated one, so "missing" beside buffers means the buffers could not give one). A file
    `abrnet denoise` wrote is said to hold its estimates: read as input, nothing else told (hunt 43)."""
    out: list[str] = []
    n = cohort.n_records
    if columns := grid_assumed(cohort):  # a wide CSV's, or kept by `data import` in the .h5 it wrote
        out.append(assumed_grid_warning(columns, src, hint=cohort.attrs.get("format") == "csv", names=names))
    out += assumed_rate_warning(cohort, src, names)
    no_fmp = int((~np.isfinite(cohort.static_column("fmp"))).sum())
    fmp = f"({pass_hint(('fmp',), names)})"
    if cohort.attrs.get("fmp_source") == "missing" and cohort.buffers is not None:
        out.append(
            f"{src}: no FMP in the file and its split buffers give none (e.g. identical A and B sub-averages); "
            f"FMP is treated as missing {fmp}"
        )
    elif cohort.attrs.get("fmp_source") == "missing":
        out.append(f"{src}: no FMP and no split buffers in the file; FMP is treated as missing {fmp}")
    elif no_fmp:
        out.append(f"{src}: {no_fmp} of {n} records have no FMP; it is treated as missing on those {fmp}")
    if cohort.attrs.get("denoised_by"):  # an `abrnet denoise` output read as input
        out.append(
            f"{src}: holds the estimates abrnet denoise made of the recordings, not recordings: waves, p(V) and "
            "thresholds read off them are the model's (a record without a response comes out response-like: read no "
            "threshold off it); recording_noise_nv is the recordings', as denoise kept it"
        )
    return out + assumed_ear_warning(cohort, src, names)


def assumed_rate_warning(cohort: ABRCohort, src: str, names: OptionNames | None = None) -> list[str]:
    """One line where a reader had to assume the sampling rate (``attrs["sampling_rate_source"]``, e.g. a BioSig
    CSV's "293 samples span 10 ms"), [] otherwise. Said by predict, `data import` and `data export` alike: a guess
    of 29.3 kHz for a 24.4-kHz recording moves every latency by 20 %, and `data import` stored it without a word."""
    source = sampling_rate_assumed(cohort)
    return [] if source is None else [f"{src}: sampling rate {source}; {pass_hint(('sampling_rate_hz',), names)}"]


def assumed_ear_warning(cohort: ABRCohort, src: str, names: OptionNames | None = None) -> list[str]:
    """``<file>: 7 of 143 records name no ear; they are reported as ear R (pass --ear)``, or nothing where every
    record's ear is recorded (`ears_assumed`). Why its own function: `abrnet data import` says it too, as predict
    does; it once stored a patient's unnamed ears silently as one "R" ear (a deaf left ear and a hearing right ear
    pooled into one series), and the .h5's ``ear_unknown`` attribute was the only trace (hunt 42 #5)."""
    assumed = int(ears_assumed(cohort).sum())
    if not assumed:
        return []
    ear = pass_hint(("ear",), names)
    return [f"{src}: {assumed} of {cohort.n_records} records name no ear; they are reported as ear R ({ear})"]


def assumed_grid_warning(columns: list[str], src: str, *, hint: bool = True, names: OptionNames | None = None) -> str:
    """``<file>: no sampling_rate_hz or t0_ms column; assumed 20000 Hz, t0 0 ms (pass ...)`` for a wide CSV that does
    not time its rows (``hint``: with the options that set them, named by ``names``, which `data import` lacks for
    t0). Why: a 200-sample row is as likely 10 kHz over 20 ms, or 20 kHz with a 2-ms baseline, and either doubles or
    shifts every latency; the default is documented, but a user must see it was taken."""
    values = {"sampling_rate_hz": f"{DEFAULT_SAMPLING_RATE_HZ:g} Hz", "t0_ms": f"t0 {DEFAULT_T0_MS:g} ms"}
    said = f"{src}: no {' or '.join(columns)} column; assumed {', '.join(values[c] for c in columns)}"
    return f"{said} ({pass_hint(columns, names)} if the rows are timed otherwise)" if hint else said


def duplicate_record_warnings(cohort: ABRCohort, src: str, shown: int = 3) -> list[str]:
    """``<file>: 1 record repeats another exactly (same patient, ear, level and samples: row 13 = row 4 (lines 14,
    5)) ...``, or nothing. Rows count from 1 in the file's order (a wide CSV's data rows, with their lines; records
    of any other file in the order read).

    Why: a row pasted twice in a spreadsheet was read as a replicate: it correlates perfectly with itself
    (``replicate_r`` 1), and the ear's series, its warnings and its class moved, without a word (hunt 44b #2). A
    real replicate is another recording and never equal to the sample; the copy is warned, not dropped (nothing a
    user gave is removed silently)."""
    first: dict[tuple[str, str, float, bytes], int] = {}
    repeats: list[tuple[int, int]] = []  # (copy, original), 0-based
    signals = np.ascontiguousarray(cohort.signals)  # (N, T)
    levels = cohort.static_column("intensity_db")
    for i in range(cohort.n_records):
        key = (str(cohort.patient_id[i]), str(cohort.ear[i]), float(levels[i]), signals[i].tobytes())
        if key in first:
            repeats.append((i, first[key]))
        else:
            first[key] = i
    if not repeats:
        return []
    csv = cohort.attrs.get("format") == "csv"
    pairs = [f"row {i + 1} = row {j + 1}" + (f" (lines {i + 2}, {j + 2})" if csv else "") for i, j in repeats[:shown]]
    more = f" and {len(repeats) - shown} more" if len(repeats) > shown else ""
    n = len(repeats)
    return [
        f"{src}: {n} record{'s' if n > 1 else ''} repeat{'' if n > 1 else 's'} another exactly (same patient, ear, "
        f"level and samples: {'; '.join(pairs)}{more}): a copy, not a replicate recording; it is read as one and "
        "counts twice in its ear's series (remove it if it was pasted twice)"
    ]
