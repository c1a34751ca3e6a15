"""Scores from predicting each factor from the codes: SAP (Kumar et al. 2018, §3,
"Separated Attribute Predictability") and explicitness (Ridgeway & Mozer 2018, §3).
Both fit on one set of images (the training split) and score another (the scored split).
"""

from __future__ import annotations

import warnings

import numpy as np


def sap(train_codes: np.ndarray, train_factors: np.ndarray, test_codes: np.ndarray,
        test_factors: np.ndarray, *, seed: int = 0) -> dict:
    """SAP = 1/K Σ_k (S_(1)k − S_(2)k), the gap between the two code dimensions that
    predict factor k best. Kumar et al. score a categorical factor by the balanced accuracy
    of threshold classifiers on one code dimension: here a decision tree on z_j alone with
    at most as many leaves as v_k has classes (so the thresholds can isolate every class;
    disentanglement_lib's linear SVM cannot separate a middle class of an ordered factor),
    and balanced accuracy adjusted for chance (sklearn, adjusted=True: chance = 0, perfect =
    1, clipped at 0), so that a perfect code scores 1 whatever the number of classes and
    worse-than-chance noise does not widen the gap."""
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.tree import DecisionTreeClassifier

    n_codes, n_factors = train_codes.shape[1], train_factors.shape[1]
    score = np.zeros((n_codes, n_factors))
    for j in range(n_codes):
        for k in range(n_factors):
            classes = len(np.unique(train_factors[:, k]))
            tree = DecisionTreeClassifier(max_leaf_nodes=max(classes, 2), random_state=seed)
            tree.fit(train_codes[:, j:j + 1], train_factors[:, k])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # classes missing from a small test split
                score[j, k] = max(0.0, balanced_accuracy_score(
                    test_factors[:, k], tree.predict(test_codes[:, j:j + 1]), adjusted=True))
    top = np.sort(score, axis=0)[::-1]
    second = top[1] if n_codes > 1 else np.zeros(n_factors)
    return {"score": float((top[0] - second).mean()), "per_factor": (top[0] - second).tolist()}


def explicitness(train_codes: np.ndarray, train_factors: np.ndarray, test_codes: np.ndarray,
                 test_factors: np.ndarray) -> dict:
    """Explicitness: for each factor a one-vs-rest logistic regression on all codes
    (standardised with the training codes' moments); for each class, the AUC-ROC of its
    score on the test images; explicitness = the mean AUC over the classes of a factor,
    averaged over factors (0.5 = chance, 1 = every class linearly separable)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.multiclass import OneVsRestClassifier

    mean, std = train_codes.mean(0), train_codes.std(0) + 1e-12
    train_x, test_x = (train_codes - mean) / std, (test_codes - mean) / std
    per_factor = []
    for k in range(train_factors.shape[1]):
        model = OneVsRestClassifier(LogisticRegression(max_iter=1000))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(train_x, train_factors[:, k])
        scores = model.decision_function(test_x)
        if scores.ndim == 1:  # two classes: one score column, for the larger class
            scores = np.stack([-scores, scores], axis=1)
        aucs = []
        for column, label in enumerate(model.classes_):
            positive = test_factors[:, k] == label
            if positive.any() and not positive.all():
                aucs.append(roc_auc_score(positive, scores[:, column]))
        per_factor.append(float(np.mean(aucs)) if aucs else 0.5)
    return {"score": float(np.mean(per_factor)), "per_factor": per_factor}
