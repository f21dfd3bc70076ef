from __future__ import annotations

import math

import pytest
import torch

from abrnet.models.attention import CrossAttentionTransformerBlock, MultiHeadAttention, MultiScaleAttention


@pytest.mark.parametrize("cls", [MultiHeadAttention, MultiScaleAttention])
def test_attention_shapes_and_entropy_range(cls: type[MultiHeadAttention]) -> None:
    torch.manual_seed(0)
    attn = cls(16, 4)
    x, ctx = torch.randn(2, 10, 16), torch.randn(2, 7, 16)
    assert attn(x).shape == (2, 10, 16)
    assert attn(x, ctx).shape == (2, 10, 16)
    assert 0.0 <= float(attn.last_entropy) <= 1.0


def test_entropy_matches_explicit_weights_and_detects_collapse() -> None:
    torch.manual_seed(0)
    attn = MultiHeadAttention(8, 2)
    attn.entropy_samples = None
    x = torch.randn(3, 5, 8)
    attn(x)
    q = attn.split_heads(attn.q(x))
    k, _ = attn.keys_values(x)
    w = (q @ k.transpose(-2, -1) / math.sqrt(4)).softmax(-1)
    expected = (-(w * w.log()).sum(-1)).mean() / math.log(5)
    torch.testing.assert_close(attn.last_entropy, expected.detach())
    with torch.no_grad():  # huge, identical queries/keys → near one-hot rows
        attn.q.weight.mul_(1e3)
    attn(x)
    assert float(attn.last_entropy) < 0.2


def test_multi_scale_heads_see_different_kernel_sizes() -> None:
    attn = MultiScaleAttention(16, 4, scales=(1, 3, 5, 7))
    taps = attn.tap_mask[:16, 0].sum(-1).view(4, 4)[:, 0]  # keys: one row per head
    assert taps.tolist() == [1, 3, 5, 7]


def test_cross_block_gate_zero_is_identity() -> None:
    torch.manual_seed(0)
    block = CrossAttentionTransformerBlock(8, 2, mlp_ratio=2.0, dropout=0.0, multi_scale=True)
    block.gate.fill_(0.0)
    x = torch.randn(2, 8, 12)
    assert torch.equal(block(x, torch.randn(2, 8, 12)), x)
