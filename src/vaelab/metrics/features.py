"""Feature networks of the sample-quality metrics (fid, prdc): one registry, one loader.

- ``classifier`` (the default): vaelab's small per-dataset classifier (vaelab/classifier.py),
  128 features; trained once per dataset, so it works offline on any labelled data, but
  its numbers are comparable within vaelab only.
- ``inception``: the standard FID network (vaelab/inception.py), 2048 pool3 features of
  the TF graph's weights, read from a local file; its FIDs are comparable with published
  ones computed the same way (10 000 or 50 000 samples, as the paper states). It needs
  no labels.

``prepare_feature_network`` finds (and checks) what a network needs before any metric
runs, so a missing weights file is one line before minutes of other work. A loader
returns (module with ``embed``, ``out`` and ``num_features``, info); ``info["label"]``
goes into the estimator text. The network's name is stored with the numbers
(``features``), so that `vaelab compare` never ranks FIDs of two networks together.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from vaelab.data import PreparedData
from vaelab.errors import VaelabError
from vaelab.registry import Registry

CLASSIFIER = "classifier"  # the domain classifier's registry name
DEFAULT_FEATURES = CLASSIFIER


@dataclass(frozen=True)
class FeatureNetwork:
    name: str
    help: str
    # (data, run's data config, device, progress, weights file or None) → (module, info)
    load: Callable[..., tuple[nn.Module, dict[str, Any]]]
    fid_name: str  # how findings and texts name its FID
    score_name: str  # ... and its Inception-style score
    min_classes: int = 0  # distinct training classes it needs (the classifier is trained)
    dataset_classes: bool = False  # its outputs are the data set's classes
    # (weights given or None, data_dir, progress) → the weights to load, found and checked
    prepare: Callable[[str | None, Any, bool], str | None] | None = None

    @property
    def takes_weights(self) -> bool:  # reads --inception-weights
        return self.prepare is not None


FEATURE_NETWORKS: Registry[FeatureNetwork] = Registry("feature network")


def _classifier(data: PreparedData, data_cfg: Any, device: torch.device, progress: bool,
                weights: str | None) -> tuple[nn.Module, dict[str, Any]]:
    from vaelab.classifier import load_or_train_classifier

    net, info = load_or_train_classifier(data.dataset, data_cfg, device, progress)
    return net, {**info, "label": (f"vaelab's domain-classifier features "
                                   f"({net.num_features}-d), NOT Inception: comparable "
                                   "within vaelab only")}


def _inception(data: PreparedData, data_cfg: Any, device: torch.device, progress: bool,
               weights: str | None) -> tuple[nn.Module, dict[str, Any]]:
    from vaelab.classifier import cache_root
    from vaelab.inception import load_inception

    net, info = load_inception(weights, getattr(data_cfg, "data_dir", None), device,
                               image_shape=data.image_shape, progress=progress)
    # Reference statistics are cached per weights file and reference images.
    cache = cache_root() / "inception" / f"fid-inception-{info['key']}.safetensors"
    return net, {**info, "cache": str(cache),
                 "label": ("Inception-v3 pool3 features (2048-d, the TF FID graph's "
                           "weights, TF1 bilinear resize of 8-bit images to 299): the "
                           "standard FID, comparable with published numbers at the same "
                           "sample count")}


def _inception_weights(weights: str | None, data_dir: Any, progress: bool) -> str:
    from vaelab.inception import checked_weights

    return str(checked_weights(weights, data_dir, progress=progress))


FEATURE_NETWORKS.register(CLASSIFIER)(FeatureNetwork(
    CLASSIFIER, "vaelab's per-dataset classifier (offline; comparable within vaelab only)",
    _classifier, fid_name="domain-classifier FID",
    score_name="Inception-style score with the domain classifier", min_classes=2,
    dataset_classes=True))
FEATURE_NETWORKS.register("inception")(FeatureNetwork(
    "inception", "standard Inception-v3 FID weights from a local file (--inception-weights; "
                 "comparable with published FIDs)", _inception, fid_name="Inception FID",
    score_name="Inception Score", prepare=_inception_weights))


def classes_needed(options: dict[str, Any]) -> int:
    """Distinct training classes fid and prdc need with these options (their feature
    network's ``min_classes``): the classifier is trained on labels, Inception is not."""
    return FEATURE_NETWORKS.get(options.get("features", DEFAULT_FEATURES)).min_classes


def prepare_feature_network(name: str, data_dir: Any = None, *, weights: str | None = None,
                            progress: bool = True) -> str | None:
    """Check ``name`` and find what it needs before any metric runs; returns the weights
    file to pass to the metrics (None: the network needs none)."""
    network = FEATURE_NETWORKS.get(name)
    if network.prepare is None:
        if weights is not None:
            raise VaelabError(f"--inception-weights is read by --fid-features inception "
                              f"only, not {name}; leave it out or add --fid-features "
                              "inception")
        return None
    return network.prepare(weights, data_dir, progress)


def load_feature_network(name: str, data: PreparedData, data_cfg: Any,
                         device: torch.device | str, *, progress: bool = False,
                         weights: str | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """The feature network ``name`` in eval mode on ``device``, with its info (``name``
    and ``dataset_classes`` included)."""
    network = FEATURE_NETWORKS.get(name)
    if weights is not None and not network.takes_weights:
        prepare_feature_network(name, weights=weights)  # the one-line refusal
    net, info = network.load(data, data_cfg, torch.device(device), progress, weights)
    return net, {**info, "name": name, "dataset_classes": network.dataset_classes}
