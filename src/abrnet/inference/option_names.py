"""How a message names a reading option it asks the user to pass: the way the caller's user sets it.

Why: the CLI is a thin layer over `ABRModel.predict`/`denoise`, so one set of warnings reaches both users, and the
Python path told its user "(pass --fmp)", "pass --sampling-rate": flags that do not exist for them. A message
builder takes ``names`` (keyword → what its user types): the CLI passes its options (``--fmp``, `cli.infer`), and
a keyword it leaves out is named as a Python user passes it (``fmp=...``, as the importers' messages name it). One
message per warning, not a copy per audience.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

OptionNames = Mapping[str, str]  # a `read_recording` keyword (``fmp``) → the name its user types (``--fmp``)


def option_name(key: str, names: OptionNames | None = None) -> str:
    """`key` as the caller's user sets it: ``names[key]`` where given (the CLI's ``--fmp``), else ``fmp=...``."""
    return names[key] if names is not None and key in names else f"{key}=..."


def option_list(keys: Iterable[str], names: OptionNames | None = None) -> str:
    """Several options as one hint, ``--sampling-rate/--t0-ms`` or ``sampling_rate_hz=.../t0_ms=...``."""
    return "/".join(option_name(k, names) for k in keys)
