"""The series stage `abrnet train` fits after the network: per-ear class and no-response, threshold crossing and
interval, the per-record class decision rule and the latency/amplitude blend, all read off the network's outputs.

It is fitted on ears the network never saw. Default data: a class-balanced simulated cohort with its own seed (the
rare classes need examples), and for the long-grid threshold interval also a class-balanced fixed-grid cohort (own
seed; a mixed cohort holds too few long grids); a user's file: its validation split. The series-informed
latency/amplitude blend is always fitted on the validation split: it learns how far to trust a record against its
neighbours at the cohort's own prevalence, and a blend fitted on the balanced cohort transferred badly (measured:
V amplitude R² 0.667 vs 0.692 with the validation split).

`fit_series_model` takes the network as a function from a cohort to its predictions, so an analysis that changes how
the network is read (benchmarks/condition_guidance.py) refits the stage exactly as training does.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from abrnet.config.train_config import TrainConfig
from abrnet.data.schema import ABRCohort
from abrnet.data.simulate import SimulationConfig, simulate_cohort
from abrnet.inference.checkpoint import SERIES_KEY, load_checkpoint
from abrnet.inference.predictor import inference_device, predict_cohort
from abrnet.models.predictions import Predictions
from abrnet.series.classifier import (
    SeriesClassifier,
    fit_record_class_bias,
    fit_series_classifier,
    fit_threshold_point,
    fit_threshold_quantiles,
)
from abrnet.series.peaks import fit_peak_blend
from abrnet.training.datamodule import ABRDataModule

SERIES_SEED_OFFSET = 20_011  # the simulated series-stage cohort's seed: the training seed + this
LONG_GRID_SEED_OFFSET = 20_013  # its fixed-grid cohort's (evaluation's fixed cohort: + 10,007)


def series_fit_cohort(cfg: TrainConfig, val: ABRCohort) -> tuple[ABRCohort, str]:
    """The ears the stage is fitted on, and a line naming them (module doc); ``val``: the validation split."""
    if cfg.data.path is None:
        sim = SimulationConfig(n_patients=cfg.series.patients, balanced=True)
        seed = cfg.seed + SERIES_SEED_OFFSET
        return simulate_cohort(sim, seed=seed), f"simulated balanced, seed {seed}"
    return val, "validation split"


def long_grid_fit_cohort(cfg: TrainConfig) -> tuple[ABRCohort, str] | None:
    """Default data: the class-balanced fixed-grid cohort whose ears join the series-stage ears for the long-grid
    interval pair (`fit_threshold_quantiles`), and a line naming them; None for a user's file or 0 patients."""
    if cfg.data.path is not None or cfg.series.long_grid_patients == 0:
        return None
    sim = SimulationConfig(n_patients=cfg.series.long_grid_patients, balanced=True, protocol="fixed")
    seed = cfg.seed + LONG_GRID_SEED_OFFSET
    return simulate_cohort(sim, seed=seed), f"simulated balanced fixed-grid, seed {seed}"


def fit_series_model(
    cfg: TrainConfig,
    heads: Callable[[ABRCohort], Predictions],
    fit_cohort: ABRCohort,
    source: str,
    val: ABRCohort,
) -> SeriesClassifier:
    """The fitted stage for the network `heads` reads (raises ValueError where the fitting ears cannot fit it, e.g.
    a tiny validation split with a single class)."""
    pred = heads(fit_cohort)
    model = fit_series_classifier(pred, fit_cohort, source=source, c=cfg.series.c)
    # interval coverage, never on test: short series and long grids each get their own pair when both are there
    long_grid = long_grid_fit_cohort(cfg)
    extra = None if long_grid is None else (heads(long_grid[0]), long_grid[0])
    pairs = fit_threshold_quantiles(pred, fit_cohort, long_grid=extra)
    model.threshold_quantiles, model.dense_threshold_quantiles = pairs
    if long_grid is not None:
        model.threshold_quantiles_source = f"{source}; {long_grid[1]}"
    model.threshold_point = fit_threshold_point(pred, fit_cohort)  # the crossing read as the threshold
    if val.n_records > 0:  # the record decision rule and the latency/amplitude blend: at the cohort's prevalence
        val_pred = pred if cfg.data.path is not None else heads(val)
        model.record_class_bias = fit_record_class_bias(val_pred.class_prob, val.class_id)
        if cfg.data.path is None:
            model.peak_blend = fit_peak_blend(val_pred, val) or None
            model.peak_blend_source = "validation split"
    return model


def series_stage_line(cfg: TrainConfig, val: ABRCohort) -> str:
    """The line `abrnet train` prints as the stage starts: it takes ~30 s after the fit's progress bar has ended,
    and a silent half-minute read as a hung run."""
    ears = f"the validation split ({len(set(val.ear_key.tolist()))} ears)"
    if cfg.data.path is None:
        grids = f" ({cfg.series.long_grid_patients} more on a fixed grid)" if cfg.series.long_grid_patients else ""
        return f"fitting the series stage on {cfg.series.patients} simulated class-balanced patients{grids} and {ears}…"
    return f"fitting the series stage on {ears}…"


def fit_series_stage(
    cfg: TrainConfig, out_dir: Path, dm: ABRDataModule, say: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Fit the stage for the network in ``out_dir/best.ckpt`` and store it there, and only there; `say` is told
    what it fits on before it starts (`series_stage_line`; None: quiet).

    Why not in last.ckpt too: a stage is read off one network's outputs (its crossing, interval, class rule and
    peak blend), and last.ckpt holds another network whenever validation chose an earlier step; written into both,
    `predict --checkpoint last.ckpt` read last's outputs with best's stage, without a word. last.ckpt is for
    --resume (whose fit refits the stage for its own best.ckpt); predict and export warn on a checkpoint without one."""
    loaded = load_checkpoint(out_dir / "best.ckpt")
    val = dm.part("val")
    if say is not None and (cfg.data.path is None or val.n_records):  # else nothing to fit: the warning below says so
        say(series_stage_line(cfg, val))
    fit_cohort, source = series_fit_cohort(cfg, val)
    if fit_cohort.n_records == 0:  # e.g. a few patients: the validation split is empty
        warnings.warn("series classifier not fitted (no records to fit on)", stacklevel=2)
        return {"skipped": "no records to fit on"}
    device = inference_device()
    model_on_device = loaded.model.to(device)

    def heads(cohort: ABRCohort) -> Predictions:
        return predict_cohort(
            model_on_device, cohort, loaded.normalizer, device=device, with_denoise=False,
            with_reconstruction=False, seed=cfg.seed,
        )  # fmt: skip

    try:
        model = fit_series_model(cfg, heads, fit_cohort, source, val)
    except ValueError as exc:  # e.g. a tiny validation split with a single class
        warnings.warn(f"series classifier not fitted ({exc}); per-ear classes use the geometric mean", stacklevel=2)
        return {"skipped": str(exc)}
    path = out_dir / "best.ckpt"
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    ckpt[SERIES_KEY] = model.to_dict()
    tmp = path.with_name(path.name + ".tmp")
    torch.save(ckpt, tmp)
    tmp.replace(path)
    return {"n_ears": model.n_ears, "source": source, "peak_blend_source": model.peak_blend_source or source}
