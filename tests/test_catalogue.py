"""Every likelihood, prior, objective and network trains end to end and survives the run
directory; parameter counts match the seed study's table."""

import pytest
import torch
from conftest import component_examples, component_flags, requires_mnist, run_cli

import vaelab
from vaelab.config import Config
from vaelab.errors import VaelabError
from vaelab.likelihoods import LIKELIHOODS
from vaelab.model import VAE
from vaelab.priors import PRIORS

SMALL = ["--dataset", "mnist", "--subset", 512, "--epochs", 1, "--hidden", 64,
         "--latent-dim", 4, "--quiet"]


def smoke(tmp_path, monkeypatch, capsys, *options):
    out = tmp_path / "run"
    code, _, err = run_cli(monkeypatch, capsys, "train", *SMALL, *options, "--out", out)
    assert code == 0, err
    run = vaelab.load_run(out)
    # The test ELBO, or a plain autoencoder's reconstruction error (it has no ELBO).
    test = run.metrics["test"]
    assert torch.isfinite(torch.tensor(test["elbo"] if "elbo" in test else test["recon"]))
    # The run directory restores the exact model (learned scales and priors included).
    x = run.data.test.x[:8]
    generator = torch.Generator().manual_seed(0)
    z = run.model.prior.sample(4, generator=generator)
    assert run.model.reconstruct(x).shape == (8, 1, 28, 28)  # [B, C, H, W]
    reloaded = vaelab.load_run(out)
    assert torch.equal(reloaded.model.decode(z), run.model.decode(z))
    return run


@requires_mnist
@pytest.mark.parametrize("name, options", [p for p in component_examples(LIKELIHOODS)
                                           if p.values[0] != "perceptual"])
def test_one_epoch_per_likelihood(tmp_path, monkeypatch, capsys, name, options):
    run = smoke(tmp_path, monkeypatch, capsys, *component_flags("likelihood", name, options))
    assert run.config.likelihood.name == name


@requires_mnist
@pytest.mark.parametrize("name, options", component_examples(PRIORS))
def test_one_epoch_per_prior(tmp_path, monkeypatch, capsys, name, options):
    run = smoke(tmp_path, monkeypatch, capsys, *component_flags("prior", name, options))
    assert run.config.prior.name == name


@requires_mnist
@pytest.mark.parametrize("options", [
    ["--objective", "ae"],
    ["--objective", "iwae", "--iwae-k", 3],
    ["--warmup", 1, "--free-bits", 0.05],
    ["--warmup", 5, "--warmup-unit", "steps", "--anneal", "cyclical"],
    ["--network", "conv", "--channels", "8,16"],
    ["--gated", "--init", "kaiming"],
])
def test_one_epoch_per_objective_and_network(tmp_path, monkeypatch, capsys, options):
    smoke(tmp_path, monkeypatch, capsys, *options)


def test_autoencoder_metrics_say_they_are_not_an_elbo(tmp_path):
    run = vaelab.train(out=tmp_path / "ae", progress=False, figures=False, dataset="digits",
                       objective="ae", epochs=1, hidden="16", latent_dim=2)
    assert "not an ELBO" in run.metrics["test"]["estimator"]
    # An autoencoder has no KL and no ELBO: only its reconstruction error is reported.
    assert "kl" not in run.metrics["test"] and "elbo" not in run.metrics["test"]
    assert run.metrics["test"]["recon"] > 0


@pytest.mark.parametrize("hidden, expected", [([], 151_441), ([128], 226_449)])
def test_parameter_counts_of_the_depth_study(hidden, expected):
    """Seed study 002's table: MLP weights plus one shared learned decoder σ."""
    config = Config().replace(hidden=hidden, latent_dim=64, likelihood="gaussian-learned",
                              learned_scale="shared")
    assert VAE(config, (28, 28)).parameter_counts()["total"] == expected


def test_conv_network_shapes_and_errors():
    for shape in ((28, 28), (8, 8)):
        config = Config().replace(network="conv", channels="8,16", latent_dim=3,
                                  likelihood="gaussian-learned")
        model = VAE(config, shape)
        x = torch.rand(5, shape[0] * shape[1])
        assert model.encoder(x).shape == (5, 6)
        assert model.decoder_params(torch.randn(7, 5, 3)).shape == (7, 5, 2 * x.shape[1])
    # Stages halve rounding down (28 → 14 → 7 → 3), so three stages fit 28×28 (they were
    # refused before colour images and the 4-stage benchmark stacks); six leave nothing.
    model = VAE(Config().replace(network="conv", channels="8,16,32"), (28, 28))
    assert model.decoder_params(torch.randn(2, 20)).shape == (2, 784)
    with pytest.raises(VaelabError, match="leaves nothing of 28×28"):
        VAE(Config().replace(network="conv", channels="2,2,2,2,2"), (28, 28))


def test_free_bits_with_a_mixture_prior_fails_before_training(tmp_path):
    with pytest.raises(VaelabError, match="does not factorise"):
        vaelab.train(out=tmp_path / "run", progress=False, dataset="digits", prior="mog",
                     free_bits=0.1, epochs=1, hidden="8", latent_dim=2)
    assert not (tmp_path / "run").exists()


def test_perceptual_loss_trains_and_is_labelled_a_loss(tmp_path, monkeypatch):
    monkeypatch.setenv("VAELAB_CACHE", str(tmp_path / "cache"))
    run = vaelab.train(out=tmp_path / "run", progress=False, figures=False, dataset="digits",
                       likelihood="perceptual", perceptual_weight=0.01, pixel_loss="bce",
                       epochs=1, hidden="16", latent_dim=2)
    assert run.metrics["test"]["likelihood_is_density"] is False
    assert "not a density" in run.model.likelihood.describe()
    reloaded = vaelab.load_run(run.path)  # the cached classifier is found again
    z = torch.zeros(2, 2)
    assert torch.equal(reloaded.model.decode(z), run.model.decode(z))
