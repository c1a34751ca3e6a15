"""Which configs can be trained together as one batch, and which cannot be batched at
all. Configs with equal ``batch_key`` differ only in the per-model fields below."""

from __future__ import annotations

from vaelab.config import Config
from vaelab.errors import VaelabError
from vaelab.likelihoods import build_likelihood
from vaelab.objectives import OBJECTIVES
from vaelab.priors import Prior, build_prior

# Fields that may differ within one batch. The seed sets a model's initial weights,
# batch order and binarisation draws; the objective's ``per_model_options`` (β and the
# KL schedule of the ELBO) only set the per-model KL weight w(step), which the loop
# passes to the objective through its kl_weight hook. Everything else shapes the one
# computation: the architecture, the data, the batch size, the number of steps and the
# optimiser (one Adam over all stacked parameters takes one learning rate).
PER_MODEL_TRAIN = ("train.seed",)


def per_model_fields(config: Config) -> tuple[str, ...]:
    objective = OBJECTIVES.get(config.objective.name)
    return PER_MODEL_TRAIN + tuple(f"objective.{name}" for name in objective.per_model_options)


def _hashable(value):
    return tuple(value) if isinstance(value, list) else value


def shared_fields(config: Config) -> dict[str, object]:
    """``section.name`` → value of every field that must be equal within a batch."""
    per_model = per_model_fields(config)
    fields = {}
    for section, values in config.to_dict().items():
        for key, value in values.items():
            name = f"{section}.{key}"
            if name not in per_model:
                fields[name] = _hashable(value)
    return fields


def batch_key(config: Config) -> tuple:
    """Configs with equal keys can be trained together by ``train_batched``."""
    return tuple(shared_fields(config).items())


def unsupported(config: Config) -> str | None:
    """Why ``config`` cannot be trained by the batched backend, or None if it can."""
    if config.model.name != "vae":
        return (f"--model {config.model.name}: the batched backend stacks the plain vae "
                "only")
    if config.network.name != "mlp":
        return (f"--network {config.network.name}: the batched backend stacks MLP layers "
                "only")
    if config.posterior.name != "gaussian":
        return (f"--posterior {config.posterior.name}: the batched backend stacks the "
                "diagonal Gaussian posterior only")
    obstacle = OBJECTIVES.get(config.objective.name).batching_obstacle(config.objective)
    if obstacle is not None:
        return obstacle
    if config.train.nan_policy != "stop":
        return (f"--nan-policy {config.train.nan_policy}: the one fused Adam of a batch "
                "skips a step for all its models or none")
    # A likelihood's own parameters are stacked as [M, 1, ...] against [M, B, D] pixels
    # (batched/stacked.py stack_likelihood): scalars and per-pixel vectors only. A
    # prior's (mixture or VampPrior components) would have to be stacked inside it.
    likelihood = build_likelihood(config.likelihood, data_dim=1)
    if any(parameter.dim() > 1 for parameter in likelihood.parameters()):
        return (f"--likelihood {config.likelihood.name} has a parameter of more than one "
                "dimension, which the batched backend does not stack")
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
        for name in sorted(set(first) | set(other)):
            if other.get(name) != first.get(name):
                raise VaelabError(
                    f"configs 0 and {index} cannot be trained as one batch: {name} differs "
                    f"({first.get(name)!r} vs {other.get(name)!r}); only "
                    f"{', '.join(per_model_fields(configs[0]))} may differ, so group runs "
                    "by vaelab.batched.batch_key")
