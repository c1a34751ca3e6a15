"""``ladder``: the Ladder VAE of Sønderby et al. 2016, L stochastic layers z_1 (next to x)
… z_L (``--latent-dims 32,16``: z_1 has 32 dimensions, z_2 16).

Generative model (their eq. 1): p(x, z) = p(x|z_1) p(z_L) Π_{i<L} p(z_i|z_{i+1}), each
p(z_i|z_{i+1}) = N(μ_p,i(z_{i+1}), σ²_p,i(z_{i+1})) from a small MLP (the top-down path),
p(z_L) the configured --prior, p(x|z_1) the configured network's decoder and likelihood.

Inference (their eq. 17-19): a deterministic bottom-up pass gives a Gaussian
N(μ̂_i, σ̂²_i) per layer (layer 1: the configured encoder's raw output; layer i > 1: an
MLP of layer i − 1's raw output); then, top-down, q(z_L|x) = N(μ̂_L, σ̂²_L) and
q(z_i|z_{i+1}, x) merges the bottom-up and top-down Gaussians by precision:

    σ²_q = 1 / (σ̂⁻² + σ_p⁻²),    μ_q = (μ̂ σ̂⁻² + μ_p σ_p⁻²) σ²_q.

The latent the rest of vaelab sees is z = [z_1, …, z_L] concatenated, [..., B, Σ d_i]:
``LadderPosterior`` (rsample, the exact log q(z|x) of the whole hierarchy, mean) and
``LadderPrior`` (log p(z), ancestral samples), so the objectives, IS-NLL and samplers
use the full hierarchical q and p unchanged. The KL is the sum over layers of the
analytic KL(q(z_i|z_{i+1}, x) ‖ p(z_i|z_{i+1})) at the sampled z_{i+1} (Sønderby et al.
2016, §2.2; the top layer's against p(z_L), analytic where the prior has one); the ELBO
logs it per layer (history's train_kl_z1, …).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from vaelab.concepts import MODELS
from vaelab.config import NetworkFields
from vaelab.errors import VaelabError
from vaelab.likelihoods import build_likelihood
from vaelab.model import VAE
from vaelab.networks import NETWORKS, count_parameters
from vaelab.networks.mlp import mlp
from vaelab.options import option
from vaelab.posterior import DiagonalGaussian
from vaelab.priors import Prior, build_prior


def merge(up: DiagonalGaussian, down: DiagonalGaussian) -> DiagonalGaussian:
    """The precision-weighted product of two Gaussians (Sønderby et al. 2016, eq. 18-19),
    in log space: log σ²_q = −logaddexp(−log σ̂², −log σ_p²)."""
    logvar = -torch.logaddexp(-up.logvar, -down.logvar)
    mean = (up.mean * torch.exp(logvar - up.logvar)
            + down.mean * torch.exp(logvar - down.logvar))
    return DiagonalGaussian(mean, logvar)


def gaussian_kl(q: DiagonalGaussian, p: DiagonalGaussian) -> torch.Tensor:
    """KL(N(μ_q, σ_q²) ‖ N(μ_p, σ_p²)) summed over dimensions, [..., B]."""
    return 0.5 * (p.logvar - q.logvar + (torch.exp(q.logvar) + (q.mean - p.mean) ** 2)
                  * torch.exp(-p.logvar) - 1.0).sum(-1)


class LadderPrior(Prior):
    """p(z_L) Π_{i<L} p(z_i|z_{i+1}) over z = [z_1, …, z_L]; ``top`` is p(z_L)."""

    def __init__(self, top: Prior, dims: list[int], hidden: int, network_cfg):
        super().__init__(top.cfg, sum(dims))
        self.words = f"the run's ladder prior (top layer {top.describe_config(top.cfg)})"
        self.top = top
        self.dims = list(dims)
        # down[i]: z_{i+1} → raw (μ, log σ²) of p(z_i|z_{i+1}), i = 0 … L−2
        self.down = nn.ModuleList(mlp([dims[i + 1], hidden, 2 * dims[i]], network_cfg)
                                  for i in range(len(dims) - 1))

    def split(self, z: torch.Tensor) -> list[torch.Tensor]:
        return list(torch.split(z, self.dims, dim=-1))

    def conditional(self, i: int, above: torch.Tensor) -> DiagonalGaussian:
        """p(z_i|z_{i+1}) for z_{i+1} = ``above`` [..., B, d_{i+1}] (i from 0)."""
        return DiagonalGaussian.from_raw(self.down[i](above))

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        parts = self.split(z)
        total = self.top.log_prob(parts[-1])
        for i in range(len(parts) - 1):
            total = total + self.conditional(i, parts[i + 1]).log_prob(parts[i])
        return total

    def descend(self, top: torch.Tensor, noise: list[torch.Tensor]) -> torch.Tensor:
        """z from z_L = ``top`` and standard-normal noise ε_i per lower layer (bottom
        first, L − 1 of them): z_i = μ_p,i + σ_p,i ε_i."""
        parts = [top]
        for i in reversed(range(len(self.dims) - 1)):
            p = self.conditional(i, parts[0])
            parts.insert(0, p.mean + p.std * noise[i])
        return torch.cat(parts, dim=-1)

    def noise(self, n: int, generator: torch.Generator | None = None) -> list[torch.Tensor]:
        return [self._randn((n, d), generator) for d in self.dims[:-1]]

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Ancestral samples [n, Σ d_i]: z_L ~ p(z_L), then each z_i ~ p(z_i|z_{i+1})."""
        top = self.top.sample(n, generator=generator)
        return self.descend(top, self.noise(n, generator))

    def kl_layers(self, q, z: torch.Tensor) -> dict[str, torch.Tensor] | None:
        """KL per layer, [..., B] each, at the sample z that q drew (see the module
        docstring), named kl_z1 … kl_zL; None for a q that is not a LadderPosterior."""
        if not isinstance(q, LadderPosterior):
            return None
        layers = q.layers(z)
        parts = self.split(z)
        top_q = layers[-1][0]
        top = self.top.kl(top_q)
        if top is None:  # no closed form for this prior: single-sample Monte Carlo
            top = top_q.log_prob(parts[-1]) - self.top.log_prob(parts[-1])
        kls = {f"kl_z{i + 1}": gaussian_kl(q_i, p_i) for i, (q_i, p_i) in enumerate(layers[:-1])}
        kls[f"kl_z{len(layers)}"] = top.expand(parts[-1].shape[:-1])
        return kls

    def kl_given_sample(self, q, z: torch.Tensor) -> torch.Tensor | None:
        kls = self.kl_layers(q, z)
        return None if kls is None else sum(kls.values())


class LadderPosterior:
    """q(z|x) = q(z_L|x) Π_{i<L} q(z_i|z_{i+1}, x), z = [z_1, …, z_L] [..., B, Σ d_i].
    ``up``: the bottom-up Gaussians of each layer for the batch, bottom first, [B, d_i]."""

    def __init__(self, prior: LadderPrior, up: list[DiagonalGaussian]):
        self.prior = prior
        self.up = up

    def layers(self, z: torch.Tensor) -> list[tuple[DiagonalGaussian, DiagonalGaussian | None]]:
        """(q(z_i|z_{i+1}, x), p(z_i|z_{i+1})) of each layer, bottom first, with the
        conditioning z_{i+1} taken from z itself; the top layer's p is None."""
        parts = self.prior.split(z)
        out: list = [(self.up[-1], None)]
        for i in reversed(range(len(parts) - 1)):
            p = self.prior.conditional(i, parts[i + 1])
            out.insert(0, (merge(self.up[i], p), p))
        return out

    def rsample_with_log_prob(self, k: int | None = None,
                              generator: torch.Generator | None = None
                              ) -> tuple[torch.Tensor, torch.Tensor]:
        """Top-down reparameterised sample ([k,] B, Σ d_i) and its exact log q(z|x)."""
        top = self.up[-1]
        parts = [top.rsample(k, generator=generator)]
        log_q = top.log_prob(parts[0])
        for i in reversed(range(len(self.up) - 1)):
            q_i = merge(self.up[i], self.prior.conditional(i, parts[0]))
            z_i = q_i.rsample(generator=generator)  # the [k,] B shape of its parameters
            log_q = log_q + q_i.log_prob(z_i)
            parts.insert(0, z_i)
        return torch.cat(parts, dim=-1), log_q

    def rsample(self, k: int | None = None, generator: torch.Generator | None = None
                ) -> torch.Tensor:
        return self.rsample_with_log_prob(k, generator=generator)[0]

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        parts = self.prior.split(z)
        return sum(q_i.log_prob(part) for (q_i, _), part in zip(self.layers(z), parts,
                                                                 strict=True))

    @property
    def mean(self) -> torch.Tensor:
        """The point code [B, Σ d_i]: the top-down pass with every layer at its mean."""
        parts = [self.up[-1].mean]
        for i in reversed(range(len(self.up) - 1)):
            parts.insert(0, merge(self.up[i], self.prior.conditional(i, parts[0])).mean)
        return torch.cat(parts, dim=-1)


class LadderFamily(nn.Module):
    """What the objectives ask of ``posterior_family``: the hierarchical q has no one
    diagonal Gaussian, so the closed forms that read one (free bits, β-TCVAE, the
    VampPrior) refuse it in one line."""

    diagonal = False

    def describe(self) -> str:
        return "ladder q (top-down, precision-weighted)"


def _check_dims(values: list[int]) -> str | None:
    if not values or any(v < 1 for v in values):
        return f"give one size >= 1 per stochastic layer, bottom first (e.g. 32,16); got {values}"
    return None


@MODELS.register("ladder")
class LadderVAE(VAE):
    """See the module docstring."""

    @dataclass
    class Options:
        latent_dims: list[int] = option(
            [32, 16], "Sizes of the stochastic layers of --model ladder, z_1 (next to x) "
            "first, e.g. 32,16 (Sønderby et al. 2016); they replace --latent-dim.",
            check=_check_dims)
        ladder_hidden: int = option(256, "Hidden units of each bottom-up and top-down map "
                                    "between the stochastic layers of --model ladder.", low=1)

    examples = [{}, {"latent_dims": [3, 2, 2], "ladder_hidden": 8}, {"latent_dims": [4]}]
    figures = ("layers",)
    not_drawn = {"traversal": "a traversal of the posterior-mean code would move upper layers "
                 "that reach x only through p(z_1|z_2); see the layers figure"}

    def __init__(self, config, image_shape):
        nn.Module.__init__(self)
        if config.posterior.name != "gaussian":
            raise VaelabError(f"--model ladder builds its own top-down posterior; drop "
                              f"--posterior {config.posterior.name}")
        if config.network.latent_dim != NetworkFields().latent_dim:
            raise VaelabError("--model ladder sizes its layers with --latent-dims (e.g. "
                              "32,16); drop --latent-dim")
        if config.prior.name == "vampprior":
            raise VaelabError("--model ladder: the VampPrior is a prior of a one-layer VAE; "
                              "choose another --prior for the top layer")
        self.config = config
        self.image_shape = tuple(image_shape)
        self.data_dim = int(torch.tensor(self.image_shape).prod())
        self.latent_layers = list(config.model.latent_dims)
        self.latent_dim = sum(self.latent_layers)
        dims, hidden, net_cfg = self.latent_layers, config.model.ladder_hidden, config.network
        self.likelihood = build_likelihood(config.likelihood, self.data_dim)
        networks = NETWORKS.get(net_cfg.name).build(
            self.network_config(config), self.image_shape, self.likelihood.params_per_pixel,
            encoder_outputs=2 * dims[0])
        self.encoder = networks.encoder  # x → raw (μ̂_1, log σ̂²_1)
        self.decoder = networks.decoder  # z_1 → likelihood parameters
        # up[i]: raw of layer i+1 → raw (μ̂, log σ̂²) of layer i+2
        self.up = nn.ModuleList(mlp([2 * dims[i], hidden, 2 * dims[i + 1]], net_cfg)
                                for i in range(len(dims) - 1))
        self.prior = LadderPrior(build_prior(config.prior, dims[-1]), dims, hidden, net_cfg)
        self.posterior_family = LadderFamily()

    @classmethod
    def network_config(cls, config):
        """The configured network maps x to layer 1 and z_1 to x."""
        from dataclasses import replace

        return replace(config.network, latent_dim=config.model.latent_dims[0])

    @classmethod
    def described_network(cls, config):
        return cls.network_config(config)

    @classmethod
    def describe_config(cls, cfg) -> str:
        return f"ladder z = {','.join(map(str, cfg.latent_dims))} (hidden {cfg.ladder_hidden})"

    def parameter_counts(self) -> dict[str, int]:
        """The bottom-up maps count as encoder, the top-down maps as prior."""
        counts = super().parameter_counts()
        counts["encoder"] += count_parameters(self.up)
        return counts

    def posterior(self, x: torch.Tensor) -> LadderPosterior:
        raw = self.encoder(x)
        up = [DiagonalGaussian.from_raw(raw)]
        for step in self.up:
            raw = step(raw)
            up.append(DiagonalGaussian.from_raw(raw))
        return LadderPosterior(self.prior, up)

    def decoder_params(self, z: torch.Tensor) -> torch.Tensor:
        """p(x|z_1): the decoder reads the bottom layer of z = [z_1, …, z_L]."""
        return self.decoder(z[..., :self.latent_layers[0]])
