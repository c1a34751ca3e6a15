"""What the training loop (trainer.py) trains: a *trainee*, one model or a stack of M
same-shape models (batched/trainee.py), behind one small interface. The loop owns the
epochs, steps, sums, history, checkpoints and the non-finite guard; a trainee says only
how its models take a batch, a KL weight and a gradient check, and how each of its runs
is written back.

Each run of a trainee is a ``Member``: an ordinary VAE that holds the run's weights at
every epoch's end (validation and checkpoints use it), its objective, config and run
directory, its own seeded generators, counters and history.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from vaelab import rundir
from vaelab.config import Config
from vaelab.data import binarize_batch
from vaelab.model import VAE
from vaelab.nonfinite import all_finite
from vaelab.objectives import Objective, ObjectiveOutput
from vaelab.resume import load_resume, save_resume
from vaelab.tracking import Tracker


@dataclass
class TrainState:
    epoch: int = 0  # last complete epoch
    step: int = 0  # optimiser steps taken
    best_val_elbo: float = -math.inf


@dataclass
class Member:
    """One run of a trainee (see the module docstring)."""

    model: VAE
    objective: Objective
    config: Config
    run_path: Path
    tracker: Tracker = field(default_factory=Tracker)
    state: TrainState = field(default_factory=TrainState)
    history: list[dict[str, float]] = field(default_factory=list)

    def __post_init__(self):
        # Separate seeded generators: batch order (CPU) and binarisation draws (device),
        # so neither depends on how many random numbers the model used.
        seed = self.config.train.seed
        device = next(self.model.parameters()).device
        self.generators = {"order": torch.Generator().manual_seed(seed),
                           "pixels": torch.Generator(device=device).manual_seed(seed + 1)}


class Trainee:
    """The interface. ``module`` is what the optimiser steps and ``objective`` is called
    on. The loop's per-model tensors have the shape ``shape``: (M,) for a stack, () for
    one model, as the objective's terms have [M, B] or [B]."""

    module: nn.Module
    objective: Objective
    members: list[Member]
    shape: tuple[int, ...]

    def kl_weight(self, step: int) -> float | torch.Tensor:
        """The members' objectives' KL weights at ``step``, as the objective takes them."""
        raise NotImplementedError

    def attach(self) -> None:
        """Let the objective build the networks it trains itself (``Objective.attach``).
        A stack has none: objectives with auxiliaries are not stackable."""

    def extra_batch(self, train_x: torch.Tensor, batch_size: int, dynamic: bool
                    ) -> torch.Tensor:
        """A fresh random batch for the objective's auxiliaries, independent of the
        loop's batch order (FactorVAE's second batch)."""
        raise NotImplementedError(f"{type(self).__name__} has no auxiliary batches")

    def batch(self, train_x: torch.Tensor, index: torch.Tensor, dynamic: bool
              ) -> torch.Tensor:
        """The images at ``index`` [M, B] (a slice of each member's own permutation,
        M = 1 for one model), with each member's draw under dynamic binarisation."""
        raise NotImplementedError

    def loss_sums(self, out: ObjectiveOutput, x: torch.Tensor) -> torch.Tensor:
        """Each member's training loss summed over its batch ``x``."""
        raise NotImplementedError

    def finite(self, loss: torch.Tensor, losses: torch.Tensor, params: list[torch.Tensor],
               clip: float | None) -> torch.Tensor:
        """Per member: are its loss and gradients finite? Clips with --grad-clip."""
        raise NotImplementedError

    def write_back(self) -> None:
        """After an epoch: each member's model holds its current weights."""

    def save_resume(self, index: int, optimizer: torch.optim.Optimizer) -> None:
        """Member ``index``'s resume.safetensors, in the single-model format."""
        raise NotImplementedError

    def resume(self, optimizer: torch.optim.Optimizer) -> None:
        """Restore weights, optimiser, generators, counters and history from the run."""
        raise NotImplementedError(f"{type(self).__name__} cannot resume")


class SingleTrainee(Trainee):
    """One model: what ``vaelab.train`` trains."""

    def __init__(self, member: Member):
        self.members = [member]
        self.module = member.model
        self.objective = member.objective
        self.shape = ()

    def kl_weight(self, step: int) -> float:
        return self.objective.kl_weight(step)

    def attach(self) -> None:
        member = self.members[0]
        self.objective.attach(self.module)
        if self.objective.auxiliaries:
            # The auxiliaries' batches come from a seeded stream of their own, saved with
            # the others in resume.safetensors.
            member.generators["auxiliary"] = torch.Generator().manual_seed(
                member.config.train.seed + 2)

    def extra_batch(self, train_x: torch.Tensor, batch_size: int, dynamic: bool
                    ) -> torch.Tensor:
        generator = self.members[0].generators["auxiliary"]
        index = torch.randperm(train_x.shape[0], generator=generator)[:batch_size]
        return self.batch(train_x, index.to(train_x.device).unsqueeze(0), dynamic)

    def batch(self, train_x: torch.Tensor, index: torch.Tensor, dynamic: bool
              ) -> torch.Tensor:
        # index_select copies whole rows; x[index] takes the general advanced-indexing
        # path, about 2x slower for a [128, 784] batch on CPU.
        x = train_x.index_select(0, index[0])
        return binarize_batch(x, self.members[0].generators["pixels"]) if dynamic else x

    def loss_sums(self, out: ObjectiveOutput, x: torch.Tensor) -> torch.Tensor:
        return out.loss.detach() * x.shape[0]

    def finite(self, loss: torch.Tensor, losses: torch.Tensor, params: list[torch.Tensor],
               clip: float | None) -> torch.Tensor:
        return all_finite(loss.detach(), params, clip)

    def save_resume(self, index: int, optimizer: torch.optim.Optimizer) -> None:
        member = self.members[index]
        save_resume(member.run_path, member.model, optimizer, member.generators,
                    dataclasses.asdict(member.state), self.objective.auxiliaries)

    def resume(self, optimizer: torch.optim.Optimizer) -> None:
        member = self.members[0]
        counters = load_resume(member.run_path, member.model, optimizer, member.generators,
                               self.objective.auxiliaries)
        member.state = TrainState(**counters)
        # Rows after the resumed epoch were written by the interrupted process; they are
        # recomputed, identically, from the restored state.
        history = rundir.read_history(member.run_path / rundir.HISTORY_FILE)
        member.history = history[:member.state.epoch]
