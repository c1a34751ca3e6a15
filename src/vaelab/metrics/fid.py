"""Sample quality: FID of prior samples and of reconstructions, and an
Inception-Score-style score, on a chosen feature network (metrics/features.py).

FID (Heusel et al. 2017) is the Fréchet distance between Gaussians fitted to features of
real and generated images, ‖μ_r − μ_g‖² + Tr(Σ_r + Σ_g − 2(Σ_r Σ_g)^½). The distance
itself is torchmetrics' FrechetInceptionDistance (no hand-written matrix square root).
By default (``--fid-features classifier``) the features are NOT Inception's: they are the
128 penultimate activations of vaelab's small per-dataset classifier
(vaelab/classifier.py), comparable between vaelab runs on the same dataset only. With
``--fid-features inception`` they are the standard Inception-v3 pool3 features
(vaelab/inception.py, weights from a local file): the FID of the literature.

The score IS = exp(E_x KL(p(y|x) ‖ p(y))) (Salimans et al. 2016) uses the same network's
class probabilities: high when samples are confidently classified and cover the classes
evenly; at most the number of classes (1008 for Inception).

Generated images are decoder means (prior samples z ~ p(z) decoded; reconstructions:
decoder mean at the posterior mean), compared with the split's images as stored (grey
values, or binary under --binarize threshold / fixed). Reference statistics are cached next to
the feature network, keyed by the network and a hash of the reference images.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vaelab import rundir
from vaelab.data import PreparedData
from vaelab.metrics.base import check_positive, progress_bar, provenance, register, scored_split
from vaelab.metrics.features import (
    CLASSIFIER,
    DEFAULT_FEATURES,
    classes_needed,
    load_feature_network,
)
from vaelab.metrics.shown import DETAIL, DIAGNOSTIC, Number
from vaelab.model import VAE

IS_SPLITS = 10


@dataclass
class FeatureStats:
    """Streaming first and second moments of features: Σ f [F], Σ f fᵀ [F, F] (float64)
    and the count — the state torchmetrics' FID keeps."""

    total: torch.Tensor
    outer: torch.Tensor
    n: int

    @classmethod
    def empty(cls, dim: int) -> FeatureStats:
        return cls(torch.zeros(dim, dtype=torch.float64),
                   torch.zeros(dim, dim, dtype=torch.float64), 0)

    @classmethod
    def of(cls, features: torch.Tensor) -> FeatureStats:
        stats = cls.empty(features.shape[1])
        stats.add(features)
        return stats

    def add(self, features: torch.Tensor) -> None:
        f = features.detach().double().cpu()
        self.total += f.sum(0)
        self.outer += f.T @ f
        self.n += f.shape[0]


class _Identity(nn.Module):
    """A feature 'network' that passes precomputed features through."""

    def __init__(self, dim: int):
        super().__init__()
        self.num_features = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def _fid(real: FeatureStats, fake: FeatureStats) -> float:
    """Fréchet distance between the Gaussians of two feature sets, by torchmetrics."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    if real.n < 2 or fake.n < 2:
        raise ValueError("FID needs at least 2 images on each side")
    metric = FrechetInceptionDistance(feature=_Identity(real.total.shape[0]),
                                      reset_real_features=False)
    metric.real_features_sum = real.total.clone()
    metric.real_features_cov_sum = real.outer.clone()
    metric.real_features_num_samples = torch.tensor(real.n)
    metric.fake_features_sum = fake.total.clone()
    metric.fake_features_cov_sum = fake.outer.clone()
    metric.fake_features_num_samples = torch.tensor(fake.n)
    metric.orig_dtype = torch.float64
    with warnings.catch_warnings():  # the state was set directly, not through update()
        warnings.filterwarnings("ignore", message=".*before the ``update``")
        value = float(metric.compute())
    return max(0.0, value)  # tiny negative values are round-off


def _inception_score(logits: torch.Tensor, splits: int = IS_SPLITS) -> tuple[float, float]:
    """exp(E_x KL(p(y|x) ‖ p(y))) over ``splits`` consecutive parts: (mean, std)."""
    log_p = torch.log_softmax(logits.double(), dim=1)  # [N, C]
    scores = []
    for part in torch.tensor_split(log_p, min(splits, log_p.shape[0])):
        log_marginal = torch.logsumexp(part, 0) - math.log(part.shape[0])  # log p(y)
        kl = (part.exp() * (part - log_marginal)).sum(1).mean()
        scores.append(float(torch.exp(kl)))
    values = torch.tensor(scores, dtype=torch.float64)
    return float(values.mean()), float(values.std()) if len(scores) > 1 else 0.0


@torch.no_grad()
def _features(classifier: nn.Module, batches: Iterable[torch.Tensor], n: int
              ) -> tuple[FeatureStats, torch.Tensor]:
    """Feature moments and logits [n, C] of n images in [0, 1] that arrive in ``batches``
    of [b, D]: each batch is featurised and dropped, so the images are never all held at
    once; the logits fill a buffer allocated at the first batch (vaelab/memory.py)."""
    stats = FeatureStats.empty(classifier.num_features)
    logits = None
    done = 0
    for images in batches:
        feats = classifier.embed(images)
        stats.add(feats)
        out = classifier.out(feats)
        if logits is None:
            logits = torch.empty((n, out.shape[1]), dtype=out.dtype)
        logits[done:done + out.shape[0]] = out.cpu()
        done += out.shape[0]
        del images, feats, out
    return stats, logits[:done]


def _in_batches(images: torch.Tensor, batch_size: int) -> Iterator[torch.Tensor]:
    for start in range(0, images.shape[0], batch_size):
        yield images[start:start + batch_size]


def _reference(classifier: nn.Module, info: dict, images: torch.Tensor, batch_size: int
               ) -> tuple[FeatureStats, tuple[float, float]]:
    """Feature statistics and score of the reference images, cached beside the classifier
    (when it has a cache file)."""
    digest = hashlib.sha256()  # chunk by chunk: no uint8 copy of all the images at once
    digest.update(repr(tuple(images.shape)).encode())
    for part in _in_batches(images, batch_size):
        digest.update((part * 255).round().to(torch.uint8).cpu().numpy().tobytes())
    cache = info.get("cache")
    path = (Path(cache).with_name(f"{Path(cache).stem}-ref-{digest.hexdigest()[:16]}"
                                  ".safetensors") if cache else None)
    if path is not None and path.is_file():
        tensors, meta = rundir.load_checkpoint(path)
        return (FeatureStats(tensors["total"], tensors["outer"], int(meta["n"])),
                tuple(meta["inception_score"]))
    stats, logits = _features(classifier, _in_batches(images, batch_size), images.shape[0])
    score = _inception_score(logits)
    if path is not None:
        rundir.save_checkpoint(path, {"total": stats.total, "outer": stats.outer},
                               {"n": stats.n, "inception_score": list(score)})
    return stats, score


@torch.no_grad()
def _generate(model: VAE, n: int, batch_size: int, generator: torch.Generator,
              sampler: Any = None) -> Iterator[torch.Tensor]:
    """Decoder means of n latent samples (the prior's, or ``sampler``'s: vaelab/samplers),
    flattened [b, D] batch by batch, clamped to [0, 1]."""
    draw = model.prior.sample if sampler is None else sampler.sample
    for start in range(0, n, batch_size):
        z = draw(min(batch_size, n - start), generator=generator)
        yield model.likelihood.mean(model.decoder_params(z)).clamp(0, 1)


@torch.no_grad()
def _reconstruct(model: VAE, x: torch.Tensor, batch_size: int) -> Iterator[torch.Tensor]:
    for start in range(0, x.shape[0], batch_size):
        yield model.likelihood.mean(model.decoder_params(model.posterior(
            x[start:start + batch_size]).mean)).clamp(0, 1)


SAME_SAMPLES = ("samples", "images", "sampler", "features")
# Scored before --fid-features existed: on the domain classifier, whatever the default
# network is now.
BEFORE_FEATURES = (("features", CLASSIFIER),)
NUMBERS = (
    Number("FID samples", ("fid", "fid_samples"), unit="", better="lower", short="FID",
           comparable=SAME_SAMPLES, assumed=BEFORE_FEATURES,
           estimator_note="{samples} samples from {sampler} against {reference_images} "
                          "{split} images"),
    Number("FID reconstructions", ("fid", "fid_reconstructions"), unit="", better="lower",
           short="FID rec", comparable=SAME_SAMPLES, assumed=BEFORE_FEATURES,
           estimator_note="reconstructions of the {images} {split} images"),
    Number("IS samples", ("fid", "inception_score"), unit="", better="higher", short="IS",
           comparable=SAME_SAMPLES, assumed=BEFORE_FEATURES, spread="inception_score_std",
           estimator=("fid", "inception_score_estimator"), estimator_note="{samples} samples"),
    Number("IS test set", ("fid", "inception_score_reference"), unit="", level=DETAIL,
           short="IS data", estimator=("fid", "inception_score_estimator"),
           estimator_note="{reference_images} images"),
    Number("classifier accuracy", ("fid", "feature_network", "test_accuracy"), unit="",
           format=".2%", level=DIAGNOSTIC, short="clf. acc", estimator=("fid", "estimator")),
)


@register("fid", key="fid", cheap=False, min_images=2, min_classes=classes_needed,
          help="FID of prior samples and of reconstructions, and an Inception-style score, "
               "on vaelab's domain classifier (default) or Inception-v3 (--fid-features, "
               "--fid-samples)",
          title="sample quality (FID, IS)", numbers=NUMBERS)
def gather(model: VAE, data: PreparedData, *, seed: int = 0, split: str = "test",
           n_samples: int = 10000, batch_size: int = 2000, progress: bool = False,
           features: str = DEFAULT_FEATURES, inception_weights: str | None = None,
           network: tuple[nn.Module, dict[str, Any]] | None = None,
           sampler: Any = None) -> dict:
    """``features``: the feature network's name (metrics/features.py); ``network``:
    (module with ``embed``/``out``/``num_features``, info) to use instead (tests).
    ``sampler``: a fitted latent sampler (vaelab.samplers.fitted_sampler) whose z the
    generated images decode; None: the prior."""
    check_positive("--fid-samples", n_samples)
    if n_samples < 2:
        from vaelab.errors import VaelabError

        raise VaelabError("--fid-samples must be at least 2 (FID fits a covariance)")
    scored = scored_split(data, split)
    reference = {"test": data.test, "val": data.val}[split].x
    device = reference.device
    clf, info = network or load_feature_network(features, data, model.config.data, device,
                                               progress=progress, weights=inception_weights)
    was_training = model.training
    model.eval()
    try:
        with progress_bar("FID features", 3, enabled=progress) as advance:
            ref_stats, ref_score = _reference(clf, info, reference, batch_size)
            advance(1)
            generator = torch.Generator(device=device).manual_seed(seed)
            sample_stats, sample_logits = _features(
                clf, _generate(model, n_samples, batch_size, generator, sampler), n_samples)
            advance(1)
            recon_stats, _ = _features(clf, _reconstruct(model, scored.x, batch_size),
                                       len(scored))
            advance(1)
    finally:
        model.train(was_training)
    score = _inception_score(sample_logits)
    counts = torch.bincount(sample_logits.argmax(1), minlength=sample_logits.shape[1])
    return {
        **provenance(data, scored, seed),
        "estimator": (f"Fréchet distance (torchmetrics) of {feature_label(clf, info)}; "
                      "generated images are decoder means"),
        "features": info.get("name", features),
        "feature_network": {key: info.get(key) for key in
                            ("dataset", "architecture", "key", "test_accuracy", "epochs")},
        "reference_images": ref_stats.n,
        "samples": n_samples,
        "sampler": (f"the {model.config.prior.name} prior" if sampler is None
                    else sampler.describe()),
        "fid_samples": _fid(ref_stats, sample_stats),
        "fid_reconstructions": _fid(ref_stats, recon_stats),
        "inception_score_estimator": (
            f"Inception-style score exp(E_x KL(p(y|x) ‖ p(y))) of the class probabilities of "
            f"{feature_label(clf, info)}, mean ± std over {IS_SPLITS} parts (Salimans et al. "
            "2016)"),
        "inception_score": score[0],
        "inception_score_std": score[1],
        "inception_score_reference": ref_score[0],
        # Over the data set's own classes (Inception's 1008 ImageNet classes say little).
        **({"sample_class_fractions": (counts.double() / counts.sum()).tolist()}
           if info.get("dataset_classes", True) else {}),
    }


def feature_label(net: nn.Module, info: dict[str, Any]) -> str:
    """What the features are, for estimator texts (fid, prdc)."""
    return info.get("label") or f"{net.num_features}-d features of the given network"
