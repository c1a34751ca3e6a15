"""The perceptual reconstruction loss: feature matching on a frozen domain classifier.

Following seed study 004 (after Johnson et al. 2016): with x̂ = sigmoid(decoder output),
    loss(x, x̂) = λ·Σ_l ‖Φ_l(x) − Φ_l(x̂)‖² + pixel(x, x̂)
where Φ_l are the activations after the 2nd and 4th ReLU of vaelab's small classifier for
the dataset (trained once and cached, see vaelab/classifier.py), λ = --perceptual-weight
and pixel ∈ {none, bce, mse} (--pixel-loss). This is a loss, not a density: "log_prob"
returns −loss so the objectives can use it, but its "ELBO" bounds nothing, and every
output says so (is_density = False).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from vaelab.errors import VaelabError
from vaelab.likelihoods.base import LIKELIHOODS, Likelihood, check_unit_interval
from vaelab.options import option

FEATURE_LAYERS = (2, 4)  # the seed study's choice: after the 2nd and 4th ReLU


def _pixel_none(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    return torch.zeros(logits.shape[:-1], device=logits.device, dtype=logits.dtype)


def _pixel_bce(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, x.expand_as(logits),
                                              reduction="none").sum(-1)


def _pixel_mse(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    return ((x - torch.sigmoid(logits)) ** 2).sum(-1)


PIXEL_LOSSES = {"none": _pixel_none, "bce": _pixel_bce, "mse": _pixel_mse}


@LIKELIHOODS.register("perceptual")
class Perceptual(Likelihood):
    @dataclass
    class Options:
        perceptual_weight: float = option(
            1.0, "Weight λ of the feature-matching term λ·Σ_l‖Φ_l(x) − Φ_l(x̂)‖².", low=0.0,
            low_open=True)
        pixel_loss: str = option(
            "none", "The pixel term added to it (the seed study's 'perceptual+BCE' is "
            "--perceptual-weight 0.01 --pixel-loss bce).", choices=lambda: list(PIXEL_LOSSES))

    examples = [{}, {"perceptual_weight": 0.01, "pixel_loss": "bce"}]
    is_density = False
    needs_features = True
    support = "unit-interval"

    def __init__(self, cfg, data_dim: int):
        super().__init__(cfg, data_dim)
        self._classifier: list[nn.Module] = []  # frozen, cached apart: not a submodule
        self.classifier_info: dict = {}

    def attach_features(self, network: nn.Module, info: dict) -> None:
        for parameter in network.parameters():
            parameter.requires_grad_(False)
        self._classifier = [network]
        self.classifier_info = {key: info[key] for key in ("dataset", "key", "test_accuracy")
                                if key in info}

    def features(self, images: torch.Tensor) -> list[torch.Tensor]:
        if not self._classifier:
            raise VaelabError("the perceptual loss has no feature network; build the model "
                              "with vaelab.build.build_model, which attaches the dataset's "
                              "classifier")
        classifier = self._classifier[0]
        if next(classifier.parameters()).device != images.device:
            classifier.place(images.device)
        return classifier.relu_features(images, FEATURE_LAYERS)

    def log_prob(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        batch_shape = params.shape[:-1]  # [..., B]
        flat = params.reshape(-1, params.shape[-1])
        target = x.expand_as(params).reshape(-1, params.shape[-1])
        distance = torch.zeros(flat.shape[0], device=params.device, dtype=params.dtype)
        with torch.no_grad():
            target_features = self.features(target)
        for real, fake in zip(target_features, self.features(torch.sigmoid(flat)),
                              strict=True):
            distance = distance + ((real - fake) ** 2).flatten(1).sum(-1)
        loss = self.cfg.perceptual_weight * distance.reshape(batch_shape)
        return -(loss + PIXEL_LOSSES[self.cfg.pixel_loss](x, params))

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(params)

    def sample(self, params: torch.Tensor, generator: torch.Generator | None = None
               ) -> torch.Tensor:
        # Not a distribution: the only sensible "sample" is the decoded image itself.
        return torch.sigmoid(params)

    def check_support(self, x: torch.Tensor, what: str) -> None:
        super().check_support(x, what)
        check_unit_interval(x, what, self.cfg.name)

    @classmethod
    def describe_config(cls, cfg) -> str:
        pixel = "" if cfg.pixel_loss == "none" else f" + {cfg.pixel_loss} pixel term"
        return (f"perceptual loss (λ={cfg.perceptual_weight:g}, classifier ReLU "
                f"{FEATURE_LAYERS}{pixel}; a loss, not a density)")
