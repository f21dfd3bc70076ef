"""Intelligent Hearing Systems (IHS) SmartEP comma-separated exports (``FBN_35_COCH_EXT_LEFT_12K.txt``).

Layout: header rows ``Label:,value,,,,,,value,...`` with one 6-column group per recording (``Intensity:``,
``Ear:``, ``Stim. Rate:``, ``Smp. Period:`` in µs, ``Zero Position:``), then ``Data Pnt:`` and, per group,
``Average, Average(uV), Buffer1, Buffer1(uV), Buffer2, Buffer2(uV)`` (raw A/D counts and µV).

Units: the ``(uV)`` columns are used, so no unit guess is needed. ``Average(uV)`` equals (Buffer1 + Buffer2) / 2,
so Fmp is computed from the two buffers over 4-10 ms after the stimulus, the simulator's window
(`abrnet.data.fmp.FMP_WINDOW_MS`, `fmp_from_buffers`); the buffers are kept
in `ABRCohort.buffers` (N, 2, T). Caveat seen in the fixture: its buffers are 0.4-0.9 correlated
even before the stimulus (phase-locked interference - the 50/s stimulus rate locks to 50 Hz mains), so Fmp is
inflated (~2-17 pre-stimulus instead of ~1); it still rises with level (median 1.8 at 10-50 dB, 40 at 90 dB).
Time: ``Zero Position`` is read as the number of samples before stimulus onset, so data point 1 is at
``-Zero Position × period`` (a one-sample, 31 µs, ambiguity; the file does not say whether it counts from 0 or 1).
Leading samples that are exactly 0 in every column were never recorded (the pre-stimulus window is shorter than
the buffer) and are trimmed; ``attrs["trimmed_leading_samples"]`` says how many.
Ear: each group's own ``Ear:`` (a file may hold both ears); ``ear=`` overrides it for every record, and where it
differs ``attrs["overridden_options"]`` says so (a warning on every reading path), as for the rate.
Stimulus rate: each group's own ``Stim. Rate:`` (a rate series, e.g. 11.1/s and 51.1/s for retrocochlear screening,
is one file); ``stimulus_rate_hz=`` overrides it for every record, and the file's rates stay in
``attrs["stimulus_rates_in_file"]``. The sampling period and zero position must be one per file (the model grid
resamples the file as one block): a file that mixes them is refused.
Metadata: ``Stim. Freq.`` > 0 is a tone pip of that frequency (the fixture: 12 kHz), per group where a file holds
several (each frequency its own series). The export names neither the
level unit nor the species, so both stay "unknown" unless passed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from abrnet.data.fmp import FMP_WINDOW_MS, fmp_window
from abrnet.data.importers._common import build_cohort, note_override, parse_float, read_text, split_lines
from abrnet.data.metadata import STIMULUS, STIMULUS_FREQ_HZ, UNKNOWN
from abrnet.data.schema import ABRCohort, DataError

_GROUP = ("Average:", "Average(uV):", "Buffer1:", "Buffer1(uV):", "Buffer2:", "Buffer2(uV):")


def read_smartep(
    path: str | Path,
    *,
    age_years: float | None = None,
    stimulus_rate_hz: float | None = None,
    ear: str | None = None,
    fmp: float | None = None,
    fmp_window_ms: tuple[float, float] = FMP_WINDOW_MS,
) -> ABRCohort:
    """One record per 6-column group; Fmp from the buffers over ``fmp_window_ms`` unless ``fmp`` is given."""
    path = Path(path)
    src = str(path)
    # (file line, cells) of each non-blank line: errors name the line the user finds, blank lines counted
    rows = [(k + 1, ln.split(",")) for k, ln in enumerate(split_lines(read_text(path))) if ln.strip()]
    if not rows or rows[0][1][0].strip() != "Identifier:":
        raise DataError(
            src, "<format>", "not a SmartEP export (first cell is not 'Identifier:')", rows[0][0] if rows else 1
        )
    header = {r[0].strip(): (at, r) for at, r in rows if not r[0].strip().lstrip("-").isdigit()}
    if "Data Pnt:" not in header:
        raise DataError(src, "Data Pnt:", "row missing: no waveform table")
    data_at, names = header["Data Pnt:"]
    groups = [1 + 6 * g for g in range((len(names) - 1) // 6) if names[1 + 6 * g].strip() == "Average:"]
    for g in groups:
        got = tuple(c.strip() for c in names[g : g + 6])
        if got != _GROUP:
            raise DataError(src, f"Data Pnt: column {g + 1}", f"expected {', '.join(_GROUP)}, got {got}", data_at)
    if not groups:
        raise DataError(src, "Data Pnt:", "no 'Average:' column groups", data_at)

    def per_group(label: str) -> list[str]:
        if label not in header:
            raise DataError(src, label, "header row missing")
        _at, r = header[label]
        return [r[g].strip() if g < len(r) else "" for g in groups]

    def numbers(label: str) -> list[float]:
        """The row's value for each group; errors name the row's file line, where the user edits it."""
        values = per_group(label)  # first: a missing row is its own error
        return [parse_float(src, label, v, header[label][0]) for v in values]

    level_db = np.array(numbers("Intensity:"))
    periods, zeros = set(numbers("Smp. Period:")), set(numbers("Zero Position:"))
    # each group's own ear; one that names none ("", "B") is assumed for that group only, never for the file's others
    ears = [e if (e := v.upper()[:1]) in ("L", "R") else "" for v in per_group("Ear:")] if "Ear:" in header else []
    for label, values in (("Smp. Period:", periods), ("Zero Position:", zeros)):
        if len(values) != 1:
            msg = f"differs between recordings ({sorted(values)}); split the file"
            raise DataError(src, label, msg, header[label][0])
    period_us, zero_pos = periods.pop(), zeros.pop()
    if not period_us > 0:
        raise DataError(src, "Smp. Period:", f"must be > 0, got {period_us:g}", header["Smp. Period:"][0])
    if not zero_pos.is_integer():  # a count of samples; int() would truncate 12.5 or fail on NaN with a traceback
        msg = f"must be a whole number of samples, got {zero_pos:g}"
        raise DataError(src, "Zero Position:", msg, header["Zero Position:"][0])
    body = rows[next(k for k, (at, _) in enumerate(rows) if at == data_at) + 1 :]
    n_cols = 6 * len(groups)  # trailing empty cells (lines end with ',') are ignored
    arr = np.empty((len(body), n_cols), np.float64)
    for k, (at, r) in enumerate(body):
        if len(r) < n_cols + 1 or any(c.strip() for c in r[n_cols + 1 :]):
            raise DataError(
                src, "Data Pnt:", f"data point {r[0].strip()} has {len(r)} cells, expected {n_cols + 1}", at
            )
        arr[k] = [parse_float(src, names[j].strip(), r[j], at) for j in range(1, n_cols + 1)]
    _refuse_non_finite(src, arr, names, [at for at, _ in body], groups)
    recorded = np.flatnonzero(np.any(arr != 0.0, axis=1))
    first = int(recorded[0]) if recorded.size else 0
    arr = arr[first:]
    idx = [g - 1 for g in groups]
    avg = arr[:, [i + 1 for i in idx]].T
    buf_a = arr[:, [i + 3 for i in idx]].T
    buf_b = arr[:, [i + 5 for i in idx]].T
    fs = 1e6 / period_us
    t0_ms = (first - zero_pos) * period_us / 1000.0
    t = t0_ms + np.arange(avg.shape[1]) * 1000.0 / fs
    win = fmp_window(t, fmp_window_ms)  # the simulator's window (`abrnet.data.fmp.FMP_WINDOW_MS`)
    if fmp is None and win is None:
        raise DataError(src, "fmp", f"no samples in the Fmp window {fmp_window_ms} ms")
    stated = {"intensity_db": header["Intensity:"][0]}  # the line of each record-level value the file states
    rates: float | list[float] | None = stimulus_rate_hz  # an argument overrides the file, as for the ear
    if stimulus_rate_hz is None and "Stim. Rate:" in header:  # no row: `build_cohort` asks for --rate
        rates, stated["stimulus_rate_hz"] = numbers("Stim. Rate:"), header["Stim. Rate:"][0]
    record_ears: str | list[str] | None = ear
    if ear is None and any(ears):
        record_ears = ears  # one ear per group: a file may hold both ears' recordings
    overridden: dict[str, str | float | int] = {}  # an option differing from the file: kept, and warned about
    if "Stim. Rate:" in header:
        note_override(overridden, "stimulus_rate_hz", per_group("Stim. Rate:"), stimulus_rate_hz)
    if any(ears):
        note_override(overridden, "ear", [e for e in ears if e], ear)
    attrs: dict[str, str | float | int] = {
        "format": "smartep",
        "units_in_file": "uV",
        "fmp_window_ms": f"{fmp_window_ms[0]:g}-{fmp_window_ms[1]:g}",
        "trimmed_leading_samples": first,
        "zero_position": int(zero_pos),
        "recording_names": ";".join(per_group("File Name:")) if "File Name:" in header else "",
        "stimulus_rates_in_file": ";".join(per_group("Stim. Rate:")) if "Stim. Rate:" in header else "",
        "stimulus_frequency_hz": ";".join(sorted(set(per_group("Stim. Freq.")))) if "Stim. Freq." in header else "",
        **overridden,
    }
    freqs = np.array(numbers("Stim. Freq.")) if "Stim. Freq." in header else np.zeros(0)
    info: dict[str, object] = {}
    extras: dict[str, np.ndarray] = {}
    if len(set(freqs.tolist())) == 1 and freqs[0] > 0:
        info.update(stimulus="tone_pip", stimulus_freq_hz=float(freqs[0]))
    elif len(set(freqs.tolist())) > 1:  # per group: 8 and 12 kHz in one file are two series, never one (hunt 48 #3)
        tone = freqs > 0
        extras = {STIMULUS: np.where(tone, "tone_pip", UNKNOWN), STIMULUS_FREQ_HZ: np.where(tone, freqs, np.nan)}
    return build_cohort(
        path,
        avg,
        level_db,
        sampling_rate_hz=fs,
        t0_ms=t0_ms,
        age_years=age_years,
        stimulus_rate_hz=rates,
        ear=record_ears,
        fmp=fmp,
        attrs=attrs,
        buffers=np.stack([buf_a, buf_b], axis=1),
        fmp_window=None if win is None else (win.start, win.stop),
        metadata=info,
        extras=extras,
        locate=lambda r, j: _locate(names, groups, r, None if j is None else body[first + j][0]),
        lines=stated,
    )


def _locate(names: list[str], groups: list[int], record: int, line: int | None) -> tuple[str, int | None]:
    """Where the user finds a record: a sample in its ``Average(uV)`` column; a header value (level, rate) in its
    group's cell of that header row, one column left of ``Average(uV)`` - naming the data column sent users there."""
    if line is None:
        return f"group {record + 1} (column {groups[record] + 1})", None
    return _column(names, groups[record] + 1), line


def _column(names: list[str], j: int) -> str:
    """A data column as the user finds it: every group repeats the same names, so the column number tells which."""
    return f"{names[j].strip()} (column {j + 1})"


def _refuse_non_finite(src: str, arr: np.ndarray, names: list[str], lines: list[int], groups: list[int]) -> None:
    """NaN/inf in the raw counts or the split buffers, at its line and column. Why here: the ``Average(uV)`` records
    are checked (and located) by `build_cohort`, but a NaN buffer would reach it only as "buffers, record k" with no
    line, and a NaN raw-count column is not validated at all: it would be ignored silently."""
    bad = ~np.isfinite(arr)
    bad[:, groups] = False  # each group's Average(uV): arr column g (cell g + 1), located by `build_cohort`
    if bad.any():
        k, j = np.argwhere(bad)[0]
        raise DataError(src, _column(names, j + 1), f"not a finite number (line {lines[k]})", lines[k])
