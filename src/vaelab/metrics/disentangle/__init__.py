"""Pure cores of the disentanglement scores (numpy in, numbers out), one file each; the
gatherer that feeds them a run's posterior means is ``vaelab/metrics/disentanglement.py``.

Every core takes codes [N, Z] (a representation) and factor classes [N, K] (int, the
ground truth), so each is tested on representations with known answers."""

from vaelab.metrics.disentangle.dci import dci
from vaelab.metrics.disentangle.information import mig, modularity
from vaelab.metrics.disentangle.interventions import beta_vae_score, factor_vae_score
from vaelab.metrics.disentangle.predictors import explicitness, sap

__all__ = ["beta_vae_score", "dci", "explicitness", "factor_vae_score", "mig", "modularity",
           "sap"]
