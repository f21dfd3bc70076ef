"""Random slow trends on the analysis rows: teach the heads that a drift below the slow-trend bound says nothing.

Why: since stop 40 the network reads every record centred, so a constant offset cannot move a reading; but a
zero-mean tilt of 0.1 µV across the window (RMS ~0.03 µV, far below the 0.13 µV bound above which
`abrnet.data.baseline.remove_slow_trends` removes an ear's trends) took the shipped model's fixed-protocol threshold
within 10 dB from 0.83 to 0.72 (`benchmarks/results/dc_offset.md`). The simulated cohort's noise is band-passed
above 100 Hz, so apart from the mains residue the network never saw a drift and was free to read one. Real
recordings drift (electrode polarisation, a slow wave), and nothing between the file and the network removes a
trend below the bound. A trend does not change what is visible in the waveform, so labels stay as they are.

The trend is a sum of the degree-1 and degree-2 Legendre polynomials over the window (the shapes the bound
measures), each coefficient ~ N(0, ``sd_uv``), then centred, as every record the network reads is.
"""

from __future__ import annotations

import torch


def legendre_trends(n_samples: int) -> torch.Tensor:
    """(2, T) the degree-1 and degree-2 Legendre polynomials on [-1, 1] sampled over the window, each centred."""
    tau = torch.linspace(-1.0, 1.0, n_samples)  # (T,)
    basis = torch.stack([tau, 1.5 * tau**2 - 0.5])  # (2, T)
    return basis - basis.mean(dim=1, keepdim=True)


def add_slow_trends(
    signal: torch.Tensor,  # (B, T) normalised, centred records
    rows: torch.Tensor,  # (B,) bool: the rows that get a trend
    sd_uv: float,
    signal_scale_uv: float,
    generator: torch.Generator,
) -> torch.Tensor:
    """``signal`` with a random zero-mean slow trend (``sd_uv`` µV per Legendre coefficient) on ``rows`` (seeded).

    Two draws per row whatever ``rows`` is, so the random stream does not depend on which rows get one; none at all
    when ``sd_uv`` is 0 (a run without trends repeats the stream of one made before they existed).
    """
    if sd_uv <= 0:
        return signal
    coefficients = torch.randn(signal.shape[0], 2, generator=generator) * (sd_uv / signal_scale_uv)  # (B, 2)
    trend = coefficients @ legendre_trends(signal.shape[-1])  # (B, T) normalised units
    trend = torch.where(rows.cpu()[:, None], trend, torch.zeros_like(trend)).to(signal)
    return signal + trend
