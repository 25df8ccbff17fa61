"""The noise model of a run (`noise="auto" | "white" | "poisson" | "correlated"`): decided from the image, and
applied around the learning as a forward transform of the image and an inverse of the results.

`auto` decides in this order (thresholds and why):
1. **poisson** when the image is integer-valued (counts) and its noise variance grows with its mean: the fitted
   mean–variance line (`estimate_poisson_gaussian`) has a slope more than POISSON_MIN_T standard errors above 0
   and predicts at the 90th percentile of the block means at least POISSON_MIN_GROWTH times the variance at the
   10th. Both are needed: a clipped 8-bit image has integer values and a variance that shrinks at the clip,
   which tilts the line but not by much, and a flat count image has nothing to fit (there the transform would
   be nearly affine anyway). Measured: Poisson images of the House at peaks 1–16 give growth 2.6–2.7 and
   t > 30; white and correlated noise on the standard images and plaids give growth 0.8–1.13 and t < 1.4.
2. **correlated** when the diagonal-detail ratio q (`correlation_ratio`; 1 for white noise) is below
   CORRELATION_MAX_Q = 0.6, a lag-1 correlation of about 0.23 for a Gaussian-shaped ACF, "well above zero".
   q is measured in the flattest quarter of the image's 16-px blocks, where noise rather than structure shows:
   on the standard images white noise σ 25 gives 0.89–0.99, the 1-pixel Gaussian blur 0.14–0.16, the SARS-CoV-2
   slice 0.25; Poisson counts at 100 per grey level (reliability review R3, where structure dominates) 0.74–0.97
   (over the whole image they gave 0.48–0.66 and were taken for correlated noise), except the fingerprint, which
   is structure everywhere (0.19). Images with fewer than CORRELATION_MIN_PIXELS pixels are not judged (white).
3. **white** otherwise.

`correlated` records the estimated ACF; the patches are whitened by the noise covariance it gives
(`zeroshot.noise.whitening`) and the posterior mean is sharpened by a Wiener pass (`zeroshot.pipeline.second_pass`).

`poisson` transforms the image with the generalized Anscombe transform (`zeroshot.noise.anscombe`), the white
model denoises it there, and the closed-form exact unbiased inverse brings the denoised image back; the moment
maps go back by the delta method (variance, within and between by (dI/dD)², the third moment by (dI/dD)³,
the skewness unchanged). With `white`, nothing is estimated and nothing is transformed: the results are
bitwise those of the white pipeline.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from zeroshot.noise.anscombe import PoissonGaussian, gat_inverse, gat_inverse_derivative
from zeroshot.noise.patch_size import estimate_noise_sigma
from zeroshot.noise.signal_dependent import PoissonGaussianFit, estimate_poisson_gaussian
from zeroshot.noise.statistics import NoiseACF, correlation_ratio, estimate_noise_acf
from zeroshot.patches.moments import PixelMoments

__all__ = [
    "CORRELATION_MAX_Q",
    "NATIVE_POISSON",
    "NOISE_MODELS",
    "NoiseModel",
    "decide_noise",
    "native_poisson",
]

NOISE_MODELS = ("auto", "white", "poisson", "correlated")
# The kind of the runs of model pmm, which models Poisson counts natively (no transform; see native_poisson).
NATIVE_POISSON = "poisson-native"
CORRELATION_MAX_Q = 0.6
CORRELATION_MIN_PIXELS = 32 * 32
POISSON_MIN_T = 3.0
POISSON_MIN_GROWTH = 1.5
# Squares of values beyond this overflow float64: such an image is judged by the scale-free ratio q alone (its
# ACF is not estimated, and values that large are never counts).
HUGE_VALUES = 1e150
# The ACF recorded with a decision: lags 0..ACF_LAGS (patch sides are 5-10; 7 still lets 16 x 16 blocks be
# tried, which an image without flat 32 x 32 regions needs).
ACF_LAGS = 7


@dataclass(frozen=True, eq=False)
class NoiseModel:
    """The noise model of a run.

    kind: "white", "poisson" or "correlated" (what the run models); asked: what was asked for ("auto" or a
    kind); poisson: the Poisson–Gaussian parameters (kind "poisson"); acf: the estimated noise ACF (None when
    not estimated: noise="white" or an image too small); q: the correlation ratio (nan when not measured);
    growth: how much the fitted noise variance grows over the image's mean levels (nan when not measured);
    description: one line for people."""

    kind: str
    asked: str
    description: str
    poisson: PoissonGaussian | None = None
    acf: NoiseACF | None = None
    q: float = math.nan
    growth: float = math.nan

    def __post_init__(self) -> None:
        if self.kind not in (*NOISE_MODELS[1:], NATIVE_POISSON):
            raise ValueError(f"noise model kind must be one of {NOISE_MODELS[1:]}, got {self.kind!r}")
        if self.asked not in NOISE_MODELS:
            raise ValueError(f"noise must be one of {NOISE_MODELS}, got {self.asked!r}")
        if (self.kind == "poisson") != (self.poisson is not None):
            raise ValueError("a poisson noise model needs its parameters, and only it has them")

    @property
    def transforms(self) -> bool:
        """Whether the image is learned in a transformed domain."""
        return self.kind == "poisson"

    def forward(self, values: np.ndarray) -> np.ndarray:
        """The image in the domain the model is learned in, in place (values: the pipeline's own float64
        copy; one image copy less for a large micrograph): the generalized Anscombe transform for poisson,
        unchanged otherwise."""
        if self.poisson is None:
            return values
        a, s, mu = self.poisson.gain, self.poisson.read_noise, self.poisson.offset
        values *= a
        values += 0.375 * a * a + s * s - a * mu
        np.maximum(values, 0.0, out=values)
        np.sqrt(values, out=values)
        values *= 2.0 / a
        return values

    def inverse(self, denoised: np.ndarray) -> np.ndarray:
        """A denoised image back from the learned domain (the exact unbiased inverse for poisson)."""
        if self.poisson is None:
            return denoised
        return gat_inverse(denoised, self.poisson)

    def moments_to_input(self, moments: PixelMoments) -> PixelMoments:
        """Per-pixel moments back from the learned domain by the delta method about the posterior mean D:
        mean I(D), variances (dI/dD)² ·, third moment (dI/dD)³ ·, skewness unchanged (dI/dD > 0)."""
        if self.poisson is None:
            return moments
        slope = gat_inverse_derivative(moments.mean, self.poisson)
        slope2 = slope * slope
        return replace(
            moments,
            mean=gat_inverse(moments.mean, self.poisson),
            variance=moments.variance * slope2,
            within=moments.within * slope2,
            between=moments.between * slope2,
            third=None if moments.third is None else moments.third * slope2 * slope,
        )

    def record(self) -> dict[str, Any]:
        """For a JSON sidecar (finite numbers only)."""
        out: dict[str, Any] = {"model": self.kind, "asked": self.asked, "description": self.description}
        if self.poisson is not None:
            out["poisson"] = {
                "gain": self.poisson.gain,
                "offset": self.poisson.offset,
                "read_noise": self.poisson.read_noise,
            }
        if math.isfinite(self.growth):
            out["variance_growth"] = self.growth
        if math.isfinite(self.q):
            out["correlation_ratio"] = self.q
        if self.acf is not None:
            out["acf"] = self.acf.record()
        return out

    def stored(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """The noise model for a file, exactly (JSON numbers give float64 back bitwise): its record and the
        arrays (the estimated ACF's covariance, if any). `from_stored` reads them back."""
        record: dict[str, Any] = {
            "kind": self.kind,
            "asked": self.asked,
            "description": self.description,
            "poisson": None if self.poisson is None else asdict(self.poisson),
            "q": self.q if math.isfinite(self.q) else None,
            "growth": self.growth if math.isfinite(self.growth) else None,
            "acf": None if self.acf is None else {"block": self.acf.block, "halves": self.acf.halves},
        }
        return record, {} if self.acf is None else {"noise_acf": self.acf.cov}

    @classmethod
    def from_stored(cls, record: dict[str, Any], arrays: dict[str, np.ndarray]) -> NoiseModel:
        """The noise model of `stored`'s record and arrays; ValueError, TypeError or KeyError when they are
        not one."""
        if not isinstance(record, dict):
            raise TypeError(f"a noise model record must be a mapping, got {record!r}")
        poisson, acf = record["poisson"], record["acf"]
        return cls(
            kind=record["kind"],
            asked=record["asked"],
            description=str(record["description"]),
            poisson=None if poisson is None else PoissonGaussian(**poisson),
            acf=None if acf is None else NoiseACF(arrays["noise_acf"], int(acf["block"]), int(acf["halves"])),
            q=math.nan if record["q"] is None else float(record["q"]),
            growth=math.nan if record["growth"] is None else float(record["growth"]),
        )


def _integer_valued(values: np.ndarray) -> bool:
    return bool(np.all(values == np.round(values)))


def _acf_or_none(values: np.ndarray) -> NoiseACF | None:
    if min(values.shape) < 8:
        return None
    return estimate_noise_acf(values, ACF_LAGS)


def _correlation_words(acf: NoiseACF | None, q: float) -> str:
    words = f"ratio q {q:.3g}" if math.isfinite(q) else "ratio q not measured"
    if acf is not None and acf.max_lag >= 1:
        words = f"noise sigma {acf.sigma:.4g}, lag-1 correlation {acf.rows[1]:.2f} (rows) {acf.cols[1]:.2f} " + (
            f"(columns), {words}"
        )
    return words


def native_poisson(asked: str) -> NoiseModel:
    """The noise model of a model that is itself the Poisson noise model (the PMM): no transform, the counts
    learned on their own scale."""
    description = "poisson-native: model pmm is the Poisson noise model itself (counts learned as they are)"
    return NoiseModel(NATIVE_POISSON, asked, description)


def decide_noise(image: np.ndarray, noise: str = "auto") -> NoiseModel:
    """The noise model of `image` (R, C) for `noise` ("auto" decides, see the module's docstring; "white" is
    taken as it is, without estimates). ValueError names the problem: an unknown noise, or noise="poisson" on
    an image whose variance does not grow with its mean and which is not made of non-negative counts."""
    if noise not in NOISE_MODELS:
        raise ValueError(f"noise must be one of {', '.join(NOISE_MODELS)}, got {noise!r}")
    if noise == "white":
        return NoiseModel("white", "white", "white (as asked)")
    values = np.asarray(image, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"the noise model needs a 2-D image, got shape {values.shape}")
    peak = float(np.max(np.abs(values))) if values.size else 0.0
    huge = peak > HUGE_VALUES
    if noise == "poisson":
        if huge:
            raise ValueError(f"noise='poisson': values up to {peak:.4g} are not counts; use noise='white' or 'auto'")
        return _poisson(values, asked="poisson")
    if values.size and float(values.max()) == float(values.min()):
        return NoiseModel("white", noise, f"white: the image is constant ({values.flat[0]:.4g}), nothing to denoise")
    acf = None if huge else _acf_or_none(values)
    q = correlation_ratio(values / peak if huge else values)  # q is scale-free
    if noise == "correlated":
        return _correlated(acf, q, "correlated", "as asked")
    if not huge and min(values.shape) >= 16 and _integer_valued(values):
        fit = _fit_or_none(values)
        if fit is not None and fit.slope > POISSON_MIN_T * fit.slope_se and fit.growth >= POISSON_MIN_GROWTH:
            return _poisson(values, asked="auto")
    if values.size >= CORRELATION_MIN_PIXELS and math.isfinite(q) and q < CORRELATION_MAX_Q:
        return _correlated(acf, q, "auto", f"q below {CORRELATION_MAX_Q}")
    if values.size < CORRELATION_MIN_PIXELS:
        reason = f"image under {CORRELATION_MIN_PIXELS} pixels, too small to judge the correlation"
    else:
        reason = f"correlated below q {CORRELATION_MAX_Q}"
    sigma = 0.0 if peak == 0 else math.nan
    if min(values.shape) >= 2 and peak > 0:
        sigma = estimate_noise_sigma(values / peak) * peak
    words = f"noise sigma {sigma:.4g}, ratio q {q:.3g}" if math.isfinite(q) else f"noise sigma {sigma:.4g}"
    return NoiseModel("white", "auto", f"white: {words} ({reason})", acf=acf, q=q)


def _fit_or_none(values: np.ndarray) -> PoissonGaussianFit | None:
    try:
        return estimate_poisson_gaussian(values)
    except ValueError:
        return None


def _correlated(acf: NoiseACF | None, q: float, asked: str, why: str) -> NoiseModel:
    description = f"correlated: {_correlation_words(acf, q)} ({why}); patches whitened by the noise covariance"
    return NoiseModel("correlated", asked, description, acf=acf, q=q)


def _poisson(values: np.ndarray, asked: str) -> NoiseModel:
    fit = _fit_or_none(values)
    if fit is not None and fit.slope > POISSON_MIN_T * fit.slope_se:
        params, growth, how = fit.params, fit.growth, f"variance grows {fit.growth:.3g}x over the mean levels"
    elif _integer_valued(values) and float(values.min()) >= 0:
        params, growth, how = PoissonGaussian(), math.nan, "counts assumed: no mean–variance line to fit"
    else:
        raise ValueError(
            "noise='poisson': the image's noise variance does not grow with its mean (no gain could be fitted: "
            "the slope of its mean–variance line is not clearly above 0) and its values are not non-negative "
            "counts; use noise='white' or 'auto'"
        )
    description = f"poisson: {params.describe()} ({how})"
    return NoiseModel("poisson", asked, description, poisson=params, acf=_acf_or_none(values), growth=growth)
