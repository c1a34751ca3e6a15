"""Evaluation memory is bounded by the chunk, not by the data (issue 18): the peak
resident memory of IS-NLL does not grow from N images to 4N more, measured in a fresh
process (torch's tensors live outside Python's allocator, so tracemalloc cannot see them:
the kernel's peak RSS, VmHWM, can)."""

import json
import subprocess
import sys

import pytest

from vaelab import memory

# A fresh process: the model shape (z = 64, one 512-unit layer, one learned σ),
# untrained, on MNIST-shaped random images; IS-NLL with k = 1000 (4 images per block of
# 4096 rows) over N images, then over 4N others; the peak RSS (MiB) after each.
SCRIPT = """
import json, sys, torch
from vaelab.config import Config
from vaelab.metrics import iw_nll
from vaelab.model import VAE

def peak_mib():
    with open("/proc/self/status") as status:
        return [int(line.split()[1]) / 1024 for line in status if line.startswith("VmHWM")][0]

torch.set_num_threads(2)
torch.manual_seed(0)
n = int(sys.argv[1])
config = Config().replace(latent_dim=64, hidden=[512], likelihood="gaussian-learned",
                          learned_scale="shared")
model = VAE(config, (28, 28)).eval()
peaks = []
for count in (n, 4 * n):
    x = torch.rand(count, 784)
    log_px, _ = iw_nll.importance_sampled_log_px(model, x, 1000, seed=0, chunk_rows=4096)
    assert log_px.shape == (count,) and bool(torch.isfinite(log_px).all())
    del log_px, x
    peaks.append(peak_mib())
print(json.dumps(peaks))
"""
N = 40
CHUNK_ROWS = 4096


@pytest.mark.slow  # about 10 s of CPU
@pytest.mark.skipif(sys.platform != "linux", reason="VmHWM is Linux's")
def test_iw_nll_peak_memory_does_not_grow_with_the_images():
    """Allowed: one chunk (the allocator may place one chunk's buffers differently), not
    one per block: 4N − N images are 30 more blocks. Measured: +0.3 to +16 MiB with the
    buffers allocated once; the old code, which kept a list of per-block tensors, grew by
    +468 MiB in one try of two (glibc's heap fragments by chance, not every time)."""
    from vaelab.config import Config
    from vaelab.metrics.base import decoded_row_bytes
    from vaelab.model import VAE

    config = Config().replace(latent_dim=64, hidden=[512], likelihood="gaussian-learned",
                              learned_scale="shared")
    chunk_mib = CHUNK_ROWS * decoded_row_bytes(VAE(config, (28, 28))) / 2**20  # ≈ 98
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(N)], capture_output=True,
                         text=True, timeout=600, check=True)
    first, second = json.loads(out.stdout.strip().splitlines()[-1])
    assert second - first < chunk_mib, (first, second, chunk_mib)


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
