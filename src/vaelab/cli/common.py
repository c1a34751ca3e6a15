"""Small helpers shared by the commands."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from vaelab.errors import VaelabError


def png_path(out: str) -> Path:
    """Check an --out path for a PNG before any work is done."""
    path = Path(out)
    if path.suffix.lower() != ".png":
        raise VaelabError(f"--out {out} must end in .png")
    if not path.parent.exists():
        raise VaelabError(f"--out {out}: folder {path.parent} does not exist; create it first")
    return path


def _fmt(value: Any, spec: str = ".2f") -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and value != value:  # NaN
        return "–"
    return format(value, spec)


def print_metrics(run_path: Path, metrics: dict[str, Any], console: Console | None = None
                  ) -> None:
    """The ELBO table (one row per evaluated split; the estimator and binarisation go in
    the caption so the table stays readable in an 80-column terminal), then one table per
    further metric found in the sections: IS-NLL, per-class ELBO, collapse diagnostics,
    FID, probe."""
    console = console or Console()
    sections = {key: stats for key, stats in metrics.items() if isinstance(stats, dict)}
    table = Table(title=f"{run_path}")
    for column in ("split", "images", "ELBO", "recon", "KL", "bits/dim"):
        table.add_column(column, justify="left" if column == "split" else "right")
    notes = []
    for key, stats in sections.items():
        if "recon" not in stats:  # an autoencoder's section has recon only
            continue
        table.add_row(key, f"{stats['images']:,}", _fmt(stats.get("elbo")),
                      _fmt(stats["recon"]), _fmt(stats.get("kl")),
                      _fmt(stats.get("bits_per_dim"), ".4f"))
        note = f"{key}: {stats['estimator']}; binarization {stats['binarization']}"
        if stats.get("bits_per_dim_units"):
            note += f"; bits/dim: {stats['bits_per_dim_units']}"
        if not stats.get("likelihood_is_density", True):
            note += "; the likelihood is a loss, not a density: ELBO is not a bound"
        notes.append(note)
    if notes:
        table.caption = "\n".join(["nats per image (ELBO: higher is better)", *notes])
        console.print(table)
    for key, stats in sections.items():
        if "iw_nll" in stats:
            _print_iw_nll(console, key, stats["iw_nll"], stats.get("elbo"))
        if "per_class" in stats:
            _print_per_class(console, key, stats["per_class"])
        if "collapse" in stats:
            _print_collapse(console, key, stats["collapse"])
        if "fid" in stats:
            _print_fid(console, key, stats["fid"])
        if "probe" in stats:
            _print_probe(console, key, stats["probe"])


def _caption(stats: dict, *extra: str) -> str:
    lines = [*extra, stats["estimator"], f"binarization {stats['binarization']}; seed "
             f"{stats['seed']}"]
    return "\n".join(escape(line) for line in lines)


def _print_iw_nll(console: Console, key: str, stats: dict, elbo: float | None) -> None:
    table = Table(title=f"importance-sampled NLL ({key})")
    for column in ("images", "k", "NLL", "± s.e.", "bits/dim", "−ELBO_k", "−ELBO", "seconds"):
        table.add_column(column, justify="right")
    table.add_row(f"{stats['images']:,}", f"{stats['k']:,}", f"{stats['nll']:.2f}",
                  _fmt(stats.get("nll_stderr")), _fmt(stats.get("bits_per_dim"), ".4f"),
                  f"{-stats['elbo_k']:.2f}", _fmt(None if elbo is None else -elbo),
                  f"{stats['seconds']:.1f}")
    extra = ["nats per image, lower is better; s.e. over images; −ELBO_k: mean −log weight of "
             "the same draws, −ELBO: the single-sample test ELBO"]
    if stats.get("bits_per_dim_units"):
        extra.append(f"bits/dim: {stats['bits_per_dim_units']}")
    if stats.get("note"):
        extra.append(stats["note"])
    table.caption = _caption(stats, *extra)
    console.print(table)


def _print_per_class(console: Console, key: str, per_class: dict) -> None:
    table = Table(title=f"ELBO per class ({key})")
    for column in ("class", "images", "ELBO", "recon", "KL"):
        table.add_column(column, justify="left" if column == "class" else "right")
    for name, row in per_class.items():
        table.add_row(name, f"{row['images']:,}", f"{row['elbo']:.2f}", f"{row['recon']:.2f}",
                      f"{row['kl']:.2f}")
    table.caption = "nats per image, same estimator as the ELBO table"
    console.print(table)


def _print_collapse(console: Console, key: str, stats: dict) -> None:
    from vaelab.metrics.collapse import latent_name  # torch: only when there is a table

    per_dim = stats.get("kl_per_dim")
    table = Table(title=f"posterior collapse ({key}): {stats['active_units']} of "
                        f"{stats['latent_dim']} dimensions active (active units), I(x;z) = "
                        f"{stats['mutual_information']:.2f} nats (max "
                        f"{stats['mutual_information_max']:.2f}), KL = "
                        f"{stats['kl_total']:.2f} nats")
    for column in ("dim", "active", "KL", "Var_x E\\[z]", "mean μ", "mean log σ²"):
        table.add_column(column, justify="right")
    for j in range(stats["latent_dim"]):
        active = stats["mean_variance"][j] > stats["active_threshold"]
        table.add_row(latent_name(j), "[green]yes[/]" if active else "[dim]no[/]",
                      _fmt(None if per_dim is None else per_dim[j], ".3f"),
                      _fmt(stats["mean_variance"][j], ".4f"),
                      _fmt(stats["mean_mean"][j], ".3f"), _fmt(stats["logvar_mean"][j], ".3f"))
    table.caption = _caption(stats, f"KL: {stats['kl_estimator']}")
    console.print(table)


def _print_fid(console: Console, key: str, stats: dict) -> None:
    table = Table(title=f"sample quality ({key}), domain-classifier features")
    for column in ("samples", "FID samples", "FID recon", "IS samples", "IS test set",
                   "classifier acc"):
        table.add_column(column, justify="right")
    accuracy = stats["feature_network"].get("test_accuracy")
    table.add_row(f"{stats['samples']:,}", f"{stats['fid_samples']:.2f}",
                  f"{stats['fid_reconstructions']:.2f}",
                  f"{stats['inception_score']:.2f} ± {stats['inception_score_std']:.2f}",
                  f"{stats['inception_score_reference']:.2f}",
                  _fmt(None if accuracy is None else 100 * accuracy, ".2f") + "%")
    table.caption = _caption(stats, "FID: lower is better; IS: higher is better (at most "
                             "the number of classes)")
    console.print(table)


def _print_probe(console: Console, key: str, stats: dict) -> None:
    table = Table(title=f"latent usefulness ({key})")
    for column in ("linear probe acc", "chance", "k-means purity"):
        table.add_column(column, justify="right")
    table.add_row(f"{100 * stats['accuracy']:.2f}%", f"{100 * stats['chance']:.2f}%",
                  f"{100 * stats['kmeans_purity']:.2f}%")
    table.caption = _caption(stats)
    console.print(table)
