"""The two scores that fix one factor and look at the codes: the BetaVAE score (Higgins
et al. 2017, §3 and appendix A.4) and the FactorVAE score (Kim & Mnih 2018, §4).

Both papers sample images from the data generator with one factor held fixed. vaelab
scores a run's own split instead, so "sample images with v_k = c" means drawing (with
replacement) among the split's images whose factor k has class c: the generator's
conditional distribution on a complete factor grid (dSprites, shapes), its empirical
counterpart on a random part of it (a held-out split). Defaults follow
disentanglement_lib: groups of 64, 10000 training and 5000 evaluation points.
"""

from __future__ import annotations

import warnings

import numpy as np


class _SameFactor:
    """Draws images sharing the class of one factor: for factor k, the images sorted by
    that class, with each class's start and count."""

    def __init__(self, factors: np.ndarray):
        self.order, self.start, self.count = [], [], []
        for k in range(factors.shape[1]):
            order = np.argsort(factors[:, k], kind="stable")
            classes, start, count = np.unique(factors[order, k], return_index=True,
                                              return_counts=True)
            lookup_start = np.zeros(classes.max() + 1, dtype=np.int64)
            lookup_count = np.zeros(classes.max() + 1, dtype=np.int64)
            lookup_start[classes], lookup_count[classes] = start, count
            self.order.append(order)
            self.start.append(lookup_start)
            self.count.append(lookup_count)

    def draw(self, k: int, classes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Indices of images whose factor k has the given classes (any shape)."""
        offset = np.floor(rng.random(classes.shape) * self.count[k][classes]).astype(np.int64)
        return self.order[k][self.start[k][classes] + offset]


def beta_vae_score(codes: np.ndarray, factors: np.ndarray, *, rng: np.random.Generator,
                   n_train: int = 10000, n_eval: int = 5000, group: int = 64) -> dict:
    """Higgins et al. (2017): a point is z_diff = 1/L Σ_l |z(x_1,l) − z(x_2,l)| over L
    pairs that share factor k (k uniform), labelled k; the score is the test accuracy of a
    linear classifier (logistic regression, as disentanglement_lib) predicting k."""
    from sklearn.linear_model import LogisticRegression

    same = _SameFactor(factors)

    def points(n: int) -> tuple[np.ndarray, np.ndarray]:
        ks = rng.integers(factors.shape[1], size=n)
        diffs = np.zeros((n, codes.shape[1]))
        for k in range(factors.shape[1]):
            rows = np.flatnonzero(ks == k)
            first = rng.integers(len(codes), size=(len(rows), group))
            second = same.draw(k, factors[first, k], rng)
            diffs[rows] = np.abs(codes[first] - codes[second]).mean(axis=1)
        return diffs, ks

    train_x, train_y = points(n_train)
    eval_x, eval_y = points(n_eval)
    # Standardised inputs: the same linear classifier, but lbfgs converges in a few dozen
    # iterations instead of thousands on raw |Δz| scales.
    mean, std = train_x.mean(0), train_x.std(0) + 1e-12
    train_x, eval_x = (train_x - mean) / std, (eval_x - mean) / std
    classifier = LogisticRegression(max_iter=500)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence warnings on separable toy codes
        classifier.fit(train_x, train_y)
    return {"score": float((classifier.predict(eval_x) == eval_y).mean()),
            "train_accuracy": float((classifier.predict(train_x) == train_y).mean())}


def factor_vae_score(codes: np.ndarray, factors: np.ndarray, *, rng: np.random.Generator,
                     n_train: int = 10000, n_eval: int = 5000, group: int = 64,
                     n_variance: int = 10000, collapsed_std: float = 0.05) -> dict:
    """Kim & Mnih (2018): divide each code dimension by its standard deviation over the
    data (n_variance images); dimensions whose std is below ``collapsed_std`` count as
    collapsed and are left out (disentanglement_lib keeps every non-constant dimension).
    A vote fixes factor k at the class of a random image, takes L images with that class
    and votes (argmin_j Var_l z_j / s_j, k). The classifier maps each dimension j to the
    factor with most training votes; the score is its accuracy on the evaluation votes."""
    scale = codes[rng.integers(len(codes), size=n_variance)].std(axis=0, ddof=1)
    active = np.flatnonzero(scale >= collapsed_std)
    if len(active) == 0:
        return {"score": 0.0, "train_accuracy": 0.0, "active_dimensions": 0}
    normalised = codes[:, active] / scale[active]
    same = _SameFactor(factors)

    def votes(n: int) -> np.ndarray:
        table = np.zeros((len(active), factors.shape[1]), dtype=np.int64)  # [Z_active, K]
        ks = rng.integers(factors.shape[1], size=n)
        for k in range(factors.shape[1]):
            m = int((ks == k).sum())
            anchors = rng.integers(len(codes), size=m)
            members = same.draw(k, np.repeat(factors[anchors, k][:, None], group, 1), rng)
            variances = normalised[members].var(axis=1, ddof=1)  # [m, Z_active]
            np.add.at(table, (variances.argmin(axis=1), k), 1)
        return table

    train, evaluation = votes(n_train), votes(n_eval)
    predicted = train.argmax(axis=1)  # the majority-vote classifier, one factor per dim
    return {"score": float(evaluation[np.arange(len(active)), predicted].sum() / n_eval),
            "train_accuracy": float(train.max(axis=1).sum() / n_train),
            "active_dimensions": int(len(active))}
