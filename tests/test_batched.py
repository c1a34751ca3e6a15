"""The batched backend (vaelab.batched) against training each model alone on digits: the
AE (no sampling) matches to float rounding, the VAE statistically; run directories,
resume, batch keys and the errors."""

import json
import math

import pytest
import torch

import vaelab
from vaelab import rundir
from vaelab.batched import batch_key, train_batched, unsupported
from vaelab.config import Config
from vaelab.errors import VaelabError
from vaelab.objectives.elbo import ELBO

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = Config().replace(dataset="digits", hidden=[32], latent_dim=4, epochs=1, batch_size=64)


def alone(config, path):
    return vaelab.train(config, out=path, progress=False, figures=False)


def batched(configs, tmp_path, prefix="b", **kwargs):
    paths = [tmp_path / f"{prefix}{i}" for i in range(len(configs))]
    kwargs = {"progress": False, "figures": False, **kwargs}
    return [vaelab.load_run(path) for path in train_batched(configs, paths, **kwargs)]


def assert_weights_close(a, b, atol=1e-4):
    wa, wb = a.model.state_dict(), b.model.state_dict()
    assert wa.keys() == wb.keys()
    for name in wa:
        torch.testing.assert_close(wa[name], wb[name], rtol=0, atol=atol, msg=name)


@pytest.mark.parametrize("binarize, grad_clip", [("none", None), ("dynamic", 1.0)])
def test_autoencoder_matches_training_alone(tmp_path, binarize, grad_clip):
    """No reparameterisation noise: same initial weights, batch order, binarisation draws
    and per-model Adam and clipping give the same weights as training alone."""
    configs = [TINY.replace(objective="ae", seed=seed, binarize=binarize, grad_clip=grad_clip)
               for seed in (0, 3)]
    runs = batched(configs, tmp_path)
    for index, config in enumerate(configs):
        single = alone(config, tmp_path / f"a{index}")
        assert_weights_close(runs[index], single)
        row, expected = runs[index].history[0], single.history[0]
        assert list(row) == list(expected)  # the same history columns, in order
        # An autoencoder's history and metrics hold its reconstruction error, no ELBO.
        for key in ("train_loss", "train_recon", "val_loss", "val_recon"):
            assert row[key] == pytest.approx(expected[key], abs=1e-4), key
        assert runs[index].metrics["test"]["recon"] == pytest.approx(
            single.metrics["test"]["recon"], abs=1e-4)


@pytest.mark.parametrize("likelihood", ["gaussian-learned", "laplace-learned"])
def test_a_shared_learned_scale_is_stacked_one_per_model(tmp_path, likelihood):
    """The likelihood's own σ is stacked [M, 1, 1]: each autoencoder learns its own, as
    alone (no noise: equal weights, σ included), and resume moments unstack to its shape."""
    configs = [TINY.replace(objective="ae", seed=seed, likelihood=likelihood,
                            learned_scale="shared", lr=3e-3) for seed in (0, 3)]
    assert unsupported(configs[0]) is None
    runs = batched(configs, tmp_path)
    scales = []
    for index, config in enumerate(configs):
        single = alone(config, tmp_path / f"a{index}")
        assert_weights_close(runs[index], single)
        scales.append(runs[index].model.likelihood.raw_scale.item())
        # resume.safetensors holds its own σ's Adam moments, as the run alone writes them.
        tensors, _ = rundir.load_checkpoint(runs[index].path / "resume.safetensors")
        expected, _ = rundir.load_checkpoint(single.path / "resume.safetensors")
        assert tensors.keys() == expected.keys()
        for name in expected:
            if not name.startswith("rng."):  # the global generator saved is the batch's
                torch.testing.assert_close(tensors[name], expected[name], rtol=1e-3,
                                           atol=1e-4, msg=name)
    assert scales[0] != 0.0 and scales[0] != scales[1]  # learned, and each its own


def test_a_batch_of_one_vae_is_training_alone(tmp_path):
    """With one model the batch's noise ε is the run's own: the whole VAE path (β, KL
    warm-up, reparameterisation, dynamic binarisation) then matches training alone."""
    config = TINY.replace(epochs=2, seed=5, beta=0.5, warmup=1, binarize="dynamic")
    [run] = batched([config], tmp_path)
    assert_weights_close(run, alone(config, tmp_path / "alone"))


def test_vae_is_statistically_equivalent_to_training_alone(tmp_path):
    """In a batch only the noise ε differs from training alone. In this setting (5 epochs)
    the final val ELBO of runs alone spreads over seeds with sd 0.21-0.47 nats (5 seeds
    of each of these configs), while the same config batched vs alone differed by at most
    0.15 (sd 0.06, 15 pairs): 0.25 nats is 4 sd of that and below the seed spread, so a
    wrong β, schedule, batch order or gradient would show."""
    configs = [TINY.replace(epochs=5, seed=0),
               TINY.replace(epochs=5, seed=1, beta=0.5, warmup=2),
               TINY.replace(epochs=5, seed=2, beta=2.0, anneal="cyclical", warmup=1)]
    runs = batched(configs, tmp_path)
    for index, config in enumerate(configs):
        single = alone(config, tmp_path / f"a{index}")
        assert runs[index].history[-1]["val_elbo"] == pytest.approx(
            single.history[-1]["val_elbo"], abs=0.25)
        # Each model followed its own KL schedule.
        assert [row["kl_weight"] for row in runs[index].history] == pytest.approx(
            [row["kl_weight"] for row in single.history])
    for run in runs[:2]:  # their KL weight is constant over the last epoch
        row = run.history[-1]
        assert row["train_loss"] == pytest.approx(
            row["train_recon"] + row["kl_weight"] * row["train_kl"], rel=1e-4)


def test_run_directories_are_those_of_vaelab_train(tmp_path):
    configs = [TINY.replace(seed=0), TINY.replace(seed=1, beta=4.0)]
    runs = batched(configs, tmp_path, figures=True, command=["sweep", "x"])
    single = vaelab.train(configs[0], out=tmp_path / "alone", progress=False)
    expected = {p.name for p in single.path.iterdir()}
    for run, config in zip(runs, configs, strict=True):
        assert {p.name for p in run.path.iterdir()} == expected
        assert {p.name for p in run.figures_dir.iterdir()} == {
            p.name for p in single.figures_dir.iterdir()}
        info = json.loads((run.path / "config.json").read_text())
        assert set(info) - set(single.info) == {"backend", "batch"}
        assert info["backend"] == "batched" and info["command"] == ["sweep", "x"]
        assert info["batch"]["runs"] == [str(r.path) for r in runs]
        assert run.config == config and info["seed"] == config.train.seed
        for name in ("model.safetensors", "best.safetensors", "resume.safetensors"):
            tensors, meta = rundir.load_checkpoint(run.path / name)
            ref_tensors, ref_meta = rundir.load_checkpoint(single.path / name)
            assert {k: v.shape for k, v in tensors.items()} == {
                k: v.shape for k, v in ref_tensors.items()}, name
            assert meta.keys() == ref_meta.keys(), name
        assert run.metrics["test"].keys() == single.metrics["test"].keys()


def test_resume_continues_one_run_of_a_batch_alone(tmp_path):
    """resume.safetensors holds the model's own slice of the Adam moments and its own
    generators: one batched epoch + one resumed epoch alone = two epochs alone (AE)."""
    configs = [TINY.replace(objective="ae", seed=seed, binarize="dynamic") for seed in (1, 2)]
    runs = batched(configs, tmp_path)
    resumed = vaelab.train(resume=runs[1].path, epochs=2, progress=False, figures=False)
    whole = alone(configs[1].replace(epochs=2), tmp_path / "whole")
    assert_weights_close(resumed, whole)
    assert [row["epoch"] for row in resumed.history] == [1, 2]


def test_batch_key_groups_runs_that_differ_in_per_model_fields_only():
    base = Config().replace(hidden=[400], latent_dim=20)
    same = [base, base.replace(seed=4), base.replace(beta=0.1, warmup=3, anneal="cyclical")]
    assert len({batch_key(config) for config in same}) == 1
    for other in (base.replace(hidden=[200]), base.replace(lr=3e-4), base.replace(epochs=3),
                  base.replace(free_bits=0.5), base.replace(binarize="dynamic")):
        assert batch_key(other) != batch_key(base)
    assert unsupported(base) is None


def test_mismatched_configs_name_the_differing_field(tmp_path):
    configs = [TINY, TINY.replace(seed=1), TINY.replace(hidden=[16])]
    with pytest.raises(VaelabError, match=r"configs 0 and 2 .*network\.hidden differs"):
        train_batched(configs, [tmp_path / f"r{i}" for i in range(3)], progress=False)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("overrides, reason", [
    (dict(network="conv"), "--network conv"),
    (dict(objective="iwae"), "--objective iwae"),
    (dict(objective="factorvae"), "--objective factorvae trains its own discriminator"),
    (dict(free_bits=0.5), "--free-bits"),
    (dict(prior="vampprior"), "--prior vampprior"),
    (dict(prior="mog"), "--prior mog"),
    (dict(nan_policy="skip"), "--nan-policy skip"),
])
def test_unsupported_configs_are_refused_before_anything_is_written(tmp_path, overrides,
                                                                    reason):
    config = TINY.replace(**overrides)
    assert reason in unsupported(config)
    with pytest.raises(VaelabError, match=f"config 1 cannot be trained batched: {reason}"):
        train_batched([TINY, config], [tmp_path / "a", tmp_path / "b"], progress=False)
    assert not any(tmp_path.iterdir())


def test_run_path_errors(tmp_path):
    with pytest.raises(VaelabError, match="2 configs but 1 run paths"):
        train_batched([TINY, TINY], [tmp_path / "a"], progress=False)
    with pytest.raises(VaelabError, match="run paths 0 and 1 are both"):
        train_batched([TINY, TINY], [tmp_path / "a", tmp_path / "a"], progress=False)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "old.txt").write_text("keep")
    with pytest.raises(VaelabError, match="already exists and is not empty"):
        train_batched([TINY, TINY], [tmp_path / "a", tmp_path / "b"], progress=False)
    assert not (tmp_path / "a").exists()


def test_non_finite_loss_in_one_model_names_it_and_keeps_every_checkpoint(tmp_path,
                                                                          monkeypatch):
    real = ELBO.kl_weight

    def poisoned(self, step):
        # Model 1's KL weight turns infinite from step 30 (epoch 2, batch 10: digits has
        # 1294 training images = 21 steps of 64 per epoch).
        return math.inf if self.cfg.beta == 2.0 and step >= 30 else real(self, step)

    monkeypatch.setattr(ELBO, "kl_weight", poisoned)
    configs = [TINY.replace(epochs=2, seed=0), TINY.replace(epochs=2, seed=1, beta=2.0),
               TINY.replace(epochs=2, seed=2)]
    paths = [tmp_path / f"r{i}" for i in range(3)]
    with pytest.raises(VaelabError, match=(
            rf"non-finite loss or gradient in model 1 \({paths[1]}\) at epoch 2, batch 10 "
            r"\(step 31\); the checkpoints of epoch 1 of all 3 runs are intact")):
        train_batched(configs, paths, progress=False)
    for path in paths:
        tensors, meta = rundir.load_checkpoint(path / "model.safetensors")
        assert meta["epoch"] == 1
        assert all(torch.isfinite(t).all() for t in tensors.values())
        assert len(vaelab.load_run(path).history) == 1
