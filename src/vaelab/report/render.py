"""Render the one HTML page of a report (jinja2, autoescaped: every string that came
from a file or a folder name is HTML-escaped; only vaelab's own CSS, script and base64
images are inserted as is). The rows and cells come from the modules beside this one:
cells (numbers), config_prose, metric_rows, comparison (tables across runs), findings.

The page makes no network request: images are data: URIs, CSS and the table-sorting
script are inline, and a Content-Security-Policy that allows nothing else (the inline
CSS and script by their SHA-256 hashes) guards against anything that slipped through.
"""

from __future__ import annotations

import base64
import hashlib
import shlex
import time
from typing import Any

from markupsafe import Markup

from vaelab.describe import describe_model
from vaelab.report.comparison import aggregate_table, runs_table
from vaelab.report.config_prose import config_rows, flat_config, status_cell
from vaelab.report.findings import findings_of
from vaelab.report.metric_rows import breakdown_tables, metric_rows, units_note
from vaelab.report.reader import Image, RunData, SweepData

# Marks a file as a vaelab report, so that --out overwrites reports but nothing else.
MARKER = '<meta name="generator" content="vaelab-report">'


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
            "base": describe_model(sweep.spec["base"]) if isinstance(sweep.spec.get("base"),
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
            "breakdowns": breakdown_tables(run.metrics), "units": units_note(run.metrics)}
