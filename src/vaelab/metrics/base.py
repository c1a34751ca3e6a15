"""What every metric shares: the registry, the scored split, the wording of the
binarisation, posterior statistics of a split and a progress bar.

A metric is a public gatherer ``gather(model, data, *, seed, **opts) -> dict`` over a
private pure core (a function of tensors, tested on synthetic data with known answers),
after disentanglement_lib. Every dict a gatherer returns names its estimator, split,
binarisation and seed, so a number never travels without what it means.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from vaelab.data import PreparedData, TensorSplit
from vaelab.data.prepare import binarization_note as mode_note
from vaelab.errors import VaelabError
from vaelab.metrics.shown import Breakdown, Number
from vaelab.model import VAE
from vaelab.posterior import diagonal_gaussian
from vaelab.progress import progress_bar  # noqa: F401  (the metrics' progress bars)
from vaelab.registry import Registry

SPLITS = ("test", "val")
# How Metric.unmet's reasons begin when more data is the fix (too few images or classes).
TOO_LITTLE_DATA = "needs at least"


@dataclass(frozen=True)
class Metric:
    """A registered metric. ``key`` is where its dict goes inside the split's section of
    metrics.json (None: merged flat into the section, as the ELBO numbers are).
    ``numbers`` and ``breakdowns`` say how every table shows it (metrics/shown.py);
    ``caveat(stats)`` is a warning to print under its numbers ("" when none)."""

    name: str
    key: str | None
    gather: Callable[..., dict]
    cheap: bool  # run by default
    needs_labels: bool
    help: str
    title: str = ""
    numbers: tuple[Number, ...] = ()
    breakdowns: tuple[Breakdown, ...] = ()
    caveat: Callable[[dict], str] | None = None
    # What the metric needs of the data (the one place degenerate data is caught, before
    # anything is computed): images in the scored split, distinct classes in the training
    # split (a classifier or probe cannot be fitted on one class); a function of the
    # metric's options when they decide it (fid on Inception features needs no labels).
    min_images: int = 1
    min_classes: int | Callable[[dict[str, Any]], int] = 0
    needs_factors: bool = False  # ground-truth generative factors (dsprites, shapes)
    # Why a model cannot be scored by this metric (one phrase), or None: what the metric
    # needs of the model itself (code-nll: a learned code prior).
    model_unfit: Callable[[VAE], str | None] | None = None

    def unmet(self, data: PreparedData, split: str,
              options: dict[str, Any] | None = None) -> str | None:
        """Why this metric cannot run on ``split`` of ``data`` with ``options`` (its
        gatherer's keyword arguments) (one phrase), or None."""
        scored = data.eval_split(split) if split in SPLITS else None
        count = 0 if scored is None else len(scored)
        if count < self.min_images:
            return (f"{TOO_LITTLE_DATA} {self.min_images} {split} image"
                    f"{'s' if self.min_images > 1 else ''}, the run has {count}")
        if self.needs_labels and scored.y is None:
            return f"needs class labels, the {split} split has none"
        if self.needs_factors and (scored.factors is None or data.train.factors is None):
            return (f"needs ground-truth factors, which {data.dataset} does not have (train "
                    "on a factor data set: --dataset shapes or dsprites)")
        min_classes = (self.min_classes(options or {}) if callable(self.min_classes)
                       else self.min_classes)
        if min_classes:
            train_y = data.train.y
            if train_y is None:
                return "needs class labels, the training split has none"
            classes = len(torch.unique(train_y))
            if classes < min_classes:
                return (f"{TOO_LITTLE_DATA} {min_classes} classes in the training split, "
                        f"it has {classes}")
        return None

    def unfit(self, model: VAE) -> str | None:
        """Why this metric does not apply to ``model`` (one phrase), or None: the family's
        own list (VAE.not_measured), then what the metric needs of any model."""
        reason = model.not_measured.get(self.name)
        if reason is None and self.model_unfit is not None:
            reason = self.model_unfit(model)
        return reason

    def inapplicable(self, data: PreparedData, split: str, options: dict[str, Any] | None,
                     model: VAE | None) -> str | None:
        """Why this metric cannot score ``split`` of ``data`` with ``model`` (``unmet``,
        then ``unfit``; the model is not checked when None), or None."""
        reason = self.unmet(data, split, options)
        if reason is None and model is not None:
            reason = self.unfit(model)
        return reason


METRICS: Registry[Metric] = Registry("metric")


def register(name: str, *, key: str | None, cheap: bool, needs_labels: bool = False,
             help: str, title: str = "", numbers: tuple[Number, ...] = (),
             breakdowns: tuple[Breakdown, ...] = (), caveat: Callable[[dict], str] | None = None,
             min_images: int = 1,
             min_classes: int | Callable[[dict[str, Any]], int] = 0,
             needs_factors: bool = False,
             model_unfit: Callable[[VAE], str | None] | None = None
             ) -> Callable[[Callable[..., dict]], Callable[..., dict]]:
    for number in numbers:  # a declaration that points elsewhere is a bug: fail at import
        if key is not None and number.path[:1] != (key,):
            raise ValueError(f"metric {name}: number {number.label!r} has path "
                             f"{number.path} outside its key {key!r}")

    def add(gather: Callable[..., dict]) -> Callable[..., dict]:
        METRICS.register(name)(Metric(name=name, key=key, gather=gather, cheap=cheap,
                                      needs_labels=needs_labels, help=help,
                                      title=title or name, numbers=tuple(numbers),
                                      breakdowns=tuple(breakdowns), caveat=caveat,
                                      min_images=min_images, min_classes=min_classes,
                                      needs_factors=needs_factors,
                                      model_unfit=model_unfit))
        return gather

    return add


def scored_split(data: PreparedData, split: str) -> TensorSplit:
    """The split as every metric scores it: with dynamic binarisation the one fixed draw
    of the binarisation stream (the same for every run and every metric seed), else the
    split itself."""
    if split not in SPLITS:
        raise VaelabError(f"--split {split!r} is unknown; choose one of: {', '.join(SPLITS)}")
    scored = data.eval_split(split)
    if scored is None or len(scored) == 0:
        raise VaelabError(f"this run has no {split} split (its val_fraction is 0); use "
                          "--split test")
    return scored


def binarization_note(data: PreparedData) -> str:
    return mode_note(data.binarize)


def provenance(data: PreparedData, split: TensorSplit, seed: int) -> dict:
    """The fields every metric dict starts with."""
    return {"split": split.name, "images": len(split), "binarization": binarization_note(data),
            "seed": seed}


def require_labels(split: TensorSplit, metric: str) -> torch.Tensor:
    if split.y is None:
        raise VaelabError(f"metric {metric} needs class labels but the {split.name} split of "
                          "this dataset has none; leave it out of --metrics")
    return split.y


# float32 buffers of the decoded width alive at once while log p(x|z) of one decoded row
# is computed: the decoder's output, the location (sigmoid), x − μ, its scaled square and
# the sum's input, with one to spare. Counted generously: a chunk may be cut too small,
# never too large.
DECODED_TEMPORARIES = 6


@torch.no_grad()
def decoded_row_bytes(model: VAE) -> int:
    """Peak bytes one decoded row (one latent sample of one image) costs an evaluation:
    ``DECODED_TEMPORARIES`` float32 buffers of the decoder's output width plus two of its
    widest activation (a layer's input and output), measured on one latent row with
    forward hooks, so that any network (MLP, conv) is counted as it is."""
    widths: list[int] = []

    def record(_module, _inputs, output):
        if isinstance(output, torch.Tensor):
            widths.append(output.numel())

    hooks = [module.register_forward_hook(record) for module in model.decoder.modules()]
    try:
        device = next(model.decoder.parameters()).device
        output = model.decoder_params(torch.zeros(1, model.latent_dim, device=device))
    finally:
        for hook in hooks:
            hook.remove()
    return 4 * (DECODED_TEMPORARIES * output.numel() + 2 * max(widths, default=0))


@torch.no_grad()
def posterior_moments(model: VAE, x: torch.Tensor, batch_size: int
                      ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Posterior means (point codes) [N, Z] of flattened images x [N, D], and their
    log-variances [N, Z] when q is a diagonal Gaussian, else None (vaelab.posterior's
    rule: a full covariance or a flow has no per-dimension variances). Per-image
    Z-vectors, written into buffers allocated at the first batch (vaelab/memory.py)."""
    n = x.shape[0]
    means = logvars = None
    diagonal_everywhere = True
    for start in range(0, n, batch_size):
        q = model.posterior(x[start:start + batch_size])
        diagonal = diagonal_gaussian(q)
        if means is None:
            means = q.mean.new_empty((n, *q.mean.shape[1:]))
            if diagonal is not None:
                logvars = diagonal.logvar.new_empty((n, *diagonal.logvar.shape[1:]))
        means[start:start + batch_size] = q.mean
        diagonal_everywhere = diagonal_everywhere and diagonal is not None
        if diagonal_everywhere and logvars is not None:
            logvars[start:start + batch_size] = diagonal.logvar
    return means, logvars if diagonal_everywhere else None


def deterministic_encoder(model: VAE) -> str | None:
    """Why the model has no q(z|x) to take a KL or I(x; z) of, or None: an objective
    that trains a deterministic encoder (ae, rae-*, wae-mmd's default) uses only the
    posterior mean, and the variance head it leaves untrained means nothing. Its point
    codes still have active units."""
    from vaelab.objectives import is_variational

    objective = model.config.objective
    if is_variational(objective):
        return None
    return (f"none: objective {objective.name} trains a deterministic encoder (z = "
            f"{model.point_code}), so there is no q(z|x)")


def check_applicable(name: str, data: PreparedData, split: str,
                     options: dict[str, Any] | None = None, model: VAE | None = None
                     ) -> None:
    """Refuse, in one line, a metric the data cannot support with ``options``, or one that
    does not apply to ``model`` (gatherers call this first, so the Python API refuses as
    the command line does)."""
    reason = METRICS.get(name).inapplicable(data, split, options, model)
    if reason is not None:
        raise VaelabError(f"metric {name} {reason}; leave it out of --metrics")


def check_positive(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise VaelabError(f"{name} must be an integer >= 1, got {value!r}")
