"""Training end to end on the tiny scikit-learn digits: determinism, run directory,
checkpoints, the non-finite-loss stop and the refusal to overwrite a run."""

import json

import pytest
import torch

import vaelab
from vaelab import rundir
from vaelab.errors import VaelabError

TINY = dict(dataset="digits", hidden="32", latent_dim=4, epochs=2, batch_size=64)


def train_tiny(path, **overrides):
    return vaelab.train(out=path, progress=False, figures=False, **{**TINY, **overrides})


def test_seeded_training_is_bit_for_bit_repeatable(tmp_path):
    first = train_tiny(tmp_path / "a", seed=3, binarize="dynamic")
    second = train_tiny(tmp_path / "b", seed=3, binarize="dynamic")
    for name, tensor in first.model.state_dict().items():
        assert torch.equal(tensor, second.model.state_dict()[name]), name
    strip = [{k: v for k, v in row.items() if k != "epoch_seconds"} for row in first.history]
    assert strip == [{k: v for k, v in row.items() if k != "epoch_seconds"}
                     for row in second.history]
    assert first.metrics == second.metrics
    other = train_tiny(tmp_path / "c", seed=4, binarize="dynamic")
    assert not torch.equal(other.model.encoder[0].weight, first.model.encoder[0].weight)


def test_run_directory_describes_itself(tmp_path):
    run = vaelab.train(out=tmp_path / "run", progress=False, **TINY)
    names = {p.name for p in run.path.iterdir()}
    assert {"config.json", "model.safetensors", "best.safetensors", "history.csv",
            "metrics.json", "figures"} <= names
    info = json.loads((run.path / "config.json").read_text())
    assert info["config"]["data"]["dataset"] == "digits"
    assert info["seed"] == 0 and info["device"] == "cpu"
    assert info["vaelab_version"] == vaelab.__version__
    assert info["torch_version"] == torch.__version__
    assert info["parameters"]["total"] == sum(p.numel() for p in run.model.parameters())
    assert [row["epoch"] for row in run.history] == [1, 2]
    assert {"train_loss", "train_recon", "train_kl", "train_elbo", "val_loss", "val_elbo",
            "epoch_seconds"} <= set(run.history[0])
    test = run.metrics["test"]
    assert test["elbo"] == pytest.approx(-(test["recon"] + test["kl"]))
    assert test["units"] == "nats per image" and "single-sample" in test["estimator"]
    for figure in ("reconstructions", "samples", "curves"):
        assert (run.path / "figures" / f"{figure}.png").stat().st_size > 1000


def test_checkpoint_round_trip_reproduces_outputs(tmp_path):
    run = train_tiny(tmp_path / "run")
    loaded = vaelab.load_run(run.path)
    x = run.data.test.x[:10]
    torch.testing.assert_close(loaded.model.reconstruct(x), run.model.reconstruct(x),
                               rtol=0, atol=0)
    generator = torch.Generator().manual_seed(1)
    z = torch.randn(5, 4, generator=generator)
    assert torch.equal(loaded.model.decode(z), run.model.decode(z))
    assert loaded.config == run.config
    best = vaelab.load_run(run.path, checkpoint="best")
    assert best.model.decode(z).shape == (5, 1, 8, 8)  # [B, C, H, W]


def test_true_elbo_is_logged_whatever_beta(tmp_path):
    run = train_tiny(tmp_path / "run", beta=0.1, epochs=1)
    row = run.history[0]
    assert row["train_loss"] == pytest.approx(row["train_recon"] + 0.1 * row["train_kl"],
                                               rel=1e-4)
    assert row["train_elbo"] == pytest.approx(-(row["train_recon"] + row["train_kl"]))


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    import vaelab.api as api
    from vaelab.objectives import build_objective

    class Poisoned:
        """The real objective, but its loss turns NaN from step 30 on."""

        def __init__(self, cfg, steps_per_epoch, train_size=None):
            self.inner = build_objective(cfg, steps_per_epoch, train_size)

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def __call__(self, model, x, step, generator=None, kl_weight=None):
            out = self.inner(model, x, step, generator=generator, kl_weight=kl_weight)
            if step >= 30:  # digits: 1294 training images = 21 steps of 64 per epoch
                out.loss = out.loss * float("nan")
            return out

    monkeypatch.setattr(api, "build_objective", Poisoned)
    with pytest.raises(VaelabError, match=r"non-finite loss at epoch 2, batch 10 \(step 31\)"):
        train_tiny(tmp_path / "run", batch_size=64)
    tensors, meta = rundir.load_checkpoint(tmp_path / "run" / "model.safetensors")
    assert meta["epoch"] == 1
    assert all(torch.isfinite(t).all() for t in tensors.values())
    assert len(rundir.read_history(tmp_path / "run" / "history.csv")) == 1


def test_existing_run_is_not_overwritten_without_force(tmp_path):
    run = train_tiny(tmp_path / "run", epochs=1)
    before = (run.path / "model.safetensors").read_bytes()
    with pytest.raises(VaelabError, match="already exists and is not empty.*--force"):
        train_tiny(tmp_path / "run", epochs=1, seed=5)
    assert (run.path / "model.safetensors").read_bytes() == before
    rerun = vaelab.train(out=tmp_path / "run", force=True, progress=False, figures=False,
                         **{**TINY, "epochs": 1, "seed": 5})
    assert (rerun.path / "model.safetensors").read_bytes() != before


def test_bad_input_fails_before_anything_is_written(tmp_path):
    with pytest.raises(VaelabError, match="larger than"):
        train_tiny(tmp_path / "run", subset=100_000)
    assert not (tmp_path / "run").exists()
    with pytest.raises(VaelabError, match="not a device name"):
        train_tiny(tmp_path / "run", device="gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(VaelabError, match="no CUDA GPU"):
            train_tiny(tmp_path / "run", device="cuda")
    assert not (tmp_path / "run").exists()


def test_bernoulli_refuses_data_outside_0_1(tmp_path):
    import numpy as np

    path = tmp_path / "wide.npz"
    np.savez(path, x=np.full((20, 4, 4), 0.5, dtype=np.float32) * 3)
    with pytest.raises(VaelabError):
        train_tiny(tmp_path / "run", dataset="npz", data_path=str(path))
    assert not (tmp_path / "run").exists()


def test_incomplete_or_foreign_run_directories_are_clear_errors(tmp_path):
    run = train_tiny(tmp_path / "run", epochs=1)
    info = json.loads((run.path / "config.json").read_text())
    info["run_format"] = 0
    (run.path / "config.json").write_text(json.dumps(info))
    with pytest.raises(VaelabError, match="run format 0"):
        vaelab.load_run(run.path)
    (run.path / "config.json").unlink()
    with pytest.raises(VaelabError, match="config.json is missing"):
        vaelab.load_run(run.path)


def test_checkpoint_tensors_must_match_the_config(tmp_path):
    run = train_tiny(tmp_path / "run", epochs=1)
    tensors, meta = rundir.load_checkpoint(run.path / "model.safetensors")
    tensors["encoder.0.weight"] = tensors["encoder.0.weight"][:, :5]
    meta.pop("run_format")
    rundir.save_checkpoint(run.path / "model.safetensors", tensors, meta)
    with pytest.raises(VaelabError, match="does not match its config"):
        vaelab.load_run(run.path)
