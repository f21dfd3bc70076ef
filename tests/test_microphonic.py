"""The series stage's cochlear-microphonic cue: it sees a CM residue at the loud end, and nothing in pure noise."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from abrnet.data.filters import bandpass_filter
from abrnet.data.simulate.noise import stimulus_artifact
from abrnet.series.microphonic import LOUD_SPAN_DB, MIN_STATISTIC, loud_microphonic
from tests.conftest import make_toy_cohort

LEVELS = (100, 90, 70, 50)


def _recorded(cm_uv: float, seed: int, soft_only: bool = False) -> object:
    """A toy cohort whose every record is band-limited noise in two buffers, plus (all ears) a CM residue of
    ``cm_uv`` at 90 dB that grows 20 dB per 20 dB of level: a 1.5 kHz ringing from 0.6 ms (reference §8.6).
    ``soft_only``: the CM only on the records more than LOUD_SPAN_DB below the ear's top (not physiological: a probe
    of which records the detector reads)."""
    rng = np.random.default_rng(seed)
    toy = make_toy_cohort(n_patients=10, levels=LEVELS, seed=seed)
    n, t_ms = toy.n_records, toy.time_ms
    level = toy.static[:, 1].astype(np.float64)
    after = np.clip(t_ms - 0.6, 0.0, None)
    ring = np.where(t_ms >= 0.6, np.exp(-after / 2.0) * np.sin(2 * np.pi * 1.5 * after), 0.0)  # (T,)
    cm = cm_uv * 10 ** ((level - 90.0) / 20.0)[:, None] * ring  # (N, T)
    if soft_only:
        cm[level >= max(LEVELS) - LOUD_SPAN_DB] = 0.0
    noise = bandpass_filter(rng.standard_normal((2 * n, t_ms.size)), low=100.0, high=3000.0).reshape(n, 2, -1) * 0.1
    buffers = (cm[:, None, :] + noise).astype(np.float32)
    return dataclasses.replace(toy, signals=buffers.mean(axis=1), buffers=buffers, clean=None)


def _per_ear(cohort) -> np.ndarray:
    keys, ear = np.unique(cohort.ear_key, return_inverse=True)
    max_db = np.full(keys.size, -np.inf)
    np.maximum.at(max_db, ear, cohort.static[:, 1].astype(np.float64))
    return loud_microphonic(cohort, ear.ravel(), max_db)


@pytest.mark.parametrize("with_buffers", [True, False])
def test_a_cm_residue_raises_the_statistic_and_noise_alone_does_not(with_buffers: bool) -> None:
    noise_only, with_cm = _recorded(0.0, seed=1), _recorded(0.15, seed=2)
    if not with_buffers:  # a file without split buffers: the late window is the noise reference
        noise_only, with_cm = (dataclasses.replace(c, buffers=None) for c in (noise_only, with_cm))
    quiet, ringing = _per_ear(noise_only), _per_ear(with_cm)
    assert abs(np.median(quiet)) < 0.5  # noise alone reads ~0: the white-noise level is subtracted
    assert np.median(ringing) > np.median(quiet) + 1.0
    assert (ringing > quiet.max()).mean() > 0.8


def test_the_click_artifact_is_not_read_as_a_cm() -> None:
    """The click's electrical residue (0–0.5 ms, 3 kHz, common to both buffers: the simulator's §6 artifact) is
    tapered out before filtering; unfiltered, it would ring into the CM window in every ear, deaf or not."""
    noise_only = _recorded(0.0, seed=7)
    level = noise_only.static[:, 1].astype(np.float64)
    artifact = stimulus_artifact(np.random.default_rng(7), level, noise_only.time_ms, 0.5)  # (N, T)
    buffers = (noise_only.buffers + artifact[:, None, :]).astype(np.float32)
    clicked = dataclasses.replace(noise_only, signals=buffers.mean(axis=1), buffers=buffers)
    assert np.abs(clicked.signals - noise_only.signals).max() > 5 * noise_only.signals.std()  # it is there
    assert abs(np.median(_per_ear(clicked))) < 0.2
    np.testing.assert_allclose(_per_ear(clicked), _per_ear(noise_only), atol=0.4)  # unfiltered: up to 1.3 more


def test_a_noisy_loudest_record_does_not_drown_the_cm() -> None:
    """Records are weighted by the CM size each should carry over its own noise: when the top record is 10× noisier
    than the rest, the record 10 dB down still carries the ear's CM (an equal-noise average would lose it)."""
    rng = np.random.default_rng(108)

    def noisier_top(cohort):
        top = cohort.static[:, 1] == max(LEVELS)
        extra = bandpass_filter(rng.standard_normal((2 * cohort.n_records, cohort.time_ms.size)), low=100.0)
        buffers = cohort.buffers + np.where(top[:, None, None], extra.reshape(cohort.n_records, 2, -1), 0.0)
        return dataclasses.replace(cohort, signals=buffers.mean(axis=1), buffers=buffers.astype(np.float32))

    quiet, ringing = _per_ear(noisier_top(_recorded(0.0, seed=8))), _per_ear(noisier_top(_recorded(0.15, seed=8)))
    assert abs(np.median(quiet)) < 0.5
    assert (ringing > 1.0).mean() > 0.9 and (ringing > quiet.max()).mean() > 0.8


def test_a_weaker_residue_reads_lower() -> None:
    weak, strong = _per_ear(_recorded(0.05, seed=6)), _per_ear(_recorded(0.15, seed=6))  # the same noise
    assert (strong > weak).all()


def test_only_the_loud_records_count() -> None:
    """A CM on the soft records alone leaves the statistic exactly where noise alone puts it (same noise draw)."""
    noise_only, soft_cm = _recorded(0.0, seed=3), _recorded(0.3, seed=3, soft_only=True)
    assert not np.allclose(noise_only.signals, soft_cm.signals)  # the soft records do carry the CM
    np.testing.assert_allclose(_per_ear(soft_cm), _per_ear(noise_only))


def test_a_window_that_misses_the_cm_reads_as_no_evidence() -> None:
    late = dataclasses.replace(_recorded(0.15, seed=4), t0_ms=5.0)  # the trace starts after the latest CM onset
    np.testing.assert_array_equal(_per_ear(late), 0.0)  # the noise-alone value, not a NaN in the features


def test_the_cue_reaches_the_ear_table_and_the_series_csv_columns() -> None:
    from abrnet.inference.result_tables import series_columns
    from abrnet.series.per_ear import SERIES_FEATURES, aggregate_ears, series_features
    from tests.test_series import _oracle_predictions

    cohort = _recorded(0.15, seed=5)
    pred = _oracle_predictions(cohort, dict.fromkeys(range(5), 0.0))
    table = aggregate_ears(pred, cohort)
    np.testing.assert_allclose(table.cm_log_snr, _per_ear(cohort))
    assert (table.cm_log_snr > 1.0).all()
    np.testing.assert_array_equal(series_columns(table)["cm_log_snr"], table.cm_log_snr)
    column = series_features(pred, cohort, table)[:, SERIES_FEATURES.index("loud_cm_log_snr")]
    np.testing.assert_array_equal(column, table.cm_log_snr)


@pytest.mark.parametrize("with_buffers", [True, False])
def test_an_ear_reads_the_same_alone_and_among_other_ears(with_buffers: bool) -> None:
    """Each ear is whitened by its own noise: a patient read alone gets the values it gets in a file of ten, also
    when the other patients' noise is ten times larger and differently coloured (a whitener pooled over the input
    flipped 8 of 30 ears' series class, hunt 48)."""
    cohort = _recorded(0.1, seed=11)
    others = cohort.patient_id != cohort.patient_id[0]
    louder = bandpass_filter(np.random.default_rng(12).standard_normal((2 * cohort.n_records, 200)), low=200.0)
    buffers = cohort.buffers + np.where(others[:, None, None], louder.reshape(cohort.n_records, 2, -1), 0.0)
    cohort = dataclasses.replace(cohort, signals=buffers.mean(axis=1), buffers=buffers.astype(np.float32))
    if not with_buffers:
        cohort = dataclasses.replace(cohort, buffers=None)
    whole = _per_ear(cohort)  # ears in np.unique order of 'patient/ear'
    alone = np.concatenate([_per_ear(cohort.subset(cohort.patient_id == p)) for p in np.unique(cohort.patient_id)])
    assert np.unique(cohort.patient_id).size == 10 and whole.size == alone.size
    np.testing.assert_allclose(alone, whole, rtol=1e-9, atol=1e-12)


def test_an_all_zero_average_reads_at_the_floor_not_far_below_it() -> None:
    """A patient whose buffers cancel exactly (B = −A: the average is zero, the noise is not) has no power at all; its
    log read −29.6, an extreme feature for the series classifier (hunt 49). It reads MIN_STATISTIC, the rest as
    before."""
    cohort = _recorded(0.0, seed=13)
    first = cohort.patient_id == cohort.patient_id[0]
    buffers = cohort.buffers.copy()
    buffers[first, 1] = -buffers[first, 0]
    cancelled = dataclasses.replace(cohort, signals=buffers.mean(axis=1), buffers=buffers)
    values, before = _per_ear(cancelled), _per_ear(cohort)
    np.testing.assert_array_equal(values[:2], MIN_STATISTIC)  # its two ears come first ('patient/ear' order)
    np.testing.assert_array_equal(values[2:], before[2:])


def test_a_noise_reference_too_short_to_read_gives_no_evidence() -> None:
    """Without buffers the noise is read from 6.5 ms on: a recording that ends at 6.7 ms, padded onto the model grid,
    leaves a few samples by the padding's edge (noise alone read 0.35–0.5, hunt 49), and one that ends before 6.5 ms
    natively read 4 samples inside the CM window. Both are no evidence (0), as a trace that misses the CM is."""
    from abrnet.inference.api import to_model_cohort

    native = dataclasses.replace(_recorded(0.15, seed=14), buffers=None)
    for n_samples in (134, 120):  # 6.7 ms on the model grid; 6 ms as recorded
        short = dataclasses.replace(native, signals=np.ascontiguousarray(native.signals[:, :n_samples]))
        read = to_model_cohort(short, 200)[0] if n_samples > 130 else short
        np.testing.assert_array_equal(_per_ear(read), 0.0)
    assert (_per_ear(native) > 1.0).all()  # the whole recording reads its CM
