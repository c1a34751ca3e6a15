"""FactorVAE (Kim & Mnih 2018): the ELBO plus γ times a discriminator's estimate of the
total correlation of the aggregate posterior."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from vaelab.errors import VaelabError
from vaelab.objectives.base import OBJECTIVES, Auxiliary, Objective, ObjectiveOutput, kl_term
from vaelab.options import option

# Adam's (β1, β2) for the discriminator (Kim & Mnih 2018, Appendix A).
DISCRIMINATOR_BETAS = (0.5, 0.9)
LEAKY_SLOPE = 0.2  # the discriminator's leaky ReLU (Kim & Mnih 2018, Appendix A)


def _check_sizes(values: list[int]) -> str | None:
    if any(v < 1 for v in values):
        return f"every hidden size must be >= 1, got {values}"
    return None


def permute_dims(z: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Samples of q̄(z) = Π_j q(z_j) from samples z [B, Z] of q(z): each dimension permuted
    across the batch independently (Kim & Mnih 2018, Algorithm 1). A column's permutation
    is the argsort of uniform noise."""
    noise = torch.rand(z.shape, generator=generator, device=z.device)
    return z.gather(0, noise.argsort(dim=0))


def discriminator(latent_dim: int, hidden: list[int]) -> nn.Sequential:
    """MLP z → one logit log D(z)/(1 − D(z)), D(z) the probability that z came from q(z)
    rather than q̄(z). The paper's two softmax logits carry the same information: their
    difference is this logit."""
    sizes = [latent_dim, *hidden]
    layers: list[nn.Module] = []
    for size_in, size_out in zip(sizes, sizes[1:], strict=False):
        layers += [nn.Linear(size_in, size_out), nn.LeakyReLU(LEAKY_SLOPE)]
    layers.append(nn.Linear(sizes[-1], 1))
    return nn.Sequential(*layers)


@OBJECTIVES.register("factorvae")
class FactorVAE(Objective):
    """loss = mean_B[−log p(x|z) + KL(q(z|x) ‖ p(z))] + γ·mean_B[log D(z)/(1 − D(z))],
    z ~ q(z|x) reparameterised (Kim & Mnih 2018, "Disentangling by factorising", eq. 2
    and Algorithm 2): the ELBO minus γ times the density-ratio estimate of the total
    correlation TC = KL(q(z) ‖ q̄(z)) of the aggregate posterior. The discriminator D is
    an auxiliary network with its own Adam (lr --discriminator-lr, β = (0.5, 0.9)); after
    each model step it takes one step on ½[BCE(D(z), 1) + BCE(D(z̃_perm), 0)], where z are
    this step's codes (Algorithm 2, line 5) and z̃_perm the dimension-permuted codes of a
    second, independent batch encoded after the model's update (lines 7–9) — the paper's
    procedure, one extra encoder pass per step. The loss is not a bound on log p(x); the
    logged recon/KL/ELBO are the true ELBO's (β = 1) terms of the same samples."""

    @dataclass
    class Options:
        gamma: float = option(10.0, "Weight γ of FactorVAE's total-correlation term γ·TC "
                              "(Kim & Mnih 2018 sweep 10…100 on dSprites).", low=0.0)
        discriminator_hidden: list[int] = option(
            [1000] * 6, "Hidden layer sizes of FactorVAE's discriminator MLP (the paper: 6 "
            "of 1000, leaky ReLU 0.2).", check=_check_sizes)
        discriminator_lr: float = option(1e-4, "Adam learning rate of FactorVAE's "
                                         "discriminator (the paper: 1e-4, β = (0.5, 0.9)).",
                                         low=0.0, low_open=True)

    examples = [{"discriminator_hidden": [16, 16]},
                {"gamma": 0.0, "discriminator_hidden": [], "discriminator_lr": 1e-3}]

    def __init__(self, cfg, steps_per_epoch: int = 1, train_size: int | None = None):
        super().__init__(cfg, steps_per_epoch, train_size)
        self._discriminator: Auxiliary | None = None
        self._codes: torch.Tensor | None = None  # this step's z, for the discriminator

    def attach(self, model) -> None:
        device = next(model.parameters()).device
        network = discriminator(model.latent_dim, self.cfg.discriminator_hidden).to(device)
        optimizer = torch.optim.Adam(network.parameters(), lr=self.cfg.discriminator_lr,
                                     betas=DISCRIMINATOR_BETAS)
        self._discriminator = Auxiliary(network, optimizer)

    @property
    def auxiliaries(self) -> dict[str, Auxiliary]:
        return {} if self._discriminator is None else {"discriminator": self._discriminator}

    @property
    def discriminator(self) -> nn.Module:
        if self._discriminator is None:
            raise VaelabError("--objective factorvae: its discriminator is not built; call "
                              "objective.attach(model) first (the training loop does)")
        return self._discriminator.module

    def total_correlation(self, z: torch.Tensor) -> torch.Tensor:
        """The density-ratio estimate of TC, mean_B log D(z)/(1 − D(z)), for codes z
        [B, Z] of q(z) (Kim & Mnih 2018, eq. 3)."""
        return self.discriminator(z).mean()

    def __call__(self, model, x, step, generator=None, kl_weight=None) -> ObjectiveOutput:
        q = model.posterior(x)
        z = q.rsample(generator=generator)
        recon = -model.likelihood.log_prob(x, model.decoder_params(z))
        kl = kl_term(model, q, z)
        tc = self.total_correlation(z)
        loss = (recon + kl).mean() + self.cfg.gamma * tc
        self._codes = z.detach()
        # History's train_tc: the discriminator's TC estimate (nats), per batch.
        return ObjectiveOutput(loss=loss, recon=recon, kl=kl, terms={"tc": tc.detach()})

    def step_auxiliaries(self, model, x, step, draw_batch) -> None:
        with torch.no_grad():
            other = model.posterior(draw_batch()).rsample()  # Algorithm 2, lines 7–8
        self.update_discriminator(self._codes, permute_dims(other))

    def update_discriminator(self, joint: torch.Tensor, permuted: torch.Tensor
                             ) -> torch.Tensor:
        """One Adam step of D on codes of q(z) (label 1) and of q̄(z) (label 0); returns
        the discriminator loss ½[BCE(D(joint), 1) + BCE(D(permuted), 0)] (Algorithm 2,
        line 10, as a loss to minimise)."""
        network, optimizer = self._discriminator.module, self._discriminator.optimizer
        on_joint, on_permuted = network(joint), network(permuted)
        loss = 0.5 * (F.binary_cross_entropy_with_logits(on_joint, torch.ones_like(on_joint))
                      + F.binary_cross_entropy_with_logits(on_permuted,
                                                           torch.zeros_like(on_permuted)))
        # The model's loss also reached D's parameters through γ·TC: drop those gradients.
        for parameter in network.parameters():
            parameter.grad = None
        loss.backward()
        optimizer.step()
        return loss.detach()

    @classmethod
    def describe_config(cls, cfg) -> str:
        layers = "-".join(map(str, cfg.discriminator_hidden)) or "linear"
        return (f"factorvae γ={cfg.gamma:g}, discriminator mlp {layers} "
                f"(Adam lr {cfg.discriminator_lr:g}; not a bound on log p(x))")

    @classmethod
    def batching_obstacle(cls, cfg) -> str | None:
        return ("--objective factorvae trains its own discriminator with its own optimiser; "
                "train each such run alone, not in a stack")
