"""``vaelab eval``: the numbers of a trained run, merged into its metrics.json."""

from __future__ import annotations

import json

import click

from vaelab.cli.app import CONTEXT, cli
from vaelab.cli.common import print_metrics
from vaelab.errors import VaelabError


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
        print_metrics(run.path, {key: merged[key]})
