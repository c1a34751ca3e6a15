"""DCI: disentanglement, completeness and informativeness (Eastwood & Williams 2018).

An importance matrix R [Z, K] says how much code dimension j is used to predict factor k.
Two estimators:
  lasso  (default; the paper's linear estimator) sklearn Lasso(alpha=0.05) of the
         standardised factor class index on the standardised codes; R[:, k] = |weights|;
         informativeness = mean test R² over factors. Fast, linear only; on pure noise
         every weight is 0 and D = C = 0 (nothing predicts anything).
  gbt    (disentanglement_lib's) sklearn GradientBoostingClassifier with default
         settings (100 trees of depth 3) per factor; R[:, k] = its impurity feature
         importances; informativeness = mean test accuracy. Slow: one tree per class and
         stage (shapes: 31 classes, 2000 points, 5 codes: 20-55 s on one shared core).
(A random forest, the paper's other estimator, scored the factors themselves only 0.8:
its random feature subsets spread importance over unrelated codes.)
Eq. (1) disentanglement D_j = 1 − H_K(P_j.), P_jk = R_jk / Σ_k R_jk, weighted by
ρ_j = Σ_k R_jk / Σ R; eq. (2) completeness C_k = 1 − H_Z(P̃_.k), P̃_jk = R_jk / Σ_j R_jk,
weighted by each factor's share of R (as disentanglement_lib); entropies in base K and Z.
"""

from __future__ import annotations

import numpy as np

ESTIMATORS = ("lasso", "gbt")
LASSO_ALPHA = 0.05


def importance_matrix(train_codes: np.ndarray, train_factors: np.ndarray,
                      test_codes: np.ndarray, test_factors: np.ndarray, *, estimator: str,
                      seed: int = 0) -> tuple[np.ndarray, float]:
    """(R [Z, K], informativeness)."""
    n_codes, n_factors = train_codes.shape[1], train_factors.shape[1]
    importance = np.zeros((n_codes, n_factors))
    informativeness = []
    for k in range(n_factors):
        if estimator == "gbt":
            from sklearn.ensemble import GradientBoostingClassifier

            model = GradientBoostingClassifier(random_state=seed)
            model.fit(train_codes, train_factors[:, k])
            importance[:, k] = np.abs(model.feature_importances_)
            informativeness.append(float((model.predict(test_codes)
                                          == test_factors[:, k]).mean()))
        elif estimator == "lasso":
            from sklearn.linear_model import Lasso

            mean, std = train_codes.mean(0), train_codes.std(0) + 1e-12
            target_mean = train_factors[:, k].mean()
            target_std = train_factors[:, k].std() + 1e-12
            model = Lasso(alpha=LASSO_ALPHA)
            model.fit((train_codes - mean) / std, (train_factors[:, k] - target_mean)
                      / target_std)
            importance[:, k] = np.abs(model.coef_)
            informativeness.append(float(model.score(
                (test_codes - mean) / std, (test_factors[:, k] - target_mean) / target_std)))
        else:
            raise ValueError(f"unknown DCI estimator {estimator!r}; one of {ESTIMATORS}")
    return importance, float(np.mean(informativeness))


def _entropy_rows(p: np.ndarray, base: int) -> np.ndarray:
    """Entropy of each row of a row-stochastic matrix, in base ``base``."""
    logs = np.log(np.where(p > 0, p, 1.0))
    return -(p * logs).sum(axis=1) / np.log(base)


def scores_from_importance(importance: np.ndarray) -> tuple[float, float]:
    """(disentanglement, completeness) of an importance matrix R [Z, K], eqs. (1)-(2)."""
    total = importance.sum()
    n_codes, n_factors = importance.shape
    if total <= 0:
        return 0.0, 0.0  # nothing predicts anything: neither disentangled nor complete
    code_use = importance.sum(axis=1)
    used = code_use > 0
    d = (1.0 - _entropy_rows(importance[used] / code_use[used, None], max(n_factors, 2))
         if n_factors > 1 else np.ones(used.sum()))
    disentanglement = float((d * code_use[used] / total).sum())
    factor_use = importance.sum(axis=0)
    covered = factor_use > 0
    c = (1.0 - _entropy_rows((importance[:, covered] / factor_use[covered]).T, n_codes)
         if n_codes > 1 else np.ones(covered.sum()))
    completeness = float((c * factor_use[covered] / total).sum())
    return disentanglement, completeness


def dci(train_codes: np.ndarray, train_factors: np.ndarray, test_codes: np.ndarray,
        test_factors: np.ndarray, *, estimator: str = "lasso", seed: int = 0) -> dict:
    importance, informativeness = importance_matrix(
        train_codes, train_factors, test_codes, test_factors, estimator=estimator, seed=seed)
    disentanglement, completeness = scores_from_importance(importance)
    return {"disentanglement": disentanglement, "completeness": completeness,
            "informativeness": informativeness, "importance": importance.tolist()}
