"""How good are generated ABRs? Distribution-level checks that do not trust the generator's own model.

- `two_sample_auc`: can a classifier tell real from generated traces? (0.5 = no, 1.0 = trivially)
- `spectral_distance`: log-spectral distance (dB) between the mean Welch PSDs.
- `ks_distances`: per-parameter Kolmogorov-Smirnov statistics of the static parameters.
- `latency_intensity_table` / `latency_intensity_gap`: the wave V latency-intensity function, the physiology
  check clinicians use; target gap <= 0.3 ms per 10 dB bin.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from scipy import signal as sps
from scipy.stats import ks_2samp
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from abrnet.constants import DEFAULT_SAMPLING_RATE_HZ, RECORDING_BAND_HZ, STATIC_PARAMS
from abrnet.data.filters import bandpass_filter

LATENCY_GAP_TARGET_MS: float = 0.3


def _check_2d(name: str, x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"{name} must be (N, T) with N >= 2, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or inf")
    return x


ABR_BAND_HZ: tuple[float, float] = RECORDING_BAND_HZ  # the recording band of clinical ABR systems (and the simulator)


def _features(x: np.ndarray, fs: float, band: tuple[float, float] | None) -> np.ndarray:
    """Raw samples plus log power per rfft bin: the spectrum catches wrong noise colour the samples hide.

    With `band`, both are taken after a zero-phase band-pass and only the bins inside the band are kept.
    """
    bins = np.fft.rfftfreq(x.shape[1], 1.0 / fs)
    keep = np.ones_like(bins, dtype=bool)
    if band is not None:
        x = bandpass_filter(x, fs, low=band[0], high=band[1])
        keep = (bins >= band[0]) & (bins <= band[1])
    log_power = np.log(np.abs(np.fft.rfft(x, axis=1)[:, keep]) ** 2 + 1e-12)  # (N, bins kept)
    return np.concatenate([x, log_power], axis=1)


def two_sample_auc(
    real: np.ndarray,
    fake: np.ndarray,
    seed: int = 0,
    *,
    classifier: Literal["logistic", "gbm"] = "logistic",
    n_splits: int = 5,
    band: tuple[float, float] | None = None,
    fs: float = DEFAULT_SAMPLING_RATE_HZ,
) -> float:
    """Classifier two-sample test: out-of-fold ROC AUC of real-vs-fake on samples + log-spectrum features.

    ≈ 0.5 means the classifier cannot separate them (at this sample size); → 1.0 means trivially separable.
    Stratified K-fold, AUC over the pooled out-of-fold probabilities; classes are balanced by weighting, so unequal
    N and M do not bias it. Values below 0.5 are chance fluctuation, returned as they are. "logistic" (L2, C=0.1,
    standardised features) is fast and stable; "gbm" catches non-linear differences but needs more samples.
    `band` (Hz) compares both sets inside that band only (e.g. `ABR_BAND_HZ`): what a recording system passes.
    """
    real, fake = _check_2d("real", real), _check_2d("fake", fake)
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"real and fake lengths differ: {real.shape[1]} vs {fake.shape[1]}")
    x = _features(np.concatenate([real, fake]), fs, band)
    y = np.concatenate([np.ones(len(real), dtype=int), np.zeros(len(fake), dtype=int)])
    if classifier == "logistic":
        clf = make_pipeline(
            StandardScaler(), LogisticRegression(C=0.1, max_iter=2000, class_weight="balanced", random_state=seed)
        )
    elif classifier == "gbm":
        clf = HistGradientBoostingClassifier(max_iter=100, class_weight="balanced", random_state=seed)
    else:
        raise ValueError(f"classifier must be 'logistic' or 'gbm', got {classifier!r}")
    folds = min(n_splits, len(real), len(fake))
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    # one OpenMP thread: on small, shared CPUs the GBM's busy-waiting threads slow it down by orders of magnitude
    with threadpool_limits(limits=1, user_api="openmp"):
        prob = cross_val_predict(clf, x, y, cv=cv, method="predict_proba")[:, 1]
    return float(roc_auc_score(y, prob))


def mean_welch_psd(
    signals: np.ndarray, fs: float = DEFAULT_SAMPLING_RATE_HZ, nperseg: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(freqs (F,), mean PSD over records (F,)): Welch, Hann window, nperseg = min(64, T) by default."""
    x = _check_2d("signals", signals)
    nper = min(64, x.shape[1]) if nperseg is None else int(nperseg)
    f, p = sps.welch(x, fs=fs, nperseg=nper, axis=1)  # (N, F)
    return f, p.mean(axis=0)


def spectral_distance(
    real: np.ndarray,
    fake: np.ndarray,
    fs: float = DEFAULT_SAMPLING_RATE_HZ,
    *,
    nperseg: int | None = None,
    band: tuple[float, float] | None = None,
) -> float:
    """Log-spectral distance in dB: RMS over frequency of 10·log10(P_real / P_fake) of the mean Welch PSDs.

    0 for identical spectra; a global gain error of g (amplitude) gives exactly |20·log10 g| dB. The DC bin is
    excluded (baseline offsets are not spectral shape); `band` = (low, high) Hz restricts the comparison.
    Compares averaged power, so it is blind to phase and to how power is shared between records.
    """
    f, p_r = mean_welch_psd(real, fs, nperseg)
    _, p_f = mean_welch_psd(fake, fs, nperseg)
    keep = f > 0
    if band is not None:
        keep &= (f >= band[0]) & (f <= band[1])
    if not keep.any():
        raise ValueError(f"no frequency bins in band {band}")
    d = 10.0 * np.log10((p_r[keep] + 1e-30) / (p_f[keep] + 1e-30))
    return float(np.sqrt(np.mean(d**2)))


def ks_distances(
    real_static: np.ndarray, fake_static: np.ndarray, names: Sequence[str] = STATIC_PARAMS
) -> dict[str, float]:
    """Two-sample KS statistic per static parameter (0 = same empirical distribution, 1 = disjoint)."""
    r, f = np.asarray(real_static, dtype=np.float64), np.asarray(fake_static, dtype=np.float64)
    if r.ndim != 2 or f.ndim != 2 or r.shape[1] != len(names) or f.shape[1] != len(names):
        raise ValueError(f"static arrays must be (N, {len(names)}), got {r.shape} and {f.shape}")
    return {name: float(ks_2samp(r[:, j], f[:, j]).statistic) for j, name in enumerate(names)}


def level_bin_edges(intensity_db: np.ndarray, bin_db: float = 10.0) -> np.ndarray:
    """Lower edge of each record's intensity bin, [k·bin_db, (k+1)·bin_db): the bins every latency–intensity
    comparison is read on."""
    return np.floor(np.asarray(intensity_db, dtype=np.float64) / bin_db) * bin_db


def latency_intensity_table(
    latency_ms: np.ndarray, intensity_db: np.ndarray, bin_db: float = 10.0, *, min_count: int = 1
) -> dict[float, float]:
    """Median wave V latency per intensity bin → {bin lower edge dB: median ms}.

    Bins are [k·bin_db, (k+1)·bin_db); NaN latencies (no wave) are ignored and bins with fewer than `min_count`
    finite latencies are left out, so a generator that produces no wave at some level shows up as a missing bin.
    """
    lat = np.asarray(latency_ms, dtype=np.float64).ravel()
    inten = np.asarray(intensity_db, dtype=np.float64).ravel()
    if lat.shape != inten.shape:
        raise ValueError(f"latency_ms and intensity_db differ in length: {lat.shape} vs {inten.shape}")
    ok = np.isfinite(lat) & np.isfinite(inten)
    edges = level_bin_edges(inten[ok], bin_db)
    table: dict[float, float] = {}
    for edge in np.unique(edges):
        vals = lat[ok][edges == edge]
        if len(vals) >= min_count:
            table[float(edge)] = float(np.median(vals))
    return table


def latency_intensity_gap(
    real_table: dict[float, float], gen_table: dict[float, float], target_ms: float = LATENCY_GAP_TARGET_MS
) -> dict[str, object]:
    """Compare two latency-intensity tables over their shared bins.

    Returns per_bin {edge: |real − gen| ms}, max_abs_ms and mean_abs_ms (NaN if no shared bin), n_shared,
    missing_in_gen / extra_in_gen (bin edges), and within_target: max_abs_ms <= target_ms with no real bin missing.
    """
    shared = sorted(set(real_table) & set(gen_table))
    per_bin = {b: abs(real_table[b] - gen_table[b]) for b in shared}
    gaps = np.array(list(per_bin.values()), dtype=np.float64)
    max_abs = float(gaps.max()) if gaps.size else float("nan")
    missing = sorted(set(real_table) - set(gen_table))
    return {
        "per_bin": per_bin,
        "max_abs_ms": max_abs,
        "mean_abs_ms": float(gaps.mean()) if gaps.size else float("nan"),
        "n_shared": len(shared),
        "missing_in_gen": missing,
        "extra_in_gen": sorted(set(gen_table) - set(real_table)),
        "within_target": bool(gaps.size and max_abs <= target_ms and not missing),
    }
