"""--model cvae (Sohn et al. 2015): labels into encoder and decoder, through the one loop."""

import pytest
import torch
from conftest import run_cli

import vaelab
from vaelab.config import Config
from vaelab.data import PreparedData, TensorSplit
from vaelab.errors import VaelabError
from vaelab.model import VAE
from vaelab.models.cvae import CVAE
from vaelab.objectives import true_elbo

SHAPE = (2, 3)  # D = 6 pixels
LATENT = 3
CLASSES = 4


def configs():
    vae = Config.from_dict({"network": {"hidden": [8], "latent_dim": LATENT}})
    cvae = vae.replace(model="cvae", classes=CLASSES)
    return vae, cvae


def rows(x, y):
    return torch.cat([x, torch.nn.functional.one_hot(y, CLASSES).float()], dim=1)


def copy_with_label_ignored(vae: VAE, cvae: CVAE) -> None:
    """The cvae's weights = the vae's, with every weight that reads the label set to 0."""
    with torch.no_grad():
        cvae.encoder.load_state_dict(vae.encoder.state_dict())
        cvae.label_to_encoder.weight.zero_()
        for index, layer in enumerate(vae.decoder):
            if not isinstance(layer, torch.nn.Linear):
                continue
            target = cvae.decoder[index]
            target.bias.copy_(layer.bias)
            target.weight.zero_()
            target.weight[:, :layer.weight.shape[1]] = layer.weight  # z's columns; y's stay 0


def elbo(model, x):
    out = true_elbo()(model, x, 0, generator=torch.Generator().manual_seed(3))
    return out.elbo


def test_a_cvae_whose_networks_ignore_the_label_is_the_vae():
    torch.manual_seed(0)
    vae_config, cvae_config = configs()
    vae, cvae = VAE(vae_config, SHAPE), CVAE(cvae_config, SHAPE)
    copy_with_label_ignored(vae, cvae)
    generator = torch.Generator().manual_seed(1)
    x = torch.rand(5, 6, generator=generator).round()
    y = torch.tensor([0, 3, 1, 2, 3])
    torch.testing.assert_close(elbo(cvae, rows(x, y)), elbo(vae, x), rtol=0, atol=1e-6)
    # A decoder that reads the label gives another ELBO: the test above can fail.
    with torch.no_grad():
        cvae.decoder[0].weight[:, LATENT:] = 1.0
    assert not torch.allclose(elbo(cvae, rows(x, y)), elbo(vae, x))


def test_the_label_changes_the_samples_and_the_prior_ignores_it():
    torch.manual_seed(0)
    cvae = CVAE(configs()[1], SHAPE)
    z = torch.randn(2, LATENT)
    assert not torch.allclose(cvae.decode(z, torch.tensor([0, 0])),
                              cvae.decode(z, torch.tensor([1, 1])))
    u = cvae.prior.sample(6, generator=torch.Generator().manual_seed(0))
    assert u.shape == (6, LATENT + CLASSES)
    assert u[:, LATENT:].argmax(1).tolist() == [0, 1, 2, 3, 0, 1]  # labels in turn
    torch.testing.assert_close(cvae.prior.log_prob(u), cvae.prior.inner.log_prob(u[:, :LATENT]))
    with pytest.raises(VaelabError, match="give labels"):
        cvae.decoder_params(z)


def test_rows_keep_their_labels_and_the_plain_binarisation_draw():
    x = torch.rand(7, 6, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0, 1, 2, 3, 0, 1, 2])

    def split(name):
        return TensorSplit(name, x, y)

    data = PreparedData("toy", split("train"), split("val"), split("test"), SHAPE,
                        None, "made here", "dynamic")
    labelled = CVAE.prepare_data(configs()[1], data)
    scored = labelled.eval_split("test")
    plain = data.eval_split("test")
    assert torch.equal(scored.x[:, :6], plain.x)
    assert torch.equal(scored.x[:, 6:].argmax(1), y)
    # A Bernoulli draw of 0 and 1 is 0 and 1: dynamic binarisation keeps the label.
    drawn = torch.bernoulli(labelled.train.x, generator=torch.Generator().manual_seed(2))
    assert torch.equal(drawn[:, 6:], labelled.train.x[:, 6:])


def test_unlabelled_or_too_many_classes_fail_in_one_line():
    x = torch.rand(3, 6)
    unlabelled = TensorSplit("train", x, None)
    data = PreparedData("toy", unlabelled, None, TensorSplit("test", x, None), SHAPE, None,
                        "made here", "none")
    with pytest.raises(VaelabError, match="needs class labels"):
        CVAE.prepare_data(configs()[1], data)
    labelled = TensorSplit("train", x, torch.tensor([0, 5, 1]))
    data = PreparedData("toy", labelled, None, labelled, SHAPE, None, "made here", "none")
    with pytest.raises(VaelabError, match="--classes 6 or more"):
        CVAE.prepare_data(configs()[1], data)


def test_cvae_trains_samples_a_class_and_says_its_elbo_is_conditional(tmp_path, monkeypatch,
                                                                       capsys):
    out = tmp_path / "cvae"
    code, _, err = run_cli(monkeypatch, capsys, "train", "--model", "cvae", "--dataset",
                           "digits", "--epochs", 1, "--hidden", 16, "--latent-dim", 2,
                           "--quiet", "--out", out)
    assert code == 0, err
    run = vaelab.load_run(out)
    assert "conditional on the label" in run.metrics["test"]["estimator"]
    assert (out / "figures" / "classes.png").is_file()
    png = tmp_path / "three.png"
    code, _, err = run_cli(monkeypatch, capsys, "sample", out, "--label", 3, "-n", 4,
                           "--out", png)
    assert code == 0 and png.is_file(), err
    code, _, err = run_cli(monkeypatch, capsys, "sample", out, "--label", 10, "--out", png)
    assert code != 0 and "--label 10 is not a class" in err
