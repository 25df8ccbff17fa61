"""Generative models of image patches."""

from zeroshot.models.base import Model, PosteriorMoments
from zeroshot.models.bsc import BSC, BSCParams
from zeroshot.models.sssc import SSSC, SSSCParams

__all__ = ["BSC", "SSSC", "BSCParams", "Model", "PosteriorMoments", "SSSCParams"]
