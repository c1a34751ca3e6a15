"""Recipes: every recipe's sweep is valid, its findings logic gives the right verdicts on
known numbers, and one quick recipe runs end to end into figures, findings and a report."""

import pytest
from conftest import run_cli

from vaelab.errors import VaelabError
from vaelab.recipes import RECIPES, Results, run_recipe
from vaelab.recipes.architecture_depth import HIDDEN, STUDY_PARAMETERS
from vaelab.recipes.base import Finding

NAMES = ["posterior-collapse", "fashion-vae-vs-ae", "architecture-depth", "beta-sweep",
         "likelihood-and-prior", "disentanglement"]


def test_the_five_studies_are_registered():
    assert sorted(RECIPES.names()) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("quick", [False, True])
def test_recipe_sweeps_are_valid(name, quick):
    spec = RECIPES.get(name).build(quick)
    runs = spec.runs()  # validates every point's config
    assert runs and len({r.dir_name for r in runs}) == len(runs)
    epochs = {r.config.train.epochs for r in runs}
    if quick:
        assert max(epochs) <= 3 and all(r.config.data.subset for r in runs)
    else:
        assert all(r.config.data.subset is None for r in runs)


def test_depth_recipe_matches_the_study_parameter_counts():
    """Known answer: the study's table 2, with one learned σ shared by all pixels."""
    import torch

    from vaelab.model import VAE

    spec = RECIPES.get("architecture-depth").build(False)
    for run in spec.runs():
        torch.manual_seed(0)
        model = VAE(run.config, (28, 28))
        assert model.parameter_counts()["total"] == STUDY_PARAMETERS[run.point], run.point
    assert set(HIDDEN) == set(STUDY_PARAMETERS)


class FakeResults(Results):
    """Results with given numbers instead of a sweep directory."""

    def __init__(self, values, histories=None, metrics=None):
        self.values, self.histories, self.extra = values, histories or {}, metrics or {}
        self.quick = False

    def points(self):
        return list(self.values)

    def value(self, point, key):
        return self.values.get(point, {}).get(key)

    def history(self, point):
        return self.histories.get(point, [])

    def metrics(self, point):
        return self.extra.get(point, {})

    def seed_metrics(self, point):
        return [self.extra[point]] if point in self.extra else []

    def config(self, point):
        return {"config": {"likelihood": {"sigma": 0.5 ** 0.5}}, "parameters": {}}


def verdicts(findings: list[Finding]) -> list[str]:
    return [f.verdict for f in findings]


def test_beta_sweep_findings_on_known_numbers():
    values = {"ae": {"test.recon": 60.0, "test.kl": 0.0, "test.fid.fid_samples": 90.0}}
    for beta, recon, kl, fid in [(0, 61.0, 80.0, 70.0), (0.01, 65, 50, 40), (0.1, 70, 30, 20),
                                 (0.2, 75, 25, 25), (1, 85, 20, 30), (10, 150, 3, 60)]:
        values[f"beta={beta:g}"] = {"test.recon": recon, "test.kl": kl,
                                    "test.fid.fid_samples": fid, "test.elbo": -(recon + kl)}
    histories = {"beta=0": [{"train_kl": 20.0}, {"train_kl": 40.0}, {"train_kl": 60.0}]}
    findings = RECIPES.get("beta-sweep").findings(FakeResults(values, histories))
    assert verdicts(findings) == ["agrees"] * 5
    values["beta=0.01"]["test.fid.fid_samples"] = 10.0  # now β = 0.01 has the best samples
    histories["beta=0"].reverse()  # and the KL falls
    findings = RECIPES.get("beta-sweep").findings(FakeResults(values, histories))
    assert verdicts(findings) == ["agrees", "disagrees", "agrees", "disagrees", "agrees"]


def test_missing_numbers_are_inconclusive_not_guessed():
    for name in NAMES:
        findings = RECIPES.get(name).findings(FakeResults({}))
        assert findings
        assert set(verdicts(findings)) == {"inconclusive"}, name


def test_posterior_collapse_counts_dims_carrying_kl():
    per_dim = {"baseline": [2.0] * 6 + [0.01] * 14, "warmup+free-bits": [0.5] * 20}
    metrics = {p: {"test": {"collapse": {"kl_per_dim": v}}} for p, v in per_dim.items()}
    values = {"baseline": {"test.kl": 9.0, "test.recon": 470.0},
              "warmup+free-bits": {"test.kl": 10.0, "test.recon": 465.0}}
    findings = RECIPES.get("posterior-collapse").findings(FakeResults(values, None, metrics))
    assert verdicts(findings)[:4] == ["agrees", "agrees", "agrees", "agrees"]
    assert "6 of 20" in findings[0].found and "6 → 20" in findings[2].found


def test_unknown_recipe_and_bad_set(tmp_path, monkeypatch, capsys):
    with pytest.raises(VaelabError, match="unknown recipe 'beta-swep'.*'beta-sweep'"):
        run_recipe("beta-swep", tmp_path / "x")
    code, _, err = run_cli(monkeypatch, capsys, "recipe", "run", "beta-sweep", "--set",
                           "betta=1", "--out", tmp_path / "y")
    assert code == 2 and "betta" in err and not (tmp_path / "y").exists()


def test_recipe_list(monkeypatch, capsys):
    code, out, _ = run_cli(monkeypatch, capsys, "recipe", "list")
    assert code == 0 and all(name in out for name in NAMES)
