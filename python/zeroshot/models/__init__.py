"""Generative models of image patches."""
from zeroshot.models.base import Model
from zeroshot.models.bsc import BSC, BSCParams

__all__ = ["BSC", "BSCParams", "Model"]
