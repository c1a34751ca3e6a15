"""Training objectives: one module each, registered in OBJECTIVES (vaelab/concepts.py)."""

# The regularised objectives register after the originals, whose declarations then come
# first among the shared flags' owners (--beta's range is the elbo's; --help lists each
# owner's default).
from vaelab.objectives import ae, capacity, elbo, iwae  # noqa: F401, I001  (register)
from vaelab.objectives import ciwae, factorvae, miwae, piwae  # noqa: F401
from vaelab.objectives import beta_tcvae, dip_vae, infovae, rae, wae_mmd  # noqa: F401
from vaelab.objectives import vq  # noqa: F401
from vaelab.objectives.base import (
    OBJECTIVES,
    Auxiliary,
    Objective,
    ObjectiveOutput,
    kl_per_dim,
    kl_term,
)
from vaelab.objectives.elbo import ELBO, true_elbo


def build_objective(cfg, steps_per_epoch: int = 1, train_size: int | None = None
                    ) -> Objective:
    """The objective named by an [objective] config section; ``train_size`` is the number
    of training images (the TC estimators of beta-tcvae need it)."""
    return OBJECTIVES.get(cfg.name)(cfg, steps_per_epoch, train_size)


def is_variational(cfg) -> bool:
    """Whether the objective of an [objective] section leaves a model with a true ELBO
    (``Objective.variational``)."""
    return OBJECTIVES.get(cfg.name).variational(cfg)


def evaluation_objective(cfg) -> Objective:
    """What the honest numbers are computed with: the true ELBO for every variational
    objective, the objective itself (its reconstruction error) for a deterministic
    encoder."""
    if is_variational(cfg):
        return true_elbo()
    return build_objective(cfg)


__all__ = ["ELBO", "OBJECTIVES", "Auxiliary", "Objective", "ObjectiveOutput", "build_objective",
           "evaluation_objective", "is_variational", "kl_per_dim", "kl_term", "true_elbo"]
