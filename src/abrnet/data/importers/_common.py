"""Shared pieces of the device importers: text splitting, unit handling and one honest cohort builder.

Policy for what a device export does not record (the same for every format, so users learn it once):

* ``age_years``: never in these files and it changes ABR latencies, so it must be passed (``age_years=``);
  without it the importer raises a DataError instead of guessing.
* ``stimulus_rate_hz``: read from the file when present, per record where the format states one per recording (a
  SmartEP rate series holds 11.1/s and 51.1/s recordings in one file); otherwise it must be passed, like the age.
  A passed rate overrides the file for every record (a user may correct a wrong header), but never silently: where
  the file states another value, `note_override` records it in ``attrs["overridden_options"]`` and every reading
  path warns (`option_warnings`); likewise ``ear``. abrnet's wide CSV keeps its cells; --ear/--fmp fill empty ones.
* ``ear``: read from the file when present (per record: one file may hold both ears; L/R or Left/Right, as
  `abrnet.data.ears` spells it); otherwise "R" with ``attrs["ear_unknown"] = 1`` (`abrnet.data.ears.assume_ears`;
  `abrnet.data.schema.ears_assumed` says which records; the wide CSV writes them as empty cells).
* ``patient_id``: the file's name without suffix (``attrs["patient_id_source"]``); files of equal names from
  different folders get their relative paths (`unique_patient_ids`), never one merged ear.
* a file with no records, or a sampling rate outside `PLAUSIBLE_FS_HZ`, is an error, not an empty or wrong dataset.
* ``fmp``: computed from the split buffers (`ABRCohort.buffers`, `abrnet.data.fmp.buffer_fmp`) when the file has them,
  the device's value or the one passed otherwise; without any, NaN ("not measured", never a placeholder).
  ``attrs["fmp_source"]`` is one of `abrnet.data.fmp.FMP_SOURCES`.
* recording metadata (level unit, stimulus and its frequency, polarity, species): what the file states, "unknown"
  otherwise (`abrnet.data.metadata`); arguments override the file.
* labels: class -1, latencies/amplitudes NaN, threshold NaN unless the file states one, no_response False.
"""

from __future__ import annotations

import itertools
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from abrnet.constants import PHYSICAL_RANGES, STATIC_PARAMS, WAVES
from abrnet.data.ears import assume_ears, ear_of, recorded_ears, unassumable
from abrnet.data.fmp import FMP_FROM_BUFFERS, buffer_fmp
from abrnet.data.importers.needed import check_recorded
from abrnet.data.metadata import METADATA_FIELDS, metadata_columns
from abrnet.data.schema import ABRCohort, DataError, ears_assumed

_LINES = re.compile(r"\r\n|\r|\n")
UNIT_SCALE_TO_UV: dict[str, float] = {"nv": 1e-3, "uv": 1.0, "µv": 1.0, "mv": 1e3, "v": 1e6}
_UNIT_NAME = {"nv": "nV", "uv": "uV", "µv": "uV", "mv": "mV", "v": "V"}

# An averaged ABR/ECochG in µV peaks somewhere in 0.01-100; the same waveform in volts peaks in 1e-8-1e-4.
# Anything whose largest |value| is below this bound cannot be a µV recording (it would be below 1 nV rms).
VOLT_DETECT_MAX_ABS = 1e-3
UTF8_BOM = b"\xef\xbb\xbf"
# Sampling rates of evoked-potential recorders (MLR ~1-10 kHz, ABR/ECochG 10-200 kHz); outside: a misread time unit.
PLAUSIBLE_FS_HZ = (1e3, 1e6)
# (record index, sample index or None for the whole record) -> (column or field as the file names it, file line).
Locate = Callable[[int, int | None], tuple[str, int | None]]
# record-level field -> file line of its value: one for the whole file or one per record (None: not from the file).
Lines = Mapping[str, int | Sequence[int | None] | None]


def read_text(path: Path) -> str:
    """Whole file as text; device exports are Windows-1252/Latin-1 (the µ of 'µsec'), never fail on a byte.

    A leading UTF-8 byte-order mark (Excel/Notepad on Windows add one) is dropped before decoding: as Latin-1 it
    would become 'ï»¿' glued to the first field, and every reader would reject a file `detect_format` accepts.
    """
    try:
        return path.read_bytes().removeprefix(UTF8_BOM).decode("latin-1")
    except FileNotFoundError:
        raise DataError(str(path), "<file>", "file not found") from None
    except IsADirectoryError:
        raise DataError(str(path), "<file>", "is a directory, not a recording") from None


def split_lines(text: str) -> list[str]:
    """Lines split on CRLF, CR or LF (the CFTS exports mix old-Mac CR headers with CRLF data)."""
    return _LINES.split(text)


def parse_float(src: str, field: str, text: str, row: int | None = None) -> float:
    """``text`` as a float, or a `DataError` naming the file, field and row: a bad cell is a line the user must fix,
    not a bare ``ValueError``."""
    try:
        return float(text.strip())
    except ValueError:
        raise DataError(src, field, f"{text.strip()!r} is not a number", row) from None


def unit_key(units: str) -> str:
    """``units`` as `UNIT_SCALE_TO_UV` spells it ("auto" stays): case, spaces and the Greek mu do not matter."""
    return units.strip().lower().replace("μ", "µ")


def to_microvolts(src: str, data: np.ndarray, units: str) -> tuple[np.ndarray, str]:
    """Scale ``data`` to µV. ``units="auto"`` calls it volts when every |value| < 1e-3 (see VOLT_DETECT_MAX_ABS)."""
    key = unit_key(units)
    if key == "auto":
        peak = float(np.nanmax(np.abs(data))) if data.size else 0.0
        key = "v" if 0.0 < peak < VOLT_DETECT_MAX_ABS else "uv"
    if key not in UNIT_SCALE_TO_UV:
        raise DataError(src, "units", f"unknown unit {units!r}; use auto, V, mV, uV or nV (CLI --units)")
    return data * UNIT_SCALE_TO_UV[key], _UNIT_NAME[key]


def require(src: str, name: str, value: float | None, hint: str, row: object = None) -> float:
    """``value`` as a finite float; ``row``: the file line it was read from (an int), for the error to name."""
    if value is None:
        raise DataError(src, name, f"not recorded in this file; pass {name}=... ({hint})")
    value = float(value)
    if not math.isfinite(value):
        raise DataError(src, name, f"must be finite, got {value}", row if isinstance(row, int) else None)
    return value


def note_override(attrs: dict[str, str | float | int], name: str, stated: object, given: object) -> None:
    """Record in ``attrs["overridden_options"]`` (``stimulus_rate_hz 40 → 21.1, ear R → L``) that the option ``given``
    replaces the value(s) the file ``stated`` (one, or one per record; numbers or their text as the file spells them)
    where they differ; an equal option, or a file that states nothing (None), adds nothing.

    Why: an option overrides a device export (a wrong header can be corrected), but a folder of 40/s exports stored
    at 21.1/s because a README command passed ``--rate`` must be seen, so the readers keep what the file said."""
    if given is None or stated is None:
        return
    values = [stated] if isinstance(stated, (str, int, float)) else list(stated)  # type: ignore[call-overload]
    values = [v for v in values if v is not None and str(v).strip()]
    if name == "ear":
        key = lambda v: ear_of(str(v)) or str(v).strip()
    else:
        key = lambda v: _as_number(v)
    if not values or all(key(v) == key(given) for v in values):
        return
    said = ";".join(dict.fromkeys(str(key(v)) if name == "ear" else _spelled(v) for v in values))
    note = f"{name} {said} → {key(given) if name == 'ear' else _spelled(given)}"
    attrs["overridden_options"] = ", ".join(filter(None, [str(attrs.get("overridden_options", "")), note]))


def _as_number(value: object) -> float | str:
    """A file's number for comparing with an option (rounded: 40 and 40.0 are one rate); text that is no number
    stays text, so it differs from any option."""
    try:
        return round(float(str(value).strip()), 9)
    except ValueError:
        return str(value).strip()


def _spelled(value: object) -> str:
    number = _as_number(value)
    return f"{number:g}" if isinstance(number, float) else number


def option_warnings(attrs: Mapping[str, object], src: str) -> list[str]:
    """What a reader did with options against the file's own values, one line each: options abrnet's CSV/.h5 ignored
    (their columns win) and options that replaced a device export's values (`note_override`). One text for every
    command that reads files (predict's `read_for_model`, `data import`)."""
    ignored, said = attrs.get("ignored_options"), attrs.get("overridden_options")
    return [
        *([f"{src}: {ignored} ignored, the file records its own values"] if ignored else []),
        *([f"{src}: options override the file's values: {said} (file → option; the option is used)"] if said else []),
    ]


def build_cohort(
    src: Path,
    signals_uv: np.ndarray,
    levels_db: np.ndarray | None,
    *,
    sampling_rate_hz: float,
    t0_ms: float,
    age_years: float | None,
    stimulus_rate_hz: float | Sequence[float] | np.ndarray | None,
    ear: str | Sequence[str] | None,
    fmp: np.ndarray | float | None,
    threshold_db: float = math.nan,
    extras: dict[str, np.ndarray] | None = None,
    attrs: dict[str, str | float | int] | None = None,
    buffers: np.ndarray | None = None,
    fmp_window: tuple[int, int] | None = None,
    device_fmp: bool = False,
    metadata: dict[str, object] | None = None,
    locate: Locate | None = None,
    lines: Lines | None = None,
    empty_reason: str = "",
) -> ABRCohort:
    """Assemble and validate a cohort from one file's records, applying the policy in the module docstring.

    ``ear`` is one ear for the file or one per record (a file may hold both ears; an empty one, a record that names
    none, is assumed with a per-record mark, the others kept as recorded); so is ``stimulus_rate_hz`` (a rate
    series is one clinical test, one file), while the sampling rate and ``t0_ms`` stay one per file (the model grid
    resamples a file as one block). ``buffers`` (N, 2, T) µV are the
    split sub-averages; Fmp comes from them over ``fmp_window`` (sample indices) unless ``fmp`` is given.
    ``device_fmp`` says a given ``fmp`` was read from the file. ``metadata`` holds the `abrnet.data.metadata` fields
    the file states (``level_unit=``, ``stimulus=``, ...). ``locate`` maps (record, sample) to where the user finds
    it in the file, so a bad value is reported there and not by its record index. ``lines`` gives the file line of
    each record-level value the file states (``intensity_db``, ``stimulus_rate_hz``, ``threshold_db``: one line for
    the file or one per record, None where an argument supplied it): a header value out of range is reported at the
    line the user must edit, as a bad sample is. ``empty_reason`` says why a file has no records (a 0-record
    dataset is refused: it would "succeed" with nothing to analyse).
    """
    name = str(src)
    n = signals_uv.shape[0]
    if n == 0:
        raise DataError(name, "<records>", f"no records{': ' + empty_reason if empty_reason else ' in this file'}")
    check_sampling_rate(name, sampling_rate_hz)
    attrs = dict(attrs or {})
    attrs.setdefault("source_file", src.name)
    attrs["patient_id_source"] = "file name"  # ids from the name: `concat_cohorts` disambiguates equal names
    no_levels = DataError(name, "level_db", "the file names no stimulus level; pass level_db=... (CLI --level)")
    check_recorded(
        name, age_years=age_years, stimulus_rate_hz=stimulus_rate_hz, levels=no_levels if levels_db is None else None
    )
    age = require(name, "age_years", age_years, "the export has no subject age; CLI --age")
    rate = _rates(name, n, stimulus_rate_hz, (lines or {}).get("stimulus_rate_hz"))
    extras = dict(extras or {})
    ears, ear_attrs, ear_extras = _ears(name, n, [""] * n if ear is None else ear)  # None: the file names no ear
    attrs |= ear_attrs
    extras |= ear_extras
    if fmp is not None:
        fmp_arr = np.broadcast_to(np.asarray(fmp, np.float32), (n,)).copy()
        attrs["fmp_source"] = "device" if device_fmp else "given"
    elif buffers is not None:
        fmp_arr = buffer_fmp(buffers, window=fmp_window)  # identical buffers: no noise estimate, so no FMP (NaN)
        attrs["fmp_source"] = FMP_FROM_BUFFERS
    else:
        fmp_arr = np.full(n, np.nan, np.float32)
        attrs["fmp_source"] = "missing"
    if levels_db is None:
        raise no_levels
    meta = dict(metadata or {})
    try:
        columns = metadata_columns(n, **{k: meta.get(k) for k in METADATA_FIELDS})  # type: ignore[arg-type]
    except ValueError as exc:
        raise DataError(name, str(exc).split(" ", 1)[0], str(exc)) from None
    for key in METADATA_FIELDS:
        extras.setdefault(key, columns[key])
    static = np.zeros((n, len(STATIC_PARAMS)), np.float32)
    static[:, STATIC_PARAMS.index("age_years")] = age
    static[:, STATIC_PARAMS.index("intensity_db")] = levels_db
    static[:, STATIC_PARAMS.index("stimulus_rate_hz")] = rate
    static[:, STATIC_PARAMS.index("fmp")] = fmp_arr
    cohort = ABRCohort(
        signals=np.ascontiguousarray(signals_uv, dtype=np.float32),
        static=static,
        patient_id=np.full(n, src.stem, dtype=object).astype(str),
        ear=ears,
        latency_ms=np.full((n, len(WAVES)), np.nan, np.float32),
        amplitude_uv=np.full((n, len(WAVES)), np.nan, np.float32),
        class_id=np.full(n, -1, np.int64),
        threshold_db=np.full(n, threshold_db, np.float32),
        no_response=np.zeros(n, bool),
        sampling_rate_hz=float(sampling_rate_hz),
        t0_ms=float(t0_ms),
        buffers=None if buffers is None else np.ascontiguousarray(buffers, dtype=np.float32),
        extras=extras,
        attrs=attrs,
    )
    try:
        return cohort.validate(source=name)
    except DataError as exc:
        if exc.row is None or locate is None:
            raise
        raise _relocate(exc, cohort, locate, lines or {}) from None


def _ears(src: str, n: int, ear: str | Sequence[str]) -> tuple[np.ndarray, dict[str, int], dict[str, np.ndarray]]:
    """`assume_ears` of ``n`` ears from one for the file or one per record, each spelled as `abrnet.data.ears.ear_of`
    reads it: an empty one (a record that names none) is assumed, with a per-record mark where others are named
    (one SmartEP group without an ear once discarded every group's); any other spelling is refused."""
    spelled = [e.strip().upper() for e in ([ear] * n if isinstance(ear, str) else ear)]
    ears = np.array([ear_of(e) or e for e in spelled]).astype(str)
    if ears.shape != (n,):
        raise DataError(src, "ear", f"{ears.size} ears for {n} records")
    if (bad_ear := ~np.isin(ears, ["L", "R", ""])).any():
        raise DataError(src, "ear", f"must be L or R, got {str(ears[bad_ear][0])!r}")
    return assume_ears(ears.tolist())


def _rates(src: str, n: int, value: float | Sequence[float] | np.ndarray | None, at: object) -> np.ndarray:
    """``n`` finite stimulus rates from one for the file or one per record; a non-finite one is reported at the line
    that states it (``at``: one line or one per record), naming its record. Out-of-range rates are left to
    `ABRCohort.validate`, whose errors `_relocate` moves to the same lines."""
    if value is None or np.ndim(value) == 0:
        hint = "the export has no repetition rate; CLI --rate"
        return np.full(n, require(src, "stimulus_rate_hz", value, hint, at))  # type: ignore[arg-type]
    rates = np.asarray(value, np.float64)
    if rates.shape != (n,):
        raise DataError(src, "stimulus_rate_hz", f"{rates.size} rates for {n} records")
    for k in np.flatnonzero(~np.isfinite(rates)):
        line = at[k] if isinstance(at, Sequence) else at
        msg = f"must be finite, got {rates[k]} (record {k + 1})"
        raise DataError(src, "stimulus_rate_hz", msg, line if isinstance(line, int) else None)
    return rates


def check_sampling_rate(src: str, fs: float) -> None:
    """Refuse a rate no evoked-potential recorder uses: it means a misread time unit, and would be silent."""
    lo, hi = PLAUSIBLE_FS_HZ
    if not (math.isfinite(fs) and lo <= fs <= hi):
        raise DataError(src, "sampling_rate_hz", f"{fs:g} Hz is implausible (expected {lo:g}-{hi:g} Hz)")


def _relocate(exc: DataError, cohort: ABRCohort, locate: Locate, lines: Lines) -> DataError:
    """Re-issue a validation error at the file position of its record (``exc.row`` is a 0-based record index): a
    sample at its own line, a record-level value at the line that states it (``lines``, see `build_cohort`)."""
    record = int(exc.row)  # type: ignore[arg-type]
    message = str(exc).removeprefix(f"{exc.source}: field '{exc.field}', row {exc.row}: ")
    if exc.field == "signals":
        x = cohort.signals[record]
        lo, hi = PHYSICAL_RANGES["signal_uv"]
        with np.errstate(invalid="ignore"):
            sample = int(np.flatnonzero(~np.isfinite(x) | (x < lo) | (x > hi))[0])
        field, line = locate(record, sample)
        return DataError(exc.source, field, f"{message} (sample {sample + 1})", line)
    field, line = locate(record, None)
    at = lines.get(exc.field)
    at = at[record] if isinstance(at, Sequence) else at
    return DataError(exc.source, exc.field, f"{message} (record {record + 1}: {field})", line if at is None else at)


def _where(part: ABRCohort) -> str:
    return str(part.attrs.get("source_path", part.attrs.get("source_file", "<memory>")))


def _owners(ids: list[np.ndarray]) -> dict[str, list[int]]:
    owners: dict[str, list[int]] = {}
    for k, part_ids in enumerate(ids):
        for pid in np.unique(part_ids):
            owners.setdefault(str(pid), []).append(k)
    return owners


def unique_patient_ids(parts: list[ABRCohort]) -> np.ndarray:
    """All parts' patient ids: one patient may span files only with one ear per file, never one ear made of two.

    Ids named after a file (``attrs["patient_id_source"]``, set by `build_cohort`) that several parts share - two
    animals' ``8 kHz waveform.txt`` in different folders - become the path relative to the files' common folder
    (``mouse1/8 kHz waveform``). An id still shared is one patient whose ears devices export one file each (a left-
    and a right-ear file: the interaural comparison needs both under one id), so it is kept when the files hold
    different ears; the same ear in two files (the same file twice, or two ears both assumed R) is refused with an
    error naming both files. (`ABRCohort.concat`, for training cohorts, refuses any
    shared id: a split must not part a patient.)
    """
    ids = [p.patient_id.astype(str) for p in parts]
    shared = [pid for pid, ks in _owners(ids).items() if len(ks) > 1]
    paths = [Path(_where(p)).absolute() for p in parts]
    if shared and len(set(paths)) == len(paths):
        root = Path(os.path.commonpath(paths))
        for k, part in enumerate(parts):
            named = part.attrs.get("patient_id_source") == "file name" and np.unique(ids[k]).size == 1
            if named and paths[k] != root:
                label = (paths[k].relative_to(root).parent / paths[k].stem).as_posix()
                ids[k] = np.where(np.isin(ids[k], shared), label, ids[k])
    for pid, ks in _owners(ids).items():
        for a, b in itertools.combinations(ks, 2):
            _check_one_patient(pid, (parts[a], ids[a]), (parts[b], ids[b]))
    return np.concatenate(ids)


def _check_one_patient(pid: str, first: tuple[ABRCohort, np.ndarray], second: tuple[ABRCohort, np.ndarray]) -> None:
    """Refuse two files holding patient ``pid`` unless they hold different recorded ears.

    An ear a reader assumed ("R": the file names none) is not a different ear: beside the patient's labelled file it
    may be that ear's second run, and <out>.patients.csv compared a left ear with its own replicate as "right" (the rule
    a single wide CSV applies, `abrnet.data.ears.unassumable`, with the other file's recorded ears)."""
    both = f"{_where(first[0])}, {_where(second[0])}"
    for (part, own), (other, other_own) in ((first, second), (second, first)):
        mine, theirs = own == pid, other_own == pid
        recorded = recorded_ears(other_own[theirs], other.ear[theirs], ears_assumed(other)[theirs])
        if unassumable(own[mine], ears_assumed(part)[mine], recorded).size:
            raise DataError(
                both,
                "ear",
                f"{_where(part)} names no ear for patient {pid!r}, whose ear the other file records; give its ear",
            )
    ears_a, ears_b = (set(part.ear[own == pid].astype(str)) for part, own in (first, second))
    if common := sorted(ears_a & ears_b):
        raise DataError(both, "patient_id", f"both files hold ear {common[0]} of patient {pid!r}; rename one")


def merge_attrs(parts: list[ABRCohort]) -> tuple[dict[str, str | float | int], dict[str, np.ndarray]]:
    """Provenance of several files: attrs equal in every part stay attrs, the others are kept per record as
    ``attr_<name>`` extras ("" or NaN where a part lacks one), so no file's ``ear_unknown``/``fmp_source`` is lost.
    A part that already holds its own ``attr_<name>`` column (a CSV mixing empty and L/R ears) keeps it: the file-wide
    attr would mark its recorded ears as assumed."""
    same: dict[str, str | float | int] = {}
    per_record: dict[str, np.ndarray] = {}
    for key in dict.fromkeys(k for p in parts for k in p.attrs if k != "sources"):
        values = [p.attrs.get(key) for p in parts]
        own = [p.extras.get(f"attr_{key}") for p in parts]
        if values[0] is not None and all(v == values[0] for v in values) and all(o is None for o in own):
            same[key] = values[0]  # type: ignore[assignment]
            continue
        numeric = all(v is None or isinstance(v, (int, float)) for v in values)
        blank = np.nan if numeric else ""
        column = [
            np.full(p.n_records, blank if v is None else v) if o is None else np.asarray(o)
            for p, v, o in zip(parts, values, own, strict=True)
        ]
        per_record[f"attr_{key}"] = np.concatenate(column).astype(np.float64 if numeric else str)
    return same, per_record
