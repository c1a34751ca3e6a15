"""The objectives that need more from the training loop (an auxiliary network, separate
encoder/decoder targets, M×K samples) train from the command line, and eval, compare and
the report describe them."""

import html
import json

import pytest
from conftest import run_cli

from vaelab.describe import describe_model
from vaelab.run import load_run

OBJECTIVES = {
    "factorvae": ["--discriminator-hidden", "16", "--gamma", 5],
    "miwae": ["--iwae-m", 2, "--iwae-k", 2],
    "piwae": ["--iwae-m", 2, "--iwae-k", 2],
    "ciwae": ["--ciwae-beta", 0.5, "--iwae-k", 3],
}


@pytest.mark.slow  # four trainings, figures, eval, compare and a report: ~30 s
def test_each_trains_on_digits_and_is_described_by_eval_compare_and_report(
        tmp_path, monkeypatch, capsys):
    runs = []
    for name, options in OBJECTIVES.items():
        out = tmp_path / name
        code, _, err = run_cli(monkeypatch, capsys, "train", "--dataset", "digits", "--epochs",
                               1, "--hidden", 16, "--latent-dim", 2, "--objective", name,
                               *options, "--quiet", "--out", out)
        assert code == 0, err
        code, stdout, err = run_cli(monkeypatch, capsys, "eval", out, "--json", "--quiet")
        assert code == 0, err
        test = json.loads(stdout)["test"]
        # The honest number is the true ELBO whatever the training objective was.
        assert test["elbo"] < 0 and test["estimator"].startswith("single-sample ELBO (β = 1")
        runs.append(out)
    code, stdout, err = run_cli(monkeypatch, capsys, "compare", *runs, "--json")
    assert code == 0, err
    rows = json.loads(stdout)["runs"]
    for out, row in zip(runs, rows, strict=True):
        line = describe_model(load_run(out).config)
        assert row["model"] == line and out.name in line
    assert "factorvae γ=5" in rows[0]["model"] and "not a bound" in rows[0]["model"]
    assert "miwae M=2, K=2" in rows[1]["model"]
    assert "piwae M=2, K=2 (decoder: iwae of M·K samples; encoder: miwae)" in rows[2]["model"]
    assert "ciwae β=0.5, K=3" in rows[3]["model"]
    code, _, err = run_cli(monkeypatch, capsys, "report", *runs, "--out", tmp_path / "r.html")
    assert code == 0, err
    page = html.unescape((tmp_path / "r.html").read_text())
    for row in rows:
        assert row["model"] in page
