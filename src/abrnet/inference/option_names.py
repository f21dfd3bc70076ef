"""How a message names a reading option it asks the user to pass: the way the caller's user sets it.

Why: the CLI is a thin layer over `ABRModel.predict`/`denoise`, so one set of warnings reaches both users, and the
Python path told its user "(pass --fmp)", "pass --sampling-rate": flags that do not exist for them. A message
builder takes ``names`` (keyword → what its user types): the CLI passes its options (``--fmp``, `cli.infer`), and
a keyword it leaves out is named as a Python user passes it (``fmp=...``, as the importers' messages name it). One
message per warning, not a copy per audience.

`CLI_DOMAIN_NAMES` is the CLI's spelling of the options an out-of-domain line names. It lives here, below the CLI,
because the viewer (which may import inference but not cli) must recognise that line to point its user at the file
instead, and a copy of the CLI's sentence kept in the viewer would stop matching once the CLI renamed a flag.

`VIA` is for a command that reads a file but takes no reading options itself (`abrnet evaluate --data`): its names
spell another command's options (`abrnet data import`'s ``--fmp``) and ``names[VIA]`` says how to get there, after
them in every hint (`pass_hint`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType

OptionNames = Mapping[str, str]  # a `read_recording` keyword (``fmp``) → the name its user types (``--fmp``)

# `abrnet predict`'s flags for what `abrnet.inference.domain.domain_hint` asks of a CLI user (``strict``: the switch
# that refuses out-of-domain records, which denoise lacks); read-only, as every user of it shares the one copy
CLI_DOMAIN_NAMES: OptionNames = MappingProxyType(
    {"species": "--species", "stimulus": "--stimulus", "level_unit": "--level-unit", "strict": "--strict"}
)


# The reserved `OptionNames` key whose value follows the options a hint names (`pass_hint`): ``to abrnet data import,
# then abrnet evaluate --data the .h5 it writes`` where the command that read the file takes none of them
VIA = "via"
# The reserved `OptionNames` key of the verb a hint starts with (`pass_hint`; "pass" unless given)
VERB = "verb"

# A Python user's names where the records came as an `ABRCohort` not read by `read_recording` (built by
# `from_signals`, loaded by `load_cohort`: `api._as_cohort`): predict takes no reading options with a cohort
# (`arguments.check_input`), so "(pass fmp=...)" sent its user to an option the same call refuses (hunt 50b #1); the
# values are the cohort's own, given where it is built or set in its columns and extras.
COHORT_NAMES: OptionNames = MappingProxyType(
    {
        VERB: "set",
        **{
            k: f"the cohort's {k}, e.g. ABRCohort.from_signals({k}=...)"
            for k in ("fmp", "ear", "age_years", "sampling_rate_hz", "t0_ms")
        },
        **{k: f'the cohort\'s extras["{k}"]' for k in ("species", "stimulus", "level_unit")},
    }
)


def option_name(key: str, names: OptionNames | None = None) -> str:
    """`key` as the caller's user sets it: ``names[key]`` where given (the CLI's ``--fmp``), else ``fmp=...``."""
    return names[key] if names is not None and key in names else f"{key}=..."


def option_list(keys: Iterable[str], names: OptionNames | None = None) -> str:
    """Several options as one hint, ``--sampling-rate/--t0-ms`` or ``sampling_rate_hz=.../t0_ms=...``."""
    return "/".join(option_name(k, names) for k in keys)


def pass_hint(keys: Iterable[str], names: OptionNames | None = None) -> str:
    """``pass --fmp`` (`option_list`), then ``names[VIA]`` where given: ``pass --fmp to abrnet data import, then
    abrnet evaluate --data the .h5 it writes``.

    Why: `abrnet evaluate` reads a file as `predict` does but has no --fmp; its user was told ``(pass fmp=...)``, the
    Python keyword, where the way in is to import the file with the option and evaluate the .h5. One line still."""
    said = option_list(keys, names)
    via = names.get(VIA) if names is not None else None
    verb = names.get(VERB, "pass") if names is not None else "pass"
    return f"{verb} {said} {via}" if via else f"{verb} {said}"


# An importer's hint for values the file lacks, as the data layer writes it (it may not know the CLI's names, so it
# gives both): "pass stimulus_rate_hz=... (the export has no repetition rate; CLI --rate)", or for several "pass
# age_years=..., stimulus_rate_hz=... (CLI --age, --rate)". The CLI (`cli_hint_text`) and the viewer
# (`abrnet.viewer.form.viewer_text`) each say it to their own user.
PASS_HINT = re.compile(r"pass (\w+=\.\.\.(?:, \w+=\.\.\.)*) \(([^)]*)\)")


def hint_keywords(m: re.Match[str]) -> list[str]:
    """The keywords a `PASS_HINT` match names (``["age_years", "stimulus_rate_hz"]``)."""
    return [k.removesuffix("=...") for k in m.group(1).split(", ")]


def cli_hint_text(text: str) -> str:
    """`text` with each `PASS_HINT` that names its CLI flags said as a CLI user types them: "pass --rate (the export
    has no repetition rate)", "pass --age, --rate", where the CLI said "pass stimulus_rate_hz=... (...; CLI --rate)",
    the Python keyword first (stop 43)."""

    def said(m: re.Match[str]) -> str:
        parts = m.group(2).split("; ")
        flags = [p.removeprefix("CLI ") for p in parts if p.startswith("CLI --")]
        why = "; ".join(p for p in parts if not p.startswith("CLI --"))
        return m.group(0) if not flags else f"pass {flags[0]}" + (f" ({why})" if why else "")

    return PASS_HINT.sub(said, text)
