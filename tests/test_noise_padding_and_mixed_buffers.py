"""The residual noise of a recording is read from what was recorded, whatever else is read with it (hunt 42).

#4: a recording shorter than the model window is zero-padded on the model grid, and the late-window noise was read
from that padding (0.6–22 nV against 36–55 nV recorded), so denoising removed almost nothing. #1: a SmartEP
export read together with a file without split buffers lost its buffers, and its noise, source and CM cue changed.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from abrnet.data.fmp import residual_noise_from_buffers
from abrnet.data.noise_estimate import NOISE_MISSING, buffer_noise_traces, estimate_residual_noise
from abrnet.data.resample import BUFFER_NOISE_EXTRA, RECORDED_EXTRA, cohort_to_model_grid, recorded_samples
from abrnet.data.schema import ABRCohort
from abrnet.data.simulate import SimulationConfig, simulate_cohort
from abrnet.inference.inputs import concat_cohorts, dropped_buffers_warning, on_model_grid
from abrnet.inference.predictor import denoise_known
from abrnet.series.microphonic import loud_microphonic
from tests.conftest import FIXTURES, require_fixture

EPL = FIXTURES / "epl_abr_peak_analysis"
SMART, FAST = EPL / "FBN_35_COCH_EXT_LEFT_12K.txt", EPL / "XYZ999-ABR-15-1000.tsv"


def _noise_cohort(n_samples: int, sd_uv: float = 0.05, seed: int = 0, pid: str = "P") -> ABRCohort:
    """Four records of white noise of SD ``sd_uv`` µV at 20 kHz from 0 ms, ``n_samples`` long (200: the model's)."""
    x = np.random.default_rng(seed).normal(0.0, sd_uv, (4, n_samples)).astype(np.float32)
    return ABRCohort.from_signals(
        x, age_years=30.0, intensity_db=np.array([80.0, 70.0, 60.0, 50.0]), stimulus_rate_hz=21.1, patient_id=pid,
        ear="R",
    )  # fmt: skip


def test_a_full_window_cohort_reads_exactly_as_before() -> None:
    """Simulated cohorts are full 0–10 ms windows: the estimate is bit for bit the former one (split buffers over
    the window; else the SD of the last 1.5 ms)."""
    c = simulate_cohort(SimulationConfig(n_patients=2), seed=4)
    noise, source = estimate_residual_noise(c)
    np.testing.assert_array_equal(noise, residual_noise_from_buffers(c.buffers[:, 0], c.buffers[:, 1]))
    assert set(source.tolist()) == {"split_buffers"}
    c.buffers = None
    noise, source = estimate_residual_noise(c)
    np.testing.assert_array_equal(noise, np.asarray(c.signals[:, -30:], dtype=np.float64).std(axis=1))
    assert set(source.tolist()) == {"late_window"}
    assert RECORDED_EXTRA not in on_model_grid(c)[0].extras  # nothing padded: nothing stored


def test_a_short_record_reads_its_late_noise_from_recorded_samples_only() -> None:
    """0–9.5 ms: the late window 8.5–10 ms holds 21 recorded samples (the last one held one sample period, as
    `to_model_grid` does) and 9 padded zeros; the noise is the SD of the recorded ones, not diluted by the zeros."""
    native = _noise_cohort(190)
    grid, warnings = cohort_to_model_grid(native)
    assert any("9 model samples are missing" in w for w in warnings)
    assert recorded_samples(grid)[:, :191].all() and not recorded_samples(grid)[:, 191:].any()
    noise, source = estimate_residual_noise(grid)
    want = np.asarray(grid.signals[:, 170:191], dtype=np.float64).std(axis=1)
    np.testing.assert_allclose(noise, want, rtol=1e-12)
    assert set(source.tolist()) == {"late_window"}
    diluted = np.asarray(grid.signals[:, -30:], dtype=np.float64).std(axis=1)  # the former reading
    assert (diluted < 0.85 * noise).all()


def test_too_few_recorded_late_samples_make_the_noise_unknown_not_a_number_read_from_padding() -> None:
    """0–8.5 ms (the Fast ABR export's window): one recorded sample in the late window. NaN, from "missing"."""
    grid, _ = on_model_grid(_noise_cohort(171))
    noise, source = estimate_residual_noise(grid)
    assert np.isnan(noise).all() and set(source.tolist()) == {NOISE_MISSING}


def test_denoising_leaves_records_of_unknown_noise_as_recorded() -> None:
    class Halve(nn.Module):  # a stand-in network whose denoising changes every sample
        def forward(self, x: torch.Tensor, s: torch.Tensor, t: torch.Tensor) -> dict[str, torch.Tensor]:
            return {"signal": 0.5 * x}

    x = torch.randn(3, 200, dtype=torch.float64)
    out = denoise_known(Halve(), x, torch.zeros(3, 4), np.array([0.5, np.nan, 0.2]), steps=1)
    torch.testing.assert_close(out[1], x[1])
    assert not torch.allclose(out[0], x[0]) and not torch.allclose(out[2], x[2])


def test_a_buffer_cohort_read_with_one_without_keeps_each_records_noise_source_and_cm() -> None:
    """In memory: the buffers' (A − B)/2 is kept per record, NaN rows for the file without buffers."""
    with_buffers = simulate_cohort(SimulationConfig(n_patients=1), seed=5)
    without = simulate_cohort(SimulationConfig(n_patients=1), seed=6).with_patient_prefix("B")
    without.buffers = None
    both = concat_cohorts([with_buffers, without])
    assert both.buffers is None and both.extras[BUFFER_NOISE_EXTRA].shape == (both.n_records, both.n_samples)
    n = with_buffers.n_records
    assert np.isnan(buffer_noise_traces(both)[n:]).all()  # type: ignore[index]
    for part, rows in ((with_buffers, slice(0, n)), (without, slice(n, None))):
        noise, source = estimate_residual_noise(part)
        mixed_noise, mixed_source = estimate_residual_noise(both)
        np.testing.assert_array_equal(mixed_noise[rows], noise)
        np.testing.assert_array_equal(mixed_source[rows], source)
    assert len(dropped_buffers_warning([with_buffers, without])) == 1
    assert dropped_buffers_warning([with_buffers, with_buffers]) == [] == dropped_buffers_warning([without])


def _cm(c: ABRCohort) -> dict[str, float]:
    keys, ear = np.unique(c.ear_key.astype(str), return_inverse=True)
    top = np.array([c.static_column("intensity_db")[ear == e].max() for e in range(keys.size)])
    return dict(zip(keys.tolist(), loud_microphonic(c, ear, top).tolist(), strict=True))


def test_a_smartep_export_reads_the_same_alone_and_with_a_file_without_buffers() -> None:
    from abrnet.inference.api import read_input

    smart, fast = require_fixture(SMART), require_fixture(FAST)
    alone, _ = read_input(smart, age_years=0.3)
    both, _ = read_input([smart, fast], age_years=0.3)
    n = alone.n_records
    noise, source = estimate_residual_noise(alone)
    mixed_noise, mixed_source = estimate_residual_noise(both)
    np.testing.assert_array_equal(mixed_noise[:n], noise)
    np.testing.assert_array_equal(mixed_source[:n], source)
    assert set(source.tolist()) == {"split_buffers"}
    np.testing.assert_array_equal(both.static_column("fmp")[:n], alone.static_column("fmp"))
    cm_alone, cm_both = _cm(alone), _cm(both)
    assert {k: cm_both[k] for k in cm_alone} == cm_alone
    # the Fast ABR export (0–8.52 ms) has one recorded sample in the late window: unknown, alone and together
    fast_noise, fast_source = estimate_residual_noise(read_input(fast, age_years=0.3)[0])
    assert np.isnan(fast_noise).all() and set(fast_source.tolist()) == {NOISE_MISSING}
    np.testing.assert_array_equal(mixed_noise[n:], fast_noise)


def test_a_mixed_model_grid_h5_keeps_what_the_buffers_give(tmp_path) -> None:
    """`data import A B --model-grid` writes the concatenation: the .h5 read back gives the same noise."""
    from abrnet.data.io import load_cohort, save_cohort

    with_buffers = simulate_cohort(SimulationConfig(n_patients=1), seed=5)
    short = cohort_to_model_grid(_noise_cohort(171, pid="S"))[0]
    both = concat_cohorts([with_buffers, short])
    path = save_cohort(both, tmp_path / "mixed.h5")
    back = load_cohort(path)
    for a, b in zip(estimate_residual_noise(both), estimate_residual_noise(back), strict=True):
        np.testing.assert_array_equal(a, b)
    assert np.isnan(estimate_residual_noise(back)[0][with_buffers.n_records :]).all()


@pytest.mark.parametrize("n_samples", [190, 171])
def test_clinical_columns_show_the_recorded_noise_or_missing(n_samples: int) -> None:
    from abrnet.inference.clinical_columns import clinical_record_columns
    from tests.test_clinical_tables import _report

    grid, _ = on_model_grid(_noise_cohort(n_samples))
    cols = clinical_record_columns(_report(grid).predictions, grid)
    noise, source = estimate_residual_noise(grid)
    np.testing.assert_array_equal(cols["recording_noise_nv"], noise * 1000.0)
    assert cols["recording_noise_from"].tolist() == source.tolist()
    assert np.isnan(noise).all() == (n_samples == 171)
