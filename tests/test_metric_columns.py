"""Metrics own their columns: `vaelab eval`, `vaelab compare`, the sweep summary and the
report show exactly what the registered metrics declare (metrics/shown.py). A number a
run does not have is "–" and never ranked: a plain autoencoder has a reconstruction
error but no ELBO. Runs here are hand-written directories (no training)."""

import json

import pytest
from conftest import run_cli
from rich.console import Console
from test_report import Tree

from vaelab import rundir
from vaelab.cli.common import print_metrics
from vaelab.cli.sweep import print_summary
from vaelab.config import Config
from vaelab.metrics import METRICS
from vaelab.metrics.base import register
from vaelab.metrics.shown import MISSING, Number, best_index
from vaelab.report import write_report
from vaelab.sweep import state
from vaelab.sweep.aggregate import summarize

SCORED = {"split": "test", "images": 359, "binarization": "none", "seed": 0}
ELBO_ESTIMATOR = "single-sample ELBO (β = 1, 1 posterior sample per image, seed 0)"
VAE_A = {**SCORED, "estimator": ELBO_ESTIMATOR, "elbo": -90.25, "recon": 70.5, "kl": 19.75,
         "bits_per_dim": 0.1734}
VAE_B = {**SCORED, "estimator": ELBO_ESTIMATOR, "elbo": -95.5, "recon": 80.0, "kl": 15.5,
         "bits_per_dim": 0.1835}
# What `--objective ae` writes: no ELBO, KL or bits/dim (an autoencoder has no ELBO).
AE = {**SCORED, "estimator": "autoencoder reconstruction error at the posterior mean "
      "(no KL: not an ELBO)", "recon": 55.125}


def write_run(path, test, *, objective="elbo"):
    config = Config().to_dict()
    config["data"]["dataset"], config["objective"]["name"] = "digits", objective
    config["train"]["epochs"] = 2
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"config": config}))
    rundir.write_csv(path / "history.csv", [{"epoch": 1, "epoch_seconds": 1.5},
                                            {"epoch": 2, "epoch_seconds": 2.5}])
    (path / "metrics.json").write_text(json.dumps({"test": test}))
    return path


@pytest.fixture
def runs(tmp_path):
    return {name: write_run(tmp_path / name, test, objective=objective)
            for name, test, objective in (("vae-a", VAE_A, "elbo"), ("vae-b", VAE_B, "elbo"),
                                          ("ae", AE, "ae"))}


def cells_of(text, first, table=None):
    """{header: cell} of the rich table row whose first cell is ``first`` (in the table
    titled ``table`` when given)."""
    headers, lines = [], text.splitlines()
    if table is not None:
        lines = lines[[line.strip() for line in lines].index(table):]
    for line in lines:
        if line.startswith("┃"):
            headers = [h.strip() for h in line.strip("┃").split("┃")]
        elif line.startswith("│"):
            cells = [c.strip() for c in line.strip("│").split("│")]
            if cells[0] == first:
                return dict(zip(headers, cells, strict=True))
    raise AssertionError(f"no row {first!r} in:\n{text}")


def eval_table(path, metrics):
    console = Console(record=True, width=100)
    print_metrics(path, metrics, console)
    return console.export_text()


def sweep_of(root, runs_by_group):
    """A finished sweep directory by the manifest contract, one run per group."""
    points = []
    for group, source in runs_by_group.items():
        name = f"{group}-seed0"
        target = root / "runs" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.mkdir()
        for file in ("config.json", "history.csv", "metrics.json"):
            (target / file).write_bytes((source / file).read_bytes())
        state.write_status(root, name, {"status": "done"})
        points.append({"group": group, "name": name, "run": f"runs/{name}",
                       "overrides": {"seed": 0}})
    return {"points": points}


def html_table(page, section_id):
    """Rows of the first table inside the section ``section_id``: [{header: td node}]."""
    section = next(n for n in Tree(page).root.find_all("section")
                   if n.attrs.get("id") == section_id)
    table = next(section.find_all("table"))
    headers = [th.text for th in table.find_all("th")]
    return [dict(zip(headers, tr.find_all("td"), strict=True))
            for tr in list(table.find_all("tr"))[1:]]


def column(row, label):
    return next(cell for header, cell in row.items() if header.startswith(label))


# -- missing is missing, never ranked ---------------------------------------------------------
def test_best_index_ignores_missing_values_and_directionless_columns():
    assert best_index([None, -95.5, -90.25], "higher") == 2
    assert best_index([None, 70.5, 55.125], "lower") == 2
    assert best_index([None, -90.25, None], "higher") is None  # one value: nothing to rank
    assert best_index([float("nan"), 1.0, 2.0], "lower") == 1
    assert best_index([1.0, 2.0], "") is None


def test_eval_table_of_an_autoencoder_shows_recon_and_no_elbo(runs):
    text = eval_table(runs["ae"], {"test": AE})
    row = cells_of(text, "test")
    assert row["recon error"] == "55.12" and row["ELBO"] == MISSING and row["KL"] == MISSING
    assert "lower is better: recon error" in " ".join(text.split())
    assert "not an ELBO" in " ".join(text.split())


def test_compare_keeps_an_autoencoder_out_of_the_elbo_ranking(runs, monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "100")
    paths = [runs[name] for name in ("ae", "vae-a", "vae-b")]
    code, out, err = run_cli(monkeypatch, capsys, "compare", *paths, "--json")
    assert code == 0, err
    shown = json.loads(out)
    assert shown["best"]["ELBO"] == str(runs["vae-a"])  # the AE has none: not ranked
    assert shown["best"]["reconstruction error"] == str(runs["ae"])  # lower is better
    assert shown["runs"][0]["model"].startswith("mlp") and shown["notes"] == []

    code, out, err = run_cli(monkeypatch, capsys, "compare", *paths)
    assert code == 0, err
    ae = cells_of(out, "ae")
    assert ae["ELBO"] == MISSING and ae["recon error"] == "55.12" and ae["KL"] == MISSING
    assert cells_of(out, "vae-a")["ELBO"] == "-90.25"
    assert "ae: digits, mlp" in out  # the model's one-line description, under the table


def test_sweep_summary_keeps_missing_values_missing(runs, tmp_path):
    sweep = tmp_path / "sweep"
    summary = summarize(sweep, sweep_of(sweep, {"vae": runs["vae-a"], "ae": runs["ae"]}))
    values = {g["group"]: g["values"] for g in summary["groups"]}
    assert values["vae"]["test.elbo"]["mean"] == -90.25
    assert "test.elbo" not in values["ae"]  # never averaged in as 0 or NaN
    assert values["ae"]["test.recon"]["mean"] == 55.125
    assert values["ae"]["train.seconds"]["mean"] == 4.0  # from history.csv
    keys = [m["key"] for m in summary["metrics"]]
    assert keys == ["test.elbo", "test.recon", "test.kl", "train.seconds"]
    label = next(m for m in summary["metrics"] if m["key"] == "test.recon")
    assert label["label"] == "test reconstruction error (nats)" and label["better"] == "lower"
    rows = (sweep / "summary.csv").read_text().splitlines()
    assert rows[2].startswith("ae,1,,,55.125,")  # empty ELBO cells, then the recon

    console = Console(record=True, width=100)
    print_summary(summary, console)
    ae = cells_of(console.export_text(), "ae")
    assert ae["ELBO"] == MISSING and ae["recon error"] == "55.12"


def test_report_shows_an_autoencoder_recon_and_never_ranks_its_missing_elbo(runs, tmp_path):
    out = write_report([runs["vae-a"], runs["vae-b"], runs["ae"]], tmp_path / "r.html")
    page = out.read_text(encoding="utf-8")
    a, b, ae = html_table(page, "comparison")
    elbo = [column(row, "test ELBO (nats)") for row in (a, b, ae)]
    assert elbo[2].text == MISSING and elbo[2].attrs["data-sort"] == ""  # sorted last
    assert ["best" in cell.attrs["class"] for cell in elbo] == [True, False, False]
    recon = [column(row, "test reconstruction error (nats)") for row in (a, b, ae)]
    assert recon[2].text == "55.12"
    assert ["best" in cell.attrs["class"] for cell in recon] == [False, False, True]
    tables = list(Tree(page).root.find_all("table", "metrics"))
    rows = list(tables[2].find_all("tr"))[1:]  # the AE's own metrics: its recon only
    assert len(rows) == 1 and "reconstruction error" in rows[0].text
    assert "55.12" in rows[0].text
    assert "not an ELBO" in tables[2].parent.parent.text  # its estimator, listed below


# -- a new metric shows everywhere ----------------------------------------------------------------
SHARPNESS = {**SCORED, "estimator": "mean gradient magnitude of decoded samples",
             "score": 0.4321}


def register_sharpness():
    """A throwaway metric declared like any other; the caller removes it again."""
    number = Number("edge sharpness", ("sharpness", "score"), unit="", format=".4f",
                    better="higher", short="sharpness", comparable=("images",))
    register("sharpness", key="sharpness", cheap=False, help="test only", title="sharpness",
             numbers=(number,))(lambda *args, **kwargs: {})


def test_a_newly_registered_metric_appears_in_all_four_outputs(runs, tmp_path, monkeypatch,
                                                               capsys):
    with_sharpness = {}
    for name in ("vae-a", "vae-b"):
        test = json.loads((runs[name] / "metrics.json").read_text())["test"]
        test["sharpness"] = {**SHARPNESS, "score": 0.4321 if name == "vae-a" else 0.125}
        (runs[name] / "metrics.json").write_text(json.dumps({"test": test}))
        with_sharpness[name] = test
    monkeypatch.setenv("COLUMNS", "120")
    with monkeypatch.context() as patch:
        patch.setattr(METRICS, "_entries", dict(METRICS._entries))  # restored on exit
        register_sharpness()

        row = cells_of(eval_table(runs["vae-a"], {"test": with_sharpness["vae-a"]}), "test",
                       table="sharpness")
        assert row["sharpness"] == "0.4321"

        code, out, err = run_cli(monkeypatch, capsys, "compare", runs["vae-a"], runs["vae-b"])
        assert code == 0, err
        assert cells_of(out, "vae-a")["sharpness"] == "0.4321"
        assert "mean gradient magnitude" in out

        sweep = tmp_path / "sweep"
        summary = summarize(sweep, sweep_of(sweep, {"a": runs["vae-a"], "b": runs["vae-b"]}))
        assert "test.sharpness.score" in [m["key"] for m in summary["metrics"]]
        assert "test.sharpness.score_mean" in (sweep / "summary.csv").read_text()
        console = Console(record=True, width=120)
        print_summary(summary, console)
        assert cells_of(console.export_text(), "a")["sharpness"] == "0.4321"

        page = write_report([runs["vae-a"], runs["vae-b"]], tmp_path / "r.html").read_text()
        a, _ = html_table(page, "comparison")
        cell = column(a, "test edge sharpness")
        assert cell.text == "0.4321" and "best" in cell.attrs["class"]
        rows = next(Tree(page).root.find_all("table", "metrics"))
        assert "edge sharpness" in rows.text and "sharpness.score" not in rows.text

    assert "sharpness" not in METRICS  # removed again: now an unknown, plainly shown number
    page = write_report([runs["vae-a"]], tmp_path / "again.html").read_text()
    assert "sharpness.score" in Tree(page).root.text


def test_each_number_names_its_own_estimator():
    """FID of samples and of reconstructions, the Inception-style score and the KL total
    each say what they are computed from (not only their metric's first estimator)."""
    from vaelab.report.cells import short_estimator

    section = {
        "fid": {"estimator": "Fréchet distance of F", "split": "test", "images": 50,
                "samples": 100, "sampler": "the normal prior", "reference_images": 50,
                "inception_score_estimator": "Inception-style score of F",
                "fid_samples": 9.0, "fid_reconstructions": 4.0, "inception_score": 2.0,
                "inception_score_reference": 8.0},
        "collapse": {"estimator": "active units: A; mutual information: B",
                     "kl_estimator": "analytic KL", "kl_total": 3.0, "active_units": 2},
    }
    texts = {number.label: number.estimator_text(section)
             for name in ("fid", "collapse") for number in METRICS.get(name).numbers}
    assert texts["FID samples"] == ("Fréchet distance of F; 100 samples from the normal "
                                    "prior against 50 test images")
    assert texts["FID reconstructions"] == ("Fréchet distance of F; reconstructions of the "
                                            "50 test images")
    assert texts["IS samples"] == "Inception-style score of F; 100 samples"
    assert texts["IS test set"] == "Inception-style score of F; 50 images"
    assert texts["KL total"] == "analytic KL"
    # A header's short form ends at the first stop, whichever comes first.
    assert short_estimator("bits per dimension of the 8-bit data: (nll + D·ln 256) / "
                           "(D ln 2)") == "bits per dimension of the 8-bit data"


def test_the_report_runs_table_names_each_columns_own_estimator():
    """Columns of the report's runs table that summary.json does not describe read the
    declared number's estimator text, as eval, compare and the sweep summary do."""
    from types import SimpleNamespace

    from vaelab.report.comparison import column_estimators, declared_columns

    fid = {"estimator": "Fréchet distance of F", "split": "test", "images": 50,
           "samples": 100, "sampler": "the normal prior", "reference_images": 50,
           "inception_score_estimator": "Inception-style score of F",
           "fid_samples": 9.0, "inception_score": 2.0}
    runs = [SimpleNamespace(metrics={"test": {"fid": fid}})]
    by_label = {column.declared: column for column in declared_columns()}
    assert column_estimators(by_label["IS samples"], runs) == [
        "Inception-style score of F; 100 samples"]
    assert column_estimators(by_label["FID samples"], runs) == [
        "Fréchet distance of F; 100 samples from the normal prior against 50 test images"]
