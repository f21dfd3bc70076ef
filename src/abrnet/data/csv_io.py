"""abrnet's wide CSV: one recording per line, so a cohort can be made or checked in a spreadsheet.

Layout (header names are exact, lower/upper case as written here):

* metadata, required: ``patient_id, ear, age_years, intensity_db, stimulus_rate_hz, fmp``
  (``fmp`` may be left out when split-buffer columns are present, see below); an empty ``ear`` is "not recorded":
  read as "R" with ``attrs["ear_unknown"]`` like a device file, and written for every ear a reader assumed
  (`abrnet.data.schema.ears_assumed`), so an export never turns an assumed ear into a recorded one; a patient with
  both empty and L/R ears is an error (the empty ones cannot be assumed beside recorded ears); ``Left``/``Right``
  read as L/R, as in device files (`abrnet.data.ears`); ``--ear`` (``ear=``) fills the empty cells, as ``--fmp``
  fills empty FMP cells (`abrnet.data.importers.options.fill_empty_cells`), and leaves the stated ones;
* labels, optional: ``class`` (a name from CLASS_NAMES, empty = unknown), ``threshold_db``, ``no_response``
  (0/1/true/false, empty = false; written empty for a record with neither class nor threshold, as "0" would read as
  a response nobody labelled) and ``{I,III,V}_latency_ms`` / ``{I,III,V}_amplitude_uv``; empty = not labelled;
* samples, required: ``s0, s1, ..., s{T-1}`` in µV, contiguous and in order; empty cells only as a run at the start
  and/or end of a row: samples not recorded (padding, read as 0.0 with ``extras["recorded"]``: `csv_recorded`);
* split buffers, optional: ``a_s0..a_s{T-1}`` and ``b_s0..b_s{T-1}`` (µV), the two interleaved sub-averages; a row
  whose buffer cells are all empty has none (`csv_recorded`: how a cohort keeping only (A − B)/2 is written).
  Every row without an ``fmp`` value (no column, or an empty cell: the device did not measure it) gets Fmp computed
  from them (`abrnet.data.fmp.buffer_fmp` over `abrnet.data.fmp.FMP_WINDOW_MS`); a stated value is kept. Without
  buffers an empty cell is NaN: not measured. They are kept in `ABRCohort.buffers` (N, 2, T) (where some rows have
  none: their (A − B)/2) and written back by `write_wide_csv`.
  ``attrs["fmp_source"]`` says where FMP came from: ``given``, ``split_buffers``, ``given+split_buffers`` (some
  rows each), or ``missing`` when no row has a value.
* recording, optional (written by `write_wide_csv` so an export keeps what the cohort records):
  ``sampling_rate_hz`` and ``t0_ms``, one value for the whole file repeated on every row (a file without them takes
  the caller's ``--sampling-rate``/``--t0-ms``, else 20 kHz from 0 ms, marked ``attrs["grid_assumed"]`` for the
  reader's warning; a column that disagrees with the option is an error, never silently overridden); ``species``,
  ``stimulus``, ``stimulus_freq_hz``, ``level_unit``, ``polarity`` per row (`abrnet.data.metadata`; an empty cell
  is "unknown"/NaN). Without these columns a record reads as the abrnet format documents it (human click, dB nHL:
  `abrnet.data.importers.read_recording`); ``native_sampling_rate_hz, native_t0_ms, native_n_samples`` per row, the
  grid a model-grid record was resampled from (`csv_recorded`; empty: not resampled).

Unnamed columns at the end of the header whose cells are all empty (a spreadsheet's trailing comma) are ignored.

``clean`` and the other extras and attrs are not in the file (`csv_recorded`: those it keeps).

Row numbering in errors: ``row k`` counts records from 1 (the first line below the header is row 1); row 0 is the
header. The message also gives the file line (``line k + 1``), which is what an editor shows when no cell spans lines.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np

from abrnet.constants import CLASS_NAMES, STATIC_PARAMS, WAVES
from abrnet.data.csv_cells import (
    SAMPLE,
    check_row_lengths,
    check_sample_columns,
    check_samples,
    drop_unnamed_tail,
    file_value,
    float32_cell,
    float32_texts,
    read_sample_cells,
    where,
)
from abrnet.data.csv_recorded import (
    NATIVE_COLUMNS,
    native_cells,
    padded_extras,
    read_native,
    read_padding,
    sample_values,
)
from abrnet.data.ears import assume_ears, ear_of, recorded_ears, unassumable
from abrnet.data.files import CSV_SUFFIXES, check_fname, check_suffix, staged_write
from abrnet.data.fmp import FMP_FROM_BUFFERS, buffer_fmp, fmp_window
from abrnet.data.importers.options import check_text_option, fill_empty_cells
from abrnet.data.metadata import METADATA_FIELDS, STIMULUS_FREQ_HZ, normalise
from abrnet.data.schema import ABRCohort, DataError, ears_assumed

META_COLUMNS: tuple[str, ...] = ("patient_id", "ear", "age_years", "intensity_db", "stimulus_rate_hz", "fmp")
GRID_COLUMNS: tuple[str, ...] = ("sampling_rate_hz", "t0_ms")
RECORDING_COLUMNS: tuple[str, ...] = (*GRID_COLUMNS, *NATIVE_COLUMNS, *METADATA_FIELDS)
LABEL_COLUMNS: tuple[str, ...] = (
    "class",
    "threshold_db",
    "no_response",
    *(f"{w}_{kind}" for w in WAVES for kind in ("latency_ms", "amplitude_uv")),
)
_TRUE = {"1", "true", "yes", "y", "t"}
_FALSE = {"0", "false", "no", "n", "f", ""}


def _fmt64(x: float) -> str:
    """Exact text of a float64 (rates, times, frequencies are not float32 data); '' for NaN = not recorded."""
    return "" if math.isnan(x) else repr(float(x))


def write_wide_csv(cohort: ABRCohort, path: str | Path, *, force: bool = False) -> Path:
    """Write `cohort` as a wide CSV; refuse to replace an existing file unless ``force``, or a name not ending in
    .csv (`check_wide_csv_name`).

    Every label column is written (empty cells for missing labels) so the file documents the full layout. The grid
    (rate, t0) and the recording metadata the cohort has are written too: without them a mouse tone-pip series
    would read back as the format's default, a human click in dB nHL at 20 kHz.
    """
    path = check_fname(check_wide_csv_name(path), overwrite=force)
    cohort.validate(source="<cohort to write>")
    assumed = ears_assumed(cohort)
    meta = [k for k in METADATA_FIELDS if k in cohort.extras]
    native = native_cells(cohort)  # per record, or None: no record was resampled (no columns)
    buffer_names, samples = sample_values(cohort)  # (N, C) µV float32, NaN: an empty cell (not recorded, no buffers)
    header = [*META_COLUMNS, *GRID_COLUMNS, *(NATIVE_COLUMNS if native else ()), *meta, *LABEL_COLUMNS]
    header += [*(f"s{i}" for i in range(cohort.n_samples)), *buffer_names]
    grid = [_fmt64(cohort.sampling_rate_hz), _fmt64(cohort.t0_ms)]
    with staged_write(path, overwrite=force) as staged, staged.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for i in range(cohort.n_records):
            static = float32_texts(cohort.static[i])  # as typed: 33.1, not 33.0999985
            cid = int(cohort.class_id[i])
            labels = [CLASS_NAMES[cid] if cid >= 0 else "", *float32_texts(cohort.threshold_db[i : i + 1])]
            labelled = cid >= 0 or bool(np.isfinite(cohort.threshold_db[i]))  # an unlabelled record: "" (not 0)
            labels.append("1" if cohort.no_response[i] else "0" if labelled else "")
            waves = np.column_stack([cohort.latency_ms[i], cohort.amplitude_uv[i]]).ravel()  # I lat, I amp, III ...
            labels += float32_texts(waves)
            recording = [
                _fmt64(cohort.extras[k][i]) if k == STIMULUS_FREQ_HZ else str(cohort.extras[k][i]) for k in meta
            ]
            ear = "" if assumed[i] else str(cohort.ear[i])  # an assumed ear stays "not recorded"
            row = [str(cohort.patient_id[i]), ear, *static, *grid, *(native[i] if native else ()), *recording, *labels]
            row += float32_texts(samples[i])  # as typed; '' where not recorded
            writer.writerow(row)
    return path


def check_wide_csv_name(path: str | Path, field: str = "<file>") -> Path:
    """``path`` if it is named as CSV, else a one-line DataError naming ``field`` (the option it came from):
    ``--out exp.h5`` once wrote CSV text under an HDF5 name, which every HDF5 reader then refused as corrupt."""
    return check_suffix(path, CSV_SUFFIXES, "a wide CSV (comma-separated text)", field=field)


def _refuse_blank_beside_labelled(src: str, patient_id: list[str], ear: list[str]) -> None:
    """A DataError at the first empty ear whose patient has ear-labelled records elsewhere in the file (the rule and
    its reason: `abrnet.data.ears.unassumable`)."""
    blank = np.array(ear, dtype=str) == ""
    if not blank.any() or blank.all():  # nothing assumed, or nothing recorded: no record to refuse
        return
    labelled = recorded_ears(patient_id, ear, blank)
    if (bad := unassumable(patient_id, blank, labelled)).size:
        i = int(bad[0])
        ears = " and ".join(sorted(labelled[patient_id[i]]))
        msg = f"empty, but patient {patient_id[i]!r} has records labelled {ears}, so this one's ear cannot be assumed"
        raise DataError(src, "ear", f"{msg}; write L or R ({where(i + 1)})", i + 1)


def read_wide_csv(
    path: str | Path,
    *,
    sampling_rate_hz: float | None = None,
    t0_ms: float | None = None,
    fmp: float | None = None,
    ear: str | None = None,
) -> ABRCohort:
    """Read and validate a wide CSV (layout in the module docstring) into an `ABRCohort`.

    ``sampling_rate_hz``/``t0_ms`` (None = not given) apply to a file without those columns (default 20 kHz from
    0 ms); a file with them must agree, so an option can never silently re-time recorded samples.

    A row without an ``fmp`` value (no column, or an empty cell) takes Fmp from its ``a_s*``/``b_s*`` buffers;
    without those either it is NaN ("not measured": the model has a state for it). ``fmp`` (the device's value, as
    ``--fmp`` gives it) fills the rows still without one; a file with a value on every row ignores it (and says so).
    ``ear`` (``--ear``) fills the empty ear cells by the same rule (`fill_empty_cells`), so the "records name no ear"
    warning's advice to pass it works here as for a device export.
    """
    path = Path(path)
    src = str(path)
    if sampling_rate_hz is not None and not (math.isfinite(sampling_rate_hz) and sampling_rate_hz > 0):
        raise DataError(src, "sampling_rate_hz", f"must be > 0, got {sampling_rate_hz:g} (the option)")
    if t0_ms is not None and not math.isfinite(t0_ms):
        raise DataError(src, "t0_ms", f"must be finite, got {t0_ms}")
    if ear is not None:
        check_text_option("ear", ear, source=src)
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            text = fh.read()
        # fast path: no quoting and plain \n / \r\n line ends, so a record is one line and a cell never holds a comma
        lines = text.split("\n") if '"' not in text and text.count("\r") == text.count("\r\n") else None
        if lines is not None:
            lines = [line.removesuffix("\r") for line in lines]
            rows = [lines[0].split(",")] if lines[0].strip() else []
        else:
            rows = list(csv.reader(io.StringIO(text, newline="")))
    except FileNotFoundError:
        raise DataError(src, "<file>", "file not found") from None
    except UnicodeDecodeError as exc:
        raise DataError(src, "<file>", f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except csv.Error as exc:
        raise DataError(src, "<file>", f"malformed CSV: {exc}") from None
    if not rows or not any(c.strip() for c in rows[0]):
        raise DataError(src, "<header>", "file is empty: expected a header row (header, line 1)", 0)
    header = [c.strip() for c in rows[0]]
    body_lines = lines[1:] if lines is not None else []
    while body_lines and not body_lines[-1].replace(",", "").strip():
        body_lines.pop()  # tolerate trailing blank lines only
    body: list[list[str]] = rows[1:]
    while body and not any(c.strip() for c in body[-1]):
        body.pop()  # tolerate trailing blank lines only
    if not body and not body_lines:
        raise DataError(src, "<rows>", "no records below the header (line 2)", 1)
    if lines is not None:  # a spreadsheet's trailing comma: an unnamed column, ignored where it is empty
        header, body_lines = drop_unnamed_tail(src, header, body_lines)
    else:
        header, body = drop_unnamed_tail(src, header, body)

    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise DataError(src, name, f"column appears twice ({where(0)})", 0)
        seen.add(name)
        if name not in (*META_COLUMNS, *RECORDING_COLUMNS, *LABEL_COLUMNS) and not SAMPLE.match(name):
            raise DataError(
                src,
                name,
                f"unknown column (expected metadata {', '.join(META_COLUMNS)}, recording "
                f"{', '.join(RECORDING_COLUMNS)}, labels {', '.join(LABEL_COLUMNS)}, samples s0..; {where(0)})",
                0,
            )
    missing = [c for c in META_COLUMNS if c not in seen and c != "fmp"]
    if missing:
        says = "abrnet's wide CSV states it on every row; --age/--rate/--ear fill only device exports"
        raise DataError(src, missing[0], f"required column missing ({where(0)}; {says})", 0)
    s_cols = check_sample_columns(src, header, "")
    if not s_cols:
        raise DataError(src, "s0", f"required column missing: no sample columns s0, s1, ... ({where(0)})", 0)
    a_cols = check_sample_columns(src, header, "a_")
    b_cols = check_sample_columns(src, header, "b_")
    T = len(s_cols)
    for prefix, cols in (("a_", a_cols), ("b_", b_cols)):
        if cols and len(cols) != T:
            raise DataError(src, f"{prefix}s{len(cols)}", f"has {len(cols)} buffer samples, s* has {T} ({where(0)})", 0)
    if bool(a_cols) != bool(b_cols):
        raise DataError(src, "b_s0" if a_cols else "a_s0", f"split buffers need both a_s* and b_s* ({where(0)})", 0)

    col = {name: j for j, name in enumerate(header)}
    sample_cols = [*s_cols, *a_cols, *b_cols]
    if lines is not None:  # split only the cells before the samples (all of them if a label column follows)
        check_row_lengths(src, body_lines, len(header))
        in_samples = set(sample_cols)
        others_first = max(j for j in range(len(header)) if j not in in_samples) < min(sample_cols)
        lead = min(sample_cols) if others_first else -1
        body = [line.split(",", lead) for line in body_lines]
    n = len(body)

    def number(i: int, name: str, *, allow_empty: bool) -> float:
        text = body[i][col[name]].strip()
        if text == "" and allow_empty:
            return math.nan
        try:
            value = float(text)
        except ValueError:
            what = "empty cell" if text == "" else f"{text!r} is not a number"
            raise DataError(src, name, f"{what} ({where(i + 1)})", i + 1) from None
        return value if name in GRID_COLUMNS or name == STIMULUS_FREQ_HZ else float32_cell(src, name, value, i + 1)

    static = np.full((n, len(STATIC_PARAMS)), np.nan, np.float32)
    latency = np.full((n, len(WAVES)), np.nan, np.float32)
    amplitude = np.full((n, len(WAVES)), np.nan, np.float32)
    class_id = np.full(n, -1, np.int64)
    threshold = np.full(n, np.nan, np.float32)
    no_response = np.zeros(n, bool)
    patient_id: list[str] = []
    ear_cells: list[str] = []
    if lines is None:
        check_row_lengths(src, body, len(header))
    for i, cells in enumerate(body):
        row = i + 1
        pid = cells[col["patient_id"]].strip()
        if not pid:
            raise DataError(src, "patient_id", f"empty ({where(row)})", row)
        patient_id.append(pid)
        text = cells[col["ear"]].strip()
        e = ear_of(text) if text else ""  # empty: not recorded (`assume_ears`)
        if e is None:
            msg = f"must be L or R (or Left/Right; empty: not recorded), got {cells[col['ear']]!r} ({where(row)})"
            raise DataError(src, "ear", msg, row)
        ear_cells.append(e)
        for j, name in enumerate(STATIC_PARAMS):
            if name in col:
                static[i, j] = number(i, name, allow_empty=name == "fmp")
        cname = cells[col["class"]].strip().upper() if "class" in col else ""
        if cname:
            if cname not in CLASS_NAMES:
                expected = f"expected one of {', '.join(CLASS_NAMES)} or empty"
                raise DataError(src, "class", f"unknown class {cells[col['class']]!r}, {expected} ({where(row)})", row)
            class_id[i] = CLASS_NAMES.index(cname)
        if "threshold_db" in col:
            threshold[i] = number(i, "threshold_db", allow_empty=True)
        if "no_response" in col:
            flag = cells[col["no_response"]].strip().lower()
            if flag not in _TRUE | _FALSE:
                raise DataError(src, "no_response", f"expected 0/1/true/false, got {flag!r} ({where(row)})", row)
            no_response[i] = flag in _TRUE
        for w, wave in enumerate(WAVES):
            for arr, kind in ((latency, "latency_ms"), (amplitude, "amplitude_uv")):
                name = f"{wave}_{kind}"
                if name in col:
                    arr[i, w] = number(i, name, allow_empty=True)
    # (N, C) µV as read (s*, a_s*, b_s*) and (N, C) empty cells: not recorded, or no buffers (`read_padding`)
    values, empty = read_sample_cells(src, header, body_lines if lines is not None else body, sample_cols)
    check_samples(src, header, values, sample_cols, T)  # as read: the float32 cast would turn 1e39 into inf
    recorded, has_buffers = read_padding(src, header, empty, sample_cols, T)  # (N, T) or None, (N,)
    signals = values[:, :T].astype(np.float32)  # (N, T)
    ab = values[:, T:].astype(np.float32).reshape(n, 2, T) if a_cols else None  # (N, 2, T) A, B; rows without: 0

    column = lambda name: np.array([number(i, name, allow_empty=False) for i in range(n)]) if name in col else None
    rate = file_value(src, "sampling_rate_hz", column("sampling_rate_hz"), sampling_rate_hz, "--sampling-rate")
    t0 = file_value(src, "t0_ms", column("t0_ms"), t0_ms, "--t0-ms")
    extras: dict[str, np.ndarray] = {}
    for key in (k for k in METADATA_FIELDS if k in col):
        if key == STIMULUS_FREQ_HZ:
            extras[key] = np.array([number(i, key, allow_empty=True) for i in range(n)], np.float64)
            continue
        values = []
        for i, cells in enumerate(body):
            try:
                values.append(normalise(key, cells[col[key]]))
            except ValueError as exc:
                raise DataError(src, key, f"{exc} ({where(i + 1)})", i + 1) from None
        extras[key] = np.array(values, dtype=str)
    attrs: dict[str, str | float | int] = {"source_file": path.name}
    native_attrs, native_extras = read_native(src, body, col)  # the grids a model-grid export was resampled from
    attrs |= native_attrs
    extras |= native_extras
    cells = np.array(ear_cells, dtype=str)  # an empty cell is "not recorded": --ear fills it, as --fmp an FMP cell
    cells[fill_empty_cells(attrs, "ear", cells == "", ear)] = ear_of(ear or "") or ""
    # mixed empty and L/R cells: the known ears stay, and a per-record column marks the assumed (`ears_assumed`)
    _refuse_blank_beside_labelled(src, patient_id, cells.tolist())
    ears, ear_attrs, ear_extras = assume_ears(cells.tolist())
    attrs |= ear_attrs
    extras |= ear_extras
    # where the time grid came from: a file of unknown rate must not be resampled on a guess (`read_for_model`)
    attrs["grid_source"] = (
        "file" if "sampling_rate_hz" in col else "option" if sampling_rate_hz is not None else "default"
    )
    options = {"sampling_rate_hz": sampling_rate_hz, "t0_ms": t0_ms}
    if assumed := [name for name in GRID_COLUMNS if name not in col and options[name] is None]:
        attrs["grid_assumed"] = ",".join(assumed)  # neither column nor option: the default, said by `read_for_model`
    k_fmp = STATIC_PARAMS.index("fmp")
    stated = np.isfinite(static[:, k_fmp])  # no column or an empty cell: not measured by the device
    window = fmp_window(t0 + np.arange(signals.shape[1]) * 1000.0 / rate)  # the simulator's 4–10 ms (None: not reached)
    if ab is not None and window is not None and (measure := ~stated & has_buffers).any():  # (identical: NaN)
        static[measure, k_fmp] = buffer_fmp(ab[measure], window)
    buffers, padding = padded_extras(recorded, ab, has_buffers)  # all rows' A/B, else the rows' (A − B)/2 in extras
    extras |= padding
    from_buffers = np.isfinite(static[:, k_fmp]) & ~stated
    filled = fill_empty_cells(attrs, "fmp", ~np.isfinite(static[:, k_fmp]), fmp)
    if fmp is not None:
        static[filled, k_fmp] = fmp
    kinds = (("given", stated | filled), (FMP_FROM_BUFFERS, from_buffers))
    attrs["fmp_source"] = "+".join(name for name, rows in kinds if rows.any()) or "missing"
    cohort = ABRCohort(
        signals=signals,
        static=static,
        patient_id=np.array(patient_id, dtype=str),
        ear=ears,
        latency_ms=latency,
        amplitude_uv=amplitude,
        class_id=class_id,
        threshold_db=threshold,
        no_response=no_response,
        sampling_rate_hz=rate,
        t0_ms=t0,
        buffers=buffers,
        extras=extras,
        attrs=attrs,
    )
    try:
        return cohort.validate(source=src)
    except DataError as exc:  # re-number rows as the user sees them in the file
        if exc.row is None:
            raise
        prefix = f"{src}: field '{exc.field}', row {exc.row}: "
        message = str(exc).removeprefix(prefix)
        row = exc.row + 1
        raise DataError(src, exc.field, f"{message} ({where(row)})", row) from None
