"""Known answers for the posterior, likelihoods, prior and the ELBO."""

import math

import pytest
import torch
from torch import distributions as D

from vaelab.config import Config, LikelihoodConfig, PriorConfig
from vaelab.errors import VaelabError
from vaelab.likelihoods.bernoulli import Bernoulli
from vaelab.likelihoods.location_scale import Gaussian
from vaelab.model import VAE
from vaelab.objectives import build_objective
from vaelab.posterior import DiagonalGaussian
from vaelab.priors.normal import Normal as StandardNormal


def test_posterior_log_prob_and_sample_shapes_match_torch_distributions():
    torch.manual_seed(0)
    mean, logvar = torch.randn(5, 3), torch.randn(5, 3)
    q = DiagonalGaussian(mean, logvar)
    reference = D.Normal(mean, torch.exp(0.5 * logvar))
    z = q.rsample(k=7)
    assert z.shape == (7, 5, 3)
    assert q.rsample().shape == (5, 3)
    torch.testing.assert_close(q.log_prob(z), reference.log_prob(z).sum(-1))


def test_bernoulli_log_prob_is_the_bernoulli_density_in_nats():
    torch.manual_seed(0)
    logits = torch.randn(4, 10)
    x = torch.bernoulli(torch.full((4, 10), 0.5))
    expected = D.Bernoulli(logits=logits).log_prob(x).sum(-1)
    torch.testing.assert_close(Bernoulli(LikelihoodConfig(), 10).log_prob(x, logits), expected)


def test_gaussian_log_prob_includes_the_normalising_constant():
    torch.manual_seed(0)
    params = torch.randn(4, 10)
    x = torch.rand(4, 10)
    likelihood = Gaussian(LikelihoodConfig(name="gaussian", sigma=0.3), 10)
    expected = D.Normal(torch.sigmoid(params), 0.3).log_prob(x).sum(-1)
    torch.testing.assert_close(likelihood.log_prob(x, params), expected)


def test_log_probs_broadcast_over_leading_sample_dimension():
    params = torch.randn(6, 4, 10)  # [k, B, D]
    x = torch.rand(4, 10).round()
    out = Bernoulli(LikelihoodConfig(), 10).log_prob(x, params)
    assert out.shape == (6, 4)
    torch.testing.assert_close(out[2], Bernoulli(LikelihoodConfig(), 10).log_prob(x, params[2]))


def test_bernoulli_rejects_data_outside_its_support():
    with pytest.raises(VaelabError, match=r"needs data in \[0, 1\]"):
        Bernoulli(LikelihoodConfig(), 10).check_support(torch.tensor([[0.0, 2.0]]), "my data")
    with pytest.raises(VaelabError, match="NaN"):
        Gaussian(LikelihoodConfig(), 1).check_support(torch.tensor([[math.nan]]), "my data")


def test_analytic_kl_matches_monte_carlo():
    torch.manual_seed(0)
    q = DiagonalGaussian(torch.randn(3, 4), torch.randn(3, 4) * 0.5)
    prior = StandardNormal(PriorConfig(), latent_dim=4)
    z = q.rsample(k=100_000)
    monte_carlo = (q.log_prob(z) - prior.log_prob(z)).mean(0)
    torch.testing.assert_close(prior.kl(q), monte_carlo, atol=0.03, rtol=0.01)


def test_prior_log_prob_and_sample():
    prior = StandardNormal(PriorConfig(), latent_dim=3)
    z = torch.randn(5, 3)
    torch.testing.assert_close(prior.log_prob(z), D.Normal(0, 1).log_prob(z).sum(-1))
    assert prior.sample(8).shape == (8, 3)


def test_elbo_of_a_tiny_model_equals_a_hand_computation():
    """A 2-pixel, 1-latent linear VAE with hand-set weights; the ELBO written out."""
    config = Config().replace(hidden="none", latent_dim=1)
    model = VAE(config, (1, 2))
    with torch.no_grad():
        model.encoder[0].weight.copy_(torch.tensor([[1.0, -1.0], [0.5, 0.5]]))
        model.encoder[0].bias.copy_(torch.tensor([0.2, -1.0]))
        model.decoder[0].weight.copy_(torch.tensor([[2.0], [-1.0]]))
        model.decoder[0].bias.copy_(torch.tensor([0.1, 0.3]))
    x = torch.tensor([[1.0, 0.0]])
    generator = torch.Generator().manual_seed(0)
    out = build_objective(config.objective)(model, x, 0, generator=generator)
    # By hand: μ = 1·1 − 1·0 + 0.2 = 1.2; log σ² = 0.5 − 1 = −0.5; the same ε.
    eps = torch.randn((1, 1), generator=torch.Generator().manual_seed(0)).item()
    mu, logvar = 1.2, -0.5
    z = mu + math.exp(0.5 * logvar) * eps
    logits = [2.0 * z + 0.1, -1.0 * z + 0.3]
    log_lik = math.log(1 / (1 + math.exp(-logits[0]))) + math.log(1 / (1 + math.exp(logits[1])))
    kl = 0.5 * (mu**2 + math.exp(logvar) - 1 - logvar)
    assert out.recon.item() == pytest.approx(-log_lik, rel=1e-6)
    assert out.kl.item() == pytest.approx(kl, rel=1e-6)
    assert out.elbo.item() == pytest.approx(log_lik - kl, rel=1e-6)
    assert out.loss.item() == pytest.approx(-log_lik + kl, rel=1e-6)


def test_beta_weights_only_the_kl_in_the_loss():
    torch.manual_seed(0)
    config = Config().replace(hidden="8", latent_dim=2, beta=0.25)
    model = VAE(config, (2, 2))
    x = torch.rand(5, 4).round()
    out = build_objective(config.objective)(model, x, 0, generator=torch.Generator())
    torch.testing.assert_close(out.loss, (out.recon + 0.25 * out.kl).mean())
    torch.testing.assert_close(out.elbo, -(out.recon + out.kl))


def test_parameter_counts_of_the_canonical_model():
    model = VAE(Config(), (28, 28))  # 784-400-20(×2)-400-784
    expected_encoder = 784 * 400 + 400 + 400 * 40 + 40
    expected_decoder = 20 * 400 + 400 + 400 * 784 + 784
    counts = model.parameter_counts()
    assert counts["encoder"] == expected_encoder
    assert counts["decoder"] == expected_decoder
    assert counts["total"] == expected_encoder + expected_decoder


def test_student_t_prior_matches_torch_and_its_limits():
    from vaelab.priors.student_t import StudentT

    prior = StudentT(PriorConfig(name="student-t", df=3.0, mean=0.5, scale=2.0), 2)
    z = torch.randn(6, 2, generator=torch.Generator().manual_seed(0)) * 4
    reference = D.StudentT(3.0, 0.5, 2.0).log_prob(z).sum(-1)
    torch.testing.assert_close(prior.log_prob(z), reference)
    # ν = 1 is the Cauchy; ν → ∞ the normal with the same location and scale.
    cauchy = StudentT(PriorConfig(name="student-t", df=1.0), 1)
    x = torch.tensor([[0.0], [3.0]])
    torch.testing.assert_close(cauchy.log_prob(x),
                               -torch.log(math.pi * (1 + x[:, 0] ** 2)))
    wide = StudentT(PriorConfig(name="student-t", df=1e7, scale=2.0), 1)
    torch.testing.assert_close(wide.log_prob(x), D.Normal(0.0, 2.0).log_prob(x)[:, 0],
                               atol=1e-5, rtol=0)
    # Quantiles: the median is the location; 97.5% of t_3 is 3.182 (standard tables).
    q = prior.icdf(torch.tensor([[0.5, 0.975]]))
    torch.testing.assert_close(q, torch.tensor([[0.5, 0.5 + 2.0 * 3.1824463]]), atol=1e-5,
                               rtol=0)
    # Seeded samples: the same generator state gives the same draws.
    a = prior.sample(5, torch.Generator().manual_seed(1))
    b = prior.sample(5, torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and a.shape == (5, 2)


def test_student_t_prior_trains_from_the_command_line(tmp_path, monkeypatch, capsys):
    from conftest import run_cli

    import vaelab

    out = tmp_path / "t"
    code, _, err = run_cli(monkeypatch, capsys, "train", "--dataset", "digits", "--epochs", 1,
                           "--hidden", 16, "--latent-dim", 2, "--prior", "student-t",
                           "--prior-df", 3, "--quiet", "--out", out)
    assert code == 0, err
    run = vaelab.load_run(out)
    assert run.config.prior.df == 3.0 and "student-t(ν 3" in run.model.prior.describe()
    assert math.isfinite(run.metrics["test"]["kl"])
    code, _, err = run_cli(monkeypatch, capsys, "train", "--dataset", "digits", "--prior-df",
                           3, "--out", tmp_path / "n")
    assert code == 2 and "prior normal does not read --prior-df" in err
