"""The shared contracts every registered likelihood and prior must meet. A new component
is covered by registering it: these tests are parametrised over the registries and over
the example options each component declares (``examples``), so every option's code path
runs (as diffusers' scheduler tests run ``check_over_configs``)."""

import math

import pytest
import torch

from vaelab.config import LikelihoodConfig
from vaelab.likelihoods import LIKELIHOODS, build_likelihood
from vaelab.posterior import DiagonalGaussian
from vaelab.priors import PRIORS

LIKELIHOOD_NAMES = LIKELIHOODS.names()
PRIOR_NAMES = PRIORS.names()


def examples_of(registry):
    """(name, options) for every registered component and each of its example options."""
    return [pytest.param(name, options, id=f"{name}-{index}")
            for name, entry in registry.items()
            for index, options in enumerate(entry.examples)]


LIKELIHOOD_CASES = examples_of(LIKELIHOODS)
PRIOR_CASES = examples_of(PRIORS)


def make_likelihood(name, data_dim=6, **options):
    """A likelihood over ``data_dim`` pixels; one that needs a real model (the perceptual
    loss's classifier) is built inside a VAE for the 8×8 digits, so data_dim is 64."""
    if LIKELIHOODS.get(name).needs_features:
        if data_dim == 1:
            pytest.skip("needs whole images")
        from vaelab.build import build_model
        from vaelab.config import Config

        config = Config.from_dict({"data": {"dataset": "digits"}, "network": {"hidden": [8]},
                                   "likelihood": {"name": name, **options}})
        return build_model(config, (8, 8)).likelihood
    return build_likelihood(LikelihoodConfig(name=name, **options), data_dim)


def valid_data(likelihood, batch=4):
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(batch, likelihood.data_dim, generator=generator)
    if likelihood.support == "8-bit":
        return torch.round(x * 255) / 255
    return x.round() if likelihood.support == "binary" else x


def make_prior(name, latent_dim=3, dtype=torch.float32, **options):
    """A prior as the model builds it (the VampPrior is bound to the model's encoder)."""
    from vaelab.config import Config
    from vaelab.model import VAE

    config = Config.from_dict({"network": {"latent_dim": latent_dim, "hidden": [8]},
                               "prior": {"name": name, **options}})
    return VAE(config, (2, 3)).to(dtype).prior


@pytest.mark.parametrize("name, options", LIKELIHOOD_CASES)
class TestLikelihoodContract:
    def test_shapes(self, name, options):
        likelihood = make_likelihood(name, **options)
        x = valid_data(likelihood)
        d = likelihood.data_dim
        params = torch.randn(4, likelihood.params_per_pixel * d)
        assert likelihood.log_prob(x, params).shape == (4,)
        many = torch.randn(5, 4, likelihood.params_per_pixel * d)  # [k, B, P·D]
        assert likelihood.log_prob(x, many).shape == (5, 4)
        assert likelihood.mean(params).shape == (4, d)
        assert likelihood.sample(params, torch.Generator().manual_seed(1)).shape == (4, d)

    def test_finite_on_valid_data_and_support_check_passes(self, name, options):
        likelihood = make_likelihood(name, **options)
        x = valid_data(likelihood)
        likelihood.check_support(x, "test data")
        params = 5 * torch.randn(4, likelihood.params_per_pixel * likelihood.data_dim)
        assert torch.isfinite(likelihood.log_prob(x, params)).all()

    def test_rejects_nan_data(self, name, options):
        from vaelab.errors import VaelabError

        with pytest.raises(VaelabError, match="NaN"):
            likelihood = make_likelihood(name, **options)
            likelihood.check_support(torch.full((1, likelihood.data_dim), math.nan), "test data")

    def test_gradients_reach_params_and_learned_scales(self, name, options):
        likelihood = make_likelihood(name, **options)
        params = torch.randn(4, likelihood.params_per_pixel * likelihood.data_dim,
                             requires_grad=True)
        likelihood.log_prob(valid_data(likelihood), params).sum().backward()
        assert params.grad is not None and params.grad.abs().sum() > 0
        for parameter in likelihood.parameters():
            assert parameter.grad is not None

    def test_density_integrates_to_one_per_pixel(self, name, options):
        likelihood = make_likelihood(name, data_dim=1, **options)
        if not likelihood.is_density:
            pytest.skip("not a density")
        params = torch.tensor([[-1.3] * likelihood.params_per_pixel])
        if likelihood.support in ("binary", "8-bit"):
            grid = (torch.tensor([[0.0], [1.0]]) if likelihood.support == "binary"
                    else torch.arange(256.0)[:, None] / 255)
            total = torch.exp(likelihood.log_prob(grid, params.expand(len(grid), -1))).sum()
        else:
            low, high = (0.0, 1.0) if likelihood.support == "unit-interval" else (-40.0, 40.0)
            grid = torch.linspace(low, high, 400_001, dtype=torch.float64)[:, None]
            density = torch.exp(likelihood.to(torch.float64).log_prob(
                grid, params.double().expand(grid.shape[0], -1)))
            total = torch.trapezoid(density, grid[:, 0])
        assert float(total.detach()) == pytest.approx(1.0, abs=2e-3)  # σ is learned

    def test_samples_match_the_mean(self, name, options):
        likelihood = make_likelihood(name, data_dim=1, **options)
        params = torch.full((200_000, likelihood.params_per_pixel), 0.7)
        samples = likelihood.sample(params, torch.Generator().manual_seed(2))
        expected = likelihood.mean(params[:1])[0, 0]
        assert float(samples.mean()) == pytest.approx(float(expected), abs=0.01)


@pytest.mark.parametrize("name, options", PRIOR_CASES)
class TestPriorContract:
    def test_shapes(self, name, options):
        prior = make_prior(name, **options)
        assert prior.log_prob(torch.randn(4, 3)).shape == (4,)
        assert prior.log_prob(torch.randn(5, 4, 3)).shape == (5, 4)
        assert prior.sample(7, torch.Generator().manual_seed(0)).shape == (7, 3)

    def test_density_integrates_to_one(self, name, options):
        prior = make_prior(name, latent_dim=1, dtype=torch.float64, **options)
        grid = torch.linspace(-40, 40, 400_001, dtype=torch.float64)[:, None]
        with torch.no_grad():
            density = torch.exp(prior.log_prob(grid))
        assert float(torch.trapezoid(density, grid[:, 0])) == pytest.approx(1.0, abs=1e-3)

    def test_samples_follow_the_density(self, name, options):
        """The sample mean and variance match the moments of log_prob (1-D, numerically)."""
        prior = make_prior(name, latent_dim=1, dtype=torch.float64, **options)
        with torch.no_grad():
            samples = prior.sample(200_000, torch.Generator().manual_seed(3))
            grid = torch.linspace(-40, 40, 400_001, dtype=torch.float64)[:, None]
            density = torch.exp(prior.log_prob(grid))
        mean = torch.trapezoid(density * grid[:, 0], grid[:, 0])
        variance = torch.trapezoid(density * (grid[:, 0] - mean) ** 2, grid[:, 0])
        assert float(samples.mean()) == pytest.approx(float(mean), abs=0.02)
        assert float(samples.var()) == pytest.approx(float(variance), rel=0.03)

    def test_analytic_kl_matches_monte_carlo(self, name, options):
        prior = make_prior(name, latent_dim=3, **options)
        generator = torch.Generator().manual_seed(4)
        q = DiagonalGaussian(torch.randn(2, 3, generator=generator),
                             0.5 * torch.randn(2, 3, generator=generator))
        with torch.no_grad():
            analytic = prior.kl(q)
            if analytic is None:
                pytest.skip("no analytic KL (Monte Carlo is used)")
            z = q.rsample(k=100_000, generator=generator)
            monte_carlo = (q.log_prob(z) - prior.log_prob(z)).mean(0)
        torch.testing.assert_close(analytic, monte_carlo, atol=0.03, rtol=0.01)
        per_dim = prior.kl_per_dim(q)
        torch.testing.assert_close(per_dim.sum(-1), analytic)

    def test_per_dim_log_prob_sums_to_log_prob(self, name, options):
        prior = make_prior(name, **options)
        z = torch.randn(4, 3)
        per_dim = prior.log_prob_per_dim(z)
        if per_dim is None:
            pytest.skip("prior does not factorise")
        torch.testing.assert_close(per_dim.sum(-1), prior.log_prob(z))

    def test_gradients_reach_learnable_priors(self, name, options):
        prior = make_prior(name, **options)
        if not list(prior.parameters()):
            pytest.skip("a fixed prior")
        prior.log_prob(torch.randn(4, 3)).sum().backward()
        for parameter in prior.parameters():
            assert parameter.grad is not None and parameter.grad.abs().sum() > 0


def test_shared_learned_scale_is_one_scalar_parameter():
    for name in ("gaussian-learned", "laplace-learned"):
        likelihood = make_likelihood(name, learned_scale="shared")
        assert likelihood.params_per_pixel == 1
        assert sum(p.numel() for p in likelihood.parameters()) == 1


def test_learned_scale_stays_inside_its_bounds():
    likelihood = make_likelihood("gaussian-learned", data_dim=2, sigma_min=0.05, sigma_max=2.0)
    params = torch.tensor([[0.0, 0.0, -1e4, 1e4]])  # location logits, then raw scales
    _, scale = likelihood.split(params)
    assert float(scale.min()) == pytest.approx(0.05)
    assert float(scale.max()) == pytest.approx(2.0)
    assert torch.isfinite(likelihood.log_prob(torch.zeros(1, 2), params)).all()


def test_continuous_bernoulli_is_stable_around_half_and_at_extremes():
    likelihood = make_likelihood("continuous-bernoulli", data_dim=1)
    logits = torch.tensor([[-80.0], [-1e-3], [0.0], [1e-3], [0.02], [80.0]])
    x = torch.full((6, 1), 0.3)
    values = likelihood.log_prob(x, logits)
    assert torch.isfinite(values).all()
    # Continuity across the series/closed-form switch at |l| = 0.01.
    near = likelihood.log_prob(torch.full((2, 1), 0.3), torch.tensor([[0.00999], [0.01001]]))
    assert float((near[0] - near[1]).abs()) < 1e-5
    assert torch.isfinite(likelihood.mean(logits)).all()


def test_normal_prior_n12_uses_std_not_variance():
    prior = make_prior("normal", latent_dim=1, mean=1.0, std=2.0)
    value = prior.log_prob(torch.tensor([[1.0]]))
    assert float(value) == pytest.approx(-math.log(2.0) - 0.5 * math.log(2 * math.pi))


@pytest.mark.parametrize("name, options", PRIOR_CASES)
def test_icdf_inverts_the_sampler(name, options):
    prior = make_prior(name, latent_dim=2, **options)
    probs = torch.tensor([[0.1, 0.1], [0.5, 0.5], [0.9, 0.9]])
    quantiles = prior.icdf(probs)
    if quantiles is None:
        pytest.skip("no per-dimension quantiles")
    with torch.no_grad():
        draws = prior.sample(200_000, torch.Generator().manual_seed(6))
    empirical = torch.quantile(draws[:, 0], probs[:, 0])
    torch.testing.assert_close(quantiles[:, 0], empirical, atol=0.02, rtol=0)


# -- networks, objectives and every registry: the same contract over declared examples ----
from vaelab.concepts import DATASETS, MODELS, NETWORKS, OBJECTIVES, POSTERIORS  # noqa: E402

NETWORK_CASES = examples_of(NETWORKS)
OBJECTIVE_CASES = examples_of(OBJECTIVES)


@pytest.mark.parametrize("name, options", NETWORK_CASES)
def test_network_maps_images_to_posterior_and_likelihood_parameters(name, options):
    from vaelab.config import Config
    from vaelab.model import VAE

    config = Config.from_dict({"network": {"name": name, "latent_dim": 3, **options},
                               "likelihood": {"name": "gaussian-learned"}})
    model = VAE(config, (8, 8))
    x = torch.rand(5, 64, generator=torch.Generator().manual_seed(0))
    q = model.posterior(x)
    assert q.mean.shape == (5, 3) and q.logvar.shape == (5, 3)
    params = model.decoder_params(torch.randn(4, 5, 3))  # [k, B, Z] → [k, B, P·D]
    assert params.shape == (4, 5, 2 * 64)
    assert torch.isfinite(params).all()


@pytest.mark.parametrize("name, options", OBJECTIVE_CASES)
def test_objective_returns_a_finite_loss_that_trains_the_encoder(name, options):
    from vaelab.concepts import MODELS
    from vaelab.config import Config
    from vaelab.objectives import build_objective

    torch.manual_seed(0)
    # An objective written for one model family (vq: the vqvae) is built with it.
    family = getattr(OBJECTIVES.get(name), "model_family", "vae")
    config = Config.from_dict({"network": {"hidden": [8], "latent_dim": 3},
                               "objective": {"name": name, **options},
                               "model": {"name": family}})
    model = MODELS.get(family)(config, (2, 3))
    objective = build_objective(config.objective, steps_per_epoch=2)
    objective.check(model)
    objective.attach(model)  # what the training loop does: builds any auxiliary networks
    x = torch.rand(16, 6, generator=torch.Generator().manual_seed(1)).round()
    out = objective(model, x, 3, generator=torch.Generator().manual_seed(2))
    again = objective(model, x, 3, generator=torch.Generator().manual_seed(2))
    assert out.loss.shape == () and torch.isfinite(out.loss)
    assert out.recon.shape == (16,) and out.kl.shape == (16,)
    torch.testing.assert_close(out.loss, again.loss)  # seeded: reproducible
    out.loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0
               for p in model.encoder.parameters())
    # An objective's auxiliary networks take a finite step of their own optimiser.
    for name, auxiliary in objective.auxiliaries.items():
        before = [p.detach().clone() for p in auxiliary.module.parameters()]
        objective.step_auxiliaries(model, x, 4, lambda: x.flip(0))
        after = list(auxiliary.module.parameters())
        assert all(torch.isfinite(p).all() for p in after), name
        assert any(not torch.equal(a, b) for a, b in zip(before, after, strict=True)), name


@pytest.mark.parametrize("registry", [DATASETS, NETWORKS, LIKELIHOODS, PRIORS, OBJECTIVES,
                                      POSTERIORS, MODELS], ids=lambda r: r.concept)
def test_every_component_describes_itself_in_one_line_from_its_config(registry):
    from vaelab.config import Config

    section = {"dataset": "data", "network": "network", "likelihood": "likelihood",
               "prior": "prior", "objective": "objective",
               "posterior": "posterior", "model": "model"}[registry.concept]
    name_key = "dataset" if section == "data" else "name"
    for name, entry in registry.items():
        for options in getattr(entry, "examples", [{}]):
            config = Config.from_dict({section: {name_key: name, **options}})
            line = entry.describe_config(getattr(config, section))
            assert isinstance(line, str) and line and "\n" not in line
            # The config round-trips through its stored form.
            assert Config.from_dict(config.to_dict()) == config


def test_building_a_perceptual_model_loads_nothing_until_features_are_handed_in(monkeypatch):
    """The perceptual loss's classifier is built once by vaelab.build, outside the model:
    constructing the VAE loads no data set and trains nothing."""
    import vaelab.classifier
    from vaelab.config import Config
    from vaelab.errors import VaelabError
    from vaelab.model import VAE

    def refuse(*args, **kwargs):
        raise AssertionError("the model constructor loaded the classifier")

    monkeypatch.setattr(vaelab.classifier, "load_or_train_classifier", refuse)
    config = Config.from_dict({"data": {"dataset": "digits"}, "network": {"hidden": [8]},
                               "likelihood": {"name": "perceptual"}})
    model = VAE(config, (8, 8))
    with pytest.raises(VaelabError, match="no feature network"):
        model.likelihood.log_prob(torch.rand(2, 64), torch.zeros(2, 64))
