"""The ``vaelab`` command line. ``vaelab train``'s options are generated from the config
dataclasses (vaelab/config.py), so every config field is an option and a new field needs
no CLI code. User errors print one line and exit with code 2."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from vaelab.config import FIELDS, FieldSpec, coerce
from vaelab.errors import VaelabError

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=CONTEXT)
@click.version_option(package_name="vaelab")
def cli() -> None:
    """vaelab: train, evaluate and explain variational autoencoders.

    Data sets are found in --data-dir, $VAELAB_DATA/<name>/, ~/.cache/vaelab/<name>/ or
    /usr/share/datasets/<name>/ (see `vaelab datasets`).
    """


def _config_options(command: Any) -> Any:
    """Add one --option per config field (values are parsed by config.coerce so files and
    the command line share one parser and one set of error messages)."""
    for spec in reversed(FIELDS):
        default = spec.default
        shown = "none" if default is None or default == [] else (
            ",".join(map(str, default)) if isinstance(default, list) else default)
        choices = spec.meta["choices"]
        extra = f" Choices: {', '.join(choices())}." if choices else ""
        command = click.option(
            f"--{spec.cli}", f"opt_{spec.section}__{spec.name}", default=None,
            metavar=_metavar(spec), help=f"{spec.help}{extra} [default: {shown}]")(command)
    return command


def _metavar(spec: FieldSpec) -> str:
    text = str(spec.annotation)
    if "list" in text:
        return "N,N,..."
    if "int" in text:
        return "INT"
    if "float" in text:
        return "FLOAT"
    return "TEXT"


@cli.command(context_settings=CONTEXT)
@click.option("--config", "config_file", type=click.Path(dir_okay=False),
              help="TOML or JSON config file (sections data, network, likelihood, prior, "
                   "objective, train); command-line options override it.")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Run directory to write [default: runs/<dataset>-<objective>-<time>].")
@click.option("--force", is_flag=True, help="Overwrite an existing run directory.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@_config_options
def train(config_file: str | None, out: str | None, force: bool, quiet: bool,
          **options: Any) -> None:
    """Train a VAE and write a self-describing run directory."""
    from vaelab.api import train as train_run
    from vaelab.config import Config, apply_overrides, read_config_file

    config = Config()
    if config_file:
        config = apply_overrides(config, read_config_file(config_file), where=config_file)
    nested: dict[str, dict[str, Any]] = {}
    by_key = {f"opt_{spec.section}__{spec.name}": spec for spec in FIELDS}
    for key, value in options.items():
        if value is None:
            continue
        spec = by_key[key]
        nested.setdefault(spec.section, {})[spec.name] = coerce(spec, value,
                                                                where="command line")
    config = apply_overrides(config, nested, where="command line")
    run = train_run(config, out=out, force=force, progress=not quiet,
                    command=["vaelab", *sys.argv[1:]])
    _print_metrics(run.path, run.metrics)
    click.echo(f"run directory: {run.path}")


@cli.command("eval", context_settings=CONTEXT)
@click.argument("run_dir", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
@click.option("--checkpoint", type=click.Choice(["last", "best"]), default="last",
              show_default=True, help="Which weights to evaluate.")
@click.option("--split", type=click.Choice(["test", "val"]), default="test",
              show_default=True)
@click.option("--device", default="auto", show_default=True)
def evaluate(run_dir: str, as_json: bool, checkpoint: str, split: str, device: str) -> None:
    """Test-set ELBO, reconstruction and KL (nats per image) of a run; merged into its
    metrics.json."""
    from vaelab import rundir
    from vaelab.evaluate import elbo_metrics
    from vaelab.run import load_run, resolve_device

    run = load_run(run_dir, checkpoint=checkpoint, device=str(resolve_device(device)))
    key = split if checkpoint == "last" else f"{split}_best"
    stats = elbo_metrics(run.model, run.data, split, batch_size=run.config.train.eval_batch_size)
    if not stats:
        raise VaelabError(f"run {run_dir} has no {split} split (its val_fraction is 0); use "
                          "--split test")
    stats["checkpoint"] = checkpoint
    merged = rundir.merge_json(run.path / rundir.METRICS_FILE, {key: stats})
    if as_json:
        click.echo(json.dumps({key: merged[key]}, indent=2))
    else:
        _print_metrics(run.path, {key: merged[key]})


@cli.command(context_settings=CONTEXT)
@click.argument("run_dir", type=click.Path())
@click.option("-n", "count", type=click.IntRange(1, 4096), default=64, show_default=True,
              help="Number of samples.")
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="PNG to write.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--checkpoint", type=click.Choice(["last", "best"]), default="last",
              show_default=True)
def sample(run_dir: str, count: int, out: str, seed: int, checkpoint: str) -> None:
    """Decode samples from the prior into a PNG grid."""
    from vaelab.figures import FIGURES, save_figure
    from vaelab.run import load_run

    run = load_run(run_dir, checkpoint=checkpoint)
    path = save_figure(FIGURES.get("samples")(run, n=count, seed=seed), _png_path(out))
    click.echo(f"wrote {path}")


@cli.command(context_settings=CONTEXT)
@click.argument("run_dir", type=click.Path())
@click.option("-n", "count", type=click.IntRange(1, 256), default=16, show_default=True,
              help="Number of test images.")
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="PNG to write.")
@click.option("--checkpoint", type=click.Choice(["last", "best"]), default="last",
              show_default=True)
def reconstruct(run_dir: str, count: int, out: str, checkpoint: str) -> None:
    """Test images above their reconstructions, as a PNG."""
    from vaelab.figures import FIGURES, save_figure
    from vaelab.run import load_run

    run = load_run(run_dir, checkpoint=checkpoint)
    path = save_figure(FIGURES.get("reconstructions")(run, n=count), _png_path(out))
    click.echo(f"wrote {path}")


@cli.command(context_settings=CONTEXT)
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="Also look in this folder first.")
def datasets(data_dir: str | None) -> None:
    """List the datasets vaelab knows and where their files were found."""
    from vaelab.data import dataset_report

    table = Table(title="vaelab datasets")
    table.add_column("name", no_wrap=True)
    table.add_column("ready", no_wrap=True)
    table.add_column("size", no_wrap=True)
    table.add_column("train / test", no_wrap=True)
    table.add_column("where", overflow="fold")
    infos = dataset_report(data_dir)
    for info in infos:
        shape = "×".join(map(str, info.image_shape)) if info.image_shape else "?"
        sizes = (f"{info.n_train:,} / {info.n_test:,}" if info.n_train is not None
                 and info.n_test is not None else "?")
        table.add_row(info.name, "[green]yes[/]" if info.available else "[yellow]no[/]",
                      shape, sizes, info.where)
    console = Console()
    console.print(table)
    for info in infos:
        console.print(f"[bold]{info.name}[/]: {info.description}")


def _png_path(out: str) -> Path:
    path = Path(out)
    if path.suffix.lower() != ".png":
        raise VaelabError(f"--out {out} must end in .png")
    if path.parent and not path.parent.exists():
        raise VaelabError(f"--out {out}: folder {path.parent} does not exist; create it first")
    return path


def _print_metrics(run_path: Path, metrics: dict[str, Any]) -> None:
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


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except VaelabError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("interrupted; files of the last complete epoch are kept", err=True)
        sys.exit(130)
    except click.ClickException as err:
        err.show()
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted; files of the last complete epoch are kept", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
