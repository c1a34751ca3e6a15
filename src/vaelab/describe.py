"""The one line that names a model: every place that shows a model (CLI tables,
``vaelab compare``, figure captions, the report, the training banner) calls
``describe_model``. Each part is the registered component's own ``describe_config``,
read from the config alone, so a stored run is described without building its model.
"""

from __future__ import annotations

from typing import Any

from vaelab.concepts import LIKELIHOODS, MODELS, NETWORKS, OBJECTIVES, POSTERIORS, PRIORS
from vaelab.errors import VaelabError

# (section, registry) in the order the line names them.
PARTS = (("model", MODELS), ("network", NETWORKS), ("posterior", POSTERIORS),
         ("likelihood", LIKELIHOODS), ("prior", PRIORS), ("objective", OBJECTIVES))


def describe_section(config: Any, section: str) -> str:
    """One component's words, e.g. 'normal N(0, 1²)' for the [prior] of ``config``."""
    registry = dict(PARTS)[section]
    part = getattr(config, section)
    if section == "posterior" and not _variational(config):
        return "deterministic encoder"  # ae, rae-*, wae-mmd's default: no q(z|x) is used
    if section == "network":  # as the family builds it (a ladder's z_1, not --latent-dim)
        part = MODELS.get(config.model.name).described_network(config)
    return registry.get(part.name).describe_config(part)


def describe_model(config: Any) -> str:
    """'mlp 400, z = 20, relu; diagonal Gaussian q; bernoulli; normal N(0, 1²); elbo' for a
    Config or a
    stored config dict (config.json's "config" table). A stored config that no longer
    parses is named by its components alone."""
    from vaelab.config import Config

    if not isinstance(config, Config):
        try:
            config = Config.from_dict(config, where="stored config")
        except (VaelabError, TypeError, ValueError, AttributeError):
            return "; ".join(_stored_name(config, section) for section, _ in PARTS
                             if section != "model")
    return "; ".join(describe_section(config, section) for section, _ in PARTS
                     if not _left_out(config, section))


def _variational(config: Any) -> bool:
    # Through the registry (concepts), as every other part: this layer imports no component.
    return OBJECTIVES.get(config.objective.name).variational(config.objective)


def _stored_name(config: Any, section: str) -> str:
    """A component's name from a stored config that no longer parses, or '?'."""
    part = config.get(section) if isinstance(config, dict) else None
    name = part.get("name") if isinstance(part, dict) else None
    return str(name) if name is not None else "?"


def _left_out(config: Any, section: str) -> bool:
    """The default family goes unnamed, so that a plain VAE reads as it always has; a
    section the family does not read (a VQ-VAE's posterior and prior) goes unnamed too."""
    family = MODELS.get(config.model.name)
    return (section == "model" and config.model.name == "vae") or (
        section in family.unused_sections)
