"""Four leftovers of hunt 42: what a reading option, a re-read file and the tables say must match what was recorded.

* ``--invert`` flipped the averages and split buffers but not the per-record (A − B)/2 an .h5 of files with and
  without buffers keeps (``extras["buffer_noise_uv"]``), nor a Fast ABR export's CM traces: one record, two
  polarities.
* A model-grid .h5 (`abrnet data import --model-grid`) of a recording shorter than the window was centred over its
  zero padding when read again, so it read otherwise than the export it came from.
* An out-of-range level sent its user to --species/--level-unit, where a typo in the level is likelier.
* A patients-table row could be blank but for the id and stimulus, with nothing saying why.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from abrnet.data.baseline import remove_baseline_offsets, remove_slow_trends
from abrnet.data.io import save_cohort
from abrnet.data.noise_estimate import buffer_noise_traces
from abrnet.data.resample import BUFFER_NOISE_EXTRA, RECORDED_EXTRA, cohort_to_model_grid, recorded_samples
from abrnet.data.schema import ABRCohort
from abrnet.data.simulate import SimulationConfig, simulate_cohort
from abrnet.inference.domain import domain_warnings
from abrnet.inference.inputs import concat_cohorts, on_model_grid, read_for_model
from tests.conftest import FIXTURES, require_fixture

FAST = FIXTURES / "epl_abr_peak_analysis" / "XYZ999-ABR-15-1000.tsv"  # 0–8.52 ms at 25 kHz: padded on the grid


def _short(n_samples: int = 213, offset_uv: float = 2.0, pid: str = "S") -> ABRCohort:
    """Four records of 0.05 µV noise plus a slow wave and a DC offset, at 25 kHz from 0 ms: 213 samples cover
    0–8.52 ms (the Fast ABR export's window), so the model grid pads its last 1.45 ms."""
    rng = np.random.default_rng(3)
    t = np.arange(n_samples) / 25.0  # ms
    x = rng.normal(0.0, 0.05, (4, n_samples)) + offset_uv + 0.3 * np.sin(2 * np.pi * t / 17.0)
    return ABRCohort.from_signals(
        x.astype(np.float32), age_years=0.5, intensity_db=np.array([80.0, 70.0, 60.0, 50.0]), stimulus_rate_hz=21.1,
        patient_id=pid, ear="R", sampling_rate_hz=25_000.0,
    )  # fmt: skip


# ------------------------------------------------------------------------------------------------ 1. --invert
def _mixed_h5(tmp_path: Path) -> tuple[Path, int]:
    """An .h5 of a cohort with split buffers and one without, as `data import A B --model-grid` writes it."""
    with_buffers = simulate_cohort(SimulationConfig(n_patients=1), seed=5)
    short = cohort_to_model_grid(_short())[0]
    short.extras = {k: v for k, v in short.extras.items() if k == RECORDED_EXTRA}
    both = concat_cohorts([with_buffers.subset(np.arange(with_buffers.n_records)), short])
    assert both.buffers is None and BUFFER_NOISE_EXTRA in both.extras
    return save_cohort(both, tmp_path / "mixed.h5"), with_buffers.n_records


def test_invert_flips_the_kept_buffer_noise_trace_with_the_record(tmp_path: Path) -> None:
    path, n = _mixed_h5(tmp_path)
    plain, _ = read_for_model(path)
    flipped, _ = read_for_model(path, invert=True)
    kept, inverted = plain.extras[BUFFER_NOISE_EXTRA], flipped.extras[BUFFER_NOISE_EXTRA]
    assert np.isnan(kept[n:]).all() and np.isnan(inverted[n:]).all()  # no buffers: still none
    np.testing.assert_array_equal(inverted[:n], -kept[:n])
    np.testing.assert_allclose(flipped.signals, -plain.signals, atol=1e-6)
    # the same records read inverted with their buffers give the same (A − B)/2 as the trace kept for them
    alone = simulate_cohort(SimulationConfig(n_patients=1), seed=5)
    alone_inverted, _ = read_for_model(save_cohort(alone, tmp_path / "alone.h5"), invert=True)
    np.testing.assert_allclose(inverted[:n], buffer_noise_traces(alone_inverted), atol=1e-6)
    assert RECORDED_EXTRA in flipped.extras and flipped.extras[RECORDED_EXTRA].dtype == bool  # a mask, no trace


def test_invert_flips_the_clean_targets_and_a_fast_abr_exports_cm_traces(tmp_path: Path) -> None:
    from abrnet.data.importers import read_recording

    sim = simulate_cohort(SimulationConfig(n_patients=1), seed=7)
    path = save_cohort(sim, tmp_path / "sim.h5")
    assert sim.clean is not None
    np.testing.assert_array_equal(read_recording(path, invert=True).clean, -sim.clean)
    fast = require_fixture(FAST)
    as_recorded, inverted = read_recording(fast, age_years=0.5), read_recording(fast, age_years=0.5, invert=True)
    assert "cm_uv" in as_recorded.extras
    np.testing.assert_array_equal(inverted.extras["cm_uv"], -as_recorded.extras["cm_uv"])
    np.testing.assert_array_equal(inverted.signals, -as_recorded.signals)


# ------------------------------------------------------------------------------ 2. a model-grid .h5 read again
def test_a_model_grid_h5_reads_as_the_recording_it_was_written_from(tmp_path: Path) -> None:
    native = _short()
    direct, _ = on_model_grid(native)
    grid = cohort_to_model_grid(native)[0]  # what `data import --model-grid` stores: padded, not centred
    again, _ = read_for_model(save_cohort(grid, tmp_path / "grid.h5"))
    recorded = recorded_samples(again)
    assert recorded[:, :171].all() and not recorded[:, 171:].any()
    np.testing.assert_array_equal(again.signals, direct.signals)
    assert (again.signals[:, 171:] == 0.0).all()  # the padding stays zero: no offset taken from it
    np.testing.assert_allclose(again.signals[:, :171].astype(np.float64).mean(axis=1), 0.0, atol=1e-5)


def test_per_record_padding_centres_each_record_over_its_own_samples() -> None:
    """Records of a file padded differently (an .h5 of two exports) each lose the mean of what they recorded."""
    both = concat_cohorts([cohort_to_model_grid(_short())[0], cohort_to_model_grid(_short(190, 1.0, "T"))[0]])
    recorded = recorded_samples(both)
    assert len(np.unique(recorded, axis=0)) == 2
    centred, _ = remove_baseline_offsets(both, recorded)
    for i in range(both.n_records):
        keep = recorded[i]
        assert abs(centred.signals[i, keep].astype(np.float64).mean()) < 1e-5
        assert (centred.signals[i, ~keep] == 0.0).all()
    detrended, (line,) = remove_slow_trends(both, recorded, bound_uv=0.01)
    assert "low-frequency content" in line
    for i in range(both.n_records):
        assert (detrended.signals[i, ~recorded[i]] == 0.0).all()
    one, _ = remove_slow_trends(both.subset(np.arange(4)), recorded[:4], bound_uv=0.01)
    np.testing.assert_array_equal(detrended.signals[:4], one.signals)  # each group as on its own


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_a_fast_abr_export_and_its_model_grid_h5_give_the_same_samples_and_predictions(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    import abrnet
    from abrnet.cli.main import app

    fast = require_fixture(FAST)
    out = tmp_path / "fast.h5"
    res = CliRunner().invoke(app, ["data", "import", str(fast), "--age", "0.5", "--model-grid", "--out", str(out)])
    assert res.exit_code == 0, res.output
    direct, _ = read_for_model(fast, age_years=0.5)
    again, _ = read_for_model(out)
    np.testing.assert_array_equal(recorded_samples(again), recorded_samples(direct))
    np.testing.assert_array_equal(again.signals, direct.signals)
    model = abrnet.load()
    a, b = model.predict_cohort(direct), model.predict_cohort(again)
    for name in ("peak_presence_prob", "latency_ms", "threshold_db", "p_no_response", "class_prob"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


# ------------------------------------------------------------------------------------------ 3. the level hint
def test_an_out_of_range_level_asks_first_to_check_the_level_then_the_unit(tmp_path: Path) -> None:
    from abrnet.cli.common import option_names
    from abrnet.cli.model_options import READ_OPTIONS
    from abrnet.data.csv_io import write_wide_csv

    sim = simulate_cohort(SimulationConfig(n_patients=1), seed=2)
    sim.static[[1, 3], 1] = [105.0, 120.0]
    _, warnings = read_for_model(write_wide_csv(sim, tmp_path / "typo.csv"), option_names=option_names(READ_OPTIONS))
    (line,) = [w for w in warnings if "level: 105–120 dB above" in w]
    assert "\n" not in line and line.startswith(f"{tmp_path / 'typo.csv'}: 2 of ")
    check = line.index("check the level value first (field 'intensity_db', rows 2, 4: a typo is likelier")
    assert check < line.index("--species") and check < line.index("--level-unit"), line
    # a device export's record is no row of a column: its records are named as such
    dom = np.array(["in", "level: 120 dB above the trained 0–100 dB"])
    (device,) = domain_warnings(dom, "x.tsv")
    assert "check the level value first (record 2: a typo" in device and device.index("record 2") < device.index(
        "species="
    )
    (other,) = domain_warnings(np.array(["species: mouse"]), "x.tsv")  # no level reason: the hint as before
    assert "check the level" not in other


# ----------------------------------------------------------------------------------- 4. the patients table
def test_a_patients_row_without_an_interaural_difference_says_why() -> None:
    from tests.test_clinical_tables import _cohort, _report

    patients = _report(_cohort()).patients()
    assert patients is not None
    by_id = {p: i for i, p in enumerate(patients["patient_id"].tolist())}
    blank = by_id["P000"]  # its left ear is "no response": no V to compare
    assert np.isnan(patients["interaural_V_ms"][blank]) and np.isnan(patients["level_db"][blank])
    assert patients["note"][blank] == "no record with wave V (p ≥ 0.5) in the left ear"
    for p, i in by_id.items():
        assert (patients["note"][i] == "") == np.isfinite(patients["interaural_V_ms"][i]), p
    from abrnet.inference.clinical_columns import interaural_note

    assert interaural_note(False, False, float("nan")) == "no record with wave V (p ≥ 0.5) in either ear"
    assert interaural_note(False, True, float("nan")) == "no record with wave V (p ≥ 0.5) in the left ear"
    assert interaural_note(True, True, float("nan")) == "no level with wave V in both ears"
    assert interaural_note(True, True, 60.0) == ""
