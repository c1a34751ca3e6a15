"""Turn what the reader found into the rows and cells of the report, and render the one
HTML file (jinja2, autoescaped: every string that came from a file or a folder name is
HTML-escaped; only vaelab's own CSS, script and base64 images are inserted as is).

The page makes no network request: images are data: URIs, CSS and the table-sorting
script are inline, and a Content-Security-Policy that allows nothing else (the inline
CSS and script by their SHA-256 hashes) guards against anything that slipped through.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import shlex
import textwrap
import time
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from vaelab.report.reader import VERDICTS, Image, RunData, SweepData

# Marks a file as a vaelab report, so that --out overwrites reports but nothing else.
MARKER = '<meta name="generator" content="vaelab-report">'
MISSING = "–"


# -- numbers -----------------------------------------------------------------------
def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def fmt(value: Any, spec: str | None = None) -> str:
    """A number as shown in a table: integers with thousands separators, nats with two
    decimals, small numbers with three significant digits."""
    if value is None:
        return MISSING
    if not _is_number(value):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if spec is not None:
        return format(value, spec)
    if isinstance(value, int):
        return f"{value:,}"
    if value == 0 or abs(value) >= 1:
        return f"{value:,.2f}"
    return f"{value:.3g}"


def sort_key(value: Any) -> str:
    """What the sorting script compares: the raw number, or "" (sorted last)."""
    if _is_number(value) and math.isfinite(value):
        return repr(value)
    return ""


@dataclass
class Cell:
    text: str
    sort: str | None = None  # data-sort; None: sort by the text
    href: str | None = None  # an in-page link ("#run-3")
    badge: str | None = None  # CSS class of a badge around the text
    wrap: bool = False  # long text: give the column room to wrap


def number_cell(value: Any, spec: str | None = None) -> Cell:
    return Cell(fmt(value, spec), sort=sort_key(value))


def plus_minus(cell: Cell, value: Any, spread: Any) -> Cell:
    """Append "± spread" to a number cell, with the number's decimals (44.20 ± 0.04)."""
    if spread is None or cell.text == MISSING:
        return cell
    same = _is_number(value) and _is_number(spread) and math.isfinite(value) and (
        value == 0 or abs(value) >= 1) and not isinstance(value, int)
    cell.text += f" ± {fmt(spread, ',.2f') if same else fmt(spread)}"
    return cell


def get(tree: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(tree, dict) or key not in tree:
            return None
        tree = tree[key]
    return tree


def section(tree: Any, key: str) -> dict[str, Any]:
    """``tree[key]`` when it is a JSON object, else {} (a hand-edited file may hold
    anything; the page shows what it can rather than failing)."""
    value = tree.get(key) if isinstance(tree, dict) else None
    return value if isinstance(value, dict) else {}


def joined(values: Any, sep: str) -> str:
    return sep.join(map(str, values)) if isinstance(values, list) else str(values)


def short_estimator(text: str, limit: int = 64) -> str:
    """The first clause of an estimator description, for a table header (the full text
    goes in the header's tooltip and in the legend under the table)."""
    for stop in (" (", "; ", ": "):
        if stop in text:
            text = text.split(stop, 1)[0]
    return text if len(text) <= limit else text[:limit - 1] + "…"


@dataclass
class Header:
    label: str
    sub: str = ""  # the estimator, shortened
    title: str = ""  # the full estimator, as a tooltip
    numeric: bool = False


@dataclass
class Table:
    headers: list[Header]
    rows: list[list[Cell]]
    legend: list[tuple[str, str]]  # (column, full estimator)
    notes: list[str]


# -- one run -------------------------------------------------------------------------
BADGES = {"finished": "ok", "failed": "bad"}


def status_cell(run: RunData) -> Cell:
    text = run.status if run.status in BADGES else "not finished"
    if run.status_note:
        text += f": {run.status_note}"
    return Cell(text, badge=BADGES.get(run.status, "warn"))


def model_summary(config: dict[str, Any]) -> str:
    net, lik, prior, obj = (section(config, k) for k in ("network", "likelihood", "prior",
                                                         "objective"))
    return (f"{network_text(net)}; {likelihood_text(lik)}; {prior_text(prior)}; "
            f"{objective_text(obj)}")


def network_text(net: dict[str, Any]) -> str:
    name = net.get("name", "mlp")
    if name == "conv":
        text = f"conv {joined(net.get('channels', []), '-')}"
    else:
        hidden = net.get("hidden") or []
        text = f"{name} {joined(hidden, '-')}" if hidden else f"{name} linear"
        if net.get("gated"):
            text += " gated"
    return f"{text}, z = {net.get('latent_dim')}, {net.get('activation')}"


def likelihood_text(lik: dict[str, Any]) -> str:
    name = str(lik.get("name"))
    if name in ("gaussian", "laplace"):
        return f"{name} ({'σ' if name == 'gaussian' else 'b'} = {fmt(lik.get('sigma'))})"
    if name.endswith("-learned"):
        return (f"{name} ({lik.get('learned_scale')} scale in [{lik.get('sigma_min')}, "
                f"{lik.get('sigma_max')}])")
    if name == "perceptual":
        return (f"perceptual (λ = {lik.get('perceptual_weight')}, pixel loss "
                f"{lik.get('pixel_loss')})")
    return name


def prior_text(prior: dict[str, Any]) -> str:
    name = str(prior.get("name"))
    if name == "normal":
        return f"normal N({prior.get('mean')}, {prior.get('std')}²)"
    if name == "laplace":
        return f"laplace ({prior.get('mean')}, b = {prior.get('scale')})"
    if name in ("mog", "vampprior"):
        return f"{name} ({prior.get('components')} components)"
    return name


def objective_text(obj: dict[str, Any]) -> str:
    name = str(obj.get("name"))
    parts = []
    if name != "ae" and obj.get("beta", 1.0) != 1.0:
        parts.append(f"β = {obj.get('beta')}")
    if obj.get("warmup"):
        parts.append(f"{obj.get('anneal')} warm-up {obj.get('warmup')} {obj.get('warmup_unit')}")
    if obj.get("free_bits"):
        parts.append(f"free bits {obj.get('free_bits')} nats/dim")
    if name == "iwae":
        parts.append(f"k = {obj.get('iwae_k')}")
    return f"{name} ({', '.join(parts)})" if parts else name


def config_rows(run: RunData) -> list[tuple[str, str]]:
    """The config summary: what a reader needs to know to interpret the numbers."""
    config, info = run.config, run.info
    data, train, described = section(config, "data"), section(config, "train"), section(
        info, "data")
    dataset = str(data.get("dataset"))
    if described:
        shape = joined(described.get("image_shape", []), "×")
        dataset += (f": {fmt(described.get('n_train'))} train / {fmt(described.get('n_val'))} "
                    f"val / {fmt(described.get('n_test'))} test images, {shape}")
    dataset += f"; binarization {data.get('binarize')}"
    if data.get("subset"):
        dataset += f"; subset {data.get('subset')}"
    epochs = f"{len(run.history)} of {train.get('epochs')}"
    seconds = sum(row.get("epoch_seconds", 0.0) for row in run.history)
    if run.history:
        epochs += f" ({seconds:.1f} s)"
        last = run.history[-1]
        if "val_elbo" in last and math.isfinite(last["val_elbo"]):
            epochs += f"; last val ELBO {fmt(last['val_elbo'])} nats"
    counts = section(info, "parameters")
    parameters = fmt(counts.get("total"))
    if counts:
        parameters += " (" + ", ".join(f"{k} {fmt(v)}" for k, v in counts.items()
                                       if k != "total") + ")"
    rows = [
        ("dataset", dataset),
        ("network", network_text(section(config, "network"))),
        ("likelihood", likelihood_text(section(config, "likelihood"))),
        ("prior", prior_text(section(config, "prior"))),
        ("objective", objective_text(section(config, "objective"))),
        ("epochs", epochs),
        ("seed", str(train.get("seed", info.get("seed")))),
        ("training", f"batch {train.get('batch_size')}, lr {train.get('lr')}, device "
                     f"{info.get('device', train.get('device'))}"),
        ("parameters", parameters),
    ]
    versions = ", ".join(f"{name} {info[key]}" for name, key in
                         (("vaelab", "vaelab_version"), ("torch", "torch_version"),
                          ("python", "python_version")) if key in info)
    if info.get("created") or versions:
        rows.append(("created", " · ".join(filter(None, [str(info.get("created") or ""),
                                                           versions]))))
    command = info.get("command")
    if isinstance(command, list) and command:
        rows.append(("command", shlex.join(map(str, command))))
    return rows


def flat_config(config: dict[str, Any]) -> list[tuple[str, str]]:
    """Every resolved config value, as ``section.key`` = JSON."""
    return [(f"{section}.{key}", json.dumps(value, ensure_ascii=False))
            for section, fields in config.items() if isinstance(fields, dict)
            for key, value in fields.items()]


@dataclass
class MetricRow:
    split: str
    metric: str
    value: Cell
    estimator: str  # the full text: estimator, images, binarisation, checkpoint
    brief: str  # its first clauses, shown in the row
    ref: int = 0  # number of the estimator in the list under the table


# (metric name, field, format) of the numbers shown for each metric group.
ELBO_FIELDS = [("ELBO", "elbo", None), ("reconstruction", "recon", None), ("KL", "kl", None),
               ("bits/dim", "bits_per_dim", ".4f")]
KNOWN_GROUPS = {"per_class", "iw_nll", "collapse", "fid", "probe"}
# Section fields that describe the scoring, not results.
PROVENANCE = {"split", "images", "binarization", "estimator", "units", "seed", "checkpoint",
              "likelihood_is_density"}


def brief(estimator: str) -> str:
    """"active units: Var(..) > 0.01 (Burda); mutual information: ..." → "active units;
    mutual information": the name of each clause."""
    names = [short_estimator(clause) for clause in estimator.split("; ") if clause]
    return "; ".join(dict.fromkeys(names))


def _row(split: str, metric: str, value: Cell, stats: dict[str, Any], extra: str = ""
         ) -> MetricRow:
    estimator = str(stats.get("estimator", ""))
    scoring = [f"{fmt(stats['images'])} images" if "images" in stats else "",
               f"binarization {stats['binarization']}" if "binarization" in stats else "",
               f"{stats['checkpoint']} checkpoint" if "checkpoint" in stats else "", extra]
    full = "; ".join(filter(None, [estimator, ", ".join(filter(None, scoring))]))
    return MetricRow(split, metric, value, full, brief(estimator))


def metric_rows(metrics: dict[str, Any]) -> tuple[list[MetricRow], list[str]]:
    """One row per number of metrics.json, in the order `vaelab eval` prints them, and
    the list of their estimators (with k, images, binarisation, checkpoint) that the
    rows refer to by number."""
    rows: list[MetricRow] = []
    for split, section in metrics.items():
        if not isinstance(section, dict):
            continue
        bound = ("" if section.get("likelihood_is_density", True) else
                 "the likelihood is a loss, not a density: the ELBO is not a bound")
        for name, key, spec in ELBO_FIELDS:
            if key in section:
                rows.append(_row(split, name, number_cell(section[key], spec), section, bound))
        nll = section.get("iw_nll")
        if isinstance(nll, dict):
            value = plus_minus(number_cell(nll.get("nll")), nll.get("nll"), nll.get("nll_stderr"))
            rows.append(_row(split, f"IS-NLL (k = {fmt(nll.get('k'))})", value, nll))
            rows.append(_row(split, "IS-NLL bits/dim",
                             number_cell(nll.get("bits_per_dim"), ".4f"), nll))
        collapse = section.get("collapse")
        if isinstance(collapse, dict):
            kl = f"KL {collapse.get('kl_estimator', '')}"
            units = number_cell(collapse.get("active_units"))
            units.text += f" of {fmt(collapse.get('latent_dim'))}"
            info = number_cell(collapse.get("mutual_information"))
            info.text += f" (max {fmt(collapse.get('mutual_information_max'))})"
            rows += [_row(split, "active units", units, collapse, kl),
                     _row(split, "I(x;z)", info, collapse, kl),
                     _row(split, "KL total", number_cell(collapse.get("kl_total")), collapse,
                          kl)]
        fid = section.get("fid")
        if isinstance(fid, dict):
            samples = f"{fmt(fid.get('samples'))} samples"
            score = plus_minus(number_cell(fid.get("inception_score")),
                               fid.get("inception_score"), fid.get("inception_score_std"))
            rows += [_row(split, "FID samples", number_cell(fid.get("fid_samples")), fid,
                          samples),
                     _row(split, "FID reconstructions",
                          number_cell(fid.get("fid_reconstructions")), fid, samples),
                     _row(split, "IS samples", score, fid, samples),
                     _row(split, "IS test set",
                          number_cell(fid.get("inception_score_reference")), fid, samples)]
        probe = section.get("probe")
        if isinstance(probe, dict):
            rows += [_row(split, name, number_cell(probe.get(key), ".1%"), probe)
                     for name, key in (("linear probe accuracy", "accuracy"),
                                       ("chance", "chance"), ("k-means purity", "kmeans_purity"))]
        # Metrics this version does not know yet: their plain numbers, so none is hidden.
        for key, value in section.items():
            if isinstance(value, dict) and key not in KNOWN_GROUPS:
                rows += [_row(split, f"{key}.{field_}", number_cell(number), value)
                         for field_, number in value.items()
                         if _is_number(number) and field_ not in PROVENANCE]
            elif (_is_number(value) and key not in PROVENANCE
                  and key not in {f for _, f, _ in ELBO_FIELDS}):
                rows.append(_row(split, key, number_cell(value), section))
    estimators: list[str] = []
    for row in rows:
        if row.estimator not in estimators:
            estimators.append(row.estimator)
        row.ref = estimators.index(row.estimator) + 1
    return rows, estimators


def per_class_tables(metrics: dict[str, Any]) -> list[tuple[str, Table]]:
    tables = []
    for split, section in metrics.items():
        per_class = section.get("per_class") if isinstance(section, dict) else None
        if isinstance(per_class, dict):
            headers = [Header("class")] + [Header(label, numeric=True) for label in
                                           ("images", "ELBO", "reconstruction", "KL")]
            rows = [[Cell(str(name))] + [number_cell(get(row, (key,))) for key in
                                         ("images", "elbo", "recon", "kl")]
                    for name, row in per_class.items()]
            tables.append((split, Table(headers, rows, [], [])))
    return tables


# -- comparison across runs ---------------------------------------------------------------
@dataclass
class Column:
    label: str
    path: tuple[str, ...]  # into metrics.json
    spec: str | None = None
    estimator: str | None = None  # from summary.json; else read from the runs' metrics
    better: str = ""  # "higher" or "lower", from summary.json


# The key numbers of a run, from its test section (those of `vaelab compare`).
DEFAULT_COLUMNS = [
    Column("test ELBO", ("test", "elbo")),
    Column("IS-NLL", ("test", "iw_nll", "nll")),
    Column("active units", ("test", "collapse", "active_units")),
    Column("I(x;z)", ("test", "collapse", "mutual_information")),
    Column("KL", ("test", "collapse", "kl_total")),
    Column("FID", ("test", "fid", "fid_samples")),
    Column("IS", ("test", "fid", "inception_score")),
    Column("probe acc.", ("test", "probe", "accuracy"), ".1%"),
]


def summary_columns(summary: dict[str, Any] | None) -> list[Column]:
    columns = []
    for metric in (summary or {}).get("metrics", []):
        key = str(metric.get("key", ""))
        columns.append(Column(str(metric.get("label") or key), tuple(key.split(".")),
                              estimator=str(metric.get("estimator") or ""),
                              better=str(metric.get("better") or "")))
    return columns


def numbers(run: RunData) -> dict[str, Any]:
    """metrics.json plus ``train.seconds`` from the history, the tree that summary.json's
    dotted keys point into (as `vaelab sweep` aggregates them)."""
    if not run.history or "train" in run.metrics:
        return run.metrics
    seconds = sum(row.get("epoch_seconds", 0.0) for row in run.history)
    return {**run.metrics, "train": {"seconds": seconds}}


def column_estimators(column: Column, runs: list[RunData]) -> list[str]:
    """From summary.json, else the estimators of the metric dicts holding the numbers."""
    if column.estimator is not None:
        return [column.estimator] if column.estimator else []
    parents = [get(run.metrics, column.path[:-1]) for run in runs]
    return sorted({str(p["estimator"]) for p in parents
                   if isinstance(p, dict) and column.path[-1] in p and "estimator" in p})


def estimator_header(label: str, estimators: list[str], *, better: str = "",
                     ks: list[Any] | None = None) -> Header:
    """A number column's header: its label, then which way is better, k and the first
    clause of its estimator (the full text is the tooltip and goes in the legend)."""
    sub = ""
    if len(estimators) > 1:
        sub = "estimators differ, see below"
    elif estimators and "; " not in estimators[0]:  # "a: ..; b: .." names several: legend
        sub = short_estimator(estimators[0])
        if len(sub) > 32:  # headers stay narrow
            sub = textwrap.shorten(sub.split(", ", 1)[0], 32, placeholder=" …")
        if sub.lower() == label.lower():
            sub = ""
    if ks and "k = " not in sub:
        sub = f"k = {', '.join(map(fmt, ks))}" + (f"; {sub}" if sub else "")
    if better in ("higher", "lower"):
        sub = f"{better} is better" + (f"; {sub}" if sub else "")
    return Header(label, sub=sub, title="\n".join(estimators), numeric=True)


def legend_of(columns: list[tuple[str, list[str]]]) -> list[tuple[str, str]]:
    """(column labels, estimator): columns that share an estimator are named together."""
    grouped: dict[str, list[str]] = {}
    for label, estimators in columns:
        for estimator in estimators:
            grouped.setdefault(estimator, []).append(label)
    return [(", ".join(labels), estimator) for estimator, labels in grouped.items()]


def comparison_notes(runs: list[RunData]) -> list[str]:
    """Why some numbers of the table may not be comparable (as `vaelab compare` warns)."""
    finished = [run for run in runs if run.info]
    notes = []
    datasets = sorted({str(section(run.config, "data").get("dataset")) for run in finished})
    if len(datasets) > 1:
        notes.append(f"runs are on different datasets ({', '.join(datasets)}): their numbers "
                     "are not comparable")
    for what, path in (("test ELBO", ("test",)), ("IS-NLL", ("test", "iw_nll"))):
        for field_ in ("binarization", "images", "k"):
            values = {json.dumps(get(run.metrics, (*path, field_))) for run in finished
                      if isinstance(get(run.metrics, path), dict)} - {"null"}
            if len(values) > 1:
                notes.append(f"{what}: runs differ in {field_} ({', '.join(sorted(values))}); "
                             "those numbers are not comparable")
    return notes


def runs_table(runs: list[RunData], anchors: dict[int, str], *, sweep_columns: bool,
               summary: dict[str, Any] | None = None, sweep_names: dict[int, str] | None = None
               ) -> Table:
    """One row per run, key metrics as columns (only those some run has)."""
    columns = summary_columns(summary)
    taken = {c.path for c in columns}
    columns += [c for c in DEFAULT_COLUMNS if c.path not in taken]
    trees = [numbers(run) for run in runs]
    columns = [c for c in columns if any(get(tree, c.path) is not None for tree in trees)]
    headers = [Header("run")]
    if sweep_names:
        headers.append(Header("sweep"))
    if sweep_columns:
        headers += [Header("group"), Header("seed", numeric=True), Header("overrides")]
    # A sweep's runs share the base model (shown under the table); their overrides differ.
    headers += [Header("status")] + ([] if sweep_columns else [Header("model")])
    headers += [Header("epochs", numeric=True), Header("parameters", numeric=True)]
    estimators = [column_estimators(column, runs) for column in columns]
    for column, texts in zip(columns, estimators, strict=True):
        ks = sorted({get(tree, (*column.path[:-1], "k")) for tree in trees} - {None}, key=str)
        headers.append(estimator_header(column.label, texts, better=column.better, ks=ks))
    rows = []
    for run, tree in zip(runs, trees, strict=True):
        anchor = anchors.get(id(run))
        row = [Cell(run.label, href=f"#{anchor}" if anchor else None)]
        if sweep_names:
            row.append(Cell(sweep_names.get(id(run), "")))
        if sweep_columns:
            point = run.point or {}
            row += [Cell(str(point.get("group", ""))), number_cell(point.get("seed")),
                    Cell(overrides_text(point.get("overrides")))]
        row.append(status_cell(run))
        if not sweep_columns:
            row.append(Cell(model_summary(run.config) if run.info else MISSING, wrap=True))
        row += [number_cell(len(run.history) if run.info else None),
                number_cell(get(run.info, ("parameters", "total")))]
        row += [number_cell(get(tree, c.path), c.spec) for c in columns]
        rows.append(row)
    legend = legend_of([(c.label, texts) for c, texts in zip(columns, estimators, strict=True)])
    return Table(headers, rows, legend, comparison_notes(runs))


def overrides_text(overrides: Any) -> str:
    if not isinstance(overrides, dict):
        return "" if overrides is None else str(overrides)
    return ", ".join(f"{key}={json.dumps(value, ensure_ascii=False)}"
                     for key, value in overrides.items())


# -- sweeps ----------------------------------------------------------------------------
def aggregate_table(summary: dict[str, Any]) -> Table:
    """summary.json's groups: mean ± std over seeds, n, with the estimator per metric."""
    metrics = summary.get("metrics", [])
    headers = [Header("group"), Header("overrides"), Header("n", numeric=True)]
    columns = summary_columns(summary)
    headers += [estimator_header(c.label, column_estimators(c, []), better=c.better)
                for c in columns]
    legend = legend_of([(c.label, column_estimators(c, [])) for c in columns])
    rows = []
    for group in summary.get("groups", []):
        row = [Cell(str(group.get("group", ""))), Cell(overrides_text(group.get("overrides"))),
               number_cell(group.get("n"))]
        values = group.get("values") if isinstance(group.get("values"), dict) else {}
        for metric in metrics:
            stats = values.get(str(metric.get("key", "")))
            stats = stats if isinstance(stats, dict) else {}
            cell = plus_minus(number_cell(stats.get("mean")), stats.get("mean"), stats.get("std"))
            if stats.get("n") is not None and stats.get("n") != group.get("n"):
                cell.text += f" (n = {fmt(stats['n'])})"
            row.append(cell)
        rows.append(row)
    return Table(headers, rows, legend, [])


@dataclass
class Finding:
    claim: str
    source: str
    found: str
    verdict: str
    badge: str  # CSS class, from a fixed list


def findings_of(sweep: SweepData) -> tuple[str, list[Finding], list[str]]:
    findings = sweep.findings or {}
    recipe = sweep.spec.get("recipe") if isinstance(sweep.spec.get("recipe"), dict) else {}
    question = str(findings.get("question") or recipe.get("question") or "")
    items = []
    for item in findings.get("findings", []):
        verdict = str(item.get("verdict", ""))
        items.append(Finding(str(item.get("claim", "")), str(item.get("source", "")),
                             str(item.get("found", "")), verdict or "no verdict",
                             verdict if verdict in VERDICTS else "unknown"))
    notes = findings.get("notes", [])
    return question, items, [str(n) for n in notes] if isinstance(notes, list) else [str(notes)]


# -- the page ----------------------------------------------------------------------------
def data_uri(image: Image) -> str:
    return f"data:{image.mime};base64,{base64.b64encode(image.data).decode('ascii')}"


def _csp_hash(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode()


def _environment() -> Any:
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("vaelab.report", "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters["data_uri"] = data_uri
    return env


def render(items: list[RunData | SweepData], *, title: str | None = None) -> str:
    """The whole page for the directories read, in the order given."""
    from vaelab import __version__

    env = _environment()
    style = env.loader.get_source(env, "report.css")[0]
    script = env.loader.get_source(env, "report.js")[0]
    runs = [item for item in items if isinstance(item, RunData)]
    sweeps = [item for item in items if isinstance(item, SweepData)]
    every_run = runs + [run for sweep in sweeps for run in sweep.runs]
    anchors: dict[int, str] = {}  # id(run) → the id of its section
    for run in every_run:
        if run.info:  # a run not started yet gets a table row but no section
            anchors[id(run)] = f"run-{len(anchors) + 1}"
    sweep_names = {id(run): sweep.label for sweep in sweeps for run in sweep.runs}
    overall = None
    if len(runs) > 1 or (runs and sweeps) or len(sweeps) > 1:
        overall = runs_table(every_run, anchors, sweep_columns=False,
                             sweep_names=sweep_names if sweeps else None)
    if title is None:
        if len(items) == 1 and sweeps:
            title = str(sweeps[0].spec.get("title") or sweeps[0].spec.get("name")
                        or sweeps[0].label)
        elif len(items) == 1:
            title = f"vaelab run {runs[0].label}"
        else:
            title = f"vaelab report: {len(every_run)} runs"
    sweep_views = []
    for i, sweep in enumerate(sweeps, 1):
        question, findings, finding_notes = findings_of(sweep)
        sweep_views.append({
            "sweep": sweep, "anchor": f"sweep-{i}",
            "title": str(sweep.spec.get("title") or sweep.spec.get("name") or sweep.label),
            "recipe": sweep.spec.get("recipe") if isinstance(sweep.spec.get("recipe"), dict)
            else None,
            "question": question, "findings": findings, "finding_notes": finding_notes,
            "aggregate": aggregate_table(sweep.summary) if sweep.summary else None,
            "runs_table": runs_table(sweep.runs, anchors, sweep_columns=True,
                                     summary=sweep.summary),
            "base": model_summary(sweep.spec["base"]) if isinstance(sweep.spec.get("base"),
                                                                     dict) else "",
            "command": shlex.join(map(str, sweep.spec["command"]))
            if isinstance(sweep.spec.get("command"), list) else "",
            "runs": [run_view(run, anchors[id(run)]) for run in sweep.runs if id(run) in anchors],
        })
    page = env.get_template("report.html.j2").render(
        title=title, generated=time.strftime("%Y-%m-%d %H:%M:%S %z"), version=__version__,
        inputs=[item.label for item in items], overall=overall, sweeps=sweep_views,
        runs=[run_view(run, anchors[id(run)]) for run in runs],
        style=Markup(style), script=Markup(script), marker=Markup(MARKER),
        csp=f"default-src 'none'; img-src data:; style-src '{_csp_hash(style)}'; "
            f"script-src '{_csp_hash(script)}'; base-uri 'none'; form-action 'none'")
    return page


def run_view(run: RunData, anchor: str) -> dict[str, Any]:
    rows, estimators = metric_rows(run.metrics)
    return {"run": run, "anchor": anchor, "status": status_cell(run),
            "config": config_rows(run), "flat_config": flat_config(run.config),
            "metrics": rows, "estimators": estimators,
            "per_class": per_class_tables(run.metrics)}
