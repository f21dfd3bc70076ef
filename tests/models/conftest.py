from __future__ import annotations

import pytest
import torch

from abrnet.models import ModelConfig, OptimizedHierarchicalUNet


def make_model(**overrides: object) -> OptimizedHierarchicalUNet:
    torch.manual_seed(0)
    return OptimizedHierarchicalUNet(ModelConfig.from_preset("tiny", **overrides)).eval()


def make_inputs(batch: int = 3, length: int = 200, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, length, generator=g), torch.randn(batch, 4, generator=g), torch.randint(0, 1000, (batch,))


@pytest.fixture
def tiny() -> OptimizedHierarchicalUNet:
    return make_model()
