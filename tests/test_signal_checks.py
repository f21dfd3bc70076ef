"""What the reader checks in the samples and the time base before the model sees them: DC offsets removed, wrong
units, flat traces and untrained levels flagged, an empty ear beside a recorded one refused, an assumed time base and
every resampling/crop said (hunt8 #4, #6, #7, #13, #16, #17; hunt7 #4)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from abrnet.data.csv_io import write_wide_csv
from abrnet.data.io import save_cohort
from abrnet.data.schema import ABRCohort, DataError
from abrnet.data.simulate import SimulationConfig, simulate_cohort
from abrnet.inference.domain import IN_DOMAIN, assess_domain, domain_warnings
from abrnet.inference.inputs import read_for_model


@pytest.fixture(scope="module")
def sim() -> ABRCohort:
    return simulate_cohort(SimulationConfig(n_patients=4), seed=3)


def _copy(c: ABRCohort) -> ABRCohort:
    return c.subset(np.arange(c.n_records))


def _edit_csv(path: Path, edit) -> Path:
    """Rewrite a wide CSV after `edit(rows)` (rows[0] is the header)."""
    rows = list(csv.reader(path.open(newline="")))
    edit(rows)
    with path.open("w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return path


def _drop_columns(rows: list[list[str]], *names: str) -> None:
    for name in names:
        k = rows[0].index(name)
        for r in rows:
            del r[k]


# ------------------------------------------------------------------------------------------------ 1. DC offset
def _centred(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    return x - x.mean(axis=-1, keepdims=True)


def test_dc_offset_is_removed_from_every_record_and_ears_beyond_the_bound_are_named(
    sim: ABRCohort, tmp_path: Path
) -> None:
    """+0.5 µV on every sample turned hearing ears into "no response"; the reader removes each record's mean, in every
    ear (+0.04 µV, within the bound, moved thresholds too: stop-39 hunt A #1), and names the ears beyond the bound."""
    c = _copy(sim)
    keys = c.ear_key.astype(str)
    first, second = np.unique(keys)[:2]
    shifted = np.isin(keys, [first, second])
    for key, dc in ((first, 0.5), (second, -2.0)):
        c.signals[keys == key] += dc
        c.buffers[keys == key] += dc
    got, warnings = read_for_model(write_wide_csv(c, tmp_path / "dc.csv"))
    orig = sim.signals.astype(np.float64)
    np.testing.assert_allclose(got.signals[shifted], (orig - orig.mean(1, keepdims=True))[shifted], atol=2e-5)
    np.testing.assert_allclose(got.signals[~shifted], _centred(c.signals[~shifted]), atol=2e-5)  # unnamed, centred
    np.testing.assert_allclose(got.buffers.mean(axis=1), got.signals, atol=2e-5)  # (A + B) / 2 still the average
    (line,) = [w for w in warnings if "baseline offset" in w]
    assert line.startswith(f"{tmp_path / 'dc.csv'}: 2 ear(s), {int(shifted.sum())} of {c.n_records} records, had a")
    assert "above 0.05 µV (median record mean; largest -2 µV); each record's mean over the model window" in line


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_a_constant_offset_within_the_bound_changes_no_reading(sim: ABRCohort) -> None:
    """+0.04 µV on every sample, below the 0.05 µV bound and no simulated ear's tell, moved one ear's threshold from
    30 to 0 dB with no warning (stop-39 hunt A #1): the model reads a record's mean. Every record is centred now, so
    the shipped model reads the same p(V) and series thresholds with and without it."""
    import abrnet

    model = abrnet.load()
    shifted = _copy(sim)
    shifted.signals, shifted.buffers = shifted.signals + 0.04, shifted.buffers + 0.04
    plain, offset = model.predict(sim, series=True), model.predict(shifted, series=True)
    np.testing.assert_allclose(offset.predictions.peak_presence_prob, plain.predictions.peak_presence_prob, atol=1e-4)
    np.testing.assert_array_equal(offset.series()["threshold_db"], plain.series()["threshold_db"])
    assert not any("baseline offset" in w for w in offset.warnings)


def test_an_ear_is_never_read_from_corrected_and_uncorrected_records(sim: ABRCohort) -> None:
    """A per-record bound (0.3 µV) corrected the records whose own mean crossed it and left the ear's others: at
    +0.29 µV one ear mixed both, a no-response ear, while +0.31 µV gave a normal one (hunt 9, #1). Every record is
    centred now; one record's own large mean (an artifact) is no ear's offset and is not named."""
    from abrnet.data.baseline import remove_baseline_offsets

    c = _copy(sim)
    keys = c.ear_key.astype(str)
    ear = keys == keys[0]
    c.signals[ear] += 0.2
    got, _ = remove_baseline_offsets(c)
    means = got.signals[ear].astype(np.float64).mean(axis=1)
    np.testing.assert_allclose(means, 0.0, atol=1e-5)  # every record of the ear, not only those beyond a bound
    lone = _copy(sim)
    lone.signals[0] += 1.0  # one record of an ear whose others are zero-mean
    kept, warnings = remove_baseline_offsets(lone)
    assert warnings == []
    np.testing.assert_allclose(kept.signals, _centred(lone.signals), atol=2e-5)


def test_a_cohort_given_to_the_api_loses_its_offset_as_a_file_does(sim: ABRCohort) -> None:
    """`model.predict(cohort)` took another path to the model grid than files (`to_model_cohort`), without the
    offset removal: the same recording gave other answers handed over in Python than read from its CSV."""
    from abrnet.inference.api import to_model_cohort

    c = _copy(sim)
    ear = c.ear_key.astype(str) == c.ear_key.astype(str)[0]
    c.signals[ear] += 1.0
    got, warnings = to_model_cohort(c)
    orig = sim.signals[ear].astype(np.float64)
    np.testing.assert_allclose(got.signals[ear], orig - orig.mean(1, keepdims=True), atol=2e-5)
    assert any("1 ear(s)" in w and "baseline offset" in w for w in warnings), warnings


def test_simulated_file_reads_back_centred_and_unflagged(sim: ABRCohort, tmp_path: Path) -> None:
    got, warnings = read_for_model(save_cohort(sim, tmp_path / "sim.h5"))
    np.testing.assert_allclose(got.signals, _centred(sim.signals), atol=2e-6)
    assert [w for w in warnings if "from adults" not in w] == [] and set(got.extras["domain"]) == {IN_DOMAIN}


def test_offset_is_measured_on_recorded_samples_only(sim: ABRCohort, tmp_path: Path) -> None:
    """A 25 kHz recording ending at 8.52 ms: the padded 8.55–9.95 ms stay 0 µV, the recorded part becomes zero-mean
    (the zeros neither dilute the offset nor become a step)."""
    c = _copy(sim).subset(np.arange(4))
    t = np.arange(213) / 25.0  # ms
    c.signals = (np.interp(t, np.arange(200) / 20.0, sim.signals[0])[None, :] + 3.0).repeat(4, 0).astype(np.float32)
    c.clean, c.buffers, c.sampling_rate_hz = None, None, 25_000.0
    got, warnings = read_for_model(save_cohort(c, tmp_path / "short.h5"))
    assert np.all(got.signals[:, 171:] == 0.0)
    assert abs(got.signals[:, :171].mean()) < 0.05
    assert any(
        "4 of 4 records, had a baseline offset above 0.05 µV (median record mean; largest +3" in w for w in warnings
    ), warnings


# ------------------------------------------------------------------------------------------------ 2.-4. domain
def test_amplitude_in_another_unit_is_out_of_domain(sim: ABRCohort, tmp_path: Path) -> None:
    c = _copy(sim)
    c.signals[2] *= 1000.0  # written in nV
    c.buffers[2] *= 1000.0
    got, warnings = read_for_model(write_wide_csv(c, tmp_path / "nv.csv"))
    reason = got.extras["domain"][2]
    # no option named: the viewer has no units field, and a CAP's tens of µV are real (hunt 9, #11)
    assert reason.startswith("amplitude: ") and "µV peak to peak, beyond a scalp ABR (samples in another" in reason
    assert "--units" not in reason
    assert set(np.delete(got.extras["domain"], 2)) == {IN_DOMAIN}
    assert any("1 of" in w and "amplitude:" in w for w in warnings)


def test_flat_traces_are_out_of_domain(sim: ABRCohort, tmp_path: Path) -> None:
    """A disconnected electrode (zeros, or a constant offset) was read as a total hearing loss."""
    c = _copy(sim)
    c.signals[0], c.buffers[0] = 0.0, 0.0
    c.signals[5], c.buffers[5] = 3.0, 3.0
    got, _ = read_for_model(write_wide_csv(c, tmp_path / "flat.csv"))
    flat = "flat trace (no signal: electrode or channel disconnected?)"
    assert got.extras["domain"][0] == flat and got.extras["domain"][5] == flat
    assert np.sum(got.extras["domain"] == IN_DOMAIN) == c.n_records - 2
    c.sampling_rate_hz, c.signals = 25_000.0, np.full((c.n_records, 250), 3.0, np.float32)  # resampler ripple
    assert all(d.endswith(flat) for d in assess_domain(c))


def test_levels_outside_the_trained_range(sim: ABRCohort, tmp_path: Path) -> None:
    c = _copy(sim)
    c.static[:2, 1] = [120.0, 110.0]
    c.static[2, 1] = -10.0
    got, warnings = read_for_model(write_wide_csv(c, tmp_path / "lv.csv"))
    dom = got.extras["domain"]
    assert dom[0] == "level: 120 dB above the trained 0–100 dB" and dom[2] == "level: -10 dB below the trained 0–100 dB"
    assert set(dom[3:]) == {IN_DOMAIN} and sim.static_column("intensity_db").max() <= 100.0
    assert any("2 of" in w and "(level: 110–120 dB above the trained 0–100 dB)" in w for w in warnings), warnings


def test_numbered_reasons_share_one_warning_line() -> None:
    dom = np.array(["level: 110 dB above the trained 0–100 dB", "level: 120 dB above the trained 0–100 dB", "in"])
    (line,) = domain_warnings(dom, "f.csv")
    assert "f.csv: 2 of 3 records out of the model's domain (level: 110–120 dB above" in line


# ------------------------------------------------------------------------------------------------ 5. empty ear
def test_empty_ear_beside_labelled_ears_of_the_patient_is_refused(sim: ABRCohort, tmp_path: Path) -> None:
    path = write_wide_csv(sim, tmp_path / "ear.csv")
    rows = list(csv.reader(path.open(newline="")))
    pid, ear = rows[0].index("patient_id"), rows[0].index("ear")
    first = next(i for i, r in enumerate(rows[1:], 1) if r[pid] == "SIM000001" and r[ear] == "L")

    def blank_left(rows: list[list[str]]) -> None:
        for r in rows[1:]:
            if r[pid] == "SIM000001" and r[ear] == "L":
                r[ear] = ""

    _edit_csv(path, blank_left)
    pattern = (
        rf"ear\.csv: field 'ear', row {first}: empty, but patient 'SIM000001' has records labelled R, so this "
        rf"one's ear cannot be assumed; write L or R \(line {first + 1}\)$"
    )
    with pytest.raises(DataError, match=pattern):
        read_for_model(path)


def test_empty_ears_of_an_unlabelled_patient_are_still_assumed_r(sim: ABRCohort, tmp_path: Path) -> None:
    keep = (sim.patient_id != "SIM000001") | (sim.ear == "R")
    path = write_wide_csv(sim.subset(keep), tmp_path / "ear.csv")
    pid, ear = 0, 1

    def blank(rows: list[list[str]]) -> None:
        assert rows[0][pid] == "patient_id" and rows[0][ear] == "ear"
        for r in rows[1:]:
            if r[pid] == "SIM000001":
                r[ear] = ""

    got, warnings = read_for_model(_edit_csv(path, blank))
    assert set(got.ear[got.patient_id == "SIM000001"]) == {"R"}
    assert any("records name no ear; they are reported as ear R" in w for w in warnings)


# ------------------------------------------------------------------------------------------------ 6.-7. time base
def test_assumed_time_base_is_warned(sim: ABRCohort, tmp_path: Path) -> None:
    path = write_wide_csv(sim, tmp_path / "grid.csv")
    _, warnings = read_for_model(path)
    assert not any("column; assumed" in w for w in warnings)  # (the test's tmp_path holds "assumed" too)
    _edit_csv(path, lambda rows: _drop_columns(rows, "sampling_rate_hz", "t0_ms"))
    _, warnings = read_for_model(path)
    expected = (
        f"{path}: no sampling_rate_hz or t0_ms column; assumed 20000 Hz, t0 0 ms (pass sampling_rate_hz=.../t0_ms=... "
        "if the rows are timed otherwise)"
    )
    assert expected in warnings  # the Python API's spelling; the CLI passes its options' names
    cli = {"sampling_rate_hz": "--sampling-rate", "t0_ms": "--t0-ms"}
    _, warnings = read_for_model(path, sampling_rate_hz=20_000.0, option_names=cli)
    assert any("no t0_ms column; assumed t0 0 ms (pass --t0-ms" in w for w in warnings), warnings
    _, warnings = read_for_model(path, sampling_rate_hz=20_000.0, t0_ms=0.0)
    assert not any("column; assumed" in w for w in warnings)


@pytest.mark.parametrize(
    ("fs", "t0_ms", "n", "said"),
    [
        (40_000.0, -2.0, 560, "the recording spans -2–12 ms, the model window 0–10 ms: resampled from 40 kHz to 20 "
         "kHz; 2 ms before 0 ms and 2 ms after 10 ms dropped"),
        (20_000.0, 0.0, 340, "the recording spans 0–17 ms, the model window 0–10 ms: 7 ms after 10 ms dropped"),
        (40_000.0, 0.0, 400, "the recording spans 0–10 ms, the model window 0–10 ms: resampled from 40 kHz to 20 kHz"),
    ],
    ids=["resampled-and-cropped", "cropped", "resampled"],
)  # fmt: skip
def test_resampling_and_cropping_are_said_once_per_file(
    sim: ABRCohort, tmp_path: Path, fs: float, t0_ms: float, n: int, said: str
) -> None:
    c = _copy(sim)
    t = t0_ms + np.arange(n) * 1000.0 / fs
    c.signals = np.stack([np.interp(t, np.arange(200) / 20.0, s, left=0.0, right=0.0) for s in sim.signals])
    c.signals = c.signals.astype(np.float32)
    c.clean, c.buffers, c.sampling_rate_hz, c.t0_ms = None, None, fs, t0_ms
    path = save_cohort(c, tmp_path / "off.h5")
    _, warnings = read_for_model(path)
    assert [w for w in warnings if "dropped" in w or "resampled from" in w] == [f"{path}: {said}"]


def test_adult_records_are_told_how_thinly_the_model_saw_adults(sim: ABRCohort, tmp_path: Path) -> None:
    """A normal adult series was read CONDUCTIVE (p 0.82) without a word that adults are ~3 % of the training cohort
    (hunt 8, #24): adult records now get one warning line, infants none, and the stated share is the simulator's."""
    from abrnet.inference.domain import ADULT_AGE_YEARS, ADULT_SHARE_OF_TRAINING, sparse_age_warnings

    big = simulate_cohort(SimulationConfig(n_patients=300), seed=1)
    share = float((big.static_column("age_years") >= ADULT_AGE_YEARS).mean())
    assert abs(share - ADULT_SHARE_OF_TRAINING) < 0.01, share
    c = _copy(sim)
    c.static[:, 0] = 0.5
    assert sparse_age_warnings(c, "f.csv") == []
    c.static[:2, 0] = 30.0
    _, warnings = read_for_model(write_wide_csv(c, tmp_path / "adults.csv"))
    (line,) = [w for w in warnings if "adults" in w]
    assert line.startswith(f"{tmp_path / 'adults.csv'}: 2 of {c.n_records} records are from adults (>= 18 years)")


def test_assumed_time_base_is_said_again_after_data_import(sim: ABRCohort, tmp_path: Path) -> None:
    """`data import` of a CSV without its time base said nothing, and predict on the .h5 it wrote neither, though
    describe showed the assumption (hunt 9, #9): both now say it."""
    from typer.testing import CliRunner

    from abrnet.cli.main import app

    path = _edit_csv(
        write_wide_csv(sim, tmp_path / "bare.csv"), lambda r: _drop_columns(r, "sampling_rate_hz", "t0_ms")
    )
    res = CliRunner().invoke(app, ["data", "import", str(path), "--out", str(tmp_path / "b.h5")])
    assert res.exit_code == 0 and "no sampling_rate_hz or t0_ms column; assumed 20000 Hz, t0 0 ms" in res.output
    _, warnings = read_for_model(tmp_path / "b.h5")
    assert any(w.startswith(f"{tmp_path / 'b.h5'}: no sampling_rate_hz or t0_ms column; assumed") for w in warnings)


def test_invert_reads_a_vertex_negative_export_as_the_model_learnt_waves(sim: ABRCohort, tmp_path: Path) -> None:
    """An inverted trace (vertex-negative display, swapped electrodes) read as "no response" for 3 of 4 hearing ears,
    with no way to say so (hunt 8, #5): `--invert` / ``invert=True`` multiplies every sample and buffer by -1."""
    from typer.testing import CliRunner

    from abrnet.cli.main import app

    c = _copy(sim)
    c.signals, c.buffers = -c.signals, -c.buffers  # what such an export holds
    path = write_wide_csv(c, tmp_path / "neg.csv")
    got, _ = read_for_model(path, invert=True)
    mean = sim.signals.astype(np.float64).mean(axis=1)  # (N,) every record is read centred
    np.testing.assert_allclose(got.signals, _centred(sim.signals), atol=1e-6)
    np.testing.assert_allclose(got.buffers, sim.buffers - mean[:, None, None], atol=1e-6)
    assert got.attrs["inverted"] == 1
    with pytest.raises(DataError, match="field 'invert': must be true or false"):
        read_for_model(path, invert="yes")
    res = CliRunner().invoke(app, ["data", "import", str(path), "--invert", "--out", str(tmp_path / "pos.h5")])
    assert res.exit_code == 0, res.output
    np.testing.assert_allclose(read_for_model(tmp_path / "pos.h5")[0].signals, _centred(sim.signals), atol=1e-6)


def test_an_offset_read_from_one_or_two_records_says_so(sim: ABRCohort) -> None:
    """The median mean of one or two records is theirs: a burst passed the bound in 17 of 1,200 clean short ears
    (60/80 dB, 80 dB only), so the warning says how thin the evidence is; a long ear's does not."""
    from abrnet.data.baseline import remove_baseline_offsets

    keys = sim.ear_key.astype(str)
    two = sim.subset(np.flatnonzero(keys == keys[0])[:2])
    two.signals += 0.3
    (line,) = remove_baseline_offsets(two)[1]
    assert line.endswith(
        "(1 of these ear(s) have 2 records or fewer, where one record's burst cannot be told from an offset)"
    )
    long = _copy(sim)
    long.signals += 0.3
    (line,) = remove_baseline_offsets(long)[1]
    assert "burst" not in line and line.endswith("(as from every record: the model reads a record's mean)")
