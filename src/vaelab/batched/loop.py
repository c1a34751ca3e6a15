"""The batched training loop: trainer.py's loop for M stacked models at once.

Per model it keeps what training alone would use: its own batch order (a CPU generator
seeded with its seed) and binarisation draws (seed + 1), its own KL schedule, its own
history, checkpoints and resume.safetensors, written by the single-model code from an
ordinary VAE that the stacked weights are copied into after each epoch. Shared: one
forward/backward of all M models (batched matmuls), one fused Adam over the stacked
parameters (element-wise, hence identical to M separate Adams with the same settings)
and the global generator that the reparameterisation noise z = μ + σ·ε is drawn from:
ε is one [M, B, Z] draw, so model m's noise differs from what training it alone draws,
and a batched VAE is not bit-identical to its run alone, only statistically equivalent
(tests/test_batched.py). The plain AE draws no noise and matches training alone to float
rounding.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.progress import TextColumn

from vaelab.batched.stacked import PerModelWeight, StackedVAE, unstack
from vaelab.config import Config
from vaelab.data import PreparedData, binarize_batch
from vaelab.errors import VaelabError
from vaelab.evaluate import EVAL_SEED, evaluate_split, headline, split_numbers
from vaelab.model import VAE
from vaelab.objectives import Objective
from vaelab.progress import new_progress
from vaelab.resume import save_resume
from vaelab.trainer import TrainState, make_optimizer, save_epoch


def train_stacked(models: list[VAE], objectives: list[Objective], data: PreparedData,
                  configs: list[Config], run_paths: list[Path], *, progress: bool,
                  console: Console) -> list[list[dict[str, float]]]:
    """Train ``models`` (built as api.train builds them) together for the batch's
    epochs; write each one's history and checkpoints into its run path; return the
    histories."""
    train_cfg = configs[0].train  # equal in a batch except the seed
    count = len(models)
    device = next(models[0].parameters()).device
    stacked = StackedVAE(models)
    optimizer = make_optimizer(stacked, configs[0])
    objective = PerModelWeight(objectives, device)
    # Ordinary Adams, one per model, only to hold the unstacked moments when
    # resume.safetensors is written in the single-model format (so --resume of one run
    # of the batch continues it alone with vaelab.train).
    single_optimizers = [make_optimizer(model, config)
                         for model, config in zip(models, configs, strict=True)]
    order_generators = [torch.Generator().manual_seed(c.train.seed) for c in configs]
    pixel_generators = [torch.Generator(device=device).manual_seed(c.train.seed + 1)
                        for c in configs]
    # The batch's noise ε continues the global generator from where building the models
    # (each after torch.manual_seed of its seed) left it: a batch of one model draws
    # exactly the noise that training it alone draws.
    states = [TrainState() for _ in models]
    histories: list[list[dict[str, float]]] = [[] for _ in models]
    dynamic = data.binarize == "dynamic"
    val = data.eval_split("val")
    check_every = 1 if device.type == "cpu" else 25  # a read forces a CUDA sync

    params = list(stacked.parameters())
    train_x = data.train.x  # [N, D]
    n, dim = train_x.shape
    batch_size = train_cfg.batch_size
    steps_per_epoch = math.ceil(n / batch_size)
    step = 0
    bar = new_progress(enabled=progress, console=console,
                       extra=(TextColumn("loss {task.fields[loss]:.3f}"),))
    with bar:
        task = bar.add_task(f"train ×{count}", total=steps_per_epoch * train_cfg.epochs,
                            loss=math.nan)
        for epoch in range(1, train_cfg.epochs + 1):
            sums = torch.zeros(count, 3, device=device)  # per model: Σ loss, Σ recon, Σ kl
            started = time.perf_counter()
            orders = torch.stack([torch.randperm(n, generator=generator)
                                  for generator in order_generators]).to(device)  # [M, N]
            for batch_index in range(steps_per_epoch):
                index = orders[:, batch_index * batch_size:(batch_index + 1) * batch_size]
                x = train_x.index_select(0, index.reshape(-1)).view(count, -1, dim)  # [M, B, D]
                if dynamic:
                    x = torch.stack([binarize_batch(x[m], generator)
                                     for m, generator in enumerate(pixel_generators)])
                out = objective(stacked, x, step)  # recon, kl: [M, B]
                for p in params:
                    p.grad = None
                # The objective averages over all M·B images; ×M makes it the sum of the
                # per-model losses, so each model gets exactly its own gradient.
                (out.loss * count).backward()
                norms = _per_model_grad_norm(params, count, train_cfg.grad_clip)  # [M]
                with torch.no_grad():
                    weight = out.kl_weight  # [M, 1] tensor, or the AE's float 0
                    losses = (out.recon + weight * out.kl).sum(-1)  # [M], Σ over the batch
                    sums += torch.stack([losses, out.recon.sum(-1), out.kl.sum(-1)], dim=1)
                    finite = torch.isfinite(losses + norms)
                # On CPU checked before the update, like trainer.py, so no model's Adam
                # state takes a non-finite step.
                if (step + 1) % check_every == 0 or batch_index == steps_per_epoch - 1:
                    if not bool(finite.all()) or not bool(torch.isfinite(sums).all()):
                        _stop_non_finite(run_paths, sums, finite, epoch, batch_index, step,
                                         states[0].epoch)
                optimizer.step()
                step += 1
                if step % 10 == 0 or batch_index == steps_per_epoch - 1:
                    seen = min(n, (batch_index + 1) * batch_size)
                    bar.update(task, completed=step, loss=float(sums[:, 0].mean()) / seen)
            # Each model's share of the batched epoch: what its epoch cost.
            epoch_seconds = (time.perf_counter() - started) / count
            weights = (weight.view(count).tolist() if torch.is_tensor(weight)
                       else [float(weight)] * count)
            totals = (sums / n).tolist()
            for m, model in enumerate(models):
                stacked.copy_to(model, m)
                states[m].epoch, states[m].step = epoch, step
                row = _history_row(epoch, step, totals[m], weights[m],
                                   objectives[m].is_variational)
                if val is not None:
                    val_stats = evaluate_split(model, objectives[m], val,
                                               train_cfg.eval_batch_size, seed=EVAL_SEED,
                                               step=step)
                    row.update({f"val_{key}": value for key, value in val_stats.items()})
                row["epoch_seconds"] = epoch_seconds
                histories[m].append(row)
                save_epoch(model, configs[m], states[m], run_paths[m], histories[m], row)
                _save_resume(stacked, optimizer, m, model, single_optimizers[m],
                             run_paths[m], order_generators[m], pixel_generators[m],
                             states[m])
            shown = [headline(history[-1]) for history in histories]
            values = [value for _, value in shown]
            bar.update(task, description=f"epoch {epoch}/{train_cfg.epochs} {shown[0][0]} "
                       f"{min(values):.2f}…{max(values):.2f}")
    return histories


def _history_row(epoch: int, step: int, totals: list[float], kl_weight: float,
                 variational: bool) -> dict[str, float]:
    """trainer.py's row for one model, in its column order."""
    numbers = split_numbers(*totals, variational=variational)
    return {"epoch": epoch, "step": step,
            **{f"train_{key}": value for key, value in numbers.items()},
            "kl_weight": kl_weight, "skipped_steps": 0}


def _per_model_grad_norm(params: list[torch.Tensor], count: int, clip: float | None
                         ) -> torch.Tensor:
    """Each model's total gradient norm [M] over all its parameters; with --grad-clip
    its gradients are scaled by min(1, clip / (norm + 1e-6)), the rule of
    torch.nn.utils.clip_grad_norm_, per model."""
    per_tensor = torch.stack([p.grad.reshape(count, -1).norm(dim=1) for p in params])  # [P, M]
    norms = per_tensor.norm(dim=0)
    if clip is not None:
        scale = (clip / (norms + 1e-6)).clamp(max=1.0)
        for p in params:
            p.grad.mul_(scale.view(count, *[1] * (p.dim() - 1)))
    return norms


def _save_resume(stacked: StackedVAE, optimizer: torch.optim.Optimizer, index: int,
                 model: VAE, single: torch.optim.Optimizer, run_path: Path,
                 order: torch.Generator, pixels: torch.Generator, state: TrainState) -> None:
    """resume.safetensors of model ``index`` in the single-model format: its weights (already
    copied into ``model``), its slice of the Adam moments, its generators and counters.
    The global generator saved there is the batch's."""
    own = dict(model.named_parameters())
    for name, parameter in stacked.named_parameters():
        moments = optimizer.state[parameter]
        single.state[own[name]] = {
            "step": moments["step"].clone(),
            "exp_avg": unstack(name, moments["exp_avg"], index),
            "exp_avg_sq": unstack(name, moments["exp_avg_sq"], index),
        }
    save_resume(run_path, model, single, {"order": order, "pixels": pixels},
                dataclasses.asdict(state))


def _stop_non_finite(run_paths: list[Path], sums: torch.Tensor, finite: torch.Tensor,
                     epoch: int, batch_index: int, step: int, saved_epoch: int) -> None:
    bad = [m for m in range(len(run_paths))
           if not bool(finite[m]) or not bool(torch.isfinite(sums[m]).all())]
    names = ", ".join(f"model {m} ({run_paths[m]})" for m in bad)
    kept = (f"the checkpoints of epoch {saved_epoch} of all {len(run_paths)} runs are "
            "intact (continue the others alone with --resume)" if saved_epoch > 0
            else "no checkpoint had been written yet")
    raise VaelabError(
        f"batched training stopped: non-finite loss or gradient in {names} at epoch {epoch}, "
        f"batch {batch_index + 1} (step {step + 1}); {kept}; for that run try a lower "
        "--lr, --grad-clip 10, or check the data")
