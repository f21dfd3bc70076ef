"""Physiologically grounded simulated ABR cohorts (the project's default data).

Patients → ears → clinical intensity series → averaged recordings with noise, Fmp and expert-style labels.
See /work/shared/reference/abr_physiology.md for the numbers and their sources.
"""

from __future__ import annotations

from abrnet.data.simulate.cohort import GENERATOR_NAME, GENERATOR_VERSION, simulate_cohort
from abrnet.data.simulate.config import DEFAULT_CLASS_FRACTIONS, SimulationConfig

__all__ = ["DEFAULT_CLASS_FRACTIONS", "GENERATOR_NAME", "GENERATOR_VERSION", "SimulationConfig", "simulate_cohort"]
