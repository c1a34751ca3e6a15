"""Learning-rate schedules: pure functions of the epoch (counted from 1) and the base
learning rate --lr (DESIGN rule 4). The trainer sets each epoch's rate before its first
step, so a resumed run follows the same schedule as an uninterrupted one.

- ``constant``: --lr throughout.
- ``burda``: Burda et al. 2015, §5 ("Importance Weighted Autoencoders"): stage i = 0…7
  lasts 3^i epochs at --lr·10^(−i/7) (with --lr 1e-3, the paper's 0.001·10^(−i/7));
  the stages end at epoch Σ_{j≤7} 3^j = 3280, and any later epoch keeps the last rate.
"""

from __future__ import annotations

from collections.abc import Callable

from vaelab.registry import Registry

BURDA_STAGES = 8  # i = 0 … 7

LR_SCHEDULES: Registry[Callable[[int, float], float]] = Registry("learning-rate schedule")


@LR_SCHEDULES.register("constant")
def constant(epoch: int, base_lr: float) -> float:
    return base_lr


def burda_stage(epoch: int) -> int:
    """The stage i of ``epoch`` (1-based): epochs 1 | 2–4 | 5–13 | 14–40 | … are stages
    0 | 1 | 2 | 3 | …; stage i ends at epoch (3^(i+1) − 1) / 2."""
    stage, end = 0, 1
    while epoch > end and stage < BURDA_STAGES - 1:
        stage += 1
        end += 3 ** stage
    return stage


@LR_SCHEDULES.register("burda")
def burda(epoch: int, base_lr: float) -> float:
    return base_lr * 10 ** (-burda_stage(epoch) / 7)


def burda_epochs() -> int:
    """Epochs of the whole schedule: Σ_{i=0}^{7} 3^i = 3280."""
    return sum(3 ** i for i in range(BURDA_STAGES))
