"""The one training loop (trainer.train) for a single model and a stack, its KL-weight
hook, its non-finite guard and the run lifecycle around it."""

from pathlib import Path

import pytest
import torch

import vaelab
from vaelab import rundir
from vaelab.batched import train_batched
from vaelab.errors import VaelabError
from vaelab.nonfinite import NonFiniteGuard
from vaelab.objectives.elbo import ELBO
from vaelab.trainer import history_row

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = vaelab.Config().replace(dataset="digits", hidden=[32], latent_dim=4, epochs=1,
                               batch_size=64)


def record_kl_weights(monkeypatch) -> list:
    """Every ``kl_weight`` the loop passes to an ELBO during training (not evaluation,
    which passes none and lets the objective use its own hook)."""
    seen = []
    real = ELBO.__call__

    def spy(self, model, x, step, generator=None, kl_weight=None):
        if generator is None:
            seen.append(kl_weight)
        return real(self, model, x, step, generator=generator, kl_weight=kl_weight)

    monkeypatch.setattr(ELBO, "__call__", spy)
    return seen


def test_the_loop_passes_each_objectives_kl_weight_hook(tmp_path, monkeypatch):
    seen = record_kl_weights(monkeypatch)
    config = TINY.replace(beta=0.5, warmup=1)  # w(step) = 0.5·step/21 over epoch 1
    vaelab.train(config, out=tmp_path / "alone", progress=False, figures=False)
    assert all(isinstance(weight, float) for weight in seen)
    assert seen[:3] == [0.0, 0.5 / 21, 1.0 / 21]

    seen.clear()
    configs = [config, TINY.replace(seed=1, beta=2.0)]
    train_batched(configs, [tmp_path / "b0", tmp_path / "b1"], progress=False, figures=False)
    assert all(weight.shape == (2, 1) for weight in seen)
    assert seen[2].view(2).tolist() == pytest.approx([1.0 / 21, 2.0])


def test_finish_builds_the_run_from_what_is_in_hand(tmp_path, monkeypatch):
    """No checkpoint is read back and the data splits are not prepared a second time
    after training, figures included."""
    prepared = []
    import vaelab.api as api
    import vaelab.run

    real_prepare = api.prepare_data
    monkeypatch.setattr(api, "prepare_data",
                        lambda *a, **k: prepared.append(real_prepare(*a, **k)) or prepared[-1])
    monkeypatch.setattr(vaelab.run, "prepare_data", lambda *a, **k: pytest.fail("prepared"))
    monkeypatch.setattr(rundir, "load_checkpoint", lambda *a, **k: pytest.fail("reloaded"))
    run = vaelab.train(TINY, out=tmp_path / "run", progress=False)
    assert run.data is prepared[0] and not run.model.training
    assert (run.figures_dir / "reconstructions.png").is_file()
    monkeypatch.undo()
    loaded = vaelab.load_run(tmp_path / "run")
    assert loaded.config == run.config and loaded.prepared is None
    for name, tensor in loaded.model.state_dict().items():
        assert torch.equal(tensor, run.model.state_dict()[name]), name
    assert len(loaded.data.train) == len(run.data.train)  # prepared lazily on first use


def guard(count: int, device: str = "cuda", policy: str = "stop") -> NonFiniteGuard:
    paths = [Path(f"runs/r{m}") for m in range(count)]
    guard = NonFiniteGuard(policy, torch.device(device), paths, steps_per_epoch=21)
    guard.start_epoch(2)
    return guard


def test_on_cuda_a_bad_step_is_named_by_the_range_since_the_last_read():
    one = guard(1)
    assert not one.due(24, 23) and one.due(25, 24)
    one.after_read([0.0], batch_index=3, step=25)  # 21 + 4 steps: nothing bad yet
    with pytest.raises(VaelabError, match=r"non-finite loss or gradient at epoch 2, one of "
                                          r"batches 5–20 \(steps 26–41\); the checkpoint of "
                                          r"epoch 1 in runs/r0 is intact"):
        one.after_read([1.0], batch_index=19, step=41)
    stack = guard(3)
    with pytest.raises(VaelabError, match=r"batched training stopped: non-finite loss or "
                                          r"gradient in model 2 \(runs/r2\) at epoch 2, one of "
                                          r"batches 1–5 \(steps 22–26\); the checkpoints of "
                                          r"epoch 1 of all 3 runs are intact"):
        stack.after_read([0.0, 0.0, 1.0], batch_index=4, step=26)


def test_skip_drops_the_step_of_every_model_of_a_stack():
    skip = guard(2, device="cpu", policy="skip")
    optimizer = torch.optim.Adam([torch.zeros(1, requires_grad=True)], fused=True)
    kept = skip.before_update(torch.tensor([True, False]), torch.zeros(2), optimizer, 0, 21)
    assert kept.tolist() == [False, False] and float(optimizer.found_inf) == 1.0
    kept = skip.before_update(torch.tensor([True, True]), torch.zeros(2), optimizer, 1, 22)
    assert kept.tolist() == [True, True] and float(optimizer.found_inf) == 0.0


def test_history_row_columns_and_means():
    row = history_row(3, 63, [130.0, 120.0, 10.0, 2.0, 1.0], 0.5, {"elbo": -60.0}, 1.5)
    assert row == {"epoch": 3, "step": 63, "train_loss": 65.0, "train_recon": 60.0,
                   "train_kl": 5.0, "train_elbo": -65.0, "kl_weight": 0.5,
                   "skipped_steps": 1, "val_elbo": -60.0, "epoch_seconds": 1.5}
