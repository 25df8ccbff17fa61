"""Signal-dependent (Poisson–Gaussian) noise parameters from the image: a robust line fit of the local noise
variance against the local mean, var = α (mean − μ) + σ² (gain α, offset μ, read noise σ).

Local statistics: in every b × b block (b = 8 by default) the mean of the pixels and the noise variance as the
mean square of the diagonal Haar details (a − b − c + d) / 2 of its 2 × 2 cells. For independent pixels that
detail has the mean of the four pixels' variances as its variance, while constant and linear structure and
every horizontal or vertical edge cancel in it: a block need not be flat, only smooth. The blocks are sorted by
their mean into equal-count bins; in each bin the block variances above Q3 + 3 IQR (edges and texture) are
dropped and the rest averaged. A weighted least-squares line through the bins (weights: the inverse variance of
a mean of n block variances of ν details each, ν n / (2 v²)), refitted twice without the bins more than 3
standard errors off the line, gives the slope α and the intercept c = σ² − α μ; the slope's standard error is the
larger of the one those weights imply and the one the scatter about the line implies.

Only α and c are identifiable from a mean–variance line, and only they enter the generalized Anscombe
transform and its closed-form inverse. They are reported as gain α with read noise σ = sqrt(c) and offset 0
when c >= 0, and as an offset μ = −c / α with no read noise when c < 0 (a pedestal added to the counts).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from zeroshot.noise.anscombe import PoissonGaussian

__all__ = ["PoissonGaussianFit", "estimate_poisson_gaussian"]


@dataclass(frozen=True, eq=False)
class PoissonGaussianFit:
    """The fitted line var = slope · mean + intercept and what it rests on.

    params: gain, offset and read noise (see the module's docstring); slope_se: the slope's standard error;
    means, variances (bins,): the bins' mean levels and noise variances; growth: the fitted variance at the
    90th percentile of the block means over that at the 10th (1 when the variance does not grow); blocks: how
    many blocks were used."""

    params: PoissonGaussian
    slope: float
    intercept: float
    slope_se: float
    means: np.ndarray
    variances: np.ndarray
    growth: float
    blocks: int


def _line(m: np.ndarray, v: np.ndarray, w: np.ndarray) -> tuple[float, float, float, np.ndarray]:
    """Weighted least squares v ≈ slope · m + intercept: (slope, intercept, slope's standard error, residuals
    in standard errors)."""
    sw = w.sum()
    mm = (w * m).sum() / sw
    vm = (w * v).sum() / sw
    sxx = (w * (m - mm) ** 2).sum()
    if sxx <= 0:
        return 0.0, float(vm), math.inf, np.zeros_like(v)
    slope = float((w * (m - mm) * (v - vm)).sum() / sxx)
    intercept = float(vm - slope * mm)
    resid = v - (slope * m + intercept)
    dof = max(m.size - 2, 1)
    scale = float((w * resid**2).sum() / dof)  # the residual variance factor (1 for a correct weighting)
    se = math.sqrt(max(scale, 1.0) / sxx)
    return slope, intercept, se, resid * np.sqrt(w / max(scale, 1.0))


def estimate_poisson_gaussian(image: np.ndarray, *, block: int = 8, bins: int = 16) -> PoissonGaussianFit:
    """Gain, offset and read noise of Poisson–Gaussian noise from the image (see the module's docstring).

    image: (R, C), at least 4 blocks. block: an even block side >= 2; bins: mean-level bins (lowered to a
    quarter of the blocks when there are few). ValueError if the image is too small or the fit has no spread
    of mean levels (a constant image)."""
    y = np.asarray(image, dtype=np.float64)
    if y.ndim != 2:
        raise ValueError(f"the Poisson–Gaussian fit needs a 2-D image, got shape {y.shape}")
    if not isinstance(block, (int, np.integer)) or block < 2 or block % 2:
        raise ValueError(f"block must be an even integer >= 2, got {block!r}")
    nr, nc = y.shape[0] // block, y.shape[1] // block
    if nr * nc < 4:
        raise ValueError(
            f"image of shape {y.shape} is too small to fit the noise's mean–variance line (needs 4 blocks of "
            f"{block} x {block})"
        )
    # On the scale of the image over its largest magnitude, so that no square overflows; scaled back at the end.
    peak = float(np.max(np.abs(y))) or 1.0
    y = y[: nr * block, : nc * block] / peak
    detail = (y[0::2, 0::2] - y[1::2, 0::2] - y[0::2, 1::2] + y[1::2, 1::2]) / 2.0
    h = block // 2
    block_var = (detail**2).reshape(nr, h, nc, h).mean(axis=(1, 3)).ravel()
    block_mean = y.reshape(nr, block, nc, block).mean(axis=(1, 3)).ravel()
    n_bins = int(max(2, min(bins, block_mean.size // 4)))
    order = np.argsort(block_mean, kind="stable")
    means, variances, counts = [], [], []
    for members in np.array_split(order, n_bins):
        v = block_var[members]
        q1, q3 = np.percentile(v, [25, 75])
        kept = members[v <= q3 + 3.0 * (q3 - q1)] if q3 > q1 else members
        means.append(block_mean[kept].mean())
        variances.append(block_var[kept].mean())
        counts.append(kept.size)
    m, v, n = np.array(means), np.array(variances), np.array(counts, dtype=np.float64)
    use = np.ones(m.size, dtype=bool)
    top = float(np.max(v))
    if not top > 0:
        raise ValueError("the image has no noise to fit (every local noise variance is 0)")
    for _ in range(3):
        # a bin's mean of n block variances, each a mean square of ν = (b/2)² details: variance 2 v² / (ν n)
        w = n[use] * (block // 2) ** 2 / (2.0 * np.maximum(v[use], 1e-6 * top) ** 2)
        slope, intercept, se, z = _line(m[use], v[use], w)
        outliers = np.zeros(m.size, dtype=bool)
        outliers[np.flatnonzero(use)[np.abs(z) > 3.0]] = True
        if not outliers.any() or use.sum() - outliers.sum() < 3:
            break
        use &= ~outliers
    if not np.isfinite(se) and slope == 0.0:
        raise ValueError("the image has a single mean level; the noise's mean–variance line cannot be fitted")
    slope, intercept, se = slope * peak, intercept * peak * peak, se * peak  # var/peak² against mean/peak
    m, v, block_mean = m * peak, v * peak * peak, block_mean * peak
    lo, hi = np.percentile(block_mean, [10, 90])
    at_lo, at_hi = slope * lo + intercept, slope * hi + intercept
    growth = float(at_hi / at_lo) if at_lo > 0 else (math.inf if at_hi > 0 else 1.0)
    gain = slope if slope > 0 else 1.0  # not signal-dependent: a placeholder gain, see PoissonGaussian
    if intercept >= 0:
        params = PoissonGaussian(gain, 0.0, math.sqrt(intercept))
    else:
        params = PoissonGaussian(gain, -intercept / gain, 0.0)
    return PoissonGaussianFit(params, slope, intercept, se, m, v, growth, int(block_mean.size))
