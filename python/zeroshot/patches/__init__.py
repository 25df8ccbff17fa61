"""Patches of an image: the grid, extraction, centring, and merging overlapping estimates back."""
