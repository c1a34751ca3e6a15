"""vaelab: a laboratory for variational autoencoders.

    import vaelab
    run = vaelab.train(dataset="mnist", epochs=5)
    run = vaelab.load_run("runs/mnist-elbo-...")

The public names are imported lazily so that ``vaelab --help`` starts fast.
"""

from typing import Any as _Any

__version__ = "0.1.0"

_PUBLIC = {
    "train": "vaelab.api",
    "Config": "vaelab.config",
    "VaelabError": "vaelab.errors",
    "Run": "vaelab.run",
    "load_run": "vaelab.run",
}


def __getattr__(name: str) -> _Any:
    if name in _PUBLIC:
        import importlib

        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'vaelab' has no attribute {name!r}")


def __dir__() -> list[str]:
    # The lazy names too, so that a notebook's tab completion offers vaelab.train.
    return sorted({*globals(), *_PUBLIC})


__all__ = [*_PUBLIC, "__version__"]
