"""CI's smoke test of the five recipes: `vaelab recipe run NAME --quick`, as a user runs
it, end to end into runs, comparison figures, findings and report.html. These take a
few minutes in all on 2 CPU cores (the first also trains the FID classifiers, which are
then cached)."""

import json

import pytest
from conftest import has_dataset, run_cli

from vaelab.recipes import RECIPES, Results

NEEDS = {"posterior-collapse": "fashion-mnist", "fashion-vae-vs-ae": "fashion-mnist",
         "architecture-depth": "mnist", "beta-sweep": "mnist",
         "likelihood-and-prior": "mnist",
         "disentanglement": None}  # the procedural shapes set (dsprites when found)


@pytest.mark.parametrize("name", list(NEEDS))
def test_quick_recipe(name, tmp_path, monkeypatch, capsys):
    if NEEDS[name] is not None and not has_dataset(NEEDS[name]):
        pytest.skip(f"{NEEDS[name]} not found under $VAELAB_DATA")
    out = tmp_path / name
    code, stdout, err = run_cli(monkeypatch, capsys, "recipe", "run", name, "--quick",
                                "--out", out, "--quiet")
    assert code == 0, err
    assert f"report: {out / 'report.html'}" in stdout
    manifest = json.loads((out / "sweep.json").read_text())
    assert manifest["recipe"]["name"] == name and manifest["recipe"]["quick"] is True
    spec = RECIPES.get(name).build(True)
    assert len(manifest["points"]) == len(spec.runs())
    for entry in manifest["points"]:
        status = json.loads((out / "state" / f"{entry['name']}.json").read_text())
        assert status["status"] == "done", status
    findings = json.loads((out / "findings.json").read_text())
    assert findings["findings"]
    for finding in findings["findings"]:
        assert finding["verdict"] in ("agrees", "disagrees", "inconclusive")
        assert finding["found"] and finding["claim"]
        # One seed: a smoke test, no verdict, but the numbers and the full run's rule.
        assert finding["verdict"] == "inconclusive"
        assert finding["rule"].startswith("smoke test, no verdict"), finding
        assert isinstance(finding["numbers"], dict)
    # Issue 17 item 2: every number a finding reads was computed by the recipe.
    results = Results(out, quick=True)
    RECIPES.get(name).findings(results)
    assert results.misses == [], f"{name}'s findings read numbers it never computed"
    assert findings["notes"][0].startswith("--quick:")
    figures = list((out / "figures").glob("*.png"))
    assert figures and all(path.stat().st_size > 2000 for path in figures)
    html = (out / "report.html").read_text()
    assert RECIPES.get(name).question.split(",")[0] in html.replace("&#39;", "'")
    assert "Rule: smoke test, no verdict" in html
