"""Which configs can be trained together as one batch, and which cannot be batched at
all. Configs with equal ``batch_key`` differ only in the per-model fields below."""

from __future__ import annotations

from vaelab.config import FIELDS, Config
from vaelab.errors import VaelabError
from vaelab.likelihoods import build_likelihood
from vaelab.priors import Prior, build_prior

# Fields that may differ within one batch. The seed sets a model's initial weights,
# batch order and binarisation draws; β and the KL schedule only set the per-model KL
# weight w(step) (stacked.PerModelWeight). Everything else shapes the one computation:
# the architecture, the data, the batch size, the number of steps and the optimiser (one
# Adam over all stacked parameters takes one learning rate).
PER_MODEL = ("train.seed", "objective.beta", "objective.warmup", "objective.warmup_unit",
             "objective.anneal")

# Objectives whose loss is recon + kl_weight·KL averaged over every image of the [M, B]
# batch: the stacked loss is then the mean of the per-model losses, and each model's own
# loss can be read back from its [M, B] recon and KL terms (IWAE's log-sum-exp bound
# cannot, and free bits average the KL over dimension 0, which would mix the models).
OBJECTIVES = ("elbo", "ae")


def _hashable(value):
    return tuple(value) if isinstance(value, list) else value


def shared_fields(config: Config) -> dict[str, object]:
    """``section.name`` → value of every field that must be equal within a batch."""
    fields = {}
    for spec in FIELDS:
        name = f"{spec.section}.{spec.name}"
        if name not in PER_MODEL:
            fields[name] = _hashable(getattr(getattr(config, spec.section), spec.name))
    return fields


def batch_key(config: Config) -> tuple:
    """Configs with equal keys can be trained together by ``train_batched``."""
    return tuple(shared_fields(config).items())


def unsupported(config: Config) -> str | None:
    """Why ``config`` cannot be trained by the batched backend, or None if it can."""
    if config.network.name != "mlp":
        return (f"--network {config.network.name}: the batched backend stacks MLP layers "
                "only")
    if config.objective.name not in OBJECTIVES:
        return (f"--objective {config.objective.name}: the batched backend supports "
                f"{' and '.join(OBJECTIVES)} only (a model's own loss cannot be read back "
                "from the stacked one)")
    if config.objective.free_bits > 0:
        return ("--free-bits: the free-bits KL averages over dimension 0, which the batched "
                "backend uses for the models")
    if config.train.nan_policy != "stop":
        return (f"--nan-policy {config.train.nan_policy}: the one fused Adam of a batch "
                "skips a step for all its models or none")
    # Parameters outside the encoder and decoder (a shared learned σ, mixture or
    # VampPrior components) would have to be stacked inside the likelihood or prior.
    likelihood = build_likelihood(config.likelihood, data_dim=1)
    if any(True for _ in likelihood.parameters()):
        return (f"--likelihood {config.likelihood.name} --learned-scale "
                f"{config.likelihood.learned_scale} has a parameter of its own, which the "
                "batched backend does not stack")
    prior = build_prior(config.prior, config.network.latent_dim)
    if any(True for _ in prior.parameters()) or type(prior).bind is not Prior.bind:
        return (f"--prior {config.prior.name} has its own parameters, which the batched "
                "backend does not stack")
    return None


def check_batch(configs: list[Config]) -> None:
    """Raise a one-line VaelabError if ``configs`` cannot be trained as one batch."""
    if not configs:
        raise VaelabError("train_batched needs at least one config")
    for index, config in enumerate(configs):
        reason = unsupported(config)
        if reason is not None:
            raise VaelabError(f"config {index} cannot be trained batched: {reason}; train it "
                              "with the sequential backend")
    first = shared_fields(configs[0])
    for index, config in enumerate(configs[1:], start=1):
        other = shared_fields(config)
        for name, value in first.items():
            if other[name] != value:
                raise VaelabError(
                    f"configs 0 and {index} cannot be trained as one batch: {name} differs "
                    f"({value!r} vs {other[name]!r}); only {', '.join(PER_MODEL)} may "
                    "differ, so group runs by vaelab.batched.batch_key")
