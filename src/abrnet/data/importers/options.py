"""The values `read_recording` accepts for what a file does not record (age, rate, level, FMP, ear, units, the
metadata vocabulary), checked in one place before any file is read.

Why one check: the Python API and the CLI each checked these values, with their own ranges and messages ("from 0.1
to 1000" against "in [0.1, 1000]"), and the API took any string for ``ear`` or ``species`` that the CLI refused.
Both now call `check_reading_options`; the CLI passes the option names its user typed (``--rate``), the API keeps the
keywords (``stimulus_rate_hz``). A wrong value is a `DataError` (a ValueError) naming the option; a wrong type (the
API's ``units=5``) a TypeError.

What an option does to a file that states the value per row (abrnet's wide CSV: ``fmp``, ``ear``) is here too,
`fill_empty_cells`: it fills the empty cells, as one rule for both.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np

from abrnet.constants import PHYSICAL_RANGES
from abrnet.data.ears import EAR_SPELLINGS
from abrnet.data.importers._common import UNIT_SCALE_TO_UV, unit_key
from abrnet.data.metadata import ALLOWED, normalise
from abrnet.data.schema import OPTIONAL_STATIC, DataError

OPTIONS_SOURCE = "reading options"  # what an error names as its source when no command is given
# Reading options that are numbers → the values accepted (`PHYSICAL_RANGES`; level_db is a record's intensity_db).
NUMBER_OPTIONS: dict[str, tuple[float, float]] = {
    "age_years": PHYSICAL_RANGES["age_years"],
    "stimulus_rate_hz": PHYSICAL_RANGES["stimulus_rate_hz"],
    "level_db": PHYSICAL_RANGES["intensity_db"],
    "fmp": PHYSICAL_RANGES["fmp"],
    "stimulus_freq_hz": (1.0, 1e5),
}
# Reading options given as text: ear and sample units, then the metadata fields (`abrnet.data.metadata.ALLOWED`).
TEXT_OPTIONS: tuple[str, ...] = ("ear", "units", "species", "stimulus", "level_unit", "polarity")
UNIT_NAMES = "auto, V, mV, uV, nV"


def _text(x: float) -> str:
    return f"{x:g}"


def check_number_option(name: str, value: object, *, source: str = OPTIONS_SOURCE, label: str | None = None) -> None:
    """One number option: finite and in `NUMBER_OPTIONS`' range (FMP may also be NaN: not measured, as an empty
    ``fmp`` cell). `label` is the name the error gives the option (default `name`)."""
    lo, hi = NUMBER_OPTIONS[name]
    nan = " or NaN (not measured)" if name in OPTIONAL_STATIC else ""
    accepted = f"a finite number from {_text(lo)} to {_text(hi)}{nan}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{label or name} must be {accepted}, got {value!r} ({type(value).__name__})")
    x = float(value)
    if math.isnan(x) and nan:
        return
    if not (math.isfinite(x) and lo <= x <= hi):
        raise DataError(source, label or name, f"must be {accepted}, got {_text(x)}")


def check_text_option(name: str, value: object, *, source: str = OPTIONS_SOURCE, label: str | None = None) -> None:
    """One text option: a str the readers understand (ear L/R or Left/Right; units auto/V/mV/uV/nV; the metadata
    vocabulary, aliases and case as `abrnet.data.metadata.normalise` takes them)."""
    if not isinstance(value, str):
        raise TypeError(f"{label or name} must be a str (or None: not given), got {value!r} ({type(value).__name__})")
    if name == "ear":
        ok, accepted = value.strip().upper() in EAR_SPELLINGS, "L or R (or Left/Right)"
    elif name == "units":
        ok, accepted = unit_key(value) in ("auto", *UNIT_SCALE_TO_UV), f"one of {UNIT_NAMES}"
    else:
        ok, accepted = True, f"one of {', '.join(ALLOWED[name])}"
        try:
            normalise(name, value)
        except ValueError:
            ok = False
    if not ok:
        raise DataError(source, label or name, f"must be {accepted}, got {value!r}")


def check_reading_options(
    read_kw: Mapping[str, Any], *, source: str = OPTIONS_SOURCE, labels: Mapping[str, str] | None = None
) -> None:
    """Every reading option in `read_kw` (a `read_recording` keyword → value; None = not given, other keywords are
    left to their own checks), whether or not a file turns out to need it. `labels` maps a keyword to the name the
    user gave it (the CLI's ``--rate``).

    Why before reading: a file that records its own rate ignores ``stimulus_rate_hz=nan`` with a warning while the
    next file of the same call uses it, and ``units=5`` failed deep in a reader as "'int' object has no attribute
    'strip'"."""
    labels = labels or {}
    for name, value in read_kw.items():
        if value is None:
            continue
        if name in NUMBER_OPTIONS:
            check_number_option(name, value, source=source, label=labels.get(name))
        elif name in TEXT_OPTIONS:
            check_text_option(name, value, source=source, label=labels.get(name))


def note_ignored(attrs: dict[str, str | float | int], *names: str) -> None:
    """Add ``names`` to ``attrs["ignored_options"]`` (comma-separated, sorted), keeping what a reader already put
    there: `read_recording` lists the options a format does not take after the reader listed those its file made
    moot, and replacing the list dropped the reader's ("fmp" lost beside "age_years"). `option_warnings` says it."""
    said = [name for name in str(attrs.get("ignored_options", "")).split(",") if name]
    if merged := sorted({*said, *names}):
        attrs["ignored_options"] = ",".join(merged)


def fill_empty_cells(
    attrs: dict[str, str | float | int], name: str, empty: np.ndarray, value: object | None
) -> np.ndarray:
    """The records whose cell option ``name`` (given as ``value``; None = not given) fills in abrnet's wide CSV: the
    ``empty`` ones. A file with a value in every cell fills none and lists the option as ignored (`note_ignored`).

    Why one rule for ``--fmp`` and ``--ear``: the wide CSV states both per row, and an empty cell is "not recorded".
    ``--fmp`` filled empty FMP cells while ``--ear`` was ignored for the same file's empty ear cells, though predict's
    "records name no ear" warning told the user to pass it, and repeated the advice (hunt 42 #5)."""
    if value is None:
        return np.zeros(empty.shape, bool)
    if not empty.any():
        note_ignored(attrs, name)
    return empty
