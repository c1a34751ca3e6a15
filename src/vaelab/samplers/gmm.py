"""A Gaussian mixture fitted to the training posterior means: the ex-post density
estimation of Ghosh et al. 2020 ("From variational to deterministic autoencoders", §4),
as pythae's GaussianMixtureSampler does. It gives a deterministic autoencoder (ae, rae,
wae) something to sample from, and a VAE whose aggregate posterior misses the prior
better samples."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from vaelab.errors import VaelabError
from vaelab.samplers.base import SAMPLERS, LatentSampler


@SAMPLERS.register("gmm")
class GMMSampler(LatentSampler):
    """z ~ Σ_k π_k N(μ_k, Σ_k), K = --components full-covariance components fitted by EM
    (scikit-learn's GaussianMixture, seeded) to the posterior means (point codes) of the
    training split as evaluation sees it. Sampling is torch's, from the stored weights,
    means and Cholesky factors: [K], [K, Z], [K, Z, Z]."""

    options = {"components": 10, "fit_seed": 0}

    def __init__(self, weights: torch.Tensor, means: torch.Tensor, scale_tril: torch.Tensor,
                 info: dict[str, Any]):
        self.weights, self.means, self.scale_tril = weights, means, scale_tril
        self.info = info

    @classmethod
    def fit(cls, model, data, *, components: int = 10, fit_seed: int = 0) -> GMMSampler:
        from sklearn.mixture import GaussianMixture

        from vaelab.metrics.base import posterior_moments

        if components < 1:
            raise VaelabError(f"--components must be >= 1, got {components}")
        train = data.eval_split("train")
        means = posterior_moments(model, train.x, model.config.train.eval_batch_size)[0]
        codes = means.detach().double().cpu().numpy()
        if codes.shape[0] < components:
            raise VaelabError(f"--components {components} is more than the {codes.shape[0]} "
                              "training images; use fewer components")
        mixture = GaussianMixture(n_components=components, covariance_type="full",
                                  random_state=fit_seed, max_iter=500)
        mixture.fit(codes)
        info = {"fitted_on": f"posterior means of {codes.shape[0]} training images",
                "converged": bool(mixture.converged_), "iterations": int(mixture.n_iter_),
                "train_log_likelihood": float(mixture.score(codes))}
        return cls(torch.from_numpy(np.asarray(mixture.weights_)),
                   torch.from_numpy(np.asarray(mixture.means_)),
                   torch.linalg.cholesky(torch.from_numpy(np.asarray(mixture.covariances_))),
                   info)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        device = generator.device if generator is not None else torch.device("cpu")
        weights, means, tril = (t.to(device) for t in (self.weights, self.means,
                                                        self.scale_tril))
        component = torch.multinomial(weights, n, replacement=True, generator=generator)
        eps = torch.randn(n, means.shape[1], 1, generator=generator, device=device,
                          dtype=means.dtype)
        z = means[component] + (tril[component] @ eps).squeeze(-1)
        return z.float()

    def describe(self) -> str:
        return f"a {self.weights.shape[0]}-component GMM fitted to the training posterior means"

    def state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        return ({"weights": self.weights, "means": self.means, "scale_tril": self.scale_tril},
                {"info": self.info})

    @classmethod
    def from_state(cls, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> GMMSampler:
        return cls(tensors["weights"], tensors["means"], tensors["scale_tril"], meta["info"])
