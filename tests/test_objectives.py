"""Objectives and schedules: known answers."""

import pytest
import torch

from vaelab.config import Config
from vaelab.errors import VaelabError
from vaelab.model import VAE
from vaelab.objectives import build_objective, kl_per_dim
from vaelab.objectives.schedules import cyclical, linear_warmup, steps_from


def tiny(**overrides):
    torch.manual_seed(0)
    config = Config().replace(hidden="8", latent_dim=3, **overrides)
    return config, VAE(config, (2, 3))


def batch():
    return torch.rand(16, 6, generator=torch.Generator().manual_seed(1)).round()


def test_linear_warmup_values():
    assert [linear_warmup(s, 10) for s in (0, 5, 10, 20)] == [0.0, 0.5, 1.0, 1.0]
    assert linear_warmup(3, 0) == 1.0
    assert steps_from(2, "epochs", 30) == 60 and steps_from(45, "steps", 30) == 45


def test_cyclical_annealing_values():
    # Cycle of 8 steps, ramp over the first half (Fu et al. 2019).
    assert [cyclical(s, 8) for s in range(10)] == [0, 0.25, 0.5, 0.75, 1, 1, 1, 1, 0, 0.25]


def test_warmup_weights_the_kl_by_the_schedule():
    config, model = tiny(warmup=10, warmup_unit="steps", beta=2.0)
    objective = build_objective(config.objective, steps_per_epoch=5)
    x = batch()
    out = objective(model, x, step=5, generator=torch.Generator().manual_seed(0))
    assert out.kl_weight == pytest.approx(1.0)  # 2.0 · 5/10
    torch.testing.assert_close(out.loss, (out.recon + 1.0 * out.kl).mean())
    epochs = build_objective(config.objective.__class__(**{**config.objective.__dict__,
                                                           "warmup_unit": "epochs"}), 5)
    assert epochs.kl_weight(25) == pytest.approx(2.0 * 25 / 50)


def test_beta_zero_gives_no_kl_gradient():
    config, model = tiny(beta=0.0, prior="mog")
    objective = build_objective(config.objective)
    out = objective(model, batch(), 0, generator=torch.Generator().manual_seed(0))
    out.loss.backward()
    # The prior only enters through the KL: with β = 0 it gets no gradient at all.
    assert all(p.grad is None or float(p.grad.abs().sum()) == 0 for p in model.prior.parameters())
    torch.testing.assert_close(out.loss, out.recon.mean())


def test_free_bits_clamp_each_dimension_at_the_batch_mean():
    config, model = tiny(free_bits=0.5)
    objective = build_objective(config.objective)
    x = batch()
    with torch.no_grad():  # make dimension 0 carry a large KL, the others almost none
        model.encoder[-1].bias.zero_()
        model.encoder[-1].weight.zero_()
        model.encoder[-1].bias[0] = 3.0  # μ_0 = 3 for every image
    out = objective(model, x, 0, generator=torch.Generator().manual_seed(0))
    q = model.posterior(x)
    per_dim = kl_per_dim(model, q, q.mean).mean(0).detach()
    expected = out.recon.mean() + torch.clamp(per_dim, min=0.5).sum()
    torch.testing.assert_close(out.loss, expected)
    assert float(per_dim[0]) == pytest.approx(4.5, rel=1e-5) and float(per_dim[1:].max()) < 0.5
    # Below the floor a dimension gets no KL gradient; above it, it does. The encoder's
    # last bias is [μ_0, μ_1, μ_2, log σ²_0, log σ²_1, log σ²_2].
    (grad,) = torch.autograd.grad(out.loss - out.recon.mean(), model.encoder[-1].bias)
    assert float(grad[0]) != 0
    assert grad[[1, 2, 4, 5]].abs().sum() == 0


def test_free_bits_need_a_factorising_prior():
    config, model = tiny(free_bits=0.1, prior="mog")
    with pytest.raises(VaelabError, match="does not factorise"):
        build_objective(config.objective).check(model)


def test_iwae_with_one_sample_is_the_elbo():
    config, model = tiny(objective="iwae", iwae_k=1, prior="laplace")  # Monte Carlo KL
    x = batch()
    iwae = build_objective(config.objective)(model, x, 0,
                                             generator=torch.Generator().manual_seed(5))
    elbo_config, _ = tiny(prior="laplace")
    elbo = build_objective(elbo_config.objective)(model, x, 0,
                                                  generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(iwae.loss, elbo.loss)


def test_iwae_bound_is_above_the_elbo_on_average():
    config, model = tiny(objective="iwae", iwae_k=50)
    x = batch()
    bounds = []
    for seed in range(20):
        out = build_objective(config.objective)(model, x, 0,
                                                generator=torch.Generator().manual_seed(seed))
        bounds.append(-out.loss.item())
        elbo = out.elbo.mean().item()
    iwae_mean = sum(bounds) / len(bounds)
    assert iwae_mean > elbo


def test_iwae_gradient_matches_a_finite_difference():
    """The IWAE gradient is the gradient of the bound itself (no detach mistakes)."""
    config, model = tiny(objective="iwae", iwae_k=4)
    x = batch()
    objective = build_objective(config.objective)

    def bound():
        return objective(model, x, 0, generator=torch.Generator().manual_seed(9)).loss

    model.zero_grad()
    bound().backward()
    weight = model.encoder[0].weight
    analytic = weight.grad[0, 0].item()
    with torch.no_grad():
        weight[0, 0] += 1e-3
        up = bound().item()
        weight[0, 0] -= 2e-3
        down = bound().item()
        weight[0, 0] += 1e-3
    assert analytic == pytest.approx((up - down) / 2e-3, rel=0.02, abs=1e-4)


def test_autoencoder_uses_the_posterior_mean_and_no_kl():
    config, model = tiny(objective="ae")
    x = batch()
    out = build_objective(config.objective)(model, x, 0)
    expected = -model.likelihood.log_prob(x, model.decoder_params(model.posterior(x).mean))
    torch.testing.assert_close(out.recon, expected)
    assert float(out.kl.abs().sum()) == 0 and out.kl_weight == 0


def test_capacity_objective_targets_a_linearly_rising_kl():
    """Burgess et al. 2018 eq. 8: loss = mean recon + γ·|mean KL − C(step)|, C linear
    from 0 to C_max over capacity_steps, then constant."""
    config, model = tiny(objective="capacity", gamma=10.0, capacity_max=4.0,
                         capacity_steps=8)
    objective = build_objective(config.objective)
    assert [objective.capacity(s) for s in (0, 2, 8, 100)] == [0.0, 1.0, 4.0, 4.0]
    x = batch()
    out = objective(model, x, step=2, generator=torch.Generator().manual_seed(0))
    expected = out.recon.mean() + 10.0 * (out.kl.mean() - 1.0).abs()
    torch.testing.assert_close(out.loss, expected)
    assert out.kl_weight == 10.0
    # The logged KL is the true ELBO's: the same as the plain ELBO's with the same noise.
    plain = build_objective(Config().replace(hidden="8", latent_dim=3).objective)
    reference = plain(model, x, 2, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(out.kl, reference.kl)
    torch.testing.assert_close(out.recon, reference.recon)


def test_capacity_objective_trains_and_describes_itself(tmp_path, monkeypatch, capsys):
    from conftest import run_cli

    import vaelab

    out = tmp_path / "cap"
    code, _, err = run_cli(monkeypatch, capsys, "train", "--dataset", "digits", "--epochs", 1,
                           "--hidden", 16, "--latent-dim", 2, "--objective", "capacity",
                           "--capacity-max", 5, "--capacity-steps", 20, "--quiet", "--out", out)
    assert code == 0, err
    run = vaelab.load_run(out)
    assert run.config.objective.capacity_max == 5.0
    code, _, err = run_cli(monkeypatch, capsys, "train", "--dataset", "digits", "--objective",
                           "capacity", "--beta", 4, "--out", tmp_path / "x")
    assert code == 2 and "objective capacity does not read --beta" in err


@pytest.mark.parametrize("objective, words", [
    ({"name": "ae"}, "deterministic encoder"),
    ({"name": "rae-l2"}, "deterministic encoder"),
    ({"name": "wae-mmd"}, "deterministic encoder"),
    ({"name": "wae-mmd", "wae_encoder": "gaussian"}, "diagonal Gaussian q"),
    ({"name": "elbo"}, "diagonal Gaussian q"),
])
def test_a_model_is_described_by_the_encoder_its_objective_uses(objective, words):
    from vaelab.config import Config
    from vaelab.describe import describe_model

    assert words in describe_model(Config.from_dict({"objective": objective}))
