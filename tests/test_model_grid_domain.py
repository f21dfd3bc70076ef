"""A model-grid .h5 reads the same domain as the export it was written from.

`abrnet data import FILE --model-grid` pads a recording shorter than the model window with zeros and records which
samples were recorded (``extras["recorded"]``). Read again, the per-record domain check took the padding for
samples: the .h5 lost the export's ``window: covers 0–8.52 ms`` reason and gained a false ``noise level: ... far
below`` (the silent tail in the late-noise window). The check now reads only recorded samples, and the window (and
rate) of the grid the records were resampled from.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from abrnet.cli.main import app
from abrnet.data.io import load_cohort, save_cohort
from abrnet.data.metadata import SIMULATED, metadata_columns
from abrnet.data.resample import RECORDED_EXTRA, cohort_to_model_grid
from abrnet.data.schema import ABRCohort
from abrnet.inference.domain import IN_DOMAIN, assess_domain
from abrnet.inference.inputs import concat_cohorts, read_for_model
from tests.conftest import FIXTURES, make_toy_cohort, require_fixture

FAST_ABR = FIXTURES / "epl_abr_peak_analysis" / "XYZ999-ABR-15-1000.tsv"  # 0–8.52 ms at 25 kHz


def _short(rate_hz: float, n: int, prefix: str = "", seed: int = 0) -> ABRCohort:
    """Human clicks in dB nHL, a wave V in 0.1 µV noise, `n` samples at `rate_hz` from 0 ms: in domain but for its
    window (and rate)."""
    toy = make_toy_cohort(2).with_patient_prefix(prefix)
    t = np.arange(n) * 1000.0 / rate_hz
    rng = np.random.default_rng(seed)
    wave = 0.4 * np.exp(-0.5 * ((t - 5.8) / 0.3) ** 2)
    signals = (wave + 0.1 * rng.standard_normal((toy.n_records, n))).astype(np.float32)
    cohort = dataclasses.replace(toy, signals=signals, clean=None, sampling_rate_hz=rate_hz)
    cohort.extras.update(metadata_columns(cohort.n_records, **SIMULATED))
    return cohort.validate()


def _model_grid_h5(cohort: ABRCohort, path: Path) -> ABRCohort:
    """`cohort` as `abrnet data import --model-grid` writes it, read back."""
    save_cohort(cohort_to_model_grid(cohort)[0], path)
    return load_cohort(path)


@pytest.mark.parametrize(("rate_hz", "n", "reasons"), [
    (25_000.0, 200, ["window: covers 0–8 ms of 0–10 ms"]),
    (5_000.0, 40, ["window: covers 0–8 ms of 0–10 ms", "sampling rate: 5000 Hz < 7500 Hz"]),
])  # fmt: skip
def test_a_short_record_reads_the_same_from_its_model_grid_h5(
    tmp_path: Path, rate_hz: float, n: int, reasons: list[str]
) -> None:
    native = _short(rate_hz, n)
    h5 = _model_grid_h5(native, tmp_path / "x.h5")
    assert RECORDED_EXTRA in h5.extras and h5.sampling_rate_hz == 20_000.0 and h5.n_samples == 200
    want = assess_domain(native)
    assert set(want) == {"; ".join(reasons)}, set(want)
    np.testing.assert_array_equal(assess_domain(h5), want)


def test_the_recorded_span_says_the_window_without_the_native_grid(tmp_path: Path) -> None:
    """A model-grid cohort that does not say its native grid: the window is the span of its recorded samples (the
    model grid's 0.05 ms steps), and still no padding is read as a silent recording."""
    h5 = _model_grid_h5(_short(25_000.0, 200), tmp_path / "x.h5")
    h5.attrs.pop("resampled_from")
    assert set(assess_domain(h5)) == {"window: covers 0–8.05 ms of 0–10 ms"}
    whole = _short(20_000.0, 200)  # recorded over the whole window: in, as before
    assert RECORDED_EXTRA not in cohort_to_model_grid(whole)[0].extras
    assert set(assess_domain(whole)) == {IN_DOMAIN}


def test_files_padded_differently_in_one_h5_each_read_as_alone(tmp_path: Path) -> None:
    """Two exports written into one model-grid .h5 (`abrnet data import a b --model-grid`): each record reads as
    its own file's, though they recorded different samples."""
    short, longer = _short(25_000.0, 213, "a"), _short(25_000.0, 240, "b", seed=1)  # 0–8.52 ms; 0–9.6 ms
    merged = concat_cohorts([cohort_to_model_grid(c)[0] for c in (short, longer)])
    save_cohort(merged, tmp_path / "ab.h5")
    got = assess_domain(load_cohort(tmp_path / "ab.h5"))
    want = np.concatenate([assess_domain(short), assess_domain(longer)])
    assert set(want) == {"window: covers 0–8.52 ms of 0–10 ms", IN_DOMAIN}
    np.testing.assert_array_equal(got, want)


def test_the_fast_abr_export_and_its_model_grid_h5_read_the_same_domain(tmp_path: Path) -> None:
    """The hunt's file: every reason the export reads, the .h5 reads, in the same words; only an amplitude figure
    may differ in its third digit (the .h5 holds the 20 kHz resampling, whose anti-alias filter trims a peak),
    never which reasons there are."""
    src = require_fixture(FAST_ABR)
    out = tmp_path / "x.h5"
    res = CliRunner().invoke(app, ["data", "import", str(src), "--model-grid", "--age", "0.5", "--out", str(out)])
    assert res.exit_code == 0, res.output
    export = read_for_model(src, age_years=0.5)[0].extras["domain"]
    h5 = read_for_model(out)[0].extras["domain"]
    assert all("window: covers 0–8.52 ms of 0–10 ms" in d for d in h5) and not any("noise level" in d for d in h5)
    amplitude = re.compile(r"amplitude: ([0-9.]+) µV")
    for a, b in zip(export, h5, strict=True):
        assert amplitude.sub("amplitude: _ µV", a) == amplitude.sub("amplitude: _ µV", b), (a, b)
        figures = [float(m) for m in (*amplitude.findall(a), *amplitude.findall(b))]
        assert len(figures) in (0, 2) and (not figures or abs(figures[0] - figures[1]) <= 0.02 * figures[0])
    assert sum(a == b for a, b in zip(export, h5, strict=True)) >= len(export) - 2  # the rest word for word
