"""Disentanglement against ground-truth factors (data sets that have them: dsprites,
shapes): the BetaVAE and FactorVAE scores, MIG, SAP, DCI, modularity and explicitness,
each a pure core in ``metrics/disentangle/`` fed the run's posterior means (the point
codes every published implementation scores).

Which images: the scored split (test by default) for the scores that need no fitted
predictor (BetaVAE, FactorVAE, MIG, modularity) — up to ``score_points`` of it, seeded;
SAP, DCI and explicitness fit their predictors on up to ``fit_points`` seeded training
images and score them on the scored split, as the probe metric does. Defaults follow
disentanglement_lib (10000 points, 20 bins, groups of 64, 10000/5000 votes) where the
split is large enough; every dict states the numbers actually used. A factor with a single
class in either set carries no information and is left out (named in
``dropped_factors``).
"""

from __future__ import annotations

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from vaelab.data import PreparedData
from vaelab.errors import VaelabError
from vaelab.metrics import disentangle
from vaelab.metrics.base import (
    check_applicable,
    check_positive,
    posterior_moments,
    progress_bar,
    provenance,
    register,
    scored_split,
)
from vaelab.metrics.disentangle.dci import ESTIMATORS, LASSO_ALPHA
from vaelab.metrics.shown import DETAIL, Number
from vaelab.model import VAE

KEY = "disentanglement"


def _number(label: str, name: str, field: str, short: str, comparable: tuple[str, ...],
            level: str = "headline") -> Number:
    return Number(label, (KEY, name, field), unit="", format=".3f", better="higher",
                  short=short, comparable=comparable, level=level)


SCORED = ("points",)
FITTED = ("fit_points", "points")
NUMBERS = (
    _number("BetaVAE score", "beta_vae", "score", "BetaVAE",
            ("group", "train_points", "eval_points")),
    _number("FactorVAE score", "factor_vae", "score", "FactorVAE",
            ("group", "train_points", "eval_points")),
    _number("MIG", "mig", "score", "MIG", ("bins", "points")),
    _number("SAP", "sap", "score", "SAP", FITTED),
    _number("DCI disentanglement", "dci", "disentanglement", "DCI-D", (*FITTED, "model")),
    _number("DCI completeness", "dci", "completeness", "DCI-C", (*FITTED, "model"), DETAIL),
    _number("DCI informativeness", "dci", "informativeness", "DCI-I", (*FITTED, "model"),
            DETAIL),
    _number("modularity", "modularity", "score", "modularity", ("bins", "points")),
    _number("explicitness", "explicitness", "score", "explicit.", FITTED, DETAIL),
)


def _codes(model: VAE, x: torch.Tensor, pick: np.ndarray, batch_size: int) -> np.ndarray:
    index = torch.as_tensor(pick, device=x.device)
    means, _ = posterior_moments(model, x.index_select(0, index), batch_size)
    return means.double().cpu().numpy()


def disentanglement_scores(fit_codes: np.ndarray, fit_factors: np.ndarray,
                           codes: np.ndarray, factors: np.ndarray, *, seed: int, bins: int,
                           group: int, train_votes: int, eval_votes: int,
                           dci_estimator: str, advance=lambda n: None) -> dict:
    """All six scores of one representation (numpy in, a JSON-ready dict out): ``codes``
    and ``factors`` of the scored images, ``fit_codes``/``fit_factors`` of the images the
    predictors are fitted on."""
    rng = np.random.default_rng(seed)
    votes = {"group": group, "train_points": train_votes, "eval_points": eval_votes}
    fitted = {"fit_points": len(fit_codes), "points": len(codes)}
    out = {}
    out["beta_vae"] = {**disentangle.beta_vae_score(
        codes, factors, rng=rng, n_train=train_votes, n_eval=eval_votes, group=group),
        **votes, "estimator": "Higgins et al. 2017 §3: accuracy of logistic regression "
        f"predicting the fixed factor from mean |Δz| over {group} pairs; {train_votes} "
        f"training / {eval_votes} evaluation points"}
    advance(1)
    out["factor_vae"] = {**disentangle.factor_vae_score(
        codes, factors, rng=rng, n_train=train_votes, n_eval=eval_votes, group=group,
        n_variance=min(10000, len(codes))),
        **votes, "estimator": "Kim & Mnih 2018 §4: majority-vote accuracy of argmin_j "
        f"Var(z_j/s_j) over groups of {group} with one factor fixed; dims with s_j < 0.05 "
        f"left out; {train_votes} training / {eval_votes} evaluation votes"}
    advance(1)
    out["mig"] = {**disentangle.mig(codes, factors, bins=bins), "bins": bins,
                  "points": len(codes), "estimator": "Chen et al. 2018 eq. 6, mutual "
                  f"information of posterior means cut into {bins} equal-width bins "
                  "(plug-in, as disentanglement_lib)"}
    out["modularity"] = {**disentangle.modularity(codes, factors, bins=bins), "bins": bins,
                         "points": len(codes), "estimator": "Ridgeway & Mozer 2018 §3 on "
                         f"the same {bins}-bin mutual information as MIG"}
    advance(1)
    out["sap"] = {**disentangle.sap(fit_codes, fit_factors, codes, factors, seed=seed),
                  **fitted, "estimator": "Kumar et al. 2018 §3: gap of the two best "
                  "single-dimension threshold classifiers (decision tree, ≤ classes leaves), "
                  "chance-adjusted balanced accuracy"}
    advance(1)
    model = (f"lasso(alpha={LASSO_ALPHA})" if dci_estimator == "lasso"
             else "gradient boosting (sklearn defaults)")
    out["dci"] = {**disentangle.dci(fit_codes, fit_factors, codes, factors,
                                    estimator=dci_estimator, seed=seed),
                  **fitted, "model": model, "estimator": "Eastwood & Williams 2018 eqs. "
                  f"1-2, importance from {model}; informativeness: "
                  + ("test R²" if dci_estimator == "lasso" else "test accuracy")}
    advance(1)
    out["explicitness"] = {**disentangle.explicitness(fit_codes, fit_factors, codes, factors),
                           **fitted, "estimator": "Ridgeway & Mozer 2018 §3: mean one-vs-rest "
                           "AUC of logistic regression on all codes (0.5 = chance)"}
    advance(1)
    return out


@register(KEY, key=KEY, cheap=False, needs_factors=True, min_images=2,
          help="BetaVAE and FactorVAE scores, MIG, SAP, DCI, modularity and explicitness "
               "against the data set's ground-truth factors (dsprites, shapes)",
          title="disentanglement (ground-truth factors)", numbers=NUMBERS)
def gather(model: VAE, data: PreparedData, *, seed: int = 0, split: str = "test",
           batch_size: int = 2000, progress: bool = False, fit_points: int = 10000,
           score_points: int = 10000, bins: int = 20, group: int = 64,
           train_votes: int = 10000, eval_votes: int = 5000,
           dci_estimator: str = "lasso") -> dict:
    check_applicable(KEY, data, split)
    for name, value in (("fit_points", fit_points), ("score_points", score_points),
                        ("bins", bins), ("group", group), ("train_votes", train_votes),
                        ("eval_votes", eval_votes)):
        check_positive(name, value)
    if dci_estimator not in ESTIMATORS:
        raise VaelabError(f"dci_estimator {dci_estimator!r} is unknown; choose one of: "
                          f"{', '.join(ESTIMATORS)}")
    scored = scored_split(data, split)
    train = data.eval_split("train")
    rng = np.random.default_rng(seed)
    fit_pick = np.sort(rng.permutation(len(train))[:fit_points])
    score_pick = np.sort(rng.permutation(len(scored))[:score_points])
    fit_factors = train.factors.numpy()[fit_pick]
    factors = scored.factors.numpy()[score_pick]
    names = list(data.factor_names or [f"factor{k}" for k in range(factors.shape[1])])
    keep = [k for k in range(factors.shape[1])
            if len(np.unique(factors[:, k])) > 1 and len(np.unique(fit_factors[:, k])) > 1]
    if not keep:
        raise VaelabError(f"metric {KEY}: every factor is constant in the {split} split; "
                          "score a larger split (drop --subset)")
    was_training = model.training
    model.eval()
    try:
        with progress_bar("disentanglement", 7, enabled=progress) as advance:
            fit_codes = _codes(model, train.x, fit_pick, batch_size)
            codes = _codes(model, scored.x, score_pick, batch_size)
            advance(1)
            # Many small scikit-learn fits: one BLAS thread each is several times faster
            # than threads fighting over a few shared cores (and no slower on many).
            with threadpool_limits(limits=1):
                scores = disentanglement_scores(
                    fit_codes, fit_factors[:, keep], codes, factors[:, keep], seed=seed,
                    bins=bins, group=group, train_votes=train_votes, eval_votes=eval_votes,
                    dci_estimator=dci_estimator, advance=advance)
    finally:
        model.train(was_training)
    return {
        **provenance(data, scored, seed),
        "estimator": "six disentanglement scores of the posterior means against the "
                     "ground-truth factor classes (each entry names its own estimator)",
        "factors": [names[k] for k in keep],
        "dropped_factors": [names[k] for k in range(len(names)) if k not in keep],
        "fit_images": len(fit_pick),
        "scored_images": len(score_pick),
        **scores,
    }
