"""``vaelab recipe list`` and ``vaelab recipe run NAME [--quick]``: the five classic VAE
studies and the literature check as one command each (sweep + evaluation + figures +
findings + report)."""

from __future__ import annotations

from typing import Any

import click
from rich.table import Table

from vaelab.cli.app import CONTEXT, cli
from vaelab.cli.common import terminal_console
from vaelab.errors import VaelabError
from vaelab.metrics.features import DEFAULT_FEATURES, FEATURE_NETWORKS


@cli.group(context_settings=CONTEXT)
def recipe() -> None:
    """The classic VAE studies, reproduced: `vaelab recipe list`, `vaelab recipe run NAME`."""


@recipe.command("list")
def list_recipes() -> None:
    """The recipes, the question each answers and the study it reproduces."""
    from vaelab.recipes import RECIPES

    table = Table(title="vaelab recipes: vaelab recipe run NAME [--quick]")
    table.add_column("name", no_wrap=True)
    table.add_column("runs", justify="right")
    table.add_column("question it answers (study reproduced)")
    # In the order of the seed studies (000 … 004).
    for name, item in sorted(RECIPES.items(), key=lambda entry: entry[1].source):
        table.add_row(name, str(len(item.build(False).runs())),
                      f"{item.question} [dim]({item.source})[/]")
    terminal_console().print(table)


@recipe.command("run", context_settings=CONTEXT)
@click.argument("name")
@click.option("--quick", is_flag=True, help="One seed, a subset and a few epochs; a smoke "
              "test with no verdicts, not the study's numbers. Minutes on a 2-core CPU "
              "(benchmarks/RESULTS.md, 'Recipes and sweeps', times each recipe).")
@click.option("--out", default=None, type=click.Path(file_okay=False),
              help="Sweep directory [default: sweeps/NAME or sweeps/NAME-quick].")
@click.option("--set", "settings", multiple=True, metavar="OPTION=VALUE",
              help="Override a base option of every run, e.g. --set device=cuda or "
                   "--set dataset=csv --set data-path=fashion-mnist_train.csv.")
@click.option("--backend", default="auto", show_default=True,
              help="Sweep backend: auto (local on the CPU, batched on a GPU), local, "
                   "batched or ray.")
@click.option("--workers", type=int, default=None, help="local backend: processes.")
@click.option("--fid-features", type=click.Choice(FEATURE_NETWORKS.names()), default=None,
              help="Feature network of the recipe's FID, for recipes that compute it: "
                   f"{DEFAULT_FEATURES} [default] or inception, the standard FID network "
                   "(study 004 scored with Inception v3), whose weights are found in "
                   "$VAELAB_INCEPTION_WEIGHTS or $VAELAB_DATA/inception/ (README: "
                   "'Standard Inception FID') before anything trains. The default --out "
                   "gets the suffix -inception.")
@click.option("--force", is_flag=True, help="Start over: delete the recipe's earlier runs.")
@click.option("--quiet", is_flag=True, help="No progress output.")
def run(name: str, quick: bool, out: str | None, settings: tuple[str, ...], backend: str,
        workers: int | None, force: bool, quiet: bool, fid_features: str | None = None
        ) -> None:
    """Run recipe NAME: its sweep (resumable), metrics, comparison figures, the study's
    claims checked against the numbers (findings.json) and report.html."""
    from vaelab.recipes import RECIPES, run_recipe
    from vaelab.sweep.layout import REPORT_FILE

    RECIPES.get(name)
    overrides: dict[str, Any] = {}
    for text in settings:
        key, sep, value = text.partition("=")
        if not sep or not key.strip():
            raise VaelabError(f"--set {text!r}: write OPTION=VALUE, e.g. --set device=cuda")
        overrides[key.strip().replace("-", "_")] = value.strip()
    path = run_recipe(name, out, quick=quick, backend=backend, workers=workers, force=force,
                      progress=not quiet, overrides=overrides, fid_features=fid_features)
    click.echo(f"recipe directory: {path}")
    click.echo(f"report: {path / REPORT_FILE}")
