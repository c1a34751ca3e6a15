"""``vqvae``: the VQ-VAE of van den Oord et al. 2017 with its learned code prior.

Stage 1 trains encoder, codebook and decoder (``--objective vq``: reconstruction +
codebook + β·commitment); stage 2, the epochs after ``--autoencoder-epochs`` in the
same run and the same loop, trains a small gated PixelCNN p(c) over the grid of codes
of the frozen encoder (models/pixelcnn.py). One optimiser, one checkpoint and one
resume file hold both, so a run killed in either stage resumes bit for bit.

The encoder (any --network) outputs a G×G grid of d-dimensional vectors (G = --code-grid,
d = --code-dim), each quantised to one of K codes (--codebook-size); the decoder reads
the G·G·d quantised numbers. There is no posterior density q(z|x) (the codes are a
deterministic function of x) and so no ELBO: evaluation reports the reconstruction error,
``vaelab eval --metrics code-nll`` the prior's NLL of the codes; metrics and figures that
need q(z|x) say they do not apply.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
from torch import nn

from vaelab.concepts import MODELS
from vaelab.config import SECTION_SPECS
from vaelab.errors import VaelabError
from vaelab.likelihoods import build_likelihood
from vaelab.model import VAE
from vaelab.models.pixelcnn import GatedPixelCNN
from vaelab.models.quantizer import VectorQuantizer
from vaelab.networks import NETWORKS, count_parameters
from vaelab.options import option
from vaelab.priors import Prior

NO_POSTERIOR = ("the vqvae has no posterior density q(z|x) (its codes are a deterministic "
                "function of x), so {what} does not apply")


class CodePrior(Prior):
    """p(c) of the PixelCNN, as the decoder inputs it generates: ``sample(n)`` draws code
    grids in raster order and returns their quantised vectors [n, G·G·d]. It has no
    density over those vectors (``log_prob`` refuses); the code NLL is
    ``VQVAE.code_nll``."""

    words = "the run's PixelCNN code prior"

    def __init__(self, pixelcnn: GatedPixelCNN, quantizer: VectorQuantizer, grid: int):
        super().__init__(None, grid * grid * quantizer.dim)
        self.pixelcnn = pixelcnn
        self.quantizer = [quantizer]  # a reference, not a second copy of its weights
        self.grid = grid
        # Optimiser steps of stage 2 so far: an untrained prior refuses to sample.
        self.register_buffer("trained_steps", torch.zeros((), dtype=torch.long))

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        raise VaelabError("the vqvae's code prior is a distribution over codes, not a "
                          "density over z; see vaelab eval --metrics code-nll")

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        if int(self.trained_steps) == 0:
            raise VaelabError("the vqvae's code prior has not been trained yet (stage 2 "
                              "starts after --autoencoder-epochs); train more epochs or "
                              "resume the run")
        codes = self.pixelcnn.sample(n, self.grid, generator=generator,
                                     device=self._anchor.device)
        return self.quantizer[0].codebook[codes].reshape(n, -1)


@MODELS.register("vqvae")
class VQVAE(VAE):
    """See the module docstring."""

    @dataclass
    class Options:
        codebook_size: int = option(64, "Number K of codes of --model vqvae.", low=2)
        code_dim: int = option(8, "Dimension d of each code vector of --model vqvae.", low=1)
        code_grid: int = option(4, "The encoder of --model vqvae outputs a G×G grid of "
                                "code vectors (G = this).", low=1)
        codebook_update: str = option(
            "ema", "How the codebook learns: ema (moving averages of the assigned encoder "
            "outputs, van den Oord et al. 2017 App. A.1) or loss (its own gradient).",
            choices=lambda: ["ema", "loss"])
        ema_decay: float = option(0.99, "Decay γ of the EMA codebook update.", low=0.0,
                                  high=1.0, high_open=True)
        dead_code_threshold: float = option(
            1.0, "Reset a code to a random encoder output of the batch when its moving-"
            "average count of assigned vectors per step falls below this (0 = never; "
            "Jukebox, Dhariwal et al. 2020, §B.1).", low=0.0)
        prior_channels: int = option(32, "Channels of the gated PixelCNN code prior.", low=1)
        prior_layers: int = option(4, "Residual gated layers of the PixelCNN code prior.",
                                   low=0)

    point_code = "the quantised code"
    not_measured = {name: "does not apply: the vqvae has no posterior density q(z|x)"
                    for name in ("iw-nll", "collapse", "probe")}
    unused_sections = ("posterior", "prior")
    examples = [{}, {"codebook_size": 4, "code_dim": 2, "code_grid": 2,
                     "codebook_update": "loss", "prior_layers": 1}]
    no_posterior = {name: NO_POSTERIOR.format(what=f"the {name} figure")
                    for name in ("latent", "manifold", "traversal", "interpolation",
                                 "kl-per-dim", "markov-chain")}

    def __init__(self, config, image_shape):
        nn.Module.__init__(self)
        if config.objective.name != "vq":
            raise VaelabError(f"--model vqvae trains with --objective vq (reconstruction, "
                              f"codebook and commitment, then the code prior), not "
                              f"{config.objective.name}; add --objective vq")
        for section in self.unused_sections:
            if getattr(config, section).name != SECTION_SPECS[section].default:
                raise VaelabError(f"--model vqvae has no {section} q(z|x) or p(z) of the "
                                  f"config (it quantises, and learns a code prior); drop "
                                  f"--{section} {getattr(config, section).name}")
        cfg = config.model
        self.config = config
        self.image_shape = tuple(image_shape)
        self.data_dim = math.prod(self.image_shape)
        self.grid, self.code_dim = cfg.code_grid, cfg.code_dim
        self.latent_dim = self.grid * self.grid * self.code_dim
        self.likelihood = build_likelihood(config.likelihood, self.data_dim)
        networks = NETWORKS.get(config.network.name).build(
            self.network_config(config), self.image_shape, self.likelihood.params_per_pixel,
            encoder_outputs=self.latent_dim)
        self.encoder = networks.encoder  # x → z_e [B, G·G·d]
        self.decoder = networks.decoder  # quantised [B, G·G·d] → likelihood parameters
        self.quantizer = VectorQuantizer(cfg.codebook_size, cfg.code_dim, cfg.codebook_update,
                                         cfg.ema_decay, cfg.dead_code_threshold)
        pixelcnn = GatedPixelCNN(cfg.codebook_size, cfg.prior_channels, cfg.prior_layers)
        self.prior = CodePrior(pixelcnn, self.quantizer, self.grid)

    @property
    def not_drawn(self) -> dict[str, str]:
        """Figures without q(z|x), and samples until stage 2 has trained the code prior
        (a run stopped within --autoencoder-epochs, to be resumed with more --epochs)."""
        if int(self.prior.trained_steps) > 0:
            return self.no_posterior
        return {**self.no_posterior, "samples": "the code prior has not been trained yet "
                "(stage 2 starts after --autoencoder-epochs); resume with more --epochs"}

    @classmethod
    def network_config(cls, config):
        cfg = config.model
        return dataclasses.replace(config.network,
                                   latent_dim=cfg.code_grid ** 2 * cfg.code_dim)

    @classmethod
    def described_network(cls, config):
        return cls.network_config(config)

    @classmethod
    def describe_config(cls, cfg) -> str:
        return (f"vqvae K = {cfg.codebook_size} codes of d = {cfg.code_dim} on a "
                f"{cfg.code_grid}×{cfg.code_grid} grid, {cfg.codebook_update} codebook, "
                f"PixelCNN prior {cfg.prior_layers}×{cfg.prior_channels}")

    def parameter_counts(self) -> dict[str, int]:
        return {"encoder": count_parameters(self.encoder),
                "decoder": count_parameters(self.decoder),
                "likelihood": count_parameters(self.likelihood),
                "prior": count_parameters(self.prior),
                "posterior": count_parameters(self.quantizer),
                "total": count_parameters(self)}

    # -- what the vq objective uses -------------------------------------------------------
    def quantize(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor,
                                                 torch.Tensor]:
        """(z_e [B·G·G, d], straight-through value, e_c [B·G·G, d], codes [B, G, G])."""
        z_e = self.encoder(x).reshape(-1, self.code_dim)
        straight, quantized, index = self.quantizer(z_e)
        return z_e, straight, quantized, index.reshape(x.shape[0], self.grid, self.grid)

    def code_nll(self, codes: torch.Tensor) -> torch.Tensor:
        """−log p(c) of code grids [B, G, G] under the PixelCNN prior, nats, [B]."""
        return -self.prior.pixelcnn.log_prob(codes)

    def posterior(self, x: torch.Tensor):
        raise VaelabError(NO_POSTERIOR.format(what="anything that needs q(z|x) (an ELBO, "
                                              "IS-NLL, collapse, a latent plot)"))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Decoder mean at the quantised code of x."""
        flat = self.flatten(x)
        quantized = self.quantize(flat)[2].reshape(flat.shape[0], -1)
        return self.decode(quantized)
