"""--model ladder (Sønderby et al. 2016): several stochastic layers through the one loop."""

import math

import pytest
import torch
from conftest import run_cli

import vaelab
from vaelab import rundir
from vaelab.config import Config
from vaelab.errors import VaelabError
from vaelab.metrics.iw_nll import importance_sampled_log_px
from vaelab.model import VAE
from vaelab.models.ladder import LadderVAE, merge
from vaelab.objectives import true_elbo
from vaelab.posterior import LOG_2PI, DiagonalGaussian

SHAPE = (2, 3)


def ladder(dims, **network):
    config = Config.from_dict({"model": {"name": "ladder", "latent_dims": dims,
                                         "ladder_hidden": 8},
                               "network": {"hidden": [8], **network}})
    return LadderVAE(config, SHAPE)


def batch():
    return torch.rand(6, 6, generator=torch.Generator().manual_seed(1)).round()


def test_a_one_layer_ladder_is_the_vae_on_the_same_weights():
    torch.manual_seed(0)
    vae = VAE(Config.from_dict({"network": {"hidden": [8], "latent_dim": 3}}), SHAPE)
    one = ladder([3])
    one.load_state_dict(vae.state_dict())  # the same tensors, under the same names
    x = batch()

    def elbo(model):
        return true_elbo()(model, x, 0, generator=torch.Generator().manual_seed(2)).elbo

    torch.testing.assert_close(elbo(one), elbo(vae), rtol=0, atol=1e-6)
    torch.testing.assert_close(importance_sampled_log_px(one, x, 7, seed=3)[0],
                               importance_sampled_log_px(vae, x, 7, seed=3)[0])
    with torch.no_grad():  # another decoder: another ELBO (the check above can fail)
        one.decoder[0].bias += 1.0
    assert not torch.allclose(elbo(one), elbo(vae))


def test_merge_is_the_precision_weighted_product():
    up = DiagonalGaussian(torch.tensor([[0.0]]), torch.tensor([[0.0]]))  # N(0, 1)
    down = DiagonalGaussian(torch.tensor([[2.0]]), torch.tensor([[math.log(3.0)]]))  # N(2, 3)
    merged = merge(up, down)
    # precisions 1 + 1/3 = 4/3: variance 3/4, mean (0·1 + 2/3) · 3/4 = 1/2
    torch.testing.assert_close(merged.mean, torch.tensor([[0.5]]))
    torch.testing.assert_close(merged.logvar.exp(), torch.tensor([[0.75]]))


def test_a_ladder_whose_top_down_maps_are_zero_has_a_standard_normal_prior():
    model = ladder([3, 2])
    with torch.no_grad():
        for p in model.prior.down.parameters():
            p.zero_()
    z = torch.randn(4, 5, generator=torch.Generator().manual_seed(0))
    expected = (-0.5 * (z**2 + LOG_2PI)).sum(-1)
    torch.testing.assert_close(model.prior.log_prob(z), expected)


def test_layer_kls_sum_to_the_monte_carlo_kl_and_log_q_is_that_of_the_draw():
    torch.manual_seed(0)
    model = ladder([3, 2, 2])
    x = batch()
    q = model.posterior(x)
    z, log_q = q.rsample_with_log_prob(20000, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(q.log_prob(z), log_q)  # the exact density of its own draw
    monte_carlo = (log_q - model.prior.log_prob(z)).mean(0)
    layers = model.prior.kl_layers(q, z)
    assert list(layers) == ["kl_z1", "kl_z2", "kl_z3"]
    analytic = sum(layers.values()).mean(0)
    torch.testing.assert_close(analytic, monte_carlo, atol=0.05, rtol=0.02)


def test_latent_dim_and_other_posteriors_are_refused_in_one_line():
    with pytest.raises(VaelabError, match="drop --latent-dim"):
        ladder([3, 2], latent_dim=7)
    config = Config.from_dict({"model": {"name": "ladder"}, "posterior": {"name": "planar"}})
    with pytest.raises(VaelabError, match="drop --posterior planar"):
        LadderVAE(config, SHAPE)


def test_ladder_trains_logs_kl_per_layer_and_reports_per_layer_collapse(tmp_path, monkeypatch,
                                                                      capsys):
    out = tmp_path / "ladder"
    code, _, err = run_cli(monkeypatch, capsys, "train", "--model", "ladder", "--latent-dims",
                           "4,2", "--ladder-hidden", 8, "--dataset", "digits", "--epochs", 1,
                           "--hidden", 16, "--quiet", "--out", out)
    assert code == 0, err
    row = rundir.read_history(out / rundir.HISTORY_FILE)[0]
    assert row["train_kl_z1"] + row["train_kl_z2"] == pytest.approx(row["train_kl"])
    assert (out / "figures" / "layers.png").is_file()
    code, _, err = run_cli(monkeypatch, capsys, "eval", out, "--metrics", "collapse,iw-nll",
                           "--iw-samples", 4)
    assert code == 0, err
    test = vaelab.load_run(out).metrics["test"]
    assert [layer["dims"] for layer in test["collapse"]["layers"].values()] == [4, 2]
    assert "full hierarchical" in test["iw_nll"]["estimator"]
