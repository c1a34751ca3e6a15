"""``vaelab eval``: the numbers of a trained run, merged into its metrics.json;
``vaelab compare``: several runs' metrics side by side (read only, never computes)."""

from __future__ import annotations

import json
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import click

from vaelab.cli.app import CONTEXT, cli
from vaelab.cli.common import estimator_lines, indented, print_metrics, terminal_console
from vaelab.errors import VaelabError
from vaelab.metrics import DEFAULT_METRICS, metric_names
from vaelab.metrics.features import DEFAULT_FEATURES, FEATURE_NETWORKS, prepare_feature_network
from vaelab.metrics.shown import Number
from vaelab.precision import EVAL_PRECISIONS

METRIC_HELP = (f"Comma-separated metrics: {', '.join(metric_names())} "
               f"[default: the cheap ones: {','.join(DEFAULT_METRICS)}].")


def _positive(name: str, value: int) -> int:
    if value < 1:
        raise VaelabError(f"{name} must be >= 1, got {value}")
    return value


@cli.command("eval", context_settings=CONTEXT)
@click.argument("run_dir", type=click.Path())
@click.option("--metrics", "metric_list", default=None, metavar="NAME,NAME", help=METRIC_HELP)
@click.option("--all", "all_metrics", is_flag=True, help="Every metric that applies to the "
              "run; the others are skipped with a note. Slow on a CPU: IS-NLL's time grows "
              "with --iw-samples, and FID trains the dataset's classifier once "
              "(benchmarks/RESULTS.md has timings). Progress goes to stderr.")
@click.option("--iw-samples", type=int, default=5000, show_default=True,
              help="k of the importance-sampled NLL (5000 as in the literature).")
@click.option("--iw-precision", type=click.Choice(EVAL_PRECISIONS),
              default="float32", show_default=True,
              help="Matmuls of the importance-sampled NLL: float32, tf32 (CUDA; about 2x "
                   "faster on an H200, within 0.003 nats) or bf16; the log-sum-exp is float64.")
@click.option("--fid-samples", type=int, default=10000, show_default=True,
              help="Samples decoded for FID, the Inception-style score and prdc.")
@click.option("--fid-features", type=click.Choice(FEATURE_NETWORKS.names()),
              default=DEFAULT_FEATURES, show_default=True,
              help="Feature network of fid and prdc: classifier (vaelab's per-dataset "
                   "classifier; offline, comparable within vaelab only) or inception (the "
                   "standard Inception-v3 FID network, comparable with published FIDs; "
                   "needs no labels; its weights are found as the README's 'Standard "
                   "Inception FID' says, else downloaded).")
@click.option("--inception-weights", type=click.Path(), default=None, metavar="FILE",
              help="--fid-features inception: pt_inception-2015-12-05-6726825d.pth "
                   "(pytorch-fid's file; checked by its SHA-256).")
@click.option("--sampler", default="prior", show_default=True, metavar="NAME",
              help="fid: where the samples' z come from: prior, or gmm (a Gaussian mixture "
                   "fitted to the training posterior means, stored in RUN_DIR/samplers/).")
@click.option("--components", type=int, default=None,
              help="--sampler gmm: number of mixture components [default: 10].")
@click.option("--per-class/--no-per-class", default=None,
              help="ELBO per class [default: when the split has labels].")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the Monte Carlo draws (the binarisation draw is fixed).")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
@click.option("--checkpoint", type=click.Choice(["last", "best"]), default="last",
              show_default=True, help="Which weights to evaluate.")
@click.option("--split", type=click.Choice(["test", "val"]), default="test",
              show_default=True, help="The split scored (val: the run's validation images).")
@click.option("--batch-size", type=int, default=None,
              help="Images per encoder/decoder pass [default: the run's eval_batch_size].")
@click.option("--device", default="auto", show_default=True,
              help="auto ($VAELAB_DEVICE, else a GPU when there is one), cpu, cuda or "
                   "cuda:N.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def evaluate(run_dir: str, metric_list: str | None, all_metrics: bool, iw_samples: int,
             fid_samples: int, per_class: bool | None, seed: int, as_json: bool,
             checkpoint: str, split: str, batch_size: int | None, device: str,
             quiet: bool, sampler: str = "prior", components: int | None = None,
             iw_precision: str = "float32", fid_features: str = DEFAULT_FEATURES,
             inception_weights: str | None = None) -> None:
    """How good is this VAE: test ELBO (also per class), importance-sampled NLL, posterior
    collapse (KL per dimension, active units, I(x;z)), FID with a domain classifier and a
    linear probe. Each number names its estimator, k, binarisation, split and seed; all are
    merged into the run's metrics.json."""
    from vaelab.metrics import parse_metric_names
    from vaelab.rundir import WriteError
    from vaelab.runlock import writer_lock
    from vaelab.samplers import SAMPLERS, sampler_options

    # Every user error is found before anything is computed or written.
    names = parse_metric_names(metric_list, all_metrics=all_metrics)
    # A metric named in --metrics that does not apply to the run is refused; --all and the
    # defaults mean every metric that applies, and skip the others with a note.
    explicit = metric_list is not None
    _positive("--iw-samples", iw_samples)
    if fid_samples < 2:
        raise VaelabError(f"--fid-samples must be >= 2 (FID fits a covariance), got "
                          f"{fid_samples}")
    if seed < 0:
        raise VaelabError(f"--seed must be >= 0, got {seed}")
    if batch_size is not None:
        _positive("--batch-size", batch_size)
    SAMPLERS.get(sampler)
    sampler_options(sampler, {"components": components})
    if (sampler != "prior" or components is not None) and "fid" not in names:
        raise VaelabError(f"--sampler {sampler} chooses the z of fid's samples, but fid is "
                          "not among --metrics; add it (--metrics fid)")
    feature_metrics = [name for name in ("fid", "prdc") if name in names]
    if fid_features != DEFAULT_FEATURES and not feature_metrics:
        raise VaelabError(f"--fid-features {fid_features} chooses the features of fid and "
                          "prdc, but neither is among --metrics; add one (--metrics fid)")
    with ExitStack() as lock:
        if (Path(run_dir) / "config.json").is_file():
            try:  # one writer per run: the checkpoint cannot change while it is scored
                lock.enter_context(writer_lock(Path(run_dir), ["vaelab", *sys.argv[1:]]))
            except WriteError:
                pass  # an unwritable run has no other writer; the results are printed
        _evaluate(run_dir, names, explicit, iw_samples, fid_samples, per_class, seed,
                  as_json, checkpoint, split, batch_size, device, quiet, sampler, components,
                  iw_precision, fid_features, inception_weights)


def _evaluate(run_dir: str, names: list[str], explicit: bool, iw_samples: int,
              fid_samples: int, per_class: bool | None, seed: int, as_json: bool,
              checkpoint: str, split: str, batch_size: int | None, device: str,
              quiet: bool, sampler: str, components: int | None,
              iw_precision: str = "float32",
              fid_features: str = DEFAULT_FEATURES,
              inception_weights: str | None = None) -> None:
    from vaelab import rundir
    from vaelab.metrics import METRICS, results_section, section_key, store_results
    from vaelab.metrics import evaluate as run_metrics
    from vaelab.metrics.base import TOO_LITTLE_DATA
    from vaelab.run import load_run, resolve_device
    from vaelab.samplers import fitted_sampler

    run = load_run(run_dir, checkpoint=checkpoint, device=str(resolve_device(device)))
    batch_size = batch_size or run.config.train.eval_batch_size
    data = run.data
    scored = {"test": data.test, "val": data.val}[split]
    if scored is None or len(scored) == 0:
        raise VaelabError(f"run {run_dir} has no {split} split (its val_fraction is 0); use "
                          "--split test")
    skipped = []
    samples = {"n_samples": fid_samples, "features": fid_features}  # fid's and prdc's
    options: dict[str, dict[str, Any]] = {"iw-nll": {"k": iw_samples,
                                                     "precision": iw_precision},
                                          "fid": dict(samples), "prdc": dict(samples),
                                          "elbo": {"per_class": per_class}}
    if scored.y is None:
        unlabelled = [n for n in names if METRICS.get(n).needs_labels]
        if per_class:
            unlabelled.insert(0, "elbo --per-class")
        if (unlabelled and explicit) or per_class:
            raise VaelabError(f"{', '.join(unlabelled)} need class labels but the {split} "
                              f"split of {data.dataset} has none; leave them out of --metrics")
        skipped = [f"{', '.join(unlabelled)}: the {split} split has no labels"] * bool(unlabelled)
        names = [n for n in names if n not in unlabelled]
    # Degenerate data, or a model a metric does not fit (Metric.unfit): refuse what was
    # asked for by name, skip the others.
    for name in list(names):
        reason = METRICS.get(name).inapplicable(data, split, options.get(name), run.model)
        if reason is not None:
            remedy = " or train on more data" if reason.startswith(TOO_LITTLE_DATA) else ""
            if explicit:
                raise VaelabError(f"metric {name} {reason} ({run_dir}); leave it out of "
                                  f"--metrics{remedy}")
            skipped.append(f"{name}: it {reason}")
            names.remove(name)

    if {"fid", "prdc"} & set(names) or inception_weights:
        # Weights found and checked now, not after minutes of other metrics.
        weights = prepare_feature_network(fid_features, run.config.data.data_dir,
                                          weights=inception_weights, progress=not quiet)
        for name in ("fid", "prdc"):
            options[name]["inception_weights"] = weights
    if sampler != "prior" and "fid" in names:
        options["fid"]["sampler"] = fitted_sampler(run, sampler, components=components)
    results = run_metrics(run.model, data, names, seed=seed, split=split,
                          batch_size=batch_size, progress=not quiet,  # stderr: --json too
                          options=options)
    key = section_key(split, checkpoint)
    for note in skipped:  # on stderr, so that --json output stays one JSON document
        click.echo(f"skipped {note}", err=True)
    try:
        merged = store_results(run.path, results, split=split, checkpoint=checkpoint)
    except rundir.WriteError as err:
        # Computed but not saved: show the numbers before the one-line error (exit 2).
        unsaved = results_section(results, rundir.checkpoint_stamp(run.path, checkpoint))
        if as_json:
            click.echo(json.dumps({key: unsaved}, indent=2))
        else:
            print_metrics(run.path, {key: unsaved}, console=terminal_console())
        raise rundir.WriteError(f"{err}; the metrics above were computed but not saved "
                                "(--json prints them to stdout)") from None
    if as_json:
        click.echo(json.dumps({key: merged}, indent=2))
        return
    print_metrics(run.path, {key: merged}, console=terminal_console())


# -- compare ------------------------------------------------------------------------
def _run_row(path: Path, section_key: str) -> dict[str, Any]:
    from vaelab import rundir
    from vaelab.describe import describe_model
    from vaelab.run import checkpoint_config, warn

    if not path.is_dir():
        raise VaelabError(f"run directory {path} does not exist; give folders that "
                          "`vaelab train` wrote")
    info = rundir.read_json(path / rundir.CONFIG_FILE)
    metrics, stale = rundir.read_metrics(path)
    for note in stale:
        click.echo(f"warning: {note}", err=True)
    config, problem = checkpoint_config(path, info.get("config", {}))
    warn(problem, rundir.READER_NOTE)
    return {
        "run": str(path),
        "dataset": config.get("data", {}).get("dataset"),
        "model": describe_model(config),
        "epochs": len(rundir.read_history(path / rundir.HISTORY_FILE)),
        "metrics": metrics.get(section_key, {}),
    }


def compared_numbers(rows: list[dict]) -> tuple[list[Number], list[str], dict[str, str]]:
    """The headline numbers some run has, the notes on runs scored differently, and the
    best run of each comparable number with a direction (missing values never rank)."""
    from vaelab.metrics.columns import comparability_notes, metrics_in_order, numbers_of
    from vaelab.metrics.shown import HEADLINE, best_index

    sections = [row["metrics"] for row in rows]
    numbers = [n for metric in metrics_in_order() for n in numbers_of(metric, HEADLINE)
               if any(n.value(s) is not None for s in sections)]
    notes, concerned = comparability_notes(sections, [row["dataset"] for row in rows])
    best = {}
    for number in numbers:
        if number.label not in concerned:
            index = best_index([number.value(s) for s in sections], number.better)
            if index is not None:
                best[number.label] = rows[index]["run"]
    return numbers, notes, best


@cli.command("compare", context_settings=CONTEXT)
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path())
@click.option("--split", type=click.Choice(["test", "val"]), default="test", show_default=True,
              help="Whose metrics: those of `vaelab eval --split`.")
@click.option("--checkpoint", type=click.Choice(["last", "best"]), default="last",
              show_default=True, help="Whose metrics: those of `vaelab eval --checkpoint`.")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
def compare(run_dirs: tuple[str, ...], split: str, checkpoint: str, as_json: bool) -> None:
    """Several runs side by side, from their metrics.json (run `vaelab eval` first; this
    command computes nothing). Warns when runs were scored differently; the best value of
    each comparable column is bold (a run without a number is never ranked)."""
    from rich.markup import escape
    from rich.table import Table

    from vaelab.metrics.shown import units_line

    key = split if checkpoint == "last" else f"{split}_best"
    rows = [_run_row(Path(path), key) for path in run_dirs]
    numbers, notes, best = compared_numbers(rows)
    if as_json:
        click.echo(json.dumps({"section": key, "runs": rows, "notes": notes, "best": best},
                              indent=2))
        return
    table = Table(title=f"vaelab compare ({key})")
    table.add_column("run", overflow="fold")
    table.add_column("epochs", justify="right")
    for number in numbers:
        table.add_column(escape(number.header), justify="right")
    for row in rows:
        cells = []
        for number in numbers:
            text = escape(number.text(row["metrics"]))
            cells.append(f"[bold]{text}[/]" if best.get(number.label) == row["run"] else text)
        table.add_row(escape(Path(row["run"]).name), str(row["epochs"]), *cells)
    console = terminal_console()
    console.print(table)
    # Under the table, at full width: the models, the estimators and the warnings.
    lines = [f"{Path(row['run']).name}: {row['dataset']}, {row['model']}" for row in rows]
    lines.append(units_line(numbers) + (" · bold: best of the runs" if best else ""))
    lines += estimator_lines((number.header, number.estimator_text(row["metrics"]))
                             for number in numbers for row in rows)
    for line in dict.fromkeys(lines):
        console.print(indented(line))
    for note in notes:
        console.print(indented(note, "yellow"))
