"""S4D: a diagonal state-space layer (Gu et al. 2022, "On the Parameterization and Initialization of
Diagonal State Space Models"), written after the authors' standalone ``s4d.py``.

Continuous SSM per channel h:  x'(t) = A x(t) + B u(t),  y(t) = 2·Re(C x(t)) + D u(t), with A diagonal and
complex (N/2 modes; the factor 2 accounts for the conjugate pairs). Zero-order hold with a learned step Δt gives
Ā = exp(ΔA), B̄ = (exp(ΔA) − 1)/A · B (B folded into C), and the convolution kernel K_l = 2·Re(C B̄ Ā^l) is a
Vandermonde product. The layer applies K by FFT convolution, so a length-L sequence costs O(H·L·log L).

The SSM parameters (log Δt, Re A, Im A) carry ``p._optim = {"lr": ..., "weight_decay": 0.0}`` hints which
``OptimizedHierarchicalUNet.optimizer_groups`` turns into their own parameter group.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from abrnet.models.common import ChannelLayerNorm


class S4DKernel(nn.Module):
    """Generates the (H, L) convolution kernel of H independent diagonal SSMs with N/2 complex modes each."""

    def __init__(
        self,
        d_model: int,
        d_state: int = 64,
        *,
        dt_min: float = 1e-3,
        dt_max: float = 1e-1,
        init: str = "lin",
        lr: float | None = 1e-3,
    ) -> None:
        super().__init__()
        H, N = d_model, max(d_state // 2, 1)
        log_dt = torch.rand(H) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)  # (H)
        C = torch.randn(H, N, dtype=torch.cfloat) * (0.5**0.5)  # (H N) complex, unit variance
        log_A_real = torch.log(0.5 * torch.ones(H, N))  # (H N)  Re A = -1/2
        n = torch.arange(N, dtype=torch.float)
        if init == "lin":  # S4D-Lin: Im A = π n
            A_imag = math.pi * n
        elif init == "inv":  # S4D-Inv: Im A = N/π (N/(2n+1) − 1)
            A_imag = N / math.pi * (N / (2 * n + 1) - 1)
        else:
            raise ValueError(f"s4 init must be 'lin' or 'inv', got {init!r}")
        self.C = nn.Parameter(torch.view_as_real(C))  # (H N 2)
        self.register("log_dt", log_dt, lr)
        self.register("log_A_real", log_A_real, lr)
        self.register("A_imag", A_imag.repeat(H, 1), lr)  # (H N)

    def register(self, name: str, tensor: torch.Tensor, lr: float | None) -> None:
        """Make an SSM parameter with its own learning rate and no weight decay (or a buffer when lr == 0)."""
        if lr == 0.0:
            self.register_buffer(name, tensor)
            return
        p = nn.Parameter(tensor)
        if lr is not None:
            p._optim = {"lr": lr, "weight_decay": 0.0}  # type: ignore[attr-defined]
        setattr(self, name, p)

    def discretize(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Zero-order hold: returns (ΔA, Ā, C·B̄), each (H N) complex."""
        dt = torch.exp(self.log_dt.float())  # (H)
        A = -torch.exp(self.log_A_real.float()) + 1j * self.A_imag.float()  # (H N)
        dtA = A * dt.unsqueeze(-1)  # (H N)
        CB = torch.view_as_complex(self.C.float()) * (torch.exp(dtA) - 1.0) / A  # (H N)
        return dtA, torch.exp(dtA), CB

    def forward(self, L: int) -> torch.Tensor:
        """Kernel K (H, L), float32: K_l = 2·Re(Σ_n C_n B̄_n Ā_n^l) via the Vandermonde matrix exp(ΔA·l).

        The Vandermonde matrix is factored, l = I·j + i: exp(ΔA·l) = exp(ΔA·I·j)·exp(ΔA·i), so only I + J ≈ 2√L
        complex exponentials per mode are taken (not L) and the sum over modes is one batched complex matmul.
        The complex exponential dominated a CPU training step's batch-independent cost (~30% at batch 1).
        """
        dtA, _, CB = self.discretize()  # (H N) each
        inner_len = math.isqrt(max(L - 1, 0)) + 1  # I ≥ √L
        outer_len = -(-L // inner_len)  # J = ⌈L / I⌉
        steps = torch.arange(inner_len, device=dtA.device)  # (I)
        inner = torch.exp(dtA.unsqueeze(-1) * steps)  # (H N I)
        outer = torch.exp(dtA.unsqueeze(-1) * (inner_len * torch.arange(outer_len, device=dtA.device)))  # (H N J)
        k = (CB.unsqueeze(-1) * outer).transpose(1, 2) @ inner  # (H J I), k[h, j, i] = K at l = I·j + i
        return 2 * k.reshape(k.shape[0], -1)[:, :L].real  # (H L)


class S4D(nn.Module):
    """One S4D layer on (B, H, L): SSM convolution (+ D skip), GELU, then a pointwise GLU mixing channels.

    ``bidirectional`` runs a second, anti-causal SSM (its kernel is flipped and shifted by one step so the current
    sample is counted once), which suits whole recorded sweeps where later samples inform earlier ones.
    """

    def __init__(
        self,
        d_model: int,
        d_state: int = 64,
        *,
        dropout: float = 0.0,
        bidirectional: bool = True,
        init: str = "lin",
        lr: float | None = 1e-3,
    ) -> None:
        super().__init__()
        self.h, self.bidirectional = d_model, bidirectional
        self.kernel = S4DKernel(d_model * (2 if bidirectional else 1), d_state, init=init, lr=lr)
        self.D = nn.Parameter(torch.randn(d_model))  # (H)
        self.activation = nn.GELU()
        self.dropout = nn.Dropout(dropout)
        self.output_linear = nn.Sequential(nn.Conv1d(d_model, 2 * d_model, 1), nn.GLU(dim=1))

    def convolution_kernel(self, L: int) -> torch.Tensor:
        """The (H, 2L) circular kernel applied by FFT: causal part at [0, L), anti-causal part at [L, 2L)."""
        k = self.kernel(L)  # (H L) or (2H L)
        if not self.bidirectional:
            return F.pad(k, (0, L))  # (H 2L)
        k_fwd, k_bwd = k.chunk(2, dim=0)  # (H L) each
        return F.pad(k_fwd, (0, L)) + F.pad(k_bwd.flip(-1), (L, 0))  # (H 2L)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        """u (B, H, L) → (B, H, L). The FFT runs in float32 (no bf16/half FFT for arbitrary lengths)."""
        L = u.size(-1)
        k = self.convolution_kernel(L)  # (H 2L)
        k_f = torch.fft.rfft(k, n=2 * L)  # (H L+1)
        u_f = torch.fft.rfft(u.float(), n=2 * L)  # (B H L+1)
        y = torch.fft.irfft(u_f * k_f, n=2 * L)[..., :L]  # (B H L)
        y = y + u.float() * self.D.float().unsqueeze(-1)  # (B H L)
        y = self.dropout(self.activation(y.to(u.dtype)))
        return self.output_linear(y)  # (B H L)


class S4Block(nn.Module):
    """Pre-norm residual wrapper: x + Dropout(S4D(LayerNorm(x))) on (B, C, T)."""

    def __init__(self, dim: int, d_state: int, *, dropout: float, bidirectional: bool, init: str, lr: float) -> None:
        super().__init__()
        self.norm = ChannelLayerNorm(dim)
        self.s4 = S4D(dim, d_state, dropout=dropout, bidirectional=bidirectional, init=init, lr=lr)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.dropout(self.s4(self.norm(x)))  # (B, C, T)
