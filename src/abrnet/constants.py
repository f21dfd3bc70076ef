"""Names and defaults shared by every part of abrnet (one place, so files and models agree)."""

from __future__ import annotations

from typing import Any

CLASS_NAMES: tuple[str, ...] = ("NORMAL", "NEUROPATHY", "SNHL", "TOTAL", "CONDUCTIVE")
WAVES: tuple[str, ...] = ("I", "III", "V")
STATIC_PARAMS: tuple[str, ...] = ("age_years", "intensity_db", "stimulus_rate_hz", "fmp")
EARS: tuple[str, ...] = ("L", "R")

DEFAULT_SAMPLING_RATE_HZ: float = 20_000.0
DEFAULT_N_SAMPLES: int = 200
DEFAULT_T0_MS: float = 0.0

# The recording band of clinical ABR systems: the simulator filters every response with it (zero-phase Butterworth),
# and generated responses pass through the same filter, as a recorded one would.
RECORDING_BAND_HZ: tuple[float, float] = (100.0, 3000.0)
RECORDING_FILTER_ORDER: int = 2

# A wave is called present when its presence probability reaches this (`is_present`: predict columns, plots, viewer,
# metrics, series features).
PRESENCE_THRESHOLD: float = 0.5

# Physical ranges a valid record must respect (inclusive); checked on load.
PHYSICAL_RANGES: dict[str, tuple[float, float]] = {
    "age_years": (0.0, 120.0),
    "intensity_db": (-40.0, 140.0),  # vestibular (VsEP) jerk levels go to -30 dB re 1 g/ms
    "stimulus_rate_hz": (0.1, 1000.0),
    "fmp": (0.0, 1e6),
    "latency_ms": (0.0, 30.0),
    "amplitude_uv": (-50.0, 50.0),
    "threshold_db": (-20.0, 140.0),
    "signal_uv": (-1e4, 1e4),
}

# Model size presets (abrnet.models.config.PRESETS holds their fields); named here so the CLI can list them
# without importing torch.
MODEL_PRESETS: tuple[str, ...] = ("tiny", "cpu", "base", "large")
# Seeds every command and the API accept: numpy's legacy seed range, which Lightning's seed_everything keeps too
# (outside it they raise mid-run).
MAX_SEED: int = 2**32 - 1
# Two levels (dB) closer than this are one level: stored float32 levels and a corrected threshold against the tested
# levels (a threshold "at" 80 dB is not above it).
LEVEL_TOL_DB: float = 1e-6
# `abrnet train`'s default seed, which also splits its patients: `data export/describe --split` default to it, so
# their "test" patients are the ones a default run held out.
TRAIN_SEED: int = 42

# Signal checks on users' recordings (µV). Why these numbers: the median over an ear's records of the record mean
# over the 0–10 ms model window is at most 0.018 µV in the simulated training cohort (800 ears; 0.038 µV over 1,800
# fresh ears of three or four levels; one or two records can pass it by a burst), so an ear beyond this carries the
# amplifier's DC, not an ABR, and is named in a warning (`abrnet.data.baseline` removes every record's mean, this
# bound or not: +0.04 µV already moved thresholds).
MAX_BASELINE_OFFSET_UV: float = 0.05
# Low-frequency content: RMS of a record's degree-1..`LOW_FREQUENCY_DEGREE` Legendre trend over the window (below
# ~100 Hz on a 10-ms window: a drift, a slow wave, a mains cycle), median over an ear of at least
# `MIN_LOW_FREQUENCY_RECORDS` records. Simulated ears reach 0.106 µV (seeds 101-108; check 201-204: 0.088); the bound
# is 1.23x that, so no simulated ear exceeds it (`abrnet.inference.signal_quality` calls it a domain reason,
# `abrnet.data.baseline` removes the trend). The median of two or three loud responses is their own slow waves (a
# clean 60/80 dB grid reached the bound in 4 of 600 ears), hence the record minimum.
MAX_LOW_FREQUENCY_UV: float = 0.13
LOW_FREQUENCY_DEGREE: int = 2
MIN_LOW_FREQUENCY_RECORDS: int = 4
# Scalp ABRs stay below ~5 µV peak to peak; the simulated cohort's largest is 11.8 µV (99.9th percentile 5.5 µV).
# Above this the samples are most likely in another unit (nV written as µV), not a larger response.
MAX_ABR_PEAK_TO_PEAK_UV: float = 20.0

# Generation defaults: what `abrnet evaluate --generation` chose on validation conditions for the shipped model
# (stop 40's weights, chosen at stop 42), of guidance 1/2/3 x ddim/dpm x 10/20 steps: ddim, 20 steps, guidance 1 (mean
# wave V latency-intensity gap 0.204 ms; dpm 20 steps 0.205, guidance 2 ddim 10 steps 0.208, ddim 10 steps 0.223:
# closer than one seed's spread, `generation_seeds.md`, but the rule decides; the card's ``generation_choice``,
# benchmarks/results/generation_default_model.json). The stop-29 shipped model's choice was ddim, 10 steps,
# guidance 1. They were 50 steps and guidance 2, which no validation chose. Joint: no guidance. Not chosen again for
# the stop-51 weights (simulator 2.1), whose validation choice is not measured.
GENERATION_GUIDANCE: float = 1.0
GENERATION_STEPS: int = 20


def is_present(prob: Any) -> Any:
    """Whether the model calls a wave present: presence probability >= `PRESENCE_THRESHOLD`, elementwise on a float
    or a numpy array (bool or bool array).

    Why one function: results.csv, the plots and the viewer used ``>=`` while the metrics and the series features
    used their own ``> 0.5``, so a record could count as present in one table and absent in metrics.json. The rule
    is results.csv's documented ``>=``; moving the others to it changes a call only where a probability is exactly
    0.5, which a float32 network output practically never is, so no reported number moves in practice."""
    return prob >= PRESENCE_THRESHOLD
