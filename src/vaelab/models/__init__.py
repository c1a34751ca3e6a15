"""Model families (``--model NAME``): how latents are arranged and used. Each is one file
with one class (a ``vaelab.model.VAE`` subclass) and its ``@MODELS.register`` line; it
declares its ``Options`` ([model] keys and flags), ``describe_config`` and ``examples``.
All train through the one loop (vaelab/trainer.py) with the registered objectives."""

from vaelab.concepts import MODELS
from vaelab.models import cvae, ladder, vae, vqvae  # noqa: F401  (importing registers the families)

__all__ = ["MODELS"]
