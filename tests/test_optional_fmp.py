"""FMP is optional: NaN means "not measured", from the file through normalisation to the model, never a placeholder."""

from __future__ import annotations

import numpy as np
import torch

from abrnet.constants import STATIC_PARAMS
from abrnet.data.normalizer import Normalizer
from abrnet.models.conditioning import StaticParamEmbedding, hide_optional
from abrnet.models.config import ModelConfig
from abrnet.models.unet import OptimizedHierarchicalUNet
from tests.conftest import make_toy_cohort

FMP = STATIC_PARAMS.index("fmp")


def test_normaliser_ignores_missing_fmp_and_keeps_it_missing() -> None:
    c = make_toy_cohort()
    full = Normalizer.fit(c)
    c.static[::2, FMP] = np.nan
    part = Normalizer.fit(c.validate())
    assert np.isfinite(part.static_mean).all() and np.isfinite(part.static_std).all()
    z = part.static(c.static)
    assert np.isnan(z[::2, FMP]).all() and np.isfinite(z[1::2]).all()
    assert part.static_mean[0] == full.static_mean[0]


def test_missing_is_its_own_state_not_zero() -> None:
    torch.manual_seed(0)
    emb = StaticParamEmbedding(4, 16)
    s = torch.zeros(1, 4)
    missing = s.clone()
    missing[0, FMP] = torch.nan
    assert torch.isfinite(emb(missing)).all()
    assert not torch.allclose(emb(missing), emb(s))  # NaN ≠ an FMP of 0 in normalised units


def test_model_runs_without_fmp_and_hiding_is_seeded() -> None:
    model = OptimizedHierarchicalUNet(ModelConfig.from_preset("tiny")).eval()
    x, s = torch.randn(3, 200), torch.randn(3, 4)
    s[:, FMP] = torch.nan
    out = model(x, s, torch.zeros(3, dtype=torch.long))
    assert all(torch.isfinite(v).all() for v in out.values())
    a = hide_optional(torch.zeros(1000, 4), (FMP,), 0.3, torch.Generator().manual_seed(4))
    b = hide_optional(torch.zeros(1000, 4), (FMP,), 0.3, torch.Generator().manual_seed(4))
    assert torch.equal(torch.isnan(a), torch.isnan(b))
    assert 0.25 < torch.isnan(a[:, FMP]).float().mean() < 0.35 and not torch.isnan(a[:, :FMP]).any()
