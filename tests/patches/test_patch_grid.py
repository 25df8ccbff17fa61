"""Tests of zeroshot.patches.grid (PatchGrid: counts, blocks, covering offsets, bands, training rows) and of the
pipeline's extraction helpers in zeroshot.patches.extract."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from zeroshot.patches.extract import center, extract_patches, patch_range, patches_at
from zeroshot.patches.grid import PatchGrid, pad_to
from zeroshot.runtime.comm import block_range


@st.composite
def grids(draw, max_side=12, strided=False):
    """Grids of stride 1 or, strided, of strides 1 to P as inference takes them (their images padded to fit)."""
    R = draw(st.integers(1, max_side))
    C = draw(st.integers(1, max_side))
    grid = PatchGrid(R, C, draw(st.integers(1, min(R, C))))
    return grid.strided(draw(st.integers(1, grid.P))) if strided else grid


def test_counts():
    grid = PatchGrid(5, 7, 3)
    assert grid.shape == (5, 7)
    assert grid.grid_shape == (3, 5)
    assert grid.grid_cols == 5
    assert (grid.N, grid.D) == (15, 9)
    assert PatchGrid.of(np.array([4, 4]), np.int64(4)) == PatchGrid(4, 4, 4)
    assert type(PatchGrid.of(np.array([4, 4]), np.int64(4)).R) is int


def test_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        PatchGrid(4, 4, 2).P = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("args", "pattern"),
    [
        ((5, 7, 0), r"at least 1, got P=0"),
        ((5, 7, 6), r"P=6 is larger than the image of shape \(5, 7\): P must be at most 5"),
        ((5, 7, 2.0), r"must be an integer, got 2\.0"),
        ((0, 7, 1), r"empty image of shape \(0, 7\)"),
        ((5.0, 7, 1), r"pair of integers"),
        ((True, 7, 1), r"pair of integers"),
    ],
)
def test_bad_grid(args, pattern):
    with pytest.raises(ValueError, match=pattern):
        PatchGrid(*args)


@given(grids(strided=True), st.data())
def test_blocks_tile_the_range_in_patch_order(grid, data):
    start = data.draw(st.integers(0, grid.N))
    stop = data.draw(st.integers(start, grid.N))
    seen = []
    for row, col, n_rows, n_cols, k in grid.blocks(start, stop):
        assert k == len(seen)
        seen += [(row + r) * grid.grid_cols + col + c for r in range(n_rows) for c in range(n_cols)]
    assert seen == list(range(start, stop))


@given(grids(strided=True), st.data())
def test_covering_offsets_reach_every_pixel_of_every_patch(grid, data):
    start = data.draw(st.integers(0, grid.N))
    stop = data.draw(st.integers(start, grid.N))
    hits = np.zeros(grid.shape, dtype=int)
    for rows, shape, _, _, target in grid.covering_offsets(start, stop):
        assert rows.stop - rows.start == shape[0] * shape[1]
        hits[target] += 1
    expected = np.zeros(grid.shape, dtype=int)
    for n in range(start, stop):
        r, c = (grid.stride * k for k in divmod(n, grid.grid_cols))
        expected[r : r + grid.P, c : c + grid.P] += 1
    np.testing.assert_array_equal(hits, expected)


@given(grids(strided=True), st.integers(1, 7))
def test_band_of_each_ranks_block(grid, size):
    """The band of whole rows that a rank's block covers, as inference and the memory bound take it."""
    for rank in range(size):
        lo, hi = block_range(grid.N, rank, size)
        if lo == hi:
            continue
        band = grid.band(lo, hi)
        assert band.row0 == lo // grid.grid_cols * grid.stride
        rows = band.grid.shape[0]
        assert rows == (hi - 1) // grid.grid_cols * grid.stride + grid.P - band.row0
        assert (band.grid.C, band.grid.P, band.grid.stride) == (grid.C, grid.P, grid.stride)
        assert band.row0 + rows <= grid.shape[0]
        assert band.first_patch <= lo and hi - band.first_patch <= band.grid.N


@given(grids(), st.integers(1, 4))
def test_a_strided_grid_covers_every_pixel_of_its_padded_image(grid, stride):
    """Inference's strided grid: corners `stride` apart, the image padded by the fewest pixels, mirrored, so that
    the last patches end on its last row and column; its patches are those of the padded image at the corners."""
    stride = min(stride, grid.P)
    strided = grid.strided(stride)
    assert strided.stride == stride and strided.P == grid.P
    assert 0 <= strided.R - grid.R < stride and 0 <= strided.C - grid.C < stride
    hits = np.zeros(strided.shape, dtype=int)
    for _, _, _, _, target in strided.covering_offsets(0, strided.N):
        hits[target] += 1
    assert hits.min() >= 1
    image = np.arange(grid.R * grid.C, dtype=float).reshape(grid.shape)
    padded = pad_to(image, strided)
    np.testing.assert_array_equal(padded[: grid.R, : grid.C], image)
    assert pad_to(image, grid) is image
    all_patches = patch_range(
        padded, PatchGrid(strided.R, strided.C, grid.P), 0, (strided.R - grid.P + 1) * (strided.C - grid.P + 1)
    )
    corners = [
        r * (strided.C - grid.P + 1) + c
        for r in range(0, strided.R - grid.P + 1, stride)
        for c in range(0, strided.C - grid.P + 1, stride)
    ]
    np.testing.assert_array_equal(patch_range(padded, strided, 0, strided.N), all_patches[corners])


@pytest.mark.parametrize(("shape", "P", "stride"), [((7, 9), 3, 3), ((8, 8), 3, 2)])
def test_a_grid_whose_patches_miss_the_last_row_is_refused(shape, P, stride):
    with pytest.raises(ValueError, match=r"do not end on the last row and column.*PatchGrid.strided"):
        PatchGrid(*shape, P, stride)
    with pytest.raises(ValueError, match=r"stride must be a positive integer, got 0"):
        PatchGrid(*shape, P, 0)


def test_band_of_no_patches_is_refused():
    with pytest.raises(ValueError, match=r"no non-empty range"):
        PatchGrid(5, 5, 2).band(3, 3)


@pytest.mark.parametrize("max_train", [None, 1, 50, 399, 400, 10**6])
def test_training_rows_are_the_seeded_sorted_draw(max_train):
    grid = PatchGrid(23, 22, 3)  # N = 21 * 20 = 420
    rows = grid.training_rows(max_train, seed=3)
    if max_train is None or max_train >= grid.N:
        np.testing.assert_array_equal(rows, np.arange(grid.N))
    else:
        want = np.sort(np.random.default_rng(3).choice(grid.N, size=max_train, replace=False))
        np.testing.assert_array_equal(rows, want)


def test_chunks_and_ranges():
    grid = PatchGrid(4, 5, 2)
    assert list(grid.chunks(2, 12, 4)) == [(2, 6), (6, 10), (10, 12)]
    assert grid.check_range(3) == (3, 12)
    with pytest.raises(ValueError, match=r"\[5, 13\) is not within \[0, 12\]"):
        grid.check_range(5, 13)


@given(st.data())
def test_patches_at_rows_chunk_by_chunk(data):
    grid = data.draw(grids())
    image = np.random.default_rng(0).normal(size=grid.shape)
    rows = np.array(sorted(data.draw(st.sets(st.integers(0, grid.N - 1)))), dtype=np.intp)
    chunk = data.draw(st.integers(1, grid.N + 2))
    np.testing.assert_array_equal(patches_at(image, grid, rows, chunk), extract_patches(image, grid.P)[rows])
    np.testing.assert_array_equal(patch_range(image, grid, 0, grid.N), extract_patches(image, grid.P))


def test_center_in_place():
    Y = np.array([[1.0, 3.0], [2.0, 2.0]])
    centred, means = center(Y, True)
    assert centred is Y
    np.testing.assert_array_equal(means, [[2.0], [2.0]])
    np.testing.assert_array_equal(Y, [[-1.0, 1.0], [0.0, 0.0]])
    same, zeros = center(Y, False)
    assert same is Y and not zeros.any()
