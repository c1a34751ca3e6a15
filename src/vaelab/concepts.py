"""The registries of the concepts a config names, in one place (DESIGN: one interface
and one registry per concept). Each imports its package on first use; the components
register themselves there with ``@PRIORS.register("name")`` and so on. The config layer
(vaelab/config.py) reads these registries and imports no component module.

An entry is a class with:
- ``Options``: a dataclass of its own options (vaelab.options.option fields; none by
  default), from which config keys and CLI flags are generated;
- ``describe_config(cfg) -> str``: one line naming it with its settings, from the config
  alone (so old runs can be described without building a model);
- ``examples``: option sets that the shared contract tests run it over.
"""

from __future__ import annotations

from typing import Any

from vaelab.registry import Registry

DATASETS: Registry[Any] = Registry("dataset", package="vaelab.data")
NETWORKS: Registry[Any] = Registry("network", package="vaelab.networks")
LIKELIHOODS: Registry[Any] = Registry("likelihood", package="vaelab.likelihoods")
PRIORS: Registry[Any] = Registry("prior", package="vaelab.priors")
OBJECTIVES: Registry[Any] = Registry("objective", package="vaelab.objectives")
POSTERIORS: Registry[Any] = Registry("posterior", package="vaelab.posteriors")
# Model families (how latents are arranged and used: vae, cvae, ladder, vqvae): model-layer
# classes built from the other components, so their package sits above the config.
MODELS: Registry[Any] = Registry("model", package="vaelab.models")
