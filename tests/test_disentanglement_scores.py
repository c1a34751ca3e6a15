"""The six disentanglement scores' pure cores on representations with known answers:
the factors themselves, independent noise, and a rotation of the factors."""

import numpy as np
import pytest

from vaelab.data.shapes import factor_grid
from vaelab.metrics.disentangle import (
    beta_vae_score,
    dci,
    explicitness,
    factor_vae_score,
    mig,
    modularity,
    sap,
)
from vaelab.metrics.disentangle.dci import scores_from_importance
from vaelab.metrics.disentangle.information import discretize


@pytest.fixture(scope="module")
def world():
    """Factor classes of 1500 fitted and 800 scored images of the shapes grid, and three
    representations of them (standardised so that no dimension dominates by scale)."""
    classes, _ = factor_grid(16)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(classes))
    fit, scored = classes[order[:1500]], classes[order[1500:2300]]
    mean, std = classes.mean(0), classes.std(0)
    rotation, _ = np.linalg.qr(rng.normal(size=(5, 5)))

    def representations(factors):
        z = (factors - mean) / std
        return {"factors": z, "noise": rng.normal(size=z.shape), "rotated": z @ rotation}

    return fit, scored, representations(fit), representations(scored)


def test_mig_is_one_for_the_factors_zero_for_noise_and_low_for_a_rotation(world):
    _, scored, _, codes = world
    assert mig(codes["factors"], scored)["score"] > 0.95
    assert mig(codes["noise"], scored)["score"] < 0.05
    assert mig(codes["rotated"], scored)["score"] < 0.3


def test_mig_of_a_complete_grid_is_exactly_one():
    # On the full grid every pair of factors is independent, so the second-best code
    # carries exactly no information: MIG = (H − 0) / H = 1.
    classes, _ = factor_grid(16)
    assert mig(classes.astype(float), classes)["score"] == pytest.approx(1.0)


def test_dci_disentanglement(world):
    fit, scored, fit_codes, codes = world
    for estimator in ("lasso",):  # gbt: see test_dci_gradient_boosting_on_a_small_set
        assert dci(fit_codes["factors"], fit, codes["factors"], scored,
                   estimator=estimator)["disentanglement"] > 0.95
        assert dci(fit_codes["noise"], fit, codes["noise"], scored,
                   estimator=estimator)["disentanglement"] < 0.1
        assert dci(fit_codes["rotated"], fit, codes["rotated"], scored,
                   estimator=estimator)["disentanglement"] < 0.5


def test_dci_from_importance_matrices():
    assert scores_from_importance(np.eye(4)) == pytest.approx((1.0, 1.0))
    # Every code used equally for every factor: nothing is disentangled or complete.
    assert scores_from_importance(np.ones((4, 4))) == pytest.approx((0.0, 0.0))
    # One code predicts all factors: not disentangled, but each factor is complete.
    one_code = np.zeros((3, 3))
    one_code[0] = 1.0
    assert scores_from_importance(one_code) == pytest.approx((0.0, 1.0))
    assert scores_from_importance(np.zeros((3, 3))) == (0.0, 0.0)


def test_dci_gradient_boosting_on_a_small_set():
    # Two binary factors, two codes: gbt importance sits on the matching code.
    rng = np.random.default_rng(1)
    factors = rng.integers(2, size=(300, 2))
    codes = factors + 0.01 * rng.normal(size=factors.shape)
    out = dci(codes[:200], factors[:200], codes[200:], factors[200:], estimator="gbt")
    assert out["disentanglement"] > 0.95 and out["informativeness"] == 1.0


def test_beta_vae_and_factor_vae_scores(world):
    _, scored, _, codes = world
    for score in (beta_vae_score, factor_vae_score):
        perfect = score(codes["factors"], scored, rng=np.random.default_rng(0),
                        n_train=1000, n_eval=500)
        noise = score(codes["noise"], scored, rng=np.random.default_rng(0), n_train=1000,
                      n_eval=500)
        assert perfect["score"] == 1.0, score.__name__
        assert noise["score"] < 0.35, score.__name__  # chance is 1/5


def test_factor_vae_leaves_collapsed_dimensions_out(world):
    _, scored, _, codes = world
    collapsed = np.concatenate([codes["factors"], np.zeros((len(scored), 3))], axis=1)
    out = factor_vae_score(collapsed, scored, rng=np.random.default_rng(0), n_train=500,
                           n_eval=200)
    assert out["active_dimensions"] == 5 and out["score"] == 1.0
    none = factor_vae_score(np.zeros((len(scored), 2)), scored, rng=np.random.default_rng(0))
    assert none == {"score": 0.0, "train_accuracy": 0.0, "active_dimensions": 0}


def test_sap(world):
    fit, scored, fit_codes, codes = world
    assert sap(fit_codes["factors"], fit, codes["factors"], scored)["score"] > 0.95
    assert sap(fit_codes["noise"], fit, codes["noise"], scored)["score"] < 0.1
    assert sap(fit_codes["rotated"], fit, codes["rotated"], scored)["score"] < 0.5


def test_modularity(world):
    _, scored, _, codes = world
    assert modularity(codes["factors"], scored)["score"] > 0.95
    # One code that carries every factor equally (their sum's rank ~ all of them): low.
    mixed = codes["factors"] @ np.ones((5, 1)) / 5
    assert modularity(np.repeat(mixed, 2, axis=1), scored)["score"] < 0.7
    assert modularity(np.zeros((len(scored), 2)), scored) == {"score": 0.0, "dimensions": 0}


def test_explicitness():
    # Binary factors coded linearly: every class is separable, AUC 1; noise: chance 0.5.
    rng = np.random.default_rng(2)
    factors = rng.integers(2, size=(600, 3))
    codes = factors + 0.05 * rng.normal(size=factors.shape)
    assert explicitness(codes[:400], factors[:400], codes[400:], factors[400:])["score"] == 1.0
    noise = rng.normal(size=codes.shape)
    value = explicitness(noise[:400], factors[:400], noise[400:], factors[400:])["score"]
    assert abs(value - 0.5) < 0.1


def test_discretize_uses_equal_width_bins_over_each_range():
    codes = np.array([[0.0, 5.0], [0.5, 5.0], [1.0, 5.0]])
    binned = discretize(codes, 2)
    assert binned[:, 0].tolist() == [0, 1, 1]  # edges 0, 0.5, 1: the last bin is closed
    assert len(set(binned[:, 1].tolist())) == 1  # a constant column is one bin
