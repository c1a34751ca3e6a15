"""--lr-schedule and --adam-eps: Burda et al. 2015's 3^i-epoch schedule as a pure function
of the epoch, applied by the trainer epoch by epoch, and followed exactly by a resumed run."""

import math

import pytest
import torch
from test_resume import assert_same_run

import vaelab
from vaelab.config import Config
from vaelab.errors import VaelabError
from vaelab.lr_schedules import LR_SCHEDULES, burda, burda_epochs, burda_stage
from vaelab.trainer import make_optimizer

pytestmark = pytest.mark.usefixtures("one_thread")
TINY = dict(dataset="digits", subset=200, hidden="16", latent_dim=2, batch_size=100,
            seed=3, figures=False, progress=False)


def test_burda_stages_by_hand():
    # Stage i lasts 3^i epochs: 1 | 2-4 | 5-13 | 14-40 | 41-121 | 122-364 | 365-1093 | 1094-3280
    ends = [1, 4, 13, 40, 121, 364, 1093, 3280]
    for stage, end in enumerate(ends):
        assert burda_stage(end) == stage and burda_stage(end + 1) == min(stage + 1, 7)
    assert burda_epochs() == 3280 == sum(3 ** i for i in range(8))
    assert burda(1, 1e-3) == 1e-3
    assert burda(3280, 1e-3) == pytest.approx(1e-4)  # 10^(−7/7)
    assert burda(20, 1e-3) == pytest.approx(1e-3 * 10 ** (-3 / 7))
    assert LR_SCHEDULES.get("constant")(3000, 2e-4) == 2e-4


def test_the_trainer_sets_each_epochs_rate(monkeypatch, tmp_path):
    seen = []
    real_step = torch.optim.Adam.step

    def step(self, *args, **kwargs):
        seen.append(self.param_groups[0]["lr"])
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", step)
    vaelab.train(out=tmp_path / "run", epochs=5, lr_schedule="burda", **TINY)
    # 200 images, batch 100: two steps an epoch; epoch 1 stage 0, 2-4 stage 1, 5 stage 2
    expected = [1e-3] * 2 + [1e-3 * 10 ** (-1 / 7)] * 6 + [1e-3 * 10 ** (-2 / 7)] * 2
    assert seen == pytest.approx(expected)


def test_resumed_run_follows_the_schedule(tmp_path):
    options = dict(TINY, lr_schedule="burda", adam_eps=1e-4)
    vaelab.train(out=tmp_path / "whole", epochs=5, **options)
    vaelab.train(out=tmp_path / "split", epochs=3, **options)
    vaelab.train(resume=tmp_path / "split", epochs=5, progress=False, figures=False)
    assert_same_run(tmp_path / "whole", tmp_path / "split")


def test_adam_eps_and_bad_values():
    config = Config().replace(adam_eps=1e-4)
    optimizer = make_optimizer(torch.nn.Linear(2, 2), config)
    assert optimizer.defaults["eps"] == 1e-4 and optimizer.defaults["betas"][1] == 0.999
    with pytest.raises(VaelabError, match="lr-schedule"):
        Config().replace(lr_schedule="cosine")
    with pytest.raises(VaelabError, match="adam-eps"):
        Config().replace(adam_eps=0.0)
    assert not math.isnan(burda(10 ** 6, 1e-3))
