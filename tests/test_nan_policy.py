"""--nan-policy: a non-finite loss or gradient stops training with a message naming the
step (stop) or drops exactly that optimiser step (skip), and a learned decoder scale can
neither collapse nor explode. Bad steps are injected deterministically."""

import pytest
import torch

import vaelab
import vaelab.api as api
from vaelab import rundir, trainer
from vaelab.config import LikelihoodConfig
from vaelab.errors import VaelabError
from vaelab.likelihoods import build_likelihood
from vaelab.objectives import build_objective

# digits: 1294 training images = 21 steps of 64 per epoch; step 30 (0-based) is epoch 2,
# batch 10, the run's 31st step.
TINY = dict(dataset="digits", hidden="32", latent_dim=4, batch_size=64, epochs=2)
pytestmark = pytest.mark.usefixtures("one_thread")
RUN_FILES = ("model.safetensors", "best.safetensors", "resume.safetensors", "history.csv")


class Poisoned:
    """The real objective, except that at ``bad_steps`` its loss (``where="loss"``) or,
    with a finite loss, one weight's gradient (``where="grad"``) becomes ``value``. It
    records the parameters and Adam's state as each step begins, and the run files'
    bytes as the first bad step begins."""

    def __init__(self, monkeypatch, run_path, bad_steps, where="loss", value=float("nan")):
        self.run_path, self.bad_steps, self.where, self.value = run_path, set(bad_steps), \
            where, value
        self.params, self.adam, self.files, self.optimizers = {}, {}, None, []
        self.poison_now = False
        monkeypatch.setattr(api, "build_objective", self.build)
        make = trainer.make_optimizer
        monkeypatch.setattr(trainer, "make_optimizer",
                            lambda model, config: self.optimizers.append(
                                make(model, config)) or self.optimizers[-1])

    def build(self, cfg, steps_per_epoch, train_size=None):
        self.inner = build_objective(cfg, steps_per_epoch, train_size)
        return self

    def __getattr__(self, name):  # everything else is the real objective's
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    def __call__(self, model, x, step, generator=None, kl_weight=None):
        if not self.params:  # once: a hook that can poison the gradient of one weight
            weight = next(model.decoder.parameters())
            weight.register_hook(
                lambda g: torch.full_like(g, self.value) if self.poison_now else None)
        self.params[step] = [p.detach().clone() for p in model.parameters()]
        self.adam[step] = [{k: v.clone() for k, v in s.items()}
                           for s in self.optimizers[-1].state.values()]
        out = self.inner(model, x, step, generator=generator, kl_weight=kl_weight)
        self.poison_now = step in self.bad_steps and self.where == "grad"
        if step in self.bad_steps:
            if self.files is None:
                self.files = {name: (self.run_path / name).read_bytes() for name in RUN_FILES}
            if self.where == "loss":
                out.loss = out.loss * self.value
        return out


def train(path, **overrides):
    return vaelab.train(out=path, progress=False, figures=False, **{**TINY, **overrides})


@pytest.mark.parametrize("where, value", [("loss", float("nan")), ("loss", float("inf")),
                                          ("grad", float("nan")), ("grad", float("inf"))])
def test_stop_names_the_step_and_leaves_the_last_checkpoint_untouched(
        tmp_path, monkeypatch, where, value):
    poisoned = Poisoned(monkeypatch, tmp_path / "run", [30], where, value)
    message = rf"non-finite {where if where == 'loss' else 'gradient'} at epoch 2, batch 10 " \
              r"\(step 31\); the checkpoint of epoch 1 .* is intact"
    with pytest.raises(VaelabError, match=message):
        train(tmp_path / "run", epochs=3)
    for name, content in poisoned.files.items():
        assert (tmp_path / "run" / name).read_bytes() == content, name
    assert rundir.load_checkpoint(tmp_path / "run" / "model.safetensors")[1]["epoch"] == 1


@pytest.mark.parametrize("where", ["loss", "grad"])
def test_skip_drops_exactly_the_bad_steps(tmp_path, monkeypatch, capsys, where):
    poisoned = Poisoned(monkeypatch, tmp_path / "run", [25, 27], where)
    run = train(tmp_path / "run", epochs=3, nan_policy="skip")
    assert [row["skipped_steps"] for row in run.history] == [0, 2, 0]
    assert all(torch.isfinite(torch.tensor(row["train_loss"])) for row in run.history)
    assert all(torch.isfinite(t).all() for t in run.model.state_dict().values())
    params, adam = poisoned.params, poisoned.adam
    for bad in (25, 27):  # parameters and Adam's moments and step count as they were
        for before, after in zip(params[bad], params[bad + 1], strict=True):
            assert torch.equal(before, after)
        for before, after in zip(adam[bad], adam[bad + 1], strict=True):
            assert before.keys() == after.keys()
            assert all(torch.equal(before[k], after[k]) for k in before)
    assert not torch.equal(params[26][0], params[27][0])  # a good step between them
    assert "skipped 2 of 21 optimiser steps" in capsys.readouterr().err


def test_skip_is_bit_for_bit_the_same_training_when_nothing_is_skipped(tmp_path):
    stop = train(tmp_path / "stop", binarize="dynamic", seed=3)
    skip = train(tmp_path / "skip", binarize="dynamic", seed=3, nan_policy="skip")
    for name, tensor in stop.model.state_dict().items():
        assert torch.equal(tensor, skip.model.state_dict()[name]), name
    drop = ("epoch_seconds",)
    assert [{k: v for k, v in r.items() if k not in drop} for r in stop.history] == \
        [{k: v for k, v in r.items() if k not in drop} for r in skip.history]


def test_too_many_skipped_steps_stop_training(tmp_path, monkeypatch):
    # From step 30 on every step is bad: the third skip of epoch 2 exceeds 10% of 21.
    poisoned = Poisoned(monkeypatch, tmp_path / "run", range(30, 63))
    with pytest.raises(VaelabError, match=r"3 steps of epoch 2 \(of 21\) had a non-finite "
                                          r"loss or gradient, more than the 10%.*diverged"):
        train(tmp_path / "run", epochs=3, nan_policy="skip")
    for name, content in poisoned.files.items():
        assert (tmp_path / "run" / name).read_bytes() == content, name


def test_nan_policy_is_a_checked_config_choice():
    with pytest.raises(VaelabError, match="nan-policy.*choose one of: stop, skip"):
        vaelab.Config().replace(nan_policy="ignore")


EXTREMES = [-float("inf"), -3.4e38, -1e30, -1e6, 0.0, 1e6, 1e30, 3.4e38, float("inf")]


@pytest.mark.parametrize("name", ["gaussian-learned", "laplace-learned"])
@pytest.mark.parametrize("layout", ["per-pixel", "shared"])
def test_a_learned_scale_can_neither_collapse_nor_explode(name, layout):
    """location_scale.py maps the raw scale through low + (high − low)·sigmoid(raw): any
    raw decoder output, however extreme, gives σ in [--sigma-min, --sigma-max] and a
    finite log-density with finite gradients."""
    cfg = LikelihoodConfig(name=name, learned_scale=layout, sigma_min=0.05, sigma_max=3.0)
    n = len(EXTREMES)
    likelihood = build_likelihood(cfg, data_dim=n)
    raw = torch.tensor(EXTREMES)
    location = raw.flip(0).expand(n, n)  # every location extreme with every scale extreme
    x = torch.rand(n, n, generator=torch.Generator().manual_seed(0))
    x[0], x[1] = 0.0, 1.0

    def check(params):
        params = params.clone().requires_grad_()
        likelihood.zero_grad()
        scale = likelihood.split(params)[1].detach()
        assert float(scale.min()) >= cfg.sigma_min and float(scale.max()) <= cfg.sigma_max
        log_prob = likelihood.log_prob(x, params)
        assert log_prob.shape == (n,) and torch.isfinite(log_prob).all()
        log_prob.sum().backward()
        assert torch.isfinite(params.grad).all()
        assert all(torch.isfinite(p.grad).all() for p in likelihood.parameters())

    if layout == "per-pixel":
        check(torch.cat([location, raw.expand(n, n).T], dim=-1))
    else:
        for value in EXTREMES:
            with torch.no_grad():
                likelihood.raw_scale.fill_(value)
            check(location)
