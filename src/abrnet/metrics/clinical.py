"""The numbers a clinician reads off an ABR series, as pure numpy functions.

* per record: absolute latencies of waves I, III, V (given, from the model or an expert) and their peak-to-trough
  amplitudes I–I′, III–III′, V–V′: the peak's value minus the lowest point of the following trough, searched from the
  peak up to `TROUGH_WINDOW_MS` later (V′ is the SN10 trough ~1 ms after V; Hall, *New Handbook of Auditory Evoked
  Responses*, 2007, ch. 7: amplitudes are read peak to following trough because the baseline of an averaged ABR is
  not a stable reference);
* per ear: inter-peak intervals I–III, III–V, I–V at the ear's highest level where both waves are present (where
  they are read clinically: they hardly change with level, and are most reliable at high level), the wave V
  latency–intensity function and its least-squares slope in µs/dB (normal ≈ −30 to −40 µs/dB for clicks; steep or
  flat functions point to cochlear or conductive loss), and the amplitude–intensity (I/O) function of wave V. The
  two functions are read only at levels at or above the ear's threshold (`ear_numbers`' ``from_db``), as an
  audiologist reads a V only where the ear has one: a single false V below threshold, or in an ear with no
  response, gave a flat or rising (impossible) slope;
* per patient: the interaural wave V latency difference (IT5, right − left) at the highest level both ears share;
  |IT5| > 0.3–0.4 ms is the classical retrocochlear flag.

Replicates (records of one ear at one level) are one point: the mean of those with the wave present
(`level_means`), everywhere a value is read "at a level". Missing waves are NaN and are skipped, never imputed.
"""

from __future__ import annotations

import numpy as np

from abrnet.data.grouping import group_indices

TROUGH_WINDOW_MS = 1.0
REPLICATE_WINDOW_MS = (1.0, 8.0)  # where waves I–V lie: the replicate correlation ignores the click artifact
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


def replicate_r(
    signals: np.ndarray, time_ms: np.ndarray, keys: np.ndarray, window_ms: tuple[float, float] = REPLICATE_WINDOW_MS
) -> np.ndarray:
    """(N,) Pearson correlation of each record with the mean of the other records of its key (one ear at one level)
    over ``window_ms``; NaN where the key has one record (or a trace is flat there).

    Why: repeatability is the audiologist's first check of a replicated level (a V seen in one replicate only is
    not a response); two records per level were read independently with nothing saying whether they agreed."""
    t = np.asarray(time_ms, float)
    x = np.asarray(signals, float)[:, (t >= window_ms[0]) & (t <= window_ms[1])]  # (N, T_window)
    out = np.full(x.shape[0], np.nan)
    for rows in group_indices(np.asarray(keys).astype(str))[1]:
        if rows.size < 2:
            continue
        total = x[rows].sum(axis=0)
        for i in rows.tolist():
            a = x[i] - x[i].mean()
            others = (total - x[i]) / (rows.size - 1)
            b = others - others.mean()
            den = float(np.sqrt((a @ a) * (b @ b)))
            out[i] = float(a @ b) / den if den > 0 else np.nan
    return out


def slope_per_db(level_db: np.ndarray, values: np.ndarray) -> float:
    """Least-squares slope of ``values`` against level (NaN pairs skipped; NaN with fewer than 2 levels)."""
    x, y = np.asarray(level_db, float), np.asarray(values, float)
    ok = np.isfinite(x) & np.isfinite(y)
    if np.unique(x[ok]).size < 2:
        return float("nan")
    return float(np.polyfit(x[ok], y[ok], 1)[0])


def level_means(level_db: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct levels (L,), descending, and the mean of ``values`` (n, ...) over each level's records, NaN skipped
    (NaN where every replicate is NaN): replicates at one level are one reading, not several points of a function.
    """
    level = np.asarray(level_db, float)
    vals = np.asarray(values, float)
    levels = np.unique(level[np.isfinite(level)])[::-1].copy()
    out = np.full((levels.size, *vals.shape[1:]), np.nan)
    for i, lv in enumerate(levels.tolist()):
        at = vals[level == lv]
        n = np.isfinite(at).sum(axis=0)
        out[i] = np.where(n > 0, np.nansum(at, axis=0) / np.maximum(n, 1), np.nan)
    return levels, out


def series_text(level_db: np.ndarray, values: np.ndarray, fmt: str = ".3f") -> str:
    """``"80:5.612;60:6.034"`` (descending level, present values only): a function of level in one CSV cell."""
    order = np.argsort(-np.asarray(level_db, float), kind="stable")
    return ";".join(f"{level_db[k]:g}:{values[k]:{fmt}}" for k in order if np.isfinite(values[k]))


def interpeak_at_top(level_db: np.ndarray, latency_ms: np.ndarray, from_db: float = -np.inf) -> dict[str, float]:
    """Inter-peak intervals (ms) of one ear, each at the highest level ≥ ``from_db`` where both of its waves are
    present, the mean over that level's replicates with both (`function_points`). Why: the first replicate's
    interval was reported, so the file's row order decided it, and an ear called "no response" had one."""
    lat = np.asarray(latency_ms, float)
    out = {}
    for a, b in INTERVALS:
        _, d = function_points(level_db, lat[:, WAVE_NAMES.index(b)] - lat[:, WAVE_NAMES.index(a)], from_db)
        ok = np.isfinite(d)  # levels descend: the first finite one is the highest
        out[f"{a}_{b}_ms"] = float(d[ok][0]) if ok.any() else float("nan")
    return out


def function_points(
    level_db: np.ndarray, values: np.ndarray, from_db: float = -np.inf
) -> tuple[np.ndarray, np.ndarray]:
    """The points of a function of level read from one ear's records: levels ≥ ``from_db`` (the ear's threshold;
    +inf for an ear with no response: no point), replicates combined (`level_means`). ``values`` (n, ...).

    The one rule behind <out>.series.csv's latency–intensity and I/O functions and the ``--plot`` latency–intensity
    figure, so the two show the same points."""
    level = np.asarray(level_db, float)
    keep = level >= from_db - 1e-6
    return level_means(level[keep], np.asarray(values, float)[keep])


def ear_numbers(
    level_db: np.ndarray, latency_ms: np.ndarray, amplitude_uv: np.ndarray, from_db: float = -np.inf
) -> dict[str, float | str | bool]:
    """Per-ear read-out from one ear's records: inter-peak intervals, wave V latency–intensity and I/O functions.

    ``latency_ms`` (n, 3) and ``amplitude_uv`` (n, 3, peak-to-trough) for waves I, III, V, NaN where absent. The
    two functions and their slopes come from `function_points` (levels ≥ ``from_db``, replicates combined).
    ``V_li_slope_positive`` is 1 where the slope is > 0 (latency shorter at softer levels), 0 where it is not and NaN
    where there is none. No physiological L–I function rises, so the number is kept but must not read as a normal
    one (a V read from noise, or replicates that disagree).
    """
    v = WAVE_NAMES.index("V")
    lat = np.asarray(latency_ms, float)
    levels, lat_pts = function_points(level_db, lat, from_db)  # (L,), (L, 3)
    _, amp_pts = function_points(level_db, amplitude_uv, from_db)
    out: dict[str, float | str | bool] = dict(interpeak_at_top(level_db, lat, from_db))
    slope = slope_per_db(levels, lat_pts[:, v]) * 1000.0
    out["V_latency_intensity"] = series_text(levels, lat_pts[:, v])
    out["V_li_slope_us_per_db"] = slope
    out["V_li_slope_positive"] = float(slope > 0.0) if np.isfinite(slope) else float("nan")  # 1/0; none: no slope
    out["V_amplitude_intensity"] = series_text(levels, amp_pts[:, v])
    out["V_io_slope_uv_per_db"] = slope_per_db(levels, amp_pts[:, v])
    return out


def interaural_v_latencies(
    level_left: np.ndarray, v_left_ms: np.ndarray, level_right: np.ndarray, v_right_ms: np.ndarray
) -> tuple[float, float, float]:
    """(level, left, right wave V latency in ms) at the highest level with wave V in both ears, each ear's latency
    the mean of its replicates with V there (`level_means`); NaNs if no such level.

    Why one rule: <out>.patients.csv printed the first replicate's latencies beside the difference of the last ones."""
    lv_l, v_l = level_means(level_left, v_left_ms)
    lv_r, v_r = level_means(level_right, v_right_ms)
    left = {float(lv): float(v) for lv, v in zip(lv_l, v_l, strict=True) if np.isfinite(v)}
    right = {float(lv): float(v) for lv, v in zip(lv_r, v_r, strict=True) if np.isfinite(v)}
    common = sorted(set(left) & set(right))
    if not common:
        return float("nan"), float("nan"), float("nan")
    top = common[-1]
    return top, left[top], right[top]
