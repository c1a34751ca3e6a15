"""Small helpers shared by the commands."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
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


def print_metrics(run_path: Path, metrics: dict[str, Any]) -> None:
    """One row per evaluated split; the estimator and binarisation go in the caption so the
    table stays readable in an 80-column terminal."""
    table = Table(title=f"{run_path}")
    for column in ("split", "images", "ELBO", "recon", "KL", "bits/dim"):
        table.add_column(column, justify="left" if column == "split" else "right")
    notes = []
    for key, stats in metrics.items():
        if not isinstance(stats, dict) or "elbo" not in stats:
            continue
        table.add_row(key, f"{stats['images']:,}", f"{stats['elbo']:.2f}",
                      f"{stats['recon']:.2f}", f"{stats['kl']:.2f}",
                      f"{stats['bits_per_dim']:.4f}")
        note = f"{key}: {stats['estimator']}; binarization {stats['binarization']}"
        if not stats.get("likelihood_is_density", True):
            note += "; the likelihood is a loss, not a density: ELBO is not a bound"
        notes.append(note)
    table.caption = "\n".join(["nats per image (ELBO: higher is better)", *notes])
    Console().print(table)
