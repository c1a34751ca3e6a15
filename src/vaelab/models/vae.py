"""``vae``: one Gaussian latent vector (Kingma & Welling 2014), vaelab.model.VAE itself."""

from vaelab.concepts import MODELS
from vaelab.model import VAE

MODELS.register("vae")(VAE)
