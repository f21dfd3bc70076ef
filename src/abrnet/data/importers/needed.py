"""What a device export may not record and the user must then give (age, stimulus rate, level), refused all at once.

Kept apart from `abrnet.data.importers._common` (the readers' shared builder) so the rule for several missing values
is one short module the readers that find a missing level early (EPL CFTS headers, time-column names) call too.
"""

from __future__ import annotations

from collections.abc import Sequence

from abrnet.data.schema import DataError

# What a file may not record and the user must then give: keyword → CLI option (`check_recorded`).
NEEDED_OPTIONS: dict[str, str] = {"age_years": "--age", "stimulus_rate_hz": "--rate", "level_db": "--level"}


class MissingOptionsError(DataError):
    """Several values a file does not record and no option gave, in one error: ``x.csv: fields 'age_years',
    'stimulus_rate_hz', 'level_db': not recorded in this file; pass ...``. ``field`` is the first (what callers that
    look at one field see: a folder run stops on it as on any missing option), ``fields`` all of them."""

    def __init__(self, source: str, fields: Sequence[str], row: int | None = None) -> None:
        super().__init__(source, fields[0], "", row)
        where = f"{source}: fields {', '.join(repr(f) for f in fields)}" + (f", row {row}" if row is not None else "")
        passed = ", ".join(f"{f}=..." for f in fields)
        options = ", ".join(NEEDED_OPTIONS.get(f, f) for f in fields)
        self.args = (f"{where}: not recorded in this file; pass {passed} (CLI {options})",)
        self.fields = tuple(fields)


def check_recorded(src: str, *, age_years: object, stimulus_rate_hz: object, levels: DataError | None = None) -> None:
    """Refuse in one error (`MissingOptionsError`) every value of `NEEDED_OPTIONS` the file lacks and no option gave,
    when there are several: ``age_years``/``stimulus_rate_hz`` None, and ``levels`` the reader's own error for
    missing levels (None: the file has them). One missing value is left to its own, more specific error (``levels``
    is raised as it is).

    Why: the readers stopped at the first (age, then rate, then level), so a time-column CSV that states none of
    them took three runs to learn what to pass (hunt 15 #12)."""
    missing = [
        name for name, value in (("age_years", age_years), ("stimulus_rate_hz", stimulus_rate_hz)) if value is None
    ]
    if levels is not None:
        missing.append("level_db")
    if len(missing) > 1:
        raise MissingOptionsError(src, missing, None if levels is None else levels.row)
    if levels is not None:
        raise levels
