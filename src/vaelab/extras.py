"""The optional extras of vaelab (pyproject.toml's ``[project.optional-dependencies]``)
and the one check that a command makes before it writes anything: is the package that
an extra installs importable? The failure is one line with the exact pip command."""

from __future__ import annotations

import importlib.util

from vaelab.errors import VaelabError

# extra name (pip install 'vaelab[EXTRA]') → (the module it makes importable, its pip
# distribution); the extras themselves are declared in pyproject.toml.
EXTRAS = {"ray": ("ray", "ray"), "mlflow": ("mlflow", "mlflow"),
          "umap": ("umap", "umap-learn"), "tensorboard": ("tensorboard", "tensorboard")}


def installed(extra: str) -> bool:
    """Whether the extra's module can be imported, without importing it (ray and mlflow
    take seconds to import). A module set to None in sys.modules counts as missing."""
    module = EXTRAS[extra][0]
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a broken parent package, or __spec__ None
        return False


def require(extra: str, *, needed_by: str) -> None:
    """Raise one line naming what needs the extra and how to install it."""
    if extra not in EXTRAS:
        raise ValueError(f"unknown extra {extra!r}")  # a bug in vaelab, not the user's
    if not installed(extra):
        module, distribution = EXTRAS[extra]
        raise VaelabError(f"{needed_by} needs the {module} package: pip install "
                          f"'vaelab[{extra}]' (or pip install {distribution})")
