"""Bring recordings from any device grid onto the model's fixed grid (default 20 kHz, 200 samples, 0–10 ms).

Devices sample at 25, 32, 48, 97.66 or 100 kHz and start their window before, at or after the stimulus. The model
only understands one grid, so importers keep the native grid and this module converts, saying what it had to invent.
"""

from __future__ import annotations

import re
from fractions import Fraction

import numpy as np
from scipy.signal import resample_poly

from abrnet.constants import DEFAULT_N_SAMPLES, DEFAULT_SAMPLING_RATE_HZ, DEFAULT_T0_MS
from abrnet.data.schema import ABRCohort

# Per-sample extras (N, T) that follow the signals onto the model grid (`cohort_to_model_grid`) and through
# `abrnet.inference.inputs.concat_cohorts`:
# * ``recorded`` (bool): the model samples taken from the recording (`recorded_mask`), stored only where some were
#   padded (absent: every sample recorded). Why per record: a statistic of the recording read on the model grid (the
#   residual noise, `abrnet.data.noise_estimate`) must not count the zeros the resampler invented, and files read
#   together pad differently.
# * ``buffer_noise_uv`` (float64): the split buffers' (A − B) / 2 (`abrnet.data.fmp.noise_trace`) of records whose
#   file kept buffers but whose cohort could not (files with and without buffers read together); NaN rows: none.
RECORDED_EXTRA = "recorded"
RESAMPLED_FROM = "resampled_from"  # attrs: the native grid `cohort_to_model_grid` moved the records from
_GRID_TEXT = re.compile(r"(\S+) Hz, t0 (\S+) ms, (\d+) samples")
BUFFER_NOISE_EXTRA = "buffer_noise_uv"


def ms_text(t_ms: float) -> str:
    """A time in ms as messages print it: up to 3 decimals, no trailing zeros (``0``, ``0.04``, ``7.975``)."""
    text = f"{t_ms:.3f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def span_text(t0_ms: float, n_samples: int, sampling_rate_hz: float) -> str:
    """The time span of `n_samples` samples from `t0_ms`, first sample to first + n / fs (``0–10`` for the model's
    200 samples at 20 kHz): each sample stands for one period, so the span is the window's duration."""
    return f"{ms_text(t0_ms)}–{ms_text(t0_ms + n_samples * 1000.0 / sampling_rate_hz)}"


def _rational(ratio: float, max_den: int = 1000) -> tuple[int, int]:
    frac = Fraction(ratio).limit_denominator(max_den)
    return frac.numerator, frac.denominator


def to_model_grid(
    signals: np.ndarray,
    fs_in: float,
    t0_in_ms: float,
    *,
    fs_out: float = DEFAULT_SAMPLING_RATE_HZ,
    n_out: int = DEFAULT_N_SAMPLES,
    t0_out_ms: float = DEFAULT_T0_MS,
    pad: str = "zero",
) -> tuple[np.ndarray, list[str]]:
    """Resample ``signals`` (N, T_in) from ``fs_in`` to ``fs_out`` and cut/pad to ``n_out`` samples from ``t0_out_ms``.

    This is the one function that puts recordings on the model's grid: averages, clean targets and the split
    sub-averages (``buffers``, shape (N, 2, T_in) → (N, 2, n_out): any leading axes are kept) all go through it,
    so A, B and (A + B) / 2 stay consistent sample by sample (the method is linear).

    Method: polyphase resampling (``scipy.signal.resample_poly``, whose FIR is the anti-alias low-pass when
    downsampling) by the closest rational ``up/down`` (denominator <= 1000), then linear interpolation from that
    grid onto the exact output times. That last step only corrects sub-sample offsets (t0 not on the output grid,
    or a rational approximation that is off by < 0.1 %), so it does not smear the waveform. Edges are extended with
    a line (``padtype="line"``) so a DC offset does not ring at the ends.

    An output time at most one input sample period before the first recorded sample or after the last one takes
    that sample's value, without a warning: the recording does not resolve time more finely than that, and a
    device whose first sample is at 1/fs (EPL exports start at 0.04 ms) otherwise got a 0 µV step at 0 ms and a
    warning about a gap the user cannot close. Output times further out are missing: filled with 0 µV
    (``pad="zero"``: an averaged ABR's baseline) or the nearest input value (``pad="edge"``), and reported in the
    returned warnings (how many model samples, at which times), never silently. Windows are written as spans,
    first sample to first + n / fs (the model's is 0–10 ms), as `abrnet.inference.domain` writes them.
    Returns float32 (N, n_out) and a list of human-readable warnings.
    """
    arr = np.asarray(signals, dtype=np.float64)
    lead = arr.shape[:-1] if arr.ndim >= 2 else (1,)
    x = arr.reshape(-1, arr.shape[-1]) if arr.ndim >= 2 else np.atleast_2d(arr)
    if x.ndim != 2 or x.shape[1] < 2:
        raise ValueError(f"signals must be (N, T) with T >= 2, got shape {np.shape(signals)}")
    if not (np.isfinite(fs_in) and fs_in > 0 and np.isfinite(fs_out) and fs_out > 0):
        raise ValueError(f"sampling rates must be > 0, got fs_in={fs_in}, fs_out={fs_out}")
    if n_out < 1:
        raise ValueError(f"n_out must be >= 1, got {n_out}")
    if pad not in ("zero", "edge"):
        raise ValueError(f"pad must be 'zero' or 'edge', got {pad!r}")

    up, down = _rational(fs_out / fs_in)
    if up == down:
        y, fs_mid = x, fs_in
    else:
        y = resample_poly(x, up, down, axis=1, padtype="line")
        fs_mid = fs_in * up / down
    # Input sample k of `y` sits at t0_in + k / fs_mid (resample_poly keeps the time origin).
    t_out = t0_out_ms + np.arange(n_out) * 1000.0 / fs_out
    pos = (t_out - t0_in_ms) * fs_mid / 1000.0
    last = y.shape[1] - 1
    pos_c = np.clip(pos, 0.0, last)
    lo = np.floor(pos_c).astype(np.int64)
    lo = np.minimum(lo, max(last - 1, 0))
    frac = pos_c - lo
    frac[np.abs(frac) < 1e-9] = 0.0
    out = y[:, lo] * (1.0 - frac) + y[:, np.minimum(lo + 1, last)] * frac
    before, after = _missing(t_out, fs_in, t0_in_ms, x.shape[1])
    t_in_last = t0_in_ms + (x.shape[1] - 1) * 1000.0 / fs_in
    if pad == "zero":
        out[:, before] = 0.0
        out[:, after] = 0.0
    warnings: list[str] = []
    spans = (
        f"the recording spans {span_text(t0_in_ms, x.shape[1], fs_in)} ms, the model window "
        f"{span_text(t0_out_ms, n_out, fs_out)} ms"
    )
    what = "zero-padded" if pad == "zero" else "filled with the nearest recorded value"
    for idx, side, edge in ((before, "before the first", t0_in_ms), (after, "after the last", t_in_last)):
        if idx.size:
            times = ms_text(t_out[idx[0]]) + ("" if idx.size == 1 else f"–{ms_text(t_out[idx[-1]])}")
            count = "1 model sample is" if idx.size == 1 else f"{idx.size} model samples are"
            warnings.append(
                f"{spans}: {count} missing ({times} ms, {side} recorded sample at {ms_text(edge)} ms), {what}"
            )
    if abs(fs_mid - fs_out) > 1e-9 * fs_out:
        warnings.append(f"rate {fs_in:g} Hz resampled by {up}/{down} to {fs_mid:.3f} Hz, then interpolated")
    return out.astype(np.float32).reshape(*lead, n_out), warnings


def _missing(t_out: np.ndarray, fs_in: float, t0_in_ms: float, n_in: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of output times before / after the recording: further than one input sample period from the
    recorded samples (measured on the input's own times: the resampled grid may end a fraction of a sample before
    the input's last sample)."""
    period = 1000.0 / fs_in
    t_in_last = t0_in_ms + (n_in - 1) * period
    before = np.flatnonzero(t0_in_ms - t_out > period * (1 + 1e-6))
    after = np.flatnonzero(t_out - t_in_last > period * (1 + 1e-6))
    return before, after


def recorded_mask(
    fs_in: float,
    t0_in_ms: float,
    n_in: int,
    *,
    n_out: int = DEFAULT_N_SAMPLES,
    fs_out: float = DEFAULT_SAMPLING_RATE_HZ,
) -> np.ndarray:
    """(n_out,) bool: which model samples `to_model_grid` takes from the recording (False: padded, not recorded).

    Why: a statistic of the recording on the model grid (the baseline, `abrnet.data.baseline`) must not count the
    zeros the resampler invented."""
    t_out = DEFAULT_T0_MS + np.arange(n_out) * 1000.0 / fs_out
    mask = np.ones(n_out, bool)
    for idx in _missing(t_out, fs_in, t0_in_ms, n_in):
        mask[idx] = False
    return mask


def recorded_samples(cohort: ABRCohort) -> np.ndarray:
    """(N, T) bool: which samples of each record were taken from the recording (``extras["recorded"]``, written by
    `cohort_to_model_grid` where it padded; absent: all of them, as in a simulated cohort)."""
    stored = cohort.extras.get(RECORDED_EXTRA)
    if stored is None:
        return np.ones((cohort.n_records, cohort.n_samples), bool)
    return np.asarray(stored, bool)


def mask_groups(recorded: np.ndarray | None, n_records: int, n_samples: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(rows, keep) for each set of records that share one set of recorded samples: ``recorded`` None (all
    recorded), (T,) for every record alike, or (N, T) per record (`recorded_samples`: a model-grid .h5 read again
    keeps each record's padding in ``extras["recorded"]``). One group when every record is alike, so such a cohort
    is read exactly as with a (T,) mask.

    Why one helper: the baseline, the noise estimate and the domain check each read a statistic over the recorded
    samples, and records padded differently (files written together into one .h5) must be read apart by all three
    in the same way."""
    if recorded is None:
        return [(np.arange(n_records), np.ones(n_samples, bool))]
    mask = np.asarray(recorded, bool)
    if mask.ndim == 1:
        return [(np.arange(n_records), mask)]
    masks, group = np.unique(mask, axis=0, return_inverse=True)  # (G, T), (N,)
    if len(masks) == 1:
        return [(np.arange(n_records), masks[0])]
    return [(np.flatnonzero(group.reshape(-1) == g), keep) for g, keep in enumerate(masks)]


def grid_change_text(fs_in: float, t0_in_ms: float, n_in: int, n_out: int = DEFAULT_N_SAMPLES) -> str | None:
    """One line saying what moving a recording onto the model grid changed: the rate (``resampled from 100 kHz to
    20 kHz``) and the time cropped away (``7 ms after 10 ms dropped``); None when neither.

    Why: the README promises a warning when a file is resampled or cropped, and a 17-ms 100-kHz export lost 7 ms
    without one. Less than one model sample at an edge is no crop (an EPL window 0.04–10.04 ms at 25 kHz)."""
    stop = DEFAULT_T0_MS + n_out * 1000.0 / DEFAULT_SAMPLING_RATE_HZ
    end = t0_in_ms + n_in * 1000.0 / fs_in
    step = 1000.0 / DEFAULT_SAMPLING_RATE_HZ * (1 - 1e-6)
    parts = []
    if abs(fs_in - DEFAULT_SAMPLING_RATE_HZ) > 1e-9 * DEFAULT_SAMPLING_RATE_HZ:
        parts.append(f"resampled from {fs_in / 1000.0:g} kHz to {DEFAULT_SAMPLING_RATE_HZ / 1000.0:g} kHz")
    dropped = [
        f"{ms_text(ms)} ms {side} {ms_text(edge)} ms"
        for ms, side, edge in ((DEFAULT_T0_MS - t0_in_ms, "before", DEFAULT_T0_MS), (end - stop, "after", stop))
        if ms >= step
    ]
    if dropped:
        parts.append(f"{' and '.join(dropped)} dropped")
    if not parts:
        return None
    spans = (
        f"the recording spans {span_text(t0_in_ms, n_in, fs_in)} ms, the model window "
        f"{span_text(DEFAULT_T0_MS, n_out, DEFAULT_SAMPLING_RATE_HZ)} ms"
    )
    return f"{spans}: {'; '.join(parts)}"


def cohort_to_model_grid(cohort: ABRCohort, n_samples: int = DEFAULT_N_SAMPLES) -> tuple[ABRCohort, list[str]]:
    """`cohort` with signals, clean targets and split buffers moved by `to_model_grid` (20 kHz, ``n_samples`` from
    0 ms), and the per-sample extras that follow the grid (``recorded``, ``buffer_noise_uv``: module constants);
    ``recorded`` is written where samples were padded. Other per-sample extras cannot follow and are dropped.
    Returns the new cohort and the warnings: what was resampled and cropped (`grid_change_text`, one line), then
    what was padded."""
    fs, t0, length = float(cohort.sampling_rate_hz), float(cohort.t0_ms), cohort.n_samples
    on_grid = abs(fs - DEFAULT_SAMPLING_RATE_HZ) < 1e-9 and abs(t0 - DEFAULT_T0_MS) < 1e-9 and length == n_samples
    if on_grid:
        return cohort, []
    signals, warnings = to_model_grid(cohort.signals, fs, t0, n_out=n_samples)
    change = grid_change_text(fs, t0, length, n_samples)
    warnings = ([change] if change else []) + warnings
    move = lambda a: None if a is None else to_model_grid(a, fs, t0, n_out=n_samples)[0]
    out = cohort.subset(np.arange(cohort.n_records))
    out.signals, out.clean, out.buffers = signals, move(cohort.clean), move(cohort.buffers)
    out.sampling_rate_hz, out.t0_ms = DEFAULT_SAMPLING_RATE_HZ, DEFAULT_T0_MS
    out.extras = {k: v for k, v in out.extras.items() if not (v.ndim >= 2 and v.shape[-1] == length)}
    if BUFFER_NOISE_EXTRA in cohort.extras:  # NaN rows (no buffers) stay NaN: each row is resampled on its own
        out.extras[BUFFER_NOISE_EXTRA] = move(cohort.extras[BUFFER_NOISE_EXTRA]).astype(np.float64)
    recorded = np.broadcast_to(recorded_mask(fs, t0, length, n_out=n_samples), (cohort.n_records, n_samples))
    if RECORDED_EXTRA in cohort.extras:  # padded before (a model-grid import read again): still not recorded
        recorded = recorded & (move(recorded_samples(cohort).astype(np.float32)) > 0.5)
    if not recorded.all():
        out.extras[RECORDED_EXTRA] = np.ascontiguousarray(recorded)  # (N, T)
    out.attrs = {**out.attrs, RESAMPLED_FROM: grid_text(fs, t0, length)}
    return out, warnings


def grid_text(fs: float, t0_ms: float, n_samples: int) -> str:
    """A native grid as ``attrs["resampled_from"]`` records it (``25000 Hz, t0 0 ms, 213 samples``), read back by
    `parse_grid_text`: digits enough that 97656.25 Hz reads back as itself."""
    return f"{fs:.12g} Hz, t0 {t0_ms:.12g} ms, {n_samples} samples"


def parse_grid_text(text: str) -> tuple[float, float, int] | None:
    """(rate Hz, t0 ms, samples) of a `grid_text`, or None for any other text (none recorded, a hand-edited file)."""
    match = _GRID_TEXT.fullmatch(text.strip())
    try:
        grid = None if match is None else (float(match[1]), float(match[2]), int(match[3]))
    except ValueError:
        return None
    return grid if grid is not None and np.isfinite(grid[:2]).all() and grid[0] > 0 else None


def resampled_from(cohort: ABRCohort) -> np.ndarray:
    """(N,) str: the native grid each record was moved onto the model grid from (`grid_text`; "" where none is
    recorded): the file-wide attr, or the per-record ``attr_resampled_from`` that `merge_attrs` keeps where files
    read together differ. Why: a model-grid .h5 no longer says the recording's own window; the domain check
    (`abrnet.inference.domain.window_reasons`) says it as the export's reading does."""
    column = cohort.extras.get(f"attr_{RESAMPLED_FROM}")
    if column is not None:
        return np.asarray(column).astype(str)
    return np.full(cohort.n_records, str(cohort.attrs.get(RESAMPLED_FROM, "")))
