"""``vaelab sample`` and ``vaelab reconstruct``: one PNG from a run, without training."""

from __future__ import annotations

import click

from vaelab.cli.app import CONTEXT, cli
from vaelab.cli.common import png_path

CHECKPOINT = click.option("--checkpoint", type=click.Choice(["last", "best"]), default="last",
                          show_default=True, help="Which weights to use.")


@cli.command(context_settings=CONTEXT)
@click.argument("run_dir", type=click.Path())
@click.option("-n", "count", type=click.IntRange(1, 4096), default=64, show_default=True,
              help="Number of samples.")
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="PNG to write.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--from", "source", default=None, metavar="PRIOR",
              help="Decode noise from another registered prior (e.g. laplace) instead of "
                   "the run's own prior.")
@click.option("--sampler", default="prior", show_default=True, metavar="NAME",
              help="Where z comes from: prior, or gmm (a Gaussian mixture fitted to the "
                   "training posterior means, stored in RUN_DIR/samplers/).")
@click.option("--components", type=int, default=None,
              help="gmm: number of mixture components [default: 10].")
@click.option("--label", type=int, default=None,
              help="A conditional model (--model cvae): draw every sample from this class.")
@CHECKPOINT
def sample(run_dir: str, count: int, out: str, seed: int, source: str | None,
           sampler: str, components: int | None, label: int | None, checkpoint: str) -> None:
    """Decode samples from the prior (or --from another distribution, or a fitted
    --sampler) into a PNG grid."""
    from vaelab.figures import FIGURES, save_figure
    from vaelab.run import load_run
    from vaelab.samplers import SAMPLERS

    SAMPLERS.get(sampler)  # an unknown name fails before anything is loaded
    target = png_path(out)
    run = load_run(run_dir, checkpoint=checkpoint)
    path = save_figure(FIGURES.get("samples")(run, n=count, seed=seed, source=source,
                                              sampler=sampler, components=components,
                                              label=label),
                       target)
    click.echo(f"wrote {path}")


@cli.command(context_settings=CONTEXT)
@click.argument("run_dir", type=click.Path())
@click.option("-n", "count", type=click.IntRange(1, 256), default=16, show_default=True,
              help="Number of test images.")
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="PNG to write.")
@CHECKPOINT
def reconstruct(run_dir: str, count: int, out: str, checkpoint: str) -> None:
    """Test images above their reconstructions, as a PNG."""
    from vaelab.figures import FIGURES, save_figure
    from vaelab.run import load_run

    target = png_path(out)
    run = load_run(run_dir, checkpoint=checkpoint)
    path = save_figure(FIGURES.get("reconstructions")(run, n=count), target)
    click.echo(f"wrote {path}")
