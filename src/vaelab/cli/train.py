"""``vaelab train``: its options are generated from the config dataclasses
(vaelab/config.py), so every config field is an option and a new field needs no CLI
code. Values are parsed by ``config.coerce``: files and the command line share one parser
and one set of error messages."""

from __future__ import annotations

import sys
from typing import Any

import click

from vaelab.cli.app import CONTEXT, cli
from vaelab.cli.common import print_metrics
from vaelab.config import FIELDS, FieldSpec, coerce
from vaelab.errors import VaelabError


def config_options(command: Any) -> Any:
    """Add one --option per config field."""
    for spec in reversed(FIELDS):
        shown = spec.default_text
        choices = spec.meta["choices"]
        extra = f" Choices: {', '.join(choices())}." if choices else ""
        help_text = f"{spec.help}{extra} [default: {shown}]"
        target = f"opt_{spec.section}__{spec.name}"
        if spec.annotation is bool:  # a flag pair, --gated / --no-gated
            command = click.option(f"--{spec.cli}/--no-{spec.cli}", target, default=None,
                                   help=help_text)(command)
        else:
            command = click.option(f"--{spec.cli}", target, default=None,
                                   metavar=_metavar(spec), help=help_text)(command)
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


def config_from_options(config_file: str | None, options: dict[str, Any]):
    """Defaults < --config file < command-line options, validated."""
    from vaelab.config import Config, apply_overrides, read_config_file

    config = Config()
    if config_file:
        config = apply_overrides(config, read_config_file(config_file), where=config_file)
    return apply_options(config, options)


def apply_options(config, options: dict[str, Any]):
    """``config`` with the generated --options that were given (not None) applied."""
    from vaelab.config import apply_overrides

    nested: dict[str, dict[str, Any]] = {}
    by_key = {f"opt_{spec.section}__{spec.name}": spec for spec in FIELDS}
    for key, value in options.items():
        if value is None:
            continue
        spec = by_key[key]
        nested.setdefault(spec.section, {})[spec.name] = coerce(spec, value,
                                                                where="command line")
    return apply_overrides(config, nested, where="command line")


@cli.command(context_settings=CONTEXT)
@click.option("--config", "config_file", type=click.Path(dir_okay=False),
              help="TOML or JSON config file (sections data, network, likelihood, prior, "
                   "objective, train); command-line options override it.")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Run directory to write [default: runs/<dataset>-<objective>-<time>].")
@click.option("--force", is_flag=True, help="Overwrite an existing run directory.")
@click.option("--resume", "resume", type=click.Path(file_okay=False), default=None,
              help="Continue this interrupted run from its last complete epoch (its own "
                   "config; only --epochs may be raised).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--tensorboard", type=click.Path(file_okay=False), default=None, metavar="DIR",
              help="Also log scalars of every history column and image grids each epoch "
                   "to DIR/<run name> for `tensorboard --logdir DIR` (needs "
                   "'vaelab[tensorboard]').")
@click.option("--mlflow", metavar="URI", default=None,
              help="Also track the run in MLflow at this tracking URI, e.g. "
                   "sqlite:///mlruns.db: config as params, history as metrics, run files "
                   "as artifacts (needs 'vaelab[mlflow]').")
@click.option("--mlflow-experiment", metavar="NAME", default="vaelab", show_default=True,
              help="MLflow experiment of --mlflow.")
@config_options
def train(config_file: str | None, out: str | None, force: bool, resume: str | None,
          quiet: bool, tensorboard: str | None, mlflow: str | None, mlflow_experiment: str,
          **options: Any) -> None:
    """Train a VAE and write a self-describing run directory."""
    from vaelab.api import train as train_run

    command = ["vaelab", *sys.argv[1:]]
    tracking = dict(tensorboard=tensorboard, mlflow=mlflow,
                    mlflow_experiment=mlflow_experiment)
    if resume is not None:
        given = {key: value for key, value in options.items() if value is not None}
        if config_file or out or force or set(given) - {"opt_train__epochs"}:
            raise VaelabError("--resume continues a run with its own config: give only "
                              "--resume RUN_DIR (and optionally --epochs N, --tensorboard, "
                              "--mlflow)")
        epochs = {} if "opt_train__epochs" not in given else {"epochs": given[
            "opt_train__epochs"]}
        run = train_run(resume=resume, progress=not quiet, command=command, **tracking,
                        **epochs)
    else:
        config = config_from_options(config_file, options)
        run = train_run(config, out=out, force=force, progress=not quiet, command=command,
                        **tracking)
    if run is None:  # a torchrun rank other than 0: rank 0 reports the run
        return
    print_metrics(run.path, run.metrics)
    click.echo(f"run directory: {run.path}")
