"""``vaelab sweep``: a grid of runs from a sweep file or from --grid/--zip/--seeds, run on
a backend, aggregated into a mean ± std table. Re-running resumes."""

from __future__ import annotations

import sys
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from vaelab.cli.app import CONTEXT, cli
from vaelab.cli.common import estimator_lines, indented, terminal_console
from vaelab.cli.train import apply_options, config_options
from vaelab.errors import VaelabError

EXAMPLES = """
\b
Examples:
  vaelab sweep --grid beta=0,0.1,1,10 --seeds 3 --epochs 10 --out sweeps/beta
  vaelab sweep beta.toml --workers 2
  vaelab sweep --grid "hidden=128;256,128" --zip lr=1e-3,3e-4 ... (list values: ';')
  vaelab sweep --resume sweeps/beta          (continue a killed sweep)
  vaelab sweep beta.toml --backend ray --address HEAD:6379
"""


@cli.command(context_settings=CONTEXT, epilog=EXAMPLES)
@click.argument("sweep_file", required=False, type=click.Path(dir_okay=False))
@click.option("--grid", "grid", multiple=True, metavar="OPTION=V1,V2",
              help="Sweep an option over values (repeat for a Cartesian product).")
@click.option("--zip", "zipped", multiple=True, metavar="OPTION=V1,V2",
              help="Options varied together (equal-length lists, repeat the flag).")
@click.option("--seeds", default=None, metavar="N|S1,S2",
              help="Seeds per point: a count (0..N-1) or a list [default: 1].")
@click.option("--base", "base_file", type=click.Path(dir_okay=False), default=None,
              help="Base config file (TOML/JSON); config options below override it.")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Sweep directory [default: sweeps/<name>]. It holds one sweep: another "
                   "spec there is refused (--force starts over); more --seeds extend it.")
@click.option("--name", default=None, help="Sweep name [default: the sweep file's stem, or "
              "sweep-<hash of the spec>].")
@click.option("--backend", default="auto", show_default=True,
              help="auto (local on the CPU, batched on a GPU), local (processes on this "
                   "machine), batched (same-architecture runs trained together), ray (a Ray "
                   "cluster).")
@click.option("--workers", type=int, default=None,
              help="local backend: parallel processes, one per run [default: the cores, "
                   "fewer when the memory available does not hold that many runs at their "
                   "estimated peak; 1 trains in this process].")
@click.option("--address", default=None,
              help="ray backend: cluster address (HOST:PORT, auto or ray://HOST:10001) "
                   "[default: a private local Ray on 127.0.0.1].")
@click.option("--metrics", "metric_list", default=None, metavar="NAME,NAME",
              help="Metrics evaluated on every run [default: elbo,collapse].")
@click.option("--iw-samples", type=int, default=None,
              help="k of iw-nll when it is in --metrics [default: 1000].")
@click.option("--figures/--no-figures", default=None,
              help="Write each run's figures [default: yes].")
@click.option("--resume", "resume", type=click.Path(file_okay=False), default=None,
              help="Continue the sweep in this directory with its own spec.")
@click.option("--force", is_flag=True, help="Start over: delete the runs of an existing "
              "sweep in --out.")
@click.option("--quiet", is_flag=True, help="No progress output.")
@config_options
def sweep(sweep_file: str | None, grid: tuple[str, ...], zipped: tuple[str, ...],
          seeds: str | None, base_file: str | None, out: str | None, name: str | None,
          backend: str, workers: int | None, address: str | None, metric_list: str | None,
          iw_samples: int | None, figures: bool | None, resume: str | None, force: bool,
          quiet: bool, **options: Any) -> None:
    """Train and evaluate a grid of runs; write SWEEP/sweep.json, one run directory per
    point and seed under SWEEP/runs/, and SWEEP/summary.json/.csv (mean ± std over seeds).
    Re-running the same command skips finished runs and resumes interrupted ones."""
    from vaelab.sweep import SweepRunsFailed, layout, load_spec, run_sweep
    from vaelab.sweep.backends import check_backend

    check_backend(backend)
    command = ["vaelab", "sweep", *sys.argv[2:]]
    given = {k: v for k, v in options.items() if v is not None}
    if resume is not None:
        if (sweep_file or grid or zipped or seeds or base_file or given or force
                or figures is not None):
            raise VaelabError("--resume continues a sweep with its own spec: give only "
                              "--resume SWEEP_DIR (and --backend/--workers)")
        spec, out = load_spec(resume), resume
    else:
        spec = _spec(sweep_file, grid, zipped, seeds, base_file, name, metric_list,
                     iw_samples, given)
        if figures is not None:
            spec.figures = figures
        if name is None and sweep_file is None:
            # Unique per spec: another command-line sweep never lands in this one's folder.
            spec.name = f"sweep-{spec.identity()}"
        out = out or str(layout.default_dir(spec.name))
    try:
        summary = run_sweep(spec, out, backend=backend, workers=workers, address=address,
                            force=force, progress=not quiet, command=command)
    except SweepRunsFailed as failed:  # the table of what finished, then the one line
        print_summary(failed.summary, terminal_console())
        click.echo(f"sweep directory: {out}")
        raise
    print_summary(summary, terminal_console())
    click.echo(f"sweep directory: {out}")


def _spec(sweep_file: str | None, grid: tuple[str, ...], zipped: tuple[str, ...],
          seeds: str | None, base_file: str | None, name: str | None,
          metric_list: str | None, iw_samples: int | None, given: dict[str, Any]):
    from vaelab.config import Config, read_config_file
    from vaelab.sweep import layout
    from vaelab.sweep.spec import parse_grid_option, parse_seeds, read_sweep_file

    if sweep_file is not None:
        if grid or zipped or base_file:
            raise VaelabError("give either a sweep file or --grid/--zip/--base, not both")
        spec = read_sweep_file(sweep_file)
    else:
        if not grid and not zipped:
            raise VaelabError("nothing to sweep: give a sweep file or --grid OPTION=V1,V2 "
                              "(see vaelab sweep --help)")
        raw: dict[str, Any] = {"grid": dict(parse_grid_option(g) for g in grid),
                               "zip": dict(parse_grid_option(z, where="--zip")
                                           for z in zipped)}
        if base_file:
            raw["base"] = read_config_file(base_file)
        from vaelab.sweep.spec import spec_from_dict

        spec = spec_from_dict(raw, where="command line")
    spec.base = apply_options(spec.base or Config(), given)
    if seeds is not None:
        spec.seeds = parse_seeds(seeds, where="--seeds")
    if name is not None:
        spec.name = layout.check_name(name, what="--name")
    if metric_list is not None:
        from vaelab.metrics import parse_metric_names

        spec.metrics = parse_metric_names(metric_list)
    if iw_samples is not None:
        if iw_samples < 1:
            raise VaelabError(f"--iw-samples must be >= 1, got {iw_samples}")
        spec.iw_samples = iw_samples
    spec.runs()  # the CLI's base options may make a point invalid: fail before writing
    return spec


def print_summary(summary: dict[str, Any], console: Console) -> None:
    """summary.json as a table with short headers; under it what each header stands for
    (label, unit, better direction) and the estimators, at the console's full width."""
    from vaelab.sweep.aggregate import format_cell

    table = Table(title="sweep summary (mean ± std over seeds)")
    table.add_column("point", overflow="fold")
    table.add_column("n", justify="right")
    for metric in summary["metrics"]:
        table.add_column(escape(metric.get("short") or metric["label"]), justify="right")
    for group in summary["groups"]:
        # The std under the mean keeps the columns narrow in an 80-column terminal.
        table.add_row(escape(group["group"]), str(group["n"]),
                      *(format_cell(group["values"].get(m["key"]), m).replace(" ± ", "\n± ")
                        for m in summary["metrics"]))
    console.print(table)
    legend = []
    for metric in summary["metrics"]:
        better = f", {metric['better']} is better" if metric.get("better") else ""
        legend.append(f"{metric.get('short') or metric['label']}: {metric['label']}{better}")
    lines = [" · ".join(legend)] if legend else []
    lines += estimator_lines((metric.get("short") or metric["label"], text)
                             for metric in summary["metrics"]
                             for text in (metric["estimator"] or "").split(" | "))
    for line in lines:
        console.print(indented(line, "dim"))
    for group in summary["groups"]:
        for failure in group.get("failed", []):
            console.print(indented(f"failed: {failure['run']}: {failure['error']}", "red"))
