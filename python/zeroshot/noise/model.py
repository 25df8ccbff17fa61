"""The noise model of a run: what a kind of noise (`zeroshot.noise.kinds`) does differently, as one interface.

A noise model is estimated from the image (`estimate`; for noise="auto" the kind is decided first,
`zeroshot.noise.decide`), takes the image into the domain it is learned in (`forward`) and the results back
(`inverse`, `moments_to_input`), is fitted to the run's patches once their size and the value scaling are known
(`for_patches`: the whitening of correlated noise), chooses the patch size (`patch_size`), says which steps apply
to it (the whitening, the Wiener pass, a noise sigma on the input's scale) and describes itself in plain words for
the progress line and as records for sidecars and model files. The pipeline asks these questions and never
compares kinds.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np

from zeroshot.noise.anscombe import PoissonGaussian
from zeroshot.noise.patch_size import PatchRule, choose_patch_size, estimate_noise_sigma
from zeroshot.noise.slab import SlabNoiseACF
from zeroshot.noise.statistics import NoiseACF
from zeroshot.noise.whitening import PatchWhitening
from zeroshot.patches.moments import PixelMoments

__all__ = ["NoiseModel"]


@dataclass(frozen=True, eq=False)
class NoiseModel(ABC):
    """The noise model of a run: one subclass per kind, registered in `zeroshot.noise.kinds.NOISE_KINDS`.

    asked: what was asked for ("auto" or a kind); description: one line for people, with the figures the model
    was decided and estimated by; acf: the estimated noise ACF (None when not estimated); q: the correlation ratio
    (nan when not measured); growth: how much the fitted noise variance grows over the image's mean levels (nan
    when not measured)."""

    # The kind's name: its key in NOISE_KINDS and its value in records, files and displays.
    kind: ClassVar[str]
    # noise=kind asks for it; False for a model that a model family brings (the PMM's counts).
    askable: ClassVar[bool] = True
    # What it does, in a few words for the help of the command line's --noise ("": its name says it).
    option_help: ClassVar[str] = ""
    # The image is learned in a transformed domain (the learned sigma is the transformed domain's).
    transforms: ClassVar[bool] = False
    # The noise is correlated between pixels and slices (the patches are whitened, a slab's ACF spans z).
    correlated: ClassVar[bool] = False
    # The Wiener pass (second_pass "wiener") sharpens the posterior mean (where it was measured to help:
    # `zeroshot.pipeline.second_pass`).
    wiener_pass: ClassVar[bool] = False
    # The noise has one sigma on the input's scale, which the progress line shows before training (Poisson noise
    # grows with the signal).
    sigma_on_input_scale: ClassVar[bool] = True
    # The arrays of its file record (`stored`).
    stored_arrays: ClassVar[tuple[str, ...]] = ("noise_acf",)

    asked: str
    description: str
    acf: NoiseACF | None = None
    q: float = math.nan
    growth: float = math.nan

    @classmethod
    @abstractmethod
    def estimate(cls, image: np.ndarray, asked: str) -> NoiseModel:
        """The noise model of this kind for `image` (R, C), its parameters estimated from it (`asked`: the noise
        option that asked for it). ValueError names what keeps the image from having this kind of noise."""

    @abstractmethod
    def plain_words(self, sigma: float | None) -> str:
        """The noise model for the progress line ("noise: white, estimated sigma 25.1 grey levels"); sigma: the
        noise sigma estimated before training, if any."""

    @property
    def poisson(self) -> PoissonGaussian | None:
        """The Poisson–Gaussian parameters of the transform (None: no Poisson transform; `PoissonNoise`'s field)."""
        return None

    @property
    def whitening(self) -> PatchWhitening | None:
        """The whitening of the run's patches (None: learned as they are; `CorrelatedNoise`'s field)."""
        return None

    @property
    def known_sigma(self) -> float | None:
        """The noise sigma of one pixel in the learned domain before the value scaling, where the model knows it
        (the patch size and the progress line take it instead of an estimate); None: estimated from the image."""
        return None

    def agrees_with(self, noise: str) -> bool:
        """Whether a run asked for `noise` (the DenoiseConfig field) may use this noise model (a trained model's)."""
        return noise in ("auto", self.kind)

    def forward(self, values: np.ndarray) -> np.ndarray:
        """The image in the domain the model is learned in, in place (values: the pipeline's own float64 copy; one
        image copy less for a large micrograph)."""
        return values

    def inverse(self, denoised: np.ndarray) -> np.ndarray:
        """A denoised image back from the learned domain."""
        return denoised

    def moments_to_input(self, moments: PixelMoments) -> PixelMoments:
        """Per-pixel moments back from the learned domain."""
        return moments

    def patch_size(self, values: np.ndarray, rule: PatchRule, averaging: float = 1.0) -> int:
        """The patch size a model family's `rule` chooses for the image in the learned domain by its relative noise
        (`choose_patch_size`), with the noise sigma taken as known where the model knows it. averaging: for patches
        of several slices, the share of the noise variance their slices leave (1 for an image)."""
        return choose_patch_size(values, rule, noise_sigma=self.known_sigma, averaging=averaging)

    def for_patches(self, scaled: np.ndarray, scale: float, P: int, slab_acf: SlabNoiseACF | None) -> NoiseModel:
        """The model fitted to the P x P patches of the scaled image (scaled: the image in the learned domain over
        the value scaling's `scale`; slab_acf: a slab's noise ACF estimated before the scaling, if it was)."""
        return self

    def sigma_of(self, scaled: np.ndarray) -> float:
        """The noise sigma of one pixel of an image in the learned domain (on any value scale), estimated from it
        as this model estimates it: from the image's finest detail. ValueError for an image too small."""
        return estimate_noise_sigma(scaled)

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
        """The noise model for a file, exactly (JSON numbers give float64 back bitwise): its record and its arrays
        (of `stored_arrays`: the estimated ACF's covariance, the whitening's Cholesky factor, where there are such).
        `zeroshot.noise.kinds.noise_from_stored` reads them back."""
        record: dict[str, Any] = {
            "kind": self.kind,
            "asked": self.asked,
            "description": self.description,
            "poisson": None if self.poisson is None else asdict(self.poisson),
            "q": self.q if math.isfinite(self.q) else None,
            "growth": self.growth if math.isfinite(self.growth) else None,
            "acf": None if self.acf is None else {"block": self.acf.block, "halves": self.acf.halves},
        }
        arrays = {} if self.acf is None else {"noise_acf": self.acf.cov}
        if self.whitening is not None:
            arrays["whitening_L"] = self.whitening.L
        return record, arrays

    @classmethod
    def from_stored(cls, record: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> NoiseModel:
        """The noise model of this kind of `stored`'s record and arrays; ValueError, TypeError or KeyError when
        they are not one."""
        acf = record["acf"]
        return cls(
            asked=record["asked"],
            description=str(record["description"]),
            acf=None if acf is None else NoiseACF(arrays["noise_acf"], int(acf["block"]), int(acf["halves"])),
            q=math.nan if record["q"] is None else float(record["q"]),
            growth=math.nan if record["growth"] is None else float(record["growth"]),
            **cls.stored_parameters(record, arrays),
        )

    @classmethod
    def stored_parameters(cls, record: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> dict[str, Any]:
        """The fields of this kind beyond the common ones, from its stored record and arrays."""
        if record["poisson"] is not None:
            raise ValueError(f"a {cls.kind} noise model has no Poisson parameters")
        return {}

    def _as_asked(self) -> str:
        """' (as asked)' for a model asked for by name, for the plain words."""
        return " (as asked)" if self.asked != "auto" else ""
