"""Feature networks of the sample-quality metrics (fid, prdc): one registry, one loader.

- ``classifier`` (the default): vaelab's small per-dataset classifier (vaelab/classifier.py),
  128 features; trained once per dataset, so it works offline on any labelled data, but
  its numbers are comparable within vaelab only.
- ``inception``: the standard FID network (vaelab/inception.py), 2048 pool3 features of
  the TF graph's weights, read from a local file; its FIDs are comparable with published
  ones computed the same way (10 000 or 50 000 samples, as the paper states).

A loader returns (module with ``embed``, ``out`` and ``num_features``, info). ``info``
says what the numbers are: ``label`` goes into the estimator text, ``id`` is stored with
the numbers so that `vaelab compare` never ranks FIDs of two feature networks together.
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


@dataclass(frozen=True)
class FeatureNetwork:
    name: str
    help: str
    # (data, run's data config, device, progress, weights file or None) → (module, info)
    load: Callable[..., tuple[nn.Module, dict[str, Any]]]
    takes_weights: bool = False  # reads --inception-weights


FEATURE_NETWORKS: Registry[FeatureNetwork] = Registry("feature network")


def _classifier(data: PreparedData, data_cfg: Any, device: torch.device, progress: bool,
                weights: str | None) -> tuple[nn.Module, dict[str, Any]]:
    from vaelab.classifier import load_or_train_classifier

    net, info = load_or_train_classifier(data.dataset, data_cfg, device, progress)
    return net, {**info, "id": f"classifier {info.get('architecture')} {info.get('key')}",
                 "label": (f"vaelab's domain-classifier features ({net.num_features}-d), NOT "
                           "Inception: comparable within vaelab only")}


def _inception(data: PreparedData, data_cfg: Any, device: torch.device, progress: bool,
               weights: str | None) -> tuple[nn.Module, dict[str, Any]]:
    from vaelab.classifier import cache_root
    from vaelab.inception import load_inception

    net, info = load_inception(weights, getattr(data_cfg, "data_dir", None), device,
                               image_shape=data.image_shape, progress=progress)
    # Reference statistics are cached per weights file and reference images.
    cache = cache_root() / "inception" / f"fid-inception-{info['key']}.safetensors"
    return net, {**info, "cache": str(cache), "id": f"inception-v3 {info['key']}",
                 "label": ("Inception-v3 pool3 features (2048-d, the TF FID graph's "
                           "weights, TF1 bilinear resize of 8-bit images to 299): the "
                           "standard FID, comparable with published numbers at the same "
                           "sample count")}


FEATURE_NETWORKS.register("classifier")(FeatureNetwork(
    "classifier", "vaelab's per-dataset classifier (offline; comparable within vaelab only)",
    _classifier))
FEATURE_NETWORKS.register("inception")(FeatureNetwork(
    "inception", "standard Inception-v3 FID weights from a local file (--inception-weights; "
                 "comparable with published FIDs)", _inception, takes_weights=True))


def load_feature_network(name: str, data: PreparedData, data_cfg: Any,
                         device: torch.device | str, *, progress: bool = False,
                         weights: str | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """The feature network ``name`` in eval mode on ``device``, with its info."""
    network = FEATURE_NETWORKS.get(name)
    if weights is not None and not network.takes_weights:
        raise VaelabError(f"--inception-weights is read by --fid-features inception only, "
                          f"not {name}; leave it out or add --fid-features inception")
    return network.load(data, data_cfg, torch.device(device), progress, weights)
