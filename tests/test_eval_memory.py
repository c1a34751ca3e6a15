"""Evaluation memory is bounded by the chunk, not by the data (issue 18): the peak
resident memory of IS-NLL over 4N images is that over N images, measured in fresh
processes (torch's tensors live outside Python's allocator, so tracemalloc cannot see
them: the kernel's peak RSS, ``resource.getrusage``, can)."""

import json
import subprocess
import sys

import pytest

from vaelab import memory

# A fresh process: a tiny untrained VAE on MNIST-shaped random images (D = 784, so that a
# chunk's [4096, 784] decoder buffers are 13 MB and a per-block leak shows), IS-NLL with
# k = 256 (16 images per block), peak RSS in MiB.
SCRIPT = """
import json, resource, sys, torch
from vaelab.config import Config
from vaelab.metrics import iw_nll
from vaelab.model import VAE
torch.set_num_threads(1)
torch.manual_seed(0)
n = int(sys.argv[1])
model = VAE(Config().replace(latent_dim=4, hidden=[32], likelihood="gaussian"), (28, 28))
model.eval()
x = torch.rand(n, 784)
log_px, _ = iw_nll.importance_sampled_log_px(model, x, 256, seed=0, chunk_rows=4096)
assert log_px.shape == (n,) and bool(torch.isfinite(log_px).all())
print(json.dumps({"peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""
N = 160
# What may differ between the two processes: the 4N − N extra images (1.8 MB) and the
# noise of two fresh processes' peaks. A leak of one chunk per block would add ~400 MB.
ALLOWANCE_MIB = 48


def _peak_mib(n: int) -> float:
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(n)], capture_output=True,
                         text=True, timeout=300, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["peak_mib"]


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss in kB is Linux's")
def test_iw_nll_peak_memory_does_not_grow_with_the_images():
    small, large = _peak_mib(N), _peak_mib(4 * N)
    assert large - small < ALLOWANCE_MIB, (small, large)


def test_chunk_size_known_answers():
    # 1 GiB available, a quarter of it for the chunk, 1 MiB per item: 256 items fit.
    assert memory.chunk_size(2**20, preferred=10_000, available=2**30) == 256
    assert memory.chunk_size(2**20, preferred=100, available=2**30) == 100  # preferred
    assert memory.chunk_size(2**40, preferred=100, available=2**30) == 1  # at least one
    assert memory.chunk_size(2**20, preferred=10_000, available=2**30, fraction=0.5) == 512
    with pytest.raises(ValueError):
        memory.chunk_size(0, preferred=10)


def test_available_memory_is_read_from_the_machine():
    assert memory.host_available_bytes() > 0
    assert memory.available_bytes("cpu") == pytest.approx(memory.host_available_bytes(),
                                                          rel=0.5)


def test_decoded_row_bytes_counts_the_output_and_the_widest_activation():
    from vaelab.config import Config
    from vaelab.metrics.base import DECODED_TEMPORARIES, decoded_row_bytes
    from vaelab.model import VAE

    model = VAE(Config().replace(latent_dim=4, hidden=[32], likelihood="gaussian"), (28, 28))
    # Output 784 floats; the widest activation is the output layer's 784 too.
    assert decoded_row_bytes(model) == 4 * (DECODED_TEMPORARIES * 784 + 2 * 784)
    model = VAE(Config().replace(latent_dim=4, hidden=[2000], likelihood="gaussian"),
                (28, 28))
    assert decoded_row_bytes(model) == 4 * (DECODED_TEMPORARIES * 784 + 2 * 2000)


def test_mutual_information_uses_a_seeded_subsample_of_stated_size():
    import math

    import torch

    from vaelab.config import Config
    from vaelab.data import prepare_data
    from vaelab.metrics import collapse
    from vaelab.model import VAE

    assert collapse.mi_subsample(100, 200, seed=0) is None  # all images when they fit
    pick = collapse.mi_subsample(1000, 30, seed=0)
    assert pick.shape == (30,) and torch.equal(pick, pick.sort().values)
    assert len(set(pick.tolist())) == 30
    assert torch.equal(pick, collapse.mi_subsample(1000, 30, seed=0))  # seeded
    assert not torch.equal(pick, collapse.mi_subsample(1000, 30, seed=1))

    config = Config().replace(dataset="digits", latent_dim=3, hidden=[16])
    data = prepare_data(config.data)
    model = VAE(config, data.image_shape)
    n = len(data.test)
    stats = collapse.gather(model, data, mi_images=40)
    assert stats["mutual_information_images"] == 40 < n
    assert stats["mutual_information_max"] == pytest.approx(math.log(40))
    assert f"over 40 images (a seeded subsample of the split's {n})" in stats["estimator"]
    whole = collapse.gather(model, data, mi_images=10 * n)
    assert whole["mutual_information_images"] == n
    assert "subsample" not in whole["estimator"]
