"""The numbers a clinician reads off an ABR series, as pure numpy functions.

* per record: absolute latencies of waves I, III, V (given, from the model or an expert) and their peak-to-trough
  amplitudes I–I′, III–III′, V–V′: the peak's value minus the lowest point of the following trough, searched from the
  peak up to `TROUGH_WINDOW_MS` later (V′ is the SN10 trough ~1 ms after V; Hall, *New Handbook of Auditory Evoked
  Responses*, 2007, ch. 7: amplitudes are read peak to following trough because the baseline of an averaged ABR is
  not a stable reference);
* per ear: inter-peak intervals I–III, III–V, I–V at the ear's highest level where both waves are present (where
  they are read clinically: they hardly change with level, and are most reliable at high level), the wave V
  latency–intensity function and its least-squares slope in µs/dB (normal ≈ −30 to −40 µs/dB for clicks; steep or
  flat functions point to cochlear or conductive loss), and the amplitude–intensity (I/O) function of wave V;
* per patient: the interaural wave V latency difference (IT5, right − left) at the highest level both ears share;
  |IT5| > 0.3–0.4 ms is the classical retrocochlear flag.

Missing waves are NaN and are skipped, never imputed.
"""

from __future__ import annotations

import numpy as np

TROUGH_WINDOW_MS = 1.0
WAVE_NAMES: tuple[str, ...] = ("I", "III", "V")
INTERVALS: tuple[tuple[str, str], ...] = (("I", "III"), ("III", "V"), ("I", "V"))


def peak_to_trough(signals: np.ndarray, time_ms: np.ndarray, latency_ms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Peak-to-following-trough amplitude (µV) and trough latency (ms) for each record and wave.

    ``signals`` (N, T) µV on ``time_ms`` (T,); ``latency_ms`` (N, W) peak latencies, NaN where a wave is absent.
    Returns two (N, W) arrays, NaN where the peak is absent or lies outside the record.
    """
    x = np.asarray(signals, dtype=np.float64)
    t = np.asarray(time_ms, dtype=np.float64)
    lat = np.atleast_2d(np.asarray(latency_ms, dtype=np.float64))
    amp = np.full(lat.shape, np.nan)
    trough_t = np.full(lat.shape, np.nan)
    dt = float(np.median(np.diff(t)))
    for i, j in zip(*np.nonzero(np.isfinite(lat)), strict=True):
        k = int(round((lat[i, j] - t[0]) / dt))
        if not 0 <= k < t.size:
            continue
        stop = min(t.size, k + int(round(TROUGH_WINDOW_MS / dt)) + 1)
        if stop - k < 2:
            continue
        m = k + int(np.argmin(x[i, k:stop]))
        amp[i, j] = x[i, k] - x[i, m]
        trough_t[i, j] = t[m]
    return amp, trough_t


def slope_per_db(level_db: np.ndarray, values: np.ndarray) -> float:
    """Least-squares slope of ``values`` against level (NaN pairs skipped; NaN with fewer than 2 levels)."""
    x, y = np.asarray(level_db, float), np.asarray(values, float)
    ok = np.isfinite(x) & np.isfinite(y)
    if np.unique(x[ok]).size < 2:
        return float("nan")
    return float(np.polyfit(x[ok], y[ok], 1)[0])


def series_text(level_db: np.ndarray, values: np.ndarray, fmt: str = ".3f") -> str:
    """``"80:5.612;60:6.034"`` (descending level, present values only): a function of level in one CSV cell."""
    order = np.argsort(-np.asarray(level_db, float), kind="stable")
    return ";".join(f"{level_db[k]:g}:{values[k]:{fmt}}" for k in order if np.isfinite(values[k]))


def interpeak_at_top(level_db: np.ndarray, latency_ms: np.ndarray) -> dict[str, float]:
    """Inter-peak intervals (ms) of one ear, each at the highest level where both of its waves are present."""
    level = np.asarray(level_db, float)
    lat = np.asarray(latency_ms, float)
    out = {}
    for a, b in INTERVALS:
        d = lat[:, WAVE_NAMES.index(b)] - lat[:, WAVE_NAMES.index(a)]
        ok = np.isfinite(d)
        out[f"{a}_{b}_ms"] = float(d[ok][np.argmax(level[ok])]) if ok.any() else float("nan")
    return out


def ear_numbers(level_db: np.ndarray, latency_ms: np.ndarray, amplitude_uv: np.ndarray) -> dict[str, float | str]:
    """Per-ear read-out from one ear's records: inter-peak intervals, wave V latency–intensity and I/O functions.

    ``latency_ms`` (n, 3) and ``amplitude_uv`` (n, 3, peak-to-trough) for waves I, III, V, NaN where absent.
    """
    v = WAVE_NAMES.index("V")
    lat = np.asarray(latency_ms, float)
    amp = np.asarray(amplitude_uv, float)
    out: dict[str, float | str] = dict(interpeak_at_top(level_db, lat))
    out["V_latency_intensity"] = series_text(level_db, lat[:, v])
    out["V_li_slope_us_per_db"] = slope_per_db(level_db, lat[:, v]) * 1000.0
    out["V_amplitude_intensity"] = series_text(level_db, amp[:, v])
    out["V_io_slope_uv_per_db"] = slope_per_db(level_db, amp[:, v])
    return out


def interaural_v(
    level_left: np.ndarray, v_left_ms: np.ndarray, level_right: np.ndarray, v_right_ms: np.ndarray
) -> tuple[float, float]:
    """(level, right − left wave V latency in ms) at the highest level with wave V in both ears; NaNs if none."""
    left = {float(lv): float(v) for lv, v in zip(level_left, v_left_ms, strict=True) if np.isfinite(v)}
    right = {float(lv): float(v) for lv, v in zip(level_right, v_right_ms, strict=True) if np.isfinite(v)}
    common = sorted(set(left) & set(right))
    if not common:
        return float("nan"), float("nan")
    top = common[-1]
    return top, right[top] - left[top]
