"""`abrnet evaluate`: a checkpoint on held-out patients → metrics.json, a Markdown summary and figures."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from abrnet.data.files import check_fname, staged_write, write_json
from abrnet.data.schema import ABRCohort, DataError
from abrnet.data.simulate import SimulationConfig, simulate_cohort
from abrnet.data.splits import split_patients
from abrnet.evaluation.classical_threshold import classical_threshold_scores, fit_classical_criteria
from abrnet.evaluation.folder import (
    STARTED,
    Evaluation,
    FolderCheck,
    check_folder,
    evaluation_options,
    evaluation_outputs,
    own_training_file,
    run_record,
)
from abrnet.evaluation.report import metrics_markdown
from abrnet.evaluation.trivial_baselines import (
    TRAINING_SPLIT,
    TrivialBaselines,
    counterfactual_inputs,
    counterfactual_report,
    network_scores,
)
from abrnet.inference.checkpoint import LoadedModel, load_checkpoint
from abrnet.inference.option_names import OptionNames
from abrnet.inference.predictor import RECON_TIMESTEP, inference_device, predict_cohort
from abrnet.inference.training_ranges import DEFAULT_RANGES, TrainingRanges
from abrnet.metrics.builder import check_bootstrap_count, sanitise
from abrnet.metrics.task_metrics import compute_metrics, has_waveform, rowwise_correlation
from abrnet.models.predictions import Predictions
from abrnet.plots.figures import save_figures
from abrnet.series.label_conflicts import label_conflict_warnings
from abrnet.series.per_ear import aggregate_ears
from abrnet.training.cohort_source import model_training_cohort


def split_of(loaded: LoadedModel, cohort: ABRCohort, split: str) -> ABRCohort:
    """The same patient split the model was trained with (`split_patients` with its config's seed and fractions,
    as `training.datamodule.ABRDataModule` draws it; the training-only extra patients come after, so never here)."""
    cfg = loaded.config
    parts = split_patients(
        cohort, seed=cfg.seed, val_fraction=cfg.data.val_fraction, test_fraction=cfg.data.test_fraction
    )
    return cohort.subset(parts[split])


def _signal_against_target(pred: Predictions, data: ABRCohort, metrics: dict) -> None:
    """The reconstruction is of the diffusion target (clean when known): score it against that, and say so.

    `correlation` averages the records whose clean target has a waveform (`has_waveform`); records far below
    threshold have a silent target (exact zero or ~1e-7 µV) and are counted in `n_records_silent_target`.
    `correlation_all_records` keeps every record with a defined correlation, silent targets included.
    """
    sig = metrics["signal"]
    sig["reconstruction_timestep"] = RECON_TIMESTEP
    if data.clean is None or pred.reconstruction is None:
        sig["reconstruction_target"] = "observed"
        return
    r = rowwise_correlation(pred.reconstruction, data.clean)
    waveform = has_waveform(data.clean)
    sig["reconstruction_target"] = "clean"
    _finite_mean(
        metrics, "correlation", r[waveform], "every clean target is silent (< 1 nV RMS) or its reconstruction is flat"
    )
    sig["n_records_scored"] = int((np.isfinite(r) & waveform).sum())
    sig["n_records_silent_target"] = int((~waveform).sum())
    _finite_mean(
        metrics, "correlation_all_records", r, "no record has a defined correlation (flat reconstruction or target)"
    )
    sig["mse"] = float(np.mean((pred.reconstruction - data.clean) ** 2))
    if "v_present" in data.extras:  # records with a physiological response: the ones whose shape can be recovered
        resp = np.asarray(data.extras["v_present"], dtype=bool)
        why = "a defined correlation (flat reconstruction or target)" if resp.any() else "a response (v_present)"
        _finite_mean(metrics, "correlation_with_response", r[resp], f"no record in split has {why}")
        sig["n_records_with_response"] = int(resp.sum())
    metrics.get("intervals", {}).pop("signal.correlation", None)


def _finite_mean(metrics: dict, key: str, x: np.ndarray, reason: str) -> None:
    """The mean of the finite `x` into ``signal.<key>``, or None with `reason`: these figures are written after
    `compute_metrics` sanitised its own, so a NaN (``nanmean`` of all-NaN) went out as a silent null ("nan" in the
    .md)."""
    ok = np.isfinite(x)
    metrics["undefined"].pop(f"signal.{key}", None)
    metrics["signal"][key] = float(x[ok].mean()) if ok.any() else None
    if not ok.any():
        metrics["undefined"][f"signal.{key}"] = reason


def evaluate_model(
    loaded: LoadedModel,
    data: ABRCohort,
    *,
    split: str,
    out_dir: Path | None = None,
    n_bootstrap: int = 200,
    seed: int = 0,
    figures: bool = True,
    overwrite: bool = False,
) -> tuple[dict[str, Any], Predictions]:
    """Predict every record of `data` and compute all metrics over the whole split at once (figures into
    `out_dir`/figures, existing ones replaced only with `overwrite`)."""
    device = inference_device()
    try:
        pred = predict_cohort(
            loaded.model.to(device), data, loaded.normalizer, prediction_type=loaded.prediction_type,
            device=device, seed=seed,
        )  # fmt: skip
    finally:
        loaded.model.to("cpu")  # callers (generation checks, the API) feed it CPU tensors
    metrics = compute_metrics(
        pred, data, split=split, n_bootstrap=n_bootstrap, seed=seed, series_model=loaded.series_model
    )
    _signal_against_target(pred, data, metrics)
    if out_dir is not None and figures:
        metrics["figures"] = [str(p) for p in save_figures(pred, data, out_dir / "figures", overwrite=overwrite)]
    return metrics, pred


COUNTERFACTUAL_RECORDS = 1000  # records (seeded subsample) fed to each counterfactual


def counterfactual_rows(data: ABRCohort, seed: int = 0) -> np.ndarray:
    """Sorted indices of the seeded subsample of `data` whose counterfactuals `counterfactuals` reports."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(data.n_records, min(COUNTERFACTUAL_RECORDS, data.n_records), replace=False))


@dataclasses.dataclass
class FittedBaselines:
    """The trivial baselines and the classical detectors' criteria, fitted once on the model's training split and
    scored on every cohort an evaluation reads (the test split and the fixed-protocol cohort)."""

    trivial: TrivialBaselines
    classical_criteria: dict[str, float | None]

    @classmethod
    def fit(cls, train: ABRCohort, seed: int = 0, fitted_on: str = TRAINING_SPLIT) -> FittedBaselines:
        return cls(TrivialBaselines.fit(train, seed, fitted_on), fit_classical_criteria(train))

    def score(self, data: ABRCohort, reasons: dict[str, str] | None = None) -> dict[str, Any]:
        """Every baseline on `data`; why a figure is None goes into `reasons` as ``<baseline>.<figure>``."""
        return self.trivial.score(data, reasons) | classical_threshold_scores(self.classical_criteria, data, reasons)


def baseline_training_split(
    loaded: LoadedModel, cohort: ABRCohort, *, handed_in: bool, data_path: str | Path | None
) -> tuple[ABRCohort, str]:
    """The records the baselines are fitted on, and what they are: the training split of the model's own training
    cohort (`cohort` itself where neither `data_path` nor a cohort was handed in). A handed-in cohort had its own
    "train" split fitted under that label (with ``split="all"``, records it then scored); where the model's cohort
    cannot be read for one, its own split is fitted and ``fitted_on`` says so (with `data_path` the refusal stands)."""
    if not handed_in and data_path is None:
        return split_of(loaded, cohort, "train"), TRAINING_SPLIT
    try:
        return split_of(loaded, model_training_cohort(loaded), "train"), TRAINING_SPLIT
    except (DataError, OSError) as exc:
        if not handed_in:
            raise
        return split_of(loaded, cohort, "train"), (
            "training split of the cohort handed in, NOT of the model's training cohort, which could not be read "
            f"({exc}); with split='all' its records are among those scored"
        )


def add_shortcut_checks(
    metrics: dict, loaded: LoadedModel, pred: Predictions, data: ABRCohort, baselines: FittedBaselines, *, seed: int = 0
) -> None:
    """`baselines` (trivial, and the classical per-ear threshold detectors), `headline` (network and baselines by the
    same metric code) and `counterfactuals` sections."""
    why: dict[str, dict[str, str]] = {"baselines": {}, "headline.network": {}}  # the network's reason texts
    metrics["baselines"] = baselines.score(data, why["baselines"])
    ears = aggregate_ears(pred, data, loaded.series_model)
    metrics["headline"] = {"network": network_scores(pred, data, ears, why["headline.network"])}
    metrics.setdefault("undefined", {}).update({f"{at}.{k}": v for at, d in why.items() for k, v in d.items()})
    rows = counterfactual_rows(data, seed)
    sub = data.subset(rows)
    p_v = {}
    for name, variant in counterfactual_inputs(sub).items():
        out = predict_cohort(
            loaded.model, variant, loaded.normalizer, prediction_type=loaded.prediction_type,
            with_denoise=False, with_reconstruction=False, seed=seed,
        )  # fmt: skip
        p_v[name] = out.peak_presence_prob[:, 2]
    metrics["counterfactuals"] = counterfactual_report(sub, pred.peak_presence_prob[rows, 2], p_v)


def fixed_protocol_cohort(loaded: LoadedModel, n_patients: int) -> ABRCohort:
    """The class-balanced fixed-grid cohort `fixed_protocol` scores (its own seed: the training seed + 10,007)."""
    seed = loaded.config.seed + 10_007
    return simulate_cohort(SimulationConfig(n_patients=n_patients, balanced=True, protocol="fixed"), seed=seed)


def fixed_protocol_section(
    loaded: LoadedModel, baselines: FittedBaselines, n_patients: int, n_bootstrap: int = 200, seed: int = 0
) -> dict:
    """Per-ear figures on a class-balanced fixed-grid cohort (own seed), with their 95 % patient-bootstrap intervals
    (issue 11's per-ear targets are read here: a point estimate from ~150 patients moves by several points) and
    the baselines beside them."""
    fixed = fixed_protocol_cohort(loaded, n_patients)
    series = loaded.series_model  # the record decision rule is tuned to the training prevalence: plain argmax here
    plain = loaded if series is None else dataclasses.replace(
        loaded, series_model=dataclasses.replace(series, record_class_bias=None)
    )  # fmt: skip
    fixed_metrics, pred = evaluate_model(
        plain, fixed, split="fixed_protocol", n_bootstrap=n_bootstrap, seed=seed, figures=False
    )
    section = {
        "seed": fixed.attrs["seed"],
        "levels_db": list(SimulationConfig().fixed_levels_db),
        "n_records": fixed_metrics["n_records"],
        "per_ear": fixed_metrics["per_ear"],
        "classification": fixed_metrics["classification"],
        "intervals": {k: v for k, v in fixed_metrics["intervals"].items() if k.startswith("per_ear.")},
    }
    add_shortcut_checks(section, plain, pred, fixed, baselines, seed=seed)
    return section


def load_evaluation_data(
    path: str | Path, option_names: OptionNames | None = None, ranges: TrainingRanges = DEFAULT_RANGES
) -> tuple[ABRCohort, list[str]]:
    """A user's `--data` file on the model's grid, with one-line warnings for what the scores cannot be trusted on:
    `predict`'s reader (`read_for_model`), so an abrnet .h5, a wide CSV and a device export are read, checked and
    warned about alike.

    Why: an abrnet .h5 was fed to the network as stored, so a wide CSV failed as "not a readable HDF5 file" and a
    recording on another grid (a mouse export at 100 kHz, 0-17 ms) was scored on samples the network reads as
    20 kHz from 0 ms, without a word about its species, stimulus or level unit. An .h5 then had a reader of its own
    here, which said nothing of a file without FMP. A file already on the model grid (every simulated cohort) is
    returned with its samples unchanged, so its metrics are the same as before. `option_names`: how the hints name
    the options to pass (`read_for_model`; `abrnet evaluate` takes none, so its names point at `abrnet data import`).
    `ranges`: the evaluated model's training cohort, whose outside records are warned about (`training_ranges`).
    """
    from abrnet.inference.inputs import read_for_model

    return read_for_model(path, option_names=option_names, ranges=ranges)


def no_label_warnings(data: ABRCohort, source: str) -> list[str]:
    """One line when `source` carries no label at all (no wave latency, class, threshold or no-response, no clean
    trace): every figure is then undefined ("—"), and a user who ran evaluate on a plain recording should hear why in
    one line, not read a full report of dashes (hunt 42). Its readings are what `abrnet predict` gives."""
    labelled = (
        np.isfinite(data.latency_ms).any()
        or (np.asarray(data.class_id) >= 0).any()
        or np.isfinite(data.threshold_db).any()
        or np.asarray(data.no_response, dtype=bool).any()
        or data.clean is not None
    )
    if labelled:
        return []
    return [f"{source}: no labels (waves, class, threshold, no response): nothing to score, every figure is undefined; "
            "abrnet predict reads the recordings"]  # fmt: skip


def check_split_data(split: str, data_path: str | Path | None, cohort: ABRCohort | None = None) -> None:
    """Refuse ``split="all"`` of the model's own training cohort (no `data_path`, no `cohort`), in one line.

    Why: it scored the patients the model was trained and selected on (and the baselines on their own training
    records), so every figure looked like a held-out one and meant nothing. `evaluate_checkpoint` refuses it before
    anything is read or written; the CLI calls this same check with its other option checks, so the refusal and its
    words live here once (the CLI's ``--data`` is the Python ``data_path``; a `cohort` handed in is the caller's
    own choice of records)."""
    if split == "all" and data_path is None and cohort is None:
        raise DataError(
            "abrnet evaluate", "--split",
            "all needs --data: the training cohort holds the patients the model was trained on (use --split test)",
        )  # fmt: skip


def evaluate_checkpoint(
    checkpoint: str | Path,
    *,
    cohort: ABRCohort | None = None,
    data_path: str | Path | None = None,
    split: str = "test",
    out_dir: str | Path,
    balanced_patients: int = 0,
    n_bootstrap: int = 200,
    seed: int = 0,
    overwrite: bool = False,
    checked: FolderCheck | None = None,
    say: Callable[[str], None] | None = None,
    option_names: OptionNames | None = None,
) -> dict[str, Any]:
    """Evaluate on `split` of the training cohort (or of `data_path`), write metrics.json + metrics.md + figures.
    ``split="all"`` needs `data_path` or `cohort` (`check_split_data`: never every record of the training cohort).

    `balanced_patients > 0` adds `fixed_protocol`: a class-balanced cohort recorded on one fixed level grid (own seed,
    never trained on), where the tested levels say nothing about the threshold, scored per ear beside the baselines.
    Before anything is evaluated the folder is checked once (`check_folder`, then every file of `evaluation_outputs`):
    an existing file is replaced only with `overwrite` (the caller's --force) or by the same evaluation again.
    `checked` is that check already made by the caller (the CLI checks the files with its inputs and generation.json).
    The start marker (`STARTED`) records the evaluation from the first figure until metrics.json and metrics.md are
    written, so a run that dies in between can be run again as it was; metrics.json records the `evaluation_options`
    under ``options``. `say` gets one line as each stage starts (`abrnet train` prints them: the evaluation runs for
    minutes after the fit's progress bar); None, the default, is quiet. `option_names` spells the options the
    `data_path` warnings ask for (`abrnet.inference.option_names`; None: ``fmp=...``, the Python keywords).
    """
    say = say or (lambda line: None)
    check_split_data(split, data_path, cohort)
    check_bootstrap_count(n_bootstrap)  # before anything is read or written
    out_dir = Path(out_dir)
    evaluation = Evaluation(
        Path(checkpoint), None if data_path is None else Path(data_path), split,
        evaluation_options(balanced_patients, n_bootstrap, seed),
    )  # fmt: skip
    if checked is None:
        checked = check_folder(out_dir, evaluation, force=overwrite)
        for path in evaluation_outputs(out_dir).values():
            check_fname(path, overwrite=checked.replace)
    replace = checked.replace
    loaded = load_checkpoint(checkpoint)
    own_file = own_training_file(loaded, data_path, split)  # refused before anything is read or written
    input_warnings: list[str] = []
    handed_in = cohort is not None
    if cohort is None:
        if data_path is not None:
            cohort, input_warnings = load_evaluation_data(data_path, option_names, loaded.ranges)
        else:
            cohort = model_training_cohort(loaded)
    data = split_of(loaded, cohort, split) if split != "all" else cohort
    source = str(data_path) if data_path is not None else "training cohort"
    if data.n_records == 0:
        raise DataError(source, "split", f"the '{split}' split has no records (too few patients to hold any out)")
    if data_path is not None:
        input_warnings += no_label_warnings(data, source) + label_conflict_warnings(data, source)
    recorded = evaluation.record(loaded.model_content_sha256)  # the marker matches by model too (`_same_checkpoint`)
    started = write_json(recorded, out_dir / STARTED, overwrite=replace)  # makes out_dir
    say(f"evaluating the {split} split ({data.n_records} records)…")
    metrics, pred = evaluate_model(
        loaded, data, split=split, out_dir=out_dir, n_bootstrap=n_bootstrap, seed=seed, overwrite=replace
    )
    metrics["checkpoint"] = recorded["checkpoint"]  # as typed (`Evaluation.record`)
    metrics["options"] = evaluation.options
    # which model (weights, config, series stage): `model export --metrics` checks it
    metrics["model_content_sha256"] = loaded.model_content_sha256
    if data_path is not None:
        metrics["data"] = recorded["data"]  # absolute; the targets table titles it (`targets_markdown`)
    if own_file or (data_path is None and loaded.config.data.path is not None):  # a split of the file it trained on
        metrics["training_data"] = str(loaded.config.data.path)
    if input_warnings:
        metrics["input_warnings"] = input_warnings
    train, fitted_on = baseline_training_split(loaded, cohort, handed_in=handed_in, data_path=data_path)
    say(f"scoring the baselines and the counterfactuals ({min(COUNTERFACTUAL_RECORDS, data.n_records)} records)…")
    baselines = FittedBaselines.fit(train, seed, fitted_on)
    add_shortcut_checks(metrics, loaded, pred, data, baselines, seed=seed)
    if balanced_patients > 0:
        say(f"simulating and scoring the fixed-protocol cohort ({balanced_patients} patients)…")
        metrics["fixed_protocol"] = fixed_protocol_section(loaded, baselines, balanced_patients, n_bootstrap, seed)
    record = run_record(checked.previous, checkpoint, loaded.model_content_sha256, run_folder=out_dir)
    metrics.update(record)
    late: dict[str, str] = {}  # a NaN in the sections added after `compute_metrics`' own sanitising: None, said so
    metrics = sanitise(metrics, late)
    metrics["undefined"].update(late)
    write_json(metrics, out_dir / "metrics.json", overwrite=replace)
    md = metrics_markdown(metrics)
    old_md = out_dir / "metrics.md"
    if record and old_md.exists() and "\nTraining: " in (text := old_md.read_text()):
        md = md.rstrip("\n") + "\n\nTraining: " + text.split("\nTraining: ", 1)[1]
    with staged_write(old_md, overwrite=True) as staged:  # checked with the outputs, above
        staged.write_text(md)
    started.unlink()  # metrics.json now says whose files these are
    return metrics
