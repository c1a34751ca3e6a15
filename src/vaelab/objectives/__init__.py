"""Training objectives: one module each, registered in OBJECTIVES (vaelab/concepts.py)."""

from vaelab.objectives import (  # noqa: F401  (register)
    ae,
    capacity,
    ciwae,
    elbo,
    factorvae,
    iwae,
    miwae,
    piwae,
)
from vaelab.objectives.base import (
    OBJECTIVES,
    Auxiliary,
    Objective,
    ObjectiveOutput,
    kl_per_dim,
    kl_term,
)
from vaelab.objectives.elbo import ELBO, true_elbo


def build_objective(cfg, steps_per_epoch: int = 1) -> Objective:
    """The objective named by an [objective] config section."""
    return OBJECTIVES.get(cfg.name)(cfg, steps_per_epoch)


def evaluation_objective(cfg) -> Objective:
    """What the honest numbers are computed with: the true ELBO for every variational
    objective, the reconstruction error for the plain autoencoder."""
    if OBJECTIVES.get(cfg.name).is_variational:
        return true_elbo()
    return build_objective(cfg)


__all__ = ["ELBO", "OBJECTIVES", "Auxiliary", "Objective", "ObjectiveOutput", "build_objective",
           "evaluation_objective", "kl_per_dim", "kl_term", "true_elbo"]
