"""The CUDA path (issue 16): graphed training steps, resume, the non-finite policies as
CUDA implements them (read every 25 steps), stacked training, bf16, metrics and figures
of a CUDA run. Skipped without a GPU; everything else in the suite pins the CPU
(conftest.py sets VAELAB_DEVICE=cpu).

What holds on CUDA, and is tested here: a graphed run is statistically equivalent to an
eager one (not bit-identical: cuBLAS may pick other kernels, and a graph consumes the
random streams in another order), and a resumed run lands within the seed-to-seed spread
of the uninterrupted run. Bit-for-bit claims are the CPU's (tests/test_resume.py).

VAELAB_CUDA_TESTS_DEVICE=cpu runs this file's logic on the CPU (eager steps), to check
the tests themselves on a machine without a GPU."""

import os
import shutil

import pytest
import torch
from conftest import run_cli

import vaelab
import vaelab.api as api
import vaelab.trainer as trainer
from vaelab.batched import train_batched
from vaelab.errors import VaelabError
from vaelab.stepper import GraphedStep

DEVICE = os.environ.get("VAELAB_CUDA_TESTS_DEVICE", "cuda")
ON_CUDA = DEVICE.startswith("cuda")
pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(ON_CUDA and not torch.cuda.is_available(),
                                 reason="no CUDA GPU")]

TINY = dict(dataset="digits", hidden="32", latent_dim=4, batch_size=64, device=DEVICE)


@pytest.fixture
def steps(monkeypatch):
    """The step objects the trainer made, in order."""
    made = []
    original = trainer.make_step

    def spy(*args, **kwargs):
        made.append(original(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(trainer, "make_step", spy)
    return made


def train(path, **overrides):
    return vaelab.train(out=path, progress=False, figures=False, **{**TINY, **overrides})


def final_val(run) -> float:
    return run.history[-1]["val_elbo"]


def assert_graphed(step) -> None:
    if ON_CUDA:
        assert isinstance(step, GraphedStep) and not step.failed
        assert step.graph is not None


def test_graphed_training_matches_eager_within_the_seed_spread(tmp_path, steps):
    settings = dict(epochs=5, binarize="dynamic")
    graphed = train(tmp_path / "graphed", **settings)
    assert_graphed(steps[-1])
    eager = train(tmp_path / "eager", cuda_graphs="off", **settings)
    assert not isinstance(steps[-1], GraphedStep)
    other = train(tmp_path / "other", cuda_graphs="off", seed=1, **settings)
    assert graphed.history[-1]["step"] == eager.history[-1]["step"]
    assert all(row["skipped_steps"] == 0 for row in graphed.history)
    spread = abs(final_val(eager) - final_val(other))
    gap = abs(final_val(graphed) - final_val(eager))
    print(f"\ngraphed vs eager val ELBO gap {gap:.3f} nats; seed spread {spread:.3f}")
    assert gap <= max(3 * spread, 1.0)
    # Training went somewhere: the ELBO improved from the first epoch.
    assert graphed.history[-1]["val_elbo"] > graphed.history[0]["val_elbo"]


def test_resume_lands_within_the_seed_spread(tmp_path):
    settings = dict(epochs=4, binarize="dynamic")
    whole = train(tmp_path / "whole", **settings)
    train(tmp_path / "part", **dict(settings, epochs=2))
    resumed = vaelab.train(resume=tmp_path / "part", progress=False, figures=False, epochs=4)
    other = train(tmp_path / "other", seed=1, **settings)
    assert [row["step"] for row in resumed.history] == [row["step"] for row in whole.history]
    gap = abs(final_val(resumed) - final_val(whole))
    spread = abs(final_val(whole) - final_val(other))
    same = all(torch.equal(a, b) for a, b in zip(whole.model.state_dict().values(),
                                                  resumed.model.state_dict().values(), strict=True))
    print(f"\nresume vs uninterrupted: val ELBO gap {gap:.4f} nats (seed spread "
          f"{spread:.3f}); weights bit-identical: {same}")
    assert gap <= max(3 * spread, 1.0)


def poison_training_image(monkeypatch, row: int = 7) -> None:
    """Training image ``row`` becomes NaN after the data checks: the step whose batch
    holds it has a non-finite loss, once per epoch, wherever the permutation puts it."""
    original = api.train_model

    def poisoned(model, objective, data, *args, **kwargs):
        data.train.x[row] = float("nan")
        return original(model, objective, data, *args, **kwargs)

    monkeypatch.setattr(api, "train_model", poisoned)


def test_stop_policy_names_the_steps_since_the_last_read(tmp_path, monkeypatch, steps):
    poison_training_image(monkeypatch)
    where = r"(one of batches \d+–\d+ \(steps \d+–\d+\)|batch \d+ \(step \d+\))"
    with pytest.raises(VaelabError, match=rf"non-finite .* at epoch 1, {where}; no checkpoint"):
        train(tmp_path / "run", epochs=2, binarize="none")


def test_skip_policy_drops_exactly_the_poisoned_step(tmp_path, monkeypatch, steps):
    poison_training_image(monkeypatch)
    run = train(tmp_path / "run", epochs=3, binarize="none", nan_policy="skip")
    assert_graphed(steps[-1])
    assert [row["skipped_steps"] for row in run.history] == [1, 1, 1]
    assert all(torch.isfinite(t).all() for t in run.model.state_dict().values())
    assert final_val(run) == final_val(run)  # a number, not NaN


def test_stacked_training_on_the_gpu_matches_training_alone_within_noise(tmp_path, steps):
    from vaelab.config import Config

    base = Config().replace(dataset="digits", hidden=[32], latent_dim=4, epochs=5,
                            batch_size=64, device=DEVICE)
    configs = [base.replace(seed=seed, beta=beta) for seed, beta in [(0, 1.0), (1, 0.5),
                                                                      (2, 2.0)]]
    paths = [tmp_path / f"b{i}" for i in range(len(configs))]
    runs = [vaelab.load_run(p) for p in train_batched(configs, paths, progress=False,
                                                      figures=False)]
    assert_graphed(steps[-1])
    for index, config in enumerate(configs):
        alone = vaelab.train(config, out=tmp_path / f"a{index}", progress=False,
                             figures=False)
        gap = abs(final_val(runs[index]) - final_val(alone))
        print(f"\nstacked vs alone (β={config.objective.beta}): {gap:.3f} nats")
        assert gap <= 1.0


def test_a_gpu_sweep_on_the_batched_backend_evaluates_each_run_on_the_gpu(tmp_path,
                                                                          monkeypatch):
    import vaelab.sweep.batched_backend as batched_backend
    from vaelab.sweep import run_sweep, spec_from_dict

    evaluated_on = []
    original = batched_backend.evaluate_point

    def spy(task, run):
        evaluated_on.append(next(run.model.parameters()).device.type)
        return original(task, run)

    monkeypatch.setattr(batched_backend, "evaluate_point", spy)
    base = {"data": {"dataset": "digits", "subset": 300},
            "train": {"epochs": 1, "device": DEVICE, "batch_size": 64},
            "network": {"hidden": [32], "latent_dim": 4}}
    spec = spec_from_dict({"base": base, "figures": False, "metrics": ["elbo", "iw-nll"],
                           "iw_samples": 10, "seeds": 2}, where="test")
    run_sweep(spec, tmp_path / "sweep", backend="batched", progress=False)
    assert evaluated_on == [torch.device(DEVICE).type] * 2


def test_bf16_training_on_the_gpu_matches_float32_within_noise(tmp_path, steps):
    settings = dict(epochs=4, binarize="dynamic")
    full = train(tmp_path / "f32", **settings)
    other = train(tmp_path / "f32s1", seed=1, **settings)
    half = train(tmp_path / "bf16", precision="bf16", **settings)
    assert_graphed(steps[-1])
    spread = abs(final_val(full) - final_val(other))
    gap = abs(final_val(half) - final_val(full))
    print(f"\nbf16 vs float32 val ELBO gap {gap:.3f} nats; seed spread {spread:.3f}")
    assert gap <= max(3 * spread, 1.0)


def test_metrics_and_figures_of_a_gpu_run(tmp_path, monkeypatch, capsys):
    import json

    run = train(tmp_path / "run", epochs=2)
    code, out, err = run_cli(monkeypatch, capsys, "eval", run.path, "--metrics",
                             "elbo,iw-nll,collapse", "--iw-samples", "50", "--json",
                             "--device", DEVICE, "--quiet")
    assert code == 0, err
    on_device = json.loads(out)
    shutil.copytree(run.path, tmp_path / "copy")
    code, out, err = run_cli(monkeypatch, capsys, "eval", tmp_path / "copy", "--metrics",
                             "iw-nll", "--iw-samples", "50", "--json", "--device", "cpu",
                             "--quiet")
    assert code == 0, err
    on_cpu = json.loads(out)
    nll_gpu, nll_cpu = on_device["test"]["iw_nll"], on_cpu["test"]["iw_nll"]
    # The same seeded estimator on another device: equal up to the Monte Carlo error
    # (nll_stderr is over images; the draws themselves differ between devices).
    assert abs(nll_gpu["nll"] - nll_cpu["nll"]) <= 2 * nll_cpu["nll_stderr"]
    code, out, err = run_cli(monkeypatch, capsys, "plot", run.path, "samples",
                             "reconstructions", "--device", DEVICE)
    assert code == 0, err
    assert (run.path / "figures" / "samples.png").is_file()


def graph_safe_objectives() -> list[str]:
    from vaelab.objectives import OBJECTIVES

    return [name for name in OBJECTIVES.names() if OBJECTIVES.get(name).graph_safe]


@pytest.mark.parametrize("objective", graph_safe_objectives())
def test_every_graph_safe_objective_is_captured_and_matches_eager(tmp_path, steps, objective):
    """Each objective that declares ``graph_safe`` is captured (no fallback) and its
    graphed run lands where the eager run does (same seed: the same random streams)."""
    from vaelab.evaluate import headline

    graphed = train(tmp_path / "graphed", objective=objective, epochs=2)
    assert_graphed(steps[-1])
    eager = train(tmp_path / "eager", objective=objective, epochs=2, cuda_graphs="off")
    (name, value), (_, expected) = headline(graphed.history[-1]), headline(eager.history[-1])
    print(f"\n{objective}: graphed {name} {value:.4f}, eager {expected:.4f}")
    assert value == pytest.approx(expected, abs=max(0.5, 0.01 * abs(expected)))


def test_a_tracker_logs_a_gpu_run(tmp_path):
    """The history row and the image grids go to TensorBoard from a CUDA run, as from a
    CPU one (tests/test_tracking.py)."""
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = vaelab.train(out=tmp_path / "run", progress=False, figures=False,
                       tensorboard=tmp_path / "tb", **dict(TINY, epochs=2))
    events = EventAccumulator(str(tmp_path / "tb" / "run"), size_guidance={"images": 0})
    events.Reload()
    values = [event.value for event in events.Scalars("val/elbo")]
    assert values == pytest.approx([row["val_elbo"] for row in run.history])
    assert len(events.Images("images/samples")) == 2


def test_inception_features_on_the_device_equal_the_cpus():
    """cuDNN's TF32 convolutions are off inside embed (vaelab/inception.py), so the
    device's pool3 features are the CPU's float32 ones up to summation order."""
    from vaelab.inception import FIDInception

    torch.manual_seed(0)
    network = FIDInception((3, 32, 32)).eval()
    images = torch.rand(4, 3 * 32 * 32)
    with torch.no_grad():
        on_cpu = network.embed(images)
        on_device = network.to(DEVICE).embed(images.to(DEVICE)).cpu()
    gap = (on_device - on_cpu).abs().max()
    assert gap <= 1e-4 * on_cpu.abs().max()  # beyond what TF32 (10-bit mantissa) keeps
