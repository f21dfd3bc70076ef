"""The conditions a checkpoint's network learnt from, and the lines that say where records lie outside them.

Why its own module: `predict` (and with it denoise, `evaluate --data` and the viewer) and `generate` read the
default simulator's ranges whatever the checkpoint had trained on, so a model trained on a lab's file of 50–90 /s
adult recordings was told its own recordings lay "outside the training cohort's stimulus rates (11.1–49.1 /s)" and
were 3 % of its cohort, while a level or an FMP it never saw passed without a word (stop 50; hunt 49's noticed
item). Now:

* a checkpoint trained on the simulated default (``data.path`` None) reads the simulator's configuration
  (`SimulationConfig.rates_hz`, `.adult_age_range`): the distribution its cohort was drawn from, not one split's
  extremes (a tiny test cohort's oldest patient is chance); its levels are the domain guard's 0–100 dB nHL, which
  `domain` says already, and its FMP bound is the normaliser's mean + `FMP_SPREAD_SD` SD of log FMP;
* a checkpoint trained on a file reads its training split's range of each parameter, which the normaliser records
  (`Normalizer.static_min` / `static_max`); one saved before stop 50 has none, so only its FMP bound is said.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from abrnet.constants import STATIC_PARAMS
from abrnet.data.metadata import SIMULATED, SPECIES, metadata_of
from abrnet.data.normalizer import Normalizer
from abrnet.data.schema import ABRCohort
from abrnet.data.simulate import SimulationConfig

# How far (in SD of the training split's log1p FMP, the checkpoint's own normalizer) an FMP may lie above the
# training mean before it counts as outside the cohort, where no range was recorded: 5 SD is FMP ≈ 120 for the
# shipped model, above the largest FMP of a simulated cohort (≈ 90; 3 SD, ≈ 28, flagged 1 % of real training
# conditions); the simulator has no configured FMP range to read instead.
FMP_SPREAD_SD = 5.0


@dataclass(frozen=True)
class TrainingRanges:
    """(low, high) of each condition the network learnt from; None where it is not known or `domain` says it."""

    simulated: bool  # trained on the simulated default: its share of adults (`domain.sparse_age_warnings`) holds
    age_years: tuple[float, float] | None
    intensity_db: tuple[float, float] | None
    stimulus_rate_hz: tuple[float, float] | None
    fmp_max: float  # NaN: the training records had no FMP
    fmp_bound: str  # how `fmp_max` was found, for the message

    @classmethod
    def of(cls, normalizer: Normalizer, *, simulated: bool) -> TrainingRanges:
        """The ranges of a checkpoint with this normaliser, trained on the simulated default or on a file."""
        j = STATIC_PARAMS.index("fmp")
        spread = float(np.expm1(normalizer.static_mean[j] + FMP_SPREAD_SD * normalizer.static_std[j]))
        spread_text = f"mean + {FMP_SPREAD_SD:g} SD of log FMP"
        if simulated:
            return cls.simulator(spread, spread_text)
        if normalizer.static_min is None or normalizer.static_max is None:  # a file-trained run before stop 50
            return cls(False, None, None, None, spread, spread_text)
        lo, hi = normalizer.static_min, normalizer.static_max
        span = {name: (lo[k], hi[k]) for k, name in enumerate(STATIC_PARAMS)}
        return cls(False, span["age_years"], span["intensity_db"], span["stimulus_rate_hz"], hi[j], "largest")

    def fmp_above(self, fmp: np.ndarray) -> np.ndarray:
        """(N,) bool: a given FMP above the training cohort's (every one, where it had none: `fmp_max` NaN)."""
        with np.errstate(invalid="ignore"):
            return np.isfinite(fmp) & ~(fmp <= self.fmp_max)

    @property
    def fmp_seen(self) -> str:
        """How a warning names the bound: ``largest: 65``, ``mean + 5 SD of log FMP: 120`` or ``which had none``."""
        return f"{self.fmp_bound}: {self.fmp_max:.3g}" if np.isfinite(self.fmp_max) else "which had none"

    @classmethod
    def simulator(cls, fmp_max: float = np.inf, fmp_bound: str = "") -> TrainingRanges:
        """The default simulator's configured rates and ages; FMP as given (unbounded: no model to say it)."""
        cfg = SimulationConfig()
        return cls(
            True, (0.0, cfg.adult_age_range[1]), None, (min(cfg.rates_hz), max(cfg.rates_hz)), fmp_max, fmp_bound
        )


DEFAULT_RANGES = TrainingRanges.simulator()  # where no checkpoint is at hand (a reader called on its own)


def training_range_warnings(cohort: ABRCohort, source: str, ranges: TrainingRanges = DEFAULT_RANGES) -> list[str]:
    """One line each where human records lie outside the ranges the model learnt from (rate, age, level, FMP).

    Why: `generate` warned for a 200/s rate or a 90-year-old, while `predict` read the same values without a word
    (a 200/s series went from "response, 40 dB" to "uncertain, above 85 dB"), and the adults' line said "3 % of the
    cohort", not that nobody in it was over 40 (hunt 48). Not a domain reason: how far a reading moves with them is
    not known, and an out-of-domain row is excluded by --strict."""
    n = cohort.n_records
    human = metadata_of(cohort.extras, n)[SPECIES].astype(str) == SIMULATED[SPECIES]
    out = []
    rate = cohort.static_column("stimulus_rate_hz")
    if ranges.stimulus_rate_hz is not None and (bad := human & outside(rate, ranges.stimulus_rate_hz)).any():
        lo, hi = ranges.stimulus_rate_hz
        out.append(
            f"{source}: {int(bad.sum())} of {n} records at {span_text(rate[bad])} /s, outside the training cohort's "
            f"stimulus rates ({span_text([lo, hi])} /s): latencies and thresholds shift with rate in ways the model "
            "never saw"
        )
    if ranges.age_years is not None:
        age, (youngest, oldest) = cohort.static_column("age_years"), ranges.age_years
        for bad, word, edge in ((age > oldest, "older", oldest), (age < youngest, "younger", youngest)):
            if (bad := human & bad).any():
                out.append(
                    f"{source}: {int(bad.sum())} of {n} records of patients aged {span_text(age[bad])} years, {word} "
                    f"than anyone in the training cohort ({edge:g} years): the readings of such ears are extrapolations"
                )
    level = cohort.static_column("intensity_db")
    if ranges.intensity_db is not None and (bad := human & outside(level, ranges.intensity_db)).any():
        out.append(
            f"{source}: {int(bad.sum())} of {n} records at {span_text(level[bad])} dB, outside the training cohort's "
            f"levels ({span_text(ranges.intensity_db)} dB): the readings at such levels are extrapolations"
        )
    fmp = cohort.static_column("fmp")
    if (bad := ranges.fmp_above(fmp)).any():
        out.append(
            f"{source}: {int(bad.sum())} of {n} records with FMP {span_text(fmp[bad])}, above the training cohort's "
            f"({ranges.fmp_seen}): the model reads them by extrapolation"
        )
    return out


def outside(values: np.ndarray, bounds: tuple[float, float]) -> np.ndarray:
    """(N,) bool: below the low or above the high bound (the edges are inside)."""
    return (values < bounds[0]) | (values > bounds[1])


def span_text(values: np.ndarray | list[float] | tuple[float, float]) -> str:
    """``50`` or ``3–200``: the values' range, as a warning names it."""
    lo, hi = float(np.min(values)), float(np.max(values))
    return f"{lo:g}" if lo == hi else f"{lo:g}–{hi:g}"
