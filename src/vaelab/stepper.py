"""One optimiser step of a trainee, run eagerly or replayed from a CUDA graph.

The step is: batch gather (``index_select`` over the epoch's permutation), dynamic
binarisation, the objective's forward (under bf16 autocast with ``--precision bf16``),
backward, the non-finite flag (nonfinite.py), fused Adam, and the epoch sums. On a GPU the
small model's step is ~40 kernels of a few microseconds each, so Python's launch overhead,
not the GPU, sets the pace (issue 16: 1.0 s/epoch eager vs 0.15 s graphed for the MNIST
784-400-20 MLP). ``GraphedStep`` captures the whole step once in a CUDA graph and then
replays it per batch: the host does three launches a step (copy the batch's indices, set
the KL weight, replay) and reads nothing until the loop reads the epoch sums.

What a graph needs, and how it is given:
- static inputs: the batch indices and the KL weight are copied into buffers the graph
  reads; the epoch sums are one tensor updated in place (``sums.zero_()`` per epoch).
- a fixed shape: full batches replay the graph; an epoch's last, smaller batch runs
  eagerly (one step of ~470 for MNIST at batch 128).
- warm-up: the first ``WARMUP_STEPS`` steps run eagerly on a side stream (the PyTorch
  "whole network capture" recipe), so lazy initialisation (cuBLAS handles, Adam's state)
  happens before capture.
- random numbers: the posterior noise comes from the default CUDA generator, which graphs
  handle; each run's own binarisation generator is registered with the graph
  (``CUDAGraph.register_generator_state``), so every replay draws fresh pixels.
- Adam: fused and ``capturable`` (its step count lives on the device); its learning rate
  and other settings are kernel arguments of the captured update, so a change (a
  ``--lr-schedule`` stage) captures the step again.
- the objective must be a pure tensor function of (model, x, kl_weight): it declares
  ``graph_safe`` (objectives/base.py); a capture error of any other kind falls back too.

Where capture is impossible the loop runs eagerly and says why, once. What holds on CUDA:
a graphed run is not bit-identical to an eager one (the same random streams are consumed
in another order), and resume continues from the saved state with the same statistics;
tests/test_cuda.py checks the graphed ELBO against the eager one within noise.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping

import torch

from vaelab.distributed import Group
from vaelab.nonfinite import NonFiniteGuard
from vaelab.objectives import ObjectiveOutput
from vaelab.precision import arithmetic

WARMUP_STEPS = 3  # eager steps before capture (PyTorch's CUDA graph recipe uses 3)


class EagerStep:
    """The step as plain PyTorch calls (every device)."""

    def __init__(self, trainee, optimizer: torch.optim.Optimizer, guard: NonFiniteGuard,
                 train_x: torch.Tensor, *, dynamic: bool, clip: float | None,
                 precision: str, group: Group | None = None):
        self.trainee = trainee
        self.optimizer = optimizer
        self.guard = guard
        self.train_x = train_x
        self.dynamic = dynamic
        self.clip = clip
        self.precision = precision
        self.group = group  # torchrun: this process's rank (distributed.py), or None
        self.params = [p for group in optimizer.param_groups for p in group["params"]]
        self.count = len(trainee.members)
        self.device = train_x.device
        self.zeros = torch.zeros(trainee.shape, device=self.device)
        # A skipped step adds only a 1 in the last slot (NaN·0 would still be NaN).
        self.skipped_row = torch.tensor([0.0, 0.0, 0.0, 0.0, 1.0], device=self.device)

    def __call__(self, index: torch.Tensor, size: torch.Tensor, kl_weight, batch_index: int,
                 step: int, sums: torch.Tensor, term_sums: dict[str, torch.Tensor]
                 ) -> ObjectiveOutput:
        return self.body(index, size, kl_weight, batch_index, step, sums, term_sums)

    def body(self, index, size, kl_weight, batch_index, step, sums, term_sums,
             in_graph: bool = False) -> ObjectiveOutput:
        """``index`` [M, B] rows of the training set; ``size`` the batch size per model
        (a tensor shaped like the sums' rows); ``sums`` [..., 5] and ``term_sums`` are
        added to in place."""
        trainee, group = self.trainee, self.group
        x = trainee.batch(self.train_x, index, self.dynamic)
        scale = self.count  # a stack's mean loss ×M: the sum of the per-model losses
        if group is not None:  # this rank's rows; its share of the global batch mean
            total = x.shape[0]
            x = group.shard(x)
            scale = group.share(x.shape[0], total)
            size = torch.full_like(size, x.shape[0])
        self.last_batch = x  # the objective's auxiliaries train on the same batch
        with arithmetic(self.device, self.precision, in_graph=in_graph):
            out = trainee.objective(trainee.module, x, step, kl_weight=kl_weight)
        # Drop the old gradients so that backward stores fresh ones instead of adding
        # into zeroed buffers (zero_grad(set_to_none) minus its hook machinery).
        for p in self.params:
            p.grad = None
        # A stack's objective averages over all M·B images: ×M makes it the sum of the
        # per-model losses, so each model gets exactly its own gradient.
        (out.loss * scale if scale != 1 else out.loss).backward()
        if group is not None:
            group.sum_gradients(self.params)
        with torch.no_grad():
            losses = trainee.loss_sums(out, x).float()
            finite = trainee.finite(out.loss, losses, self.params, self.clip)
            finite = self.guard.before_update(finite, losses, self.optimizer, batch_index,
                                              step)
            self.optimizer.step()
            # State the objective keeps beyond gradients (the VQ-VAE's EMA codebook).
            trainee.objective.after_step(trainee.module, x, step)
            taken = torch.stack([losses, out.recon.float().sum(-1), out.kl.float().sum(-1),
                                 size, self.zeros], dim=-1)
            sums += torch.where(finite.unsqueeze(-1), taken, self.skipped_row)
            if out.terms:
                add_terms(term_sums, out.terms, finite, size)
        return detached(out)


class GraphedStep(EagerStep):
    """The step captured once in a CUDA graph and replayed (see the module docstring)."""

    def __init__(self, *args, batch_size: int, say: Callable[[str], None], **kwargs):
        super().__init__(*args, **kwargs)
        self.batch_size = batch_size
        self.say = say
        self.graph: torch.cuda.CUDAGraph | None = None
        self.failed = False
        self.eager_steps = 0
        self.static_index = torch.zeros((self.count, batch_size), dtype=torch.long,
                                        device=self.device)
        self.static_kl: torch.Tensor | None = None
        self.last_kl: float | torch.Tensor | None = None
        self.captured_with: list[tuple] = []  # Adam's settings the graph was captured with
        self.static_out: ObjectiveOutput | None = None
        self.side_stream = torch.cuda.Stream(self.device)

    def __call__(self, index, size, kl_weight, batch_index, step, sums, term_sums):
        full = index.shape[-1] == self.batch_size
        if self.failed or not full:
            return self.body(index, size, kl_weight, batch_index, step, sums, term_sums)
        if self.graph is None and self.eager_steps < WARMUP_STEPS:
            self.eager_steps += 1
            return self._warm_up(index, size, kl_weight, batch_index, step, sums, term_sums)
        self.static_index.copy_(index)
        kl = self._set_kl(kl_weight)
        if self.graph is not None and self._hyperparameters() != self.captured_with:
            # A learning-rate schedule (or any Adam setting) changed: the captured update
            # holds the old values as kernel arguments, so capture again.
            self.graph.reset()
            self.graph = None
        if self.graph is None:
            return self._capture(size, kl, batch_index, step, sums, term_sums)
        self.graph.replay()
        return self.static_out

    def _hyperparameters(self) -> list[tuple]:
        return [(group["lr"], group["eps"], group["betas"], group["weight_decay"])
                for group in self.optimizer.param_groups]

    def _set_kl(self, kl_weight) -> torch.Tensor:
        """The graph's KL weight buffer holds ``kl_weight``: a device copy for a stack's
        [M, 1] tensor, a fill (a kernel argument, no host-to-device copy) for a float,
        nothing when the float has not changed (after warm-up: always)."""
        if self.static_kl is None:
            self.static_kl = torch.as_tensor(kl_weight, dtype=torch.float32,
                                             device=self.device).clone()
        elif torch.is_tensor(kl_weight):
            self.static_kl.copy_(kl_weight)
        elif kl_weight != self.last_kl:
            self.static_kl.fill_(kl_weight)
        self.last_kl = kl_weight
        return self.static_kl

    def _warm_up(self, *args) -> ObjectiveOutput:
        stream = self.side_stream
        stream.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(stream):
            out = self.body(*args)
        torch.cuda.current_stream(self.device).wait_stream(stream)
        return out

    def _capture(self, size, kl, batch_index, step, sums, term_sums) -> ObjectiveOutput:
        graph = torch.cuda.CUDAGraph()
        try:
            for member in self.trainee.members:
                for generator in member.generators.values():
                    if generator.device.type == "cuda":
                        graph.register_generator_state(generator)
            for p in self.params:
                p.grad = None
            with torch.cuda.graph(graph):
                out = self.body(self.static_index, size, kl, batch_index, step, sums,
                                term_sums, in_graph=True)
        except Exception as error:  # noqa: BLE001 — any capture failure means: run eagerly
            self.failed = True
            torch.cuda.synchronize(self.device)
            reason = str(error).strip().splitlines()[0] if str(error).strip() else type(
                error).__name__
            self.say(f"CUDA graph capture failed ({reason}); training eagerly")
            # Nothing ran during the failed capture: take this batch's step eagerly.
            return self.body(self.static_index, size, kl, batch_index, step, sums, term_sums)
        self.graph, self.static_out = graph, out
        self.captured_with = self._hyperparameters()
        graph.replay()  # capturing records the step without running it
        return out


def detached(out: ObjectiveOutput) -> ObjectiveOutput:
    """The step's output without its autograd graph (views of the same memory), so that
    nothing keeps the graph's nodes alive between steps (a kept node would tie the next
    backward to the stream that created it)."""
    terms = None if out.terms is None else {k: v.detach() for k, v in out.terms.items()}
    weight = out.kl_weight.detach() if torch.is_tensor(out.kl_weight) else out.kl_weight
    return dataclasses.replace(out, loss=out.loss.detach(), recon=out.recon.detach(),
                               kl=out.kl.detach(), kl_weight=weight, terms=terms)


def graph_obstacle(trainee, device: torch.device, setting: str,
                   group: Group | None = None) -> str | None:
    """Why this trainee's step cannot be captured in a CUDA graph, or None."""
    if setting == "off":
        return "--cuda-graphs off"
    if device.type != "cuda":
        return "not on CUDA"
    if group is not None:
        return "training on several processes (torchrun)"
    objective = trainee.objective
    if objective.auxiliaries:
        return f"--objective {objective.cfg.name} trains networks of its own"
    if not objective.graph_safe:
        return (f"--objective {objective.cfg.name} is not declared graph-safe (its step may "
                "read values back to the host)")
    if not hasattr(torch.cuda.CUDAGraph, "register_generator_state"):
        return f"torch {torch.__version__} cannot register a run's own generator with a graph"
    return None


def make_step(trainee, optimizer, guard, train_x, *, dynamic: bool, clip: float | None,
              precision: str, batch_size: int, graphs: str, say: Callable[[str], None],
              group: Group | None = None) -> EagerStep:
    """The step for this trainee: graphed where it can be (``graphs`` is the config's
    ``cuda_graphs``: auto or off), else eager; a graph that cannot be had on CUDA is said
    once."""
    common = dict(dynamic=dynamic, clip=clip, precision=precision, group=group)
    obstacle = graph_obstacle(trainee, train_x.device, graphs, group)
    if obstacle is None:
        return GraphedStep(trainee, optimizer, guard, train_x, batch_size=batch_size,
                           say=say, **common)
    if train_x.device.type == "cuda" and graphs != "off":
        say(f"training without a CUDA graph: {obstacle}")
    return EagerStep(trainee, optimizer, guard, train_x, **common)


def add_terms(term_sums: dict[str, torch.Tensor], terms: Mapping[str, torch.Tensor],
              finite: torch.Tensor, size: torch.Tensor) -> None:
    """Add one step's named terms to the epoch sums, per model (``finite``'s shape): a
    per-image term [..., B] summed over its batch, a per-batch value weighted by the batch
    size ``size``, so that dividing by the images gives a mean per image. A skipped step
    adds 0. In place once a term exists (a CUDA graph adds into the same tensors)."""
    for name, value in terms.items():
        value = value.detach().float()
        total = value.sum(-1) if value.dim() > finite.dim() else value * size
        total = torch.where(finite, total, torch.zeros_like(total))
        if name in term_sums:
            term_sums[name] += total
        else:
            term_sums[name] = total.clone()
