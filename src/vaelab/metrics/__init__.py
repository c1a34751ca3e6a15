"""Evaluation metrics, one small module each; see metrics/base.py for the contract.

    from vaelab.metrics import METRICS, evaluate
    results = evaluate(run.model, run.data, ["elbo", "iw-nll"], seed=0, k=5000)
"""

from __future__ import annotations

from typing import Any

from vaelab.data import PreparedData
from vaelab.errors import VaelabError
from vaelab.metrics import (  # noqa: F401  (registers)
    code_nll,
    collapse,
    disentanglement,
    elbo,
    fid,
    iw_nll,
    prdc,
    probe,
)
from vaelab.metrics.base import METRICS, Metric, check_applicable
from vaelab.model import VAE
from vaelab.precision import subnormals_flushed

# The order of tables and --all.
ORDER = ["elbo", "iw-nll", "collapse", "fid", "prdc", "probe", "disentanglement", "code-nll"]


def metric_names() -> list[str]:
    """Registered metric names, in ORDER (metrics added later go last)."""
    names = METRICS.names()
    return sorted(names, key=lambda n: ORDER.index(n) if n in ORDER else len(ORDER))


DEFAULT_METRICS = [name for name in metric_names() if METRICS.get(name).cheap]


def parse_metric_names(text: str | None, *, all_metrics: bool = False) -> list[str]:
    """``--metrics a,b`` (or ``--all``) → registered names in registry order; the cheap
    ones when nothing is given."""
    if all_metrics:
        return metric_names()
    if text is None:
        return list(DEFAULT_METRICS)
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise VaelabError("--metrics is empty; give names such as "
                          f"{','.join(DEFAULT_METRICS)} or use --all")
    for name in names:
        if name not in METRICS:
            raise VaelabError(f"--metrics: {METRICS.unknown_message(name)}")
    return [name for name in metric_names() if name in names]


def evaluate(model: VAE, data: PreparedData, names: list[str], *, seed: int = 0,
             split: str = "test", batch_size: int = 2000, progress: bool = False,
             options: dict[str, dict[str, Any]] | None = None) -> dict[str, dict]:
    """Run each named metric; ``options[name]`` adds metric-specific keyword arguments.
    Returns {metric name: its dict}. A metric the data cannot support (too few images or
    classes, no labels) or that does not apply to the model (VAE.not_measured, code-nll
    without a code prior) is refused before any metric runs."""
    options = options or {}
    for name in names:
        check_applicable(name, data, split, options.get(name), model=model)
    device = next(model.parameters()).device
    with subnormals_flushed(device):  # IS-NLL's exp(log w − max) underflows through them
        return {name: METRICS.get(name).gather(model, data, seed=seed, split=split,
                                               batch_size=batch_size, progress=progress,
                                               **options.get(name, {}))
                for name in names}


def store_results(run_path, results: dict[str, dict], *, split: str = "test",
                  checkpoint: str = "last") -> dict[str, Any]:
    """Merge ``evaluate``'s results into the run's metrics.json under ``split`` (or
    ``<split>_best`` for the best checkpoint): metrics without a key (elbo) add their
    numbers to the section itself, the others go under their key. Every dict is stamped
    with the checkpoint (name, epoch, step, sha256: ``rundir.checkpoint_stamp``) as it is
    now; numbers stored from another checkpoint are dropped, never mixed in (the caller
    holds the run's writer lock, so the checkpoint cannot change meanwhile). Returns the
    section."""
    from vaelab import rundir

    stamp = rundir.checkpoint_stamp(run_path, checkpoint)
    return rundir.store_section(run_path, section_key(split, checkpoint),
                                results_section(results, stamp), stamp)


def section_key(split: str, checkpoint: str) -> str:
    """metrics.json's section of a split scored with a checkpoint: "test", "test_best"."""
    return split if checkpoint == "last" else f"{split}_best"


def results_section(results: dict[str, dict], stamp: Any) -> dict[str, Any]:
    """``evaluate``'s results as one section of metrics.json, each dict stamped."""
    section: dict[str, Any] = {}
    for name, stats in results.items():
        stats["checkpoint"] = stamp
        key = METRICS.get(name).key
        if key is None:
            section.update(stats)
        else:
            section[key] = stats
    return section


__all__ = ["DEFAULT_METRICS", "METRICS", "Metric", "evaluate", "metric_names",
           "parse_metric_names", "store_results"]
