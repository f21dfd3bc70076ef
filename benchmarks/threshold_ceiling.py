"""How well can anyone read the fixed-protocol per-ear threshold from these recordings? Observers that know more than
a user does, beside the network, on fresh fixed-protocol cohorts (issue 11's "within 10 dB ≥ 90 %, MAE ≤ 5 dB,
no-response F1 ≥ 0.95").

The per-ear label is "the lowest level whose clean V–V′ exceeds 2 × the residual noise of that record's buffers"
(`data.simulate.recording.visible_threshold`): a minimum over ~21 noisy yes/no calls, each made on the clean trace.
A reader of the noisy recording can only estimate V–V′, so near the boundary the call is a coin toss, and the
lowest level that happens to pass decides the label. This script measures that limit with per-record statistics,
read into a per-ear threshold by the same rules as the classical detectors (`evaluation.classical_threshold`):

* ``label``: the clean V–V′ over the buffers' noise, the label's own quantity (an oracle: simulator truth). Read at
  "lowest level above 2" it reproduces the label exactly (a check of this script); read like the network's p(V)
  (fitted non-decreasing in level per ear, lowest crossing) it shows what that reading alone costs;
* ``template_oracle``: the clean V–V′ times the response's size as the noisy recording shows it: the least-squares
  scale of the clean trace (known exactly: an oracle) in the recording, over the buffers' noise. This is a matched
  filter that knows the response's shape, and whether there is one, at every level: far more than any reader has.
  Its errors come only from the noise in the recording, so it is an upper bound on what reading these waveforms
  can reach;
* ``shape_oracle``: the same where the record has a V; where it has none, the mean clean trace of the fitting
  cohort's responses at that level stands in as the template, so this observer knows the shape of any V but not
  whether one is there (``template_oracle`` knows both: a flat clean trace reads 0);
* ``louder_shape_oracle``: what series context could give at most: the template is the ear's own clean response
  LOUDER_DB (5 dB) louder (the nearest louder level with a V; the loudest where none is), moved later by the fitting
  cohort's latency–intensity slope and then by the best of ±0.2 ms; an ear without a V anywhere reads 0.
  Noise-free, so a reader following the louder noisy records down the series has less;
* ``level_template``: the fitting cohort's mean *clean* response at the record's level (records with a V) as the
  template for every record: what a lab's grand average of many normal-hearing recordings approximates, but read
  here from simulator truth (tables before stop 50 called it "no oracle");
* ``v_picker``: no oracle: the largest V-like complex (peak minus the trough after it) within 1 ms of the level's
  median V latency (from the fitting cohort), over the buffers' noise: a classical peak reader.

Each statistic is read two ways: isotonic per ear (`classical_threshold.ear_thresholds`, the criterion fitted on a
second fresh fixed cohort by lowest per-ear MAE) and "the lowest level above the criterion" (the label's own form,
criterion fitted the same way). The network is scored on the same ears through its stored series stage. Neither
cohort is the test split or the evaluation's fixed cohort (seeds: the model's + 30,011 scored, as
`presence_limits.py`; + 50,021 for the criteria; 300 patients each).

    python benchmarks/threshold_ceiling.py \
        --checkpoint runs/final/best.ckpt src/abrnet/inference/weights/abrnet-cpu.ckpt
Writes benchmarks/results/threshold_ceiling.json and .md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from scipy import ndimage

from _common import analysis_predictions, parse_args, provenance, require_checkpoint, results_head, write_results
from abrnet.data.schema import ABRCohort
from abrnet.data.simulate import SimulationConfig, simulate_cohort
from abrnet.evaluation.classical_threshold import (
    CRITERION_QUANTILES,
    classical_threshold_baselines,
    detector_scores,
    ear_threshold_scores,
    fit_criterion,
)
from abrnet.evaluation.generation import latency_intensity_table, level_bin_edges
from abrnet.evaluation.trivial_baselines import ear_level_features, ear_table_scores
from abrnet.inference.checkpoint import LoadedModel, load_checkpoint
from abrnet.series.per_ear import ABOVE_HIGHEST_DB, aggregate_ears, highest_levels
from presence_limits import residual_noise_uv, v_like_size, visibility_ratio

LABEL_CRITERION = 2.0  # the V label's line: clean V–V′ > 2 × the record's residual noise
SCORED_SEED_OFFSET, FIT_SEED_OFFSET = 30_011, 50_021
LOUDER_DB = 5.0  # the louder-shape oracle's template: the ear's response at least this much louder
LOUDER_LAG_SAMPLES = 4  # and the best of ± this many samples (±0.2 ms at 20 kHz) around the slope's shift
_V = 2


def fixed_cohort(patients: int, seed: int) -> ABRCohort:
    """A class-balanced fixed-protocol cohort (0–100 dB in 5-dB steps for every ear), as `abrnet evaluate` scores."""
    return simulate_cohort(SimulationConfig(n_patients=patients, balanced=True, protocol="fixed"), seed=seed)


def template_scale(data: ABRCohort, template: np.ndarray) -> np.ndarray:
    """(N,) least-squares scale of each record's `template` (N, T) in its recording (0 where the template is flat)."""
    s = np.asarray(template, np.float64)
    x = np.asarray(data.signals, np.float64)
    s = s - s.mean(axis=1, keepdims=True)  # (N, T)
    x = x - x.mean(axis=1, keepdims=True)
    energy = (s * s).sum(axis=1)
    return np.where(energy > 1e-12, (x * s).sum(axis=1) / np.maximum(energy, 1e-12), 0.0)


def level_templates(reference: ABRCohort, data: ABRCohort) -> tuple[np.ndarray, np.ndarray]:
    """(N, T) and (N,): for each record of `data`, the mean clean trace of the `reference` records at its level that
    have a V in the clean response (the shape a reader expects where none is there) and that trace's own V–V′ at
    the level's V latency (`v_like_size`), so that its scale in a recording reads as a V–V′."""
    ptt = np.nan_to_num(np.asarray(reference.extras["v_peak_to_trough_uv"], np.float64))
    ref_level, level = reference.static_column("intensity_db"), data.static_column("intensity_db")
    shapes = np.zeros((data.n_records, data.n_samples))
    for lv in np.unique(level):
        m = (ref_level == lv) & (ptt > 0)
        if m.any():
            shapes[level == lv] = np.asarray(reference.clean, np.float64)[m].mean(axis=0)
    return shapes, v_like_size(shapes, data.time_ms, level_latency(reference, data))


def latency_slope(reference: ABRCohort) -> float:
    """Wave V's latency change per dB (ms/dB, positive: softer is later), fitted on `reference` from 20 dB up."""
    table = latency_intensity_table(reference.latency_ms[:, _V], reference.static_column("intensity_db"), min_count=5)
    edges = np.array([e for e in sorted(table) if e >= 20.0])
    return float(-np.polyfit(edges, [table[e] for e in edges], 1)[0])


def louder_shape(data: ABRCohort, reference: ABRCohort) -> np.ndarray:
    """(N,) `louder_shape_oracle` (module doc): the best scale of the ear's shifted louder clean response in each
    record, times that response's V–V′, over the record's noise."""
    ptt = np.nan_to_num(np.asarray(data.extras["v_peak_to_trough_uv"], np.float64))
    level = data.static_column("intensity_db").astype(np.float64)
    clean = np.asarray(data.clean, np.float64)
    x = np.asarray(data.signals, np.float64)
    x = x - x.mean(axis=1, keepdims=True)  # (N, T)
    step_ms, lags = 1000.0 / data.sampling_rate_hz, np.arange(-LOUDER_LAG_SAMPLES, LOUDER_LAG_SAMPLES + 1)
    slope = latency_slope(reference)
    _, ear = np.unique(data.ear_key, return_inverse=True)
    out = np.zeros(data.n_records)
    for rows in np.split(np.argsort(ear.ravel(), kind="stable"), np.cumsum(np.bincount(ear.ravel()))[:-1]):
        with_v = rows[ptt[rows] > 0]
        for r in rows if with_v.size else ():
            louder = with_v[level[with_v] >= level[r] + LOUDER_DB]
            src = louder[np.argmin(level[louder])] if louder.size else with_v[np.argmax(level[with_v])]
            shift = (level[src] - level[r]) * slope / step_ms + lags  # (K,) samples later
            t = np.stack([ndimage.shift(clean[src], d, order=1, mode="nearest") for d in shift])  # (K, T)
            t = t - t.mean(axis=1, keepdims=True)
            out[r] = ((t @ x[r]) / np.maximum((t * t).sum(axis=1), 1e-12)).max() * ptt[src]
    return out / residual_noise_uv(data)


def level_latency(reference: ABRCohort, data: ABRCohort) -> np.ndarray:
    """(N,) for each record of `data`, the median labelled V latency of its 10-dB bin in `reference` (the fitting
    cohort, so the scored cohort's labels are not read); the nearest bin where a level has none."""
    table = latency_intensity_table(reference.latency_ms[:, _V], reference.static_column("intensity_db"), min_count=5)
    edges = np.array(sorted(table))
    lat = np.array([table[e] for e in edges])
    level = level_bin_edges(data.static_column("intensity_db"))
    return lat[np.abs(level[:, None] - edges[None, :]).argmin(axis=1)]


def statistics(data: ABRCohort, reference: ABRCohort) -> dict[str, np.ndarray]:
    """The per-record statistics (module doc), each over the record's own buffers' noise."""
    rn = residual_noise_uv(data)
    label = visibility_ratio(data, rn)
    has_v = label > 0
    shapes, sizes = level_templates(reference, data)
    level_template = sizes * template_scale(data, shapes) / rn
    shapes[has_v] = np.asarray(data.clean, np.float64)[has_v]
    sizes = np.where(has_v, np.nan_to_num(np.asarray(data.extras["v_peak_to_trough_uv"], np.float64)), sizes)
    return {
        "label": label,
        "template_oracle": label * template_scale(data, np.asarray(data.clean)),
        "shape_oracle": sizes * template_scale(data, shapes) / rn,
        "louder_shape_oracle": louder_shape(data, reference),
        "level_template": level_template,
        "v_picker": v_like_size(np.asarray(data.signals, np.float64), data.time_ms, level_latency(reference, data))
        / rn,
    }


def lowest_above(data: ABRCohort, statistic: np.ndarray, criterion: float) -> tuple[np.ndarray, np.ndarray]:
    """(E,) the lowest level whose statistic exceeds `criterion` (the label's form; the ear's highest level +
    ABOVE_HIGHEST_DB where none does) and (E,) no-response, ears in `ear_level_features` order."""
    _, ear = np.unique(data.ear_key, return_inverse=True)
    ear = ear.ravel()
    level = data.static_column("intensity_db").astype(np.float64)
    n_ears = int(ear.max()) + 1
    lowest = np.full(n_ears, np.inf)
    hit = statistic > criterion
    np.minimum.at(lowest, ear[hit], level[hit])
    none = ~np.isfinite(lowest)
    return np.where(none, highest_levels(ear, level, n_ears) + ABOVE_HIGHEST_DB, lowest), none


def fit_lowest_above(train: ABRCohort, statistic: np.ndarray) -> float:
    """The criterion (quantiles of the statistic, as `fit_criterion`) with the lowest per-ear MAE on `train`."""
    truth = ear_level_features(train)[2]
    keep = np.isfinite(truth["threshold"]) & ~truth["no_response"]
    grid = np.unique(np.quantile(statistic, CRITERION_QUANTILES))
    mae = [np.abs(lowest_above(train, statistic, c)[0][keep] - truth["threshold"][keep]).mean() for c in grid]
    return float(grid[int(np.argmin(mae))])


def scores_lowest_above(data: ABRCohort, statistic: np.ndarray, criterion: float) -> dict[str, float | None]:
    return ear_threshold_scores(data, *lowest_above(data, statistic, criterion))


def observers(fit: ABRCohort, scored: ABRCohort) -> dict[str, dict]:
    s_fit, s_scored = statistics(fit, fit), statistics(scored, fit)
    out: dict[str, dict] = {}
    for name in s_fit:
        iso = fit_criterion(fit, s_fit[name])
        low = fit_lowest_above(fit, s_fit[name])
        out[name] = {
            "isotonic": {"criterion": iso, **detector_scores(scored, s_scored[name], iso)},
            "lowest_above": {"criterion": low, **scores_lowest_above(scored, s_scored[name], low)},
        }
    out["label"]["lowest_above_2"] = {
        "criterion": LABEL_CRITERION,
        **scores_lowest_above(scored, s_scored["label"], LABEL_CRITERION),
    }
    return out


def network(loaded: LoadedModel, scored: ABRCohort) -> dict[str, float | None]:
    """The network's per-ear scores on `scored` through its stored series stage, by the evaluation's metric code."""
    return ear_table_scores(aggregate_ears(analysis_predictions(loaded, scored), scored, loaded.series_model))


def check_label_reading(result: dict) -> None:
    """The label quantity read at its own line must give the label back exactly; otherwise this script is wrong."""
    q = result["observers"]["label"]["lowest_above_2"]
    if q["ear_threshold_mae_db"] != 0.0 or q["ear_no_response_f1"] != 1.0:
        raise SystemExit(f"error: the label quantity at 2 does not reproduce the per-ear label: {q}")


OBSERVER_TITLES = {
    "label": "label quantity",
    "template_oracle": "template oracle",
    "shape_oracle": "shape oracle",
    "louder_shape_oracle": "louder-shape oracle",
    "level_template": "level template (the fitting cohort's clean mean)",
    "v_picker": "V picker (no oracle)",
}
READING_TITLES = {"lowest_above": "lowest level above criterion", "isotonic": "isotonic reading"}
ROWS = (
    ("label quantity, lowest level above 2 (the label itself: a check)", "label", "lowest_above_2"),
    *(
        (f"{title}, {how}", key, reading)
        for key, title in OBSERVER_TITLES.items()
        for reading, how in READING_TITLES.items()
        if (key, reading) != ("label", "lowest_above")  # the label's own line, 2, is the row above
    ),
)


def _fmt(x: float | None, spec: str) -> str:
    return "—" if x is None else format(x, spec)


def to_markdown(result: dict) -> str:
    lines = [
        *results_head("Per-ear threshold on the fixed protocol: the network beside observers that know more", result),
        f"Scored: {result['scored']}; criteria fitted on {result['fit']}. "
        "Simulator truth (the clean trace) is read only by the oracle rows, as labelled upper bounds, and by the level "
        "template's fitting-cohort mean.",
        "",
        "| reader | criterion | within 10 dB | MAE dB | no-response F1 |",
        "|---|---:|---:|---:|---:|",
    ]
    rows = [(f"network `{path}` (its series stage)", "—", q) for path, q in result["networks"].items()]
    rows += [(t, f"{result['observers'][k][r]['criterion']:.3g}", result["observers"][k][r]) for t, k, r in ROWS]
    for name, q in result["classical"].items():
        rows.append((f"classical detector: {name.replace('_', ' ')}", f"{q['criterion']:.3g}", q))
    for title, crit, q in rows:
        lines.append(
            f"| {title} | {crit} | {_fmt(q['ear_threshold_within_10_db'], '.3f')} | "
            f"{_fmt(q['ear_threshold_mae_db'], '.2f')} | {_fmt(q['ear_no_response_f1'], '.3f')} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", type=Path, nargs="+", default=[Path("runs/default/best.ckpt")])
    ap.add_argument("--patients", type=int, default=300, help="patients of each fixed-protocol cohort")
    args = parse_args(ap, "threshold_ceiling")
    require_checkpoint(*args.checkpoint)
    models = {str(path): load_checkpoint(path) for path in args.checkpoint}
    seed = next(iter(models.values())).config.seed  # the cohorts' seeds are offsets of the first model's
    fit = fixed_cohort(args.patients, seed + FIT_SEED_OFFSET)
    scored = fixed_cohort(args.patients, seed + SCORED_SEED_OFFSET)
    result = {
        **provenance(),
        "scored": f"fixed protocol, class-balanced, {args.patients} patients, seed {seed + SCORED_SEED_OFFSET}",
        "fit": f"the same, seed {seed + FIT_SEED_OFFSET}",
        "networks": {path: network(loaded, scored) for path, loaded in models.items()},
        "observers": observers(fit, scored),
        "classical": classical_threshold_baselines(fit, scored),
    }
    check_label_reading(result)
    write_results("threshold_ceiling", result, to_markdown(result), force=args.force)


if __name__ == "__main__":
    main()
