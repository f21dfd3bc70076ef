"""Reading users' recordings for the model: any importable file or a folder of them → one cohort on the model grid.

Every record keeps a ``domain`` extra (`abrnet.inference.domain`, judged on the native grid before resampling) and
the file it came from (``source_file``). Options the files lack are passed through to the readers (`READER_OPTIONS`
and the metadata fields); a field the model needs and nobody gave stops with a one-line error naming the file and
the CLI option. Resampling/cropping is `abrnet.data.resample.cohort_to_model_grid` (one function for all inputs),
then a DC offset beyond the simulated cohort's is removed (`abrnet.data.baseline`), each with a warning.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from abrnet.constants import DEFAULT_N_SAMPLES, DEFAULT_SAMPLING_RATE_HZ, DEFAULT_T0_MS
from abrnet.data.describe import series_conditions
from abrnet.data.importers._common import merge_attrs, option_warnings, unique_patient_ids
from abrnet.data.importers.epl_cfts import dropped_column_warnings
from abrnet.data.noise_estimate import buffer_noise_traces
from abrnet.data.resample import BUFFER_NOISE_EXTRA, RECORDED_EXTRA, recorded_samples
from abrnet.data.schema import ABRCohort, DataError
from abrnet.data.series_key import series_keys
from abrnet.inference.domain import assess_domain
from abrnet.inference.input_warnings import input_warnings
from abrnet.inference.option_names import OptionNames, pass_hint
from abrnet.inference.training_ranges import DEFAULT_RANGES, TrainingRanges

SKIP_NAMES = ("license", "readme", "copying")
# Missing inputs the user must supply: these stop a folder run (skipping every file would hide the fix).
NEEDS_OPTION: tuple[str, ...] = ("age_years", "stimulus_rate_hz", "level_db", "LEVELS", "sampling_rate_hz")


def skipped_warning(path: Path, exc: DataError, named: Sequence[Path]) -> str:
    """The warning for a file of a folder that no reader accepts, or `exc` raised again: a file the user named
    (``named``) must be readable, and a missing option (`NEEDS_OPTION`) would skip every file while hiding the fix.
    One rule for every command that reads folders (predict's `read_many`, `data import`)."""
    if path in named or exc.field in NEEDS_OPTION:
        raise exc
    return f"{path}: skipped ({str(exc).split(': ', 2)[-1]})"


def expand_inputs(paths: Iterable[str | Path]) -> list[Path]:
    """Files named, and every file under folders named (recursively, sorted; hidden files and licences skipped).

    A psiexperiment ABR run folder (`abrnet.data.importers.psi_abr.is_psi_folder`) is one recording spread over
    several files, so it is returned as the folder itself and its files are not listed. Nothing to read (empty
    folders only) is a DataError, as a missing path is: every caller needs at least one file.
    """
    from abrnet.data.importers.psi_abr import is_psi_folder

    named = [Path(p) for p in paths]
    out: list[Path] = []
    for p in named:
        if not p.exists():
            raise DataError(str(p), "<file>", "no such file or folder")
        if p.is_dir() and is_psi_folder(p):
            out.append(p)
        elif p.is_dir():
            entries = sorted(f for f in p.rglob("*") if not any(s.startswith(".") for s in f.parts))
            all_runs = [d for d in entries if d.is_dir() and is_psi_folder(d)]
            runs = [d for d in all_runs if not any(d != r and d.is_relative_to(r) for r in all_runs)]
            found = [f for f in entries if f.is_file() and not any(f.is_relative_to(r) for r in runs)]
            out += sorted([*runs, *(f for f in found if not f.name.lower().startswith(SKIP_NAMES))])
        else:
            out.append(p)
    if not out:
        raise DataError(";".join(map(str, named)), "<file>", "no files found")
    return out


def read_for_model(
    path: str | Path,
    *,
    fmt: str = "auto",
    n_samples: int = DEFAULT_N_SAMPLES,
    option_names: OptionNames | None = None,
    ranges: TrainingRanges = DEFAULT_RANGES,
    **options: Any,
) -> tuple[ABRCohort, list[str]]:
    """One file on the model grid, with its ``domain`` column, and the warnings to show the user (those of records
    outside the training cohort against ``ranges``, the reading model's: `input_warnings`).

    A wide CSV may store its rate and t0 (``sampling_rate_hz``/``t0_ms`` columns, as `abrnet data export` writes
    them); without them they default to the model's (20 kHz, 0 ms), and such a CSV whose rows do not have the
    model's length is refused unless ``sampling_rate_hz`` is given (resampling a file of unknown rate would
    silently shift every latency); a CSV that lacks them gets a warning naming the values assumed (`input_warnings`,
    which a cohort read by `read_recording` gets too). Hints name options as `option_names` spells them
    (`abrnet.inference.option_names`: ``fmp=...`` unless the CLI passes its ``--fmp``).

    On the model grid, every record loses its mean, with a warning naming ears whose median record mean exceeds
    `MAX_BASELINE_OFFSET_UV` (`abrnet.data.baseline`): the one reading path of predict, denoise, evaluate --data and
    the viewer.
    """
    from abrnet.data.importers import detect_format, read_recording

    path = Path(path)
    src = str(path)
    if not path.exists():
        raise DataError(src, "<file>", "no such file")
    kind = detect_format(path) if fmt == "auto" else fmt
    options = {k: v for k, v in options.items() if v is not None}
    cohort = read_recording(path, kind, **options)
    warnings: list[str] = []
    if kind == "csv" and cohort.attrs.get("grid_source") == "default" and cohort.n_samples != n_samples:
        raise DataError(
            src,
            f"s0..s{cohort.n_samples - 1}",
            f"rows have {cohort.n_samples} samples but the model expects {n_samples} ({DEFAULT_SAMPLING_RATE_HZ:g} "
            f"Hz from {DEFAULT_T0_MS:g} ms); {pass_hint(('sampling_rate_hz', 't0_ms'), option_names)} to resample "
            "(line 2)",
            1,
        )
    warnings += option_warnings(cohort.attrs, src)  # options ignored, or replacing a device export's values
    warnings += dropped_column_warnings(cohort.attrs, src)  # an export's control columns, not records
    cohort.extras["domain"] = assess_domain(cohort, model_n=n_samples)
    cohort.extras["source_file"] = np.full(cohort.n_records, path.name).astype(str)
    # what the records are, an assumed time base included: the cohort path (`api._as_cohort`) says it too
    warnings += input_warnings(cohort, src, option_names, ranges)
    on_grid, grid_warnings = on_model_grid(cohort, n_samples)
    return on_grid, warnings + [f"{src}: {w}" for w in grid_warnings]


def on_model_grid(
    cohort: ABRCohort, n_samples: int = DEFAULT_N_SAMPLES, *, detrend: bool = True
) -> tuple[ABRCohort, list[str]]:
    """``cohort`` as the model reads it, with the warnings: resampled and cropped to the model grid
    (`cohort_to_model_grid`), then each record's mean and a slow trend beyond the simulated cohort's removed
    (`remove_baseline_offsets`, `remove_slow_trends`, on the samples taken from the recording). The one way any
    input reaches the model: files (`read_for_model`) and cohorts handed to the Python API alike. ``detrend=False``
    leaves the slow trend in (`benchmarks/slow_trend.py` reads both ways).

    The recorded samples are each record's own (`recorded_samples`): what `cohort_to_model_grid` padded now, and
    what was padded before a model-grid .h5 (`abrnet data import --model-grid`) was written, which arrives on the
    grid already with its ``extras["recorded"]``. Read from the grid alone, such a file was centred over its padding
    and read otherwise than the export it was written from."""
    from abrnet.data.baseline import remove_baseline_offsets, remove_slow_trends
    from abrnet.data.resample import cohort_to_model_grid

    on_grid, grid_warnings = cohort_to_model_grid(cohort, n_samples)
    recorded = recorded_samples(on_grid)  # (N, T) bool
    on_grid, offset_warnings = remove_baseline_offsets(on_grid, recorded)
    on_grid, trend_warnings = remove_slow_trends(on_grid, recorded) if detrend else (on_grid, [])
    return on_grid, grid_warnings + offset_warnings + trend_warnings


def concat_cohorts(parts: list[ABRCohort]) -> ABRCohort:
    """Records of several cohorts on the same grid, one after another. Extras present in every part (same trailing
    shape) are kept; split buffers only when every part has them.

    What buffers give is kept per record all the same, so no file reads differently for the company it is read in
    (hunt 42, #1): FMP is in ``static`` already (computed by the reader), and where some parts lack buffers, every
    record's (A − B)/2 goes to ``extras["buffer_noise_uv"]`` (NaN rows: none), which the residual noise
    (`abrnet.data.noise_estimate`) and the cochlear-microphonic cue (`abrnet.series.microphonic`) read per record;
    ``extras["recorded"]`` (`abrnet.data.resample.recorded_samples`) likewise. Why not NaN rows in ``buffers``
    itself: the schema, the wide-CSV writer and the evaluation's classical baselines read buffers as all-finite.
    The A/B sub-averages themselves are dropped then: `dropped_buffers_warning` names those files.

    Nothing is merged silently: ids named after a file (device exports) that two parts share - two animals'
    ``8 kHz waveform.txt`` in different folders - become the files' paths relative to their common folder; other
    shared ids are refused, as `ABRCohort.concat` refuses them. Provenance attrs equal in every part stay attrs;
    the others (``ear_unknown``, ``fmp_source``, ``format``...) become per-record ``attr_<name>`` extras.
    """
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    cat = lambda name: np.concatenate([getattr(p, name) for p in parts])
    keys = [
        k
        for k in first.extras
        if k not in (BUFFER_NOISE_EXTRA, RECORDED_EXTRA)
        and all(k in p.extras and p.extras[k].shape[1:] == first.extras[k].shape[1:] for p in parts)
    ]
    buffers, extras = None, {}
    if all(p.buffers is not None for p in parts):
        buffers = np.concatenate([p.buffers for p in parts])  # type: ignore[misc]
    else:  # some part lacks buffers: keep every record's (A − B)/2 (n_p, T), or None for a part without any
        traces = [buffer_noise_traces(p) for p in parts]
        if any(t is not None for t in traces):
            none = lambda p: np.full((p.n_records, p.n_samples), np.nan)
            rows = [none(p) if t is None else t for p, t in zip(parts, traces, strict=True)]
            extras[BUFFER_NOISE_EXTRA] = np.concatenate(rows)  # (N, T): NaN rows for records without buffers
    if any(RECORDED_EXTRA in p.extras for p in parts):  # (N, T) bool
        extras[RECORDED_EXTRA] = np.concatenate([recorded_samples(p) for p in parts])
    for k in keys:
        arrays = [p.extras[k] for p in parts]
        extras[k] = (
            np.concatenate([a.astype(str) for a in arrays]) if arrays[0].dtype.kind in "US" else np.concatenate(arrays)
        )
    attrs, per_record = merge_attrs(parts)
    extras.update(per_record)
    attrs["sources"] = ";".join(str(p.attrs.get("source_file", "")) for p in parts)
    return ABRCohort(
        signals=cat("signals"), static=cat("static"), patient_id=unique_patient_ids(parts), ear=cat("ear"),
        latency_ms=cat("latency_ms"), amplitude_uv=cat("amplitude_uv"), class_id=cat("class_id"),
        threshold_db=cat("threshold_db"), no_response=cat("no_response"), sampling_rate_hz=first.sampling_rate_hz,
        t0_ms=first.t0_ms, clean=None, buffers=buffers, extras=extras, attrs=attrs,
    )  # fmt: skip


def dropped_buffers_warning(parts: list[ABRCohort]) -> list[str]:
    """One line naming the files whose split buffers `concat_cohorts` cannot keep (read with files without them);
    none when every file or no file has buffers. Their residual noise and FMP are kept per record, so readings do
    not change, but the A/B sub-averages are gone from the cohort (an .h5 written from it, a wide-CSV export of that
    .h5, the evaluation's classical baselines): the user should know rather than find out."""
    have = [p.buffers is not None for p in parts]
    if all(have) or not any(have):
        return []
    names = [str(p.attrs.get("source_path", p.attrs.get("source_file", f"input {k + 1}"))) for k, p in enumerate(parts)]
    kept = [n for n, h in zip(names, have, strict=True) if h]
    return [
        f"{', '.join(kept)}: split buffers not kept (read with {len(parts) - len(kept)} file(s) without them); their "
        "residual noise (A − B)/2 is kept per record (extras/buffer_noise_uv) and FMP in the static columns, so "
        "readings are unchanged; import them apart to keep the A/B sub-averages"
    ]


def read_many(
    paths: Iterable[str | Path],
    *,
    fmt: str = "auto",
    n_samples: int = DEFAULT_N_SAMPLES,
    progress: Callable[[int, int], None] | None = None,
    option_names: OptionNames | None = None,
    ranges: TrainingRanges = DEFAULT_RANGES,
    **options: Any,
) -> tuple[ABRCohort, list[str]]:
    """Files and folders → one cohort on the model grid. In a folder, files no reader accepts (other formats,
    invalid content) are skipped with a warning naming the reason, but a missing option (`NEEDS_OPTION`) stops the
    run; a file named explicitly must be readable. `option_names`, `ranges`: as `read_for_model`."""
    named = [Path(p) for p in paths]
    files = expand_inputs(named)
    parts, warnings = [], []
    for k, f in enumerate(files):
        try:
            part, w = read_for_model(
                f, fmt=fmt, n_samples=n_samples, option_names=option_names, ranges=ranges, **options
            )
        except DataError as exc:
            warnings.append(skipped_warning(f, exc, named))
        else:
            parts.append(part)
            warnings += w
        if progress is not None:
            progress(k + 1, len(files))
    if not parts:  # the skipped files' reasons die with the run: the one line says the first (hunt 44b #9)
        first = f"; {len(warnings)} file(s) skipped, first {warnings[0]}" if warnings else ""
        raise DataError(str(named[0]), "<format>", f"no readable recordings found{first}")
    cohort = concat_cohorts(parts)
    return cohort, warnings


def mixed_series_warnings(cohort: ABRCohort, most: int = 3) -> list[str]:
    """One line when a series (an ear under one stimulus, `series_keys`) holds records of more than one stimulus
    rate (`series_conditions`).

    Why: the per-series reading (series mode, the viewer) reads an ear's records of one stimulus as one intensity
    series, rates pooled on purpose (a click series may mix rates), so a retrocochlear rate series (11.1/s and
    51.1/s) gets one threshold for both rates, while `abrnet data describe` lists them apart. Two stimuli at one ear
    (8 and 16 kHz tone pips) are two series and need no warning."""
    found: dict[str, dict[str, None]] = {}  # series → its conditions, in file order (one pass: no per-series scan)
    for key, condition in zip(series_keys(cohort).tolist(), series_conditions(cohort).tolist(), strict=True):
        found.setdefault(key, {})[condition] = None
    mixed = {key: list(conditions) for key, conditions in found.items() if len(conditions) > 1}
    if not mixed:
        return []
    shown = "; ".join(f"{k}: {', '.join(v)}" for k, v in list(mixed.items())[:most])
    more = f"; and {len(mixed) - most} more" if len(mixed) > most else ""
    return [
        f"{len(mixed)} series hold more than one stimulus rate ({shown}{more}): a per-series reading "
        "(series mode, the viewer) pools the rates into one threshold (`abrnet data describe` lists them apart)"
    ]
