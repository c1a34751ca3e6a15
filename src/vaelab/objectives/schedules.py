"""KL-weight schedules: pure functions of an explicit optimiser step (DESIGN rule 4)."""

from __future__ import annotations

import math

from vaelab.registry import Registry


def linear_warmup(step: int, warmup_steps: int) -> float:
    """KL warm-up (Bowman et al. 2016; Sønderby et al. 2016): the KL weight rises linearly
    from 0 to 1 over ``warmup_steps`` steps, then stays 1. 0 steps = no warm-up."""
    if warmup_steps <= 0:
        return 1.0
    return min(1.0, step / warmup_steps)


def cyclical(step: int, cycle_steps: int, ramp_fraction: float = 0.5) -> float:
    """Cyclical annealing (Fu et al. 2019, eq. 3): in every cycle of ``cycle_steps`` steps
    the weight rises linearly from 0 to 1 over the first ``ramp_fraction`` of the cycle,
    then stays 1 until the cycle ends."""
    if cycle_steps <= 0:
        return 1.0
    position = (step % cycle_steps) / cycle_steps
    return min(1.0, position / ramp_fraction)


def steps_from(amount: float, unit: str, steps_per_epoch: int) -> int:
    """A schedule length given in epochs or steps, in steps."""
    return int(math.ceil(amount * steps_per_epoch)) if unit == "epochs" else int(amount)


KL_SCHEDULES = Registry("KL schedule")
KL_SCHEDULES.register("linear")(linear_warmup)
KL_SCHEDULES.register("cyclical")(cyclical)
