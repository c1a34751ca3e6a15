"""One run on several processes: `torchrun --nproc-per-node 2 -m vaelab train` on the CPU
(gloo) trains the same model as one process with the same global batch (distributed.py)."""

import os
import subprocess
import sys

import pytest
import torch
from conftest import REPO
from safetensors.torch import load_file

import vaelab
from vaelab import distributed, rundir
from vaelab.errors import VaelabError

FLAGS = ["--dataset", "digits", "--hidden", "32", "--latent-dim", "4", "--batch-size", "64",
         "--binarize", "none", "--device", "cpu", "--quiet"]


def torchrun(out, *flags, processes=2):
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc-per-node={processes}", "-m", "vaelab", "train", *FLAGS, *flags,
               "--out", str(out)]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


def test_rows_and_shares_of_a_global_batch():
    x = torch.arange(10).unsqueeze(1)
    first, second = (distributed.Group(rank, 2, rank) for rank in (0, 1))
    assert first.shard(x).view(-1).tolist() == [0, 2, 4, 6, 8]
    assert second.shard(x).view(-1).tolist() == [1, 3, 5, 7, 9]
    # Uneven last batch (5 rows): 3 and 2 rows, weighted 3/5 and 2/5 of the batch mean.
    assert first.share(3, 5) + second.share(2, 5) == pytest.approx(1.0)
    assert first.writer and not second.writer


def test_one_process_needs_no_group(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert distributed.from_environment() is None
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert distributed.from_environment() == distributed.Group(1, 2, 1)


def test_an_objective_with_networks_of_its_own_is_refused_before_anything_starts(
        tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(VaelabError, match="torchrun: --objective factorvae trains networks"):
        vaelab.train(out=tmp_path / "run", dataset="digits", objective="factorvae",
                     progress=False, figures=False)
    assert not (tmp_path / "run").exists()


def test_two_processes_train_what_one_process_trains(tmp_path):
    """The autoencoder has no posterior noise: 2 gloo processes with the same global batch
    give the single process's weights up to float summation order (measured: 3e-8), and
    rank 0 alone wrote the run directory."""
    result = torchrun(tmp_path / "ddp", "--objective", "ae", "--epochs", "2", "--subset", "600")
    assert result.returncode == 0, result.stderr[-3000:]
    single = vaelab.train(out=tmp_path / "one", dataset="digits", hidden="32", latent_dim=4,
                          batch_size=64, binarize="none", device="cpu", objective="ae",
                          epochs=2, subset=600, progress=False, figures=False)
    ddp = load_file(tmp_path / "ddp" / rundir.MODEL_FILE)
    for name, tensor in single.model.state_dict().items():
        torch.testing.assert_close(ddp[name], tensor, rtol=0, atol=1e-6, msg=name)
    history = rundir.read_history(tmp_path / "ddp" / rundir.HISTORY_FILE)
    assert [row["step"] for row in history] == [row["step"] for row in single.history]
    for row, expected in zip(history, single.history, strict=True):
        assert row["train_loss"] == pytest.approx(expected["train_loss"], abs=1e-4)
        assert row["val_loss"] == pytest.approx(expected["val_loss"], abs=1e-4)
    assert "run directory:" in result.stdout  # rank 0 reported the run, once
    assert result.stdout.count("run directory:") == 1


@pytest.mark.slow
def test_two_processes_train_a_vae_within_the_seed_spread(tmp_path):
    """With posterior noise each rank draws its own ε: the ELBO lands within the spread
    between two seeds of one process."""
    result = torchrun(tmp_path / "ddp", "--epochs", "5")
    assert result.returncode == 0, result.stderr[-3000:]
    runs = [vaelab.train(out=tmp_path / f"one{seed}", dataset="digits", hidden="32",
                         latent_dim=4, batch_size=64, binarize="none", device="cpu",
                         epochs=5, seed=seed, progress=False, figures=False)
            for seed in (0, 1)]
    ddp = rundir.read_history(tmp_path / "ddp" / rundir.HISTORY_FILE)[-1]["val_elbo"]
    one = [run.history[-1]["val_elbo"] for run in runs]
    assert abs(ddp - one[0]) <= max(3 * abs(one[0] - one[1]), 1.0)
