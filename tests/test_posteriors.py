"""The shared contract of every registered posterior, over each one's example options:
shapes, the exact log-density (log-determinant against autograd's Jacobian; log q
integrates to 1 in 1-D and 2-D), invertibility, and the rule that closed forms apply to
the diagonal Gaussian alone."""


import pytest
import torch

from vaelab.config import Config
from vaelab.errors import VaelabError
from vaelab.model import VAE
from vaelab.posterior import DiagonalGaussian
from vaelab.posteriors import POSTERIORS

# Small tensor loops are fastest on one thread, and a busy machine cannot stall them.
pytestmark = pytest.mark.usefixtures("one_thread")

CASES = [pytest.param(name, options, id=f"{name}-{index}")
         for name, entry in POSTERIORS.items()
         for index, options in enumerate(entry.examples)]


def make_q(name, options, latent_dim, batch=3, seed=0, scale=0.5):
    """q(z|x) of the family for ``batch`` random raw encoder outputs, float64."""
    torch.manual_seed(seed)
    config = Config.from_dict({"network": {"latent_dim": latent_dim},
                               "posterior": {"name": name, **options}})
    family = POSTERIORS.get(name)(config.posterior, latent_dim).double()
    raw = scale * torch.randn(batch, family.raw_size, dtype=torch.float64,
                              generator=torch.Generator().manual_seed(seed))
    return family, family(raw)


@pytest.mark.parametrize("name, options", CASES)
def test_shapes_and_log_prob_of_own_samples(name, options):
    _, q = make_q(name, options, latent_dim=3, batch=4)
    z, log_q = q.rsample_with_log_prob(5, generator=torch.Generator().manual_seed(1))
    assert z.shape == (5, 4, 3) and log_q.shape == (5, 4) and q.mean.shape == (4, 3)
    assert q.rsample(generator=torch.Generator().manual_seed(1)).shape == (4, 3)
    assert torch.isfinite(log_q).all()
    # log_prob of any z (a copy: not one of its own samples) agrees with the path value.
    torch.testing.assert_close(q.log_prob(z.clone()), log_q, atol=1e-8, rtol=1e-8)


@pytest.mark.parametrize("name, options", CASES)
@pytest.mark.parametrize("latent_dim", [1, 2])
def test_log_q_integrates_to_one(name, options, latent_dim):
    """∫ q(z|x) dz = 1 on a grid (trapezoid in 1-D, midpoint in 2-D) for one image."""
    _, q = make_q(name, options, latent_dim, batch=1)
    if latent_dim == 1:
        grid = torch.linspace(-12, 12, 4001, dtype=torch.float64)
        density = q.log_prob(grid[:, None, None]).exp()[:, 0]  # [G]
        total = torch.trapezoid(density, grid)
    else:
        side = torch.linspace(-8, 8, 241, dtype=torch.float64)
        step = float(side[1] - side[0])
        zz = torch.stack(torch.meshgrid(side, side, indexing="ij"), -1).reshape(-1, 1, 2)
        total = q.log_prob(zz).exp().sum() * step**2
    assert abs(float(total.detach()) - 1.0) < 2e-3


@pytest.mark.parametrize("name, options", [c for c in CASES if c.values[0] not in
                                           ("gaussian", "full-gaussian")])
def test_flow_log_det_equals_autograd_jacobian_and_steps_invert(name, options):
    _, q = make_q(name, options, latent_dim=3, batch=2, scale=1.0)
    z = torch.randn(2, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    for step in q.steps:
        y, log_det = step.forward(z)
        for b in range(2):
            jacobian = torch.autograd.functional.jacobian(
                lambda v, b=b, step=step, z=z: step.forward(
                    torch.cat([z[:b], v[None], z[b + 1:]]))[0][b], z[b])
            expected = torch.linalg.slogdet(jacobian).logabsdet
            torch.testing.assert_close(log_det[b], expected, atol=1e-9, rtol=1e-9)
        torch.testing.assert_close(step.inverse(y), z, atol=1e-8, rtol=1e-8)
        z = y


def test_full_gaussian_log_prob_equals_torch_multivariate_normal():
    _, q = make_q("full-gaussian", {}, latent_dim=3, batch=4)
    z = q.rsample(6, generator=torch.Generator().manual_seed(2))
    reference = torch.distributions.MultivariateNormal(q.mean, scale_tril=q.scale_tril)
    torch.testing.assert_close(q.log_prob(z), reference.log_prob(z))


def test_gaussian_family_is_the_diagonal_gaussian_of_before():
    family, q = make_q("gaussian", {}, latent_dim=3)
    assert isinstance(q, DiagonalGaussian) and family.raw_size == 6
    assert list(family.parameters()) == []  # old checkpoints load unchanged


def test_planar_inverse_holds_where_the_raw_u_would_not_be_invertible():
    """û's correction (Appendix A.1) makes wᵀû ≥ −1 even for wᵀu ≪ −1."""
    from vaelab.posteriors.planar import PlanarStep

    w = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    step = PlanarStep(-5 * w, w, torch.zeros(1, 1, dtype=torch.float64))
    assert float((step.w * step.u).sum()) >= -1
    z = torch.tensor([[0.3, -2.0]], dtype=torch.float64)
    torch.testing.assert_close(step.inverse(step.forward(z)[0]), z)


@pytest.mark.parametrize("name", ["planar", "iaf", "full-gaussian"])
def test_models_with_other_posteriors_use_monte_carlo_kl_and_refuse_per_dimension_tricks(name):
    from vaelab.objectives import build_objective, kl_per_dim, kl_term

    config = Config.from_dict({"network": {"latent_dim": 2, "hidden": [8]},
                               "posterior": {"name": name}})
    model = VAE(config, (2, 3))
    x = torch.rand(5, 6, generator=torch.Generator().manual_seed(0)).round()
    q = model.posterior(x)
    z = q.rsample()
    torch.testing.assert_close(kl_term(model, q, z), q.log_prob(z) - model.prior.log_prob(z))
    assert kl_per_dim(model, q, z) is None
    free_bits = Config.from_dict({**config.to_dict(), "objective": {"free_bits": 0.1}})
    with pytest.raises(VaelabError, match="posterior's dimensions are not independent"):
        build_objective(free_bits.objective).check(VAE(free_bits, (2, 3)))
    with pytest.raises(VaelabError, match="--posterior gaussian"):
        VAE(Config.from_dict({**config.to_dict(), "prior": {"name": "vampprior"}}), (2, 3))


def test_flow_posterior_trains_and_its_gradients_reach_the_flow():
    from vaelab.objectives import build_objective

    torch.manual_seed(0)
    config = Config.from_dict({"network": {"latent_dim": 2, "hidden": [8]},
                               "posterior": {"name": "iaf", "flow_length": 2},
                               "objective": {"name": "iwae", "iwae_k": 3}})
    model = VAE(config, (2, 3))
    x = torch.rand(8, 6, generator=torch.Generator().manual_seed(1)).round()
    out = build_objective(config.objective)(model, x, 0)
    out.loss.backward()
    assert torch.isfinite(out.loss)
    assert any(p.grad is not None and p.grad.abs().sum() > 0
               for p in model.posterior_family.parameters())


def test_unknown_posterior_and_foreign_option_are_one_clear_line():
    with pytest.raises(VaelabError, match="planar"):
        Config.from_dict({"posterior": {"name": "planr"}})
    with pytest.raises(VaelabError, match="does not read --flow-length"):
        Config.from_dict({"posterior": {"name": "gaussian", "flow_length": 7}})
