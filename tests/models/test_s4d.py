from __future__ import annotations

import pytest
import torch

from abrnet.models.s4d import S4D, S4DKernel


def recurrence(kernel: S4DKernel, u: torch.Tensor) -> torch.Tensor:
    """Step the discretised diagonal SSM: x_k = Ā x_{k-1} + B̄ u_k, y_k = 2·Re(C x_k). u (H, L) → (H, L)."""
    with torch.no_grad():
        _, A_bar, CB = kernel.discretize()  # (H N) each, C·B̄ folded
        x = torch.zeros_like(CB)
        ys = []
        for k in range(u.shape[-1]):
            x = A_bar * x + u[:, k : k + 1].to(x.dtype)  # (H N)
            ys.append(2 * (CB * x).sum(-1).real)
    return torch.stack(ys, dim=-1)


@pytest.mark.parametrize("init", ["lin", "inv"])
def test_kernel_matches_recurrence(init: str) -> None:
    torch.manual_seed(0)
    kernel = S4DKernel(3, 16, init=init)
    u = torch.randn(3, 20)
    K = kernel(20)  # (H L)
    conv = torch.stack(
        [torch.stack([(K[h, : k + 1].flip(0) * u[h, : k + 1]).sum() for k in range(20)]) for h in range(3)]
    )
    torch.testing.assert_close(conv, recurrence(kernel, u), atol=1e-4, rtol=1e-4)


def test_layer_fft_matches_direct_convolution_and_bidirectional() -> None:
    torch.manual_seed(0)
    layer = S4D(4, 8, bidirectional=True).eval()
    layer.output_linear = torch.nn.Identity()
    layer.activation = torch.nn.Identity()
    u = torch.randn(2, 4, 16)
    L = 16
    k = layer.kernel(L)
    k_fwd, k_bwd = k[:4], k[4:]
    expected = torch.zeros_like(u)
    for n in range(L):
        for m in range(L):
            if m <= n:
                expected[..., n] += k_fwd[:, n - m] * u[..., m]
            else:
                expected[..., n] += k_bwd[:, m - n - 1] * u[..., m]
    expected += layer.D.unsqueeze(-1) * u
    torch.testing.assert_close(layer(u), expected, atol=1e-4, rtol=1e-4)
    # the future influences the past only when bidirectional
    u.requires_grad_(True)
    layer(u)[..., 0].sum().backward()
    assert u.grad[..., 5:].abs().sum() > 0
    causal = S4D(4, 8, bidirectional=False)
    u2 = torch.randn(2, 4, 16, requires_grad=True)
    causal(u2)[..., 3].sum().backward()
    assert u2.grad[..., 4:].abs().max() < 1e-6 < u2.grad[..., :4].abs().max()  # FFT round-off only


def test_ssm_parameters_carry_optimizer_hints() -> None:
    kernel = S4DKernel(4, 8, lr=2e-3)
    for name in ("log_dt", "log_A_real", "A_imag"):
        assert getattr(kernel, name)._optim == {"lr": 2e-3, "weight_decay": 0.0}
    assert not hasattr(kernel.C, "_optim")


def test_bad_init_rejected() -> None:
    with pytest.raises(ValueError, match="init"):
        S4DKernel(2, 4, init="random")


@pytest.mark.parametrize("L", [1, 2, 13, 50, 200])
def test_factored_vandermonde_equals_direct_kernel(L: int) -> None:
    """exp(ΔA·(I·j + i)) = exp(ΔA·I·j)·exp(ΔA·i): the factored kernel equals the direct Vandermonde sum."""
    torch.manual_seed(0)
    kernel = S4DKernel(16, 32)
    dtA, _, CB = kernel.discretize()
    direct = 2 * torch.einsum("hn,hnl->hl", CB, torch.exp(dtA.unsqueeze(-1) * torch.arange(L))).real  # (H L)
    fast = kernel(L)
    assert fast.shape == (16, L)
    torch.testing.assert_close(fast, direct, rtol=1e-5, atol=1e-5 * float(direct.abs().max()))
