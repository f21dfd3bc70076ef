"""`abrnet evaluate --generation`: do generated ABRs follow their conditioning and look like the data?

For conditions drawn from the test split, wave V of the generated signals is measured twice — by the trained heads at
t = 0 (the model judging itself) and by the classical peak picker (model-free) — and its latency–intensity and
amplitude–intensity curves are compared, per 10 dB bin, with the test data's *labelled* wave V and with the same
classical picker run on the test signals (clean ground truth when the file has it). Distribution checks: a
real-vs-generated classifier two-sample AUC and the log-spectral distance, against the test split's clean signals
when present (the diffusion model is trained on the clean response, so comparing with noisy recordings would only
measure the missing noise). Joint mode adds KS distances of the sampled static parameters to the test split's,
beside a trivial independent-marginals baseline, and the intensity–latency coupling that KS cannot see.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from scipy.stats import spearmanr

from abrnet.constants import PRESENCE_THRESHOLD, STATIC_PARAMS, WAVES
from abrnet.data.files import json_ready, write_json
from abrnet.data.schema import ABRCohort
from abrnet.evaluation.classical import pick_wave_v
from abrnet.evaluation.generation import (
    ABR_BAND_HZ,
    LATENCY_GAP_TARGET_MS,
    ks_distances,
    latency_intensity_gap,
    latency_intensity_table,
    level_bin_edges,
    spectral_distance,
    two_sample_auc,
)
from abrnet.metrics.task_metrics import SILENT_TARGET_RMS_UV

if TYPE_CHECKING:
    from abrnet.inference.api import ABRModel

_V = WAVES.index("V")
COUPLING_NOISE_SD_UV = 0.01  # fixed picker noise floor of the coupling check: a wave must stand ~3x above 10 nV


@torch.no_grad()
def heads_wave_v(
    model: ABRModel, signals_uv: np.ndarray, static_phys: np.ndarray, presence_cut: float = PRESENCE_THRESHOLD
) -> tuple[np.ndarray, np.ndarray]:
    """Wave V (latency ms, amplitude µV), each (N,), read by the trained heads at t = 0 from `signals_uv` (N, T) µV and
    `static_phys` (N, 4) physical; NaN where presence < `presence_cut`."""
    from abrnet.inference.predictor import outputs_to_numpy

    norm = model.normalizer
    out = outputs_to_numpy(
        model.model(
            torch.from_numpy(norm.recording(signals_uv)),  # the heads read records centred
            torch.from_numpy(norm.static(static_phys)),
            torch.zeros(len(signals_uv), dtype=torch.long),
        )
    )
    seen = out["peak_presence_prob"][:, _V] >= presence_cut
    return np.where(seen, out["latency_ms"][:, _V], np.nan), np.where(seen, out["amplitude_uv"][:, _V], np.nan)


def label_noise_floor(
    test: ABRCohort, take: np.ndarray, draws: int = 20, seed: int = 0, min_count: int = 3
) -> dict[str, Any] | None:
    """What two *real* samples of this size differ by: the latency–intensity gap between the labels of the
    conditions `take` and those of as many other test records (disjoint, `draws` random draws).

    Per-bin medians of a few hundred records are noisy (the loudest and softest bins hold a handful of labelled
    waves), so a generator cannot be expected to come closer to the labels than this. Bins need `min_count` labelled
    waves in both samples. None when the split has too few other records or no bin qualifies.
    """
    rest = np.setdiff1d(np.arange(test.n_records), take)
    if len(rest) < len(take):
        return None
    lat, level = test.latency_ms[:, _V], test.static_column("intensity_db")
    ref = latency_intensity_table(lat[take], level[take], min_count=min_count)
    rng = np.random.default_rng(seed + 1)
    maxes, means = [], []
    for _ in range(draws):
        other = rng.choice(rest, size=len(take), replace=False)
        gap = latency_intensity_gap(ref, latency_intensity_table(lat[other], level[other], min_count=min_count))
        maxes.append(gap["max_abs_ms"])
        means.append(gap["mean_abs_ms"])
    maxes_a, means_a = np.array(maxes)[np.isfinite(maxes)], np.array(means)[np.isfinite(means)]
    if maxes_a.size == 0:  # no bin holds min_count labelled waves in both samples
        return None
    return {
        "draws": int(draws),
        "max_abs_ms_median": float(np.median(maxes_a)),
        "max_abs_ms_p95": float(np.percentile(maxes_a, 95)),
        "mean_abs_ms_median": float(np.median(means_a)),
        "mean_abs_ms_p95": float(np.percentile(means_a, 95)),
    }


def realism(reference: np.ndarray, generated: np.ndarray, fs: float, seed: int) -> dict[str, float]:
    """Real-vs-generated AUC and spectral distance, over the whole band and inside the ABR recording band.

    The clean references are band-passed 100–3000 Hz like every recording; above the band they hold almost no
    power, so any residue a short sampler leaves there makes the full-band figures separable on that alone. The
    in-band figures say whether the waveform itself is realistic.
    """
    return {
        "two_sample_auc": two_sample_auc(reference, generated, seed=seed, fs=fs),
        "two_sample_auc_abr_band": two_sample_auc(reference, generated, seed=seed, fs=fs, band=ABR_BAND_HZ),
        "spectral_distance_db": spectral_distance(reference, generated, fs=fs),
        "spectral_distance_abr_band_db": spectral_distance(reference, generated, fs=fs, band=ABR_BAND_HZ),
    }


def rms_by_level(reference: np.ndarray, generated: np.ndarray, intensity: np.ndarray) -> dict[str, Any]:
    """Median RMS (µV) of reference and generated signals per 10 dB bin, over every condition, and their ratio.

    The scale check the peak picker cannot make: a generator whose responses are too small or too flat across
    levels (weak conditioning) shows a ratio away from 1 that moves with level.
    """
    rms = lambda x: np.sqrt(np.mean(np.asarray(x, dtype=np.float64) ** 2, axis=1))
    ref = latency_intensity_table(rms(reference), intensity, min_count=3)
    gen = latency_intensity_table(rms(generated), intensity, min_count=3)
    ratio = {b: gen[b] / ref[b] for b in sorted(set(ref) & set(gen)) if ref[b] > SILENT_TARGET_RMS_UV}  # not silent
    return {"reference_median_uv": ref, "generated_median_uv": gen, "ratio": ratio}


def _classical(signals: np.ndarray, time_ms: np.ndarray, noise_sd: np.ndarray | None = None):
    return pick_wave_v(signals, time_ms, noise_sd=noise_sd)


def conditioning_report(
    gen_lat: np.ndarray, gen_amp: np.ndarray, ref_lat: np.ndarray, ref_amp: np.ndarray, intensity: np.ndarray,
    ref_intensity: np.ndarray, min_count: int = 3,
) -> dict[str, Any]:  # fmt: skip
    """Latency gap (ms, target ≤ 0.3 per 10 dB bin) and amplitude gap (µV) between generated and reference curves,
    over the bins holding at least `min_count` measured waves on both sides."""
    ref_lat_t = latency_intensity_table(ref_lat, ref_intensity, min_count=min_count)
    gen_lat_t = latency_intensity_table(gen_lat, intensity, min_count=min_count)
    lat = {
        **latency_intensity_gap(ref_lat_t, gen_lat_t),
        "reference_median_ms": ref_lat_t,
        "generated_median_ms": gen_lat_t,
    }
    ref_amp_t = latency_intensity_table(ref_amp, ref_intensity, min_count=min_count)
    gen_amp_t = latency_intensity_table(gen_amp, intensity, min_count=min_count)
    shared = sorted(set(ref_amp_t) & set(gen_amp_t))
    amp_gap = {b: abs(ref_amp_t[b] - gen_amp_t[b]) for b in shared}
    return {
        "latency": lat,
        "amplitude": {
            "reference_median_uv": ref_amp_t,
            "generated_median_uv": gen_amp_t,
            "per_bin_abs_uv": amp_gap,
            "mean_abs_uv": float(np.mean(list(amp_gap.values()))) if amp_gap else float("nan"),
        },
        "wave_v_found_fraction": float(np.isfinite(gen_lat).mean()) if gen_lat.size else float("nan"),
    }


def evaluate_generation(
    model: Any,
    test: ABRCohort,
    *,
    n: int = 2048,
    n_joint: int | None = None,
    sampler: str = "ddim",
    steps: int = 20,
    guidance: float = 2.0,
    seed: int = 0,
    eta: float = 0.0,
    band_limit: bool = True,
    min_count: int = 30,
    static_marginals: np.ndarray | None = None,
) -> dict[str, Any]:
    """Generation quality of `model` (an `abrnet.inference.api.ABRModel`) against the test split `test`.

    Conditions: `n` test records drawn without replacement (all when fewer). Returns a JSON-ready dict.
    The latency/amplitude–intensity comparisons use the conditions whose test record has a labelled wave V: the
    functions are defined where there is a response, and a peak picker run on a condition below threshold (real or
    generated) returns a noise peak that would pull its level bin anywhere. The realism figures use every condition.
    `min_count`: labelled waves a 10 dB bin needs to enter the latency/amplitude comparisons (its median is noisy
    below ~20; with more conditions `n`, a larger `min_count` keeps only bins whose medians mean something).

    Each instrument is also compared with itself on real data, so its own bias cancels: the classical picker on the
    generated vs on the clean test signals, and — when the split has clean signals — the heads on the generated
    signal plus the paired test record's own recording noise (observed − clean: the input the heads were trained
    on) vs the heads on that test recording. The settings are taken as given: `abrnet evaluate --generation`
    chooses them on the validation split first (`abrnet.evaluation.generation_choice`). Joint mode: see
    `joint_static_report` (`static_marginals`: the training split's static rows, for its trivial baseline).
    """
    rng = np.random.default_rng(seed)
    take = np.sort(rng.choice(test.n_records, size=min(n, test.n_records), replace=False))
    data = test.subset(take)
    reference = data.clean if data.clean is not None else data.signals
    ref_name = "clean" if data.clean is not None else "observed"
    intensity = data.static_column("intensity_db")
    time_ms = data.time_ms

    t_start = time.perf_counter()
    gen = model.generate(
        1, conditions=data.static, sampler=sampler, steps=steps, guidance=guidance, seed=seed, eta=eta,
        band_limit=band_limit,
    )  # fmt: skip
    seconds = time.perf_counter() - t_start
    heads_lat, heads_amp = heads_wave_v(model, gen.signals, gen.static)
    cls_lat, cls_amp = _classical(gen.signals, time_ms)
    ref_cls_lat, ref_cls_amp = _classical(reference, time_ms)
    lab_lat, lab_amp = data.latency_ms[:, _V], data.amplitude_uv[:, _V]
    resp = np.isfinite(lab_lat)  # conditions with a response: where a latency–intensity function exists
    lvl = intensity[resp]
    in_domain: dict[str, Any] = {}
    if data.clean is not None:
        noise = data.signals - data.clean  # (n, T) µV: the paired test record's recording noise
        h_gen_lat, h_gen_amp = heads_wave_v(model, gen.signals + noise, gen.static)
        h_ref_lat, h_ref_amp = heads_wave_v(model, data.signals, data.static)
        in_domain["heads_with_recording_noise_vs_heads_on_test"] = conditioning_report(
            h_gen_lat[resp], h_gen_amp[resp], h_ref_lat[resp], h_ref_amp[resp], lvl, lvl, min_count
        )

    out: dict[str, Any] = {
        "n_conditions": int(data.n_records),
        "sampler": sampler,
        "steps": int(steps),
        "guidance": float(guidance),
        "eta": float(eta),
        "band_limit": bool(band_limit),
        "seed": int(seed),
        "reference_signals": ref_name,
        "latency_gap_target_ms": LATENCY_GAP_TARGET_MS,
        "signals_per_second": data.n_records / seconds if seconds > 0 else None,
        "conditional": {
            "n_with_response": int(resp.sum()),
            "min_count": int(min_count),
            "labelled_v_per_bin": _bin_counts(lvl),  # a bin just above min_count can decide the max gap alone
            "real_vs_real_labels": label_noise_floor(test, take, seed=seed, min_count=min_count),
            "heads_vs_labels": conditioning_report(
                heads_lat[resp], heads_amp[resp], lab_lat[resp], lab_amp[resp], lvl, lvl, min_count
            ),
            "classical_vs_labels": conditioning_report(
                cls_lat[resp], cls_amp[resp], lab_lat[resp], lab_amp[resp], lvl, lvl, min_count
            ),
            "classical_vs_classical_on_reference": conditioning_report(
                cls_lat[resp], cls_amp[resp], ref_cls_lat[resp], ref_cls_amp[resp], lvl, lvl, min_count
            ),
            **in_domain,
            "rms_by_level": rms_by_level(reference, gen.signals, intensity),
            **realism(reference, gen.signals, data.sampling_rate_hz, seed),
        },
    }
    m = n if n_joint is None else n_joint
    joint = model.generate(m, joint=True, sampler=sampler, steps=steps, seed=seed + 1, band_limit=band_limit)
    out["joint"] = {
        "n": int(m),
        **joint_static_report(test, joint.signals, joint.static, static_marginals, seed),
        **realism(reference, joint.signals, data.sampling_rate_hz, seed),
        "static_median_generated": dict(zip(STATIC_PARAMS, np.median(joint.static, axis=0).tolist(), strict=True)),
        "static_median_test": dict(zip(STATIC_PARAMS, np.median(test.static, axis=0).tolist(), strict=True)),
    }
    return json_ready(out)


def _bin_counts(intensity_db: np.ndarray, bin_db: float = 10.0) -> dict[float, int]:
    """Labelled waves per level bin, on the bins `latency_intensity_table` uses: which bins are thin.

    The max gap over bins is decided by the thinnest bin that passes `min_count`, and a bin near that count enters
    or drops out with the draw of conditions (benchmarks/results/generation_seeds.md: 0.41–0.83 ms for one checkpoint
    over three seeds), so the report says how many waves each bin's median stands on."""
    edges, counts = np.unique(level_bin_edges(intensity_db, bin_db), return_counts=True)
    return {float(e): int(c) for e, c in zip(edges, counts, strict=True)}


def _spearman(a: np.ndarray, b: np.ndarray) -> dict[str, Any]:
    """Spearman ρ of a and b over the pairs where both are finite, with that count (ρ None under 3 pairs)."""
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3 or np.ptp(a[ok]) == 0 or np.ptp(b[ok]) == 0:
        return {"rho": None, "n": int(ok.sum())}
    return {"rho": float(spearmanr(a[ok], b[ok]).statistic), "n": int(ok.sum())}


def joint_static_report(
    real: ABRCohort, signals: np.ndarray, static: np.ndarray, marginals: np.ndarray | None, seed: int
) -> dict[str, Any]:
    """Does joint generation's p(s | x) give the right static parameters — marginally and *coupled* to the signal?

    real: the split's records (their static (N, 4) and reference signals); signals (M, T) µV / static (M, 4)
    physical: the joint samples; marginals: (K, 4) static rows of the training split (None: `real`'s own).
    - ks_static: two-sample KS per parameter, generated vs `real` (0 = same distribution, 1 = disjoint).
    - ks_static_marginal_baseline: the same for the trivial generator that draws each parameter independently from
      `marginals` — KS ≈ 0 marginally, so a low KS alone proves nothing about p(s | x).
    - intensity_latency_coupling: Spearman ρ of intensity with the classical-picker wave V latency of the signal,
      for the real records, the joint samples, and the joint signals paired with the baseline's intensities (≈ 0:
      no coupling). Real ABRs have a strongly negative ρ (louder → earlier); the joint must reproduce it. The
      picker runs with one fixed noise floor (`COUPLING_NOISE_SD_UV`) on both sides: its default per-trace noise
      estimate finds a "wave" in the float dust of a silent clean trace below threshold. "real_labels" is the
      same ρ with the records' labelled latencies.
    """
    rng = np.random.default_rng(seed + 2)
    pool = real.static if marginals is None else np.asarray(marginals, dtype=np.float64)  # (K, 4)
    baseline = np.stack([rng.choice(pool[:, j], size=len(static)) for j in range(pool.shape[1])], axis=1)  # (M, 4)
    k = STATIC_PARAMS.index("intensity_db")
    reference = real.clean if real.clean is not None else real.signals  # (N, T) µV
    real_lat = _classical(reference, real.time_ms, COUPLING_NOISE_SD_UV)[0]  # (N,) ms, NaN = no wave V found
    gen_lat = _classical(signals, real.time_ms, COUPLING_NOISE_SD_UV)[0]  # (M,)
    return {
        "ks_static": ks_distances(real.static, static, STATIC_PARAMS),
        "ks_static_marginal_baseline": ks_distances(real.static, baseline, STATIC_PARAMS),
        "marginal_baseline_source": "real split" if marginals is None else "training split",
        "intensity_latency_coupling": {
            "measure": "Spearman rho, intensity_db vs classical-picker wave V latency (records where it finds one)",
            "noise_sd_uv": COUPLING_NOISE_SD_UV,
            "real": _spearman(real.static[:, k], real_lat),
            "real_labels": _spearman(real.static[:, k], real.latency_ms[:, _V]),
            "joint": _spearman(static[:, k], gen_lat),
            "marginal_baseline": _spearman(baseline[:, k], gen_lat),
        },
    }


def write_generation_report(report: dict[str, Any], out_dir: str | Path, *, overwrite: bool = False) -> Path:
    """DIR/generation.json; an existing one is replaced only with `overwrite` (`abrnet evaluate` checks it with its
    other outputs before evaluating: --force, or the same evaluation again)."""
    return write_json(report, Path(out_dir) / "generation.json", overwrite=overwrite)


def generation_summary(report: dict[str, Any]) -> str:
    """One short, human-readable paragraph of the headline numbers."""
    c, j = report["conditional"], report["joint"]

    def f(x: Any, spec: str = ".3f") -> str:
        return "n/a" if x is None else format(x, spec)

    coupling = j["intensity_latency_coupling"]
    sel = report.get("selection")
    chosen = (
        f"; settings chosen on {sel['split']} ({sel['n_conditions']} conditions, {len(sel['candidates'])} "
        "candidates), test generated once"
        if sel
        else ""
    )

    def gap(key: str) -> str:
        lat = (c.get(key) or {}).get("latency") or {}
        return f"{f(lat.get('max_abs_ms'), '.2f')} / {f(lat.get('mean_abs_ms'), '.2f')} ms"

    return (
        f"generation ({report['sampler']}, {report['steps']} steps, guidance {report['guidance']:g}, "
        f"{'through the recording band-pass' if report.get('band_limit', True) else 'raw sampler output'}, "
        f"{report['n_conditions']} test conditions): V latency gap per 10 dB bin with >= {c.get('min_count', 3)} "
        f"waves, max / mean: classical picker vs labels {gap('classical_vs_labels')}, vs itself on the test signals "
        f"{gap('classical_vs_classical_on_reference')}; heads vs labels {gap('heads_vs_labels')}, with the paired "
        f"recording noise vs themselves on the test recordings {gap('heads_with_recording_noise_vs_heads_on_test')} "
        f"(target 0.3 ms; two real samples of this size differ by "
        f"{f((c.get('real_vs_real_labels') or {}).get('max_abs_ms_median'), '.2f')} ms max); "
        f"real-vs-generated AUC {f(c['two_sample_auc'])} ({f(c['two_sample_auc_abr_band'])} in the 100-3000 Hz "
        f"band); spectral distance {f(c['spectral_distance_db'], '.2f')} dB "
        f"({f(c['spectral_distance_abr_band_db'], '.2f')} dB in band); joint KS "
        + ", ".join(f"{k} {f(v, '.2f')}" for k, v in j["ks_static"].items())
        + f" (independent marginals: {', '.join(f(v, '.2f') for v in j['ks_static_marginal_baseline'].values())}); "
        f"intensity-latency Spearman rho joint {f(coupling['joint']['rho'], '.2f')} vs real "
        f"{f(coupling['real']['rho'], '.2f')} (independent marginals {f(coupling['marginal_baseline']['rho'], '.2f')})"
        + chosen
    )
