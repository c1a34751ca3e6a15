"""``vaelab plot``: every figure of the VAE studies, drawn from run directories into
RUN_DIR/figures/ (PNG, plus a GIF where it moves).

    vaelab plot RUN_DIR latent traversal          # named figures
    vaelab plot RUN_DIR --all                     # everything that applies to the run
    vaelab plot RUN_DIR samples --from laplace    # decode another distribution's noise
    vaelab plot --compare RUN_A RUN_B interpolation tableau curves

Figure options are passed only to the figures that take them; an option that none of
the named figures takes is an error rather than silently ignored.
"""

from __future__ import annotations

import sys
import warnings
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import click

from vaelab.cli.app import CONTEXT, cli
from vaelab.errors import VaelabError


class Checked(click.ParamType):
    """A number or choice whose bad values raise VaelabError, so the user sees one line
    `error: ...` and exit code 2 like every other vaelab error."""

    def __init__(self, kind: type, low: float | None = None, choices: tuple[str, ...] = ()):
        self.kind, self.low, self.choices = kind, low, choices
        self.name = kind.__name__ if not choices else "choice"

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None
                    ) -> str | None:
        return f"[{'|'.join(self.choices)}]" if self.choices else self.name.upper()

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None
                ) -> Any:
        option = param.opts[0] if param is not None else "value"
        if self.choices:
            if value not in self.choices:
                raise VaelabError(f"{option} {value!r} is unknown; choose one of: "
                                  f"{', '.join(self.choices)}")
            return value
        try:
            number = self.kind(value)
        except (TypeError, ValueError):
            kind = "an integer" if self.kind is int else "a number"
            raise VaelabError(f"{option} expects {kind}, got {value!r}") from None
        if self.low is not None and number < self.low:
            raise VaelabError(f"{option} must be >= {self.low:g}, got {value}")
        return number


def _int(low: int | None = None) -> Checked:
    return Checked(int, low)


def _float(low: float | None = None) -> Checked:
    return Checked(float, low)


# (option declaration, figure keyword, type, help); every default is the figure's own.
FIGURE_OPTIONS: list[tuple[str, str, Any, str]] = [
    ("-n", "n", _int(1), "Images: reconstructions/tableau/samples; points: latent."),
    ("--seed", "seed", _int(0), "Seed of every random draw (samples, pairs, chains, t-SNE)."),
    ("--split", "split", Checked(str, choices=("test", "val")), "Images from test or val."),
    ("--per-class", "per_class", _int(1), "reconstructions: K images of every class."),
    ("--from", "source", str, "samples: decode noise from this prior (default: the run's)."),
    ("--temperature", "temperature", _float(0), "samples: scale the latent samples."),
    ("--pixels", "pixels", None, "samples: also show pixels drawn from p(x|z)."),
    ("--method", "method", Checked(str, choices=("auto", "raw", "pca", "tsne", "umap")),
     "latent: projection (auto: raw for z=2, else PCA; umap needs umap-learn)."),
    ("--grid", "grid", _int(2), "manifold: images per side."),
    ("--index", "index", _int(0), "traversal: which test image."),
    ("--span", "span", _float(0), "traversal: vary z_j by ±SPAN."),
    ("--dims", "dims", _int(1), "traversal: number of dimensions (rows)."),
    ("--steps", "steps", _int(1), "interpolation/traversal points; markov-chain steps."),
    ("--pairs", "pairs", _int(1), "interpolation: number of random pairs."),
    ("--labels", "labels", str, "interpolation: class pairs like 3:8,1:7."),
    ("--threshold", "threshold", _float(0),
     "kl-per-dim: active unit if Var_x E[z_u|x] > THRESHOLD (Burda et al. 2015)."),
    ("--log", "log", None, "curves: log-scale y axis."),
    ("--chains", "chains", _int(1), "markov-chain: number of chains."),
    ("--start", "start", Checked(str, choices=("noise", "test")),
     "markov-chain: start from uniform noise or test images."),
    ("--every", "every", _int(1), "markov-chain: GIF frame every N steps."),
    ("--show", "show", Checked(str, choices=("mean", "sample")),
     "markov-chain: what each frame displays, the decoder mean E[x|z] or the drawn "
     "pixels x ~ p(x|z) (the chain itself is the same)."),
    ("--no-sample-pixels", "sample_pixels", False,
     "markov-chain: a different chain, feeding the decoder mean (not drawn pixels) back "
     "into the encoder."),
]
# Options that make a different picture get a file-name suffix, so variants sit side by
# side (samples.png, samples-from-laplace.png, latent-tsne.png).
SUFFIXES = {"source": "from-{}", "method": "{}", "start": "from-{}", "per_class": "per-class",
            "temperature": "t{}", "split": "{}"}


def figure_options(command: Any) -> Any:
    for declaration, dest, kind, help_text in reversed(FIGURE_OPTIONS):
        # kind None / False: a flag that sets True / False; unset flags stay None.
        if kind is None or kind is False:  # a flag: sets True (None) or False (False)
            command = click.option(declaration, dest, flag_value=kind is None, default=None,
                                   help=help_text)(command)
        else:
            command = click.option(declaration, dest, type=kind, default=None,
                                   help=help_text)(command)
    return command


def split_targets(targets: tuple[str, ...], compare: bool) -> tuple[list[str], list[str]]:
    """(run directories, figure names). Without --compare the first argument is the run;
    with it, every argument that is a figure name (and not a directory) is a figure."""
    from vaelab.figures import COMPARE, FIGURES

    def is_figure(item: str) -> bool:
        return (item in FIGURES or item in COMPARE) and not Path(item).is_dir()

    if not compare:
        runs, names = list(targets[:1]), list(targets[1:])
    else:
        runs = [t for t in targets if not is_figure(t)]
        names = [t for t in targets if is_figure(t)]
    for name in names:
        if name not in FIGURES and name not in COMPARE:
            hint = "" if compare or not Path(name).is_dir() else (
                "; to draw several runs in one figure use --compare")
            raise VaelabError(f"{FIGURES.unknown_message(name)}{hint}")
    return runs, names


def check_request(runs: list[str], names: list[str], draw_all: bool, compare: bool
                  ) -> list[str]:
    """Everything that can be wrong with the request, before any run is loaded."""
    from vaelab.figures import COMPARE, all_names

    if not runs:
        raise VaelabError("give a run directory, e.g. vaelab plot runs/mnist --all")
    if draw_all and names:
        raise VaelabError(f"give figure names or --all, not both (got {', '.join(names)})")
    if compare:
        if len(runs) < 2:
            raise VaelabError("--compare needs at least two run directories")
        names = names or (COMPARE.names() if draw_all else [])
        for name in names:
            if name not in COMPARE:
                raise VaelabError(f"{name} cannot compare runs; with --compare choose from: "
                                  f"{', '.join(COMPARE.names())}")
    elif draw_all:
        names = all_names()
    if not names:
        raise VaelabError(f"name what to plot ({', '.join(all_names())}) or pass --all")
    return names


def check_options(given: dict[str, Any], names: list[str], compare: bool) -> None:
    """An option no requested figure takes is a mistake, not something to ignore."""
    from vaelab.figures import COMPARE, FIGURES
    from vaelab.figures.common import accepted_options

    registry = COMPARE if compare else FIGURES
    taken = set().union(*(accepted_options(registry.get(name)) for name in names))
    declared = {dest: declaration for declaration, dest, _, _ in FIGURE_OPTIONS}
    for dest in given:
        if dest not in taken:
            users = [n for n in FIGURES.names() if dest in accepted_options(FIGURES.get(n))]
            raise VaelabError(f"{declared[dest]} does not apply to {', '.join(names)}; it is "
                              f"an option of: {', '.join(users) or 'no figure'}")


def stem_for(name: str, options: dict[str, Any], compare: bool) -> str:
    parts = ["compare", name] if compare else [name]
    for key, pattern in SUFFIXES.items():
        if key in options and not (key == "split" and options[key] == "test"):
            parts.append(pattern.format(options[key]))
    return "-".join(parts)


@cli.command(context_settings=CONTEXT)
@click.argument("targets", nargs=-1, metavar="RUN_DIR... [WHAT]...")
@click.option("--all", "draw_all", is_flag=True,
              help="Every figure that applies (with --compare: every comparison).")
@click.option("--compare", is_flag=True,
              help="Draw several runs in one figure (curves, interpolation, kl-per-dim, "
                   "tableau).")
@click.option("--out-dir", type=click.Path(file_okay=False), default=None,
              help="Folder for the files [default: RUN_DIR/figures, of the first run].")
@click.option("--checkpoint", type=Checked(str, choices=("last", "best")), default="last",
              show_default=True, help="Which weights to use.")
@click.option("--device", default="auto", show_default=True,
              help="auto ($VAELAB_DEVICE, else a GPU when there is one), cpu, cuda or "
                   "cuda:N.")
@figure_options
def plot(targets: tuple[str, ...], draw_all: bool, compare: bool, out_dir: str | None,
         checkpoint: str, device: str, **raw: Any) -> None:
    """Draw figures of a run into RUN_DIR/figures/: reconstructions, samples, curves,
    latent, manifold, traversal, interpolation, kl-per-dim, markov-chain (PNG + GIF),
    tableau, classes (--model cvae), layers (--model ladder). Each is also callable from
    Python: vaelab.figures.FIGURES.get(name)(run)."""
    from vaelab import rundir
    from vaelab.figures.common import load_runs
    from vaelab.runlock import writer_lock

    run_dirs, names = split_targets(targets, compare)
    names = check_request(run_dirs, names, draw_all, compare)
    given = {key: value for key, value in raw.items() if value is not None}
    check_options(given, names, compare)
    with ExitStack() as lock:
        if out_dir is None and (Path(run_dirs[0]) / "config.json").is_file():
            # Figures go into the run: one writer per run directory (runlock.py).
            lock.enter_context(writer_lock(Path(run_dirs[0]), ["vaelab", *sys.argv[1:]]))
        runs = load_runs(run_dirs, checkpoint=checkpoint, device=device)
        target_dir = rundir.make_dir(Path(out_dir) if out_dir else runs[0].figures_dir)
        _draw(runs, names, compare, draw_all, given, target_dir)


def _draw(runs: list, names: list[str], compare: bool, draw_all: bool,
          given: dict[str, Any], target_dir: Path) -> None:
    from vaelab.figures import NotApplicable, options_for, write_figure
    from vaelab.figures.markov import ChainWarning

    for name in names:
        options = options_for(name, compare, given)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ChainWarning)
            try:
                paths = write_figure(name, runs if compare else runs[0], target_dir,
                                     stem=stem_for(name, options, compare), **options)
            except NotApplicable as why:
                if not draw_all:
                    raise
                click.echo(f"skipped {name}: {why}")
                continue
        for warning in caught:
            click.echo(f"warning: {warning.message}", err=True)
        for path in paths:
            click.echo(f"wrote {path}")
