"""Using a trained model from Python: ``abrnet.load(ckpt)`` → ``predict`` / ``denoise`` / ``generate``.

The CLI (`abrnet predict|denoise|generate`) is a thin layer over this module, so both give identical numbers.

* predict: the heads read the observed recording at t = 0 (exactly `predict_cohort`'s analysis path, without the
  reconstruction pass it also runs for evaluation), one row per record; series mode combines an ear's intensity
  series with `aggregate_ears`, the same rule as the per-ear section of `abrnet evaluate`.
* denoise: the diffusion model's estimate of the clean response, starting from the noise level implied by the
  recording (`recording_noise_std_uv`); `steps=1` is the posterior mean. The heads also read each observed record
  (its p(V) is kept), because the estimate of a record without a response still looks like one.
* generate (`generation.generate_cohort`): the diffusion model was trained on the *clean* response whenever the
  cohort had one (simulated data), so generated signals are noise-free responses. `add_noise_nv` adds recording
  noise drawn from the simulator's noise model (1/f EEG through the 100–3000 Hz band-pass, each record scaled to
  the given residual noise in nV RMS).

Inputs on another grid (rate, window) are resampled/cropped to the model's grid with `to_model_grid`; every gap in
the 0–10 ms window is reported in the returned warnings, never silently.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from abrnet.constants import DEFAULT_N_SAMPLES, GENERATION_STEPS, PRESENCE_THRESHOLD, WAVES, is_present
from abrnet.data.metadata import DB_ATTENUATION, LEVEL_UNIT, metadata_of
from abrnet.data.schema import ABRCohort, DataError
from abrnet.inference.arguments import check_denoise, check_flag, check_input, check_int
from abrnet.inference.checkpoint import LoadedModel, check_device, load_checkpoint
from abrnet.inference.conditions import read_conditions as read_conditions  # the public name stays here
from abrnet.inference.default_model import default_checkpoint
from abrnet.inference.generation import INTENSITY_STEP_DB as INTENSITY_STEP_DB  # public names kept here
from abrnet.inference.generation import recording_band_pass as recording_band_pass
from abrnet.inference.generation import recording_noise as recording_noise
from abrnet.inference.input_warnings import input_warnings
from abrnet.inference.inputs import mixed_series_warnings
from abrnet.inference.option_names import COHORT_NAMES, OptionNames
from abrnet.inference.polarity import flipped_ears, polarity_warning
from abrnet.inference.result_tables import PredictionReport
from abrnet.inference.series_warnings import series_warnings
from abrnet.inference.training_ranges import DEFAULT_RANGES, TrainingRanges
from abrnet.models.predictions import Predictions
from abrnet.series.peaks import apply_peak_blend
from abrnet.series.per_ear import aggregate_ears

SamplerName = Literal["ddim", "dpm"]


# ------------------------------------------------------------------------------------------------ reading input
def _model_length(loaded: LoadedModel) -> int:
    cfg = getattr(loaded.model, "config", None)
    return int(getattr(cfg, "input_length", DEFAULT_N_SAMPLES))


def to_model_cohort(cohort: ABRCohort, n_samples: int = DEFAULT_N_SAMPLES) -> tuple[ABRCohort, list[str]]:
    """`cohort` on the model grid (20 kHz, `n_samples` from 0 ms), its DC offset and slow trend removed beyond the
    simulated cohort's, with the warnings: `inputs.on_model_grid`, the path files take too."""
    from abrnet.inference.inputs import on_model_grid

    return on_model_grid(cohort, n_samples)


def read_input(
    path: str | Path | Sequence[str | Path],
    *,
    sampling_rate_hz: float | None = None,
    t0_ms: float | None = None,
    fmt: str = "auto",
    age_years: float | None = None,
    n_samples: int = DEFAULT_N_SAMPLES,
    option_names: OptionNames | None = None,
    ranges: TrainingRanges = DEFAULT_RANGES,
    **options: Any,
) -> tuple[ABRCohort, list[str]]:
    """Files or folders (any importable format) on the model grid with a ``domain`` column: `inputs.read_many`.
    Warnings name the options to pass as ``fmp=...``; `option_names` (keyword → name) spells them otherwise;
    records outside ``ranges`` (the reading model's training cohort) are warned about."""
    from abrnet.inference.inputs import read_many

    paths = [path] if isinstance(path, (str, Path)) else list(path)
    opts = dict(sampling_rate_hz=sampling_rate_hz, t0_ms=t0_ms, age_years=age_years, **options)
    return read_many(paths, fmt=fmt, n_samples=n_samples, option_names=option_names, ranges=ranges, **opts)


def _as_cohort(
    data: ABRCohort | str | Path | Sequence[str | Path],
    n_samples: int,
    option_names: OptionNames | None = None,
    ranges: TrainingRanges = DEFAULT_RANGES,
    **read_kw: Any,
) -> tuple[ABRCohort, list[str]]:  # cohort on the model grid + warnings
    """A cohort gets the warnings a file's records get (`input_warnings`, a time base its reader assumed included),
    named by the file it was read from (``attrs["source_path"]``, as `read_recording` sets it) or "input"; a domain
    it already carries (judged on its native grid by `read_input`) is kept. Hints name options as `option_names`
    spells them (`abrnet.inference.option_names`; None: ``fmp=...``, the keywords `read_recording` takes)."""
    check_input(data, read_kw)  # a cohort with reading options is an error, not silently read without them
    if isinstance(data, ABRCohort):
        from abrnet.data.metadata import SIMULATED
        from abrnet.inference.domain import assess_domain

        data = data.validate().subset(np.arange(data.n_records))
        for key, value in SIMULATED.items():  # abrnet's own cohorts: documented human clicks in dB nHL
            data.extras.setdefault(key, np.full(data.n_records, value))
        data.extras.setdefault("domain", assess_domain(data, model_n=n_samples))
        # built or loaded in Python, its values are its own (`COHORT_NAMES`); read by `read_recording`, it takes them
        built = option_names is None and "source_path" not in data.attrs
        names = COHORT_NAMES if built else option_names
        source = str(data.attrs.get("source_path", "input"))
        warnings = input_warnings(data, source, names, ranges)
        on_grid, grid_warnings = to_model_cohort(data, n_samples)
        return on_grid, warnings + [f"{source}: {w}" for w in grid_warnings]  # named as a file's are (hunt 50b #1)
    return read_input(data, n_samples=n_samples, option_names=option_names, ranges=ranges, **read_kw)


def check_series_levels(cohort: ABRCohort) -> None:
    """Refuse a per-ear reading of levels given as attenuation, naming the file.

    Why: the series stage reads an ear as a level axis where a larger number is a louder stimulus (p(V) fitted
    non-decreasing in level, "no response" decided at the highest level, the latency–intensity slope). An
    attenuation runs the other way, so a hearing ear read as "no response" with a rising latency–intensity slope,
    behind nothing but the generic out-of-domain warning; TDT and BioSig imports set this unit themselves."""
    units = metadata_of(cohort.extras, cohort.n_records)[LEVEL_UNIT].astype(str)
    if (rows := np.flatnonzero(units == DB_ATTENUATION)).size:
        files = cohort.extras.get("source_file")
        where = str(files[rows[0]]) if files is not None else "input"
        raise DataError(
            where,
            "level_unit",
            "levels are dB attenuation (a larger number is a softer stimulus), so no per-ear threshold or "
            "latency–intensity function can be read (and the viewer reads every file per ear); convert them to dB "
            "first, e.g. dB SPL with your calibration (abrnet predict without --group-by reads the records one by one)",
        )


# ------------------------------------------------------------------------------------------------ the model object
class ABRModel:
    """A trained abrnet model ready for new recordings. Build it with `abrnet.load(checkpoint)`."""

    def __init__(self, loaded: LoadedModel, *, device: str | torch.device = "cpu") -> None:
        self.loaded = loaded
        self.checkpoint_sha256: str = loaded.sha256  # the model's identity: SHA-256 of the bytes its weights came from
        self.device = check_device(device)  # a one-line DataError naming it, not torch's own
        self.model = loaded.model.to(self.device).eval()
        self.normalizer = loaded.normalizer
        self.ranges = loaded.ranges  # what its records are warned against (`training_ranges`)
        self.n_samples = _model_length(loaded)

    @property
    def checkpoint(self) -> Path:
        return self.loaded.path

    @property
    def prediction_type(self) -> str:
        return self.loaded.prediction_type

    # ---------------------------------------------------------------------------------------------- predict
    def predict_cohort(self, cohort: ABRCohort, *, batch_size: int = 256) -> Predictions:
        """Heads at t = 0 on the observed recordings (on the model grid): `predictor.predict_cohort`'s analysis path,
        without its reconstruction and denoising passes."""
        from abrnet.inference.predictor import predict_cohort

        pred = predict_cohort(
            self.model,
            cohort,
            self.normalizer,
            prediction_type=self.prediction_type,
            batch_size=batch_size,
            device=self.device,
            with_denoise=False,
            with_reconstruction=False,
        )
        return pred.validate(cohort.n_records)

    def predict(
        self,
        data: ABRCohort | str | Path | Sequence[str | Path],
        *,
        series: bool = False,
        sampling_rate_hz: float | None = None,
        t0_ms: float | None = None,
        fmt: str = "auto",
        age_years: float | None = None,
        batch_size: int = 256,
        option_names: OptionNames | None = None,
        **options: Any,
    ) -> PredictionReport:
        """Predict waves, class and threshold for every record; `series=True` adds one answer per ear.

        ``data``: a cohort, files or folders; ``options`` go to the readers (``stimulus_rate_hz=``, ``species=``...).
        Columns: `result_tables.prediction_columns` / `series_columns` (``threshold_above_max_level``: not measured).
        Warnings ask for a missing value by its keyword (``(pass fmp=...)``); ``option_names`` (keyword → name)
        names them otherwise: the CLI passes its options (``--fmp``)."""
        read_kw = dict(sampling_rate_hz=sampling_rate_hz, t0_ms=t0_ms, fmt=fmt, age_years=age_years, **options)
        check_int("batch_size", batch_size, minimum=1)
        check_flag("series", series)
        cohort, warnings = _as_cohort(data, self.n_samples, option_names, self.ranges, **read_kw)
        if series:  # an ear under one stimulus is one series, rates pooled: say where they mix
            check_series_levels(cohort)
            warnings += mixed_series_warnings(cohort)
        pred = self.predict_cohort(cohort, batch_size=batch_size)
        named = flipped_ears(cohort, pred, lambda c: self.predict_cohort(c, batch_size=batch_size))
        warnings += polarity_warning(named, inverted=bool(read_kw.get("invert") or cohort.attrs.get("inverted")))
        ears = aggregate_ears(pred, cohort, self.loaded.series_model) if series else None
        warnings += series_warnings(pred, cohort, ears) if ears is not None else []  # contradictions, gaps, units
        blend = getattr(self.loaded.series_model, "peak_blend", None)
        series_pred = apply_peak_blend(pred, cohort, blend) if series and blend else None
        return PredictionReport(
            cohort=cohort,
            predictions=pred,
            ears=ears,
            warnings=warnings,
            series_predictions=series_pred,
            class_bias=getattr(self.loaded.series_model, "record_class_bias", None),
        )

    # ---------------------------------------------------------------------------------------------- denoise
    @torch.no_grad()
    def denoise(
        self,
        data: ABRCohort | str | Path,
        *,
        steps: int = 1,
        sampler: SamplerName = "ddim",
        seed: int = 0,
        batch_size: int = 256,
        option_names: OptionNames | None = None,
        **read_kw: Any,
    ) -> tuple[ABRCohort, list[str]]:
        """The model's clean-response estimate for each record → (cohort whose `signals` are denoised, warnings).

        Starts from the timestep matching the recording's own noise level (`recording_noise_std_uv` normalised by
        the training signal scale). steps=1: posterior mean (lowest MSE, smooth); more steps: sharper, sample-like.
        The observed signals are kept in `extras["observed_uv"]`, and the heads' p(V) of each *observed* record
        (`predict_cohort`, the analysis predict gives) in `extras["observed_p_wave_v"]`. Per record,
        `extras["denoised"]` says whether it was denoised, and `extras["recording_noise_nv"]` /
        `["recording_noise_from"]` the noise it started from, as predict's table names them (`denoise_extras`): a
        record whose noise is unknown (NaN, from "missing": too little recorded, `abrnet.data.noise_estimate`) is
        returned as recorded (`denoise_known`), and said so in one warning line. Such a cohort is still returned, even
        when no record was denoised: it is the user's data, marked per record; `abrnet denoise` refuses to write it.

        Why p(V) and a warning: the estimate is conditioned on the stated level, so pure noise comes out as smooth
        wave-V-like peaks of a real response's size (0.11–0.28 µV measured), which predict then read as a wave V. A
        denoised record that reads as no wave V as recorded (`constants.is_present`) is counted in one warning line:
        its denoised trace is the model's estimate of a response at that level, not evidence of one. A record returned
        as recorded is not counted there: its trace is the recording, so the line would call it what it is not.

        Deterministic: the output depends on neither `seed` nor `batch_size`. No sampler step draws noise here: the
        start x_t* is α·x_obs (the recording's own noise plays the forward draw), DDIM runs with η = 0 and DPM-Solver++
        is an ODE solver, for every `steps`. `seed` is checked and kept so that calls written for a stochastic
        sampler still run, but it changes nothing (the CLI's ``--seed`` help says the same). Warnings name options as
        `predict` does (``option_names``).
        """
        from abrnet.data.noise_estimate import estimate_residual_noise
        from abrnet.inference.predictor import DENOISED_EXTRA, denoise_extras, denoise_known

        check_denoise(steps=steps, sampler=sampler, seed=seed, batch_size=batch_size)
        cohort, warnings = _as_cohort(data, self.n_samples, option_names, self.ranges, **read_kw)
        x = torch.from_numpy(self.normalizer.recording(cohort.signals))
        s = torch.from_numpy(self.normalizer.static(cohort.static))
        noise_uv, noise_from = estimate_residual_noise(cohort)  # (N,) µV (NaN: unknown) and where each came from
        noise = noise_uv / self.normalizer.signal_scale
        out = np.empty_like(cohort.signals, dtype=np.float32)
        for start in range(0, cohort.n_records, batch_size):
            sl = slice(start, start + batch_size)
            den = denoise_known(
                self.model,
                x[sl].to(self.device),
                s[sl].to(self.device),
                noise[sl],
                steps=int(steps),
                sampler=sampler,
                prediction_type=self.prediction_type,  # type: ignore[arg-type]
            )
            out[sl] = np.asarray(self.normalizer.signal_to_uv(den.float().cpu().numpy()), dtype=np.float32)
        p_v = self.predict_cohort(cohort, batch_size=batch_size).peak_presence_prob[:, WAVES.index("V")]
        result = cohort.subset(np.arange(cohort.n_records))
        result.extras["observed_uv"] = cohort.signals.astype(np.float32)
        result.extras["observed_p_wave_v"] = np.asarray(p_v, dtype=np.float32)
        result.extras.update(denoise_extras(noise_uv, noise_from))
        done = result.extras[DENOISED_EXTRA]  # (N,) bool: `denoise_known` denoised it
        out[~done] = cohort.signals[~done]  # as recorded, bit for bit: not the model input's centred, rescaled copy
        result.signals = out
        result.attrs.update(
            {"denoised_by": str(self.checkpoint), "denoise_steps": int(steps), "denoise_sampler": sampler}
        )
        source = str(data) if isinstance(data, (str, Path)) else "input"
        n, n_done = cohort.n_records, int(done.sum())
        if unknown := n - n_done:  # `denoise_known` left them as recorded
            warnings.append(
                f"{source}: {unknown} of {n} records have too few recorded samples to read their residual noise from "
                "(a recording shorter than the model window: its last 1.5 ms is padding; recording_noise_from: "
                "missing), so they are returned as recorded, not denoised"
            )
        if absent := int((done & ~is_present(np.asarray(p_v))).sum()):  # only the traces the model replaced
            of = f"{n_done} records" if n_done == n else f"the {n_done} denoised records"
            warnings.append(
                f"{source}: {absent} of {of} read as no wave V as recorded (p(V) < "
                f"{PRESENCE_THRESHOLD:g}, per record in extras/observed_p_wave_v); their denoised trace is the model's "
                "estimate of a response at that level, not evidence of one (read no threshold off it)"
            )
        return result, warnings

    # ---------------------------------------------------------------------------------------------- generate
    @torch.no_grad()
    def generate(
        self,
        n: int = 1,
        *,
        conditions: np.ndarray | Sequence[Sequence[float]] | None = None,
        joint: bool = False,
        sampler: SamplerName = "ddim",
        steps: int = GENERATION_STEPS,
        guidance: float | None = None,
        seed: int = 0,
        add_noise_nv: float | None = None,
        batch_size: int = 256,
        eta: float = 0.0,
        band_limit: bool = True,
    ) -> ABRCohort:
        """Synthetic ABRs as an abrnet cohort (labels NaN/-1, patient_id gen<seed>-NNNNNN, ear "R").

        Conditional: `conditions` (M, 4) physical static rows (age_years, intensity_db, stimulus_rate_hz, fmp),
        each generated `n` times. Joint (`joint=True`): `n` signals from the unconditional model with static
        parameters drawn from the model's p(s | x), mapped to physical units, intensity snapped to 5 dB and all
        clipped to the physical ranges; `guidance` (None = 1.0; 0 = unconditional, 1 = plain conditional) is then an
        error. Signals are noise-free responses unless `add_noise_nv` (residual noise, nV RMS per record, >= 0; 0 adds
        zero noise) is given: then `signals` are noisy, `clean` holds the response, and the ``fmp`` column is NaN (not
        measured; the conditioning FMP stays in ``extras["generation_fmp"]``). Conditions outside the training cohort
        (and adult ages, sparse in it) are warned about (`generation.condition_warnings`): `UserWarning` and
        ``attrs["warnings"]``. The defaults (ddim, 20 steps, guidance 1) are the shipped model's validation choice
        (`abrnet.constants.GENERATION_STEPS`, `GENERATION_GUIDANCE`); for another checkpoint `abrnet evaluate
        --generation` chooses its own. Each signal draws its noise from its own generator seeded by (seed, index), so
        the output does not depend on `batch_size`.
        `eta` > 0 makes conditional DDIM stochastic (see `sampling.sample`). With `band_limit` (default) the
        sampler's output passes through the recording band-pass every training response went through
        (`RECORDING_BAND_HZ`, zero-phase): what the network leaves outside the band (high-frequency residue of a
        short sampler) is removed as a recording system would; `band_limit=False` returns the raw sampler output.
        """
        from abrnet.inference.generation import generate_cohort

        return generate_cohort(
            self, n, conditions=conditions, joint=joint, sampler=sampler, steps=steps, guidance=guidance, seed=seed,
            add_noise_nv=add_noise_nv, batch_size=batch_size, eta=eta, band_limit=band_limit,
        )  # fmt: skip


def load(checkpoint: str | Path | None = None, *, device: str | torch.device = "cpu") -> ABRModel:
    """Load a checkpoint (safely: `weights_only=True`) for predict/denoise/generate; None: the shipped model."""
    path = default_checkpoint() if checkpoint is None else checkpoint
    return ABRModel(load_checkpoint(path, map_location=device), device=device)
