"""M same-architecture MLP VAEs as one module: every parameter gets a leading model
dimension M and every linear layer is one batched matmul (``torch.baddbmm``).

Why hand-written layers and not ``torch.func.stack_module_state`` + ``functional_call``
+ ``vmap``: on the 784-400-20 MNIST MLP (M = 8, CPU) a vmap step took 4.4 ms per model
against 3.2 for these layers, 18 % of it copying gradients into the stacked leaves (they
come out of vmap's batched backward in another memory layout); these layers are a few
lines, use the weight layout that the batched matmuls run fastest in, and keep the
shapes visible (benchmarks/RESULTS.md, "Batched sweeps"). The price: MLPs only.

The stacked model duck-types the four things an objective uses of a VAE (``posterior``,
``decoder_params``, ``likelihood``, ``prior``), so the unchanged objective runs on
[M, B, ...] tensors: every likelihood/prior ``log_prob`` reduces the last dimension only
(DESIGN rule 2), so the leading M passes through.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from vaelab.model import VAE
from vaelab.networks.mlp import GatedLinear
from vaelab.posterior import DiagonalGaussian


class StackedLinear(nn.Module):
    """M linear layers y_m = x_m W_mᵀ + b_m in one ``baddbmm``. ``weight`` is stored
    [M, in, out], transposed against nn.Linear's [out, in]: that is the layout the
    batched matmuls and their gradients run fastest in here; ``bias`` is [M, 1, out] so
    that it broadcasts over the batch without a copy."""

    def __init__(self, layers: list[nn.Linear]):
        super().__init__()
        self.weight = nn.Parameter(torch.stack([layer.weight.detach().t() for layer in layers])
                                   .contiguous())
        self.bias = nn.Parameter(torch.stack([layer.bias.detach() for layer in layers])
                                 .unsqueeze(1).contiguous())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [M, N, in] → [M, N, out]."""
        return torch.baddbmm(self.bias, x, self.weight)


class StackedGatedLinear(nn.Module):
    """M gated linear units (networks/mlp.py GatedLinear) at once."""

    def __init__(self, layers: list[GatedLinear]):
        super().__init__()
        self.value = StackedLinear([layer.value for layer in layers])
        self.gate = StackedLinear([layer.gate for layer in layers])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.value(x) * torch.sigmoid(self.gate(x))


def stack_layers(sequentials: list[nn.Sequential]) -> nn.Sequential:
    """The M networks of networks/mlp.py as one nn.Sequential with the same layer
    indices, so that parameter names match the VAE's state_dict keys."""
    layers: list[nn.Module] = []
    for index, layer in enumerate(sequentials[0]):
        same = [network[index] for network in sequentials]
        if isinstance(layer, nn.Linear):
            layers.append(StackedLinear(same))
        elif isinstance(layer, GatedLinear):
            layers.append(StackedGatedLinear(same))
        else:  # an activation: element-wise, no parameters, shared
            layers.append(layer)
    return nn.Sequential(*layers)


def unstack(name: str, tensor: torch.Tensor, index: int, shape: torch.Size) -> torch.Tensor:
    """Model ``index``'s slice of a stacked tensor (a parameter or an Adam moment of the
    parameter ``name``) in the single model's layout ``shape``: nn.Linear's weight
    [out, in] (stored transposed), its bias [out], a likelihood's own parameter."""
    piece = tensor[index]
    if name.startswith(("encoder.", "decoder.")) and name.endswith("weight"):
        piece = piece.t()  # StackedLinear stores [in, out]
    return piece.reshape(shape)


def stack_likelihood(likelihoods: list[nn.Module]) -> nn.Module:
    """Model 0's likelihood with its own parameters (a shared learned scale,
    likelihoods/location_scale.py) replaced by the M models' values stacked as
    [M, 1, ...] so that they broadcast against the stacked [M, B, D] pixels: a scalar
    becomes [M, 1, 1], a per-pixel vector [D] becomes [M, 1, D] (batched/key.py refuses
    anything with more dimensions). Without parameters, model 0's serves all M."""
    if not any(True for _ in likelihoods[0].parameters()):
        return likelihoods[0]
    stacked = copy.deepcopy(likelihoods[0])
    count = len(likelihoods)
    for name, first in likelihoods[0].named_parameters():
        values = torch.stack([dict(lik.named_parameters())[name].detach()
                              for lik in likelihoods])
        owner_path, _, leaf = name.rpartition(".")
        owner = stacked.get_submodule(owner_path) if owner_path else stacked
        shape = (count, *[1] * (2 - first.dim()), *first.shape)
        setattr(owner, leaf, nn.Parameter(values.reshape(shape).contiguous()))
    return stacked


class StackedVAE(nn.Module):
    """M VAEs of one MLP architecture. The likelihood's own parameters, if any, are
    stacked (``stack_likelihood``); the prior has none (checked by batched/key.py), so
    model 0's serves all M."""

    def __init__(self, models: list[VAE]):
        super().__init__()
        self.models = len(models)
        self.encoder = stack_layers([model.encoder for model in models])
        self.decoder = stack_layers([model.decoder for model in models])
        self.likelihood = stack_likelihood([model.likelihood for model in models])
        self.prior = models[0].prior  # without parameters (batched/key.py checks it)
        self.latent_dim = models[0].latent_dim
        self.config = models[0].config

    def posterior(self, x: torch.Tensor) -> DiagonalGaussian:
        """q(z|x) of every model for its own images x [M, B, D]: mean, logvar [M, B, Z]."""
        return DiagonalGaussian.from_raw(self.encoder(x))

    def decoder_params(self, z: torch.Tensor) -> torch.Tensor:
        """Raw likelihood parameters [M, B, P·D] for latents [M, B, Z]."""
        return self.decoder(z)

    def copy_to(self, model: VAE, index: int) -> None:
        """Load model ``index``'s current weights into an ordinary VAE (for validation and
        checkpoints, which then run the existing single-model code)."""
        shapes = {name: tensor.shape for name, tensor in model.named_parameters()}
        model.load_state_dict({name: unstack(name, tensor, index, shapes[name])
                               for name, tensor in self.named_parameters()}, strict=True)
