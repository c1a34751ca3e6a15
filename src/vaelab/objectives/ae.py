"""The plain deterministic autoencoder baseline."""

from __future__ import annotations

import torch

from vaelab.objectives.base import OBJECTIVES, Objective, ObjectiveOutput


@OBJECTIVES.register("ae")
class Autoencoder(Objective):
    """The same networks trained as a deterministic autoencoder: z = E[q(z|x)] (the
    encoder's mean output; its log-variance output is unused), loss = −log p(x|z). No
    sampling, no KL: there is no ELBO, and "samples" decoded from N(0, I) are not samples
    of any model — the seed studies show them to make exactly that point. The KL column is
    reported as 0 and evaluation labels the numbers as reconstruction error."""

    is_variational = False
    stackable = True  # loss = mean recon (kl_weight 0), so a stack's loss separates
    graph_safe = True

    def kl_weight(self, step: int) -> float:
        return 0.0

    def __call__(self, model, x, step, generator=None, kl_weight=None) -> ObjectiveOutput:
        z = model.posterior(x).mean
        recon = -model.likelihood.log_prob(x, model.decoder_params(z))
        return ObjectiveOutput(loss=recon.mean(), recon=recon, kl=torch.zeros_like(recon),
                               kl_weight=0.0)
