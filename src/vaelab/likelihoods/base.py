"""The likelihood interface and its registry.

Every likelihood turns the decoder's raw output ``params`` [..., B, P·D] into a
distribution over flattened images [B, D] and answers in nats, summed per image (DESIGN
rule 2): ``log_prob(x, params) -> [..., B]``. Adding one = a module in this package with
one class + its ``@LIKELIHOODS.register`` line; tests/test_contracts.py runs the shared
contract on every registered name.
"""

from __future__ import annotations

import torch
from torch import nn

from vaelab.concepts import LIKELIHOODS  # noqa: F401  (re-exported: components register here)
from vaelab.errors import VaelabError
from vaelab.options import NoOptions


class Likelihood(nn.Module):
    """Base class. Subclasses set ``params_per_pixel``, implement the four methods and
    may declare ``Options`` (their own [likelihood] keys and flags), ``describe_config``
    and ``examples`` (option sets the shared contract tests run them over)."""

    Options = NoOptions
    examples: list[dict] = [{}]

    params_per_pixel: int = 1
    # Where one pixel lives: "binary" {0, 1}, "8-bit" {k/255 : k = 0..255},
    # "unit-interval" [0, 1] or "real" ℝ. The contract tests integrate the density over it
    # (sum it over a discrete support) and expect 1.
    support: str = "real"
    # False for losses that are not normalised densities (BCE on grey data is still a
    # density only for binary data; perceptual is never one): then the "ELBO" is not a
    # bound on log p(x) and outputs must say so.
    is_density: bool = True
    # True for a loss on features of a network it does not own (the perceptual loss on the
    # dataset's classifier): vaelab.build.build_model hands them in (attach_features).
    needs_features: bool = False

    def __init__(self, cfg, data_dim: int):
        super().__init__()
        self.cfg = cfg
        self.data_dim = data_dim

    def log_prob(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        """log p(x|z) summed over pixels, nats: x [B, D], params [..., B, P·D] → [..., B]."""
        raise NotImplementedError

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        """E[x|z], [..., B, D]: what figures show as the decoded image."""
        raise NotImplementedError

    def sample(self, params: torch.Tensor, generator: torch.Generator | None = None
               ) -> torch.Tensor:
        """x ~ p(x|z), [..., B, D]."""
        raise NotImplementedError

    def check_support(self, x: torch.Tensor, what: str) -> None:
        """Raise a VaelabError naming ``what`` if the data cannot come from this
        likelihood."""
        if not torch.isfinite(x).all():
            raise VaelabError(f"{what} contains NaN or infinite values; clean the data")

    def attach_features(self, network: nn.Module, info: dict) -> None:
        """Hand in the frozen feature network of a ``needs_features`` likelihood (built
        once, outside the model, by vaelab.build): vaelab's domain classifier, or any
        module with its ``relu_features(x, layers)`` and ``place(device)``."""
        raise TypeError(f"the {self.cfg.name} likelihood takes no feature network")

    @classmethod
    def describe_config(cls, cfg) -> str:
        """One line naming the likelihood with its settings, from its config section."""
        return cfg.name

    def describe(self) -> str:
        return self.describe_config(self.cfg)



def check_unit_interval(x: torch.Tensor, what: str, name: str) -> None:
    """Shared support check of the likelihoods defined on [0, 1]."""
    low, high = float(x.min()), float(x.max())
    if low < 0 or high > 1:
        raise VaelabError(f"{what} has values in [{low:g}, {high:g}] but the {name} "
                          "likelihood needs data in [0, 1]; rescale the data or choose "
                          "another --likelihood")
