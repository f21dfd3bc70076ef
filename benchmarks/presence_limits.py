"""Where wave V presence errs, by how visible the response was: what limits the counterfactuals and the
fixed-protocol per-ear figures (issue 11), on validation data only.

A record's V label is "V–V′ of the clean response > LABEL_RATIO × the residual noise estimated from its own buffers"
(`data.simulate.recording.visible_labels`; the simulator's `v_visibility_rn`). This script reads that ratio back
(the simulator's clean V–V′, stored in `extras`, over the buffers' noise estimate) to sort the network's errors by
it. Simulator truth is read only here, to explain errors; no model input or evaluation figure reads it.

* records: a seeded sample of the checkpoint's VALIDATION split; p(V) by visibility ratio, and the spread (not only
  the mean) of p(V) on noise-only records ((A − B)/2 of each record, FMP hidden) at 60 and 100 dB; and, for the
  time-reversed records, how often reversal leaves a V-like complex at a plausible latency (`v_like_size`);
* ears: a fresh class-balanced fixed-protocol cohort (seed = the model's + 30,011: neither the test split nor the
  evaluation's fixed cohort, which uses + 10,007), through the stored series stage: no-response errors, and the
  per-ear threshold by the visibility of the labelled V at the ear's threshold.

    python benchmarks/presence_limits.py --checkpoint runs/final/best.ckpt
Writes benchmarks/results/presence_limits.json and .md.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np
from scipy import ndimage

from _common import (
    analysis_predictions,
    p_wave_v,
    parse_args,
    provenance,
    require_checkpoint,
    results_head,
    validation_sample,
    write_results,
)
from abrnet.constants import CLASS_NAMES
from abrnet.data.fmp import residual_noise_from_buffers
from abrnet.data.schema import ABRCohort
from abrnet.data.simulate import SimulationConfig, simulate_cohort
from abrnet.evaluation.generation import latency_intensity_table, level_bin_edges
from abrnet.evaluation.trivial_baselines import counterfactual_inputs
from abrnet.inference.checkpoint import LoadedModel, load_checkpoint
from abrnet.series.per_ear import aggregate_ears

LABEL_RATIO = SimulationConfig().v_visibility_rn  # the V label's line: V–V′ / residual noise
RATIO_BINS = (0.0, 1e-9, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 6.0, np.inf)  # V–V′ / residual noise
EAR_RATIO_BINS = (LABEL_RATIO, *(b for b in (2.5, 3.0, 4.0, np.inf) if b > LABEL_RATIO))
NOISE_BINS_NV = (0.0, 40.0, 80.0, 160.0, np.inf)  # residual noise of the recording (buffers), nV
REVERSED_BINS = (-np.inf, 1.0, 2.0, 3.0, 4.0, 6.0, np.inf)  # V-like complex of the reversed response / noise
V_SEARCH_MS = 1.0  # a V-like peak counts within this of the level's median labelled V latency
V_TROUGH_MS = 1.5  # and its trough within this after it
_V = 2


def residual_noise_uv(cohort: ABRCohort) -> np.ndarray:
    """(N,) the residual noise each record's own buffers give (what the V label compares the response with)."""
    return residual_noise_from_buffers(cohort.buffers[:, 0], cohort.buffers[:, 1])


def visibility_ratio(cohort: ABRCohort, rn_uv: np.ndarray) -> np.ndarray:
    """(N,) clean V–V′ over the record's noise `rn_uv` (`residual_noise_uv`): the quantity the V label thresholds."""
    return np.nan_to_num(np.asarray(cohort.extras["v_peak_to_trough_uv"], np.float64)) / rn_uv


def level_median_latency(cohort: ABRCohort) -> np.ndarray:
    """(N,) median labelled V latency of each record's 10-dB level bin, [k·10, k·10 + 10) dB as in the generation
    report's latency–intensity table (NaN: fewer than 5 labelled there)."""
    level = cohort.static_column("intensity_db")
    table = latency_intensity_table(cohort.latency_ms[:, _V], level, min_count=5)
    return np.array([table.get(float(edge), np.nan) for edge in level_bin_edges(level)])


def v_like_size(
    signals: np.ndarray, time_ms: np.ndarray, expected_ms: np.ndarray, search_ms: float = V_SEARCH_MS
) -> np.ndarray:
    """(N,) largest peak-to-following-trough (trough within V_TROUGH_MS) of a local maximum within ±`search_ms` of
    `expected_ms`, on the 0.1-ms-smoothed trace: the label's V–V′ measured wherever a V-like complex sits.

    On forward clean responses it reproduces the stored V–V′ (the check is in the table); on time-reversed ones it
    says how often reversal leaves a complex a reader would take for a V at a plausible latency.
    """
    dt = float(np.median(np.diff(time_ms)))
    x = ndimage.gaussian_filter1d(signals - signals.mean(axis=1, keepdims=True), 0.1 / dt, axis=1)  # (N, T)
    k = max(1, int(round(V_TROUGH_MS / dt)))
    pad = np.pad(x, ((0, 0), (0, k)), mode="edge")
    trough = np.min(np.stack([pad[:, j : j + x.shape[1]] for j in range(1, k + 1)]), axis=0)  # (N, T) min ahead
    peak = np.zeros_like(x, dtype=bool)
    peak[:, 1:-1] = (x[:, 1:-1] >= x[:, :-2]) & (x[:, 1:-1] >= x[:, 2:])
    near = np.abs(time_ms[None, :] - expected_ms[:, None]) <= search_ms  # NaN expected: nowhere
    return np.where(peak & near, x - trough, 0.0).max(axis=1)


def _bin_label(lo: float, hi: float) -> str:
    if hi <= 1e-9:
        return "0 (no response)"
    return f"({lo if lo > 1e-6 else 0:g}, {hi:g}]" if np.isfinite(hi) else f"> {lo:g}"


def record_section(loaded: LoadedModel, n_records: int) -> dict:
    sub = validation_sample(loaded, n_records)
    rn_uv = residual_noise_uv(sub)
    p, ratio, labelled = p_wave_v(loaded, sub), visibility_ratio(sub, rn_uv), np.isfinite(sub.latency_ms[:, _V])
    bins = []
    for lo, hi in itertools.pairwise(RATIO_BINS):
        m = (ratio <= hi) if hi <= 1e-9 else (ratio > lo) & (ratio <= hi)
        if m.any():
            bins.append(
                {
                    "ratio": _bin_label(lo, hi),
                    "records": int(m.sum()),
                    "labelled_v": float(labelled[m].mean()),
                    "mean_p_v": float(p[m].mean()),
                    "share_p_v_over_half": float(np.mean(p[m] > 0.5)),
                }
            )
    noise = {}
    variants = counterfactual_inputs(sub)
    rn_nv = 1000.0 * rn_uv
    by_noise = []  # the label is relative to the record's noise; the network sees that noise only through FMP
    q_noise = {level: p_wave_v(loaded, variants[f"noise_only_{level}"]) for level in ("60db", "100db")}
    for lo, hi in itertools.pairwise(NOISE_BINS_NV):
        m = (rn_nv >= lo) & (rn_nv < hi)
        if m.any():
            by_noise.append({"residual_noise_nv": f"{lo:g}–{hi:g}" if np.isfinite(hi) else f"≥ {lo:g}",
                             "records": int(m.sum()), "mean_p_v": float(q_noise["60db"][m].mean())})  # fmt: skip
    for level, q in q_noise.items():
        noise[level] = {
            "mean": float(q.mean()),
            "median": float(np.median(q)),
            "p90": float(np.quantile(q, 0.9)),
            "share_over_half": float(np.mean(q > 0.5)),
        }
    expected = level_median_latency(sub)
    return {
        "records": int(sub.n_records),
        "by_visibility": bins,
        "time_reversed": reversed_section(loaded, sub, variants["time_reversed"], expected, rn_uv, ratio),
        "noise_only": noise,
        "noise_only_60db_by_noise": by_noise,
        "noise_only_60db_by_v_like_complex": noise_complex_section(
            sub, variants["noise_only_60db"], q_noise["60db"], p, expected, rn_uv
        ),
    }


def _ratio_label(lo: float, hi: float) -> str:
    return f"≤ {hi:g}" if not np.isfinite(lo) else _bin_label(lo, hi)


def noise_complex_section(
    sub: ABRCohort, noise60: ABRCohort, q60: np.ndarray, p: np.ndarray, expected: np.ndarray, rn_uv: np.ndarray
) -> list[dict]:
    """Noise alone makes V-like complexes: their size at the 60-dB V latency and the p(V) `q60` they get, beside the
    recordings at 50–70 dB whose own complex (`p`: their p(V)) is as large, and how often those carry a labelled V."""
    level_db = sub.static_column("intensity_db")
    labelled = np.isfinite(sub.latency_ms[:, _V])
    at = np.full(sub.n_records, np.nanmedian(expected[(level_db >= 60) & (level_db < 70)]))  # the 60-dB bin's
    size = v_like_size(np.asarray(noise60.signals, np.float64), sub.time_ms, at) / rn_uv
    size_rec = v_like_size(np.asarray(sub.signals, np.float64), sub.time_ms, expected) / rn_uv
    mid = (level_db >= 50) & (level_db <= 70)
    out = []
    for lo, hi in itertools.pairwise((*REVERSED_BINS[:-2], np.inf)):
        m, r = (size > lo) & (size <= hi), mid & (size_rec > lo) & (size_rec <= hi)
        if m.any():
            out.append({"ratio": _ratio_label(lo, hi), "records": int(m.sum()), "mean_p_v": float(q60[m].mean()),
                        "share_p_v_over_half": float(np.mean(q60[m] > 0.5)), "recordings_50_70db": int(r.sum()),
                        "recordings_labelled_v": float(labelled[r].mean()) if r.any() else None,
                        "recordings_mean_p_v": float(p[r].mean()) if r.any() else None})  # fmt: skip
    return out


def reversed_section(
    loaded: LoadedModel, sub: ABRCohort, reversed_: ABRCohort, expected: np.ndarray, rn_uv: np.ndarray,
    ratio: np.ndarray,
) -> dict:  # fmt: skip
    """How often time reversal leaves a V-like complex above 2 × the noise at a plausible latency, and p(V) by it."""
    labelled = np.isfinite(sub.latency_ms[:, _V])
    clean = np.asarray(sub.clean, np.float64)
    forward = v_like_size(clean, sub.time_ms, expected) / rn_uv
    backward = v_like_size(clean[:, ::-1], sub.time_ms, expected) / rn_uv
    q_rev = p_wave_v(loaded, reversed_)
    by_ratio = []
    for lo, hi in itertools.pairwise(REVERSED_BINS):
        m = labelled & (backward > lo) & (backward <= hi)
        if m.any():
            by_ratio.append({"ratio": _ratio_label(lo, hi), "records": int(m.sum()), "mean_p_v": float(q_rev[m].mean()),
                             "share_p_v_over_half": float(np.mean(q_rev[m] > 0.5))})  # fmt: skip
    complex_ = labelled & (backward > 2.0)
    return {
        "labelled_v": int(labelled.sum()),
        "forward_share_over_2": float(np.mean(forward[labelled] > 2.0)),
        "forward_vs_label_correlation": float(np.corrcoef(forward[labelled], ratio[labelled])[0, 1]),
        "share_with_v_like_complex": float(complex_.sum() / labelled.sum()),
        "mean_p_v_with_complex": float(q_rev[complex_].mean()),
        "mean_p_v_without_complex": float(q_rev[labelled & ~complex_].mean()),
        "by_ratio": by_ratio,
    }


def ear_section(loaded: LoadedModel, patients: int) -> dict:
    seed = loaded.config.seed + 30_011
    sim = SimulationConfig(n_patients=patients, balanced=True, protocol="fixed")
    data = simulate_cohort(sim, seed=seed)
    pred = analysis_predictions(loaded, data)
    ears = aggregate_ears(pred, data, loaded.series_model)
    ratio, labelled = visibility_ratio(data, residual_noise_uv(data)), np.isfinite(data.latency_ms[:, _V])
    level = data.static_column("intensity_db")
    p_v = np.asarray(pred.peak_presence_prob[:, _V], np.float64)
    by_class = {}  # labelled V only: does the network see a V that is there, whatever the ear's class?
    for c, name in enumerate(CLASS_NAMES):
        m = labelled & (data.class_id == c)
        if m.any():
            by_class[name] = {
                "records": int(m.sum()),
                "mean_p_v": float(p_v[m].mean()),
                "share_p_v_over_half": float(np.mean(p_v[m] > 0.5)),
                "median_visibility": float(np.median(ratio[m])),
            }
    at_threshold = np.full(ears.n_ears, np.nan)  # visibility of the labelled V at the ear's lowest labelled level
    best = np.full(ears.n_ears, np.nan)
    for e in range(ears.n_ears):
        r = np.flatnonzero((ears.record_ear == e) & labelled)
        if r.size:
            at_threshold[e], best[e] = ratio[r[np.argmin(level[r])]], ratio[r].max()
    nr_true, nr_pred = ears.true_no_response, ears.p_no_response > 0.5
    false_nr = nr_pred & ~nr_true
    has_thr = np.isfinite(ears.true_threshold_db) & ~nr_true
    err = ears.threshold_db - ears.true_threshold_db
    by_ratio = []
    for lo, hi in itertools.pairwise(EAR_RATIO_BINS):
        m = has_thr & (at_threshold > lo) & (at_threshold <= hi)
        if m.any():
            by_ratio.append(
                {
                    "ratio_at_threshold": _bin_label(lo, hi),
                    "ears": int(m.sum()),
                    "within_10_db": float(np.mean(np.abs(err[m]) <= 10)),
                    "mae_db": float(np.abs(err[m]).mean()),
                    "bias_db": float(err[m].mean()),
                }
            )
    return {
        "cohort": f"fixed protocol, class-balanced, {patients} patients, seed {seed}",
        "ears": int(ears.n_ears),
        "labelled_v_by_class": by_class,
        "no_response": {
            "true": int(nr_true.sum()),
            "predicted": int(nr_pred.sum()),
            "false_no_response": int(false_nr.sum()),
            "missed_no_response": int((~nr_pred & nr_true).sum()),
            "false_no_response_true_threshold_db": sorted(ears.true_threshold_db[false_nr].tolist()),
            "false_no_response_class": [CLASS_NAMES[c] for c in ears.true_class[false_nr]],
            "false_no_response_best_visibility": sorted(np.round(best[false_nr], 2).tolist()),
        },
        "threshold": {
            "ears": int(has_thr.sum()),
            "within_10_db": float(np.mean(np.abs(err[has_thr]) <= 10)),
            "mae_db": float(np.abs(err[has_thr]).mean()),
            "by_visibility_at_threshold": by_ratio,
        },
    }


def _fmt(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f}"


def _reversed_markdown(rev: dict) -> list[str]:
    return [
        f"**Time-reversed** ({rev['labelled_v']} records with a labelled V, reversed): the size of the largest V-like "
        f"complex (a peak within ±{V_SEARCH_MS:g} ms of the level's median V latency, minus the trough within "
        f"{V_TROUGH_MS:g} ms after it) over the record's noise. On the forward clean responses this measure tracks "
        f"the label (correlation {rev['forward_vs_label_correlation']:.2f} with the stored V–V′; "
        f"{rev['forward_share_over_2']:.0%} above 2). Reversed, {rev['share_with_v_like_complex']:.0%} still hold "
        f"such a complex above 2 × the noise: mean p(V) {rev['mean_p_v_with_complex']:.3f} with it, "
        f"{rev['mean_p_v_without_complex']:.3f} without.",
        "",
        "| reversed: V-like complex / noise | records | mean p(V) | p(V) > 0.5 |",
        "|---|---:|---:|---:|",
        *(
            f"| {b['ratio']} | {b['records']} | {b['mean_p_v']:.3f} | {b['share_p_v_over_half']:.2f} |"
            for b in rev["by_ratio"]
        ),
    ]


def to_markdown(result: dict) -> str:
    rec, ear = result["records"], result["ears"]
    lines = [
        *results_head("Wave V presence by visibility: what limits the counterfactuals and the fixed protocol", result),
        f"Checkpoint `{result['checkpoint']}`. Visibility = clean V–V′ / residual noise from the record's buffers "
        f"(the V label is visibility > {LABEL_RATIO:g}). Simulator truth is read here only to sort errors.",
        "",
        f"**Records** ({rec['records']} validation records):",
        "",
        "| visibility | records | labelled V | mean p(V) | p(V) > 0.5 |",
        "|---|---:|---:|---:|---:|",
        *(
            f"| {b['ratio']} | {b['records']} | {b['labelled_v']:.2f} | {b['mean_p_v']:.3f} | "
            f"{b['share_p_v_over_half']:.2f} |"
            for b in rec["by_visibility"]
        ),
        "",
        "| noise-only ((A − B)/2, FMP hidden) | mean p(V) | median | 90th percentile | p(V) > 0.5 |",
        "|---|---:|---:|---:|---:|",
        *(
            f"| labelled {lv} | {q['mean']:.3f} | {q['median']:.3f} | {q['p90']:.3f} | {q['share_over_half']:.3f} |"
            for lv, q in rec["noise_only"].items()
        ),
        "",
        "| noise-only at 60 dB, by the recording's residual noise | records | mean p(V) |",
        "|---|---:|---:|",
        *(
            f"| {b['residual_noise_nv']} nV | {b['records']} | {b['mean_p_v']:.3f} |"
            for b in rec["noise_only_60db_by_noise"]
        ),
        "",
        "Largest V-like complex at the level's V latency (as defined under *Time-reversed* below) over the record's "
        "noise: noise-only records labelled 60 dB beside the recordings at 50–70 dB that look alike by this measure.",
        "",
        "| V-like complex / noise | noise-only records | their mean p(V) | p(V) > 0.5 | recordings 50–70 dB | "
        "labelled V | their mean p(V) |",
        "|---|---:|---:|---:|---:|---:|---:|",
        *(
            f"| {b['ratio']} | {b['records']} | {b['mean_p_v']:.3f} | {b['share_p_v_over_half']:.2f} | "
            f"{b['recordings_50_70db']} | {_fmt(b['recordings_labelled_v'])} | {_fmt(b['recordings_mean_p_v'])} |"
            for b in rec["noise_only_60db_by_v_like_complex"]
        ),
        "",
        *_reversed_markdown(rec["time_reversed"]),
        "",
        f"**Ears** ({ear['cohort']}, {ear['ears']} ears, the stored series stage):",
        "",
    ]
    nr = ear["no_response"]
    lines += [
        "| labelled V, by the ear's class | records | mean p(V) | p(V) > 0.5 | median visibility |",
        "|---|---:|---:|---:|---:|",
        *(
            f"| {c} | {q['records']} | {q['mean_p_v']:.3f} | {q['share_p_v_over_half']:.2f} | "
            f"{q['median_visibility']:.1f} |"
            for c, q in ear["labelled_v_by_class"].items()
        ),
        "",
        f"- no response: {nr['true']} true, {nr['predicted']} predicted; **{nr['false_no_response']} called "
        f"no-response that have a labelled V**, {nr['missed_no_response']} missed. The false ones' true thresholds: "
        f"{', '.join(f'{x:g}' for x in nr['false_no_response_true_threshold_db'])} dB; their best visibility: "
        f"{', '.join(f'{x:.1f}' for x in nr['false_no_response_best_visibility'])}.",
        f"- threshold ({ear['threshold']['ears']} ears with one): within 10 dB {ear['threshold']['within_10_db']:.3f}, "
        f"MAE {ear['threshold']['mae_db']:.2f} dB.",
        "",
        "| visibility of the V at the ear's threshold | ears | within 10 dB | MAE dB | bias dB |",
        "|---|---:|---:|---:|---:|",
        *(
            f"| {b['ratio_at_threshold']} | {b['ears']} | {b['within_10_db']:.2f} | {b['mae_db']:.1f} | "
            f"{b['bias_db']:+.1f} |"
            for b in ear["threshold"]["by_visibility_at_threshold"]
        ),
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", type=Path, default=Path("runs/default/best.ckpt"))
    ap.add_argument("--records", type=int, default=3000, help="seeded sample of validation records")
    ap.add_argument("--patients", type=int, default=150, help="patients of the fixed-protocol cohort")
    args = parse_args(ap, "presence_limits")
    require_checkpoint(args.checkpoint)
    loaded = load_checkpoint(args.checkpoint)
    result = {
        **provenance(),
        "checkpoint": str(args.checkpoint),
        "records": record_section(loaded, args.records),
        "ears": ear_section(loaded, args.patients),
    }
    write_results("presence_limits", result, to_markdown(result), force=args.force)


if __name__ == "__main__":
    main()
