"""The VAE: networks + posterior + likelihood + prior. It produces distributions; the
objective (objectives.py) turns them into a loss (DESIGN rule 1).

``VAE`` is also the base of the other model families (vaelab/models/: cvae, ladder),
registered in ``MODELS``. A family keeps the interface the objectives, metrics and
figures use — ``posterior(x)`` (q with ``rsample``/``log_prob``/``mean``),
``decoder_params(z)``, ``likelihood``, ``prior`` — and may override the few hooks below
(``network_config``, ``prepare_data``, ``elbo_of``)."""

from __future__ import annotations

import math

import torch
from torch import nn

from vaelab.config import Config
from vaelab.likelihoods import Likelihood, build_likelihood
from vaelab.networks import NETWORKS, count_parameters
from vaelab.options import NoOptions
from vaelab.posteriors import PosteriorFamily, build_posterior
from vaelab.priors import Prior, build_prior
from vaelab.shapes import chw


class VAE(nn.Module):
    """Images are handled flattened, [B, D] with D = C·H·W (channel-major); the public
    helpers ``encode``, ``decode``, ``sample`` and ``reconstruct`` also accept/return
    [B, C, H, W] images. ``image_shape`` may be given as (H, W) for grey images (runs saved
    before colour): it is kept as (C, H, W)."""

    Options = NoOptions
    examples: list[dict] = [{}]
    # What the ELBO bounds, for every place that states an estimator: a conditional
    # family's ELBO bounds log p(x|y) (models/cvae.py).
    elbo_of = "log p(x)"
    # Where a deterministic reconstruction error is measured (an autoencoder's numbers).
    point_code = "the posterior mean"
    # Metrics that do not apply to the family, with the reason (`vaelab eval`).
    not_measured: dict[str, str] = {}
    # Config sections the family does not read (left out of its description).
    unused_sections: tuple[str, ...] = ()
    # Figures drawn after training besides the default ones (vaelab.figures).
    figures: tuple[str, ...] = ()
    # Figures that do not apply to the family, with the reason (vaelab.figures.draw).
    not_drawn: dict[str, str] = {}

    def __init__(self, config: Config, image_shape: tuple[int, ...]):
        super().__init__()
        self.config = config
        self.image_shape = chw(image_shape)
        self.data_dim = math.prod(self.image_shape)
        self.latent_dim = config.network.latent_dim
        self.likelihood: Likelihood = build_likelihood(config.likelihood, self.data_dim)
        # The posterior says how many raw numbers the encoder outputs (2Z for the
        # diagonal Gaussian); it is registered after the prior so that the parameter order
        # of the networks, likelihood and prior stays that of a model without it.
        family = build_posterior(config.posterior, self.latent_dim)
        networks = NETWORKS.get(config.network.name).build(
            self.network_config(config), self.image_shape, self.likelihood.params_per_pixel,
            encoder_outputs=family.raw_size)
        self.encoder = networks.encoder
        self.decoder = networks.decoder
        self.prior: Prior = build_prior(config.prior, self.latent_dim)
        self.posterior_family: PosteriorFamily = family
        self.prior.bind(self)

    @classmethod
    def describe_config(cls, cfg) -> str:
        return cfg.name

    @classmethod
    def network_config(cls, config: Config):
        """The [network] section the encoder and decoder are built from."""
        return config.network

    @classmethod
    def described_network(cls, config: Config):
        """The [network] section as the model line names it (a ladder's z is its z_1)."""
        return config.network

    @classmethod
    def prepare_data(cls, config: Config, data):
        """The rows this family trains on, from the prepared splits (vaelab.data): the
        images themselves; a conditional family appends the labels (models/cvae.py)."""
        return data

    # -- the pieces the objectives use (flat tensors) --------------------------------
    def posterior(self, x: torch.Tensor):
        """q(z|x) for flattened images x [B, D] (vaelab/posteriors/base.py's interface)."""
        # .float(): under bf16 autocast (--precision bf16) the networks' matmuls run in
        # bfloat16; posterior, likelihood and prior densities stay float32.
        return self.posterior_family(self.encoder(x).float())

    def decoder_params(self, z: torch.Tensor) -> torch.Tensor:
        """Raw likelihood parameters [..., B, P·D] for latents [..., B, Z]."""
        return self.decoder(z).float()

    # -- public, image-shaped helpers (notebooks, figures) ---------------------------
    def flatten(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], self.data_dim)

    def images_of(self, rows: torch.Tensor) -> torch.Tensor:
        """The flattened images [B, D] of the rows this family reads (the rows themselves;
        a conditional family's rows also carry their label)."""
        return rows

    def to_images(self, flat: torch.Tensor) -> torch.Tensor:
        return flat.reshape(flat.shape[0], *self.image_shape)

    @torch.no_grad()
    def encode(self, x: torch.Tensor):
        """q(z|x) for images [B, C, H, W] or [B, D]: use ``.mean`` for the posterior means
        (a flow's point code: the flow applied to its base mean)."""
        return self.posterior(self.flatten(x))

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Mean of p(x|z) as images [B, C, H, W]."""
        return self.to_images(self.likelihood.mean(self.decoder_params(z)))

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Decoder means of n prior samples, [n, C, H, W]."""
        return self.decode(self.prior.sample(n, generator=generator))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Decoder mean at the posterior mean: the usual 'reconstruction', [B, C, H, W]."""
        return self.decode(self.encode(x).mean)

    def parameter_counts(self) -> dict[str, int]:
        return {
            "encoder": count_parameters(self.encoder),
            "decoder": count_parameters(self.decoder),
            "likelihood": count_parameters(self.likelihood),
            "prior": count_parameters(self.prior),
            "posterior": count_parameters(self.posterior_family),
            "total": count_parameters(self),
        }
