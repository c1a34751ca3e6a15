"""``vaelab report``: a static HTML page from run and sweep directories (read only)."""

from __future__ import annotations

import click

from vaelab.cli.app import CONTEXT, cli


@cli.command("report", context_settings=CONTEXT)
@click.argument("dirs", nargs=-1, required=True, type=click.Path())
@click.option("--out", default="report.html", show_default=True, type=click.Path(),
              help="The HTML file to write.")
@click.option("--force", is_flag=True, help="Overwrite --out even when it is not a vaelab "
              "report (an earlier report is always replaced).")
@click.option("--title", default=None, help="Page title [default: the sweep's title, or the "
              "run's name].")
def report(dirs: tuple[str, ...], out: str, force: bool, title: str | None) -> None:
    """One self-contained HTML page from run directories and sweep directories: config
    summaries, metrics with their estimators, the figures already drawn, a comparison
    table across runs, and for a sweep its question, findings and mean ± std per group.
    Reads files only (run `vaelab eval` and `vaelab plot` first for more numbers and
    figures); the page makes no network request and can be mailed as one file."""
    from vaelab.report import write_report

    path = write_report(dirs, out, force=force, title=title)
    size = path.stat().st_size
    click.echo(f"wrote {path} ({size / 1e6:.1f} MB)" if size >= 1e5 else
               f"wrote {path} ({size / 1e3:.0f} kB)")
