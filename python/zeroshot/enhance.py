"""Structure enhancement: maps from the higher-order posterior statistics of a learned model.

One training run (`zeroshot.denoise` with third moments) gives per pixel the posterior mean M, the variance
V = within + between (law of total variance over the covering patches) and the third central moment. From
these `render_kind` makes one of:

- variance: V itself (raw), displayed as the stretched √V (edges and surfaces of particles light up);
- relief:   the detail map shaded by a hill-shade of the stretched denoised image (a three-dimensional impression
            of the particles' surfaces), values in [0, 1]. A hill-shade of √V, the first relief, was a worm-like
            texture on every real image (region SNR over the membrane pairs of the SARS-CoV-2 demo crop −5.4 dB,
            an edge map 5.5); the shaded detail map gives 17.2 dB (bench/real_em.py);
- detail:   the denoised image with its detail layer boosted where the posterior is confident;
- skewness: the signed third standardised moment, a detail map (raw), displayed stretched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from zeroshot.config import DenoiseConfig
from zeroshot.denoise import DenoiseResult, denoise
from zeroshot.maps.render import detail_enhance, hillshade, stretch
from zeroshot.variational.em import Callback

KINDS = ("variance", "relief", "detail", "skewness")


@dataclass(frozen=True)
class ReliefSettings:
    """The relief's shading: a hill-shade of the stretched denoised image (heights in [0, 1]) lit from `azimuth`
    degrees clockwise from the top and `elevation` degrees above the horizon; z_factor: the relief height in
    pixels of the full stretch (10: the membranes stand out, the ice stays smooth; 20 streaks the ice);
    smoothing: Gaussian sigma in pixels applied to the heights first."""

    azimuth: float = 315.0
    elevation: float = 45.0
    z_factor: float = 10.0
    smoothing: float = 1.0

    def __post_init__(self) -> None:
        # The renderer's own checks on a tiny field: bad settings fail before any training, same message.
        hillshade(np.zeros((2, 2)), self.azimuth, self.elevation, self.z_factor, self.smoothing)


@dataclass(frozen=True)
class DetailSettings:
    """Detail boost of the denoised image (see `zeroshot.maps.render.detail_enhance`): up to 1 + amount
    times the detail layer at `radius` pixels, damped where the detail is within std_factor posterior
    standard deviations."""

    amount: float = 1.0
    radius: float = 2.0
    std_factor: float = 1.0

    def __post_init__(self) -> None:
        detail_enhance(np.zeros((2, 2)), np.zeros((2, 2)), self.amount, self.radius, self.std_factor)


@dataclass(frozen=True)
class EnhanceResult:
    """kind; values: the raw map (R, C) float64 (V on the input's squared value scale, relief in
    [0, 1], the enhanced image on the input's value scale, or skewness); display: a [0, 1] rendering
    for 8-bit outputs; run: the training run behind it (denoised image, moments, model)."""

    kind: str
    values: np.ndarray
    display: np.ndarray
    run: DenoiseResult


@dataclass(frozen=True)
class RenderSettings:
    relief: ReliefSettings = field(default_factory=ReliefSettings)
    detail: DetailSettings = field(default_factory=DetailSettings)


def render_kind(run: DenoiseResult, kind: str, settings: RenderSettings | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(raw values, [0, 1] display) of `kind` from a run made with moments >= 2 (3 for skewness)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    moments = run.moments
    if moments is None:
        raise ValueError(f"{kind} needs the posterior variance: run denoise with moments=2 or 3")
    settings = settings or RenderSettings()
    std = np.sqrt(moments.variance)
    if kind == "variance":
        return moments.variance, stretch(std)
    if kind in ("relief", "detail"):
        d = settings.detail
        enhanced = detail_enhance(run.denoised, std, d.amount, d.radius, d.std_factor)
        if kind == "detail":
            return enhanced, stretch(enhanced)
        r = settings.relief
        shade = hillshade(stretch(run.denoised), r.azimuth, r.elevation, r.z_factor, r.smoothing)
        relief = stretch(enhanced) * (0.5 + 0.5 * shade)  # in [0, 1]: the detail map, darker facing away
        return relief, relief
    if moments.skewness is None:
        raise ValueError("skewness needs the third posterior moment: run denoise with moments=3")
    return moments.skewness, stretch(moments.skewness)


def enhance(
    image: np.ndarray,
    kind: str = "variance",
    *,
    settings: RenderSettings | None = None,
    config: DenoiseConfig | None = None,
    threads: int | None = None,
    callback: Callback | None = None,
    **options: Any,
) -> EnhanceResult:
    """Learn the model of `image` (as `zeroshot.denoise`, same options) and render `kind` (KINDS)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    run = denoise(
        image, config=config, threads=threads, callback=callback, moments=3 if kind == "skewness" else 2, **options
    )
    values, display = render_kind(run, kind, settings)
    return EnhanceResult(kind, values, display, run)
