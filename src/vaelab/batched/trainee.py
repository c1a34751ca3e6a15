"""A stack of M same-architecture VAEs as one trainee of the training loop (trainer.py).

Per model it keeps what training alone would use: its own batch order and binarisation
draws (its ``Member``'s generators), its own KL weight w(step) = β·schedule(step) (its
objective's ``kl_weight`` hook, passed to the shared objective as an [M, 1] tensor), its
own history, checkpoints and resume.safetensors, written from an ordinary VAE that the
stacked weights are copied into after each epoch. Shared: one forward/backward of all M
models (batched matmuls), one fused Adam over the stacked parameters (element-wise,
hence identical to M separate Adams with the same settings) and the global generator
that the reparameterisation noise z = μ + σ·ε is drawn from: ε is one [M, B, Z] draw,
so model m's noise differs from what training it alone draws, and a batched VAE is not
bit-identical to its run alone, only statistically equivalent (tests/test_batched.py).
The plain AE draws no noise and matches training alone to float rounding; a stack of one
model draws exactly the noise of its run alone.
"""

from __future__ import annotations

import dataclasses

import torch

from vaelab.batched.stacked import StackedVAE, unstack
from vaelab.data import binarize_batch
from vaelab.objectives import ObjectiveOutput
from vaelab.resume import save_resume
from vaelab.trainee import Member, Trainee
from vaelab.trainer import make_optimizer


class StackedTrainee(Trainee):
    """The members' models as one StackedVAE; the first member's objective (the batch
    key makes the objectives equal but for their KL weights) runs on all of them."""

    def __init__(self, members: list[Member]):
        self.members = members
        self.module = StackedVAE([member.model for member in members])
        self.objective = members[0].objective
        self.shape = (len(members),)
        self.device = next(self.module.parameters()).device
        self._weights: tuple[list[float], torch.Tensor] | None = None
        # Ordinary Adams, one per model, only to hold the unstacked moments when
        # resume.safetensors is written in the single-model format (so --resume of one
        # run of the batch continues it alone with vaelab.train).
        self.single_optimizers = [make_optimizer(member.model, member.config)
                                  for member in members]

    def kl_weight(self, step: int) -> torch.Tensor:
        weights = [member.objective.kl_weight(step) for member in self.members]
        # Reused while the weights stay the same (after warm-up: always), which saves a
        # host-to-device copy per step on CUDA.
        if self._weights is None or self._weights[0] != weights:
            self._weights = (weights, torch.tensor(weights, device=self.device).unsqueeze(1))
        return self._weights[1]  # [M, 1], broadcasts against the objective's [M, B] KL

    def batch(self, train_x: torch.Tensor, index: torch.Tensor, dynamic: bool
              ) -> torch.Tensor:
        count = len(self.members)
        x = train_x.index_select(0, index.reshape(-1)).view(count, -1, train_x.shape[1])
        if dynamic:
            x = torch.stack([binarize_batch(x[m], member.generators["pixels"])
                             for m, member in enumerate(self.members)])
        return x  # [M, B, D]

    def loss_sums(self, out: ObjectiveOutput, x: torch.Tensor) -> torch.Tensor:
        # The stacked loss is the mean over all M·B images: each model's own is read back
        # from its [M, B] terms, with its [M, 1] weight (or the AE's float 0).
        return (out.recon + out.kl_weight * out.kl).sum(-1)

    def finite(self, loss: torch.Tensor, losses: torch.Tensor, params: list[torch.Tensor],
               clip: float | None) -> torch.Tensor:
        return torch.isfinite(losses + per_model_grad_norm(params, len(self.members), clip))

    def write_back(self) -> None:
        for index, member in enumerate(self.members):
            self.module.copy_to(member.model, index)

    def save_resume(self, index: int, optimizer: torch.optim.Optimizer) -> None:
        """Model ``index``'s weights (already written back), its slice of the Adam
        moments, its generators and counters; the global generator saved is the batch's."""
        member, single = self.members[index], self.single_optimizers[index]
        own = dict(member.model.named_parameters())
        for name, parameter in self.module.named_parameters():
            moments = optimizer.state[parameter]
            single.state[own[name]] = {
                "step": moments["step"].clone(),
                "exp_avg": unstack(name, moments["exp_avg"], index, own[name].shape),
                "exp_avg_sq": unstack(name, moments["exp_avg_sq"], index, own[name].shape),
            }
        save_resume(member.run_path, member.model, single, member.generators,
                    dataclasses.asdict(member.state))


def per_model_grad_norm(params: list[torch.Tensor], count: int, clip: float | None
                        ) -> torch.Tensor:
    """Each model's total gradient norm [M] over all its parameters; with --grad-clip
    its gradients are scaled by min(1, clip / (norm + 1e-6)), the rule of
    torch.nn.utils.clip_grad_norm_, per model."""
    per_tensor = torch.stack([p.grad.reshape(count, -1).norm(dim=1) for p in params])  # [P, M]
    norms = per_tensor.norm(dim=0)
    if clip is not None:
        scale = (clip / (norms + 1e-6)).clamp(max=1.0)
        for p in params:
            p.grad.mul_(scale.view(count, *[1] * (p.dim() - 1)))
    return norms
