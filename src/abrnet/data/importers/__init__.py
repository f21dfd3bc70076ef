"""Readers for real device exports, each returning an `ABRCohort` on the file's native grid (µV, own rate/t0).

`detect_format` names a file's format from its content (never its name); `read_recording` reads any supported
file. Convert to the model grid afterwards with `abrnet.data.resample.to_model_grid`. What the files do not record
(age, sometimes rate/ear/level, FMP) is handled as documented in `abrnet.data.importers._common`; recording
metadata (`abrnet.data.metadata`) is what the file states, "unknown" otherwise, and options override both.

abrnet's own formats (.h5, wide CSV) are the model's input format: without metadata columns their records are,
as documented, human clicks in dB nHL (`abrnet.data.metadata.SIMULATED`).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from abrnet.data.ears import ear_of
from abrnet.data.importers._common import UTF8_BOM, note_override
from abrnet.data.importers.biosig_csv import LEVEL_COLUMNS, read_biosig_csv
from abrnet.data.importers.epl_cfts import EPLAnalysis, read_epl_analysis, read_epl_cfts
from abrnet.data.importers.fast_abr import read_fast_abr
from abrnet.data.importers.options import check_reading_options, check_text_option, fill_empty_cells, note_ignored
from abrnet.data.importers.psi_abr import is_psi_folder, looks_like_psi_average, read_psi_abr
from abrnet.data.importers.smartep import read_smartep
from abrnet.data.importers.tdt_arf import looks_like_arf, read_tdt_arf
from abrnet.data.importers.time_columns import is_time_header, read_time_columns, split_cells, split_header
from abrnet.data.metadata import METADATA_FIELDS, SIMULATED, STIMULUS_FREQ_HZ, UNKNOWN, normalise
from abrnet.data.schema import ABRCohort, DataError, ears_assumed

FORMATS: tuple[str, ...] = (
    "auto", "h5", "csv", "epl_cfts", "fast_abr", "smartep", "time_columns", "biosig_csv", "tdt_arf", "psi_abr",
)  # fmt: skip
DESCRIPTIONS: dict[str, str] = {
    "h5": "abrnet dataset (HDF5)",
    "csv": "abrnet wide CSV",
    "epl_cfts": "EPL CFTS text export",
    "fast_abr": "EPL CFTS 3 Fast ABR TSV",
    "smartep": "IHS SmartEP export",
    "time_columns": "time-column text/CSV",
    "biosig_csv": "TDT BioSigRZ CSV export",
    "tdt_arf": "TDT BioSigRZ/RP .arf",
    "psi_abr": "psiexperiment/cftsdata ABR average waveforms",
}
# Options a reader may take (CLI: --age, --rate, --ear, --fmp, --units, --level, --sampling-rate, --t0-ms).
READER_OPTIONS: tuple[str, ...] = (
    "age_years", "stimulus_rate_hz", "ear", "fmp", "units", "level_db", "sampling_rate_hz", "t0_ms",
)  # fmt: skip

__all__ = [
    "DESCRIPTIONS",
    "FORMATS",
    "EPLAnalysis",
    "detect_format",
    "read_biosig_csv",
    "read_epl_analysis",
    "read_epl_cfts",
    "read_fast_abr",
    "read_psi_abr",
    "read_recording",
    "read_smartep",
    "read_tdt_arf",
    "read_time_columns",
]


def detect_format(path: str | Path) -> str:
    """Name of the format of ``path`` (one of FORMATS minus "auto"), from its first bytes only.

    A folder is a recording only when it is a psiexperiment ABR run or its cftsdata export (`is_psi_folder`).
    """
    path = Path(path)
    src = str(path)
    if path.is_dir() and is_psi_folder(path):
        return "psi_abr"
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(8192)
    except FileNotFoundError:
        raise DataError(src, "<file>", "no such file (file not found)") from None
    except IsADirectoryError:
        raise DataError(src, "<file>", "is a directory, not a recording") from None
    if head.startswith(b"\x89HDF"):
        return "h5"
    if looks_like_arf(head, size):
        return "tdt_arf"
    text = head.removeprefix(UTF8_BOM).decode("latin-1")
    lines = [ln.strip() for ln in text.replace("\r", "\n").split("\n") if ln.strip()]
    first = lines[0] if lines else ""
    if first.startswith(":RUN"):
        return "epl_cfts"
    if first == "[FAST ABR]":
        return "fast_abr"
    if first.startswith("Identifier:,"):
        return "smartep"
    if first.startswith("Threshold (dB SPL)"):
        raise DataError(src, "<format>", "this is an EPL peak-analysis file, not a recording (an expert's peak table)")
    if looks_like_psi_average(text):
        return "psi_abr"
    cells = split_cells(first, ",")  # unquoted: R's write.csv quotes every name ("patient_id","ear",...)
    if _has_samples(cells) and not set(cells).isdisjoint(_wide_csv_columns()):
        return "csv"  # by its sample columns: a missing patient_id is then reported as a missing column
    if any(c.lower() in LEVEL_COLUMNS for ln in lines[:3] for c in split_cells(ln, ",")):
        return "biosig_csv"
    time_cells = split_header(first, lines[1] if len(lines) > 1 else None)[1]  # as the reader splits it
    if time_cells and is_time_header(time_cells[0]):  # "time (ms)", "t [ms]", "ms"...
        return "time_columns"
    semicolon = [c.strip().strip('"') for c in first.split(";")]
    if _has_samples(semicolon) and not set(semicolon).isdisjoint(_wide_csv_columns()):
        msg = "an abrnet wide CSV separated by ';' (a spreadsheet's export): save it comma-separated, decimal point '.'"
        raise DataError(src, "<format>", msg, 1)  # was "unknown recording format", which did not say why
    raise DataError(src, "<format>", f"unknown recording format (first line starts {first[:40]!r})", 1)


def _has_samples(cells: list[str]) -> bool:
    """A header with abrnet's sample columns (``s0``, ``s17``...), in any order and not necessarily ``s0``/``s1``:
    the first 8 KiB of a reordered 1700-sample header held neither, and the file read as "unknown recording
    format" where the reader names the column out of order (hunt 44b #8). The reader's own pattern (`SAMPLE`, whose
    ``a_``/``b_`` buffer columns alone do not make the file one)."""
    from abrnet.data.csv_cells import SAMPLE

    return any((m := SAMPLE.match(c)) and not m.group(1) for c in cells)


def _wide_csv_columns() -> tuple[str, ...]:
    """abrnet wide CSV's named columns (imported late, as `_readers` does, to keep this package import light)."""
    from abrnet.data.csv_io import META_COLUMNS

    return META_COLUMNS


def read_h5(path: str | Path, *, with_clean: bool = True, ear: str | None = None) -> ABRCohort:
    """An abrnet .h5 (`abrnet.data.io.load_cohort`), with ``ear`` (``--ear``; None = not given) filling the ears its
    records did not name (`ears_assumed`: stored as "R", marked assumed) by the wide CSV's rule for empty ear cells
    (`fill_empty_cells`): those records get ``ear`` and lose the mark; recorded ears stay; a file whose every ear is
    recorded lists ``ear`` as ignored.

    Why: predict's "records name no ear" warning told the user of an imported .h5 to pass --ear, and the .h5 reader
    then ignored it ("ear ignored, the file records its own values"), so the advice could not be followed."""
    from abrnet.data.io import load_cohort

    if ear is not None:
        check_text_option("ear", ear, source=str(path))
    cohort = load_cohort(path, with_clean=with_clean)
    # what the import that wrote the file did with its options and columns: history, not this reading's (predict on
    # an import's .h5 warned them again)
    for key in ("ignored_options", "overridden_options", "dropped_no_stimulus_columns"):
        if key in cohort.attrs:
            cohort.attrs[f"import_{key}"] = cohort.attrs.pop(key)
    filled = fill_empty_cells(cohort.attrs, "ear", ears_assumed(cohort), ear)
    if filled.any():  # every assumed ear is filled, so no record keeps the mark
        cohort.ear = np.where(filled, ear_of(ear or ""), cohort.ear).astype(str)
        cohort.attrs.pop("ear_unknown", None)
        cohort.extras.pop("attr_ear_unknown", None)
    return cohort


def _readers() -> dict[str, Callable[..., ABRCohort]]:
    from abrnet.data.csv_io import read_wide_csv

    return {
        "h5": read_h5,
        "csv": read_wide_csv,
        "epl_cfts": read_epl_cfts,
        "fast_abr": read_fast_abr,
        "smartep": read_smartep,
        "time_columns": read_time_columns,
        "biosig_csv": read_biosig_csv,
        "tdt_arf": read_tdt_arf,
        "psi_abr": read_psi_abr,
    }


def read_recording(path: str | Path, fmt: str = "auto", **kw: Any) -> ABRCohort:
    """Read any supported file into an `ABRCohort`.

    ``kw``: reader options (`READER_OPTIONS`, plus a reader's own such as ``time_units``) and metadata overrides
    (`abrnet.data.metadata.METADATA_FIELDS`: ``level_unit=``, ``stimulus=``, ``species=``...). Options left None are
    ignored; options given that the format does not use are listed in ``attrs["ignored_options"]``. ``invert=True``
    multiplies every trace stored of the records (samples, split buffers, their kept (A − B)/2: `invert_traces`) by
    −1, for exports that plot the ABR vertex-negative: read as given, such a trace was "no response" for 3 of 4
    hearing ears; ``attrs["inverted"]`` records it.
    """
    if fmt not in FORMATS:
        raise DataError(str(path), "format", f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    invert = kw.pop("invert", None)
    if invert is not None and not isinstance(invert, bool):
        raise DataError(str(path), "invert", f"must be true or false, got {invert!r}")
    if fmt == "auto":
        fmt = detect_format(path)
    reader = _readers()[fmt]
    accepted = set(inspect.signature(reader).parameters)
    meta = {k: kw.pop(k) for k in list(kw) if k in METADATA_FIELDS and kw[k] is not None}
    given = {k: v for k, v in kw.items() if v is not None}
    unknown = [k for k in given if k not in accepted and k not in READER_OPTIONS and k != "stimulus"]
    if unknown:
        raise TypeError(f"read_recording: unknown option(s) {', '.join(unknown)}")
    check_reading_options({**given, **meta})  # before reading, whether or not this format uses them
    if fmt == "tdt_arf" and "stimulus" in meta:
        given["stimulus"] = meta["stimulus"]
    cohort = reader(path, **{k: v for k, v in given.items() if k in accepted})
    note_ignored(cohort.attrs, *(k for k in given if k not in accepted))  # beside those the file made moot
    cohort.attrs["format"] = fmt
    cohort.attrs["source_path"] = str(path)  # the full path: two files may share a name (`concat_cohorts`)
    if invert:  # a vertex-negative export (waves as troughs) read as vertex-positive, as the model learnt them
        invert_traces(cohort)
    assumed: set[str] = set()  # metadata the file does not state: an option fills it, overriding nothing
    if fmt in ("h5", "csv"):
        cohort.attrs.pop("patient_id_source", None)  # ids stored in the file, not its name: never renamed
        assumed = {key for key in SIMULATED if key not in cohort.extras}
        for key in assumed:
            cohort.extras[key] = np.full(cohort.n_records, SIMULATED[key])
        cohort.attrs.setdefault("metadata_source", "abrnet format: human click, dB nHL unless stated")
    return apply_metadata(cohort, str(path), assumed=assumed, **meta)


def invert_traces(cohort: ABRCohort) -> None:
    """Flip, in place, the sign of every trace ``cohort`` stores of its records, and record it in ``attrs``: the
    averages, the split buffers, the clean targets of a simulated file and every float per-sample extra (N, T): the
    per-record (A − B)/2 an .h5 written from files with and without buffers holds
    (`abrnet.data.resample.BUFFER_NOISE_EXTRA`), a Fast ABR export's CM columns (``cm_uv``). The ``recorded`` mask
    (bool) is no trace and stays. Why all of them: a record whose average is flipped but whose stored noise trace is
    not is two recordings of opposite polarity, and what reads them together (the residual noise, the CM cue, an
    .h5 or CSV written from the cohort) would mix them."""
    cohort.signals = -cohort.signals
    cohort.buffers = None if cohort.buffers is None else -cohort.buffers
    cohort.clean = None if cohort.clean is None else -cohort.clean
    for key, values in list(cohort.extras.items()):
        trace = values.ndim == 2 and values.shape == (cohort.n_records, cohort.n_samples)
        if trace and values.dtype.kind == "f":  # NaN rows (a record without buffers) stay NaN
            cohort.extras[key] = -values
    cohort.attrs["inverted"] = 1


def apply_metadata(
    cohort: ABRCohort, src: str, assumed: set[str] | frozenset[str] = frozenset(), **meta: Any
) -> ABRCohort:
    """Overwrite the metadata columns named in ``meta`` (what the user states beats what the file says).

    Where the file stated another value (not "unknown", not one of the ``assumed`` defaults), `note_override`
    records it, as for the rate, level and ear options: ``--species mouse`` on a human export must be seen."""
    for key, value in meta.items():
        previous = None if key in assumed else cohort.extras.get(key)
        if key == STIMULUS_FREQ_HZ:
            cohort.extras[key] = np.full(cohort.n_records, float(value) if value is not None else math.nan)
            stated = None if previous is None else [v for v in np.unique(previous.astype(float)) if np.isfinite(v)]
            note_override(cohort.attrs, key, stated or None, value)
            continue
        try:
            cohort.extras[key] = np.full(cohort.n_records, normalise(key, value)).astype(str)
        except ValueError as exc:
            raise DataError(src, key, str(exc)) from None
        stated = None if previous is None else [v for v in np.unique(previous.astype(str)) if v != UNKNOWN]
        note_override(cohort.attrs, key, stated or None, cohort.extras[key][0])
    return cohort
