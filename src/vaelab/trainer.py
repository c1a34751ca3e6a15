"""The training loop: explicit, one screen long, over a dataset that already lives on the
device as one tensor (DESIGN rule 6). A batch is an index slice of a seeded random
permutation; there is no DataLoader and no per-sample Python in the hot path.

After every epoch: validation (true ELBO), a history row, an atomic checkpoint of the
weights (model.safetensors), best.safetensors when validation improved, and
resume.safetensors (optimiser and RNG states) so that --resume continues bit for bit.

Non-finite steps (--nan-policy): every step checks the loss and the gradient norm in one
flag that stays on the device. ``stop`` ends training with an error naming the step (on
CPU before the bad update; on CUDA at the next progress read, every 25 steps, so that the
hot path has no host synchronisation); ``skip`` drops that optimiser step, also without a
synchronisation (fused Adam's ``found_inf``), counts it in history's ``skipped_steps`` and
still stops once more than MAX_SKIPPED_SHARE of an epoch's steps were dropped. The check
costs ~50-70 µs a step on one CPU thread: 8-10% of the tiny digits MLP's 0.7 ms step,
within the noise (<1%) of the MNIST 784-400-20 MLP's 4-7 ms step.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from rich.console import Console
from rich.progress import TextColumn

from vaelab import rundir
from vaelab.config import Config
from vaelab.data import PreparedData, binarize_batch
from vaelab.errors import VaelabError
from vaelab.evaluate import EVAL_SEED, evaluate_split, headline, split_numbers
from vaelab.model import VAE
from vaelab.objectives import Objective
from vaelab.progress import new_progress
from vaelab.resume import load_resume, save_resume
from vaelab.tracking import ImageProbe, Tracker

# --nan-policy skip tolerates this share of an epoch's steps; more means the model has
# diverged and skipping would only hide it.
MAX_SKIPPED_SHARE = 0.1


@dataclass
class TrainState:
    epoch: int = 0  # last complete epoch
    step: int = 0  # optimiser steps taken
    best_val_elbo: float = -math.inf


def make_optimizer(model: VAE, config: Config) -> torch.optim.Optimizer:
    """Adam (Kingma & Ba 2015). The fused implementation updates all parameters in one
    kernel per step, which matters for small models where per-tensor overhead dominates."""
    train = config.train
    return torch.optim.Adam(model.parameters(), lr=train.lr, weight_decay=train.weight_decay,
                            fused=True)


def checkpoint_metadata(model: VAE, config: Config, state: TrainState) -> dict:
    from vaelab import __version__

    return {"config": config.to_dict(), "image_shape": list(model.image_shape),
            "epoch": state.epoch, "step": state.step, "vaelab_version": __version__}


def train_model(model: VAE, objective: Objective, data: PreparedData, config: Config,
                run_path: Path, *, progress: bool = True, console: Console | None = None,
                resume: bool = False, tracker: Tracker | None = None) -> list[dict[str, float]]:
    """Train ``model`` in place up to ``config.train.epochs`` epochs; write history and
    checkpoints into ``run_path``; return the history rows. With ``resume``, continue
    from the run's resume.safetensors (weights, optimiser, RNG states, counters).
    ``tracker`` receives each history row (and images) after the epoch is saved."""
    train_cfg = config.train
    device = next(model.parameters()).device
    optimizer = make_optimizer(model, config)
    console = console or Console(stderr=True)
    tracker = tracker or Tracker()
    state = TrainState()
    history: list[dict[str, float]] = []

    # Separate seeded generators: batch order (CPU) and binarisation draws (device), so
    # neither depends on how many random numbers the model used.
    order_generator = torch.Generator().manual_seed(train_cfg.seed)
    pixel_generator = torch.Generator(device=device).manual_seed(train_cfg.seed + 1)
    generators = {"order": order_generator, "pixels": pixel_generator}
    if resume:
        counters = load_resume(run_path, model, optimizer, generators)
        state = TrainState(**counters)
        # Rows after the resumed epoch were written by the interrupted process; they are
        # recomputed, identically, from the restored state.
        history = rundir.read_history(run_path / rundir.HISTORY_FILE)[:state.epoch]
    dynamic = data.binarize == "dynamic"
    val = data.eval_split("val")
    # The non-finite flag is read every step on CPU (free) but only at progress updates
    # on CUDA, where reading a value forces a device synchronisation.
    check_every = 1 if device.type == "cpu" else 25
    skip = train_cfg.nan_policy == "skip"

    params = [p for group in optimizer.param_groups for p in group["params"]]
    train_x = data.train.x
    n = train_x.shape[0]
    steps_per_epoch = math.ceil(n / train_cfg.batch_size)
    # Per-step rows added to the epoch sums: a taken step adds its loss·B, recon, kl and
    # batch size B; a skipped one only a 1 in the last slot (NaN·0 would still be NaN).
    sizes = torch.full((steps_per_epoch,), float(train_cfg.batch_size), device=device)
    sizes[-1] = n - (steps_per_epoch - 1) * train_cfg.batch_size
    zero = torch.zeros((), device=device)
    skipped_row = torch.tensor([0.0, 0.0, 0.0, 0.0, 1.0], device=device)
    probe = ImageProbe(data) if tracker.wants_images else None
    bar = new_progress(enabled=progress, console=console,
                       extra=(TextColumn("loss {task.fields[loss]:.3f}"),))
    with bar:
        task = bar.add_task("train", total=steps_per_epoch * train_cfg.epochs, loss=math.nan,
                            completed=state.step)
        for epoch in range(state.epoch + 1, train_cfg.epochs + 1):
            model.train()
            sums = torch.zeros(5, device=device)  # Σ loss·B, Σ recon, Σ kl, images, skipped
            checked = -1  # batch index of the last read of sums
            started = time.perf_counter()
            order = torch.randperm(n, generator=order_generator).to(device)
            for batch_index in range(steps_per_epoch):
                index = order[batch_index * train_cfg.batch_size:
                              (batch_index + 1) * train_cfg.batch_size]
                # index_select copies whole rows; x[index] takes the general advanced-
                # indexing path, about 2x slower for a [128, 784] batch on CPU.
                x = train_x.index_select(0, index)
                if dynamic:
                    x = binarize_batch(x, pixel_generator)
                out = objective(model, x, state.step)
                # Drop the old gradients so that backward stores fresh ones instead of
                # adding into zeroed buffers. The plain loop is what zero_grad(set_to_none)
                # does, minus its profiler and hook machinery: ~60 µs a step here (1.5%).
                for p in params:
                    p.grad = None
                out.loss.backward()
                # One flag, kept on the device: are the loss and every gradient finite?
                finite = _all_finite(out.loss.detach(), params, train_cfg.grad_clip)
                if skip:
                    # Fused Adam leaves parameters, moments and its step count untouched
                    # when found_inf is 1, reading it on the device: AMP's GradScaler
                    # protocol, so skipping costs no host synchronisation either.
                    optimizer.found_inf = finite.logical_not().float()
                elif check_every == 1 and not finite:
                    _stop_non_finite(run_path, epoch, state, batches=(batch_index,) * 2,
                                     steps=(state.step + 1,) * 2,
                                     loss_finite=bool(torch.isfinite(out.loss)))
                optimizer.step()
                state.step += 1
                with torch.no_grad():
                    taken = torch.stack([out.loss.detach() * x.shape[0],
                                         out.recon.detach().sum(), out.kl.detach().sum(),
                                         sizes[batch_index], zero])
                    sums += torch.where(finite, taken, skipped_row)
                if state.step % check_every == 0 or batch_index == steps_per_epoch - 1:
                    loss_sum, _, _, images, skipped = sums.tolist()
                    if skipped and not skip:  # CUDA: at a step since the last read
                        _stop_non_finite(run_path, epoch, state,
                                         batches=(checked + 1, batch_index),
                                         steps=(state.step - batch_index + checked + 1,
                                                state.step))
                    if skipped > MAX_SKIPPED_SHARE * steps_per_epoch:
                        _stop_diverged(run_path, epoch, int(skipped), steps_per_epoch, state)
                    checked = batch_index
                    if state.step % 10 == 0 or batch_index == steps_per_epoch - 1:
                        bar.update(task, completed=state.step, loss=loss_sum / max(images, 1))
            epoch_seconds = time.perf_counter() - started
            state.epoch = epoch

            row: dict[str, float] = {"epoch": epoch, "step": state.step}
            # Means over the images of the steps taken (all n unless some were skipped).
            *totals, images, skipped = sums.tolist()
            numbers = split_numbers(*(v / images for v in totals),
                                    variational=objective.is_variational)
            row.update({f"train_{key}": value for key, value in numbers.items()})
            row.update(kl_weight=out.kl_weight, skipped_steps=int(skipped))
            if val is not None:
                val_stats = evaluate_split(model, objective, val, train_cfg.eval_batch_size,
                                           seed=EVAL_SEED, step=state.step)
                row.update({f"val_{key}": value for key, value in val_stats.items()})
            row["epoch_seconds"] = epoch_seconds
            history.append(row)
            save_epoch(model, config, state, run_path, history, row)
            save_resume(run_path, model, optimizer, generators, dataclasses.asdict(state))
            if skipped:
                _warn(console, f"epoch {epoch}: skipped {int(skipped)} of {steps_per_epoch} "
                      "optimiser steps with a non-finite loss or gradient (--nan-policy skip)")
            # After the epoch is saved: a failing tracker loses nothing (--resume goes on).
            tracker.log_epoch(row)
            if probe is not None:
                tracker.log_images(epoch, probe(model))
            name, shown = headline(row)
            bar.update(task, description=f"epoch {epoch}/{train_cfg.epochs} "
                       f"{name} {shown:.2f}")
    return history


def save_epoch(model: VAE, config: Config, state: TrainState, run_path: Path,
                history: list[dict[str, float]], row: dict[str, float]) -> None:
    metadata = checkpoint_metadata(model, config, state)
    weights = model.state_dict()
    rundir.save_checkpoint(run_path / rundir.MODEL_FILE, weights, metadata)
    # "Best" is by validation ELBO (an autoencoder's: by reconstruction error); without a
    # validation split by the training numbers.
    name, value = headline(row)
    score = value if name == "elbo" else -value
    if score > state.best_val_elbo or not math.isfinite(state.best_val_elbo):
        state.best_val_elbo = score
        rundir.save_checkpoint(run_path / rundir.BEST_FILE, weights, metadata)
    rundir.write_csv(run_path / rundir.HISTORY_FILE, history)


def _all_finite(loss: torch.Tensor, params: list[torch.Tensor], clip: float | None
                ) -> torch.Tensor:
    """A 0-dim bool: no NaN or ±inf in the loss or any gradient, from the norms of all of
    them (one multi-tensor op; a gradient so large that its square overflows counts as
    non-finite too, as Adam's second moment would overflow alike). With --grad-clip the
    gradients are clipped here, reusing the norm that clipping computes."""
    if clip is not None:
        norm = torch.nn.utils.clip_grad_norm_(params, clip)
        return torch.isfinite(loss + norm)
    grads = [p.grad for p in params if p.grad is not None]
    # _foreach_norm skips get_total_norm's per-call grouping: 26 instead of 40 µs a step
    # for the digits MLP, where the whole step takes ~700 µs.
    return torch.stack(torch._foreach_norm([loss, *grads])).isfinite().all()


def _warn(console: Console, text: str) -> None:
    """A warning is shown even when the progress output is quiet."""
    (Console(stderr=True) if console.quiet else console).print(f"[yellow]warning:[/] {text}",
                                                               soft_wrap=True)


def _kept(run_path: Path, state: TrainState) -> str:
    return (f"the checkpoint of epoch {state.epoch} in {run_path} is intact"
            if state.epoch > 0 else "no checkpoint had been written yet")


def _stop_non_finite(run_path: Path, epoch: int, state: TrainState, *,
                     batches: tuple[int, int], steps: tuple[int, int],
                     loss_finite: bool | None = None) -> None:
    """``batches`` (0-based, in the epoch) and ``steps`` (1-based, in the run): where the
    bad step can be. One step on CPU, checked before it is taken; a range on CUDA, where
    the flag is read every 25 steps; then it is unknown whether the loss was finite."""
    what = {True: "gradient", False: "loss", None: "loss or gradient"}[loss_finite]
    if batches[0] == batches[1]:
        where = f"batch {batches[0] + 1} (step {steps[0]})"
    else:
        where = (f"one of batches {batches[0] + 1}–{batches[1] + 1} (steps "
                 f"{steps[0]}–{steps[1]})")
    raise VaelabError(
        f"training stopped: non-finite {what} at epoch {epoch}, {where}; "
        f"{_kept(run_path, state)}; try a lower --lr, --grad-clip 10, --nan-policy skip, or "
        "check the data")


def _stop_diverged(run_path: Path, epoch: int, skipped: int, steps: int,
                   state: TrainState) -> None:
    raise VaelabError(
        f"training stopped: {skipped} steps of epoch {epoch} (of {steps}) had a non-finite "
        f"loss or gradient, more than the {MAX_SKIPPED_SHARE:.0%} that --nan-policy skip "
        f"tolerates (the model has diverged); {_kept(run_path, state)}; try a lower --lr, "
        "--grad-clip 10, or check the data")
