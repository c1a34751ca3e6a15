"""The training loop: explicit, one screen long, over a dataset that already lives on the
device as one tensor (DESIGN rule 6). A batch is an index slice of a seeded random
permutation; there is no DataLoader and no per-sample Python in the hot path.

One loop for one model and for a stack of M same-shape models (vaelab.batched): it
trains a *trainee* (trainee.py). Per-model tensors are shaped like the objective's terms
without the batch dimension: [M] for a stack, [] (a scalar) for one model. Each run of
a stack keeps what training it alone would use: its own batch order and binarisation
draws, its own KL weight (its objective's ``kl_weight(step)`` hook), history,
checkpoints and resume file.

After every epoch, per run: validation (true ELBO), a history row, an atomic checkpoint
of the weights (model.safetensors), best.safetensors when validation improved, and
resume.safetensors (optimiser and RNG states) so that --resume continues bit for bit.
Non-finite steps are the guard's business (nonfinite.py, --nan-policy).
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.progress import TextColumn

from vaelab import rundir
from vaelab.config import Config
from vaelab.data import PreparedData
from vaelab.distributed import Group
from vaelab.evaluate import EVAL_SEED, evaluate_split, headline, split_numbers
from vaelab.lr_schedules import LR_SCHEDULES
from vaelab.model import VAE
from vaelab.nonfinite import NonFiniteGuard
from vaelab.objectives import Objective
from vaelab.precision import subnormals_flushed
from vaelab.progress import log_console, new_progress
from vaelab.stepper import make_step
from vaelab.tracking import ImageProbe, Tracker
from vaelab.trainee import Member, SingleTrainee, Trainee, TrainState


def make_optimizer(model: torch.nn.Module, config: Config) -> torch.optim.Optimizer:
    """Adam (Kingma & Ba 2015). The fused implementation updates all parameters in one
    kernel per step, which matters for small models where per-tensor overhead dominates.
    Adam is element-wise: one Adam over a stack is M separate Adams."""
    train = config.train
    # capturable: the step count stays on the device, so that a CUDA graph can replay the
    # update (stepper.py); only CUDA parameters can be capturable.
    on_cuda = next(model.parameters()).device.type == "cuda"
    return torch.optim.Adam(model.parameters(), lr=train.lr, weight_decay=train.weight_decay,
                            eps=train.adam_eps, fused=True, capturable=on_cuda)


def train_model(model: VAE, objective: Objective, data: PreparedData, config: Config,
                run_path: Path, *, progress: bool = True, console: Console | None = None,
                resume: bool = False, tracker: Tracker | None = None,
                group: Group | None = None) -> list[dict[str, float]]:
    """Train ``model`` in place up to ``config.train.epochs`` epochs; write history and
    checkpoints into ``run_path``; return the history rows. With ``resume``, continue
    from the run's resume.safetensors (weights, optimiser, RNG states, counters).
    ``tracker`` receives each history row (and images) after the epoch is saved.
    ``group``: this process's rank under torchrun (distributed.py); only rank 0 writes."""
    member = Member(model, objective, config, run_path, tracker=tracker or Tracker())
    train(SingleTrainee(member), data, progress=progress, console=console, resume=resume,
          group=group)
    return member.history


def train(trainee: Trainee, data: PreparedData, *, progress: bool = True,
          console: Console | None = None, resume: bool = False,
          group: Group | None = None) -> None:
    """Train every member of ``trainee`` up to its config's epochs (equal in a stack).
    Under torchrun (``group``) every rank trains its rows of each batch and rank 0 alone
    validates and writes."""
    members = trainee.members
    count = len(members)
    train_cfg = members[0].config.train  # equal in a stack except the seed
    device = next(trainee.module.parameters()).device
    optimizer = make_optimizer(trainee.module, members[0].config)
    schedule = LR_SCHEDULES.get(train_cfg.lr_schedule)
    # An objective that trains networks of its own (FactorVAE's discriminator, with its
    # own optimiser) builds them now; they are saved and resumed with the model.
    trainee.attach()
    auxiliaries = trainee.objective.auxiliaries
    console = console or log_console()
    if resume:
        trainee.resume(optimizer)
    if group is not None and group.rank > 0:
        # Each rank its own posterior noise (rank 0 keeps one process's stream), also
        # after --resume, which restores rank 0's saved generator on every rank.
        torch.manual_seed(train_cfg.seed + 7919 * group.rank + members[0].state.step)
    dynamic = data.binarize == "dynamic"
    val = data.eval_split("val")

    train_x = data.train.x
    n = train_x.shape[0]
    batch_size = train_cfg.batch_size

    def extra_batch() -> torch.Tensor:  # a second batch for the objective's auxiliaries
        return trainee.extra_batch(train_x, batch_size, dynamic)

    steps_per_epoch = math.ceil(n / batch_size)
    guard = NonFiniteGuard(train_cfg.nan_policy, device, [m.run_path for m in members],
                           steps_per_epoch)
    take_step = make_step(trainee, optimizer, guard, train_x, dynamic=dynamic,
                          clip=train_cfg.grad_clip, precision=train_cfg.precision,
                          batch_size=batch_size, graphs=train_cfg.cuda_graphs,
                          say=lambda text: _note(console, text), group=group)
    writes = group is None or group.writer
    # Per step and model, the step's row of the epoch sums: Σ loss·B, Σ recon, Σ kl,
    # images, skipped steps. One tensor for the whole run, zeroed in place each epoch (a
    # CUDA graph adds into the same memory).
    sizes = torch.full((steps_per_epoch, *trainee.shape), float(batch_size), device=device)
    sizes[-1] = n - (steps_per_epoch - 1) * batch_size
    sums = torch.zeros(*trainee.shape, 5, device=device)
    term_sums: dict[str, torch.Tensor] = {}  # the objective's named terms, if any
    wants_images = any(member.tracker.wants_images for member in members)
    probe = ImageProbe(data) if wants_images else None
    step = members[0].state.step
    bar = new_progress(enabled=progress, console=console,
                       extra=(TextColumn("loss {task.fields[loss]:.3f}"),))
    with bar, subnormals_flushed(device):  # on the CPU: precision.py says why
        task = bar.add_task("train" if count == 1 else f"train ×{count}",
                            total=steps_per_epoch * train_cfg.epochs, loss=math.nan,
                            completed=step)
        for epoch in range(members[0].state.epoch + 1, train_cfg.epochs + 1):
            trainee.module.train()
            for param_group in optimizer.param_groups:  # --lr-schedule: a function of the epoch
                param_group["lr"] = schedule(epoch, train_cfg.lr)
            guard.start_epoch(epoch)
            sums.zero_()
            for value in term_sums.values():
                value.zero_()
            started = time.perf_counter()
            orders = torch.stack([torch.randperm(n, generator=member.generators["order"])
                                  for member in members]).to(device)  # [M, N]
            for batch_index in range(steps_per_epoch):
                index = orders[:, batch_index * batch_size:(batch_index + 1) * batch_size]
                out = take_step(index, sizes[batch_index], trainee.kl_weight(step),
                                batch_index, step, sums, term_sums)
                step += 1
                if auxiliaries:  # their own step, after the model's
                    trainee.objective.step_auxiliaries(trainee.module, take_step.last_batch,
                                                       step, extra_batch)
                if guard.due(step, batch_index):
                    read = sums.tolist() if trainee.shape else [sums.tolist()]  # per model
                    guard.after_read([row[4] for row in read], batch_index, step)
                    if step % 10 == 0 or batch_index == steps_per_epoch - 1:
                        loss = sum(row[0] for row in read) / max(sum(row[3] for row in read), 1)
                        bar.update(task, completed=step, loss=loss)
            # Each run's share of the epoch: what its epoch cost.
            epoch_seconds = (time.perf_counter() - started) / count
            kl_weights = _per_model(out.kl_weight, count)
            trainee.write_back()
            if group is not None:  # the global batch's sums, from every rank's rows
                group.sum_(sums)
                for value in term_sums.values():
                    group.sum_(value)
            if not writes:
                for member in members:
                    member.state.epoch, member.state.step = epoch, step
                continue
            totals = sums.view(count, 5).tolist()
            term_totals = {name: value.view(count).tolist() for name, value in term_sums.items()}
            for index, member in enumerate(members):
                member.state.epoch, member.state.step = epoch, step
                terms = {name: values[index] for name, values in term_totals.items()}
                _save_epoch(member, totals[index], kl_weights[index], val, epoch_seconds,
                            terms)
                trainee.save_resume(index, optimizer)
                _report(member, probe, console, steps_per_epoch)
            shown = [headline(member.history[-1]) for member in members]
            values = [value for _, value in shown]
            text = f"{values[0]:.2f}" if count == 1 else f"{min(values):.2f}…{max(values):.2f}"
            bar.update(task, description=f"epoch {epoch}/{train_cfg.epochs} {shown[0][0]} "
                       f"{text}")


def history_row(epoch: int, step: int, totals: list[float], kl_weight: float,
                val_stats: dict[str, float] | None, epoch_seconds: float, *,
                variational: bool = True, terms: dict[str, float] | None = None
                ) -> dict[str, float]:
    """One row of history.csv, from a run's epoch sums (trainer.train's ``sums``, and
    ``terms``: the sums of the objective's named terms, shown as train_<name>). A plain
    autoencoder's row has no KL and no ELBO (evaluate.split_numbers)."""
    *sums, images, skipped = totals
    # Means over the images of the steps taken (all n unless some were skipped).
    numbers = split_numbers(*(value / images for value in sums), variational=variational)
    numbers.update({name: value / images for name, value in (terms or {}).items()})
    row: dict[str, float] = {"epoch": epoch, "step": step}
    row.update({f"train_{key}": value for key, value in numbers.items()})
    row.update(kl_weight=kl_weight, skipped_steps=int(skipped))
    if val_stats is not None:
        row.update({f"val_{key}": value for key, value in val_stats.items()})
    row["epoch_seconds"] = epoch_seconds
    return row


def _per_model(kl_weight: float | torch.Tensor, count: int) -> list[float]:
    """The last step's KL weight of each model: a float, or a stack's [M, 1] tensor."""
    if torch.is_tensor(kl_weight):
        return kl_weight.view(count).tolist()
    return [float(kl_weight)] * count


def _save_epoch(member: Member, totals: list[float], kl_weight: float, val,
                epoch_seconds: float, terms: dict[str, float]) -> None:
    """Validate, append the history row and write the run's checkpoints and history."""
    state, config = member.state, member.config
    val_stats = None
    if val is not None:
        val_stats = evaluate_split(member.model, member.objective, val,
                                   config.train.eval_batch_size, seed=EVAL_SEED,
                                   step=state.step)
    row = history_row(state.epoch, state.step, totals, kl_weight, val_stats, epoch_seconds,
                      variational=member.objective.is_variational, terms=terms)
    member.history.append(row)
    save_epoch(member.model, config, state, member.run_path, member.history, row,
               member.objective.auxiliaries)


def _report(member: Member, probe: ImageProbe | None, console: Console,
            steps_per_epoch: int) -> None:
    """Skipped steps to the console, the row (and images) to the run's tracker."""
    skipped = member.history[-1]["skipped_steps"]
    if skipped:
        _warn(console, f"epoch {member.state.epoch}: skipped {skipped} of {steps_per_epoch} "
              "optimiser steps with a non-finite loss or gradient (--nan-policy skip)")
    # After the epoch is saved: a failing tracker loses nothing (--resume goes on).
    member.tracker.log_epoch(member.history[-1])
    if probe is not None and member.tracker.wants_images:
        member.tracker.log_images(member.state.epoch, probe(member.model))


def checkpoint_metadata(model: VAE, config: Config, state: TrainState) -> dict:
    from vaelab import __version__

    return {"config": config.to_dict(), "image_shape": list(model.image_shape),
            "epoch": state.epoch, "step": state.step, "vaelab_version": __version__}


def save_epoch(model: VAE, config: Config, state: TrainState, run_path: Path,
               history: list[dict[str, float]], row: dict[str, float],
               auxiliaries: dict | None = None) -> None:
    metadata = checkpoint_metadata(model, config, state)
    weights = model.state_dict()
    # The objective's auxiliary networks travel with the weights they were trained with
    # (load_run reads the model's own tensors only).
    for name, auxiliary in (auxiliaries or {}).items():
        for key, tensor in auxiliary.module.state_dict().items():
            weights[f"{rundir.AUXILIARY_PREFIX}{name}.{key}"] = tensor
    rundir.save_checkpoint(run_path / rundir.MODEL_FILE, weights, metadata)
    # "Best" is by validation ELBO (an autoencoder's: by reconstruction error); without a
    # validation split by the training numbers.
    name, value = headline(row)
    score = value if name == "elbo" else -value
    if score > state.best_val_elbo or not math.isfinite(state.best_val_elbo):
        state.best_val_elbo = score
        rundir.save_checkpoint(run_path / rundir.BEST_FILE, weights, metadata)
    rundir.write_csv(run_path / rundir.HISTORY_FILE, history)


def _note(console: Console, text: str) -> None:
    """A one-time note about how training runs (e.g. why no CUDA graph is used)."""
    _always(console, f"note: {text}")


def _warn(console: Console, text: str) -> None:
    _always(console, f"[yellow]warning:[/] {text}")


def _always(console: Console, text: str) -> None:
    """Shown even when the progress output is quiet."""
    (Console(stderr=True) if console.quiet else console).print(text, soft_wrap=True)
