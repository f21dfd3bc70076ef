"""Waveless negatives for the analysis rows: teach "no ABR shape → no wave", whatever the stimulus level says.

The first model called wave V present wherever the intensity input was high, because in its data intensity and
presence almost never disagreed. Two kinds of rows where they do disagree, built from the batch itself:

* noise only: the record's own split-buffer difference (A − B)/2, the noise of that very recording without its
  response, at the record's level (0–100 dB), so a loud level with nothing in it is seen often;
* time reversed: the recording played backwards, the same energy and spectrum with no ABR where waves belong.

Their labels: every wave absent (presence trained), every other head masked (a reversed trace has no threshold or
class), FMP hidden (it described the original recording). Rows are chosen with the step's seeded generator.
"""

from __future__ import annotations

import torch

WAVELESS = ("latency", "amplitude")


def waveless_negatives(
    batch: dict[str, torch.Tensor],
    analysis: torch.Tensor,  # (B,) bool: rows trained at t = 0 on the observed signal
    noise_fraction: float,
    reversed_fraction: float,
    generator: torch.Generator,
    fmp_column: int,
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """A copy of ``batch`` with some analysis rows replaced by negatives, and the (B,) bool mask of those rows."""
    B = batch["signal"].shape[0]
    u = torch.rand(B, generator=generator).to(analysis.device)  # (B,)
    use_noise = analysis & (u < noise_fraction) if "noise_only" in batch else torch.zeros_like(analysis)
    use_rev = analysis & ~use_noise & (u >= noise_fraction) & (u < noise_fraction + reversed_fraction)
    neg = use_noise | use_rev
    if not neg.any():
        return batch, neg
    out = dict(batch)
    signal = torch.where(use_rev[:, None], batch["signal"].flip(-1), batch["signal"])  # (B, T)
    if "noise_only" in batch:
        signal = torch.where(use_noise[:, None], batch["noise_only"], signal)
    out["signal"] = signal
    for key in WAVELESS:
        out[key] = torch.where(neg[:, None], torch.nan, batch[key])
    out["class_id"] = torch.where(neg, -1, batch["class_id"])
    out["threshold"] = torch.where(neg, torch.nan, batch["threshold"])
    out["no_response"] = torch.where(neg, torch.nan, batch["no_response"])
    static = batch["static"].clone()
    static[neg, fmp_column] = torch.nan
    out["static"] = static
    return out, neg
