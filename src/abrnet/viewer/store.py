"""Where the viewer keeps what outlives a request: uploaded files (by content hash) and clinicians' corrections.

Everything lives in one data folder: ``uploads/<sha256>/<file name>`` and ``viewer.sqlite`` beside them. Files are
keyed by the SHA-256 of their bytes, so opening the same recording again (even renamed, or after a restart) brings
its corrections back, while an edited file starts clean. Corrections are append-only rows (who, when, the model's
value and the corrected one); the newest row per target wins and a row with value NULL reverts to the model, so the
audit trail a clinic needs is never overwritten.

A hash keeps the name, uploader and time of its first registration for good (`register`), and is always read from
its copy under that name (`upload` stores a re-upload's bytes there). Why: a device export's patient id is its file
name, and an ear's threshold correction names the patient; the same bytes re-uploaded as ``copy.txt`` re-pointed the
hash to the new name, its ear became patient "copy" and the expert's threshold silently left page, CSV and PDF. A
re-upload's own name is for its reply's messages only; its uploader is not kept (no table of uploads: their
corrections name them). A store written before this rule may already point a hash at a later name: it reads as it
is, and a correction naming an ear the file no longer holds is listed in its warnings (`abrnet.viewer.flags`).

Each correction also keeps the age the model read its ear at (``age_years``): the model's latencies and threshold
depend on the age, so a correction means something only next to the reading it was made against, and an audit must
be able to say which one that was. A store made before this column existed is migrated on open (``ALTER TABLE ... ADD
COLUMN``, nothing rewritten); its rows read back with ``age_years`` NULL, "not recorded".

Likewise each correction keeps the model that produced the reading it corrects (``model_sha256``, the SHA-256 of the
checkpoint file's bytes, and ``model_checkpoint``, its path as the server was given it, for people to read). A server
may be restarted with another checkpoint on the same store; the model's values shown beside a correction are then
another model's, and only the recorded identity lets the page and the exports say so. Rows from before this column
existed read back NULL ("not recorded").

A file also keeps the reading options it was analysed with (``files.reading_options``: the form's stimulus rate,
level, ear and FMP for a file that records none of them, as JSON; ``{}`` or NULL = none given). Like the age they
change the model's reading, so they are part of what a correction corrects: a file with corrections keeps the age
*and* options they were made with (`register` refuses others), and a correction is stored only against the reading
the file is registered with now (`add_correction`). A store from before this column existed gains it on open.

A threshold correction names its intensity series (``stimulus``): "" for an ear that holds one stimulus (its series
is the ear), else the series' stimulus ("tone_pip 8000 Hz"), so an ear's 8 and 16 kHz thresholds are corrected
apart. Rows from before this column existed read back "" and keep correcting the ear's one series; on an ear that is
several series now they correct none and are shown on each with a note (`abrnet.viewer.flags`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

from abrnet.viewer.marks import UNCHECKED, check_expected
from abrnet.viewer.reading_text import reading_text

SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    hash TEXT PRIMARY KEY, filename TEXT NOT NULL, size INTEGER NOT NULL, age_years REAL,
    uploaded_by TEXT, uploaded_at TEXT NOT NULL,
    reading_options TEXT           -- the form's reading options as JSON ({} or NULL: none given)
);
CREATE TABLE IF NOT EXISTS corrections (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    file_hash TEXT NOT NULL,
    target TEXT NOT NULL,          -- 'peak' or 'threshold'
    record INTEGER NOT NULL,       -- record index in the file (peaks); -1 for an ear's threshold
    patient_id TEXT NOT NULL,
    ear TEXT NOT NULL,
    wave TEXT NOT NULL,            -- 'I', 'III', 'V' (peaks); '' (threshold)
    value REAL,                    -- latency (ms) or threshold (dB, the file's level unit); NULL = the model's
    model_value REAL,
    user TEXT NOT NULL,
    created_at TEXT NOT NULL,
    age_years REAL,                -- the age the model read the ear at when corrected; NULL = not recorded
    model_sha256 TEXT,             -- SHA-256 of the checkpoint that read the corrected value; NULL = not recorded
    model_checkpoint TEXT,         -- that checkpoint's path as the server was given it (a name for people)
    mark TEXT,                     -- 'absent' (peaks) / 'no response' (thresholds): no number; NULL = value or revert
    stimulus TEXT                  -- a threshold's series where the ear holds several stimuli; ''/NULL: its one
);
CREATE INDEX IF NOT EXISTS corrections_by_file ON corrections (file_hash, id);
"""


def content_hash(data: bytes) -> str:
    """SHA-256 of the file's bytes: the key under which corrections are kept."""
    return hashlib.sha256(data).hexdigest()


MAX_FILENAME_CHARS = 120


def safe_filename(name: str) -> str:
    """The upload's base name reduced to safe characters and `MAX_FILENAME_CHARS`, its suffix kept (`.h5` selects
    the HDF5 reader, a device export's stem is its patient id): a longer name loses the end of its stem. Why: the
    name was cut at 120 characters, suffix and all, so a 129-character ``….csv`` was no longer read as a CSV and
    the form's Age was refused for it (hunt 50a #2)."""
    base = Path(name.replace("\\", "/")).name or "upload"
    cleaned = "".join(ch if ch.isalnum() or ch in "-_. " else "_" for ch in base).strip(" .") or "upload"
    if len(cleaned) <= MAX_FILENAME_CHARS:
        return cleaned
    suffix = Path(cleaned).suffix[:16]
    return cleaned[: MAX_FILENAME_CHARS - len(suffix)].rstrip(" .") + suffix


class AgeConflictError(Exception):
    """A file re-uploaded at another age or with other reading options than its corrections were made with, or a
    correction made on a reading the file is no longer registered with (the app answers 409)."""


class FirstUpload(NamedTuple):
    """A hash's first registration (`register`): the copy it is read from, who uploaded it and when."""

    path: Path
    user: str | None
    at: str


class StoredFile(NamedTuple):
    """A registered upload: where its bytes are and the reading settings it is registered with."""

    path: Path
    age_years: float | None
    options: dict[str, object]


ADDED_COLUMNS: dict[str, dict[str, str]] = {  # per table, in the order added
    "corrections": {
        "age_years": "REAL",
        "model_sha256": "TEXT",
        "model_checkpoint": "TEXT",
        "mark": "TEXT",
        "stimulus": "TEXT",
    },
    "files": {"reading_options": "TEXT"},
}


def migrate(con: sqlite3.Connection) -> None:
    """Bring a store made by an earlier version up to `SCHEMA` in place: add the columns it lacks (`ADDED_COLUMNS`;
    existing rows get NULL, "not recorded" or "none given"). Why in place: a clinic's corrections are its audit trail;
    an upgrade must open them as they are, never ask to start a new store. Two servers opening one old store at once
    both try the ALTER; the loser's "duplicate column" is harmless and ignored once the column is there."""
    for table, columns in ADDED_COLUMNS.items():
        for name, kind in columns.items():
            if name in {r[1] for r in con.execute(f"PRAGMA table_info({table})")}:
                continue
            try:
                con.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")
            except sqlite3.OperationalError:
                if name not in {r[1] for r in con.execute(f"PRAGMA table_info({table})")}:
                    raise


def options_json(options: Mapping[str, object] | None) -> str:
    """Reading options as stored and compared: JSON with sorted keys (``{}`` for none)."""
    return json.dumps(dict(options or {}), sort_keys=True)


def options_of(text: str | None) -> dict[str, object]:
    """Stored reading options back as a dict (NULL, from a store before they were kept: none given)."""
    return dict(json.loads(text)) if text else {}


def utc_now() -> str:
    """Now in UTC as ISO 8601 to the second with a "Z" (2026-01-02T03:04:05Z): the stored, sortable timestamp."""
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Correction:
    """One clinician's correction of a peak latency or an ear's threshold."""

    target: str
    record: int
    patient_id: str
    ear: str
    wave: str
    value: float | None
    model_value: float | None
    user: str
    created_at: str
    age_years: float | None = None  # the age of the reading it corrects (None: not recorded, or no single age)
    model_sha256: str | None = None  # SHA-256 of the checkpoint whose reading it corrects (None: not recorded)
    model_checkpoint: str | None = None  # that checkpoint's path as the server was given it
    mark: str | None = None  # `abrnet.viewer.marks`: "absent" / "no response" (value None); None: a value or a revert
    stimulus: str = ""  # a threshold's series (`series_stimulus`): "" = the ear's one series (and every peak)

    @property
    def key(self) -> tuple[str, int, str, str, str, str]:
        return (self.target, self.record, self.patient_id, self.ear, self.wave, self.stimulus)

    def to_json(self) -> dict[str, object]:
        return {
            "target": self.target,
            "record": self.record,
            "patient_id": self.patient_id,
            "ear": self.ear,
            "wave": self.wave,
            "value": self.value,
            "model_value": self.model_value,
            "user": self.user,
            "created_at": self.created_at,
            "age_years": self.age_years,
            "model_sha256": self.model_sha256,
            "model_checkpoint": self.model_checkpoint,
            "mark": self.mark,
            "stimulus": self.stimulus,
        }


class Store:
    """Uploads and corrections under `root`; safe to share between the server's worker threads."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.uploads = self.root / "uploads"
        self.uploads.mkdir(parents=True, exist_ok=True)
        self.db_path = self.root / "viewer.sqlite"
        self._lock = threading.Lock()
        self._in_use: Counter[Path] = Counter()  # stored copies that requests are writing or analysing now
        with self._connect() as con:
            con.executescript(SCHEMA)
            migrate(con)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.db_path, timeout=30)
        try:
            with con:  # commit on success, roll back on error
                yield con
        finally:
            con.close()

    # ------------------------------------------------------------------------------------------------ files
    @contextmanager
    def upload(self, data: bytes, filename: str) -> Iterator[tuple[str, Path]]:
        """The bytes stored under their hash (atomic: concurrent uploads of one file never see half a file) for the
        body of the `with`, under the name the hash is registered with (the first upload's) where it has one, else
        under `filename`; a copy the hash is not registered with when the body ends (a refused upload, or the loser of
        two first uploads of the same bytes under other names) is removed on the way out.

        The file is not known to the store until `register`. Writing and removing happen under the store's lock and a
        copy is removed only once no request holds it: one request refusing the file must not pull it (or its folder)
        away from another request writing or reading the same bytes (that race answered some uploads with a 500).
        """
        digest = content_hash(data)
        folder = self.uploads / digest
        with self._lock:
            path = folder / (self._registered_name(digest) or safe_filename(filename))
            folder.mkdir(parents=True, exist_ok=True)
            if not path.exists():
                tmp = folder / f".{path.name}.tmp"
                tmp.write_bytes(data)
                os.replace(tmp, path)
            self._in_use[path] += 1
        try:
            yield digest, path
        finally:
            with self._lock:
                self._in_use[path] -= 1
                if self._in_use[path] == 0:
                    del self._in_use[path]
                    info = self.file_info(digest)
                    if info is None or info.path != path:
                        path.unlink(missing_ok=True)
                        with contextlib.suppress(OSError):
                            folder.rmdir()  # only when empty: the registered copy, if any, stays

    def register(
        self,
        digest: str,
        path: Path,
        *,
        age_years: float | None,
        user: str,
        options: Mapping[str, object] | None = None,
    ) -> FirstUpload:
        """Record a readable upload (name, size, the age and reading options it was analysed with, who, when) and
        return the hash's first registration: a known hash keeps its name, uploader and time (see the module
        docstring), so the returned copy is `path` except where another name registered the bytes first.

        Raises `AgeConflictError` when the file is known at another age or with other options and has corrections:
        they were made against the model's reading with those settings, so changing them under the corrections would
        silently change what they correct. Without corrections the new settings replace the old (nothing rests on
        them yet).
        """
        given = options_json(options)
        with self._lock, self._connect() as con:
            row = con.execute("SELECT age_years, reading_options FROM files WHERE hash = ?", (digest,)).fetchone()
            if row is not None and (row[0] != age_years or options_of(row[1]) != json.loads(given)):
                query = "SELECT user FROM corrections WHERE file_hash = ? GROUP BY user ORDER BY MIN(id)"
                users = [r[0] for r in con.execute(query, (digest,))]
                if users:
                    then, now = reading_text(row[0], options_of(row[1])), reading_text(age_years, json.loads(given))
                    raise AgeConflictError(
                        f"this file has corrections by {', '.join(users)} made at {then} and the model's reading "
                        f"depends on the age and reading options: upload it with those (not {now}) to review it"
                    )
            con.execute(
                "INSERT INTO files (hash, filename, size, age_years, uploaded_by, uploaded_at, reading_options) "
                "VALUES (?,?,?,?,?,?,?) ON CONFLICT(hash) DO UPDATE SET age_years=excluded.age_years, "
                "reading_options=excluded.reading_options",
                (digest, path.name, path.stat().st_size, age_years, user, utc_now(), given),
            )
            query = "SELECT filename, uploaded_by, uploaded_at FROM files WHERE hash = ?"
            name, first_user, first_at = con.execute(query, (digest,)).fetchone()
        return FirstUpload(self.uploads / digest / name, first_user, first_at)

    def _registered_name(self, digest: str) -> str | None:
        """The name a hash is registered with (its copy's file name), or None for a new hash."""
        with self._connect() as con:
            row = con.execute("SELECT filename FROM files WHERE hash = ?", (digest,)).fetchone()
        return None if row is None else str(row[0])

    def file_info(self, digest: str) -> StoredFile | None:
        """(stored path, age and reading options used at upload) of a known file, or None."""
        with self._connect() as con:
            query = "SELECT filename, age_years, reading_options FROM files WHERE hash = ?"
            row = con.execute(query, (digest,)).fetchone()
        if row is None:
            return None
        path = self.uploads / digest / row[0]
        return StoredFile(path, row[1], options_of(row[2])) if path.exists() else None

    def file_count(self) -> int:
        with self._connect() as con:
            return int(con.execute("SELECT COUNT(*) FROM files").fetchone()[0])

    # ------------------------------------------------------------------------------------------------ corrections
    def add_correction(
        self,
        digest: str,
        correction: Correction,
        *,
        file_age: float | None,
        file_options: Mapping[str, object] | None = None,
        expected_previous: object = UNCHECKED,
    ) -> Correction:
        """Append `correction`, made against the reading of the file at `file_age` with `file_options` (the settings
        it is registered with; None: no options).

        Raises `AgeConflictError` when the file is registered with other settings by now: a re-upload may land
        between the app's check of the reading and this insert, and the correction must not be stored against a
        reading its author never saw. Checking and inserting under the lock that `register` takes closes that gap.

        `expected_previous` is what the author's page showed for this target (`marks.shown`: None for the model's
        value, a number, or a mark); `UNCHECKED` (a script that does not say) skips the check. Raises `StaleMarkError`
        when the target's correction in force differs: another tab or reviewer changed it since that page loaded, and
        last write winning would silently drop their correction.
        """
        expected = json.loads(options_json(file_options))
        with self._lock, self._connect() as con:
            row = con.execute("SELECT age_years, reading_options FROM files WHERE hash = ?", (digest,)).fetchone()
            if row is None or row[0] != file_age or options_of(row[1]) != expected:
                now = "unknown" if row is None else reading_text(row[0], options_of(row[1]))
                raise AgeConflictError(
                    f"not saved: the file was analysed again ({now}, not {reading_text(file_age, expected)}) while the "
                    "correction was on its way: reload the file and correct it again"
                )
            if expected_previous is not UNCHECKED:
                latest = con.execute(
                    "SELECT value, mark, user, created_at FROM corrections WHERE file_hash = ? AND target = ? AND "
                    "record = ? AND patient_id = ? AND ear = ? AND wave = ? AND COALESCE(stimulus, '') = ? "
                    "ORDER BY id DESC LIMIT 1",
                    (digest, *correction.key),
                ).fetchone()
                check_expected(correction, latest, expected_previous)
            con.execute(
                "INSERT INTO corrections (file_hash, target, record, patient_id, ear, wave, value, model_value, user, "
                "created_at, age_years, model_sha256, model_checkpoint, mark, stimulus) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (digest, correction.target, correction.record, correction.patient_id, correction.ear,
                 correction.wave, correction.value, correction.model_value, correction.user, correction.created_at,
                 correction.age_years, correction.model_sha256, correction.model_checkpoint, correction.mark,
                 correction.stimulus),
            )  # fmt: skip
        return correction

    def history(self, digest: str) -> list[Correction]:
        """Every correction of a file, oldest first (the audit trail)."""
        with self._connect() as con:
            rows = con.execute(
                "SELECT target, record, patient_id, ear, wave, value, model_value, user, created_at, age_years, "
                "model_sha256, model_checkpoint, mark, COALESCE(stimulus, '') FROM corrections WHERE file_hash = ? "
                "ORDER BY id",
                (digest,),
            ).fetchall()
        return [Correction(r[0], int(r[1]), *r[2:]) for r in rows]

    def current(self, digest: str) -> list[Correction]:
        """The corrections in force: the newest per target, without those reverted to the model's value (a mark,
        "absent" or "no response", is in force although it carries no value)."""
        latest: dict[tuple[str, int, str, str, str, str], Correction] = {}
        for c in self.history(digest):
            latest[c.key] = c
        return [c for c in latest.values() if c.value is not None or c.mark is not None]
