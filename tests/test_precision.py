"""How training runs on a device: --device auto and $VAELAB_DEVICE, --precision bf16, and
the choice between an eager and a CUDA-graphed step (the graphed step itself is tested
on a GPU in tests/test_cuda.py)."""

import pytest
import torch

import vaelab
from vaelab.errors import VaelabError
from vaelab.run import resolve_device
from vaelab.stepper import EagerStep, GraphedStep, graph_obstacle

TINY = dict(dataset="digits", hidden="32", latent_dim=4, epochs=2, batch_size=64)


def test_auto_device_follows_the_environment(monkeypatch):
    monkeypatch.setenv("VAELAB_DEVICE", "cpu")
    assert resolve_device("auto") == torch.device("cpu")
    monkeypatch.setenv("VAELAB_DEVICE", "auto")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    monkeypatch.setenv("VAELAB_DEVICE", "tpu7")
    with pytest.raises(VaelabError, match="not a device name"):
        resolve_device("auto")
    if not torch.cuda.is_available():
        monkeypatch.setenv("VAELAB_DEVICE", "cuda")
        with pytest.raises(VaelabError, match="no CUDA GPU"):
            resolve_device("auto")
    # An explicit device is never overridden.
    monkeypatch.setenv("VAELAB_DEVICE", "cuda")
    assert resolve_device("cpu") == torch.device("cpu")


def test_the_test_suite_pins_the_cpu():
    assert resolve_device("auto") == torch.device("cpu")


class _Objective:
    def __init__(self, name, safe=True, auxiliaries=None):
        self.cfg = type("Cfg", (), {"name": name})()
        self.graph_safe = safe
        self.auxiliaries = auxiliaries or {}


class _Trainee:
    def __init__(self, objective):
        self.objective = objective


def test_graph_obstacles_name_their_reason():
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    safe = _Trainee(_Objective("elbo"))
    assert graph_obstacle(safe, cpu, "auto") == "not on CUDA"
    assert graph_obstacle(safe, cuda, "off") == "--cuda-graphs off"
    assert "not declared graph-safe" in graph_obstacle(_Trainee(_Objective("dip-vae-i", False)),
                                                      cuda, "auto")
    assert "networks of its own" in graph_obstacle(
        _Trainee(_Objective("factorvae", True, {"discriminator": object()})), cuda, "auto")
    if hasattr(torch.cuda.CUDAGraph, "register_generator_state"):
        assert graph_obstacle(safe, cuda, "auto") is None


def test_objectives_that_read_the_step_or_own_networks_are_not_graph_safe():
    from vaelab.objectives import OBJECTIVES

    safe = {name for name in OBJECTIVES.names() if OBJECTIVES.get(name).graph_safe}
    assert {"elbo", "ae", "iwae"} <= safe
    assert "factorvae" not in safe and "capacity" not in safe  # auxiliaries; reads the step
    assert "beta-tcvae" not in safe  # host-to-device copies (refused by capture on an H200)


def test_cpu_training_takes_eager_steps(tmp_path, monkeypatch):
    import vaelab.trainer as trainer

    made = []
    original = trainer.make_step

    def spy(*args, **kwargs):
        step = original(*args, **kwargs)
        made.append(step)
        return step

    monkeypatch.setattr(trainer, "make_step", spy)
    vaelab.train(out=tmp_path / "run", progress=False, figures=False, **TINY)
    assert len(made) == 1 and type(made[0]) is EagerStep
    assert not isinstance(made[0], GraphedStep)


def test_bf16_training_matches_float32_within_noise(tmp_path):
    """--precision bf16 (CPU autocast here; CUDA in test_cuda.py): the validation ELBO,
    computed in float32 either way, lands within a few nats of float32 training after the
    same short run; the spread between two float32 seeds is the yardstick."""
    settings = dict(TINY, epochs=4, binarize="dynamic")
    full = vaelab.train(out=tmp_path / "f32", progress=False, figures=False, **settings)
    other_seed = vaelab.train(out=tmp_path / "f32s1", progress=False, figures=False,
                              **dict(settings, seed=1))
    half = vaelab.train(out=tmp_path / "bf16", progress=False, figures=False,
                        precision="bf16", **settings)
    assert half.config.train.precision == "bf16"
    val = [run.history[-1]["val_elbo"] for run in (full, other_seed, half)]
    assert all(v == v for v in val)  # finite
    seed_spread = abs(val[0] - val[1])
    assert abs(val[2] - val[0]) <= max(3 * seed_spread, 1.0), val
    # bf16 really changed the arithmetic: the weights differ from float32's.
    assert not torch.equal(half.model.encoder[0].weight, full.model.encoder[0].weight)


def test_precision_and_graph_flags_are_checked(tmp_path):
    with pytest.raises(VaelabError, match="precision"):
        vaelab.train(out=tmp_path / "a", progress=False, figures=False, precision="fp8",
                     **TINY)
    with pytest.raises(VaelabError, match="cuda"):
        vaelab.train(out=tmp_path / "b", progress=False, figures=False, cuda_graphs="always",
                     **TINY)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_the_auto_sweep_backend_is_local_on_the_cpu_and_batched_on_a_gpu(monkeypatch):
    from vaelab.config import Config
    from vaelab.sweep.backends import check_backend, resolve_backend

    check_backend("auto")  # accepted, resolved per sweep
    task = {"run": "r0", "config": Config().replace(dataset="digits").to_dict()}
    assert resolve_backend("auto", [task]) == "local"  # the suite pins the CPU
    assert resolve_backend("ray", [task]) == "ray"
    cuda_task = {"run": "r1", "config": Config().replace(device="cuda").to_dict()}
    if torch.cuda.is_available():
        assert resolve_backend("auto", [task, cuda_task]) == "batched"
    else:
        with pytest.raises(VaelabError, match="no CUDA GPU"):
            resolve_backend("auto", [task, cuda_task])


def test_is_nll_in_bf16_and_tf32_matches_float32_within_its_standard_error(tmp_path):
    """--iw-precision: bf16 matmuls (autocast) move the estimate by less than its standard
    error over images; tf32 is float32 on the CPU (and says so); the log-sum-exp is float64
    either way."""
    from vaelab.metrics import iw_nll

    run = vaelab.train(out=tmp_path / "run", progress=False, figures=False,
                       **dict(TINY, epochs=3, binarize="dynamic"))
    full = iw_nll.gather(run.model, run.data, k=64, seed=1)
    half = iw_nll.gather(run.model, run.data, k=64, seed=1, precision="bf16")
    tf32 = iw_nll.gather(run.model, run.data, k=64, seed=1, precision="tf32")
    assert full["precision"] == "float32" and half["precision"] == "bf16"
    assert "bf16 matmuls" in half["estimator"] and "matmuls" not in full["estimator"]
    assert half["nll"] != full["nll"]  # bf16 really ran
    assert abs(half["nll"] - full["nll"]) < full["nll_stderr"]
    assert tf32["precision"] == "float32" and tf32["nll"] == full["nll"]
    with pytest.raises(VaelabError, match="--iw-precision 'fp8'"):
        iw_nll.gather(run.model, run.data, k=4, precision="fp8")


def test_is_nll_chunks_are_larger_on_a_gpu(monkeypatch):
    from vaelab.metrics import iw_nll

    monkeypatch.setattr(iw_nll, "decoded_row_bytes", lambda model: 1000)
    seen = {}

    def fake_chunk_size(item_bytes, *, preferred, device):
        seen[str(device)] = preferred
        return preferred

    monkeypatch.setattr(iw_nll, "chunk_size", fake_chunk_size)
    assert iw_nll.chunk_rows_for(None, "cpu") == iw_nll.CHUNK_ROWS
    assert iw_nll.chunk_rows_for(None, "cuda") == iw_nll.CUDA_CHUNK_ROWS
    assert seen == {"cpu": iw_nll.CHUNK_ROWS, "cuda": iw_nll.CUDA_CHUNK_ROWS}


def test_subnormals_are_flushed_inside_the_block_and_restored_after():
    from vaelab.precision import _flushing, subnormals_flushed

    cpu = torch.device("cpu")
    tiny = torch.tensor([1e-39])  # a subnormal float32
    assert not _flushing() and tiny.mul(1.0).item() > 0
    with subnormals_flushed(cpu):
        assert _flushing()
        assert tiny.mul(1.0).item() == 0.0
        assert torch.tensor([1e-20]).mul(1e-20).item() == 0.0  # an underflowing product
        assert torch.tensor([2e-38]).mul(1.0).item() == pytest.approx(2e-38)  # normal: kept
    assert not _flushing() and tiny.mul(1.0).item() > 0
    # A mode the caller set is kept.
    torch.set_flush_denormal(True)
    try:
        with subnormals_flushed(cpu):
            pass
        assert _flushing()
    finally:
        torch.set_flush_denormal(False)
    # Not the CPU: nothing changes here.
    with subnormals_flushed(torch.device("meta")):
        assert not _flushing()


def test_cpu_training_and_evaluation_flush_subnormals(tmp_path, monkeypatch):
    """Adam's moments of never-used weights decay through the subnormal range, which x86
    computes ~100× slower (a late 512-unit MNIST epoch: 19.0 s → 6.6 s with them flushed,
    benchmarks/RESULTS.md); every step and every metric runs with them flushed."""
    import dataclasses

    import vaelab.metrics.base as metrics_base
    import vaelab.trainer as trainer
    from vaelab.precision import _flushing

    modes = {"step": [], "metric": []}
    original = trainer.make_step

    def spy(*args, **kwargs):
        step = original(*args, **kwargs)

        def recording(*a, **k):
            modes["step"].append(_flushing())
            return step(*a, **k)

        recording.last_batch = None
        return recording

    monkeypatch.setattr(trainer, "make_step", spy)
    run = vaelab.train(out=tmp_path / "run", progress=False, figures=False, **TINY)
    assert modes["step"] and all(modes["step"])
    assert not _flushing()  # restored for the caller

    elbo = metrics_base.METRICS.get("elbo")

    def recording_gather(*args, **kwargs):
        modes["metric"].append(_flushing())
        return elbo.gather(*args, **kwargs)

    monkeypatch.setitem(metrics_base.METRICS._entries, "elbo",
                        dataclasses.replace(elbo, gather=recording_gather))
    from vaelab.metrics import evaluate

    evaluate(run.model, run.data, ["elbo"])
    assert modes["metric"] == [True]
    assert not _flushing()
