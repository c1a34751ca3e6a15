"""Colour models: the conv and resnet networks on [C, H, W] images of 28, 32 and 64
pixels, the discretised logistic mixture (sums to 1, matches a hand computation, exact
mean), bits/dim, and `vaelab train` → `vaelab eval` on test-written CIFAR-10 files and on
an RGB npz with every figure."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from colour_fixtures import write_cifar10
from conftest import run_cli

from vaelab.config import Config, LikelihoodConfig
from vaelab.errors import VaelabError
from vaelab.evaluate import bits_per_dim
from vaelab.likelihoods import build_likelihood
from vaelab.model import VAE
from vaelab.networks.conv import stage_sizes


def sigmoid(v: float) -> float:
    return 1 / (1 + math.exp(-v))


def test_stages_round_down_and_the_decoder_restores_each_size() -> None:
    assert [h for h, _ in stage_sizes((3, 28, 28), 4)] == [28, 14, 7, 3, 1]
    assert [h for h, _ in stage_sizes((3, 64, 64), 4)] == [64, 32, 16, 8, 4]


@pytest.mark.parametrize("network, options", [
    ("conv", {"channels": "4,4,8,8", "hidden": "16"}),  # the 4-stage benchmark shape
    ("resnet", {"channels": "4,8,8,8", "blocks": 1, "norm": "group", "hidden": "none"}),
    ("resnet", {"channels": "4,4,4,4", "norm": "batch"}),
])
@pytest.mark.parametrize("side", [28, 32, 64])
def test_colour_networks_at_28_32_and_64_pixels(network, options, side) -> None:
    config = Config().replace(network=network, latent_dim=3, likelihood="discretized-logistic",
                              mixtures=2, **options)
    model = VAE(config, (3, side, side)).eval()
    x = torch.rand(2, 3 * side * side)
    assert model.encoder(x).shape == (2, 6)
    assert model.decoder_params(torch.randn(5, 2, 3)).shape == (5, 2, 6 * 3 * side * side)
    assert model.reconstruct(x).shape == (2, 3, side, side)


def test_too_many_stages_are_one_line() -> None:
    with pytest.raises(VaelabError, match="resnet .* leaves nothing of 8×8; use at most 3"):
        VAE(Config().replace(network="resnet", channels="2,2,2,2"), (3, 8, 8))


def logistic(mixtures: int = 1):
    return build_likelihood(LikelihoodConfig(name="discretized-logistic", mixtures=mixtures), 1)


def test_discretized_logistic_matches_a_hand_computation_and_its_edges() -> None:
    likelihood = logistic()
    mu, scale = 0.1, 0.2
    params = torch.tensor([[0.0, mu, math.log(scale)]], dtype=torch.float64)
    half = 1 / 255
    for level, expected in [
        (128, sigmoid((128 / 127.5 - 1 + half - mu) / scale)
         - sigmoid((128 / 127.5 - 1 - half - mu) / scale)),
        (0, sigmoid((-1 + half - mu) / scale)),  # all the mass below the first edge
        (255, 1 - sigmoid((1 - half - mu) / scale)),  # all the mass above the last edge
    ]:
        x = torch.tensor([[level / 255]], dtype=torch.float64)
        assert float(likelihood.log_prob(x, params).exp()) == pytest.approx(expected, rel=1e-9)
    # A mixture with weights ¼ and ¾: the weighted sum of the two components' masses.
    mixture = logistic(2)
    params = torch.tensor([[0.0, math.log(3), -0.5, 0.5, math.log(0.1), math.log(0.3)]],
                          dtype=torch.float64)
    x = torch.tensor([[100 / 255]], dtype=torch.float64)
    y = 100 / 127.5 - 1

    def mass(m: float, s: float) -> float:
        return sigmoid((y + half - m) / s) - sigmoid((y - half - m) / s)

    expected = 0.25 * mass(-0.5, 0.1) + 0.75 * mass(0.5, 0.3)
    assert float(mixture.log_prob(x, params).exp()) == pytest.approx(expected, rel=1e-9)


def test_discretized_logistic_sums_to_one_over_256_levels_and_has_an_exact_mean() -> None:
    likelihood = logistic(3)
    levels = torch.arange(256, dtype=torch.float64)[:, None]
    generator = torch.Generator().manual_seed(0)
    for _ in range(5):
        params = torch.randn(1, 9, generator=generator, dtype=torch.float64) * 3
        params[0, 6] = -9.0  # below the clamp: a very narrow component
        masses = likelihood.log_prob(levels / 255, params.expand(256, -1)).exp()
        assert float(masses.sum()) == pytest.approx(1.0, abs=1e-9)
        exact_mean = float((masses * levels[:, 0] / 255).sum())
        assert float(likelihood.mean(params)) == pytest.approx(exact_mean, abs=1e-9)


def test_discretized_logistic_refuses_data_off_the_8_bit_grid() -> None:
    likelihood = logistic()
    likelihood.check_support(torch.tensor([[0.0], [1.0], [37 / 255]]), "data")
    with pytest.raises(VaelabError, match="not 8-bit data x = k/255"):
        likelihood.check_support(torch.tensor([[0.5]]), "data")


def test_bits_per_dim_of_a_probability_of_8_bit_values() -> None:
    data = SimpleNamespace(dim=3072, binarize="none")
    value, units = bits_per_dim(6000.0, logistic(), data)
    assert value == pytest.approx(6000.0 / (3072 * math.log(2)))
    assert "no dequantisation" in units


@pytest.mark.slow  # ~30 s here: training, the default figures, eval's default metrics
def test_train_and_eval_cifar10_resnet_discretized_logistic_reports_bits_per_dim(
        tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("VAELAB_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    write_cifar10(tmp_path / "data" / "cifar10")
    out = tmp_path / "run"
    code, _, err = run_cli(monkeypatch, capsys, "train", "--dataset", "cifar10", "--network",
                           "resnet", "--likelihood", "discretized-logistic", "--channels",
                           "4,8", "--blocks", 1, "--hidden", "none", "--latent-dim", 2,
                           "--mixtures", 2, "--epochs", 1, "--batch-size", 8, "--out", out,
                           "--quiet")
    assert code == 0, err
    code, stdout, err = run_cli(monkeypatch, capsys, "eval", out, "--json")
    assert code == 0, err
    test = json.loads(stdout)["test"]
    assert test["images"] == 4
    assert test["bits_per_dim"] == pytest.approx(-test["elbo"] / (3072 * math.log(2)))
    assert "D = C·H·W" in test["bits_per_dim_units"]
    code, stdout, err = run_cli(monkeypatch, capsys, "eval", out)
    assert code == 0, err
    assert "bits/dim" in stdout


@pytest.mark.slow  # 40 epochs and `plot --all` (t-SNE included): about a minute
def test_rgb_npz_trains_and_every_figure_draws_colour(tmp_path, monkeypatch, capsys) -> None:
    """An RGB npz with a red, a green and a blue class: every figure is drawn in colour."""
    rng = np.random.default_rng(0)
    labels = np.arange(60) % 3
    images = np.zeros((60, 8, 8, 3), dtype=np.uint8)  # channels last
    for i, label in enumerate(labels):
        images[i, 2:6, 2:6, label] = rng.integers(180, 256)
    np.savez(tmp_path / "rgb.npz", x=images, y=labels)
    out = tmp_path / "run"
    code, _, err = run_cli(monkeypatch, capsys, "train", "--dataset", "npz", "--data-path",
                           tmp_path / "rgb.npz", "--network", "conv", "--channels", "8",
                           "--hidden", "32", "--latent-dim", 2, "--epochs", 40, "--batch-size", 8,
                           "--lr", 0.01, "--out", out,
                           "--quiet")
    assert code == 0, err
    code, _, err = run_cli(monkeypatch, capsys, "plot", out, "--all", "--steps", 5)
    assert code == 0, err
    pngs = sorted((out / "figures").glob("*.png"))
    assert len(pngs) >= 8
    from PIL import Image

    for path in pngs:
        if path.stem in ("curves", "kl-per-dim", "latent", "latent-tsne", "latent-umap"):
            continue  # plots, not images
        pixels = np.asarray(Image.open(path).convert("RGB")).astype(int)
        # Colour, not a grey colormap: some pixels have clearly unequal channels.
        spread = pixels.max(axis=2) - pixels.min(axis=2)
        assert (spread > 60).mean() > 0.001, path.name


def test_image_grids_draw_rgb_pixels_exactly_and_grey_on_the_grey_scale() -> None:
    from vaelab.figures.common import tile

    images = torch.zeros(2, 3, 2, 2)
    images[0, 0] = 1.0  # red
    images[1, 2] = 0.5  # half blue
    grid = tile(images, ncols=2, pad=1)
    assert grid.shape == (4, 7, 3)
    assert grid[1, 1].tolist() == [1.0, 0.0, 0.0] and grid[1, 4].tolist() == [0.0, 0.0, 0.5]
    assert grid[0, 0].tolist() == [1.0, 1.0, 1.0]  # white padding
    grey = tile(torch.full((2, 1, 2, 2), 0.25), ncols=2, pad=1)
    assert grey.shape == (4, 7) and grey[1, 1] == 0.25
    with pytest.raises(VaelabError, match="grey \\(1 channel\\) or RGB \\(3 channel\\)"):
        tile(torch.zeros(1, 2, 2, 2), ncols=1)


def test_markov_chain_animation_frames_are_rgb_for_colour() -> None:
    from vaelab.figures.markov import gif_frames

    frames = torch.zeros(2, 3, 3, 4, 4)  # [T, chains, C, H, W]
    frames[:, :, 1] = 1.0  # green
    rgb = gif_frames(frames, every=1, steps=1, note="test")
    assert len(rgb) == 2 and rgb[0].ndim == 3 and rgb[0].shape[2] == 3
    assert (rgb[0][rgb[0].shape[0] // 2 + 9] == [0, 255, 0]).all(axis=-1).any()
    grey = gif_frames(torch.zeros(1, 2, 1, 4, 4), every=1, steps=0, note="test")
    assert grey[0].ndim == 2
