"""Fitted latent samplers: the GMM recovers a known mixture, is stored in the run
directory as safetensors and refitted only when the weights change; `vaelab sample
--sampler gmm` and `vaelab eval --metrics fid --sampler gmm` use it; posteriors train
from the CLI and are described."""

import types

import pytest
import torch
from conftest import run_cli

import vaelab
from vaelab.errors import VaelabError
from vaelab.samplers import SAMPLERS, fitted_sampler, model_digest
from vaelab.samplers.gmm import GMMSampler

pytestmark = pytest.mark.usefixtures("one_thread")


class IdentityCodes:
    """A stand-in encoder whose posterior means are the given codes (the GMM's input)."""

    config = types.SimpleNamespace(train=types.SimpleNamespace(eval_batch_size=500))

    def posterior(self, x):
        return types.SimpleNamespace(mean=x)


def test_gmm_recovers_a_known_two_component_mixture():
    g = torch.Generator().manual_seed(0)
    left = torch.randn(300, 2, generator=g, dtype=torch.float64) * 0.5 + torch.tensor([-5., 0.])
    right = torch.randn(700, 2, generator=g, dtype=torch.float64) * 0.5 + torch.tensor([5., 1.])
    codes = torch.cat([left, right])
    data = types.SimpleNamespace(eval_split=lambda name: types.SimpleNamespace(x=codes))
    sampler = GMMSampler.fit(IdentityCodes(), data, components=2)
    order = sampler.means[:, 0].argsort()
    torch.testing.assert_close(sampler.weights[order], torch.tensor([0.3, 0.7],
                                                                    dtype=torch.float64))
    torch.testing.assert_close(sampler.means[order], torch.tensor([[-5., 0.], [5., 1.]],
                                                                  dtype=torch.float64),
                               atol=0.1, rtol=0)
    z = sampler.sample(20000, generator=torch.Generator().manual_seed(1))
    assert z.shape == (20000, 2)
    assert float((z[:, 0] > 0).double().mean()) == pytest.approx(0.7, abs=0.015)
    assert float(z[:, 0].mean()) == pytest.approx(0.3 * -5 + 0.7 * 5, abs=0.1)
    with pytest.raises(VaelabError, match="more than the 1000 training images"):
        GMMSampler.fit(IdentityCodes(), data, components=1001)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return vaelab.train(out=tmp_path_factory.mktemp("gmm") / "run", progress=False,
                        figures=False, dataset="digits", hidden="16", latent_dim=3, epochs=1,
                        batch_size=64)


def test_gmm_is_stored_as_safetensors_and_refitted_only_for_new_weights(run, monkeypatch):
    first = fitted_sampler(run, "gmm", components=3)
    stored = list((run.path / "samplers").glob("*"))
    assert [p.suffix for p in stored] == [".safetensors"]
    calls = []
    original = GMMSampler.fit.__func__

    def counting(cls, *args, **kwargs):
        calls.append(1)
        return original(cls, *args, **kwargs)

    monkeypatch.setattr(GMMSampler, "fit", classmethod(counting))
    again = fitted_sampler(run, "gmm", components=3)
    assert calls == [] and torch.equal(again.means, first.means)
    digest = model_digest(run.model)
    with torch.no_grad():
        run.model.encoder[0].weight.add_(0.5)
    try:
        assert model_digest(run.model) != digest
        fitted_sampler(run, "gmm", components=3)
        assert calls == [1]
    finally:
        with torch.no_grad():
            run.model.encoder[0].weight.sub_(0.5)


def test_sample_and_eval_fid_with_the_gmm_sampler(run, tmp_path, monkeypatch, capsys):
    from vaelab import classifier

    png = tmp_path / "gmm.png"
    code, out, err = run_cli(monkeypatch, capsys, "sample", run.path, "--sampler", "gmm",
                             "--components", 2, "-n", 9, "--out", png)
    assert code == 0, err
    assert png.is_file()
    code, _, err = run_cli(monkeypatch, capsys, "sample", run.path, "--sampler", "prior",
                           "--components", 2, "--out", png)
    assert code != 0 and "sampler prior does not read --components" in err
    code, _, err = run_cli(monkeypatch, capsys, "eval", run.path, "--sampler", "gmm")
    assert code != 0 and "fid is not among --metrics" in err
    monkeypatch.setenv("VAELAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(classifier, "MIN_STEPS", 60)
    code, out, err = run_cli(monkeypatch, capsys, "eval", run.path, "--metrics", "fid",
                             "--fid-samples", 100, "--sampler", "gmm", "--components", 2,
                             "--quiet", "--json")
    assert code == 0, err
    assert "2-component GMM" in out
    assert sorted(SAMPLERS.names()) == ["gmm", "prior"]


@pytest.mark.parametrize("posterior", ["full-gaussian", "planar", "radial", "iaf"])
def test_every_posterior_trains_from_the_cli_and_is_described(posterior, tmp_path,
                                                              monkeypatch, capsys):
    out = tmp_path / posterior
    code, _, err = run_cli(monkeypatch, capsys, "train", "--dataset", "digits", "--posterior",
                           posterior, "--flow-length" if posterior != "full-gaussian" else
                           "--latent-dim", 2, "--hidden", 16, "--epochs", 1, "--subset", 300,
                           "--out", out, "--quiet")
    assert code == 0, err
    loaded = vaelab.load_run(out)
    assert loaded.config.posterior.name == posterior
    from vaelab.describe import describe_model

    line = describe_model(loaded.config)
    assert ("flow" in line or "IAF" in line or "full-covariance" in line), line
    code, text, err = run_cli(monkeypatch, capsys, "eval", out, "--metrics", "collapse,iw-nll",
                              "--iw-samples", 4, "--json")
    assert code == 0, err
    assert "exact log q" in text
