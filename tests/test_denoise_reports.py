"""What `abrnet denoise` and `ABRModel.denoise` report of each record: denoised, or returned as recorded (hunt 43, #3).

On the real 8.5-ms Fast ABR export no record's noise can be read, so every record came back as recorded, yet the
command said "13 records denoised" (exit 0), the no-wave-V warning called the untouched traces "denoised", and the
.h5 kept nothing per record saying which traces were denoised or what noise they started from. These run the
shipped model (no training).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import abrnet
from abrnet.cli.main import app
from abrnet.constants import is_present
from abrnet.data.io import load_cohort, save_cohort
from abrnet.data.noise_estimate import NOISE_MISSING, estimate_residual_noise
from abrnet.data.resample import cohort_to_model_grid
from abrnet.data.schema import ABRCohort
from abrnet.data.simulate import SimulationConfig, simulate_cohort
from abrnet.inference.api import ABRModel
from abrnet.inference.inputs import concat_cohorts
from tests.conftest import FIXTURES, require_fixture

FAST = FIXTURES / "epl_abr_peak_analysis" / "XYZ999-ABR-15-1000.tsv"  # EPL Fast ABR, 0–8.52 ms at 25 kHz
runner = CliRunner()
NO_V = "no wave V as recorded"


@pytest.fixture(scope="module")
def model() -> ABRModel:
    return abrnet.load()


def _short_noise(n_samples: int = 171) -> ABRCohort:
    """Four 0–8.5-ms records of white noise on the model grid: one recorded sample in the late window, noise unknown."""
    x = np.random.default_rng(1).normal(0.0, 0.05, (4, n_samples)).astype(np.float32)
    native = ABRCohort.from_signals(
        x, age_years=2.0, intensity_db=np.array([80.0, 70.0, 60.0, 50.0]), stimulus_rate_hz=33.1, patient_id="S",
        ear="R",
    )  # fmt: skip
    return cohort_to_model_grid(native)[0]


def _denoise(src: Path, out: Path, *extra: str) -> tuple[int, str]:
    res = runner.invoke(app, ["denoise", str(src), "--out", str(out), *extra])
    return res.exit_code, " ".join(res.output.split())  # rich wraps long lines


def test_the_fast_abr_export_is_denoised_nowhere_and_said_so(model: ABRModel, tmp_path: Path) -> None:
    """API: every record marked as returned as recorded, from "missing"; no record counted as a denoised no-V trace.
    CLI: no "13 records denoised" with exit 0, but a one-line refusal (exit 2) and no file."""
    fast = require_fixture(FAST)
    den, lines = model.denoise(fast, age_years=0.2)
    assert den.extras["denoised"].dtype == bool and not den.extras["denoised"].any()
    assert set(den.extras["recording_noise_from"].tolist()) == {NOISE_MISSING}
    assert np.isnan(den.extras["recording_noise_nv"]).all()
    np.testing.assert_array_equal(den.signals, den.extras["observed_uv"])  # as recorded
    assert sum("13 of 13 records" in ln and "returned as recorded" in ln for ln in lines) == 1, lines
    assert not [ln for ln in lines if NO_V in ln], lines  # nothing was denoised: nothing to call a denoised trace

    out = tmp_path / "den.h5"
    code, output = _denoise(fast, out, "--age", "0.2")
    assert code == 2, output
    assert "records denoised" not in output and not out.exists(), output
    error = output[output.index("error:") :]
    assert "missing for all 13 records" in error and "none could be denoised; nothing written" in error, error


def test_a_normal_file_is_all_denoised_with_its_noise_source_per_record(model: ABRModel, tmp_path: Path) -> None:
    """Split buffers on every record: the summary counts 12 of 12 with the source, the .h5 keeps the flag and the
    noise as predict's table has them, and predict reads the written file back with one column of each."""
    cohort = simulate_cohort(SimulationConfig(n_patients=1), seed=5)
    src = save_cohort(cohort, tmp_path / "in.h5")
    out = tmp_path / "den.h5"
    code, output = _denoise(src, out)
    assert code == 0, output
    assert f"12 of 12 records denoised (ddim, 1 step(s); noise from split_buffers: 12); wrote {out}" in output, output
    assert "returned as recorded" not in output, output
    back = load_cohort(out)
    assert back.extras["denoised"].dtype == bool and back.extras["denoised"].all()
    table = model.predict(src).columns()
    assert back.extras["recording_noise_from"].tolist() == list(table["recording_noise_from"]) == ["split_buffers"] * 12
    np.testing.assert_allclose(back.extras["recording_noise_nv"], np.asarray(table["recording_noise_nv"], float))
    np.testing.assert_allclose(back.extras["recording_noise_nv"], estimate_residual_noise(cohort)[0] * 1000.0)
    assert not np.allclose(back.signals, back.extras["observed_uv"])  # it denoised

    res = runner.invoke(app, ["predict", str(out), "--out", str(tmp_path / "r.csv")])
    assert res.exit_code == 0, res.output
    with open(tmp_path / "r.csv", newline="") as f:
        header = next(csv.reader(f))
    assert header.count("recording_noise_from") == 1 and header.count("recording_noise_nv") == 1, header


def test_a_mixed_file_counts_both_and_warns_about_denoised_records_only(model: ABRModel, tmp_path: Path) -> None:
    """12 full-window records and 4 of 0–8.5 ms: 12 denoised, 4 returned as recorded, said in the summary and per
    record; the no-wave-V warning counts only the denoised records without a wave V (the 4 noise records, as
    recorded, read as no wave V and were counted as "denoised")."""
    full = simulate_cohort(SimulationConfig(n_patients=1), seed=5)
    full.buffers = None  # late window: a second source name in the same file as "missing"
    src = save_cohort(concat_cohorts([full, _short_noise()]), tmp_path / "mixed.h5")
    out = tmp_path / "den.h5"
    code, output = _denoise(src, out)
    assert code == 0, output
    want = "12 of 16 records denoised (ddim, 1 step(s); noise from late_window: 12); 4 returned as recorded (noise"
    assert want in output and f"see the warning); wrote {out}" in output, output

    back = load_cohort(out)
    np.testing.assert_array_equal(back.extras["denoised"], np.arange(16) < 12)
    assert back.extras["recording_noise_from"].tolist() == ["late_window"] * 12 + [NOISE_MISSING] * 4
    assert np.isfinite(back.extras["recording_noise_nv"][:12]).all()
    assert np.isnan(back.extras["recording_noise_nv"][12:]).all()
    np.testing.assert_array_equal(back.signals[12:], back.extras["observed_uv"][12:])

    den, lines = model.denoise(src)
    p_v = den.extras["observed_p_wave_v"]  # predict's p(V) of each observed record (test_generate_denoise_honesty)
    assert not is_present(p_v[12:]).any()  # the noise records read as no wave V: the old line counted them
    absent = int((~is_present(p_v[:12])).sum())
    said = [ln for ln in lines if NO_V in ln]
    if absent:
        assert len(said) == 1 and f"{absent} of the 12 denoised records read as {NO_V}" in said[0], said
        assert f"{absent} of the 12 denoised records" in output, output
    else:
        assert not said and NO_V not in output, said


def test_a_denoised_file_read_as_input_says_so_and_reports_the_recordings_noise(
    model: ABRModel, tmp_path: Path
) -> None:
    """No split buffers: the noise comes from the late window, which denoising smooths. Read back by predict, the
    table reports the recording's noise (as denoise kept it), not the estimate's lower one, and a line says the
    input holds denoise's estimates."""
    cohort = simulate_cohort(SimulationConfig(n_patients=1), seed=6)
    cohort.buffers = None
    src = save_cohort(cohort, tmp_path / "in.h5")
    den, _ = model.denoise(src)
    assert set(den.extras["recording_noise_from"].tolist()) == {"late_window"}
    out = save_cohort(den, tmp_path / "den.h5")
    as_recorded = np.asarray(model.predict(src).columns()["recording_noise_nv"], float)
    report = model.predict(out)
    np.testing.assert_allclose(np.asarray(report.columns()["recording_noise_nv"], float), as_recorded)
    smoothed = estimate_residual_noise(load_cohort(out))[0] * 1000.0  # what a re-read of the estimates gives
    # every re-read is lower, most by far (the shipped model smooths a few loud records' late window less)
    assert (smoothed < as_recorded).all() and np.median(smoothed / as_recorded) < 0.8, (smoothed, as_recorded)
    said = [w for w in report.warnings if "holds the estimates abrnet denoise made" in w]
    assert len(said) == 1 and "read no threshold off it" in said[0], report.warnings
    assert not any("holds the estimates" in w for w in model.predict(src).warnings)
