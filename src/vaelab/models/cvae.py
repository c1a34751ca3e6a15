"""``cvae``: the conditional VAE of Sohn et al. 2015 (§4.1, eq. 4-5): labels y enter the
encoder, q(z|x, y), and the decoder, p(x|z, y); the prior is p(z) (their "baseline"
CVAE with a label-independent prior). Its ELBO bounds log p(x|y):

    log p(x|y) ≥ E_q(z|x,y)[log p(x|z, y)] − KL(q(z|x, y) ‖ p(z)).

How labels travel through the one training loop, evaluation and metrics unchanged:
- the rows this family trains on are [pixels (D) | one-hot label (C)] (``prepare_data``);
  Bernoulli draws of 0 and 1 are 0 and 1, so dynamic and fixed binarisation leave the
  label columns as they are, and the pixels get exactly the plain VAE's draw;
- q(z|x, y) is a diagonal Gaussian whose samples come with the label appended: the
  decoder input u = [z, y] (``LabelledGaussian``); y's part is a point mass that q and p
  share, so log q(u) − log p(u) = log q(z|x,y) − log p(z) and every KL is that of z;
- the prior answers for [z, y] the same way (``LabelledPrior``); its samples draw labels
  in turn (0, 1, …, C−1, 0, …), or the labels asked for (``sample(n, labels=)``).

Where the label joins the networks (any --network): the decoder's input is [z, y] (the
network is built for latent_dim + C inputs), and y adds a learned linear term W_y·y to
the encoder's raw output, i.e. its last linear layer reads [h, y] (Linear([h, y]) =
W_h·h + W_y·y).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import nn

from vaelab.concepts import MODELS
from vaelab.data import PreparedData, TensorSplit
from vaelab.errors import VaelabError
from vaelab.model import VAE
from vaelab.options import option
from vaelab.posterior import DiagonalGaussian
from vaelab.priors import Prior


class LabelledGaussian(DiagonalGaussian):
    """q(z|x, y) = N(μ, diag σ²) over the Z free dimensions (``mean``, ``logvar``: [B, Z],
    what the closed forms and the latent figures read), whose samples carry the one-hot
    label: ``rsample`` returns u = [z, y], [..., B, Z + C]. ``log_prob`` and
    ``log_prob_per_dim`` read the first Z columns of u."""

    def __init__(self, mean: torch.Tensor, logvar: torch.Tensor, onehot: torch.Tensor):
        super().__init__(mean, logvar)
        self.onehot = onehot  # [B, C]

    def with_label(self, z: torch.Tensor) -> torch.Tensor:
        """[z, y] for z [..., B, Z]."""
        return torch.cat([z, self.onehot.expand(*z.shape[:-1], -1)], dim=-1)

    @property
    def code(self) -> torch.Tensor:
        """The point code the decoder reads, [μ, y] [B, Z + C]."""
        return self.with_label(self.mean)

    def rsample(self, k: int | None = None, generator: torch.Generator | None = None
                ) -> torch.Tensor:
        return self.with_label(super().rsample(k, generator=generator))

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        return super().log_prob(z[..., :self.mean.shape[-1]])

    def log_prob_per_dim(self, z: torch.Tensor) -> torch.Tensor:
        return super().log_prob_per_dim(z[..., :self.mean.shape[-1]])

    def detach(self) -> LabelledGaussian:
        return LabelledGaussian(self.mean.detach(), self.logvar.detach(), self.onehot)


class LabelledPrior(Prior):
    """p(z) of the configured prior, for decoder inputs u = [z, y]: the label columns are
    the condition, not a latent, and are left out of every density."""

    def __init__(self, inner: Prior, classes: int):
        super().__init__(inner.cfg, inner.latent_dim)
        self.inner = inner
        self.classes = classes

    def free(self, z: torch.Tensor) -> torch.Tensor:
        return z[..., :self.latent_dim]

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        return self.inner.log_prob(self.free(z))

    def log_prob_per_dim(self, z: torch.Tensor) -> torch.Tensor | None:
        return self.inner.log_prob_per_dim(self.free(z))

    def kl(self, q: DiagonalGaussian) -> torch.Tensor | None:
        return self.inner.kl(q)

    def kl_per_dim(self, q: DiagonalGaussian) -> torch.Tensor | None:
        return self.inner.kl_per_dim(q)

    def icdf(self, probs: torch.Tensor) -> torch.Tensor | None:
        return self.inner.icdf(probs)

    def sample(self, n: int, generator: torch.Generator | None = None,
               labels: torch.Tensor | None = None) -> torch.Tensor:
        """[z, y] for z ~ p(z) and labels 0, 1, …, C−1, 0, … (or ``labels`` [n])."""
        z = self.inner.sample(n, generator=generator)
        if labels is None:
            labels = torch.arange(n, device=z.device) % self.classes
        return torch.cat([z, one_hot(labels, self.classes).to(z)], dim=-1)


class PixelLikelihood(nn.Module):
    """The configured likelihood p(x|z, y) of the pixel columns of rows [pixels | label]
    (the label is the condition, not data to score)."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner
        for name in ("cfg", "data_dim", "params_per_pixel", "support", "is_density",
                     "needs_features"):
            setattr(self, name, getattr(inner, name))

    def pixels(self, x: torch.Tensor) -> torch.Tensor:
        return x[..., :self.data_dim]

    def log_prob(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        return self.inner.log_prob(self.pixels(x), params)

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        return self.inner.mean(params)

    def sample(self, params: torch.Tensor, generator: torch.Generator | None = None
               ) -> torch.Tensor:
        return self.inner.sample(params, generator=generator)

    def check_support(self, x: torch.Tensor, what: str) -> None:
        self.inner.check_support(self.pixels(x), what)

    def attach_features(self, network: nn.Module, info: dict) -> None:
        self.inner.attach_features(network, info)

    def describe(self) -> str:
        return self.inner.describe()


def one_hot(labels: torch.Tensor, classes: int) -> torch.Tensor:
    return nn.functional.one_hot(labels.long(), classes).to(torch.float32)


def labelled_split(split: TensorSplit, classes: int) -> TensorSplit:
    """A split's rows with their one-hot labels appended: [N, D + C]."""
    return dataclasses.replace(split, x=torch.cat([split.x, one_hot(split.y, classes).to(
        split.x)], dim=1))


@dataclass
class LabelledData(PreparedData):
    """Prepared splits whose rows carry their labels. ``eval_split`` appends them to the
    images' own evaluation split, so that the pixels are scored on the plain VAE's fixed
    binarisation draw."""

    images: PreparedData | None = None
    label_count: int = 0

    def eval_split(self, name: str) -> TensorSplit | None:
        split = self.images.eval_split(name)
        return None if split is None else labelled_split(split, self.label_count)


@MODELS.register("cvae")
class CVAE(VAE):
    """See the module docstring. Rows are [pixels | one-hot label]; the public helpers
    ``decode(z, labels)``, ``sample(n, labels=)`` and ``reconstruct(rows)`` take labels."""

    @dataclass
    class Options:
        classes: int = option(10, "Number of label classes C of --model cvae (the one-hot "
                              "width; labels must be 0..C−1).", low=1)

    examples = [{}, {"classes": 3}]
    elbo_of = "log p(x|y), conditional on the label"
    figures = ("classes",)
    not_drawn = {name: "it decodes latent codes without a label, and the cvae's decoder "
                 "reads one; see the classes figure" for name in
                 ("traversal", "interpolation", "manifold")}
    not_drawn["markov-chain"] = "the chain's images carry no label for the next step"
    not_measured = {"fid": "is not supported for the cvae yet (its reference and generated "
                           "images would need the label columns handled)"}

    def __init__(self, config, image_shape):
        if config.posterior.name != "gaussian":
            raise VaelabError(f"--model cvae takes the diagonal Gaussian posterior; drop "
                              f"--posterior {config.posterior.name}")
        if config.prior.name == "vampprior":
            raise VaelabError("--model cvae: the VampPrior's pseudo-inputs carry no label; "
                              "choose another --prior")
        self.label_count = config.model.classes
        super().__init__(config, image_shape)
        self.label_to_encoder = nn.Linear(self.label_count, self.posterior_family.raw_size,
                                          bias=False)
        self.prior = LabelledPrior(self.prior, self.label_count)
        self.likelihood = PixelLikelihood(self.likelihood)

    @classmethod
    def network_config(cls, config):
        """The decoder reads [z, y]: the networks are built for Z + C decoder inputs (the
        encoder's outputs are the posterior's raw size, 2Z, either way)."""
        return dataclasses.replace(config.network, latent_dim=config.network.latent_dim
                                   + config.model.classes)

    @classmethod
    def describe_config(cls, cfg) -> str:
        return f"cvae ({cfg.classes} classes, conditional on the label)"

    @classmethod
    def prepare_data(cls, config, data: PreparedData) -> LabelledData:
        classes = config.model.classes
        for split in (data.train, data.val, data.test):
            if split is None:
                continue
            if split.y is None:
                raise VaelabError(f"--model cvae needs class labels but the {split.name} split "
                                  f"of {data.dataset} has none; choose a labelled --dataset")
            if len(split.y) and int(split.y.max()) >= classes:
                raise VaelabError(f"--model cvae --classes {classes}: {data.dataset} has "
                                  f"label {int(split.y.max())}; use --classes "
                                  f"{int(split.y.max()) + 1} or more")
        fields = {f.name: getattr(data, f.name) for f in dataclasses.fields(PreparedData)}
        fields.update({name: None if split is None else labelled_split(split, classes)
                       for name, split in (("train", data.train), ("val", data.val),
                                           ("test", data.test))})
        return LabelledData(**fields, images=data, label_count=classes)

    # -- rows [pixels | one-hot] ------------------------------------------------------
    def images_of(self, rows: torch.Tensor) -> torch.Tensor:
        return rows[..., :self.data_dim]

    def labels_of(self, rows: torch.Tensor) -> torch.Tensor:
        return rows[..., self.data_dim:]

    def posterior(self, x: torch.Tensor) -> LabelledGaussian:
        """q(z|x, y) for rows x [B, D + C]."""
        onehot = self.labels_of(x)
        raw = self.encoder(self.images_of(x)) + self.label_to_encoder(onehot)
        q = self.posterior_family(raw)
        return LabelledGaussian(q.mean, q.logvar, onehot)

    def decoder_params(self, z: torch.Tensor) -> torch.Tensor:
        """Raw likelihood parameters for decoder inputs u = [z, y] [..., B, Z + C]."""
        if z.shape[-1] != self.latent_dim + self.label_count:
            raise VaelabError(f"the cvae decodes [z, one-hot label] ({self.latent_dim} + "
                              f"{self.label_count} numbers), got {z.shape[-1]}; give labels "
                              "(decode(z, labels))")
        return self.decoder(z)

    # -- public helpers -----------------------------------------------------------------
    def flatten(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2 and x.shape[1] == self.data_dim + self.label_count:
            return x
        raise VaelabError(f"the cvae reads rows [pixels | one-hot label] of "
                          f"{self.data_dim} + {self.label_count} numbers; got {tuple(x.shape)}")

    @torch.no_grad()
    def decode(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Mean of p(x|z, y) as images, for z [B, Z] and ``labels`` [B] (or u = [z, y])."""
        if labels is not None:
            z = torch.cat([z, one_hot(labels, self.label_count).to(z)], dim=-1)
        return super().decode(z)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None,
               labels: torch.Tensor | None = None) -> torch.Tensor:
        """Decoder means of n samples of p(z), labels 0, 1, …, C−1, 0, … or ``labels``."""
        return super().decode(self.prior.sample(n, generator=generator, labels=labels))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return super().decode(self.posterior(self.flatten(x)).code)
