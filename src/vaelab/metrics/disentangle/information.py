"""Scores from the mutual information between discretised codes and factors: MIG
(Chen et al. 2018) and modularity (Ridgeway & Mozer 2018).

Estimator (as disentanglement_lib, not Chen et al.'s own): each code dimension's values
(posterior means) are cut into ``bins`` equal-width bins over their range (20 by default),
and I(z_j; v_k) is the plug-in mutual information of the discrete pairs
(``sklearn.metrics.mutual_info_score``, nats). Chen et al. instead estimate I from the full
posterior q(z|x) by Monte Carlo; the binned estimate is the one most published numbers use.
"""

from __future__ import annotations

import numpy as np


def discretize(codes: np.ndarray, bins: int) -> np.ndarray:
    """Each column of codes [N, Z] as bin numbers 0..bins-1 of equal-width bins over its
    own range (a constant column is all one bin)."""
    out = np.zeros(codes.shape, dtype=np.int64)
    for j in range(codes.shape[1]):
        edges = np.histogram_bin_edges(codes[:, j], bins=bins)
        out[:, j] = np.digitize(codes[:, j], edges[1:-1])  # interior edges: 0..bins-1
    return out


def mutual_information(discrete_codes: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """I(z_j; v_k) in nats, [Z, K], from discrete codes [N, Z] and factor classes [N, K]."""
    from sklearn.metrics import mutual_info_score

    mi = np.zeros((discrete_codes.shape[1], factors.shape[1]))
    for j in range(discrete_codes.shape[1]):
        for k in range(factors.shape[1]):
            mi[j, k] = mutual_info_score(factors[:, k], discrete_codes[:, j])
    return mi


def entropies(factors: np.ndarray) -> np.ndarray:
    """H(v_k) in nats of each factor's empirical distribution, [K]."""
    from sklearn.metrics import mutual_info_score

    return np.array([mutual_info_score(factors[:, k], factors[:, k])
                     for k in range(factors.shape[1])])


def mig(codes: np.ndarray, factors: np.ndarray, *, bins: int = 20) -> dict:
    """Mutual Information Gap, Chen et al. (2018) eq. (6):
    MIG = 1/K Σ_k (I(z_{j(1)}; v_k) − I(z_{j(2)}; v_k)) / H(v_k), where j(1), j(2) are
    the code dimensions with the largest and second largest information about v_k."""
    mi = mutual_information(discretize(codes, bins), factors)
    h = entropies(factors)
    top = np.sort(mi, axis=0)[::-1]  # [Z, K], descending per factor
    second = top[1] if len(top) > 1 else np.zeros(factors.shape[1])
    gaps = (top[0] - second) / h
    return {"score": float(gaps.mean()), "per_factor": gaps.tolist()}


def modularity(codes: np.ndarray, factors: np.ndarray, *, bins: int = 20) -> dict:
    """Modularity, Ridgeway & Mozer (2018) §3: for each code dimension j with
    θ_j = max_k I(z_j; v_k) > 0, δ_j = Σ_k (I_jk − t_jk)² / (θ_j² (K − 1)) with the ideal
    template t_jk = θ_j for the best factor and 0 elsewhere; modularity = mean_j (1 − δ_j).
    Dimensions with no information at all (θ_j = 0) have no best factor and are skipped."""
    mi = mutual_information(discretize(codes, bins), factors)
    k = mi.shape[1]
    scores = []
    for row in mi:
        theta = row.max()
        if theta <= 0 or k < 2:
            continue
        template = np.zeros(k)
        template[row.argmax()] = theta
        deviation = ((row - template) ** 2).sum() / (theta ** 2 * (k - 1))
        scores.append(1.0 - deviation)
    return {"score": float(np.mean(scores)) if scores else 0.0, "dimensions": len(scores)}
