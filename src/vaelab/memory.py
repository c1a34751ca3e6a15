"""How much memory a chunked computation may take: the one home of vaelab's chunk sizes
(evaluation metrics) and of the memory this machine has left (sweep worker counts).

A computation that streams over images in chunks states the bytes one item of a chunk
costs at its peak (a decoded row of IS-NLL, an image through the encoder) and asks
``chunk_size`` how many items fit: the size it prefers for speed, lowered so that a chunk
takes at most ``EVAL_MEMORY_FRACTION`` of the memory available when it starts (on CPU
the kernel's MemAvailable, on CUDA ``torch.cuda.mem_get_info``'s free bytes). Across
chunks a computation keeps only running sums or per-image scalars in buffers allocated
once before the loop: a tensor allocated inside the loop and kept (a list of per-chunk
results) pins a hole between the chunk's large freed buffers in glibc's heap, and the
heap then grows by about one chunk per chunk (measured in benchmarks/RESULTS.md, "Peak
memory of evaluation").
"""

from __future__ import annotations

import os

import torch

# A chunk may take this share of the memory available when it starts: the rest is left
# to the process's other buffers, to the other workers of a sweep and to the machine.
EVAL_MEMORY_FRACTION = 0.25
# What is assumed available when the machine does not say (no /proc, no sysconf).
FALLBACK_AVAILABLE = 2 * 2**30
GIB = 2**30


def host_available_bytes() -> int:
    """Bytes of RAM the kernel can give without swapping: MemAvailable of /proc/meminfo
    (Linux), else free pages × page size (os.sysconf), else ``FALLBACK_AVAILABLE``."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024  # the kernel writes kB
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return FALLBACK_AVAILABLE


def available_bytes(device: torch.device | str) -> int:
    """Bytes a new allocation on ``device`` can get: free GPU memory on CUDA, the host's
    available RAM otherwise (CPU and MPS share the host's memory)."""
    device = torch.device(device)
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    return host_available_bytes()


def chunk_size(item_bytes: int, *, preferred: int, device: torch.device | str = "cpu",
               available: int | None = None,
               fraction: float = EVAL_MEMORY_FRACTION) -> int:
    """Items per chunk: ``preferred`` (the size that is fast), lowered so that
    items × ``item_bytes`` (the peak bytes one item costs, stated by the caller) stays
    within ``fraction`` of the memory ``available`` on ``device`` (read now when not
    given); at least 1."""
    if item_bytes < 1 or preferred < 1:
        raise ValueError(f"item_bytes and preferred must be >= 1, got {item_bytes}, "
                         f"{preferred}")
    if available is None:
        available = available_bytes(device)
    fitting = int(fraction * available) // item_bytes
    return max(1, min(preferred, fitting))
