"""FactorVAE (Kim & Mnih 2018): the permutation, the discriminator's density-ratio estimate
of the total correlation on codes with a known answer, the loss, and the training loop's
auxiliary network (stepped, saved, reloaded)."""

import math

import pytest
import torch

import vaelab
from vaelab import rundir
from vaelab.config import Config
from vaelab.errors import VaelabError
from vaelab.model import VAE
from vaelab.objectives import build_objective
from vaelab.objectives.factorvae import permute_dims
from vaelab.resume import RESUME_FILE


def factorvae(latent_dim=2, **options):
    torch.manual_seed(0)
    config = Config().replace(hidden="8", latent_dim=latent_dim, objective="factorvae",
                              **options)
    model = VAE(config, (2, 3))
    objective = build_objective(config.objective)
    objective.attach(model)
    return objective, model


def test_permute_dims_shuffles_each_dimension_on_its_own():
    z = torch.arange(40.0).view(20, 2) * torch.tensor([1.0, -1.0])
    permuted = permute_dims(z, torch.Generator().manual_seed(0))
    for j in range(2):  # every column keeps its values (the marginals q(z_j))...
        assert torch.equal(permuted[:, j].sort().values, z[:, j].sort().values)
    # ...but the columns are shuffled apart: the rows are no longer the original pairs.
    pairs = {tuple(row) for row in z.tolist()}
    assert sum(tuple(row) in pairs for row in permuted.tolist()) < 10


def train_discriminator(objective, rho, steps=200, batch=256):
    """Train D on codes of N(0, [[1, ρ], [ρ, 1]]) against their dimension-permuted copies;
    return (accuracy on fresh codes, TC estimate on fresh joint codes)."""
    generator = torch.Generator().manual_seed(1)
    cholesky = torch.tensor([[1.0, 0.0], [rho, math.sqrt(1 - rho**2)]])

    def codes(n):
        return torch.randn(n, 2, generator=generator) @ cholesky.T

    for _ in range(steps):
        objective.update_discriminator(codes(batch), permute_dims(codes(batch), generator))
    with torch.no_grad():
        joint = objective.discriminator(codes(4000))
        permuted = objective.discriminator(permute_dims(codes(4000), generator))
        accuracy = 0.5 * float((joint > 0).float().mean() + (permuted < 0).float().mean())
        return accuracy, float(objective.total_correlation(codes(4000)))


def test_discriminator_separates_correlated_codes_and_estimates_their_tc():
    objective, _ = factorvae(discriminator_hidden="32,32", discriminator_lr=1e-3)
    accuracy, tc = train_discriminator(objective, rho=0.9)
    assert accuracy > 0.7  # chance is 0.5
    # The density-ratio estimate of TC = KL(q(z) ‖ q(z1)q(z2)) = −½ log(1 − ρ²) nats.
    assert tc == pytest.approx(-0.5 * math.log(1 - 0.9**2), abs=0.3)


def test_tc_estimate_of_independent_codes_is_about_zero():
    objective, _ = factorvae(discriminator_hidden="32,32", discriminator_lr=1e-3)
    accuracy, tc = train_discriminator(objective, rho=0.0)
    assert abs(tc) < 0.1 and accuracy < 0.56


def test_loss_is_the_elbo_plus_gamma_times_the_tc_estimate():
    objective, model = factorvae(latent_dim=3, gamma=7.0, discriminator_hidden="8")
    x = torch.rand(16, 6, generator=torch.Generator().manual_seed(1)).round()
    out = objective(model, x, 0, generator=torch.Generator().manual_seed(2))
    elbo = build_objective(Config().replace(hidden="8", latent_dim=3).objective)
    plain = elbo(model, x, 0, generator=torch.Generator().manual_seed(2))
    z = model.posterior(x).rsample(generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(out.recon, plain.recon)  # the true ELBO's terms are logged
    torch.testing.assert_close(out.kl, plain.kl)
    torch.testing.assert_close(out.loss, plain.loss + 7.0 * objective.discriminator(z).mean())


def test_the_discriminator_must_be_attached_before_use():
    config = Config().replace(hidden="8", latent_dim=2, objective="factorvae")
    with pytest.raises(VaelabError, match="attach"):
        build_objective(config.objective)(VAE(config, (2, 3)), torch.zeros(2, 6), 0)


TINY = dict(dataset="digits", hidden="16", latent_dim=2, batch_size=64, objective="factorvae",
            discriminator_hidden="16", seed=3, progress=False, figures=False)


def test_the_loop_steps_saves_and_reloads_the_discriminator(tmp_path, monkeypatch):
    from vaelab.objectives.factorvae import FactorVAE

    calls = []
    update = FactorVAE.update_discriminator

    def counted(self, joint, permuted):
        calls.append((joint.shape, permuted.shape, joint.requires_grad))
        return update(self, joint, permuted)

    monkeypatch.setattr(FactorVAE, "update_discriminator", counted)
    run = vaelab.train(out=tmp_path / "run", epochs=1, **TINY)
    # One discriminator step after every model step, on two full batches of codes.
    assert len(calls) == run.history[-1]["step"]
    assert calls[0] == ((64, 2), (64, 2), False)
    tensors, _ = rundir.load_checkpoint(run.path / "model.safetensors")
    saved = sorted(k for k in tensors if k.startswith("auxiliary."))
    assert saved == ["auxiliary.discriminator.0.bias", "auxiliary.discriminator.0.weight",
                     "auxiliary.discriminator.2.bias", "auxiliary.discriminator.2.weight"]
    resume, _ = rundir.load_checkpoint(run.path / RESUME_FILE)
    assert {f"auxiliary.discriminator.optim.0.{key}" for key in ("step", "exp_avg",
                                                                 "exp_avg_sq")} <= set(resume)
    assert "rng.auxiliary" in resume  # the second batches' own stream
    loaded = vaelab.load_run(run.path)  # reads the model's own tensors
    assert not any(k.startswith("auxiliary.") for k in loaded.model.state_dict())


def test_factorvae_logs_its_total_correlation_estimate(tmp_path):
    import vaelab

    run = vaelab.train(out=tmp_path / "f", progress=False, figures=False, dataset="digits",
                       objective="factorvae", discriminator_hidden="16", epochs=1,
                       hidden="16", latent_dim=2)
    row = run.history[-1]
    assert "train_tc" in row and math.isfinite(row["train_tc"])
