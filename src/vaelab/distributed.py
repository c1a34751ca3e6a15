"""One run on several processes (GPUs): data-parallel training under ``torchrun``.

    torchrun --standalone --nproc-per-node N -m vaelab train ...

Every process (rank) holds the whole model and the whole data set on its device, and the
same seeded batch order and binarisation draws, so all ranks see the same global batch of
``--batch-size`` images. Rank r trains on the rows r, r + N, r + 2N, … of it; its loss is
scaled by its share of the batch (B_r / B) and the gradients are summed over the ranks
(one all-reduce of all gradients per step), which is exactly the gradient of the global
batch's mean loss. The epoch sums are summed likewise, so history holds the global
batch's numbers. What differs from one process with the same global batch: each rank
draws its own posterior noise (rank 0 keeps the single process's stream), and floating
point sums are taken in another order. Objectives whose loss is not a mean over images
(MMD, total correlation, free bits) see their rank's rows only, as under PyTorch's DDP.

Rank 0 alone writes the run directory (lock, config, checkpoints, history, metrics,
figures) and validates; the other ranks only train. The process group uses NCCL on CUDA
and gloo on the CPU (tests/test_distributed.py runs 2 CPU processes).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from vaelab.errors import VaelabError


@dataclass(frozen=True)
class Group:
    """This process's place among the ranks of one run."""

    rank: int
    size: int
    local_rank: int

    @property
    def writer(self) -> bool:
        return self.rank == 0

    def shard(self, x: torch.Tensor) -> torch.Tensor:
        """This rank's rows of a global batch [B, D] (rows r, r + N, ...)."""
        return x[self.rank::self.size]

    def share(self, local: int, total: int) -> float:
        """The factor on a rank's mean loss that makes the summed gradients the global
        batch mean's: B_r / B."""
        return local / total

    def sum_gradients(self, params: list[torch.Tensor]) -> None:
        """All-reduce (sum) every gradient, as one flat buffer: one collective a step."""
        grads = [p.grad for p in params if p.grad is not None]
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        offset = 0
        for g in grads:
            g.copy_(flat[offset:offset + g.numel()].view_as(g))
            offset += g.numel()

    def sum_(self, tensor: torch.Tensor) -> torch.Tensor:
        dist.all_reduce(tensor)
        return tensor


def from_environment() -> Group | None:
    """The group torchrun describes in WORLD_SIZE/RANK/LOCAL_RANK, or None for one
    process."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return None
    return Group(rank=int(os.environ["RANK"]), size=size,
                 local_rank=int(os.environ.get("LOCAL_RANK", os.environ["RANK"])))


def start(group: Group, device: torch.device) -> torch.device:
    """Join the process group (NCCL on CUDA, gloo on the CPU); each rank's device
    (cuda:LOCAL_RANK on CUDA)."""
    if device.type == "cuda":
        if torch.cuda.device_count() < group.size:
            raise VaelabError(f"torchrun started {group.size} processes but only "
                              f"{torch.cuda.device_count()} CUDA GPUs are visible; use "
                              f"--nproc-per-node {torch.cuda.device_count()} or --device cpu")
        device = torch.device("cuda", group.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device


def stop() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def obstacle(objective_class: type, name: str) -> str | None:
    """Why an objective (its registered class) cannot be trained data-parallel, or None."""
    from vaelab.objectives import Objective

    # An objective that overrides attach() builds networks of its own (FactorVAE).
    if objective_class.attach is not Objective.attach:
        return (f"--objective {name} trains networks of its own, which torchrun training "
                "does not share between processes")
    return None
