"""MIWAE, PIWAE and CIWAE (Rainforth et al. 2018): known answers on the same samples."""

import pytest
import torch
from test_objectives import batch, tiny  # the same tiny model and binary batch

from vaelab.config import Config
from vaelab.errors import VaelabError
from vaelab.objectives import build_objective
from vaelab.objectives.iwae import importance_weights


def loss_of(model, objective_options, seed=5, **overrides):
    config = Config().replace(hidden="8", latent_dim=3, **objective_options, **overrides)
    objective = build_objective(config.objective)
    return objective(model, batch(), 0, generator=torch.Generator().manual_seed(seed))


def log_weights(model, samples, seed=5):
    with torch.no_grad():
        return importance_weights(model, batch(), samples,
                                  torch.Generator().manual_seed(seed)).log_w


def test_miwae_with_one_bound_is_iwae_on_the_same_samples():
    _, model = tiny()
    miwae = loss_of(model, dict(objective="miwae", iwae_m=1, iwae_k=4))
    iwae = loss_of(model, dict(objective="iwae", iwae_k=4))
    torch.testing.assert_close(miwae.loss, iwae.loss, rtol=0, atol=0)
    torch.testing.assert_close(miwae.recon, iwae.recon)


def test_miwae_averages_m_iwae_bounds_of_k_samples_each():
    _, model = tiny()
    out = loss_of(model, dict(objective="miwae", iwae_m=3, iwae_k=2))
    log_w = log_weights(model, 6)  # the same 6 samples; group m holds samples 2m, 2m+1
    by_hand = 0.0
    for m in range(3):
        pair = log_w[2 * m:2 * m + 2]
        by_hand = by_hand + torch.log(torch.exp(pair).mean(0)) / 3
    torch.testing.assert_close(out.loss, -by_hand.mean())
    # K = 1: the M-sample Monte Carlo ELBO.
    elbo = loss_of(model, dict(objective="miwae", iwae_m=6, iwae_k=1))
    torch.testing.assert_close(elbo.loss, -log_w.mean())


def test_ciwae_is_the_elbo_at_beta_one_and_iwae_at_beta_zero():
    _, model = tiny(prior="laplace")  # Monte Carlo KL, so the ELBO objective is log w too
    x = batch()
    log_w = log_weights(model, 4)
    at_one = loss_of(model, dict(objective="ciwae", ciwae_beta=1.0, iwae_k=4))
    torch.testing.assert_close(at_one.loss, -log_w.mean())  # mean over samples and images
    at_zero = loss_of(model, dict(objective="ciwae", ciwae_beta=0.0, iwae_k=4))
    iwae = loss_of(model, dict(objective="iwae", iwae_k=4))
    torch.testing.assert_close(at_zero.loss, iwae.loss)
    between = loss_of(model, dict(objective="ciwae", ciwae_beta=0.3, iwae_k=4))
    torch.testing.assert_close(between.loss, 0.3 * at_one.loss + 0.7 * at_zero.loss)
    # One sample, β = 1: exactly the plain ELBO objective's loss with the same noise.
    single = loss_of(model, dict(objective="ciwae", ciwae_beta=1.0, iwae_k=1))
    elbo_config = Config().replace(hidden="8", latent_dim=3, prior="laplace")
    elbo = build_objective(elbo_config.objective)(model, x, 0,
                                                  generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(single.loss, elbo.loss)


def gradients(model, options):
    model.zero_grad()
    loss_of(model, options, prior="mog").loss.backward()  # a prior with parameters
    return {name: p.grad.clone() for name, p in model.named_parameters()
            if p.grad is not None}


def test_piwae_gives_the_encoder_miwae_and_the_rest_iwae_gradients():
    _, model = tiny(prior="mog")
    piwae = gradients(model, dict(objective="piwae", iwae_m=2, iwae_k=3))
    miwae = gradients(model, dict(objective="miwae", iwae_m=2, iwae_k=3))
    iwae = gradients(model, dict(objective="iwae", iwae_k=6))  # all M·K samples
    encoder = {f"encoder.{name}" for name, _ in model.encoder.named_parameters()}
    rest = set(piwae) - encoder
    assert encoder <= set(piwae) and any(name.startswith("decoder.") for name in rest)
    assert any(name.startswith("prior.") for name in rest)
    for name in encoder:
        torch.testing.assert_close(piwae[name], miwae[name])
        assert not torch.allclose(piwae[name], iwae[name])  # the two targets differ
    for name in rest:
        torch.testing.assert_close(piwae[name], iwae[name])
        assert not torch.allclose(piwae[name], miwae[name])


def test_piwae_reports_the_iwae_bound_with_or_without_gradients():
    _, model = tiny()
    options = dict(objective="piwae", iwae_m=2, iwae_k=3)
    iwae = loss_of(model, dict(objective="iwae", iwae_k=6))
    torch.testing.assert_close(loss_of(model, options).loss, iwae.loss)
    with torch.no_grad():  # validation
        torch.testing.assert_close(loss_of(model, options).loss, iwae.loss)


def test_options_are_read_only_by_their_objectives():
    assert Config().replace(objective="piwae", iwae_m=3).objective.iwae_m == 3
    with pytest.raises(VaelabError, match="objective iwae does not read --iwae-m"):
        Config().replace(objective="iwae", iwae_m=3)
    with pytest.raises(VaelabError, match="--ciwae-beta"):
        Config().replace(objective="ciwae", ciwae_beta=1.5)
