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
  model reads is sampled without aliasing.
"""

from __future__ import annotations

import numpy as np

from abrnet.constants import DEFAULT_N_SAMPLES, DEFAULT_SAMPLING_RATE_HZ, DEFAULT_T0_MS, RECORDING_BAND_HZ
from abrnet.data.metadata import LEVEL_UNIT, SIMULATED, SPECIES, STIMULUS, STIMULUS_FREQ_HZ, UNKNOWN, metadata_of
from abrnet.data.resample import span_text
from abrnet.data.schema import ABRCohort, DataError

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
    shared = []
    window = window_reason(cohort.sampling_rate_hz, cohort.t0_ms, cohort.n_samples, model_n=model_n)
    if window:
        shared.append(window)
    if cohort.sampling_rate_hz < MIN_SAMPLING_RATE_HZ:
        shared.append(f"sampling rate: {cohort.sampling_rate_hz:g} Hz < {MIN_SAMPLING_RATE_HZ:g} Hz")
    return np.array(["; ".join(r + shared) or IN_DOMAIN for r in reasons]).astype(str)


def domain_warnings(domain: np.ndarray, source: str) -> list[str]:
    """One line per distinct reason set: ``<file>: k of N records out of domain (<reasons>)``."""
    out = []
    values, counts = np.unique(np.asarray(domain).astype(str), return_counts=True)
    for value, count in zip(values, counts, strict=True):
        if value != IN_DOMAIN:
            out.append(
                f"{source}: {count} of {len(domain)} records out of the model's domain ({value}); predictions "
                "are extrapolations (pass --species/--stimulus/--level-unit if the file is wrong; --strict refuses)"
            )
    return out


def enforce_strict(domain: np.ndarray, source: str) -> None:
    """`--strict`: raise a one-line DataError naming the first out-of-domain record."""
    bad = np.flatnonzero(np.asarray(domain).astype(str) != IN_DOMAIN)
    if bad.size:
        row = int(bad[0])
        raise DataError(source, "domain", f"out of the model's domain ({domain[row]}); --strict refuses it", row)
