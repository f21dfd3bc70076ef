"""Readers for real device exports, each returning an `ABRCohort` on the file's native grid (µV, own rate/t0).

Use `read_recording` to sniff the format. Convert to the model grid afterwards with
`abrnet.data.resample.to_model_grid`. What the files do not record (age, sometimes rate/ear, Fmp) is handled as
documented in `abrnet.data.importers._common`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from abrnet.data.importers.epl_cfts import EPLAnalysis, read_epl_analysis, read_epl_cfts
from abrnet.data.importers.fast_abr import read_fast_abr
from abrnet.data.importers.smartep import read_smartep
from abrnet.data.importers.time_columns import read_time_columns
from abrnet.data.schema import ABRCohort, DataError

FORMATS: tuple[str, ...] = ("auto", "h5", "csv", "epl_cfts", "fast_abr", "smartep", "time_columns")

__all__ = [
    "FORMATS",
    "EPLAnalysis",
    "detect_format",
    "read_epl_analysis",
    "read_epl_cfts",
    "read_fast_abr",
    "read_recording",
    "read_smartep",
    "read_time_columns",
]


def detect_format(path: str | Path) -> str:
    """Name of the format of ``path`` (one of FORMATS minus "auto"), from its suffix and first bytes."""
    path = Path(path)
    src = str(path)
    if path.suffix.lower() in (".h5", ".hdf5"):
        return "h5"
    try:
        with path.open("rb") as fh:
            head = fh.read(4096)
    except FileNotFoundError:
        raise DataError(src, "<file>", "file not found") from None
    except IsADirectoryError:
        raise DataError(src, "<file>", "is a directory, not a recording") from None
    if head.startswith(b"\x89HDF"):
        return "h5"
    text = head.decode("latin-1").lstrip("\ufeff\xef\xbb\xbf")
    first = text.replace("\r", "\n").split("\n", 1)[0].strip()
    low = first.lower()
    if first.startswith(":RUN"):
        return "epl_cfts"
    if first == "[FAST ABR]":
        return "fast_abr"
    if first.startswith("Identifier:,"):
        return "smartep"
    if first.startswith("Threshold (dB SPL)"):
        raise DataError(src, "<format>", "this is an EPL peak-analysis file, not a recording; use read_epl_analysis")
    cells = [c.strip() for c in first.split(",")]
    if "patient_id" in cells and "s0" in cells:
        return "csv"
    if low.startswith("time"):
        return "time_columns"
    raise DataError(src, "<format>", f"unknown recording format (first line starts {first[:40]!r})", 1)


def read_recording(path: str | Path, fmt: str = "auto", **kw: Any) -> ABRCohort:
    """Read any supported file into an `ABRCohort`; ``kw`` go to the format's reader (e.g. ``age_years=``)."""
    if fmt not in FORMATS:
        raise DataError(str(path), "format", f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fmt == "auto":
        fmt = detect_format(path)
    if fmt == "h5":
        from abrnet.data.io import load_cohort  # lazy: h5py is only needed for .h5 files

        return load_cohort(path, **kw)
    if fmt == "csv":
        from abrnet.data.csv_io import read_wide_csv

        return read_wide_csv(path, **kw)
    readers = {
        "epl_cfts": read_epl_cfts,
        "fast_abr": read_fast_abr,
        "smartep": read_smartep,
        "time_columns": read_time_columns,
    }
    return readers[fmt](path, **kw)
