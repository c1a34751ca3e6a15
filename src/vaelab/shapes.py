"""Image shapes: every image in vaelab is [C, H, W] (C = 1 grey, 3 RGB), flattened in C
order (channel-major) wherever a network or likelihood sees it as a vector of D = C·H·W
numbers. A two-number shape (H, W) is accepted where shapes come from outside (runs saved
before colour images, notebooks) and means one channel.
"""

from __future__ import annotations

from collections.abc import Sequence

from vaelab.errors import VaelabError


def chw(shape: Sequence[int]) -> tuple[int, int, int]:
    """(C, H, W) of an image shape given as (C, H, W) or, for grey images, (H, W)."""
    shape = tuple(int(side) for side in shape)
    if len(shape) == 2:
        return (1, *shape)
    if len(shape) == 3:
        return shape  # type: ignore[return-value]
    raise VaelabError(f"an image shape is (C, H, W) or (H, W), got {list(shape)}")


def describe_shape(shape: Sequence[int]) -> str:
    """'28×28 grey', '32×32 RGB' or '8×8×2 channels': for messages and listings."""
    channels, height, width = chw(shape)
    kind = {1: "grey", 3: "RGB"}.get(channels, f"{channels} channels")
    return f"{height}×{width} {kind}"
