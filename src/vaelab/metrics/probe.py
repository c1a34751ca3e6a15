"""Latent usefulness: a linear probe and k-means cluster purity on posterior means.

Linear probe: multinomial logistic regression (scikit-learn, L2, standardised inputs)
fitted on the training split's posterior means and scored on the evaluated split; the
score to beat is the majority-class rate. Cluster purity: k-means with as many clusters
as classes on the evaluated split's posterior means; purity = fraction of images whose
cluster's majority label is their own (Manning et al. 2008, §16.3).
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from vaelab.data import PreparedData
from vaelab.metrics.base import (
    check_positive,
    posterior_moments,
    provenance,
    register,
    require_labels,
    scored_split,
)
from vaelab.metrics.shown import DETAIL, Number
from vaelab.model import VAE


def _probe_accuracy(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray,
                    test_y: np.ndarray, *, seed: int = 0, max_iter: int = 500) -> float:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=max_iter,
                                                               random_state=seed))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        probe.fit(train_x, train_y)
    return float((probe.predict(test_x) == test_y).mean())


def _cluster_purity(x: np.ndarray, y: np.ndarray, n_clusters: int, *, seed: int = 0) -> float:
    from sklearn.cluster import KMeans

    clusters = KMeans(n_clusters=n_clusters, n_init=4, random_state=seed).fit_predict(x)
    majority = sum(np.bincount(y[clusters == c]).max() for c in np.unique(clusters))
    return float(majority / len(y))


def _chance(train_y: np.ndarray, test_y: np.ndarray) -> float:
    """Accuracy of always predicting the training split's most frequent class."""
    return float((test_y == np.bincount(train_y).argmax()).mean())


SAME_FIT = ("train_images", "images")
NUMBERS = (
    Number("linear probe accuracy", ("probe", "accuracy"), unit="", format=".1%",
           better="higher", short="probe", comparable=SAME_FIT),
    Number("chance", ("probe", "chance"), unit="", format=".1%", level=DETAIL),
    Number("k-means purity", ("probe", "kmeans_purity"), unit="", format=".1%",
           better="higher", level=DETAIL, short="purity", comparable=SAME_FIT),
)


@register("probe", key="probe", cheap=True, needs_labels=True, min_classes=2,
          help="linear-probe accuracy and k-means purity of the posterior means",
          title="latent usefulness", numbers=NUMBERS)
def gather(model: VAE, data: PreparedData, *, seed: int = 0, split: str = "test",
           batch_size: int = 2000, max_train: int = 20000, progress: bool = False) -> dict:
    """``max_train``: fit the probe on at most this many (seeded random) training images."""
    check_positive("max_train", max_train)
    scored = scored_split(data, split)
    test_y = require_labels(scored, "probe")
    train = data.eval_split("train")
    train_y = require_labels(train, "probe")
    pick = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))[:max_train]
    pick = pick.to(train.x.device)
    was_training = model.training
    model.eval()
    try:
        train_means, _ = posterior_moments(model, train.x[pick], batch_size)
        test_means, _ = posterior_moments(model, scored.x, batch_size)
    finally:
        model.train(was_training)
    tr_x, te_x = train_means.cpu().double().numpy(), test_means.cpu().double().numpy()
    # Labels are class names, not necessarily 0..K-1 (a CSV may say 3, 7, 1000): code them
    # 0..K-1 so that counting (bincount) and the cluster count follow the classes present.
    _, codes = np.unique(np.concatenate([train_y[pick].cpu().numpy(), test_y.cpu().numpy()]),
                         return_inverse=True)
    tr_y, te_y = codes[:len(pick)], codes[len(pick):]
    n_classes = len(np.unique(codes))
    # k-means cannot make more clusters than there are images to cluster.
    n_clusters = min(n_classes, len(te_y))
    return {
        **provenance(data, scored, seed),
        "estimator": (f"logistic regression on posterior means of {len(tr_y)} training images "
                      f"(standardised, L2), scored on {split}; k-means purity with "
                      f"{n_clusters} clusters on {split}"),
        "train_images": len(tr_y),
        "accuracy": _probe_accuracy(tr_x, tr_y, te_x, te_y, seed=seed),
        "chance": _chance(tr_y, te_y),
        "kmeans_purity": _cluster_purity(te_x, te_y, n_clusters, seed=seed),
    }
