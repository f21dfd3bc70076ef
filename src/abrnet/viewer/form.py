"""The page's upload form as the server reads it: the reading options a file may need, and messages that name them.

`abrnet predict` takes reader options for what a file does not record (``--rate``, ``--level``, ``--ear``,
``--fmp``); the viewer's form has a field for each (``stimulus_rate_hz``, ``level_db``, ``ear``, ``fmp``, beside
``age_years``). Without them a psi average export (no repetition rate) or a file naming no level could not be
analysed at all. `form_options` checks the values with the readers' own check (`check_reading_options`, naming the
form's field in a one-line 422) and spells them one way (numbers as floats, the ear as L or R), because they are part
of what identifies a reading: the cache key, the stored upload and the rule that a file keeps the settings its
corrections were made with (`abrnet.viewer.store`).

The importers' and predict's messages tell a CLI or Python user what to pass (``pass stimulus_rate_hz=... (...; CLI
--rate)``, ``(pass fmp=...)`` from the API the viewer calls, ``(pass --fmp)`` from the CLI); the viewer's user has
neither, so `viewer_text` points those hints at the form's fields instead. A file lacking several values at once
(`MissingOptionsError`) is answered from the names the error carries (`missing_text`), not from its wording: one line
naming every field to fill in (the hint's text parser knew only the one-value sentence, and passed the several-value
one through as "pass age_years=..., level_db=... (CLI --age, --level)").
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fastapi import HTTPException

from abrnet.data.ears import EAR_SPELLINGS
from abrnet.data.importers import detect_format
from abrnet.data.importers.needed import MissingOptionsError
from abrnet.data.importers.options import check_reading_options
from abrnet.data.schema import DataError
from abrnet.inference.domain import domain_hint
from abrnet.inference.option_names import CLI_DOMAIN_NAMES, PASS_HINT, hint_keywords
from abrnet.inference.polarity import INVERT_HINT, UNINVERT_HINT
from abrnet.viewer.reading_text import options_text

# `ABRModel.predict` keyword → the form field's label, as the page shows it and messages name it
FORM_FIELDS: dict[str, str] = {
    "age_years": "Age", "stimulus_rate_hz": "Rate (/s)", "level_db": "Level (dB)", "ear": "Ear", "fmp": "FMP",
}  # fmt: skip
# what a missing value asks the user to enter
FORM_ASKS: dict[str, str] = {
    "age_years": "the subject's age (years)", "stimulus_rate_hz": "the stimulus rate (per second)",
    "level_db": "the stimulus level (dB)", "ear": "the ear (L or R)", "fmp": "the FMP",
}  # fmt: skip
FLAG_KEYWORDS: dict[str, str] = {"age": "age_years", "rate": "stimulus_rate_hz", "level": "level_db", "ear": "ear",
                                 "fmp": "fmp"}  # fmt: skip
# predict's warnings: "FMP is treated as missing (pass fmp=...)", as the API says it, or "(pass --fmp)" (the CLI's)
FLAG_HINT = re.compile(r"\(pass (?:--(\w+)|(\w+)=\.\.\.)\)")
IGNORED = re.compile(r": ([\w,]+) ignored, the file records its own values")  # `attrs["ignored_options"]`
# the wide CSV reader's header complaint: "field 'age_years', row 0: required column missing (...; --age/... fill only
# device exports)"; in the viewer it is about the header, and the form's fields are named
HEADER_ROW = re.compile(r"(field '[^']+'), row 0: (?=required column missing|unknown column|column appears twice)")
CLI_FILLS = "--age/--rate/--ear fill only device exports"
FORM_FILLS = "the form's Age fills a missing age_years column; its Rate (/s) and Ear fill only device exports"
# the out-of-domain hint as the Python API the viewer calls spells it, and as CLI predict spells it
DOMAIN_HINTS = (domain_hint(), domain_hint(CLI_DOMAIN_NAMES))
DOMAIN_WORDS = "(check the file's species, stimulus and level unit: the viewer reads them as the file states them)"
INVERT_WORDS = "tick the form's Invert box and analyse again"
UNINVERT_WORDS = "untick the form's Invert box and analyse again"
# the sparse-levels warning names predict's series table; the viewer's export holds the column with its ear_ prefix
BRACKET_HINT, BRACKET_WORDS = "(series table: threshold_bracket_lo_db)", "(export CSV: ear_threshold_bracket_lo_db)"
UNKNOWN_START = re.compile(r"unknown recording format \(first line starts (.*)\)$")


def form_options(
    *, stimulus_rate_hz: float | None, level_db: float | None, ear: str | None, fmp: float | None, invert: bool = False
) -> dict[str, float | str | bool]:
    """The reading options the form gave (left out: not given), checked and spelled one way → predict's keywords.
    ``invert`` (the Invert box, predict's ``--invert``) is kept only when ticked, so a file read as recorded keeps the
    options it always had.

    Raises HTTPException 422 with one line naming the form's field for a value no reader takes. FMP NaN ("not
    measured", which the readers accept) is refused here: JSON cannot carry it back to the page, and an empty field
    already means "the file's own FMP or none"."""
    given: dict[str, Any] = {"stimulus_rate_hz": stimulus_rate_hz, "level_db": level_db, "fmp": fmp,
                             "ear": None if ear is None or not ear.strip() else ear}  # fmt: skip
    given = {k: v for k, v in given.items() if v is not None}
    if "fmp" in given and math.isnan(given["fmp"]):
        raise HTTPException(422, "form: field 'FMP': must be a finite number (leave it empty where none was measured)")
    try:
        check_reading_options(given, source="form", labels=FORM_FIELDS)
    except (DataError, TypeError) as exc:
        raise HTTPException(422, str(exc).splitlines()[0]) from None
    options: dict[str, float | str | bool] = {
        k: EAR_SPELLINGS[v.strip().upper()] if k == "ear" else float(v) for k, v in sorted(given.items())
    }
    return options | ({"invert": True} if invert else {})


def shown_options(options: Mapping[str, Any] | None) -> dict[str, float | str]:
    """Reading options as a client sent them back (JSON numbers may come as ints) in `form_options`' spelling, so
    that the page's copy compares equal to the stored one; a value no reader takes is kept as sent (it then
    differs from the stored options and is refused as another reading)."""
    out: dict[str, float | str] = {}
    for key, value in sorted((options or {}).items()):
        if key == "ear" and isinstance(value, str):
            out[key] = EAR_SPELLINGS.get(value.strip().upper(), value)
        else:
            out[key] = float(value) if isinstance(value, int | float) and not isinstance(value, bool) else value
    return out


def check_shown_options(sent: bool, shown: Mapping[str, Any] | None, now: Mapping[str, Any]) -> None:
    """Refuse a correction made on a reading with other options than the file is registered with `now`: 422 when the
    body says none (`sent` False) for a file read with options, 409 when the page showed others (the file was
    analysed again since: its correction would be stored against numbers its author never saw)."""
    if not sent:
        if now:
            raise HTTPException(422, f"a correction of a file read with {options_text(now)} must carry "
                                     "reading_options, the file's options as the page showed them: reload the page "
                                     "and correct again")  # fmt: skip
        return
    if shown_options(shown) != dict(now):
        was = options_text(shown_options(shown)) or "no reading options"
        raise HTTPException(409, f"not saved: the file is now read with {options_text(now) or 'no reading options'}, "
                                 f"your page showed {was} (the file was analysed again since): reload the file, "
                                 "check the new reading and correct it again")  # fmt: skip


def viewer_text(text: str) -> str:
    """An importer's or predict's message with its hints for the CLI and the Python API pointed at the form's fields:
    "pass stimulus_rate_hz=... (the export has no repetition rate; CLI --rate)" becomes "enter the stimulus rate (per
    second) in the form's Rate (/s) field and analyse again (the export has no repetition rate)", "(pass fmp=...)"
    (or the CLI's "(pass --fmp)") becomes "(enter it in the form's FMP field)", and an ignored option names its
    field; a pointer to predict's series table names the export's column instead. Hints for options the form does
    not have are left as they are."""

    def pass_hint(m: re.Match[str]) -> str:
        keys = hint_keywords(m)  # several: a `MissingOptionsError`, said from its fields (`missing_text`)
        key = keys[0]
        if len(keys) > 1 or key not in FORM_FIELDS:
            return m.group(0)
        why = "; ".join(p for p in m.group(2).split("; ") if not p.startswith("CLI "))
        ask = f"enter {FORM_ASKS[key]} in the form's {FORM_FIELDS[key]} field and analyse again"
        return ask + (f" ({why})" if why else "")

    def flag_hint(m: re.Match[str]) -> str:
        key = FLAG_KEYWORDS.get(m.group(1)) if m.group(1) else m.group(2)
        key = key if key in FORM_FIELDS else None
        return m.group(0) if key is None else f"(enter it in the form's {FORM_FIELDS[key]} field)"

    def ignored(m: re.Match[str]) -> str:
        keys = m.group(1).split(",")
        if not set(keys) <= set(FORM_FIELDS):
            return m.group(0)
        fields = " and ".join(FORM_FIELDS[k] for k in keys)
        return f": the form's {fields} ignored, the file records its own values"

    def unknown_start(m: re.Match[str]) -> str:  # a binary file's first bytes as text are mojibake, no help
        start = m.group(1)
        odd = sum(not (ch.isascii() and ch.isprintable()) for ch in start) + start.count("\\x") + start.count("\\u")
        return "unknown recording format: not a text file" if odd > len(start) // 10 else m.group(0)

    text = IGNORED.sub(ignored, FLAG_HINT.sub(flag_hint, PASS_HINT.sub(pass_hint, text)))
    text = HEADER_ROW.sub(r"\1, header: ", text).replace(CLI_FILLS, FORM_FILLS)
    for hint in DOMAIN_HINTS:
        text = text.replace(hint, DOMAIN_WORDS)
    text = text.replace(INVERT_HINT, INVERT_WORDS).replace(UNINVERT_HINT, UNINVERT_WORDS)
    text = text.replace(BRACKET_HINT, BRACKET_WORDS)
    return UNKNOWN_START.sub(unknown_start, text)


def error_text(exc: DataError, source: str, filename: str) -> str:
    """A reader's refusal of the stored copy `source` as the viewer's one line: naming `filename` (the upload), with
    the form's fields for what is missing (`missing_text`, else `viewer_text`)."""
    if isinstance(exc, MissingOptionsError) and (text := missing_text(exc.fields)):
        return f"{filename}: {text}"
    return viewer_text(str(exc).splitlines()[0].replace(source, filename))


def missing_text(keys: tuple[str, ...]) -> str | None:
    """ "not recorded in this file: the subject's age (years) and the stimulus level (dB); enter them in the form's
    Age and Level (dB) fields and analyse again" for the missing `keys` (predict's keywords); None where the form
    has no field for one of them (the reader's own message then stands)."""
    if not keys or not set(keys) <= set(FORM_ASKS):
        return None
    said = lambda words: ", ".join(words[:-1]) + " and " + words[-1] if len(words) > 1 else words[0]
    fields = said([FORM_FIELDS[k] for k in keys]) + (" fields" if len(keys) > 1 else " field")
    return (f"not recorded in this file: {said([FORM_ASKS[k] for k in keys])}; enter "
            f"{'them' if len(keys) > 1 else 'it'} in the form's {fields} and analyse again")  # fmt: skip


def with_form_age(path: Path, age_years: float | None, folder: Path) -> Path | None:
    """A copy of a wide CSV that lacks the ``age_years`` column with the form's Age on every row (in `folder`), or
    None where that does not apply (no Age given, not a CSV, or the file has the column). Why: the form's label
    promises "Age (years, if the file has none)", and the reader refused such a file naming a CLI flag; the stored
    upload itself stays as uploaded (its hash keys the corrections). A CSV is what the reader takes for one (its
    content, as `abrnet predict` detects it), not a ``.csv`` name: a wide CSV uploaded as ``.txt`` was read as a CSV
    but refused for the age its form gave (hunt 50a #2)."""
    if age_years is None:
        return None
    try:
        if detect_format(path) != "csv":
            return None
        return _add_age_column(path, age_years, folder)
    except (csv.Error, OSError, DataError):  # not a CSV after all: the reader says what is wrong with it
        return None


def _add_age_column(path: Path, age_years: float, folder: Path) -> Path | None:
    with (
        path.open(newline="", encoding="utf-8-sig", errors="replace") as fh,
        (folder / path.name).open("w", newline="", encoding="utf-8") as out,
    ):
        rows = csv.reader(fh)
        header = [c.strip() for c in next(rows, [])]
        if "age_years" in header or not {"s0", "s1"} <= set(header):
            return None
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([*header, "age_years"])
        writer.writerows([*row, f"{age_years!r}"] if any(c.strip() for c in row) else row for row in rows)
    return folder / path.name
