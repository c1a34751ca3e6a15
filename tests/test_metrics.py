"""Metrics: each pure core against synthetic data with a known answer, then each gatherer
on a tiny VAE trained on scikit-learn's digits."""

import dataclasses
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

import vaelab
from vaelab.errors import VaelabError
from vaelab.evaluate import bits_per_dim, elbo_metrics
from vaelab.metrics import collapse, elbo, fid, iw_nll, probe
from vaelab.metrics.base import binarization_note, scored_split
from vaelab.posterior import DiagonalGaussian
from vaelab.priors.normal import Normal


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A small VAE on digits (8×8, 1294 training / 359 test images)."""
    return vaelab.train(out=tmp_path_factory.mktemp("tiny") / "run", progress=False,
                        figures=False, dataset="digits", hidden="32", latent_dim=6, epochs=4,
                        batch_size=64)


# -- IS-NLL: a linear-Gaussian model, where log p(x) is analytic -----------------------
class LinearGaussian:
    """z ~ N(0, I_Z), x | z ~ N(Wz + b, σ² I_D), with orthogonal columns of W so that the
    exact posterior is diagonal: N(C Wᵀ(x − b)/σ², C), C = (I + WᵀW/σ²)⁻¹."""

    def __init__(self, latent=2, dim=5, sigma=0.5, seed=0):
        g = torch.Generator().manual_seed(seed)
        q, _ = torch.linalg.qr(torch.randn(dim, dim, generator=g, dtype=torch.float64))
        self.w = q[:, :latent] * torch.tensor([2.0, 0.7], dtype=torch.float64)[:latent]
        self.b = torch.randn(dim, generator=g, dtype=torch.float64)
        self.sigma = sigma

    def log_px(self, x):
        cov = self.w @ self.w.T + self.sigma**2 * torch.eye(self.w.shape[0], dtype=torch.float64)
        return torch.distributions.MultivariateNormal(self.b, cov).log_prob(x)

    def sample(self, n, seed=1):
        g = torch.Generator().manual_seed(seed)
        z = torch.randn(n, self.w.shape[1], generator=g, dtype=torch.float64)
        return z @ self.w.T + self.b + self.sigma * torch.randn(n, self.w.shape[0], generator=g,
                                                                 dtype=torch.float64)

    def log_joint(self, x, z):  # [S, B]
        mean = z @ self.w.T + self.b
        log_lik = torch.distributions.Normal(mean, self.sigma).log_prob(x).sum(-1)
        return log_lik + torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)

    def posterior(self, x, *, std_scale=1.0, shift=0.0):
        var = 1 / (1 + (self.w**2).sum(0) / self.sigma**2)  # [Z]
        mean = ((x - self.b) @ self.w) * var / self.sigma**2 + shift
        logvar = torch.log(var * std_scale**2).expand_as(mean)
        return DiagonalGaussian(mean, logvar)


def test_iw_nll_is_exact_with_the_exact_posterior_for_any_k_and_chunking():
    model = LinearGaussian()
    x = model.sample(50)
    for k, chunk in [(1, 1), (7, 3), (64, 64)]:
        log_px, elbo_k = iw_nll._iw_log_px(x, model.posterior, model.log_joint, k,
                                           samples_per_chunk=chunk,
                                           generator=torch.Generator().manual_seed(0))
        torch.testing.assert_close(log_px, model.log_px(x), rtol=0, atol=1e-9)
        torch.testing.assert_close(elbo_k, model.log_px(x), rtol=0, atol=1e-9)


def test_iw_nll_converges_to_the_analytic_log_likelihood_with_a_poor_proposal():
    model = LinearGaussian()
    x = model.sample(200)
    truth = model.log_px(x)

    def proposal(data):
        return model.posterior(data, std_scale=1.6, shift=0.3)

    gaps = []
    for k in (1, 10, 20000):
        log_px, elbo_k = iw_nll._iw_log_px(x, proposal, model.log_joint, k,
                                           samples_per_chunk=4096,
                                           generator=torch.Generator().manual_seed(k))
        assert (log_px >= elbo_k - 1e-9).all()  # Jensen, per image
        gaps.append(float((truth - log_px).mean()))
    # A bound that tightens as k grows (k = 100 would already be within MC noise).
    assert gaps[0] > 1.0 > gaps[1] > 0.01 and abs(gaps[-1]) < 0.01


def test_iw_nll_streaming_logsumexp_matches_the_direct_one():
    model = LinearGaussian()
    x = model.sample(6)
    seen = []

    def proposal(data):
        return model.posterior(data, std_scale=2.0)

    def recording_log_joint(data, z):
        seen.append((z, model.log_joint(data, z) - proposal(data).log_prob(z)))
        return seen[-1][1] + proposal(data).log_prob(z)

    log_px, elbo_k = iw_nll._iw_log_px(x, proposal, recording_log_joint, 10,
                                       samples_per_chunk=4)
    weights = torch.cat([w for _, w in seen])  # [10, B]
    assert [z.shape[0] for z, _ in seen] == [4, 4, 2]
    torch.testing.assert_close(log_px, torch.logsumexp(weights, 0) - math.log(10))
    torch.testing.assert_close(elbo_k, weights.mean(0))


@pytest.mark.parametrize("k", [0, -3])
def test_iw_nll_rejects_k_below_one(tiny, k):
    with pytest.raises(VaelabError, match="must be an integer >= 1"):
        iw_nll.gather(tiny.model, tiny.data, k=k)


def test_iw_nll_on_a_vae_k1_is_the_elbo_and_larger_k_tightens_it(tiny):
    stats = elbo.gather(tiny.model, tiny.data, per_class=False)
    results = {k: iw_nll.gather(tiny.model, tiny.data, k=k, seed=1) for k in (1, 10, 200)}
    one = results[1]
    # k = 1: one single-sample ELBO per image, equal to the ELBO in expectation.
    assert one["nll"] == pytest.approx(one["elbo_k"] * -1)
    assert abs(one["nll"] + stats["elbo"]) < 4 * math.sqrt(2) * one["nll_stderr"] + 0.5
    assert results[1]["nll"] > results[10]["nll"] > results[200]["nll"]
    for result in results.values():
        assert result["nll"] <= -result["elbo_k"] + 1e-9
        assert result["k"] in (1, 10, 200) and "Burda" in result["estimator"]
        assert result["binarization"] == "none" and result["split"] == "test"
        assert result["bits_per_dim"] is None  # a Bernoulli of grey data (tiny's): a loss
    # elbo_k (the mean log weight) is an unbiased k-sample estimate of the ELBO: close to
    # the analytic-KL one.
    assert results[200]["elbo_k"] == pytest.approx(stats["elbo"], abs=0.3)


def test_iw_nll_gather_is_seeded_and_its_chunking_does_not_matter(tiny):
    a = iw_nll.gather(tiny.model, tiny.data, k=50, seed=3)
    b = iw_nll.gather(tiny.model, tiny.data, k=50, seed=3)
    c = iw_nll.gather(tiny.model, tiny.data, k=50, seed=4)
    d = iw_nll.gather(tiny.model, tiny.data, k=50, seed=3, chunk_rows=7)
    assert a["nll"] == b["nll"] and a["nll"] != c["nll"]
    assert d["nll"] == pytest.approx(a["nll"], abs=0.1)  # other draws, same estimate
    assert iw_nll.chunk_shape(5000, 10000, 4096) == (1, 4096)
    assert iw_nll.chunk_shape(1, 10000, 4096) == (4096, 1)


# -- posterior collapse --------------------------------------------------------------
def test_active_units_count_dimensions_whose_mean_moves():
    g = torch.Generator().manual_seed(0)
    means = torch.randn(500, 20, generator=g)
    means[:, 5:] = 0.3 + 0.001 * means[:, 5:]  # dims 5+ ignore the input
    count, variances = collapse.active_units(means)
    assert count == 5 and variances.shape == (20,)
    assert (variances[:5] > 0.5).all() and (variances[5:] < 1e-5).all()


def test_an_encoder_that_ignores_dimensions_5_and_up_has_exactly_5_active_units(tiny):
    model = vaelab.load_run(tiny.path).model
    last = model.encoder[-1]  # Linear → [μ (6), log σ² (6)]
    with torch.no_grad():
        last.weight[:5] *= 20  # dims 0-4 clearly depend on the input
        last.weight[5:6].zero_()  # dim 5's mean ignores it
        last.bias[5] = 0.7
    stats = collapse.gather(model, tiny.data)
    assert stats["active_units"] == 5 and stats["active_dims"] == [0, 1, 2, 3, 4]
    assert stats["mean_variance"][5] == pytest.approx(0, abs=1e-10)
    assert stats["mean_mean"][5] == pytest.approx(0.7, abs=1e-6)
    assert stats["latent_dim"] == 6 and len(stats["kl_per_dim"]) == 6
    assert stats["kl_estimator"] == "analytic KL"


def test_log_density_matrix_matches_the_direct_computation():
    g = torch.Generator().manual_seed(0)
    z, mean = torch.randn(7, 3, generator=g), torch.randn(11, 3, generator=g)
    logvar = torch.randn(11, 3, generator=g) - 2
    direct = DiagonalGaussian(mean, logvar).log_prob(z[:, None, :]).double()  # [7, 11]
    torch.testing.assert_close(collapse._log_density_matrix(z, mean, logvar), direct,
                               rtol=1e-5, atol=1e-4)


def test_mutual_information_known_answers():
    g = torch.Generator().manual_seed(0)
    n = 3000
    # q(z|x) = N(0, 1) whatever x: I(x; z) = 0.
    mean, logvar = torch.zeros(n, 4), torch.zeros(n, 4)
    z = torch.randn(n, 4, generator=g)
    assert abs(collapse._mutual_information(mean, logvar, z)) < 0.05
    # Every x has its own far-apart, narrow posterior: I(x; z) = H(x) = log N.
    mean = torch.randn(n, 4, generator=g) * 100
    logvar = torch.full((n, 4), -10.0)
    z = DiagonalGaussian(mean, logvar).rsample(generator=g)
    assert collapse._mutual_information(mean, logvar, z) == pytest.approx(math.log(n), abs=1e-3)
    # The same with the vanishing σ of a β = 0 model (σ ≈ 2e-9 around means of order 1):
    # the estimate stays log N instead of collapsing to large negative values.
    mean = torch.randn(n, 4, generator=g).double()
    logvar = torch.full((n, 4), -40.0, dtype=torch.float64)
    z = DiagonalGaussian(mean, logvar).rsample(generator=g)
    assert collapse._mutual_information(mean, logvar, z) == pytest.approx(math.log(n), abs=1e-3)
    # Never above its bound log N, whatever the posteriors: each sample's own posterior is
    # one term of the aggregate (seeds where the analytic-entropy form exceeded it).
    for seed in range(20):
        g = torch.Generator().manual_seed(seed)
        mean = torch.randn(200, 3, generator=g) * 6
        logvar = torch.randn(200, 3, generator=g) - 2
        z = DiagonalGaussian(mean, logvar).rsample(generator=g)
        assert collapse._mutual_information(mean, logvar, z) <= math.log(200) + 1e-9
    # Two clusters of x (a binary code in dim 0): I = log 2.
    mean = torch.zeros(n, 1)
    mean[: n // 2] = 50.0
    z = DiagonalGaussian(mean, torch.zeros(n, 1)).rsample(generator=g)
    assert collapse._mutual_information(mean, torch.zeros(n, 1), z) == pytest.approx(
        math.log(2), abs=0.01)


class FactorisedNoKL(Normal):
    """The standard normal without its analytic KL: it factorises (as laplace does), so
    the per-dimension KL is estimated by Monte Carlo."""

    def kl(self, q):
        return None

    def kl_per_dim(self, q):
        return None


class JointNoKL(FactorisedNoKL):
    """...and without per-dimension densities (as mog/vampprior): total KL only."""

    def log_prob(self, z):
        return super().log_prob_per_dim(z).sum(-1)

    def log_prob_per_dim(self, z):
        return None


def test_kl_per_dimension_analytic_monte_carlo_and_total_only(tiny):
    model = vaelab.load_run(tiny.path).model
    q = model.encode(tiny.data.test.x)
    mean, logvar = q.mean, q.logvar
    g = torch.Generator().manual_seed(0)
    analytic = collapse.kl_per_dimension(model, mean, logvar, samples=4, generator=g)
    assert analytic["kl_total"] == pytest.approx(float(model.prior.kl(
        DiagonalGaussian(mean, logvar)).double().mean()), rel=1e-6)
    model.prior = FactorisedNoKL(model.prior.cfg, model.latent_dim)
    mc = collapse.kl_per_dimension(model, mean, logvar, samples=400, generator=g)
    assert "Monte Carlo" in mc["kl_estimator"] and len(mc["kl_per_dim"]) == 6
    np.testing.assert_allclose(mc["kl_per_dim"], analytic["kl_per_dim"], atol=0.03)
    model.prior = JointNoKL(model.prior.cfg, model.latent_dim)
    total = collapse.kl_per_dimension(model, mean, logvar, samples=400, generator=g)
    assert total["kl_per_dim"] is None and "does not factorise" in total["kl_estimator"]
    assert total["kl_total"] == pytest.approx(analytic["kl_total"], abs=0.1)


# -- sample quality ------------------------------------------------------------------
def test_fid_of_a_set_against_itself_is_zero_and_grows_with_corruption():
    g = torch.Generator().manual_seed(0)
    features = torch.randn(4000, 16, generator=g) @ torch.randn(16, 16, generator=g)
    real = fid.FeatureStats.of(features)
    assert fid._fid(real, fid.FeatureStats.of(features)) == pytest.approx(0, abs=1e-6)
    scores = [fid._fid(real, fid.FeatureStats.of(features + level * torch.randn(
        features.shape, generator=g))) for level in (0.1, 0.5, 2.0)]
    assert 0 < scores[0] < scores[1] < scores[2]
    shifted = fid._fid(real, fid.FeatureStats.of(features + 1.0))
    assert shifted == pytest.approx(16.0, rel=1e-6)  # ‖Δμ‖² with equal covariances


def test_inception_score_known_answers():
    confident = torch.eye(10).repeat(50, 1) * 50  # every class, confidently
    assert fid._inception_score(confident)[0] == pytest.approx(10, rel=1e-3)
    one_class = torch.zeros(500, 10)
    one_class[:, 3] = 50
    assert fid._inception_score(one_class)[0] == pytest.approx(1, abs=1e-6)
    assert fid._inception_score(torch.zeros(500, 10))[0] == pytest.approx(1)


class FakeFeatures(nn.Module):
    """A fixed random projection standing in for the domain classifier."""

    num_features = 12

    def __init__(self, dim=64):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.proj = nn.Linear(dim, 12)
        self.out = nn.Linear(12, 10)
        with torch.no_grad():
            for layer in (self.proj, self.out):
                layer.weight.copy_(torch.randn(layer.weight.shape, generator=g))
                layer.bias.copy_(torch.randn(layer.bias.shape, generator=g))

    def embed(self, x):
        return torch.relu(self.proj(x.reshape(x.shape[0], -1)))


def test_fid_gather_with_a_fake_feature_network(tiny):
    stats = fid.gather(tiny.model, tiny.data, n_samples=300, network=(FakeFeatures(), {}))
    again = fid.gather(tiny.model, tiny.data, n_samples=300, network=(FakeFeatures(), {}))
    assert stats["fid_samples"] == again["fid_samples"] > 0
    assert stats["fid_reconstructions"] > 0 and stats["samples"] == 300
    assert stats["reference_images"] == 359
    assert "12-d features of the given network" in stats["estimator"]
    assert sum(stats["sample_class_fractions"]) == pytest.approx(1)
    with pytest.raises(VaelabError, match="--fid-samples"):
        fid.gather(tiny.model, tiny.data, n_samples=0, network=(FakeFeatures(), {}))


def test_domain_classifier_trains_caches_and_exposes_features(tmp_path, monkeypatch):
    from vaelab import classifier
    from vaelab.config import DataConfig

    monkeypatch.setenv("VAELAB_CACHE", str(tmp_path))
    monkeypatch.setattr(classifier, "MIN_STEPS", 60)
    clf, info = classifier.load_or_train_classifier("digits", DataConfig(dataset="digits"))
    assert not info["cached"] and info["test_accuracy"] > 0.7 and info["classes"] == 10
    assert (tmp_path / "classifiers").is_dir()
    again, info2 = classifier.load_or_train_classifier("digits", DataConfig(dataset="digits"))
    assert info2["cached"] and info2["test_accuracy"] == info["test_accuracy"]
    x = torch.rand(3, 8, 8)
    torch.testing.assert_close(again(x), clf(x))
    relu2, relu4 = clf.relu_features(x, (2, 4))
    assert relu2.shape == (3, 32, 8, 8) and relu4.shape == (3, 64, 4, 4)
    assert (relu2 >= 0).all() and clf.embed(x).shape == (3, 128)
    assert clf(x.reshape(3, 64)).shape == (3, 10)



@pytest.mark.parametrize("image_shape", [(1, 28, 28), (3, 32, 32)])
def test_the_classifier_on_the_cpu_runs_nhwc_with_the_same_features(image_shape):
    """place("cpu") puts the convolution weights in channels_last (faster with oneDNN:
    benchmarks/conv_layout.py) and the inputs follow them; only rounding changes."""
    from vaelab.classifier import DomainClassifier

    torch.manual_seed(0)
    clf = DomainClassifier(image_shape, 10)
    x = torch.rand(4, math.prod(image_shape))
    with torch.no_grad():
        before = [*clf.relu_features(x, (2, 4)), clf.embed(x)]
        assert clf.place("cpu") is clf
        for conv in clf.convs[1:]:  # the first of a grey net is contiguous in both layouts
            assert conv.weight.is_contiguous(memory_format=torch.channels_last)
            assert not conv.weight.is_contiguous()
        after = [*clf.relu_features(x, (2, 4)), clf.embed(x)]
    assert clf._as_images(x).is_contiguous(memory_format=torch.channels_last)
    for old, new in zip(before, after, strict=True):
        torch.testing.assert_close(new, old, rtol=1e-5, atol=1e-6)


# -- latent usefulness ---------------------------------------------------------------
def test_probe_core_separable_and_chance():
    g = np.random.default_rng(0)
    y = g.integers(0, 4, 800)
    x = np.eye(4)[y] * 5 + g.normal(size=(800, 4)) * 0.1
    assert probe._probe_accuracy(x[:600], y[:600], x[600:], y[600:]) == 1.0
    assert probe._cluster_purity(x, y, 4) == 1.0
    noise = g.normal(size=(800, 4))
    assert probe._probe_accuracy(noise[:600], y[:600], noise[600:], y[600:]) < 0.4


class RandomEncoder(nn.Module):
    """Posterior parameters that ignore the image."""

    def __init__(self, latent):
        super().__init__()
        self.latent = latent
        self.generator = torch.Generator().manual_seed(0)

    def forward(self, x):
        return torch.randn(x.shape[0], 2 * self.latent, generator=self.generator)


def test_probe_accuracy_is_near_chance_for_a_random_encoder_and_high_for_a_trained_one(tiny):
    trained = probe.gather(tiny.model, tiny.data)
    assert trained["accuracy"] > 0.5 and trained["chance"] < 0.15
    model = vaelab.load_run(tiny.path).model
    model.encoder = RandomEncoder(model.latent_dim)
    random = probe.gather(model, tiny.data)
    assert random["accuracy"] < 0.2  # 10 balanced classes: chance ≈ 0.1
    assert "logistic regression" in random["estimator"]


# -- ELBO per class ------------------------------------------------------------------
def test_per_class_elbo_averages_back_to_the_overall_elbo(tiny):
    stats = elbo.gather(tiny.model, tiny.data)
    per_class = stats["per_class"]
    assert set(per_class) == {str(d) for d in range(10)}
    total = sum(row["images"] for row in per_class.values())
    assert total == stats["images"] == 359
    mean = sum(row["elbo"] * row["images"] for row in per_class.values()) / total
    assert mean == pytest.approx(stats["elbo"], rel=1e-6)
    assert stats["elbo"] == pytest.approx(tiny.metrics["test"]["elbo"])  # what train wrote


def test_every_metric_scores_the_same_fixed_draw_whatever_its_seed(tiny):
    """Under dynamic binarisation, `vaelab eval --metrics elbo,iw-nll --seed 1` scores
    both on one fixed draw of the test images: the seed moves only the Monte Carlo noise."""
    data = dataclasses.replace(tiny.data, binarize="dynamic")  # grey splits, drawn for scoring
    seen: dict[str, list[torch.Tensor]] = {}
    model = tiny.model
    real_posterior = model.posterior

    def recording(name):
        def posterior(x):
            seen.setdefault(name, []).append(x.clone())
            return real_posterior(x)
        return posterior

    scored = scored_split(data, "test").x
    try:
        for name, gather in [("elbo-1", lambda: elbo.gather(model, data, seed=1)),
                             ("elbo-2", lambda: elbo.gather(model, data, seed=2)),
                             ("iw-nll-1", lambda: iw_nll.gather(model, data, k=2, seed=1)),
                             ("collapse-1", lambda: collapse.gather(model, data, seed=1))]:
            model.posterior = recording(name)
            stats = gather()
            assert stats["binarization"] == binarization_note(data), name
            assert torch.equal(torch.cat(seen[name])[:len(scored)], scored), name
        train_numbers = elbo_metrics(model, data, "test", batch_size=2000)
        assert train_numbers["binarization"] == binarization_note(data)
    finally:
        model.posterior = real_posterior
    assert elbo.gather(model, data, seed=1)["elbo"] != elbo.gather(model, data, seed=2)["elbo"]


# -- bits/dim: which kind each number is ----------------------------------------------
def _likelihood(support, is_density=True):
    return SimpleNamespace(support=support, is_density=is_density)


def _data(binarize, dim=64):
    return SimpleNamespace(binarize=binarize, dim=dim)


def test_bits_per_dim_of_a_density_on_8_bit_data_is_that_of_the_discrete_data():
    """A density p on [0, 1] of 8-bit data x = k/255: x lies in its bin [k/256, (k+1)/256],
    so P(k) ≈ p(x)/256^D and −log P(k) ≈ −log p(x) + D·ln 256 (Theis et al. 2016): 8 bits
    per dimension more than the density's nats say."""
    for support in ("unit-interval", "real"):
        value, units = bits_per_dim(100.0, _likelihood(support), _data("none"))
        assert value == pytest.approx((100.0 + 64 * math.log(256)) / (64 * math.log(2)))
        assert value == pytest.approx(100.0 / (64 * math.log(2)) + 8)
        assert "8-bit" in units and "D·ln 256" in units and "Theis" in units
    # Binary data under a Bernoulli likelihood: a probability already, nats / (D ln 2).
    for binarize in ("dynamic", "fixed", "threshold"):
        value, units = bits_per_dim(100.0, _likelihood("binary"), _data(binarize))
        assert value == pytest.approx(100.0 / (64 * math.log(2))) and "binary" in units
    # No discrete counterpart: a density of binary data, a loss that is no density.
    value, units = bits_per_dim(100.0, _likelihood("real"), _data("dynamic"))
    assert value is None and "not comparable" in units
    value, units = bits_per_dim(100.0, _likelihood("unit-interval", False), _data("none"))
    assert value is None and "not a density" in units
    # A Bernoulli of grey values is the BCE loss, no probability: none, and the fix named.
    value, units = bits_per_dim(100.0, _likelihood("binary"), _data("none"))
    assert value is None and "grey data is a loss" in units and "--binarize dynamic" in units


def test_metrics_label_their_bits_per_dim(tiny, monkeypatch):
    plain = elbo.gather(tiny.model, tiny.data, per_class=False)
    assert plain["bits_per_dim"] is None  # a Bernoulli of grey data: a loss, said so
    assert "Bernoulli likelihood of grey data" in plain["bits_per_dim_units"]
    monkeypatch.setattr(tiny.model.likelihood, "support", "unit-interval")
    for stats, nll in [(elbo.gather(tiny.model, tiny.data, per_class=False), -plain["elbo"]),
                       (iw_nll.gather(tiny.model, tiny.data, k=2), None)]:
        nll = stats["nll"] if nll is None else nll
        assert stats["bits_per_dim"] == pytest.approx(nll / (64 * math.log(2)) + 8)
        assert "8-bit" in stats["bits_per_dim_units"]


# -- the plain autoencoder has no ELBO ------------------------------------------------
@pytest.fixture(scope="module")
def tiny_ae(tmp_path_factory):
    return vaelab.train(out=tmp_path_factory.mktemp("tiny-ae") / "run", progress=False,
                        figures=False, dataset="digits", hidden="32", latent_dim=6, epochs=2,
                        batch_size=64, objective="ae")


def test_an_autoencoder_reports_its_reconstruction_error_and_no_elbo(tiny_ae):
    test = tiny_ae.metrics["test"]
    assert test["recon"] > 0 and "not an ELBO" in test["estimator"]
    assert not {"elbo", "kl", "bits_per_dim"} & set(test)
    for row in tiny_ae.history:
        assert {"train_recon", "val_recon"} <= set(row)
        assert not {"train_elbo", "val_elbo", "train_kl", "val_kl"} & set(row)
    stats = elbo.gather(tiny_ae.model, tiny_ae.data)
    assert stats["recon"] == pytest.approx(test["recon"]) and "elbo" not in stats
    assert all(set(row) == {"images", "recon"} for row in stats["per_class"].values())


def test_an_autoencoder_has_active_units_but_no_kl_or_mutual_information(tiny_ae):
    """A deterministic encoder has no q(z|x): its untrained variance head gives no KL and
    no I(x;z); the active units are those of its point codes."""
    from vaelab.figures.kl import dimension_usage
    from vaelab.metrics.base import posterior_moments

    stats = collapse.gather(tiny_ae.model, tiny_ae.data)
    assert stats["kl_total"] is None and stats["kl_per_dim"] is None
    assert stats["mutual_information"] is None and stats["logvar_mean"] is None
    assert "objective ae trains a deterministic encoder" in stats["kl_estimator"]
    assert "objective ae trains a deterministic encoder" in stats["estimator"]
    codes, _ = posterior_moments(tiny_ae.model, tiny_ae.data.test.x, 500)
    assert stats["active_units"] == collapse.active_units(codes)[0] > 0
    usage = dimension_usage(tiny_ae)
    assert not usage.is_kl and "deterministic encoder" in usage.estimator
    # No q(z|x) to sample: IS-NLL does not apply, and a sweep skips it for this run.
    from vaelab.metrics import METRICS
    from vaelab.sweep.worker import _applicable

    assert "trains a deterministic encoder" in METRICS.get("iw-nll").unfit(tiny_ae.model)
    assert not _applicable("iw-nll", tiny_ae, {"k": 2})
    assert _applicable("collapse", tiny_ae, None) and _applicable("elbo", tiny_ae, None)


# -- slow: the real domain classifiers -------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("name, target", [("mnist", 0.99), ("fashion-mnist", 0.90)])
def test_domain_classifier_reaches_its_accuracy_target(name, target, tmp_path, monkeypatch):
    from conftest import has_dataset

    from vaelab.classifier import load_or_train_classifier
    from vaelab.config import DataConfig

    if not has_dataset(name):
        pytest.skip(f"real {name} not found under $VAELAB_DATA")
    monkeypatch.setenv("VAELAB_CACHE", str(tmp_path))
    _, info = load_or_train_classifier(name, DataConfig(dataset=name))
    assert info["test_accuracy"] >= target, info
