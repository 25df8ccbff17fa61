"""Patches of an image: the grid (grid.py), extraction and centring (extract.py), and merging overlapping
per-patch values back into per-pixel maps (merge.py, with the accumulators of estimates.py and moments.py)."""
