"""Synthetic ABRs from a trained model: the body of `ABRModel.generate` (which delegates here), its recording noise,
its per-signal generators and the warnings about conditions the model never saw.

Why a module of its own: generation has concerns of its own (the training domain of a *condition*, the added noise
and what it makes of the FMP column, ids unique per seed), and `api` (the model object) has to stay under the size
limit. The public entry point stays `abrnet.load().generate(...)`.

Why warnings and not refusals: a condition outside the training cohort (130 dB nHL, 500 clicks/s, FMP 1000) is a
legitimate question to ask a generative model, but its answer is an extrapolation (rate 90/s gave flat traces that
read as "no response"), so the user must be told before a synthetic data set is built from it. The lines are stored
in ``attrs["warnings"]`` (so they travel with the file) and raised as `UserWarning` for Python callers.
"""

from __future__ import annotations

import warnings as pywarnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from abrnet.constants import (
    DEFAULT_N_SAMPLES,
    DEFAULT_SAMPLING_RATE_HZ,
    DEFAULT_T0_MS,
    GENERATION_STEPS,
    PHYSICAL_RANGES,
    RECORDING_BAND_HZ,
    RECORDING_FILTER_ORDER,
    STATIC_PARAMS,
    WAVES,
)
from abrnet.data.files import check_fname, staged_write
from abrnet.data.metadata import LEVEL_UNIT, SIMULATED
from abrnet.data.schema import ABRCohort
from abrnet.inference.arguments import check_generate
from abrnet.inference.training_ranges import TrainingRanges, outside

if TYPE_CHECKING:
    from abrnet.inference.api import ABRModel

INTENSITY_STEP_DB = 5.0  # clinical level grid: jointly generated intensities are snapped to it
WARNINGS_ATTR = "warnings"  # attrs key: the warning lines, one per line of text


def clip_physical(static: np.ndarray) -> np.ndarray:
    """Static rows clipped to `PHYSICAL_RANGES` (joint draws can leave them) → float32."""
    out = np.asarray(static, dtype=np.float64).copy()
    for j, name in enumerate(STATIC_PARAMS):
        lo, hi = PHYSICAL_RANGES[name]
        out[:, j] = np.clip(out[:, j], lo, hi)
    return out.astype(np.float32)


def recording_band_pass(signals_uv: np.ndarray) -> np.ndarray:
    """(n, T) µV through the recording band-pass (zero-phase Butterworth, `RECORDING_BAND_HZ`) → float32."""
    from abrnet.data.filters import bandpass_filter

    low, high = RECORDING_BAND_HZ
    out = bandpass_filter(signals_uv, DEFAULT_SAMPLING_RATE_HZ, low=low, high=high, order=RECORDING_FILTER_ORDER)
    return np.asarray(out, dtype=np.float32)


def recording_noise(
    n: int, residual_noise_nv: float | np.ndarray, seed: int, length: int = DEFAULT_N_SAMPLES
) -> np.ndarray:
    """(n, length) µV of recording noise from the simulator's model: 1/f^α EEG through the clinical band-pass, each
    record scaled so that its own RMS over the window equals the residual noise given (exactly, per record).

    Why per record: the simulator's shaped noise has unit RMS only in expectation, and over a 10 ms window its 1/f
    power makes one record's RMS vary widely (41–64 nV measured for 50 requested); a user asking for 50 nV expects
    every record to hold 50 nV. Mains, stimulus artefact and bursts are left out (rare, device-specific)."""
    from abrnet.data.simulate import SimulationConfig
    from abrnet.data.simulate import noise as nz

    cfg = SimulationConfig()
    sos = nz.bandpass_sos(DEFAULT_SAMPLING_RATE_HZ, cfg.bandpass_hz, cfg.filter_order)
    n_fft = int(2 ** np.ceil(np.log2(2 * length)))
    rng = np.random.default_rng(seed)
    eeg = nz.shaped_noise(rng, n, n_fft, DEFAULT_SAMPLING_RATE_HZ, cfg.noise_exponent, sos)[:, :length]
    eeg = eeg / np.sqrt(np.mean(np.square(eeg), axis=1, keepdims=True))  # unit RMS per record
    rn_uv = np.broadcast_to(np.asarray(residual_noise_nv, dtype=np.float64) / 1000.0, (n,))
    return (eeg * rn_uv[:, None]).astype(np.float32)


def sample_generators(seed: int, start: int, count: int) -> list[torch.Generator]:
    """One CPU generator per signal, seeded from (seed, signal index): each signal's noise (x_T, the η > 0 step
    noise, the joint static draw) comes from its own stream, so the output does not depend on `batch_size` (one
    generator consumed batch by batch did). Denoising draws no noise, so it takes none (`ABRModel.denoise`)."""
    seeds = (np.random.SeedSequence([seed, i]).generate_state(1, np.uint64)[0] for i in range(start, start + count))
    return [torch.Generator().manual_seed(int(s)) for s in seeds]


def generated_ids(seed: int, m: int) -> np.ndarray:
    """``gen<seed>-000000``...: unique per seed, so files generated with different seeds can be read together
    (``abrnet predict a.h5 b.h5`` refused two files that both held patient ``gen000000``), and still the same for the
    same seed (determinism). Two files of one seed are the same signals, so their ids may well clash."""
    return np.array([f"gen{int(seed)}-{i:06d}" for i in range(m)])


def _values(x: np.ndarray) -> str:
    """The distinct offending values, sorted, as the user typed them (``130, 140``)."""
    return ", ".join(f"{v:g}" for v in np.unique(np.asarray(x, np.float64)))


def condition_warnings(cohort: ABRCohort, ranges: TrainingRanges) -> list[str]:
    """One line per kind of condition outside the training cohort, listing the offending values, each named as the
    quantity it is (``intensity``, ``rate``, ``age``, ``FMP``): the same line reaches a Python caller, who passed a
    ``conditions`` row and has no ``--intensity`` flag, and the CLI user (hunt 43). Adults inside the
    simulated age range are not warned about here: predict's sparse-adult line speaks of reading accuracy, which
    means nothing for a generated signal, and it fired on the validation conditions `evaluate --generation` draws.

    The ranges are the checkpoint's (`training_ranges.TrainingRanges`, as predict warns with them): rate, age and
    FMP the simulator's configuration and the normaliser's FMP bound, or a file-trained model's training split; level
    the domain guard predict uses (`domain.level_reasons`, the simulator's 0–100 dB nHL), and a file-trained model's
    own levels besides."""
    from abrnet.data.simulate.protocol import GRID_DB, MAX_LEVEL_DB
    from abrnet.inference.domain import level_reasons

    n = cohort.n_records
    tail = "the model never saw such a condition, so these signals are extrapolations, not physiology"
    out: list[str] = []
    level = cohort.static_column("intensity_db")
    bad = np.array([bool(r) for r in level_reasons(cohort, np.full(n, SIMULATED[LEVEL_UNIT]))], bool)
    lo, hi = min(GRID_DB), MAX_LEVEL_DB  # the guard's own constants, for the message only
    if ranges.intensity_db is not None:
        bad |= outside(level, ranges.intensity_db)
        lo, hi = max(lo, ranges.intensity_db[0]), min(hi, ranges.intensity_db[1])
    if bad.any():
        out.append(
            f"generate: intensity {_values(level[bad])} dB nHL outside the training cohort's {lo:g}–{hi:g} dB nHL; "
            f"{tail}"
        )
    rate = cohort.static_column("stimulus_rate_hz")
    if ranges.stimulus_rate_hz is not None and (bad := outside(rate, ranges.stimulus_rate_hz)).any():
        lo, hi = ranges.stimulus_rate_hz
        out.append(f"generate: rate {_values(rate[bad])} /s outside the training cohort's {lo:g}–{hi:g} /s; {tail}")
    age = cohort.static_column("age_years")
    if ranges.age_years is not None and (bad := outside(age, ranges.age_years)).any():
        lo, hi = ranges.age_years
        out.append(f"generate: age {_values(age[bad])} years outside the training cohort's {lo:g}–{hi:g} years; {tail}")
    fmp = cohort.static_column("fmp")
    if (bad := ranges.fmp_above(fmp)).any():
        out.append(f"generate: FMP {_values(fmp[bad])} above the training split's FMP ({ranges.fmp_seen}); {tail}")
    return out


@torch.no_grad()
def generate_cohort(
    abr: ABRModel,
    n: int = 1,
    *,
    conditions: np.ndarray | Sequence[Sequence[float]] | None = None,
    joint: bool = False,
    sampler: str = "ddim",
    steps: int = GENERATION_STEPS,
    guidance: float | None = None,
    seed: int = 0,
    add_noise_nv: float | None = None,
    batch_size: int = 256,
    eta: float = 0.0,
    band_limit: bool = True,
) -> ABRCohort:
    """`ABRModel.generate` (see there for the arguments): the cohort of generated signals, its warnings in
    ``attrs["warnings"]`` and raised as `UserWarning`.

    With `add_noise_nv` the signals are no longer the condition's clean response, and the FMP of the noisy record
    was never measured (no split buffers are simulated), so the ``fmp`` column is NaN ("not measured"): predict and
    denoise trusted the requested FMP for a record whose quality depends on the added noise. The FMP the model was
    conditioned on is always kept in ``extras["generation_fmp"]``."""
    from abrnet.diffusion.sampling import generate_joint, sample

    cond, guidance = check_generate(
        n=n, joint=joint, conditions=conditions, sampler=sampler, steps=steps, guidance=guidance, seed=seed,
        add_noise_nv=add_noise_nv, batch_size=batch_size, eta=eta, band_limit=band_limit,
    )  # fmt: skip
    ptype, norm = abr.prediction_type, abr.normalizer
    chunks: list[np.ndarray] = []
    statics: list[np.ndarray] = []
    if cond is None:  # joint
        for start in range(0, n, batch_size):
            b = min(batch_size, n - start)
            x, s = generate_joint(
                abr.model, b, abr.device, steps=int(steps), sampler=sampler,  # type: ignore[arg-type]
                generator=sample_generators(seed, start, b),
                prediction_type=ptype, length=abr.n_samples,  # type: ignore[arg-type]
            )  # fmt: skip
            chunks.append(x.float().cpu().numpy())
            statics.append(norm.static_to_physical(s.float().cpu().numpy()))
        static = np.concatenate(statics)
        k = STATIC_PARAMS.index("intensity_db")
        static[:, k] = np.round(static[:, k] / INTENSITY_STEP_DB) * INTENSITY_STEP_DB
        static = clip_physical(static)
    else:
        static = np.repeat(cond, n, axis=0)
        z = torch.from_numpy(norm.static(static))
        for start in range(0, len(static), batch_size):
            zb = z[start : start + batch_size]
            x = sample(
                abr.model, zb.to(abr.device), steps=int(steps), sampler=sampler,  # type: ignore[arg-type]
                guidance_scale=float(guidance),  # type: ignore[arg-type]
                generator=sample_generators(seed, start, len(zb)),
                prediction_type=ptype, length=abr.n_samples, eta=float(eta),  # type: ignore[arg-type]
            )  # fmt: skip
            chunks.append(x.float().cpu().numpy())
    clean = np.asarray(norm.signal_to_uv(np.concatenate(chunks)), dtype=np.float32)
    if band_limit:
        clean = recording_band_pass(clean)
    m = clean.shape[0]
    signals, clean_out = clean, None
    j_fmp = STATIC_PARAMS.index("fmp")
    extras = {"generation_fmp": static[:, j_fmp].astype(np.float32)}
    if not joint:
        extras["condition_index"] = np.repeat(np.arange(len(static) // n), n).astype(np.int32)
    stored = static.astype(np.float32)
    if add_noise_nv is not None:
        signals = clean + recording_noise(m, add_noise_nv, seed, abr.n_samples)
        clean_out = clean
        stored[:, j_fmp] = np.nan  # not measured: the noisy record's FMP was never computed (see the docstring)
    nan3 = np.full((m, len(WAVES)), np.nan, np.float32)
    attrs: dict[str, str | float | int] = {
        "generator": "abrnet.generate",
        "mode": "joint" if joint else "conditional",
        "sampler": sampler,
        "steps": int(steps),
        "guidance": float(guidance) if not joint else 1.0,  # type: ignore[arg-type]
        "eta": float(eta),
        "band_limit_hz": "{:g}-{:g}".format(*RECORDING_BAND_HZ) if band_limit else "none",
        "seed": int(seed),
        "checkpoint": str(abr.checkpoint),
        "signal_kind": "clean response" if add_noise_nv is None else "clean response + simulated recording noise",
    }
    if add_noise_nv is not None:
        attrs["added_noise_nv"] = float(add_noise_nv)
        attrs["fmp"] = "not measured (noise added); the conditioning FMP is in extras/generation_fmp"
    cohort = ABRCohort(
        signals=signals.astype(np.float32),
        static=stored,
        patient_id=generated_ids(seed, m),
        ear=np.full(m, "R"),
        latency_ms=nan3,
        amplitude_uv=nan3.copy(),
        class_id=np.full(m, -1, np.int64),
        threshold_db=np.full(m, np.nan, np.float32),
        no_response=np.zeros(m, bool),
        sampling_rate_hz=DEFAULT_SAMPLING_RATE_HZ,
        t0_ms=DEFAULT_T0_MS,
        clean=clean_out,
        extras=extras,
        attrs=attrs,
    ).validate(source="<generated>")
    # the conditions asked for (with their FMP), not the stored columns: a NaN FMP column would hide an FMP of 1000;
    # joint draws are the model's own, asked by nobody (a file-trained model flagged its own FMP draws: review 50f #2)
    asked = cohort.subset(np.arange(m))
    asked.static = static.astype(np.float32)
    if cond is not None and (lines := condition_warnings(asked, abr.ranges)):
        cohort.attrs[WARNINGS_ATTR] = "\n".join(lines)
        for line in lines:
            pywarnings.warn(line, UserWarning, stacklevel=3)
    return cohort


def generation_warnings(cohort: ABRCohort) -> list[str]:
    """The warning lines a generated cohort carries (``attrs["warnings"]``), [] when none."""
    text = str(cohort.attrs.get(WARNINGS_ATTR, ""))
    return [line for line in text.split("\n") if line]


def plot_generated(cohort: ABRCohort, path: Path, k: int = 12, *, overwrite: bool = False) -> None:
    """Up to `k` generated signals, stacked, labelled with the condition each was generated for (its conditioning
    FMP, ``extras["generation_fmp"]``, even where the stored column is NaN because noise was added). An existing
    ``path`` is replaced only with ``overwrite`` (else FileExistsError, before anything is drawn)."""
    path = check_fname(path, overwrite=overwrite)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = min(k, cohort.n_records)
    fig, ax = plt.subplots(figsize=(5.0, 1.0 + 0.55 * k))
    spacing = max(0.5, 1.2 * float(np.percentile(np.ptp(cohort.signals[:k], axis=1), 75)))
    fmps = cohort.extras.get("generation_fmp", cohort.static_column("fmp"))
    for i in range(k):
        age, level, _rate, _ = cohort.static[i]
        fmp = float(fmps[i])
        ax.plot(cohort.time_ms, cohort.signals[i] - i * spacing, color="black", lw=0.8)
        ax.text(
            cohort.time_ms[-1] + 0.15,
            -i * spacing,
            f"{level:g} dB nHL, {age:.3g} y, {_rate:g} Hz, "
            + (f"FMP {fmp:.1f}" if np.isfinite(fmp) else "FMP not measured"),
            fontsize=6,
            va="center",
        )
    ax.set_yticks([])
    ax.set_xlabel("time (ms)")
    ax.set_xlim(cohort.time_ms[0], cohort.time_ms[-1] + 3.0)
    # Why: without a scale the amplitudes could not be read, and the title omitted what set the signals' shape
    ax.plot([cohort.time_ms[0] + 0.2] * 2, [0.5 * spacing, 0.5 * spacing - 0.5], color="gray", lw=2)
    ax.text(cohort.time_ms[0] + 0.35, 0.5 * spacing - 0.25, "0.5 µV", fontsize=6, color="gray", va="center")
    a = cohort.attrs
    guided = f", guidance {float(a['guidance']):g}" if a.get("mode") == "conditional" and "guidance" in a else ""
    ax.set_title(
        f"generated: {a.get('signal_kind', '')}\n({a.get('mode')}, {a.get('sampler')}, {a.get('steps')} steps"
        f"{guided}, seed {a.get('seed')})",
        fontsize=8,
    )
    fig.tight_layout()
    with staged_write(path, overwrite=overwrite) as staged:
        fig.savefig(staged, dpi=110)
    plt.close(fig)
