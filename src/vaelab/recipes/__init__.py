"""The five classic VAE studies and the literature check as recipes (one file each):
``vaelab recipe list``, ``vaelab recipe run NAME [--quick]``."""

from vaelab.recipes import (  # noqa: F401  (importing registers the recipes)
    architecture_depth,
    beta_sweep,
    disentanglement,
    fashion_vae_vs_ae,
    likelihood_and_prior,
    literature,
    posterior_collapse,
)
from vaelab.recipes.base import RECIPES, Finding, Recipe, Results, run_recipe

__all__ = ["RECIPES", "Finding", "Recipe", "Results", "run_recipe"]
