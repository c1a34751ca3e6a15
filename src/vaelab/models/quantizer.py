"""Vector quantisation (van den Oord et al. 2017, §3.1-3.2): a codebook of K vectors
e_k ∈ ℝ^d; an encoder output z_e is replaced by its nearest code e_c, c = argmin_k
‖z_e − e_k‖². The decoder reads the straight-through value z_e + sg[e_c − z_e]: e_c in
the forward pass, the identity in the backward pass (their eq. 3's gradient copy).

The codebook moves either by its own loss ‖sg[z_e] − e_c‖² (``loss``; their eq. 3,
second term) or by exponential moving averages of the encoder outputs assigned to each
code (``ema``; their App. A.1, and Razavi et al. 2019, eq. 4-6):

    N_k ← γ N_k + (1 − γ) n_k,   m_k ← γ m_k + (1 − γ) Σ_{z_e → k} z_e,   e_k = m_k / N_k,

with Laplace smoothing of N_k so that an unused code is never divided by zero. A code
whose N_k falls below ``dead_threshold`` (it has gone unused for a while) is reset to a
random encoder output of the batch (Dhariwal et al. 2020, "Jukebox", §B.1).
"""

from __future__ import annotations

import torch
from torch import nn

SMOOTHING = 1e-5  # Laplace smoothing of the EMA counts


class VectorQuantizer(nn.Module):
    def __init__(self, codes: int, dim: int, update: str, decay: float, dead_threshold: float):
        super().__init__()
        self.codes, self.dim, self.update_rule = codes, dim, update
        self.decay, self.dead_threshold = decay, dead_threshold
        initial = torch.empty(codes, dim).uniform_(-1.0 / codes, 1.0 / codes)
        if update == "loss":
            self.codebook = nn.Parameter(initial)
        else:
            self.register_buffer("codebook", initial)
        # EMA statistics, and the usage counts that find dead codes under either rule. The
        # counts start at 0: with a threshold > 0 the first training step resets every code
        # to an encoder output of the batch (a data-dependent initialisation).
        self.register_buffer("cluster_size", torch.zeros(codes))
        self.register_buffer("embed_sum", initial.clone())

    def nearest(self, z_e: torch.Tensor) -> torch.Tensor:
        """Index of the nearest code of each row of z_e [N, d] → [N]."""
        distances = ((z_e**2).sum(1, keepdim=True) - 2 * z_e @ self.codebook.t()
                     + (self.codebook**2).sum(1))
        return distances.argmin(1)

    def forward(self, z_e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(straight-through value z_e + sg[e_c − z_e], e_c, c) for z_e [N, d]."""
        index = self.nearest(z_e.detach())
        quantized = self.codebook[index]
        return z_e + (quantized - z_e).detach(), quantized, index

    @torch.no_grad()
    def update(self, z_e: torch.Tensor, index: torch.Tensor) -> None:
        """One training step's codebook update: the EMA (``ema``) or only the usage counts
        (``loss``: the optimiser moves the codes), then the reset of dead codes."""
        onehot = nn.functional.one_hot(index, self.codes).to(z_e.dtype)  # [N, K]
        counts = onehot.sum(0)
        self.cluster_size.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        if self.update_rule == "ema":
            self.embed_sum.mul_(self.decay).add_(onehot.t() @ z_e, alpha=1 - self.decay)
            total = self.cluster_size.sum()
            smoothed = (self.cluster_size + SMOOTHING) / (total + self.codes * SMOOTHING) * total
            self.codebook.copy_(self.embed_sum / smoothed.unsqueeze(1))
        self.reset_dead(z_e)

    @torch.no_grad()
    def reset_dead(self, z_e: torch.Tensor) -> int:
        """Reset every code whose usage count is below the threshold to a random row of
        z_e (drawn from the global generator, which resume.safetensors saves)."""
        dead = torch.nonzero(self.cluster_size < self.dead_threshold).flatten()
        if dead.numel() == 0:
            return 0
        pick = torch.randint(z_e.shape[0], (dead.numel(),), device=z_e.device)
        self.codebook[dead] = z_e[pick].to(self.codebook.dtype)
        self.cluster_size[dead] = 1.0
        self.embed_sum[dead] = self.codebook[dead]
        return int(dead.numel())

