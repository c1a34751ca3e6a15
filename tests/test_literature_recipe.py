"""The literature recipe: the published settings and numbers of Burda et al. 2015 and
Tomczak & Welling 2018, its verdicts on known numbers, and its quick run end to end in CI,
interrupted in the middle of a run and resumed."""

import json

import pytest
import torch
from test_recipes import FakeResults

from vaelab import rundir
from vaelab.recipes import RECIPES, Results, run_recipe
from vaelab.recipes.literature import PUBLISHED, TOLERANCE
from vaelab.sweep import state as sweep_state
from vaelab.trainee import SingleTrainee

pytestmark = pytest.mark.usefixtures("one_thread")


def test_full_settings_are_the_papers():
    spec = RECIPES.get("literature").build(False)
    runs = {run.point: run.config for run in spec.runs()}
    assert spec.iw_samples == 5000 and set(runs) == set(PUBLISHED)
    assert [PUBLISHED[p][0] for p in runs] == [86.76, 85.54, 84.78, 85.57, 88.56]
    for point in ("burda-vae-k1", "burda-iwae-k5", "burda-iwae-k50"):
        config = runs[point]
        assert config.network.hidden == [200, 200] and config.network.activation == "tanh"
        assert config.network.latent_dim == 50 and config.train.batch_size == 20
        assert config.train.lr == 1e-3 and config.train.lr_schedule == "burda"
        assert config.train.adam_eps == 1e-4 and config.train.epochs == 3280
        assert config.data.binarize == "dynamic" and config.data.subset is None
    assert runs["burda-vae-k1"].objective.name == "elbo"
    assert runs["burda-iwae-k50"].objective.iwae_k == 50
    assert runs["burda-iwae-k5"].objective.iwae_k == 5
    vamp, standard = runs["vampprior-k500"], runs["standard-prior"]
    assert vamp.prior.name == "vampprior" and vamp.prior.components == 500
    assert standard.prior.name == "normal"
    for config in (vamp, standard):
        assert config.network.hidden == [300, 300] and config.network.gated
        assert config.network.latent_dim == 40 and config.train.batch_size == 100
        assert config.train.lr == 5e-4 and config.objective.warmup == 100
        assert config.data.val_fraction == pytest.approx(1 / 6)
    assert spec.base.replace(device="cuda").train.device == "cuda"  # --set device=cuda


class OneSeed(FakeResults):
    SEEDS = 1


def test_verdicts_on_known_numbers():
    values = {
        # |86.90 − 86.76| = 0.14 ≤ 2·0.1 + 0.3
        "burda-vae-k1": {"test.iw_nll.nll": 86.90, "test.iw_nll.nll_stderr": 0.1},
        # |85.00 − 85.54| = 0.54 > 0.5: disagrees, with the gap
        "burda-iwae-k5": {"test.iw_nll.nll": 85.00, "test.iw_nll.nll_stderr": 0.1},
        # three seeds: mean 84.9, se over seeds 0.1; 0.12 ≤ 0.2 + 0.3
        "burda-iwae-k50": {"test.iw_nll.nll": [84.8, 84.9, 85.0],
                           "test.iw_nll.nll_stderr": [5.0, 5.0, 5.0]},
    }
    results = FakeResults(values)  # three seeds
    three = RECIPES.get("literature").findings(results)[2]
    assert three.verdict == "agrees"
    # the standard error over the seeds (s = 0.1, n = 3), not the images'
    assert three.numbers["measured"]["se"] == pytest.approx(0.1 / 3 ** 0.5)
    del values["burda-iwae-k50"]
    findings = RECIPES.get("literature").findings(OneSeed(values))
    assert [f.verdict for f in findings] == ["agrees", "disagrees"] + ["inconclusive"] * 3
    assert findings[0].numbers["measured"] == {"mean": 86.90, "se": 0.1, "n": 1}
    assert findings[1].numbers["gap"] == pytest.approx(-0.54)
    assert "gap -0.54 nats" in findings[1].found and "published 85.54" in findings[1].found
    assert findings[1].numbers["tolerance"] == TOLERANCE


def test_quick_run_resumes_after_an_interruption(tmp_path, monkeypatch):
    """The quick run in CI (digits, 2 epochs, k = 50), stopped after the first epoch of
    its second run as a killed process would be, then run again: the finished run is kept,
    the interrupted one continues from its checkpoint, the report compares with the
    published numbers."""
    out = tmp_path / "literature"
    real_save, saved = SingleTrainee.save_resume, []

    def save_then_stop(trainee, index, optimizer):
        real_save(trainee, index, optimizer)
        name = trainee.members[index].run_path.name
        saved.append(name)
        if name == "burda-iwae-k5-seed0":
            raise KeyboardInterrupt  # its epoch 1 and resume state are on disk

    monkeypatch.setattr(SingleTrainee, "save_resume", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        run_recipe("literature", out, quick=True, workers=1, progress=False, report=False)
    monkeypatch.setattr(SingleTrainee, "save_resume", real_save)
    assert saved == ["burda-vae-k1-seed0"] * 2 + ["burda-iwae-k5-seed0"]
    first = out / "runs" / "burda-vae-k1-seed0" / "model.safetensors"
    stamp = first.stat().st_mtime_ns
    assert not sweep_state.is_done(out, "burda-iwae-k5-seed0")

    run_recipe("literature", out, quick=True, workers=1, progress=False)
    assert first.stat().st_mtime_ns == stamp  # finished runs are not redone
    interrupted = out / "runs" / "burda-iwae-k5-seed0"
    assert "resumed" in json.loads((interrupted / "config.json").read_text())
    assert len(rundir.read_history(interrupted / "history.csv")) == 2
    findings = json.loads((out / "findings.json").read_text())["findings"]
    assert len(findings) == 5 and all(f["numbers"]["measured"]["n"] == 1 for f in findings)
    assert all(f["verdict"] == "inconclusive" for f in findings)  # a smoke test
    results = Results(out, quick=True)
    RECIPES.get("literature").findings(results)
    assert results.misses == []
    html = (out / "report.html").read_text()
    assert "published 84.78" in html and "Rule: smoke test, no verdict" in html
    assert torch.get_num_threads() == 1
