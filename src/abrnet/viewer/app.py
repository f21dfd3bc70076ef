"""The viewer's web app (FastAPI): the page, the JSON API, corrections and exports.

Routes
    GET  /                                  the page (plain HTML + vanilla JS, package data; no build step)
    GET  /api/health                        {"status": "ok", ...}: liveness for scripts and tests
    POST /api/analyze                       multipart upload (field ``file``; optional ``age_years``, reading
                                            options ``stimulus_rate_hz``, ``level_db``, ``ear``, ``fmp`` for what the
                                            file does not record, and ``user``) → per-record and per-ear JSON with the
                                            corrections kept for this file and the ``reading_options`` it was read with
    GET  /api/files/{sha256}                the same JSON for a file uploaded before (survives restarts)
    POST /api/files/{sha256}/corrections    {"target": "peak"|"threshold", "record"|"patient_id"+"ear", "wave",
                                            "value" (ms or dB; null = back to the model), "absent": true (a peak:
                                            the wave is not there) | "no_response": true (a threshold: the ear
                                            does not respond), "user", "age_years" (the ear's age as the page
                                            showed it; required, null where it showed none), "reading_options"
                                            (the file's, as the page showed them; required once the file was read
                                            with any), "expected_previous" (what the page showed for the target:
                                            null = the model's, a number, "absent"/"no response"; 409 when it was
                                            changed since); any other key: 422
    GET  /api/files/{sha256}/history        the file's corrections (the audit trail), newest first
    GET  /api/files/{sha256}/export.csv     final values, corrected ones marked (who, when)
    GET  /api/files/{sha256}/report/{patient_id}.pdf   one-page report per patient (id URL-encoded, "/" as %2F)

Bad input is the user's, not the server's: an unreadable, empty or oversized upload gets a 4xx whose ``detail`` is
the importer's one-line message (naming the uploaded file, not the server's copy), and nothing is kept in memory
from it. A file with corrections keeps the age they were made at: a re-upload at an age that changes the model's
reading gets 409 (the corrections would otherwise silently apply to another reading). The same bytes under another
name are read as the file first uploaded (`abrnet.viewer.store`: its name, so the patient ids a device export takes
from the name and the corrections made on them stay); the reply names the upload and says so in a warning. Likewise
a correction says the age of the reading it was made on, and one made on a page that still shows an earlier reading
(the file was analysed again at another age since) gets 409 and is not stored; each stored correction keeps that
age, and the model that read the value it corrects: the SHA-256 of the checkpoint's bytes, since a path says nothing
of what is in it (every run writes a best.ckpt; the shipped model's path moves with the installation). Model calls
run one at a time under a lock: inference is fast next to an upload and serialising it keeps a small clinic machine
responsive instead of oversubscribing its cores.

Reading options (`abrnet.viewer.form`: what ``abrnet predict`` takes as ``--rate``, ``--level``, ``--ear``, ``--fmp``
for a file that does not record them) are part of what identifies a reading, as the age is: they key the cache, are
stored with the upload beside its age (``GET /api/files/{sha256}`` reads the file with them again), a re-upload with
other options that change the reading gets 409 once the file has corrections, and a correction from a page that
showed other options than the file's now gets 409. A bad value gets a one-line 422 naming the form's field, and a
file that lacks a value is answered with the form's field to fill in, not a CLI flag or a Python keyword. The form's
Age also fills a wide CSV's missing ``age_years`` column (`with_form_age`: read from a copy, the upload kept as is).
"""

from __future__ import annotations

import tempfile
import threading
from collections import OrderedDict
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response

from abrnet.constants import PHYSICAL_RANGES
from abrnet.data.schema import DataError
from abrnet.inference.api import ABRModel
from abrnet.viewer.analysis import build_payload, history_json, with_corrections
from abrnet.viewer.correcting import CorrectionIn, correction_from, user_name
from abrnet.viewer.export import export_csv
from abrnet.viewer.form import FORM_FIELDS, check_shown_options, error_text, form_options, viewer_text, with_form_age
from abrnet.viewer.limits import MULTIPART_SLACK_BYTES, BodyLimit
from abrnet.viewer.marks import UNCHECKED, StaleMarkError
from abrnet.viewer.report import patient_pdf
from abrnet.viewer.store import AgeConflictError, FirstUpload, Store, StoredFile, options_json, safe_filename, utc_now

DEFAULT_MAX_UPLOAD_MB = 20.0
CACHE_FILES = 32  # analysed files kept in memory; older ones are re-analysed from the stored upload on demand
STATIC_FILES: dict[str, str] = {"viewer.js": "application/javascript", "viewer-audit.js": "application/javascript",
                                 "viewer-controls.js": "application/javascript",
                                 "viewer-threshold.js": "application/javascript", "viewer.css": "text/css"}  # fmt: skip


class Viewer:
    """The state behind the routes: the model, the store and an in-memory cache of analysed files."""

    def __init__(self, model: ABRModel, store: Store, *, max_upload_bytes: int) -> None:
        self.model, self.store, self.max_upload_bytes = model, store, max_upload_bytes
        # what each correction records as the model it corrects: the hash of the bytes the weights were loaded from
        # (hashing the path here could name a best.ckpt a retrain wrote after the load, not the model reading)
        self.model_sha256 = model.checkpoint_sha256
        self._model_lock = threading.Lock()
        self.pdf_lock = threading.Lock()  # matplotlib's font cache and PDF backend are not made for threads
        # a correction is checked against the view (wave order, an ear marked "no response") and stored as one step:
        # two sent at once (wave III later, wave V earlier) each passed against the view before the other and left
        # III after V (hunt 50a #1)
        self.correction_lock = threading.Lock()
        self._cache: OrderedDict[tuple[str, float | None, str, str], dict[str, Any]] = OrderedDict()

    def analysed(
        self, digest: str, path: Path, filename: str, age_years: float | None, options: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The model's reading of a stored file with the form's age and reading `options` (`form_options`), cached by
        content hash, those settings and `filename`, the name its messages give the file (a re-upload's reply names
        the upload, not the first upload; the patient ids are read from `path`, the hash's stored copy)."""
        options = dict(options or {})
        key = (digest, age_years, options_json(options), filename)
        with self._model_lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
            with tempfile.TemporaryDirectory() as tmp:  # a wide CSV without ages read with the form's Age
                source = with_form_age(path, age_years, Path(tmp)) or path
                age = age_years if source == path else None  # the copy states the form's Age on every row
                try:
                    report = self.model.predict(source, series=True, age_years=age, **options)
                except DataError as exc:
                    raise HTTPException(400, error_text(exc, str(source), filename)) from None
                except Exception as exc:  # a reader tripping over garbage is still bad input, not a server fault
                    text = viewer_text((str(exc).splitlines() or [""])[0].replace(str(source), filename))
                    msg = f"{filename}: could not analyse the file ({type(exc).__name__}: {text})"
                    raise HTTPException(422, msg) from None
                payload = build_payload(report, file_hash=digest, filename=filename, source=str(source),
                                        checkpoint=str(self.model.checkpoint),
                                        model_sha256=self.model_sha256)  # fmt: skip
            if source != path:
                payload["warnings"].append(f"{filename}: the file has no age_years column: read at the form's Age "
                                           f"({age_years:g} years) for every record")  # fmt: skip
            payload["warnings"] = [viewer_text(w) for w in payload["warnings"]]
            payload["reading_options"] = options
            payload["form_age_years"] = age_years  # the form's Age this reading used (None: the file's own ages)
            self._cache[key] = payload
            while len(self._cache) > CACHE_FILES:
                self._cache.popitem(last=False)
            return payload

    def view(self, digest: str, payload: dict[str, Any]) -> dict[str, Any]:
        return with_corrections(payload, self.store.current(digest), self.store.history(digest))

    def to_register(
        self, digest: str, age_years: float | None, options: dict[str, Any], payload: dict[str, Any]
    ) -> tuple[float | None, dict[str, Any]]:
        """The age and reading options to record for a new reading: the file's recorded ones when this reading ran on
        the same inputs anyway (a format with its own age or rate ignores the form's), else the form's. Why: only
        settings that change what the model read may conflict with corrections made with the recorded ones
        (`Store.register` decides)."""
        info = self.store.file_info(digest)
        if info is None or (info.age_years, info.options) == (age_years, options):
            return age_years, options
        same = reading_inputs(self.stored(digest)) == reading_inputs(payload)
        same &= bool(info.options.get("invert")) == bool(options.get("invert"))  # the sign: other samples, same bytes
        return (info.age_years, info.options) if same else (age_years, options)

    def stored(self, digest: str) -> dict[str, Any]:
        return self.reading(digest)[0]

    def registered(self, digest: str) -> StoredFile:
        """The stored file as registered (its path, age and reading options); 404 if no such file was uploaded."""
        info = self.store.file_info(digest)
        if info is None:
            raise HTTPException(404, f"no uploaded file with sha256 {digest}")
        return info

    def reading(self, digest: str) -> tuple[dict[str, Any], StoredFile]:
        """(the model's current reading of a stored file, the file as registered: its age and reading options)
        (404 if unknown)."""
        info = self.registered(digest)
        return self.analysed(digest, info.path, info.path.name, info.age_years, info.options), info


def create_app(model: ABRModel, data_dir: str | Path, *, max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB) -> FastAPI:
    """The app for one loaded model and one data folder (uploads + ``viewer.sqlite``)."""
    max_bytes = int(max_upload_mb * 1e6)
    viewer = Viewer(model, Store(data_dir), max_upload_bytes=max_bytes)
    app = FastAPI(title="abrnet viewer", docs_url="/api/docs", redoc_url=None)
    app.add_middleware(BodyLimit, limit=max_bytes + MULTIPART_SLACK_BYTES)
    app.state.viewer = viewer
    static = resources.files("abrnet.viewer") / "static"

    @app.exception_handler(RequestValidationError)
    async def one_line_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        labels = FORM_FIELDS if request.url.path == "/api/analyze" else {}  # the upload form's fields by their labels
        return JSONResponse({"detail": validation_message(exc.errors(), labels)}, status_code=422)

    @app.get("/", response_class=HTMLResponse)
    def index() -> HTMLResponse:
        return HTMLResponse((static / "index.html").read_text(encoding="utf-8"))

    @app.get("/static/{name}")
    def static_file(name: str) -> Response:
        if name not in STATIC_FILES:
            raise HTTPException(404, "no such file")
        return Response((static / name).read_text(encoding="utf-8"), media_type=STATIC_FILES[name])

    @app.get("/api/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "checkpoint": str(model.checkpoint), "model_sha256": viewer.model_sha256,
                "files": viewer.store.file_count()}  # fmt: skip

    @app.post("/api/analyze")
    def analyze(
        file: UploadFile = File(...),
        age_years: float | None = Form(None),
        stimulus_rate_hz: float | None = Form(None),
        level_db: float | None = Form(None),
        ear: str | None = Form(None),
        fmp: float | None = Form(None),
        invert: bool = Form(False),
        user: str = Form(""),
    ) -> dict[str, Any]:
        name = file.filename or "upload"
        data = file.file.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise HTTPException(413, f"{name}: upload too large: the limit is {max_bytes / 1e6:g} MB")
        if not data:
            raise HTTPException(400, f"{name}: the file is empty (0 bytes)")
        lo, hi = PHYSICAL_RANGES["age_years"]
        if age_years is not None and not lo <= age_years <= hi:  # NaN too; was "could not analyse the file"
            raise HTTPException(422, f"age {age_years:g} years: the Age field takes {lo:g} to {hi:g} years")
        options = form_options(stimulus_rate_hz=stimulus_rate_hz, level_db=level_db, ear=ear, fmp=fmp, invert=invert)
        shown = safe_filename(name)  # the reply's messages name the upload; its patient ids are the stored copy's
        with viewer.store.upload(data, name) as (digest, path):  # path: the hash's first name where it has one
            payload = viewer.analysed(digest, path, shown, age_years, options)
            age, kept = viewer.to_register(digest, age_years, options, payload)
            try:
                first = viewer.store.register(digest, path, age_years=age, user=user_name(user),
                                              options=kept)  # fmt: skip
            except AgeConflictError as exc:
                raise HTTPException(409, f"{name}: {exc}") from None
            if first.path != path:  # another name registered the same bytes first, a moment ago: read as that
                payload = viewer.analysed(digest, first.path, shown, age_years, options)
        view = viewer.view(digest, {**payload, "reading_options": kept})  # the file's (the same reading)
        if shown != first.path.name:  # bytes uploaded before under another name: read as that file, and said so
            view["warnings"].append(renamed_note(shown, first))
        return view

    @app.get("/api/files/{digest}")
    def file_view(digest: str) -> dict[str, Any]:
        return viewer.view(digest, viewer.stored(digest))

    @app.post("/api/files/{digest}/corrections")
    def correct(digest: str, body: CorrectionIn) -> dict[str, Any]:
        payload, info = viewer.reading(digest)
        if "age_years" not in body.model_fields_set:
            raise HTTPException(422, "a correction must carry age_years, the ear's age the page showed (null where it "
                                     "showed none): reload the page and correct again")  # fmt: skip
        check_shown_options("reading_options" in body.model_fields_set, body.reading_options, info.options)
        model_id = (payload["model_sha256"], payload["checkpoint"])  # the model whose reading is corrected
        expected = body.expected_previous if "expected_previous" in body.model_fields_set else UNCHECKED
        with viewer.correction_lock:
            corr = correction_from(body, payload, viewer.view(digest, payload), model_id)
            try:
                viewer.store.add_correction(digest, corr, file_age=info.age_years, file_options=info.options,
                                            expected_previous=expected)  # fmt: skip
            except (AgeConflictError, StaleMarkError) as exc:
                raise HTTPException(409, str(exc)) from None
        return viewer.view(digest, payload)

    @app.get("/api/files/{digest}/history")
    def history(digest: str) -> dict[str, Any]:
        """The audit trail newest first (what a reviewer asks first: what changed last), each entry with the value
        it replaced and a note where it was made against another model than the current one. A store read only:
        an audit over many files need not run the model on each."""
        info = viewer.registered(digest)
        model_id = {"checkpoint": str(model.checkpoint), "model_sha256": viewer.model_sha256}
        entries = history_json(viewer.store.history(digest), model_id)[::-1]
        return {"file_hash": digest, "filename": info.path.name, **model_id, "corrections": entries}

    @app.get("/api/files/{digest}/export.csv")
    def export(digest: str) -> Response:
        view = viewer.view(digest, viewer.stored(digest))
        name = f"{Path(view['filename']).stem}_reviewed.csv"
        return Response(export_csv(view), media_type="text/csv",
                        headers={"Content-Disposition": content_disposition("attachment", name)})  # fmt: skip

    @app.get("/api/files/{digest}/report/{patient_id:path}.pdf")  # path: ids may hold "/" (sent as %2F)
    def report(digest: str, patient_id: str) -> Response:
        view = viewer.view(digest, viewer.stored(digest))
        try:
            with viewer.pdf_lock:
                pdf = patient_pdf(view, patient_id, generated_at=utc_now())
        except KeyError:
            raise HTTPException(404, f"no patient {patient_id!r} in this file") from None
        disposition = content_disposition("inline", f"report_{safe_filename(patient_id.replace('/', '_'))}.pdf")
        return Response(pdf, media_type="application/pdf", headers={"Content-Disposition": disposition})

    return app


def renamed_note(shown: str, first: FirstUpload) -> str:
    """The reply's line for bytes uploaded before under another name: they are read as that file (`Store.register`).
    Why say it: the page names the upload but shows the first name's patient ids (a device export's id is its name)."""
    return (
        f"{shown}: the same bytes as {first.path.name}, uploaded by {first.user or 'anonymous'} at {first.at}: "
        f"read as {first.path.name} (its patient ids and the corrections made on them)"
    )


def reading_inputs(payload: dict[str, Any]) -> list[tuple[Any, ...]]:
    """What the model read each record with besides its samples (the same bytes give the same samples): the ear,
    level, age, rate and FMP. Two readings with equal inputs are the same reading, whatever the form said."""
    keys = ("ear_key", "intensity_db", "age_years", "stimulus_rate_hz", "fmp")
    return [tuple(r[k] for k in keys) for r in payload["records"]]


def validation_message(errors: Any, labels: dict[str, str] | None = None) -> str:
    """FastAPI's list of validation errors as one line naming the field (the page shows ``detail`` as the status
    line, and the project's rule is one clear line per bad input; a JSON list read as "[{'type': ..."); `labels`
    names fields as the user sees them (the upload form's "Rate (/s)", not ``stimulus_rate_hz``)."""
    first = errors[0] if errors else {"loc": (), "msg": "invalid request", "type": ""}
    if first.get("type") == "json_invalid":
        text = f"the request body is not valid JSON ({(first.get('ctx') or {}).get('error', 'unreadable')})"
    elif first.get("type") == "extra_forbidden":  # refused, not ignored: an ignored key once became a silent revert
        text = f"unknown field '{'.'.join(str(p) for p in first.get('loc', ()) if p != 'body')}': not saved"
    else:
        field = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "the request body"
        field = f"form: field '{labels[field]}'" if field in (labels or {}) else field
        got = first.get("input")
        scalar = isinstance(got, str | int | float) and first.get("type") != "missing"
        shown = f", got {got[:40] if isinstance(got, str) else got!r}" if scalar else ""
        text = f"{field}: {first.get('msg', 'invalid')}{shown}"
    return text + (f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else "")


def content_disposition(kind: str, filename: str) -> str:
    """A Content-Disposition header for any file name (RFC 6266): an ASCII ``filename`` for old clients and the
    exact name as UTF-8 in ``filename*``. Why: headers are Latin-1, so a name like "Müller" or "患者" in ``filename``
    alone made the export and the PDF report fail with a server error."""
    fallback = safe_filename(filename).encode("ascii", "replace").decode("ascii").replace("?", "_")
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
