"""How the viewer's messages name a reading's settings: the age and the form's reading options ("age 1.5 years with
rate 21 /s, ear L").

Kept apart from `abrnet.viewer.store` (which words its conflicts with them) because the form's checks and the PDF
report name the same settings the same way, and none of them needs the store itself.
"""

from __future__ import annotations

from collections.abc import Mapping

# the form's reading options as messages name them: keyword → (the form's field, unit after the value)
OPTION_LABELS: dict[str, tuple[str, str]] = {
    "stimulus_rate_hz": ("rate", " /s"), "level_db": ("level", " dB"), "ear": ("ear", ""), "fmp": ("FMP", ""),
    "invert": ("sign inverted", ""),
}  # fmt: skip


def age_text(age_years: float | None) -> str:
    """An upload's age for messages ("age 1.5 years"; none given means the file's own ages were used)."""
    return "no age (the file's own)" if age_years is None else f"age {age_years:g} years"


def options_text(options: Mapping[str, object]) -> str:
    """Reading options for messages ("rate 21 /s, ear L"; empty for none)."""
    given = []
    for key, value in sorted(options.items()):
        name, unit = OPTION_LABELS.get(key, (key, ""))
        if isinstance(value, bool):  # a switch: named when on ("sign inverted")
            given += [name] if value else []
        else:
            given.append(f"{name} {value:g}{unit}" if isinstance(value, float) else f"{name} {value}{unit}")
    return ", ".join(given)


def reading_text(age_years: float | None, options: Mapping[str, object]) -> str:
    """A reading's settings for messages: "age 1.5 years" and, where given, "with rate 21 /s, ear L"."""
    given = options_text(options)
    return age_text(age_years) + (f" with {given}" if given else "")
