"""Maximum mean discrepancy between two samples, for the objectives that match the
aggregate posterior q(z) to the prior p(z) by samples (infovae, wae-mmd)."""

from __future__ import annotations

import torch

# Scales of the kernel sum of the WAE paper (Tolstikhin et al. 2018, §4: the IMQ kernel
# summed over C = s·2·d_z·σ_z² for these s), with σ_z = 1 (an N(0, I) prior).
WAE_SCALES = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


def rbf(squared_distances: torch.Tensor, c: float) -> torch.Tensor:
    """Gaussian kernel exp(−‖x − y‖² / C)."""
    return torch.exp(-squared_distances / c)


def imq(squared_distances: torch.Tensor, c: float) -> torch.Tensor:
    """Inverse multiquadratics kernel C / (C + ‖x − y‖²) (Tolstikhin et al. 2018, §4): its
    heavy tails keep a gradient for codes far from the prior's samples."""
    return c / (c + squared_distances)


KERNELS = {"rbf": rbf, "imq": imq}


def squared(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """‖x_i − y_j‖² [n, m] from differences (exact 0 on the diagonal, and a finite
    gradient there, unlike the square of torch.cdist)."""
    return (x.unsqueeze(1) - y.unsqueeze(0)).pow(2).sum(-1)


def mmd(x: torch.Tensor, y: torch.Tensor, kernel: str, scales: tuple[float, ...] = (1.0,)
        ) -> torch.Tensor:
    """MMD² between samples x [n, Z] and y [n, Z] (a scalar) with the kernel summed over
    C = s·2·Z for s in ``scales``. The unbiased U-statistic of Gretton et al. 2012 (eq. 3;
    WAE's Algorithm 2): within-sample pairs i ≠ j over n(n − 1), cross pairs over n².
    One pair (n = 1) has no within-sample pairs: then the V-statistic, which counts i = j."""
    n, dim = x.shape
    within_x, within_y, across = squared(x, x), squared(y, y), squared(x, y)
    total = x.new_zeros(())
    for scale in scales:
        k = KERNELS[kernel]
        c = scale * 2.0 * dim
        kxx, kyy, kxy = k(within_x, c), k(within_y, c), k(across, c)
        if n > 1:
            off_diagonal = 1.0 - torch.eye(n, device=x.device, dtype=x.dtype)
            same = ((kxx + kyy) * off_diagonal).sum() / (n * (n - 1))
        else:
            same = (kxx + kyy).sum()
        total = total + same - 2.0 * kxy.mean()
    return total
