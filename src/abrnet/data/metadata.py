"""Per-record recording metadata kept in `ABRCohort.extras`: names and allowed values, defined once.

Readers fill these (N,) columns from what a file states; describe shows them; the domain guard
(`abrnet.inference.domain`) compares them with what the model was trained on. A value a file does not state is
"unknown" (strings) or NaN (numbers), never a guess, so the guard can say "not known" instead of "in domain".

Simulated cohorts (the training data) are adult/infant human clicks in dB nHL: `SIMULATED` is their metadata.
"""

from __future__ import annotations

import math

import numpy as np

LEVEL_UNIT = "level_unit"
STIMULUS = "stimulus"
STIMULUS_FREQ_HZ = "stimulus_freq_hz"
POLARITY = "polarity"
SPECIES = "species"

METADATA_FIELDS: tuple[str, ...] = (LEVEL_UNIT, STIMULUS, STIMULUS_FREQ_HZ, POLARITY, SPECIES)

UNKNOWN = "unknown"
# Level units as readers name them: one spelling each, so a unit a reader states is one `ALLOWED` accepts.
DB_NHL = "dB nHL"
DB_SPL = "dB SPL"
DB_PESPL = "dB peSPL"
DB_ATTENUATION = "dB attenuation"  # an attenuator setting: the higher, the softer (TDT, BioSigRP PostAtten)
# "dB re 1 g/ms" is the jerk level of vestibular (VsEP) stimuli; it is no sound level at all.
LEVEL_UNITS: tuple[str, ...] = (DB_NHL, DB_SPL, DB_PESPL, DB_ATTENUATION, "dB re 1 g/ms", UNKNOWN)
STIMULI: tuple[str, ...] = ("click", "tone_pip", "chirp", "noise", "jerk", UNKNOWN)
POLARITIES: tuple[str, ...] = ("alternating", "rarefaction", "condensation", UNKNOWN)
SPECIES_NAMES: tuple[str, ...] = ("human", "mouse", "rat", "guinea_pig", "gerbil", "chinchilla", "cat", UNKNOWN)

ALLOWED: dict[str, tuple[str, ...]] = {
    LEVEL_UNIT: LEVEL_UNITS,
    STIMULUS: STIMULI,
    POLARITY: POLARITIES,
    SPECIES: SPECIES_NAMES,
}

# What the model was trained on (the simulator's cohort).
SIMULATED: dict[str, str | float] = {
    LEVEL_UNIT: DB_NHL,
    STIMULUS: "click",
    STIMULUS_FREQ_HZ: math.nan,
    POLARITY: "alternating",
    SPECIES: "human",
}

_ALIASES: dict[str, dict[str, str]] = {
    LEVEL_UNIT: {
        "nhl": DB_NHL,
        "db nhl": DB_NHL,
        "spl": DB_SPL,
        "db spl": DB_SPL,
        "pespl": DB_PESPL,
        "db pespl": DB_PESPL,
        "atten": DB_ATTENUATION,
        "attenuation": DB_ATTENUATION,
        "db attenuation": DB_ATTENUATION,
        "db att": DB_ATTENUATION,
    },
    STIMULUS: {"clicks": "click", "tone": "tone_pip", "tone pip": "tone_pip", "tonepip": "tone_pip", "pip": "tone_pip"},
    POLARITY: {"alt": "alternating", "rare": "rarefaction", "rar": "rarefaction", "cond": "condensation"},
    SPECIES: {"guinea pig": "guinea_pig", "guineapig": "guinea_pig", "mice": "mouse", "rats": "rat"},
}


def normalise(field: str, value: str | None) -> str:
    """The canonical spelling of ``value`` for ``field`` (case/alias-insensitive); ValueError if not allowed."""
    if value is None or not str(value).strip():
        return UNKNOWN
    text = " ".join(str(value).strip().split())
    allowed = ALLOWED[field]
    for name in allowed:
        if text.lower() == name.lower():
            return name
    alias = _ALIASES.get(field, {}).get(text.lower())
    if alias is not None:
        return alias
    raise ValueError(f"{field} must be one of {', '.join(allowed)}; got {value!r}")


def metadata_columns(
    n: int,
    *,
    level_unit: str | None = None,
    stimulus: str | None = None,
    stimulus_freq_hz: float | np.ndarray | None = None,
    polarity: str | None = None,
    species: str | None = None,
) -> dict[str, np.ndarray]:
    """The five (N,) extras columns, unknown where not given (strings normalised, frequency NaN for a click)."""
    freq = np.full(n, np.nan) if stimulus_freq_hz is None else np.broadcast_to(stimulus_freq_hz, (n,))
    return {
        LEVEL_UNIT: np.full(n, normalise(LEVEL_UNIT, level_unit)).astype(str),
        STIMULUS: np.full(n, normalise(STIMULUS, stimulus)).astype(str),
        STIMULUS_FREQ_HZ: np.asarray(freq, np.float64).copy(),
        POLARITY: np.full(n, normalise(POLARITY, polarity)).astype(str),
        SPECIES: np.full(n, normalise(SPECIES, species)).astype(str),
    }


def metadata_of(cohort_extras: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    """A cohort's five metadata columns, "unknown"/NaN for those it lacks (never filled in with a guess)."""
    out = {}
    for key in METADATA_FIELDS:
        if key in cohort_extras:
            out[key] = np.asarray(cohort_extras[key])
        elif key == STIMULUS_FREQ_HZ:
            out[key] = np.full(n, np.nan)
        else:
            out[key] = np.full(n, UNKNOWN)
    return out
