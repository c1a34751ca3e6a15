"""Training objectives: one module each, one registry (OBJECTIVES)."""

from vaelab.config import ObjectiveConfig
from vaelab.objectives import ae, elbo, iwae  # noqa: F401  (register)
from vaelab.objectives.base import OBJECTIVES, Objective, ObjectiveOutput, kl_per_dim, kl_term
from vaelab.objectives.elbo import ELBO, true_elbo


def build_objective(cfg: ObjectiveConfig, steps_per_epoch: int = 1) -> Objective:
    return OBJECTIVES.get(cfg.name)(cfg, steps_per_epoch)


def evaluation_objective(cfg: ObjectiveConfig) -> Objective:
    """What the honest numbers are computed with: the true ELBO for every variational
    objective, the reconstruction error for the plain autoencoder."""
    if OBJECTIVES.get(cfg.name).is_variational:
        return true_elbo(cfg)
    return build_objective(cfg)


__all__ = ["ELBO", "OBJECTIVES", "Objective", "ObjectiveOutput", "build_objective",
           "evaluation_objective", "kl_per_dim", "kl_term", "true_elbo"]
