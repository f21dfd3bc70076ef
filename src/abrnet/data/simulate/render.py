"""Rendering candidate recordings: clean responses on a padded grid, their A/B buffers, FMP and noise estimate.

Why a padded grid: the band-pass is applied zero-phase on a trace that extends well beyond the 10-ms window (§8.1),
so the kept window has no filter edge effects and the peaks are re-picked on what the window shows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from abrnet.data.filters import zero_phase
from abrnet.data.simulate import noise as nz
from abrnet.data.simulate.config import SimulationConfig
from abrnet.data.simulate.physiology import (
    ResponseDesign,
    ResponseDraws,
    design_responses,
    pick_peaks,
    render_responses,
)
from abrnet.data.simulate.recording import quality_from_buffers, record_buffers

if TYPE_CHECKING:  # cohort imports this module
    from abrnet.data.simulate.cohort import Ears, Records


def _take(design: ResponseDesign, idx: np.ndarray | slice) -> ResponseDesign:
    return ResponseDesign(**{f.name: getattr(design, f.name)[idx] for f in dataclasses.fields(design)})


def padded_grid(config: SimulationConfig) -> tuple[np.ndarray, int]:
    """Time axis (ms) of the padded simulation grid and the index where the kept window starts (§8.1)."""
    fs = config.sampling_rate_hz
    n_before = round(config.pad_before_ms * fs / 1000.0)
    n_after = round(config.pad_after_ms * fs / 1000.0)
    t = config.t0_ms + (np.arange(n_before + config.n_samples + n_after) - n_before) * 1000.0 / fs
    return t, n_before


@dataclass
class RenderedChunk:
    clean: np.ndarray  # (n, T) kept window, filtered
    latency_ms: np.ndarray  # (n, 3) picked on the clean trace, NaN if absent / not found / outside window
    amplitude_uv: np.ndarray  # (n, 3)
    v_peak_to_trough_uv: np.ndarray  # (n,)


def render_clean(design: ResponseDesign, config: SimulationConfig, sos: np.ndarray) -> RenderedChunk:
    """Draw, band-pass (zero-phase) on the padded grid, re-pick the peaks, crop to the kept window."""
    t, start = padded_grid(config)
    raw = render_responses(design, t)  # (n, L)
    filtered = zero_phase(raw, sos)
    peaks = pick_peaks(filtered, t, design)
    t_end = config.t0_ms + (config.n_samples - 1) * 1000.0 / config.sampling_rate_hz
    inside = (peaks.latency_ms >= config.t0_ms) & (peaks.latency_ms <= t_end)
    return RenderedChunk(
        clean=filtered[:, start : start + config.n_samples],
        latency_ms=np.where(inside, peaks.latency_ms, np.nan),
        amplitude_uv=np.where(inside, peaks.amplitude_uv, np.nan),
        v_peak_to_trough_uv=np.where(inside[:, 2], peaks.v_peak_to_trough_uv, np.nan),
    )


def render_candidates(
    ears: Ears,
    rec: Records,
    draws: ResponseDraws,
    rn_uv: np.ndarray,
    config: SimulationConfig,
    s_noise: np.random.SeedSequence,
    progress: Callable[[int, int], None] | None,
) -> dict[str, np.ndarray]:
    """Clean response, A/B buffers, FMP and residual noise (from the buffers) and clean-trace peaks per candidate."""
    e, n = rec.ear, rec.ear.size
    design = design_responses(
        class_id=ears.class_id[e],
        level_db=rec.level_db,
        threshold_db=ears.threshold_db[e],
        age_weeks=ears.age_weeks[e],
        female=ears.female[e],
        rate_hz=rec.rate_hz,
        hf_delay_ms=ears.hf_delay_ms[e],
        air_bone_gap_db=ears.air_bone_gap_db[e],
        draws=draws,
        female_latency_shift_ms=config.female_latency_shift_ms,
        female_amplitude_factor=config.female_amplitude_factor,
    )
    sos = nz.bandpass_sos(config.sampling_rate_hz, config.bandpass_hz, config.filter_order)
    t_win = config.t0_ms + np.arange(config.n_samples) * 1000.0 / config.sampling_rate_hz
    out = {
        "clean": np.empty((n, config.n_samples), np.float32),
        "buffers": np.empty((n, 2, config.n_samples), np.float32),
        "latency": np.full((n, 3), np.nan),
        "amplitude": np.full((n, 3), np.nan),
        "ptt": np.full(n, np.nan),
        "fmp": np.empty(n),
        "rn_est": np.empty(n),
        "artifact": np.zeros(n, np.int8),
        "cm_amplitude_uv": design.cm_amplitude_uv,
        "v_present": design.present[:, 2],
        "sensation_level_db": design.sensation_level_db,
    }
    chunk_seeds = s_noise.spawn(max(1, -(-n // config.chunk_size)))
    for k, lo in enumerate(range(0, n, config.chunk_size)):
        sl = slice(lo, min(n, lo + config.chunk_size))
        chunk = render_clean(_take(design, sl), config, sos)
        noisy = record_buffers(
            np.random.default_rng(chunk_seeds[k]),
            chunk.clean,
            rn_uv[sl],
            rec.level_db[sl],
            t_win,
            sampling_rate_hz=config.sampling_rate_hz,
            noise_exponent=config.noise_exponent,
            sos=sos,
            mains_hz=config.mains_hz,
            mains_max_uv=config.mains_max_nv / 1000.0,
            stimulus_artifact_uv=config.stimulus_artifact_uv,
            burst_probability=config.burst_probability,
        )
        out["fmp"][sl], out["rn_est"][sl] = quality_from_buffers(noisy.buffers, t_win)
        out["clean"][sl], out["buffers"][sl], out["artifact"][sl] = chunk.clean, noisy.buffers, noisy.artifact
        out["latency"][sl], out["amplitude"][sl] = chunk.latency_ms, chunk.amplitude_uv
        out["ptt"][sl] = chunk.v_peak_to_trough_uv
        if progress is not None:
            progress(sl.stop, n)
    return out
