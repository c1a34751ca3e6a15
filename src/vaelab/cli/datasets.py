"""``vaelab datasets``: which datasets are available and where their files were found."""

from __future__ import annotations

import click
from rich.table import Table

from vaelab.cli.app import CONTEXT, cli
from vaelab.cli.common import terminal_console


@cli.command(context_settings=CONTEXT)
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="Also look in this folder first.")
def datasets(data_dir: str | None) -> None:
    """List the datasets vaelab knows and where their files were found."""
    from vaelab.data import dataset_report
    from vaelab.shapes import describe_shape

    table = Table(title="vaelab datasets")
    table.add_column("name", no_wrap=True)
    table.add_column("ready", no_wrap=True)
    table.add_column("size", no_wrap=True)
    table.add_column("train / test", no_wrap=True)
    table.add_column("where", overflow="fold")
    infos = dataset_report(data_dir)
    for info in infos:
        shape = describe_shape(info.image_shape) if info.image_shape else "?"
        sizes = (f"{info.n_train:,} / {info.n_test:,}" if info.n_train is not None
                 and info.n_test is not None else "?")
        table.add_row(info.name, "[green]yes[/]" if info.available else "[yellow]no[/]",
                      shape, sizes, info.where)
    console = terminal_console()
    console.print(table)
    for info in infos:
        console.print(f"[bold]{info.name}[/]: {info.description}")
