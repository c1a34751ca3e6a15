"""Sample quality as two separate questions, on any feature network: precision and recall
(Kynkäänniemi et al. 2019) and density and coverage (Naeem et al. 2020).

With features φ of N real images r_i and M generated images f_j, and NND_k(x) the distance
from x to its k-th nearest neighbour within its own set (itself excluded):

  precision = 1/M Σ_j 1[∃ i: ‖f_j − r_i‖ ≤ NND_k(r_i)]       (Kynkäänniemi eq. 1-2, k = 3)
  recall    = 1/N Σ_i 1[∃ j: ‖r_i − f_j‖ ≤ NND_k(f_j)]       (the same with roles swapped)
  density   = 1/(kM) Σ_j Σ_i 1[‖f_j − r_i‖ ≤ NND_k(r_i)]     (Naeem eq. 3, k = 5)
  coverage  = 1/N Σ_i 1[∃ j: ‖r_i − f_j‖ ≤ NND_k(r_i)]       (Naeem eq. 4, k = 5)

Precision asks whether samples look real, recall whether the real variety is produced;
density and coverage are the versions robust to outliers (density may exceed 1).

Features: FID's feature network (metrics/features.py): by default the 128-d penultimate
activations of vaelab's domain classifier (numbers comparable within vaelab only, like its
FID), or Inception-v3's 2048 pool3 features (``--fid-features inception``), the space in
which both papers report. Generated images are decoder means of prior samples.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from vaelab.data import PreparedData
from vaelab.errors import VaelabError
from vaelab.metrics.base import check_positive, progress_bar, provenance, register, scored_split
from vaelab.metrics.features import DEFAULT_FEATURES, classes_needed, load_feature_network
from vaelab.metrics.fid import BEFORE_FEATURES, _generate, feature_label
from vaelab.metrics.shown import DETAIL, Number
from vaelab.model import VAE

K_PRECISION_RECALL = 3  # Kynkäänniemi et al. 2019's choice
K_DENSITY_COVERAGE = 5  # Naeem et al. 2020's choice
CHUNK = 1024  # rows of a distance block: bounds memory at CHUNK x N floats


def knn_radii(features: torch.Tensor, k: int) -> torch.Tensor:
    """Distance from each row to its k-th nearest other row, [N] (float64)."""
    if k >= features.shape[0]:
        raise VaelabError(f"k-NN radii with k = {k} need more than {k} images, got "
                          f"{features.shape[0]}")
    radii = []
    for start in range(0, features.shape[0], CHUNK):
        d = torch.cdist(features[start:start + CHUNK], features)  # [c, N]
        radii.append(d.topk(k + 1, dim=1, largest=False).values[:, k])  # [0] is itself
    return torch.cat(radii)


def prdc(real: torch.Tensor, fake: torch.Tensor, *, k_pr: int = K_PRECISION_RECALL,
         k_dc: int = K_DENSITY_COVERAGE) -> dict[str, float]:
    """Precision, recall (k = k_pr) and density, coverage (k = k_dc) of features
    real [N, F] and fake [M, F]."""
    real, fake = real.double(), fake.double()
    real_pr, fake_pr = knn_radii(real, k_pr), knn_radii(fake, k_pr)
    real_dc = knn_radii(real, k_dc)
    precise = density = 0.0
    for start in range(0, fake.shape[0], CHUNK):
        d = torch.cdist(fake[start:start + CHUNK], real)  # [c, N]
        precise += float((d <= real_pr[None]).any(1).sum())
        density += float((d <= real_dc[None]).sum())
    recalled = covered = 0.0
    for start in range(0, real.shape[0], CHUNK):
        d = torch.cdist(real[start:start + CHUNK], fake)  # [c, M]
        recalled += float((d <= fake_pr[None]).any(1).sum())
        covered += float((d.min(1).values <= real_dc[start:start + CHUNK]).sum())
    n, m = real.shape[0], fake.shape[0]
    return {"precision": precise / m, "recall": recalled / n,
            "density": density / (k_dc * m), "coverage": covered / n}


SAME = ("samples", "images", "k_precision_recall", "k_density_coverage", "features")
NUMBERS = (
    Number("precision", ("prdc", "precision"), unit="", format=".3f", better="higher",
           comparable=SAME, assumed=BEFORE_FEATURES),
    Number("recall", ("prdc", "recall"), unit="", format=".3f", better="higher",
           comparable=SAME, assumed=BEFORE_FEATURES),
    Number("density", ("prdc", "density"), unit="", format=".3f", better="higher",
           comparable=SAME, assumed=BEFORE_FEATURES, level=DETAIL),
    Number("coverage", ("prdc", "coverage"), unit="", format=".3f", better="higher",
           comparable=SAME, assumed=BEFORE_FEATURES, level=DETAIL),
)


@register("prdc", key="prdc", cheap=False, min_images=K_DENSITY_COVERAGE + 1,
          min_classes=classes_needed,
          help="precision and recall (Kynkäänniemi et al. 2019, k=3), density and coverage "
               "(Naeem et al. 2020, k=5) of prior samples, on FID's feature network "
               "(--fid-features)",
          title="precision, recall, density, coverage", numbers=NUMBERS)
def gather(model: VAE, data: PreparedData, *, seed: int = 0, split: str = "test",
           n_samples: int = 10000, batch_size: int = 2000, progress: bool = False,
           features: str = DEFAULT_FEATURES, inception_weights: str | None = None,
           network: tuple[nn.Module, dict[str, Any]] | None = None) -> dict:
    """``n_samples`` prior samples against as many images of the split (all, when fewer).
    ``features``: the feature network's name (metrics/features.py); ``network``: (module
    with ``embed`` and ``num_features``, info) to use instead (tests)."""
    check_positive("n_samples", n_samples)
    if n_samples <= K_DENSITY_COVERAGE:
        raise VaelabError(f"prdc needs more than {K_DENSITY_COVERAGE} samples (its k-NN "
                          f"radii use k = {K_DENSITY_COVERAGE}), got {n_samples}")
    scored = scored_split(data, split)
    reference = {"test": data.test, "val": data.val}[split].x
    generator = torch.Generator().manual_seed(seed)
    pick = torch.randperm(len(reference), generator=generator)[:n_samples]
    reference = reference.index_select(0, pick.to(reference.device))
    device = reference.device
    net, info = network or load_feature_network(features, data, model.config.data, device,
                                               progress=progress, weights=inception_weights)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), progress_bar("precision/recall", 2, enabled=progress) as advance:
            real = torch.cat([net.embed(reference[i:i + batch_size]).cpu()
                              for i in range(0, len(reference), batch_size)])
            # Batch by batch: only one decoded batch is held at a time (metrics/fid.py).
            fake = torch.cat([net.embed(batch).cpu() for batch in _generate(
                model, n_samples, batch_size, torch.Generator(device=device).manual_seed(seed))])
            advance(1)
            scores = prdc(real, fake)
            advance(1)
    finally:
        model.train(was_training)
    return {
        **provenance(data, scored, seed),
        "estimator": (f"k-NN manifolds of {feature_label(net, info)}: "
                      f"{len(reference)} {split} images vs {n_samples} decoder means of prior "
                      f"samples; precision/recall k = {K_PRECISION_RECALL}, density/coverage "
                      f"k = {K_DENSITY_COVERAGE}"),
        "features": info.get("name", features),
        "feature_network": {key: info.get(key) for key in ("dataset", "architecture", "key")},
        "samples": n_samples,
        "reference_images": len(reference),
        "k_precision_recall": K_PRECISION_RECALL,
        "k_density_coverage": K_DENSITY_COVERAGE,
        **scores,
    }
