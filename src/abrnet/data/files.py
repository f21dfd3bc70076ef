"""Output files, guarded once: every writer in abrnet checks its target here and writes through `staged_write`.

Like MNE-Python's ``_check_fname(overwrite=)``: a file that exists is never silently replaced; the user says so with
``--force`` (``overwrite=True``), and even then the old file stays whole until the new one is (`staged_write`).
JSON is written strictly (``allow_nan=False``) after mapping NaN/inf to null and
numpy scalars to Python, so a metrics file is valid JSON for every reader, not only Python's.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from abrnet.data.schema import DataError

# The name of a written file says its format: an HDF5 dataset called .csv (or CSV text called .h5) opens in the wrong
# program, and every tool that goes by the suffix (spreadsheets, h5py users, file managers) is misled.
COHORT_SUFFIXES: tuple[str, ...] = (".h5", ".hdf5")
CSV_SUFFIXES: tuple[str, ...] = (".csv",)


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a file's bytes, read in 1 MiB blocks (a cohort .h5 may be hundreds of MB): what names a data
    file by its content where its path may since hold another (`abrnet.training.run_folder.check_same_data`)."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_target(path: str | Path) -> Path:
    """The file a write to ``path`` lands on once the writer has made its missing folders: absolute, each symlink
    followed and each ``..`` taken after it (`os.path.realpath`, as the OS walks the path; the folders a writer makes
    are real ones, so a missing one's ``..`` is its parent).

    Why every guard asks it, not the path as typed: ``exists()`` is False for ``new/../old.csv`` while ``new/`` is
    missing, the writer's ``mkdir(parents=True)`` then made ``new/`` and old.csv was replaced without --force (and
    ``sub/../in.csv`` replaced the input with --force; hunt 43 #4). Not ``os.path.normpath``: ``link/../x.csv`` is
    the x.csv beside the folder ``link`` points to, which a lexical ``..`` would not check."""
    return Path(os.path.realpath(path))


def check_fname(path: str | Path, *, overwrite: bool, what: str | None = None) -> Path:
    """``path`` as a Path, or FileExistsError naming it when it exists and ``overwrite`` is False (and saying
    ``what`` it is, where the caller named the file itself: "q.series.csv (this run's series table) exists").

    Every check is made on `write_target` (where the write lands, ``..`` after a missing folder and symlinked folders
    included); the path is returned as typed, so messages keep the user's spelling, and a writer that makes its
    missing folders and writes it lands on the file checked here.

    A folder is refused even with ``overwrite``: --force means "replace that file", never "delete that folder", and
    writing to a folder only fails later (IsADirectoryError, a stray ``.partial`` beside it). A folder that is
    really a file's place (an ancestor that is a file, as typed or as reached) is refused too, before anything else
    is written."""
    path = Path(path)
    target = write_target(path)
    if target.is_dir():
        raise FileExistsError(f"{path}: is a folder, not a file (--force does not replace a folder); name a file")
    for place in (path, target):  # as typed: ``a.csv/../b.csv`` fails at a.csv, which realpath steps over
        parent = next((p for p in place.parents if p.exists()), None)
        if parent is not None and not parent.is_dir():
            raise FileExistsError(f"{path}: {parent} is a file, not a folder; choose another path")
    if target.exists() and not overwrite:
        said = f"{path}: file exists" if what is None else f"{path} ({what}) exists"
        raise FileExistsError(f"{said}; pass --force to overwrite it")
    return path


@contextmanager
def staged_write(path: str | Path, *, overwrite: bool, what: str | None = None) -> Iterator[Path]:
    """Check ``path`` (`check_fname`), make the missing folders of the file the write lands on (`write_target`)
    and yield a hidden file beside it to write; when the block ends without an error that file replaces the target
    in one step (`os.replace`, keeping an old file's permissions), otherwise it is removed.

    Why: a file written in place is half a file while it is written. --force emptied an earlier result the moment
    the write began, so a write that stopped (a full disk, a value the format cannot hold, Ctrl-C, a scheduler's
    SIGTERM) lost the old file and left a truncated new one under its name, which a spreadsheet opens as whole.
    Staged, a reader finds the old file or the new one, never part of either. The folders are made where the file
    lands, not where the path is typed: ``new/../x.csv`` wrote x.csv and left an empty ``new/`` behind.

    The staged name keeps the suffix (``.x.partial.png``): writers that go by it (matplotlib) write the same format.
    A SIGTERM that Python does not catch ends the process inside the block; the old file is whole, and the hidden
    staged file is what is left."""
    path = check_fname(path, overwrite=overwrite, what=what)
    target = write_target(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    staged = target.with_name(f".{target.stem}.partial{target.suffix}")
    try:
        yield staged
        if target.exists():
            if not overwrite:  # made by another process while this one wrote: still not ours to replace
                raise FileExistsError(f"{path}: file exists (written meanwhile); pass --force to overwrite it")
            shutil.copymode(target, staged)
        os.replace(staged, target)
    finally:
        staged.unlink(missing_ok=True)


def check_suffix(
    path: str | Path, suffixes: tuple[str, ...], what: str, hint: str = "", *, field: str = "<file>"
) -> Path:
    """``path`` as a Path, or a one-line DataError (naming ``field``: the option, e.g. ``--out``, where the name came
    from one) when its suffix (any case) is none of
    ``suffixes``. Writers call it before anything is written, so a wrong name never leaves a file in the wrong
    format behind; ``what`` names the format, ``hint`` says where the other format comes from. A folder passes:
    `check_fname` refuses it, saying more than "no suffix"."""
    path = Path(path)
    if path.suffix.lower() not in suffixes and not write_target(path).is_dir():
        got = f"got {path.suffix!r}" if path.suffix else "the name has no suffix"
        names = " or ".join(suffixes)
        raise DataError(str(path), field, f"{what} must be named {names}, {got}{f' ({hint})' if hint else ''}")
    return path


def json_ready(obj: Any) -> Any:
    """NaN/inf → None, numpy scalars and arrays → Python, tuples → lists, keys → str (recursively)."""
    if isinstance(obj, dict):
        return {str(k): json_ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_ready(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return json_ready(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(float(obj)) else None
    return obj


def write_json(obj: Any, path: str | Path, *, overwrite: bool) -> Path:
    """Write ``obj`` as indented strict JSON (through `json_ready`), guarded and staged (`staged_write`)."""
    text = json.dumps(json_ready(obj), indent=2, allow_nan=False)  # a value JSON cannot hold fails before the file
    with staged_write(path, overwrite=overwrite) as staged:
        staged.write_text(text)
    return Path(path)
