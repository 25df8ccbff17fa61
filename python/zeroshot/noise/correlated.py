"""Gaussian noise correlated between neighbouring pixels: the patches are whitened by the noise covariance of the
ACF estimated from the image's own noise (`zeroshot.noise.whitening`; for a slab of a volume, by one spanning z),
the patch size is chosen from the ACF's sigma, and the posterior mean is sharpened by a Wiener pass
(`zeroshot.pipeline.second_pass`)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np

from zeroshot.noise.evidence import constant, correlation_evidence, image_values, peak_of
from zeroshot.noise.model import NoiseModel
from zeroshot.noise.patch_size import PatchRule, choose_patch_size
from zeroshot.noise.slab import SlabNoiseACF, slab_whitening
from zeroshot.noise.statistics import NoiseACF, estimate_noise_acf
from zeroshot.noise.white import WhiteNoise
from zeroshot.noise.whitening import PatchWhitening

__all__ = ["CORRELATION_MAX_Q", "CORRELATION_MIN_PIXELS", "CorrelatedNoise"]

# noise="auto" takes the noise for correlated where the correlation ratio q is below CORRELATION_MAX_Q, on an image
# of at least CORRELATION_MIN_PIXELS pixels (`zeroshot.noise.decide`).
CORRELATION_MAX_Q = 0.6
CORRELATION_MIN_PIXELS = 32 * 32


@dataclass(frozen=True, eq=False)
class CorrelatedNoise(NoiseModel):
    """Correlated Gaussian noise, its ACF estimated from the image (`acf`, on the input's scale; None where the
    values are too large to square or the image too small); whitening: the whitening of the run's patches, on the
    scaled image (`for_patches`; None until then)."""

    kind: ClassVar[str] = "correlated"
    option_help: ClassVar[str] = "patches whitened by the noise covariance estimated from the image"
    correlated: ClassVar[bool] = True
    wiener_pass: ClassVar[bool] = True
    stored_arrays: ClassVar[tuple[str, ...]] = ("noise_acf", "whitening_L")

    whitening: PatchWhitening | None = None

    @classmethod
    def estimate(cls, image: np.ndarray, asked: str) -> NoiseModel:
        """The noise ACF and the correlation ratio of the image; a constant image is white (nothing to whiten)."""
        values = image_values(image)
        peak = peak_of(values)
        if constant(values):
            return WhiteNoise.of_constant(values, asked)
        acf, q = correlation_evidence(values, peak)
        return cls.of_estimates(acf, q, asked, "as asked")

    @classmethod
    def shows_in(cls, values: np.ndarray, q: float) -> bool:
        """Whether noise="auto" takes the image's noise for correlated by its correlation ratio q."""
        return values.size >= CORRELATION_MIN_PIXELS and math.isfinite(q) and q < CORRELATION_MAX_Q

    @classmethod
    def of_estimates(cls, acf: NoiseACF | None, q: float, asked: str, why: str) -> CorrelatedNoise:
        words = f"ratio q {q:.3g}" if math.isfinite(q) else "ratio q not measured"
        if acf is not None and acf.max_lag >= 1:
            words = f"noise sigma {acf.sigma:.4g}, lag-1 correlation {acf.rows[1]:.2f} (rows) {acf.cols[1]:.2f} " + (
                f"(columns), {words}"
            )
        description = f"correlated: {words} ({why}); patches whitened by the noise covariance"
        return cls(asked, description, acf=acf, q=q)

    @property
    def known_sigma(self) -> float | None:
        """The ACF's sigma (the white estimate from the finest detail sees only the noise's high frequencies)."""
        return None if self.acf is None else self.acf.sigma

    def patch_size(self, values: np.ndarray, rule: PatchRule, averaging: float = 1.0) -> int:
        """The family's rule for correlated noise where the ACF is known (else as for white noise)."""
        sigma = self.known_sigma
        return choose_patch_size(values, rule, noise_sigma=sigma, correlated=sigma is not None, averaging=averaging)

    def for_patches(self, scaled: np.ndarray, scale: float, P: int, slab_acf: SlabNoiseACF | None) -> NoiseModel:
        """With the whitening of the P x P patches: by the ACF estimated on the input, in the scaled image's units
        (the estimate is scale-equivariant and ignores offsets); estimated on the scaled image where there is none
        (values too large to square). For a slab (d, R, C) of a volume (3-D context), the whitening of its patches
        of d slices by the noise covariance spanning z (`zeroshot.noise.slab.slab_whitening`; slab_acf: its noise
        ACF estimated on the input, if it was)."""
        if scaled.ndim == 3:
            whitening = slab_whitening(scaled, P, None if slab_acf is None else slab_acf.scaled(1.0 / scale))
        elif self.acf is None:
            whitening = PatchWhitening.from_acf(estimate_noise_acf(scaled), P)
        else:
            unit = scale * scale
            whitening = PatchWhitening.from_acf(NoiseACF(self.acf.cov / unit, self.acf.block, self.acf.halves), P)
        return replace(self, whitening=whitening)

    def sigma_of(self, scaled: np.ndarray) -> float:
        """The sigma of the image's noise ACF."""
        return estimate_noise_acf(scaled).sigma

    def plain_words(self, sigma: float | None) -> str:
        acf = self.acf
        lags = "" if acf is None or acf.max_lag < 1 else f" (lag-1 {acf.rows[1]:.2f} rows, {acf.cols[1]:.2f} columns)"
        estimate = "" if sigma is None else f", estimated sigma {sigma:.3g} grey levels"
        return f"noise: correlated between neighbouring pixels{lags}{self._as_asked()}{estimate}"

    @classmethod
    def stored_parameters(cls, record: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> dict[str, Any]:
        """The whitening, where the file holds one (a trained model's always does)."""
        base = super().stored_parameters(record, arrays)
        L = arrays.get("whitening_L")
        return {**base, "whitening": None if L is None else PatchWhitening.from_cholesky(L)}
