"""Cochlear-microphonic residue: the waveform cue that tells a neuropathy (ANSD) ear from a totally deaf one.

Both show no ABR in most ears; what differs is the cochlea. An ANSD cochlea still produces a microphonic (CM), a
1–2 kHz ringing from ~0.5 ms that alternating polarity mostly, not wholly, cancels (reference §5, §8.6); a TOTAL
cochlea produces none. The network's per-record class head did not pick the residue up: on a class-balanced
fixed-protocol cohort its series stage confused the two classes at chance (ears 25/34 and 27/25). So the series
stage also reads one classical statistic from the waveform itself: the in-band energy of the early window over the
in-band noise, averaged over the ear's loudest records (the CM grows 20 dB per 20 dB of level).

The noise reference, best first (as `abrnet.data.noise_estimate`): the split buffers' (A − B)/2 in the same band and
window, else the late window of the average, where a click ABR has mostly returned to baseline. The default
simulated data has buffers, so a file without them is read with the weaker fallback; the statistic is the same
(log of an RMS ratio, ~0 for noise alone), its spread larger.
"""

from __future__ import annotations

import numpy as np

from abrnet.data.filters import butterworth_sos, zero_phase
from abrnet.data.schema import ABRCohort

CM_BAND_HZ: tuple[float, float] = (600.0, 3000.0)  # the CM's 1–2 kHz with margin; V (< ~600 Hz) mostly outside
CM_WINDOW_MS: tuple[float, float] = (0.5, 4.0)  # after the stimulus artifact, while the CM rings
LATE_REFERENCE_MS = 6.5  # fallback noise reference: the average from here to the end
LOUD_SPAN_DB = 10.0  # records within this of the ear's highest level count as its loudest
FILTER_ORDER = 4


def early_band_log_snr(cohort: ABRCohort) -> np.ndarray:
    """(N,) log(RMS of the band-passed average in CM_WINDOW_MS / RMS of the band-passed noise reference); ~0 for
    noise alone, NaN when the recording does not cover CM_WINDOW_MS."""
    fs = cohort.sampling_rate_hz
    sos = butterworth_sos(fs, CM_BAND_HZ[0], min(CM_BAND_HZ[1], 0.45 * fs), FILTER_ORDER)
    t = cohort.time_ms  # (T,)
    window = (t >= CM_WINDOW_MS[0]) & (t < CM_WINDOW_MS[1])
    if window.sum() < 4:  # a window that misses the CM: no evidence either way (NaN reads as neutral downstream)
        return np.full(cohort.n_records, np.nan)
    band = zero_phase(cohort.signals, sos)  # (N, T)
    if cohort.buffers is not None:
        noise = zero_phase((cohort.buffers[:, 0] - cohort.buffers[:, 1]) / 2.0, sos)[:, window]  # (N, W)
    else:
        late = t >= LATE_REFERENCE_MS
        noise = band[:, late] if late.sum() >= 4 else band[:, -4:]  # (N, L)
    ref = np.maximum(noise.std(axis=1), 1e-9)
    return np.log(np.maximum(band[:, window].std(axis=1), 1e-9) / ref)


def loud_microphonic(cohort: ABRCohort, record_ear: np.ndarray, max_db: np.ndarray) -> np.ndarray:
    """(E,) `early_band_log_snr` averaged over each ear's records within LOUD_SPAN_DB of its highest level.

    record_ear: (N,) ear row of each record; max_db: (E,) each ear's highest level.
    """
    intensity = cohort.static[:, 1].astype(np.float64)
    loud = (intensity >= max_db[record_ear] - LOUD_SPAN_DB - 1e-6).astype(np.float64)  # (N,)
    n_ears = max_db.shape[0]
    snr = np.nan_to_num(early_band_log_snr(cohort))  # NaN (window not covered) → 0, the noise-alone value
    return np.bincount(record_ear, snr * loud, n_ears) / np.maximum(np.bincount(record_ear, loud, n_ears), 1.0)
