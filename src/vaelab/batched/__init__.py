"""The batched sweep backend: several VAEs of one MLP architecture (the points of a β
sweep, several seeds) trained in one process as one batched computation, each written
to an ordinary run directory.

    from vaelab.batched import batch_key, train_batched, unsupported
    groups = {}  # configs with equal keys train together
    for config, path in runs:
        if unsupported(config) is None:
            groups.setdefault(batch_key(config), []).append((config, path))
    for group in groups.values():
        train_batched([c for c, _ in group], [p for _, p in group], progress=False)

Within a batch only the seed, β and the KL schedule (warm-up, its unit, anneal) may
differ; ``unsupported(config)`` says why a config cannot be batched at all (conv
networks, IWAE, free bits, likelihoods or priors with parameters of their own).
"""

from vaelab.batched.key import batch_key, per_model_fields, unsupported
from vaelab.batched.train import train_batched

__all__ = ["batch_key", "per_model_fields", "train_batched", "unsupported"]
