"""Bring recordings from any device grid onto the model's fixed grid (default 20 kHz, 200 samples, 0–10 ms).

Devices sample at 25, 32, 48, 97.66 or 100 kHz and start their window before, at or after the stimulus. The model
only understands one grid, so importers keep the native grid and this module converts, saying what it had to invent.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from scipy.signal import resample_poly

from abrnet.constants import DEFAULT_N_SAMPLES, DEFAULT_SAMPLING_RATE_HZ, DEFAULT_T0_MS
from abrnet.data.schema import ABRCohort


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

    Output times the input does not cover are filled with 0 µV (``pad="zero"``: an averaged ABR's baseline) or the
    nearest input value (``pad="edge"``); each such gap is reported in the returned warnings, never silently.
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
    tol = 1e-6
    inside = (pos >= -tol) & (pos <= last + tol)
    pos_c = np.clip(pos, 0.0, last)
    lo = np.floor(pos_c).astype(np.int64)
    lo = np.minimum(lo, max(last - 1, 0))
    frac = pos_c - lo
    frac[np.abs(frac) < 1e-9] = 0.0
    out = y[:, lo] * (1.0 - frac) + y[:, np.minimum(lo + 1, last)] * frac
    if pad == "zero":
        out[:, ~inside] = 0.0
    warnings: list[str] = []
    t_in_end = t0_in_ms + (x.shape[1] - 1) * 1000.0 / fs_in
    what = "zero-padded" if pad == "zero" else "edge-padded"
    before, after = np.flatnonzero(~inside & (pos < 0)), np.flatnonzero(~inside & (pos > 0))
    for idx, side in ((before, "start"), (after, "end")):
        if idx.size:
            warnings.append(
                f"input covers {t0_in_ms:.2f}–{t_in_end:.2f} ms but the model window is {t_out[0]:.2f}–"
                f"{t_out[-1]:.2f} ms: {t_out[idx[0]]:.2f}–{t_out[idx[-1]]:.2f} ms at the {side} is missing "
                f"({idx.size} samples {what})"
            )
    if abs(fs_mid - fs_out) > 1e-9 * fs_out:
        warnings.append(f"rate {fs_in:g} Hz resampled by {up}/{down} to {fs_mid:.3f} Hz, then interpolated")
    return out.astype(np.float32).reshape(*lead, n_out), warnings


def cohort_to_model_grid(cohort: ABRCohort, n_samples: int = DEFAULT_N_SAMPLES) -> tuple[ABRCohort, list[str]]:
    """`cohort` with signals, clean targets and split buffers moved by `to_model_grid` (20 kHz, ``n_samples`` from
    0 ms). Other per-sample extras cannot follow and are dropped. Returns the new cohort and the warnings."""
    fs, t0, length = float(cohort.sampling_rate_hz), float(cohort.t0_ms), cohort.n_samples
    on_grid = abs(fs - DEFAULT_SAMPLING_RATE_HZ) < 1e-9 and abs(t0 - DEFAULT_T0_MS) < 1e-9 and length == n_samples
    if on_grid:
        return cohort, []
    signals, warnings = to_model_grid(cohort.signals, fs, t0, n_out=n_samples)
    move = lambda a: None if a is None else to_model_grid(a, fs, t0, n_out=n_samples)[0]
    out = cohort.subset(np.arange(cohort.n_records))
    out.signals, out.clean, out.buffers = signals, move(cohort.clean), move(cohort.buffers)
    out.sampling_rate_hz, out.t0_ms = DEFAULT_SAMPLING_RATE_HZ, DEFAULT_T0_MS
    out.extras = {k: v for k, v in out.extras.items() if not (v.ndim >= 2 and v.shape[-1] == length)}
    out.attrs = {**out.attrs, "resampled_from": f"{fs:g} Hz, t0 {t0:g} ms, {length} samples"}
    return out, warnings
