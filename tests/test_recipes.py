"""Recipes: every recipe's sweep is valid, its findings logic gives the right verdicts on
known numbers, and one quick recipe runs end to end into figures, findings and a report."""

import copy

import pytest
from conftest import run_cli

from vaelab.errors import VaelabError
from vaelab.recipes import RECIPES, Results, run_recipe
from vaelab.recipes.architecture_depth import HIDDEN, STUDY_PARAMETERS
from vaelab.recipes.base import Finding, SeedRun
from vaelab.recipes.rules import Estimate

NAMES = ["posterior-collapse", "fashion-vae-vs-ae", "architecture-depth", "beta-sweep",
         "likelihood-and-prior", "disentanglement"]


def test_the_five_studies_are_registered():
    # and the literature check (tests/test_literature_recipe.py)
    assert sorted(RECIPES.names()) == sorted([*NAMES, "literature"])


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
    """Results with given numbers instead of a sweep directory. A number stands for three
    seeds that all measured it (standard error 0), a list for the seeds' values."""

    SEEDS = 3

    def __init__(self, values, histories=None, metrics=None):
        self.values, self.histories, self.extra = values, histories or {}, metrics or {}
        self.quick = False
        self.manifest = {}  # its spec's defaults: the domain classifier's FID
        self.misses = []

    def points(self):
        return list(self.values)

    def summary_stats(self, point, key):
        value = self.values.get(point, {}).get(key)
        if value is None:
            return None
        seeds = value if isinstance(value, list) else [value] * self.SEEDS
        estimate = Estimate.of(seeds)
        return {"mean": estimate.mean, "n": estimate.n,
                "std": None if estimate.se is None else estimate.se * len(seeds) ** 0.5}

    def seed_runs(self, point):
        """Each seed's metrics.json: the given numbers (seed i's value of a list) at
        their dotted keys, merged into the given metrics."""
        runs = []
        for seed in range(self.SEEDS):
            tree = copy.deepcopy(self.metrics(point))
            for key, value in self.values.get(point, {}).items():
                *parents, leaf = key.split(".")
                node = tree
                for part in parents:
                    node = node.setdefault(part, {})
                node[leaf] = value[seed] if isinstance(value, list) else value
            runs.append(SeedRun(tree, self.config(point), self.history(point)))
        return runs

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
    assert "domain-classifier FID" in findings[3].found
    inception = FakeResults(values, histories)
    inception.manifest = {"spec": {"fid_features": "inception"}}  # recipe --fid-features
    texts = [f.found for f in RECIPES.get("beta-sweep").findings(inception)]
    assert "Inception FID" in texts[3] and "domain-classifier" not in " ".join(texts)


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


@pytest.mark.parametrize("name", NAMES)
def test_full_runs_have_three_seeds_per_point_and_quick_runs_one(name):
    assert len(RECIPES.get(name).build(False).seeds) >= 3
    assert RECIPES.get(name).build(True).seeds == [0]


def test_a_finding_reading_a_number_the_recipe_did_not_compute_is_recorded():
    """Results.misses is what tests/test_recipes_quick.py checks on each quick run."""
    from vaelab.recipes.likelihood_and_prior import STUDY_FID

    values = {p: {"test.fid.fid_samples": fid} for p, fid in STUDY_FID.items()}
    values["kaiming BCE"]["test.fid.inception_score"] = 2.0
    results = FakeResults(values)
    RECIPES.get("likelihood-and-prior").findings(results)
    assert results.misses == ["perceptual+BCE: test.fid.inception_score"]
    values["perceptual+BCE"]["test.fid.inception_score"] = 3.0
    results = FakeResults(values)
    findings = RECIPES.get("likelihood-and-prior").findings(results)
    assert results.misses == []
    # Known numbers (three seeds each, no spread): the study's own FIDs rank perfectly,
    # 9 points → Monte Carlo permutation p-value of about 1/20001.
    assert findings[-1].verdict == "agrees" and findings[-1].numbers["p_value"] < 0.001
    assert findings[4].verdict == "agrees" and findings[4].numbers["difference"]["mean"] == 1


def test_every_finding_carries_its_rule_and_numbers():
    values = {"baseline": {"test.kl": [7.0, 8.0, 9.0], "test.recon": [470.0, 471.0, 469.0]},
              "warmup+free-bits": {"test.kl": [10.0] * 3, "test.recon": [465.0] * 3}}
    per_dim = {"baseline": [2.0] * 6 + [0.01] * 14, "warmup+free-bits": [0.5] * 20}
    metrics = {p: {"test": {"collapse": {"kl_per_dim": v}}} for p, v in per_dim.items()}
    findings = RECIPES.get("posterior-collapse").findings(FakeResults(values, None, metrics))
    assert all(f.rule for f in findings)
    kl = findings[1]
    # mean 8, se 1/√3 = 0.577: |8 − 7.98| + 1.155 ≤ 3.99
    assert kl.verdict == "agrees" and kl.numbers["baseline test KL"]["se"] == pytest.approx(
        1 / 3 ** 0.5)
    assert "within ±3.99" in kl.rule and kl.numbers["margin"] == pytest.approx(3.99)
    smoke = kl.smoke_test()
    assert smoke.verdict == "inconclusive" and smoke.rule.startswith("smoke test, no verdict")
    assert smoke.numbers == kl.numbers
