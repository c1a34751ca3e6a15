"""`vaelab eval` with metrics and `vaelab compare`, as a user drives them: tables,
metrics.json merged (never clobbered), --json, and one-line errors."""

import json

import numpy as np
import pytest
from conftest import run_cli

import vaelab


def train_digits(path, **overrides):
    settings = dict(dataset="digits", hidden="32", latent_dim=4, epochs=2, batch_size=64)
    return vaelab.train(out=path, progress=False, figures=False, **{**settings, **overrides})


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    return train_digits(root / "a"), train_digits(root / "b", latent_dim=3, beta=2.0)


def metrics_of(run):
    return json.loads((run.path / "metrics.json").read_text())


def test_eval_default_metrics_table_and_merge(runs, monkeypatch, capsys):
    run = runs[0]
    written_by_train = metrics_of(run)["test"]
    code, out, err = run_cli(monkeypatch, capsys, "eval", run.path, "--quiet")
    assert code == 0, err
    for title in ("ELBO per class", "posterior collapse", "of 4 dimensions active",
                  "latent usefulness", "Var_x(E_q[z_j]) > 0.01"):
        assert title in " ".join(out.split()), title
    test = metrics_of(run)["test"]
    assert test["elbo"] == pytest.approx(written_by_train["elbo"])
    assert {"per_class", "collapse", "probe", "checkpoint"} <= set(test)
    assert test["collapse"]["seed"] == 0 and test["collapse"]["split"] == "test"

    code, out, err = run_cli(monkeypatch, capsys, "eval", run.path, "--metrics", "iw-nll",
                             "--iw-samples", 20, "--json")
    assert code == 0, err
    shown = json.loads(out)["test"]
    assert shown["iw_nll"]["k"] == 20 and shown["iw_nll"]["nll"] > -shown["elbo"] - 5
    assert "collapse" in metrics_of(run)["test"]  # merged, not clobbered
    assert shown["iw_nll"]["binarization"] == "none"


def test_eval_fid_trains_and_caches_the_digits_classifier(runs, tmp_path, monkeypatch, capsys):
    from vaelab import classifier

    monkeypatch.setenv("VAELAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(classifier, "MIN_STEPS", 60)
    code, out, err = run_cli(monkeypatch, capsys, "eval", runs[0].path, "--metrics", "fid",
                             "--fid-samples", 200, "--quiet", "--checkpoint", "best")
    assert code == 0, err
    assert "domain-classifier features" in out and "NOT Inception" in " ".join(out.split())
    stats = metrics_of(runs[0])["test_best"]["fid"]
    assert stats["fid_samples"] > 0 and stats["feature_network"]["dataset"] == "digits"
    assert len(list((tmp_path / "cache" / "classifiers").glob("*-ref-*.safetensors"))) == 1


def test_compare_puts_runs_side_by_side_and_flags_differences(runs, monkeypatch, capsys):
    a, b = runs
    for run, k in ((a, 10), (b, 30)):
        code, _, err = run_cli(monkeypatch, capsys, "eval", run.path, "--metrics",
                               "elbo,iw-nll,collapse", "--iw-samples", k, "--quiet")
        assert code == 0, err
    code, out, err = run_cli(monkeypatch, capsys, "compare", a.path, b.path)
    assert code == 0, err
    flat = " ".join(out.split())
    assert "IS-NLL" in out and "AU" in out and "β=2.0" in flat
    assert "runs differ in k" in flat
    code, out, err = run_cli(monkeypatch, capsys, "compare", a.path, b.path, "--json")
    rows = json.loads(out)["runs"]
    assert [row["metrics"]["iw_nll"]["k"] for row in rows] == [10, 30]
    assert rows[1]["metrics"]["collapse"]["latent_dim"] == 3


@pytest.mark.parametrize("args, fragment", [
    (["--metrics", "iw-nl"], "unknown metric 'iw-nl' (did you mean 'iw-nll'?)"),
    (["--metrics", ","], "--metrics is empty"),
    (["--metrics", "iw-nll", "--iw-samples", "0"], "--iw-samples must be >= 1"),
    (["--metrics", "fid", "--fid-samples", "1"], "--fid-samples must be >= 2"),
    (["--batch-size", "0"], "--batch-size must be >= 1"),
])
def test_eval_errors_are_one_line(runs, monkeypatch, capsys, args, fragment):
    before = (runs[0].path / "metrics.json").read_text()
    code, _, err = run_cli(monkeypatch, capsys, "eval", runs[0].path, *args)
    assert code == 2 and fragment in err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert (runs[0].path / "metrics.json").read_text() == before


def test_unlabelled_data_skips_or_refuses_label_metrics(tmp_path, monkeypatch, capsys):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "x.npz", x=rng.integers(0, 256, (200, 6, 6), dtype=np.uint8))
    run = train_digits(tmp_path / "run", dataset="npz", data_path=str(tmp_path / "x.npz"),
                       epochs=1)
    code, out, err = run_cli(monkeypatch, capsys, "eval", run.path, "--quiet")
    assert code == 0 and "skipped probe" in err  # defaults: skipped, said so
    assert "per_class" not in metrics_of(run)["test"]
    for args in (["--metrics", "probe"], ["--per-class"]):
        code, _, err = run_cli(monkeypatch, capsys, "eval", run.path, *args)
        assert code == 2 and "need class labels" in err and err.count("\n") == 1, args
    # --all is every metric that applies: the label metrics are skipped, as by default.
    # (Cut down to the label metric and two cheap ones, so that no classifier trains.)
    from vaelab import metrics as metrics_package

    monkeypatch.setattr(metrics_package, "parse_metric_names",
                        lambda text, all_metrics=False: ["elbo", "collapse", "probe"])
    code, out, err = run_cli(monkeypatch, capsys, "eval", run.path, "--all", "--quiet")
    assert code == 0 and "skipped probe: the test split has no labels" in err, err
    assert "collapse" in metrics_of(run)["test"]


def test_all_skips_a_metric_the_model_family_does_not_fit(runs, monkeypatch, capsys):
    """--all on a plain VAE: code-nll (a VQ-VAE's code prior) is skipped with a note and
    the others are computed and saved; asked for by name it is refused in one line before
    anything is computed, from the command line and from Python."""
    from vaelab import metrics as metrics_package
    from vaelab.errors import VaelabError

    run = runs[1]
    before = (run.path / "metrics.json").read_text()
    code, _, err = run_cli(monkeypatch, capsys, "eval", run.path, "--metrics",
                           "collapse,code-nll", "--quiet")
    assert code == 2 and err.count("\n") == 1, err
    assert "metric code-nll needs a model with a learned code prior (--model vqvae)" in err
    assert (run.path / "metrics.json").read_text() == before
    loaded = vaelab.load_run(run.path)
    with pytest.raises(VaelabError, match="code-nll needs a model with a learned code"):
        metrics_package.evaluate(loaded.model, loaded.data, ["elbo", "code-nll"])

    monkeypatch.setattr(metrics_package, "parse_metric_names",
                        lambda text, all_metrics=False: ["elbo", "collapse", "code-nll"])
    code, out, err = run_cli(monkeypatch, capsys, "eval", run.path, "--all", "--json",
                             "--quiet")
    assert code == 0, err
    assert "skipped code-nll: it needs a model with a learned code prior" in err
    assert "collapse" in json.loads(out)["test"] and "code_nll" not in json.loads(out)["test"]


def test_compare_of_a_missing_run_is_one_line(monkeypatch, capsys, tmp_path):
    code, _, err = run_cli(monkeypatch, capsys, "compare", tmp_path / "nope")
    assert code == 2 and "does not exist" in err and err.count("\n") == 1
