"""Regularised deterministic autoencoders, RAE-L2 and RAE-GP (Ghosh et al. 2020, "From
variational to deterministic autoencoders")."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vaelab.objectives.base import OBJECTIVES, Objective, ObjectiveOutput
from vaelab.options import option


def decoder_gradient_penalty(model, z: torch.Tensor, create_graph: bool = True
                             ) -> tuple[torch.Tensor, torch.Tensor]:
    """(decoder parameters at z, ‖∇_z Σ_d x̂_d(z)‖² per image [B]), x̂ = the likelihood's
    mean of the decoded z [B, Z]: Ghosh et al. 2020's L_REG^GP = ‖∇_{E(x)} D(E(x))‖²,
    the gradient of the summed output as their code takes it (one backward pass, not the
    full Jacobian). Images are independent, so the gradient of the batch's sum gives each
    image's own row. It works in evaluation too (under torch.no_grad)."""
    with torch.enable_grad():
        if not z.requires_grad:
            z = z.detach().requires_grad_(True)
        params = model.decoder_params(z)
        reconstruction = model.likelihood.mean(params)
        (gradient,) = torch.autograd.grad(reconstruction.sum(), z, create_graph=create_graph)
    return params, gradient.pow(2).sum(-1)


def decoder_l2(model) -> torch.Tensor:
    """‖θ_dec‖², the squared L2 norm of every decoder weight and bias (a scalar)."""
    return sum(p.pow(2).sum() for p in model.decoder.parameters())


@dataclass
class RAEOptions:
    latent_penalty: float = option(1e-4, "Weight β of the code penalty β·½‖z‖² "
                                   "(rae-l2, rae-gp).", low=0.0)
    decoder_penalty: float = option(1e-7, "Weight λ of the decoder regulariser: ‖θ_dec‖² "
                                    "(rae-l2) or the decoder gradient penalty (rae-gp).",
                                    low=0.0)


class RAE(Objective):
    """loss = mean_B[−log p(x|z) + β·½‖z‖²] + λ·L_REG, z = the encoder's mean
    (Ghosh et al. 2020, eq. 11: the reconstruction cost is the chosen likelihood's;
    defaults β = 1e-4, λ = 1e-7 are pythae's). There is no posterior density, no KL and
    no ELBO: like the autoencoder, evaluation reports the reconstruction error, and
    prior samples are not samples of a model (pair it with a sampler fitted to the codes,
    Ghosh et al.'s ex-post density estimation). ½‖z‖² is logged as train_latent_l2."""

    graph_safe = True  # a pure tensor step: may be captured in a CUDA graph

    is_variational = False
    Options = RAEOptions
    examples = [{}, {"latent_penalty": 0.1, "decoder_penalty": 0.01}]

    def kl_weight(self, step: int) -> float:
        return 0.0

    def regulariser(self, model, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor,
                                                           dict[str, torch.Tensor]]:
        """(decoder parameters at z, L_REG, its logged terms)."""
        raise NotImplementedError

    def __call__(self, model, x, step, generator=None, kl_weight=None) -> ObjectiveOutput:
        z = model.posterior(x).mean
        params, regulariser, terms = self.regulariser(model, z)
        recon = -model.likelihood.log_prob(x, params)
        latent = 0.5 * z.pow(2).sum(-1)
        loss = ((recon + self.cfg.latent_penalty * latent).mean()
                + self.cfg.decoder_penalty * regulariser)
        return ObjectiveOutput(loss=loss, recon=recon, kl=torch.zeros_like(recon),
                               kl_weight=0.0, terms={"latent_l2": latent, **terms})

    @classmethod
    def describe_config(cls, cfg) -> str:
        return (f"{cfg.name} β={cfg.latent_penalty:g}, λ={cfg.decoder_penalty:g} "
                "(deterministic: no ELBO)")


@OBJECTIVES.register("rae-l2")
class RAEL2(RAE):
    __doc__ = RAE.__doc__ + """

    RAE-L2: L_REG = ‖θ_dec‖², weight decay on the decoder only (logged as
    train_decoder_l2)."""

    def regulariser(self, model, z):
        norm = decoder_l2(model)
        return model.decoder_params(z), norm, {"decoder_l2": norm}


@OBJECTIVES.register("rae-gp")
class RAEGP(RAE):
    __doc__ = RAE.__doc__ + """

    RAE-GP: L_REG = mean_B ‖∇_z D(z)‖² (``decoder_gradient_penalty``; logged as
    train_gradient_penalty)."""

    def regulariser(self, model, z):
        params, penalty = decoder_gradient_penalty(model, z, torch.is_grad_enabled())
        return params, penalty.mean(), {"gradient_penalty": penalty}
