"""Domain guard: is a recording like the ones the model learnt from (adult/infant human clicks in dB nHL, 0–10 ms)?

The model was trained only on the simulator's cohort (`abrnet.data.metadata.SIMULATED`). A mouse tone-pip series
in dB SPL runs through the network just as well, and its numbers would look as confident, so every prediction row
carries a ``domain`` value: ``in``, or the reasons it is out (``species: mouse; level unit: dB SPL``). Unknown
metadata counts as out ("species unknown"): nothing is silently treated as a human click in dB nHL.

Rules (each a reason when it fails):

* species, stimulus and level unit must equal the simulated cohort's (human, click, dB nHL);
* window: at most `MAX_MISSING_WINDOW` of the model window (0–10 ms) may be missing from the recording (the
  resampler pads it with zeros, which hides late waves);
* sampling rate: at least `MIN_SAMPLING_RATE_HZ` = 2.5 × the top of the recording band (3 kHz), so the band the
  model reads is sampled without aliasing;
* level (dB nHL records): within the simulator's 0–100 dB (120 dB nHL is most likely dB SPL mislabelled);
* signal, over the recorded samples in the model window: peak to peak at most `MAX_ABR_PEAK_TO_PEAK_UV` (a larger
  "ABR" is in another unit, e.g. nV written as µV, or no scalp ABR at all: a CAP or ECochG; read after the first ms
  where a stimulus artifact is there) and not constant (a flat trace is a disconnected electrode, not a total
  hearing loss); both ignore a DC offset, which the reader removes (`abrnet.data.baseline`);
* signal quality (`abrnet.inference.signal_quality`, bounds calibrated on fresh simulated cohorts): low-frequency
  content (drift, slow wave, mains hum), a recording band low-passed below 3 kHz, a stimulus artifact in 0–1 ms, and
  a noise level outside the simulated one (a gain or unit error: a trace of 1e-7 µV with an ABR's shape is in V,
  not flat).
"""

from __future__ import annotations

import re

import numpy as np

from abrnet.constants import (
    DEFAULT_N_SAMPLES,
    DEFAULT_SAMPLING_RATE_HZ,
    DEFAULT_T0_MS,
    MAX_ABR_PEAK_TO_PEAK_UV,
    RECORDING_BAND_HZ,
)
from abrnet.data.csv_cells import where
from abrnet.data.files import CSV_SUFFIXES
from abrnet.data.metadata import LEVEL_UNIT, SIMULATED, SPECIES, STIMULUS, STIMULUS_FREQ_HZ, UNKNOWN, metadata_of
from abrnet.data.resample import (
    RECORDED_EXTRA,
    mask_groups,
    parse_grid_text,
    recorded_mask,
    recorded_samples,
    resampled_from,
    span_text,
)
from abrnet.data.schema import ABRCohort, DataError
from abrnet.data.simulate.protocol import GRID_DB, MAX_LEVEL_DB
from abrnet.inference.option_names import OptionNames, pass_hint
from abrnet.inference.signal_quality import (
    ARTIFACT_END_MS,
    artifact_rows,
    is_flat,
    quality_reasons,
    window_samples,
)

IN_DOMAIN = "in"
MAX_MISSING_WINDOW = 0.10
MIN_SAMPLING_RATE_HZ = 2.5 * RECORDING_BAND_HZ[1]
_LABELS = {SPECIES: "species", STIMULUS: "stimulus", LEVEL_UNIT: "level unit"}


def window_reason(
    sampling_rate_hz: float, t0_ms: float, n_samples: int, *, model_n: int = DEFAULT_N_SAMPLES
) -> str | None:
    """Why the recording's time window does not cover the model's, or None when it does (within tolerance).

    Both windows are spans, first sample to first + n / fs (`abrnet.data.resample.span_text`), written as the
    resampler's warnings write them, so the two messages about one file give the same numbers."""
    start = DEFAULT_T0_MS
    stop = DEFAULT_T0_MS + model_n * 1000.0 / DEFAULT_SAMPLING_RATE_HZ
    end = t0_ms + n_samples * 1000.0 / sampling_rate_hz
    covered = max(0.0, min(end, stop) - max(t0_ms, start))
    if covered >= (1.0 - MAX_MISSING_WINDOW) * (stop - start):
        return None
    recording = span_text(t0_ms, n_samples, sampling_rate_hz)
    return f"window: covers {recording} ms of {span_text(start, model_n, DEFAULT_SAMPLING_RATE_HZ)} ms"


def window_reasons(cohort: ABRCohort, *, model_n: int = DEFAULT_N_SAMPLES) -> list[str | None]:
    """Per record, `window_reason` of the recording it holds. A record moved onto the model grid before it was
    written (`abrnet data import --model-grid`) spans the whole grid, zero padding included, so its window is what
    it recorded (`recorded_samples`): the native grid it was resampled from (`resampled_from`), in the export's own
    words, where that grid gives exactly these recorded samples; else the span of its recorded samples.

    Why: the .h5 of a 0–8.52 ms export read as covering the window, and lost the export's ``window: covers 0–8.52
    ms`` reason."""
    grid = (cohort.sampling_rate_hz, cohort.t0_ms, cohort.n_samples)
    if RECORDED_EXTRA not in cohort.extras:
        return [window_reason(*grid, model_n=model_n)] * cohort.n_records
    said: dict[tuple[str, bytes], str | None] = {}
    out: list[str | None] = []
    for mask, source in zip(recorded_samples(cohort), resampled_from(cohort), strict=True):
        key = (source, mask.tobytes())
        if key not in said:
            said[key] = _recorded_window(cohort, mask, parse_grid_text(source), model_n)
        out.append(said[key])
    return out


def _recorded_window(
    cohort: ABRCohort, mask: np.ndarray, source: tuple[float, float, int] | None, model_n: int
) -> str | None:
    """`window_reason` of one record's recorded samples `mask`: of its `source` grid where that grid recorded
    exactly them (`recorded_mask`), else of the span from its first recorded sample to its last."""
    fs = cohort.sampling_rate_hz
    if source is not None and np.array_equal(recorded_mask(*source, n_out=cohort.n_samples, fs_out=fs), mask):
        return window_reason(*source, model_n=model_n)
    idx = np.flatnonzero(mask)
    first, count = (int(idx[0]), int(idx[-1] - idx[0] + 1)) if idx.size else (0, 0)
    return window_reason(fs, cohort.t0_ms + first * 1000.0 / fs, count, model_n=model_n)


def signal_reasons(cohort: ABRCohort, *, model_n: int = DEFAULT_N_SAMPLES) -> list[list[str]]:
    """`record_signal_reasons`, read apart for each group of records that recorded the same samples (files padded
    differently, written together into one model-grid .h5), as each file's records are read apart when it is read
    on its own grid: `window_samples` reads the samples every record of a cohort recorded."""
    if RECORDED_EXTRA not in cohort.extras:
        return record_signal_reasons(cohort, model_n=model_n)
    groups = mask_groups(recorded_samples(cohort), cohort.n_records, cohort.n_samples)
    if len(groups) <= 1:
        return record_signal_reasons(cohort, model_n=model_n)
    reasons: list[list[str]] = [[] for _ in range(cohort.n_records)]
    for rows, _ in groups:
        for i, found in zip(rows, record_signal_reasons(cohort.subset(rows), model_n=model_n), strict=True):
            reasons[i] = found
    return reasons


def record_signal_reasons(cohort: ABRCohort, *, model_n: int = DEFAULT_N_SAMPLES) -> list[list[str]]:
    """Per record, what its samples say against an ABR: peak to peak above `MAX_ABR_PEAK_TO_PEAK_UV`, a flat
    (constant) trace, then the signal-quality reasons (`abrnet.inference.signal_quality`: drift or hum, band,
    stimulus artifact, noise level). Read on the recorded native samples inside the model window (`window_samples`):
    resampling a constant trace ripples by ~1e-3 µV, which would hide a flat one.

    A record with a stimulus artifact has its peak to peak read after the artifact's first ms: a 30 µV artifact is
    not "another unit, or a CAP" when the ABR after it is 1 µV. A trace of 1e-7 µV with an ABR's shape is a unit
    error (its ear's noise level says so), not a disconnected electrode: only a constant trace is flat."""
    x, t = window_samples(cohort, model_n)  # (N, T') µV
    artifact = artifact_rows(x, t)
    after = t >= ARTIFACT_END_MS
    ptp = np.where(artifact, np.ptp(x[:, after], axis=1) if after.sum() >= 2 else 0.0, np.ptp(x, axis=1))
    reasons: list[list[str]] = [[] for _ in range(cohort.n_records)]
    for i in np.flatnonzero(ptp > MAX_ABR_PEAK_TO_PEAK_UV):
        reasons[i].append(
            f"amplitude: {ptp[i]:.{3 if ptp[i] < 1000 else 4}g} µV peak to peak, beyond a scalp ABR (samples in "
            "another unit, e.g. nV, or not an ABR: a CAP or ECochG)"
        )
    for i in np.flatnonzero(is_flat(x)):
        reasons[i].append("flat trace (no signal: electrode or channel disconnected?)")
    for i, quality in enumerate(quality_reasons(cohort, model_n=model_n, samples=(x, t))):
        reasons[i] += quality
    return reasons


def level_reasons(cohort: ABRCohort, level_unit: np.ndarray) -> list[list[str]]:
    """Per record in dB nHL, a level outside the simulator's (`GRID_DB` up to `MAX_LEVEL_DB`): the model never saw
    one, and 120 dB nHL is most likely dB SPL written as nHL. Other units already have their own reason."""
    low, high = min(GRID_DB), MAX_LEVEL_DB
    level = cohort.static_column("intensity_db")
    reasons: list[list[str]] = [[] for _ in range(cohort.n_records)]
    for i in np.flatnonzero(level_unit.astype(str) == SIMULATED[LEVEL_UNIT]):
        if level[i] > high or level[i] < low:
            side = "above" if level[i] > high else "below"
            reasons[i].append(f"level: {level[i]:g} dB {side} the trained {low:g}–{high:g} dB")
    return reasons


def assess_domain(cohort: ABRCohort, *, model_n: int = DEFAULT_N_SAMPLES) -> np.ndarray:
    """(N,) str: ``in`` or the reasons each record is outside the training domain (read on the native grid)."""
    n = cohort.n_records
    meta = metadata_of(cohort.extras, n)
    reasons: list[list[str]] = [[] for _ in range(n)]
    for key, label in _LABELS.items():
        values = meta[key].astype(str)
        for i in np.flatnonzero(values != SIMULATED[key]):
            value = values[i]
            if value == UNKNOWN:
                reasons[i].append(f"{label} unknown")
            elif key == STIMULUS and np.isfinite(meta[STIMULUS_FREQ_HZ][i]):
                reasons[i].append(f"{label}: {value} {meta[STIMULUS_FREQ_HZ][i]:g} Hz")
            else:
                reasons[i].append(f"{label}: {value}")
    for i, (level, signal) in enumerate(
        zip(level_reasons(cohort, meta[LEVEL_UNIT]), signal_reasons(cohort, model_n=model_n), strict=True)
    ):
        reasons[i] += level + signal
    rates = recorded_rates(cohort)
    for i, window in enumerate(window_reasons(cohort, model_n=model_n)):
        reasons[i] += [window] if window else []
        if rates[i] < MIN_SAMPLING_RATE_HZ:
            reasons[i].append(f"sampling rate: {rates[i]:g} Hz < {MIN_SAMPLING_RATE_HZ:g} Hz")
    return np.array(["; ".join(r) or IN_DOMAIN for r in reasons]).astype(str)


def recorded_rates(cohort: ABRCohort) -> np.ndarray:
    """(N,) Hz each record was sampled at: the native grid it was resampled from (`resampled_from`) where one is
    recorded, else the cohort's rate. Why: a model-grid .h5 is at 20 kHz whatever the device sampled, and a 5 kHz
    export's aliasing is still in it; read as 20 kHz it lost the export's ``sampling rate`` reason."""
    texts, which = np.unique(resampled_from(cohort), return_inverse=True)
    grids = [parse_grid_text(text) for text in texts]
    rates = np.array([cohort.sampling_rate_hz if g is None else g[0] for g in grids], np.float64)
    return rates[which.ravel()]


def domain_hint(names: OptionNames | None = None) -> str:
    """What an out-of-domain line tells its user to do, the options named by ``names`` (`option_names`):
    ``(pass species=.../stimulus=.../level_unit=... if the file is wrong)``; where ``names`` has ``strict`` (CLI
    predict's ``--strict``), how to refuse such records too. Python has no strict switch: the ``domain`` column is
    there to filter on."""
    strict = names.get("strict") if names is not None else None
    refuses = f"; {strict} refuses" if strict else ""
    return f"({pass_hint(('species', 'stimulus', 'level_unit'), names)} if the file is wrong{refuses})"


def level_check(rows: list[int], field: str | None = None, most: int = 5) -> str:
    """What a line with an out-of-range level asks first: ``check the level value first (field 'intensity_db', rows
    3, 7: a typo is likelier than a wrong unit)``. ``rows``: 0-based record indices, printed from 1 as rows where
    ``field`` names the column that holds the level (abrnet's wide CSV and .h5: row k is record k) and as records
    otherwise (a device export's row is a line of the file, and its level a header value).

    Why first: 105 or 150 dB nHL is more often a mistyped 50 than a file in dB SPL, and the line sent its user to
    --species/--level-unit, which cannot fix a typo (hunt 42)."""
    word = "row" if field else "record"
    shown = ", ".join(str(r + 1) for r in rows[:most]) + (f" and {len(rows) - most} more" if len(rows) > most else "")
    where = (f"field '{field}', " if field else "") + f"{word}{'s' if len(rows) > 1 else ''} {shown}"
    return f"check the level value first ({where}: a typo is likelier than a wrong unit)"


def domain_warnings(
    domain: np.ndarray, source: str, names: OptionNames | None = None, *, level_field: str | None = None
) -> list[str]:
    """One line per distinct reason set: ``<file>: k of N records out of domain (<reasons>)``, ending in
    `domain_hint`. Reasons that differ only in a record's own number (``level: 110 dB ...``, ``amplitude: 530 µV
    ...``) share a line, the numbers given as a range (``level: 110–120 dB above ...``): one line per level of a file
    was a screenful. A line with a level reason says before that hint to check the level (`level_check`, naming
    ``level_field`` and the rows where the caller's records are rows of such a column)."""
    groups: dict[tuple[str, ...], list[tuple[int, list[str]]]] = {}  # reasons, numbers blanked → (record, numbers)
    for i, value in enumerate(np.asarray(domain).astype(str).tolist()):
        if value != IN_DOMAIN:
            parts = [_NUMBERED.match(r) for r in value.split("; ")]
            key = tuple(f"{m[1]}: {{}} {m[3]}" if m else r for m, r in zip(parts, value.split("; "), strict=True))
            groups.setdefault(key, []).append((i, [m[2] for m in parts if m]))
    out = []
    for key, records in sorted(groups.items()):
        columns = iter(zip(*(numbers for _, numbers in records), strict=True))
        reasons = [r.format(_range(next(columns))) if "{}" in r else r for r in key]
        level = any(r.startswith("level: ") for r in key)
        check = f"; {level_check([i for i, _ in records], level_field)}" if level else ""
        out.append(
            f"{source}: {len(records)} of {len(domain)} records out of the model's domain ({'; '.join(reasons)})"
            f"{check}; predictions are extrapolations {domain_hint(names)}"
        )
    return out


_NUMBERED = re.compile(
    r"^(amplitude|level|noise level|low-frequency content|band|stimulus artifact): (-?[0-9.]+(?:e[+-]?[0-9]+)?) (.*)$"
)


def _range(texts: tuple[str, ...]) -> str:
    """Numbers as printed in the reasons → ``lo–hi`` (or the one value), keeping their printed form."""
    low, high = min(texts, key=float), max(texts, key=float)
    return low if float(low) == float(high) else f"{low}–{high}"


ADULT_AGE_YEARS = 18.0
# Share of the simulated training cohort's records from patients aged >= 18 (median age 0, as the reference cohort:
# `SimulationConfig.infant_fraction`; measured on simulate_cohort(n_patients=300, seed=1): 3.1 %; a test keeps it).
ADULT_SHARE_OF_TRAINING = 0.03


def sparse_age_warnings(cohort: ABRCohort, source: str) -> list[str]:
    """One line when human records come from adults, whom the model saw little of (`ADULT_SHARE_OF_TRAINING`).

    Why not a domain reason: adults are inside the training distribution, only thinly; but a normal adult series
    was read CONDUCTIVE with p 0.82, so a clinic testing adults must know its figures are infants' figures."""
    species = metadata_of(cohort.extras, cohort.n_records)[SPECIES].astype(str)
    adult = (cohort.static_column("age_years") >= ADULT_AGE_YEARS) & (species == SIMULATED[SPECIES])
    if not adult.any():
        return []
    return [
        f"{source}: {int(adult.sum())} of {cohort.n_records} records are from adults (>= {ADULT_AGE_YEARS:g} years), "
        f"about {ADULT_SHARE_OF_TRAINING:.0%} of the simulated training cohort (median age 0): expect the reported "
        "accuracy, measured mostly on infants, to be lower, for the class most of all"
    ]


def enforce_strict(domain: np.ndarray, source: str, cohort: ABRCohort | None = None) -> None:
    """`--strict`: raise a one-line DataError naming the first out-of-domain record: ``row k`` counted from 1 in
    the file's own order (a CSV's data rows: the wide CSV's numbering, with its ``line``), and where `cohort` (the
    records `domain` describes, in order) is given, the record's patient, ear and level.

    Why: the row was counted from 0, so "row 5" sent a user to the sixth data row of a CSV whose errors elsewhere
    count from 1 (hunt 44b #3), and a device export has no rows a user can count."""
    bad = np.flatnonzero(np.asarray(domain).astype(str) != IN_DOMAIN)
    if not bad.size:
        return
    index = int(bad[0])
    row = index + 1
    line = f" ({where(row)})" if source.lower().endswith(CSV_SUFFIXES) else ""
    record = ""
    if cohort is not None:
        level = float(cohort.static_column("intensity_db")[index])
        record = f" (patient {cohort.patient_id[index]}, ear {cohort.ear[index]}, {level:g} dB)"
    raise DataError(
        source, "domain", f"out of the model's domain ({domain[index]}){record}; --strict refuses it{line}", row
    )


FIRST_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def merged_reasons(reasons: list[str]) -> list[str]:
    """Reasons that differ only in their first number said once, with the range: six records' "amplitude: 23.6 µV
    peak to peak, beyond a scalp ABR (...)" ... "145 µV ..." become "amplitude: 23.6–145 µV peak to peak, ...".
    Why: an ear's domain cell repeated the same sentence for each record (hunt 44b #10)."""
    groups: dict[str, list[str]] = {}
    for reason in reasons:  # keyed by the reason with its first number marked (NUL: in no reason's own text)
        groups.setdefault(FIRST_NUMBER.sub("\0", reason, count=1), []).append(reason)
    out = []
    for members in groups.values():
        first = FIRST_NUMBER.search(members[0])  # members share the sentence, so the number stands at one place
        if len(members) == 1 or first is None:  # (no number: a reason said once already, as it is)
            out.append(members[0])
            continue
        said = [m.group() for reason in members if (m := FIRST_NUMBER.search(reason))]
        low, high = min(said, key=float), max(said, key=float)
        span = low if low == high else f"{low}–{high}"
        out.append(members[0][: first.start()] + span + members[0][first.end() :])
    return out
