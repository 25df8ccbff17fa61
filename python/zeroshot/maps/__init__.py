"""Renderings of the posterior maps: variance, relief, detail, skewness."""
