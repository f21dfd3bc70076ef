"""What a model-grid cohort keeps beside its samples, carried through abrnet's wide CSV (`abrnet.data.csv_io`).

Why: a model-grid .h5 (`abrnet data import --model-grid`) exported to CSV lost three per-record facts, and
`abrnet predict` on the CSV then read other rows than on the .h5 (hunt 44b #1): its padding was written as 0.0 samples
and read back as recorded (the noise read from zeros, a false "noise level far below" domain reason, `abrnet
denoise` running where it refused); the split-buffer noise of a file whose buffers a multi-file cohort could not
keep was dropped (noise from the late window instead of the buffers); and the grid each record was resampled from
was dropped (the domain's ``window: covers 0–8.52 ms`` became the model grid's span of its recorded samples).

How each is written, in cells a spreadsheet user can read:

* recorded samples (``extras["recorded"]``, `abrnet.data.resample.RECORDED_EXTRA`): a sample not taken from the
  recording is an empty cell, in ``s*`` and in ``a_s*``/``b_s*`` alike. The reader takes empty cells only as one
  run at the start and/or the end of a row's ``s*`` cells, the padding a shorter recording gets on a longer grid, read
  as 0.0 µV and marked not recorded, as `cohort_to_model_grid` pads. A blank amid values stays an error: that is a
  lost sample, and no statistic may count it as either noise or padding.
* split-buffer noise (``extras["buffer_noise_uv"]``, the (A − B)/2 trace d, NaN rows: no buffers): the average is
  s = (A + B)/2, so A = s + d and B = s − d go in the existing ``a_s*``/``b_s*`` columns; a row without buffers
  leaves its buffer cells empty and reads as "no buffers". Why not a column block of its own: the format already
  has one place for what split buffers say, and a trace written as A/B is read by every path that reads buffers.
  Read back, every row with buffers: `ABRCohort.buffers`, as before; some rows: the rows' (A − B)/2 in
  ``extras["buffer_noise_uv"]``, NaN elsewhere, as `abrnet.inference.inputs.concat_cohorts` keeps a multi-file .h5
  (the schema reads ``buffers`` as all-finite). d comes back to the float32 rounding of s ± d.
* the native grid (`abrnet.data.resample.resampled_from`): ``native_sampling_rate_hz``, ``native_t0_ms`` and
  ``native_n_samples`` per row, empty where the record was not resampled. Three number columns rather than the
  .h5's text (``25000 Hz, t0 0 ms, 213 samples``): that text holds commas, and one quoted cell sends the whole file
  down the csv module's slow path.

A cohort without any of these is written exactly as before: no empty sample cells, no native columns.
"""

from __future__ import annotations

import math

import numpy as np

from abrnet.data.csv_cells import where
from abrnet.data.fmp import noise_trace
from abrnet.data.resample import (
    BUFFER_NOISE_EXTRA,
    RECORDED_EXTRA,
    RESAMPLED_FROM,
    grid_text,
    parse_grid_text,
    recorded_samples,
    resampled_from,
)
from abrnet.data.schema import ABRCohort, DataError

NATIVE_COLUMNS: tuple[str, ...] = ("native_sampling_rate_hz", "native_t0_ms", "native_n_samples")
# The per-sample extras (N, T) the wide CSV carries; any other (a Fast ABR's CM, a polarity pair) stays in the .h5.
CSV_KEPT_TRACES: tuple[str, ...] = (RECORDED_EXTRA, BUFFER_NOISE_EXTRA)


def sample_values(cohort: ABRCohort) -> tuple[list[str], np.ndarray]:
    """The names of the buffer columns after ``s*`` (``a_s*``, ``b_s*``, or none) and the (N, C) float32 values of
    ``s*`` then those, NaN where the cell is written empty (`float32_texts`): samples not recorded, and the buffer
    cells of a record without buffers. A = s + d, B = s − d where only the (A − B)/2 trace d is kept."""
    T = cohort.n_samples
    blocks: list[np.ndarray] = [cohort.signals]  # (N, T) each
    trace = cohort.extras.get(BUFFER_NOISE_EXTRA)
    if cohort.buffers is not None:
        blocks += [cohort.buffers[:, 0], cohort.buffers[:, 1]]
    elif trace is not None and np.isfinite(trace).all(axis=1).any():
        d = np.array(trace, np.float64)  # (N, T) µV; a copy, so blanking rows below leaves the cohort as it is
        d[~np.isfinite(d).all(axis=1)] = np.nan  # a row with any NaN has no trace (`has_buffer_trace`)
        s = cohort.signals.astype(np.float64)
        blocks += [s + d, s - d]
    names = [f"{p}s{i}" for p in ("a_", "b_") for i in range(T)] if len(blocks) > 1 else []
    values = np.concatenate([np.asarray(b, np.float32) for b in blocks], axis=1)  # (N, C)
    recorded = recorded_samples(cohort)  # (N, T) bool
    if not recorded.all():
        values[np.tile(_padding(recorded), (1, len(blocks)))] = np.nan
    return names, values


def _padding(recorded: np.ndarray) -> np.ndarray:
    """(N, T) bool: the samples not recorded before a record's first recorded sample and after its last, the cells
    `read_padding` reads back. A gap amid recorded samples, or a record with none, is written as its values: the
    resampler pads only the ends, and an empty cell anywhere else would make a file its own reader refuses."""
    before = np.cumsum(recorded, axis=1) == 0  # (N, T)
    after = np.cumsum(recorded[:, ::-1], axis=1)[:, ::-1] == 0
    return (before | after) & recorded.any(axis=1, keepdims=True)


def native_cells(cohort: ABRCohort) -> list[list[str]] | None:
    """Per record the `NATIVE_COLUMNS` cells of the grid it was resampled from (empty: none), or None when no record
    names one (the columns are then not written)."""
    grids = [parse_grid_text(text) for text in resampled_from(cohort).tolist()]
    if all(g is None for g in grids):
        return None
    return [["", "", ""] if g is None else [repr(g[0]), repr(g[1]), str(g[2])] for g in grids]


def read_native(src: str, body: list[list[str]], col: dict[str, int]) -> tuple[dict[str, str], dict[str, np.ndarray]]:
    """The attrs and extras of the native grids the `NATIVE_COLUMNS` of ``body`` (rows of cells; ``col``: column
    positions) state: one grid for every row is ``attrs["resampled_from"]``; rows that differ, or rows without one,
    an ``attr_resampled_from`` column ("" where none), as `abrnet.data.importers._common.merge_attrs` keeps a file-wide
    attr that differs. Nothing without the columns; one or two of the three is an error."""
    present = [name for name in NATIVE_COLUMNS if name in col]
    if not present:
        return {}, {}
    if len(present) < len(NATIVE_COLUMNS):
        missing = next(name for name in NATIVE_COLUMNS if name not in col)
        raise DataError(
            src, missing, f"required beside {', '.join(present)}: a native grid is all three ({where(0)})", 0
        )
    cells = [[cells[col[name]] for name in NATIVE_COLUMNS] for cells in body]
    texts = []
    for i, row in enumerate(cells):
        stated = [c.strip() for c in row]
        if not any(stated):
            texts.append("")
            continue
        values: list[float] = []
        for name, text in zip(NATIVE_COLUMNS, stated, strict=True):
            try:
                x = float(text)
            except ValueError:
                what = f"{text!r} is not a number" if text else "empty, but the row states a native grid (all or none)"
                raise DataError(src, name, f"{what} ({where(i + 1)})", i + 1) from None
            ok = math.isfinite(x) and (name == "native_t0_ms" or x > 0)
            if not ok or (name == "native_n_samples" and x != int(x)):
                expect = {"native_t0_ms": "a finite time", "native_n_samples": "a whole number > 0"}.get(name, "> 0")
                raise DataError(src, name, f"must be {expect}, got {text} ({where(i + 1)})", i + 1)
            values.append(x)
        texts.append(grid_text(values[0], values[1], int(values[2])))
    if len(set(texts)) == 1 and texts[0]:
        return {RESAMPLED_FROM: texts[0]}, {}
    return {}, {f"attr_{RESAMPLED_FROM}": np.array(texts, dtype=str)}


def read_padding(
    src: str, header: list[str], empty: np.ndarray, cols: list[int], T: int
) -> tuple[np.ndarray | None, np.ndarray]:
    """(N, T) bool recorded samples (None: every sample recorded) and (N,) bool rows with split buffers, from the
    (N, C) empty sample cells ``empty`` (columns ``cols`` of ``header``: ``s*``, then ``a_s*`` and ``b_s*`` if any).

    Refused, naming the first cell: an empty ``s*`` cell amid values (a lost sample), a row with no ``s*`` value, a
    row with one buffer of A/B and not the other, and buffer cells empty other than where the row's ``s*`` is."""
    s_empty = empty[:, :T]  # (N, T)
    if s_empty.any():
        held = ~s_empty
        if not (some := held.any(axis=1)).all():
            row = int(np.argmin(some)) + 1
            raise DataError(src, header[cols[0]], f"every s* cell is empty: a record needs samples ({where(row)})", row)
        first = held.argmax(axis=1)  # (N,)
        last = T - 1 - held[:, ::-1].argmax(axis=1)  # (N,)
        k = np.arange(T)
        hole = s_empty & (k >= first[:, None]) & (k <= last[:, None])  # (N, T): blank between values
        if hole.any():
            i, j = divmod(int(np.argmax(hole.ravel())), T)
            raise DataError(src, header[cols[j]], f"empty cell ({where(i + 1)})", i + 1)
    has_buffers = np.zeros(len(empty), bool)
    if empty.shape[1] > T:
        a_empty, b_empty = empty[:, T : 2 * T], empty[:, 2 * T :]  # (N, T) each
        none_a, none_b = a_empty.all(axis=1), b_empty.all(axis=1)
        if (odd := none_a != none_b).any():
            i = int(np.argmax(odd))
            empty_block, full_block = ("a_", "b_") if none_a[i] else ("b_", "a_")
            msg = f"every {empty_block}s* cell is empty but the {full_block}s* cells hold values: give both or neither"
            raise DataError(src, f"{empty_block}s0", f"{msg} ({where(i + 1)})", i + 1)
        has_buffers = ~none_a
        for offset, block in ((T, a_empty), (2 * T, b_empty)):
            bad = (block != s_empty) & has_buffers[:, None]  # (N, T)
            if bad.any():
                i, j = divmod(int(np.argmax(bad.ravel())), T)
                what = (
                    "empty cell"
                    if block[i, j]
                    else f"holds a value where {header[cols[j]]} is empty (a sample not recorded has no buffer value)"
                )
                raise DataError(src, header[cols[offset + j]], f"{what} ({where(i + 1)})", i + 1)
    return (None if not s_empty.any() else ~s_empty), has_buffers


def padded_extras(
    recorded: np.ndarray | None, buffers: np.ndarray | None, has_buffers: np.ndarray
) -> tuple[np.ndarray | None, dict[str, np.ndarray]]:
    """`ABRCohort.buffers` and the extras of what `read_padding` found: ``buffers`` (N, 2, T) as read kept only when
    every row has them; else the rows' (A − B)/2 as ``extras["buffer_noise_uv"]`` (NaN rows: none), as a multi-file
    cohort keeps them; ``extras["recorded"]`` where a sample was not recorded."""
    extras: dict[str, np.ndarray] = {}
    if recorded is not None:
        extras[RECORDED_EXTRA] = np.ascontiguousarray(recorded)  # (N, T)
    if buffers is None or has_buffers.all():
        return buffers, extras
    if has_buffers.any():
        trace = noise_trace(buffers[:, 0].astype(np.float64), buffers[:, 1].astype(np.float64))  # (N, T)
        trace[~has_buffers] = np.nan
        extras[BUFFER_NOISE_EXTRA] = trace
    return None, extras
