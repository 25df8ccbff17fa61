"""An upper bound of the memory one process of `zeroshot.denoise` allocates, from the sizes alone.

`denoise` works in phases; in each, a known set of large arrays is alive at the same time. The bound is
the largest phase's sum plus a fixed reserve for the runtime (thread stacks, BLAS buffers, the compiled
kernels' per-thread scratch). The input image itself is not counted: it exists before the call. With
several MPI ranks the figures are those of rank 0, which holds the longest blocks of patches and merges
the whole image (the other ranks need no more). Frames of a stack are denoised one at a time: the bound
is that of one frame.

Symbols (bytes of float64 and uint64 values: 8):
    A = 8 R C            one float64 image              N = (R - P + 1)(C - P + 1)   all patches
    D = d P^2            values per patch (d = context: the slices a patch spans; 1 for an image)
    T = min(max_train_patches, N) training patches
    n = ceil(T / ranks)  this rank's training patches   m = ceil(N / ranks) this rank's patches
    c = min(chunk_patches, m)  patches per inference chunk,  x = min(chunk_patches, N) per extraction chunk
    w = ceil(H / 64)     words per packed state         A_b = 8 C * rows of this rank's band of the image
    states(k) = 8 k S (w + 1)   K (k, S, w) uint64 and lpj (k, S) float64 of k patches

Phases and their terms (see `estimate_memory`): prepare (the float64 copy and a temporary, 2A);
subset (the training indices: numpy's choice without replacement); patches (the training patches 8 n D
and one extraction chunk); init (the patches and their deviations from the mean, 16 n D); training
(the patches, states(n), the W^T Y workspace 8 n H, twice for es3c, checkpoint copies); inference (one
chunk: its patches 8 c D, states(c), W^T Y 8 c H or the posterior moments 8 c D per moment, with the
merger's per-pixel sums: a count A_b, 2 A_b for mean, 3 A_b for gaussian, D A_b for median, and 4 A_b, or
7 A_b with third moments, for the moments, whose mean then serves as the mean merge); merge (the sums, on
rank 0 also the whole image's, and the denoised map); moment maps (the count, the moment sums and the maps
with their temporaries, 7A or 13A); result (the maps returned). With 3-D context (d > 1) every phase also holds
the slab's other slices, (d - 1) A, and the prepare's temporary spans the slab; the median's slots per pixel are
P^2 (one slice's patches are merged).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from zeroshot.config import DenoiseConfig, training_patch_limit
from zeroshot.models.family import MemoryTerms
from zeroshot.patches.estimates import MEDIAN_ROW_BLOCK
from zeroshot.patches.grid import PatchGrid
from zeroshot.runtime.comm import block_range

F8 = 8  # bytes of a float64, int64 or uint64 value
# What is not numpy arrays: thread stacks, OpenBLAS buffers, the kernels' scratch, and freed memory that
# glibc keeps for reuse (its trim threshold rises with large frees, up to 64 MiB). Measured on Linux at 1
# and 2 threads: about 10 MiB beyond the traced arrays in process, about 20 MiB in a 4096 x 4096 CLI run.
RUNTIME_RESERVE = 64 * 2**20
# Python objects of a run (histories, configurations, small arrays): well below this.
SMALL_OBJECTS = 2**20
# Writing a checkpoint: numpy's .npz writer copies arrays in 16 MiB pieces (a piece and its bytes).
CHECKPOINT_WRITER = 32 * 2**20
# numpy's Generator.choice(n, k, replace=False) shuffles a full arange(n) when n > 10000 and
# k > n // 50, else it draws with Floyd's algorithm into a hash set of the next power of two above 1.2 k.
_CHOICE_FULL_MIN, _CHOICE_FULL_FRACTION = 10000, 50

_UNITS = {"": 1, "B": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


@dataclass(frozen=True)
class MemoryEstimate:
    """total: bytes one process needs at most (peak phase + runtime reserve); phase: the phase of the
    peak; terms: the arrays alive together at the peak (name -> bytes); phases: every phase's sum."""

    total: int
    phase: str
    terms: dict[str, int]
    phases: dict[str, int]

    def describe(self) -> str:
        """'2.4 GiB (peak in training: states 1.1 GiB, ...)': the largest terms first."""
        largest = sorted(self.terms.items(), key=lambda item: -item[1])
        parts = ", ".join(f"{name} {format_bytes(size)}" for name, size in largest if size > 0)
        return f"{format_bytes(self.total)} (peak in {self.phase}: {parts})"


def format_bytes(size: float) -> str:
    """1536 -> '1.5 KiB'; powers of 1024."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(size) < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.3g} {unit}"
        size /= 1024
    return f"{size:.3g} TiB"


def parse_size(text: str) -> int:
    """'8G', '512M', '1.5GiB', '2000000' (bytes) -> bytes; K, M, G, T are powers of 1024."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([KMGT]?)(i?B)?\s*", str(text), flags=re.IGNORECASE)
    if match is None:
        raise ValueError(f"memory size {text!r} is not a number with an optional unit K, M, G or T (e.g. 8G)")
    size = int(float(match.group(1)) * _UNITS[match.group(2).upper()])
    if size <= 0:
        raise ValueError(f"memory size {text!r} must be positive")
    return size


def worst_patch_size(config: DenoiseConfig, image_shape: tuple[int, int]) -> int:
    """config.patch_size, or the largest the automatic choice can pick for the model (its family's largest_patch:
    bsc 8, es3c 10)."""
    if config.patch_size is not None:
        return config.patch_size
    return min(config.family.largest_patch, *image_shape)


def _choice_bytes(n_all: int, k: int) -> int:
    """Peak of np.sort(rng.choice(n_all, k, replace=False)) (see _CHOICE_*): the draw, then the sorted copy."""
    if n_all > _CHOICE_FULL_MIN and k > n_all // _CHOICE_FULL_FRACTION:
        draw = F8 * (n_all + k)  # arange(n_all) and the copy of its last k
    else:
        draw = F8 * (k + 2 ** math.ceil(math.log2(1.2 * k + 1)))  # the draws and the hash set
    return max(draw, 2 * F8 * k)


@dataclass(frozen=True)
class _Sizes:
    R: int
    C: int
    P: int
    D: int
    H: int
    S: int
    words: int
    n_all: int  # N, all patches
    n_train_all: int  # T
    n_train: int  # n, this rank's
    n_infer: int  # m, this rank's
    chunk: int  # c
    extract_chunk: int  # x
    band: int  # A_b
    band_patches: int
    image: int  # A
    slab: int  # the slab's other slices, (d - 1) A (3-D context)

    def states(self, k: int) -> int:
        return F8 * k * self.S * (self.words + 1)


def _sizes(image_shape: tuple[int, int], config: DenoiseConfig, ranks: int) -> _Sizes:
    grid = PatchGrid(image_shape[0], image_shape[1], worst_patch_size(config, image_shape))
    n_all = grid.N
    limit = training_patch_limit(config, None)  # before the noise is decided: the larger
    n_train_all = n_all if limit is None else min(limit, n_all)
    n_infer = -(-n_all // ranks)
    # The largest band of image rows a rank's patches cover (a block may start and end inside a grid row).
    blocks = [block_range(n_all, rank, ranks) for rank in range(ranks)]
    band = max((grid.band(lo, hi).grid for lo, hi in blocks if lo < hi), key=lambda band: band.R)
    return _Sizes(
        R=grid.R,
        C=grid.C,
        P=grid.P,
        D=grid.D * config.context,
        H=config.n_latents,
        S=config.n_states,
        words=-(-config.n_latents // 64),
        n_all=n_all,
        n_train_all=n_train_all,
        n_train=-(-n_train_all // ranks),
        n_infer=n_infer,
        chunk=min(config.chunk_patches, n_infer),
        extract_chunk=min(config.chunk_patches, n_all),
        band=F8 * band.R * band.C,
        band_patches=band.N,
        image=F8 * grid.R * grid.C,
        slab=F8 * grid.R * grid.C * (config.context - 1),
    )


def _has_estimate_sums(merge: str, moments: int) -> bool:
    """Whether the merger has an accumulator of the denoised image: with moments, their mean is the mean merge."""
    return merge != "mean" or moments == 1


def _merger_sums(z: _Sizes, merge: str, moments: int, area: int, patches: int) -> dict[str, int]:
    """The per-pixel sums of a merger of an area of `area` bytes per float64 map (zeroshot.patches.merge): its
    count and one-byte 'added' flag per patch; the denoised image's reference and sum (mean), with the weights
    (gaussian), or D slots (median); the moments' shift and three sums, three more for third moments."""
    sums = {"merger count": area + patches}
    if _has_estimate_sums(merge, moments):
        sums["merger sums"] = (z.P * z.P if merge == "median" else 3 if merge == "gaussian" else 2) * area
    if moments > 1:
        sums["moment merger sums"] = (7 if moments == 3 else 4) * area
    return sums


def _parameters(z: _Sizes, threads: int) -> int:
    """W, W^T W and the M-step statistics (D H + H^2 each): numpy copies plus two per-thread sums."""
    return F8 * (z.D * z.H + z.H * z.H) * (8 + 2 * threads)


def _e_step_work(terms: MemoryTerms, rows: int, H: int) -> int:
    """The E-step's products of `rows` patches: W^T Y and ||y||^2 (rows, H + 1), or the log-joints of a block of
    rows at a time (block, H)."""
    if terms.e_step_block_rows is not None:
        return F8 * min(rows, terms.e_step_block_rows) * H
    return F8 * rows * (H + 1)


def _phases(
    z: _Sizes, config: DenoiseConfig, moments: int, ranks: int, threads: int, checkpoint: bool
) -> dict[str, dict[str, int]]:
    A, D, H = z.image, z.D, z.H
    terms = config.family.memory
    subset = z.n_train_all < z.n_all
    phases: dict[str, dict[str, int]] = {}
    # check_image's float64 copy, scaled in place; a temporary image (|x|, x - mean) and a finite mask.
    phases["prepare"] = {"image": A, "temporary image": A, "mask": A // 8}
    phases["subset"] = {
        "image": A,
        "training indices": _choice_bytes(z.n_all, z.n_train_all) if subset else F8 * z.n_all,
    }
    x, gathered = z.extract_chunk, min(z.extract_chunk, z.n_train)
    phases["patches"] = {
        "image": A,
        "training indices": F8 * z.n_train_all,
        "training patches": F8 * z.n_train * D,
        "extraction chunk": F8 * x * D + max(x * D, F8 * gathered * (D + 1)),
        "patch means": F8 * z.n_train,
    }
    phases["init"] = {"image": A, "training patches": F8 * z.n_train * D, "deviations": F8 * z.n_train * D}
    if terms.start_gathers_patches and ranks > 1:  # e.g. k-means++ on rank 0 over every rank's patches
        phases["init"]["gathered patches"] = F8 * z.n_train_all * D
    training = {
        "image": A,
        "training patches": F8 * z.n_train * D,
        "states": z.states(z.n_train),
        # W^T Y (n, H) and ||y||^2: the E-step's workspace, and es3c's statistics make their own; pmm's
        # E-step makes its log-joints Y (log Lambda)^T (rows, C) a block of rows at a time.
        "W^T Y": (2 if terms.own_products else 1) * _e_step_work(terms, z.n_train, H),
        "parameters": _parameters(z, threads),
    }
    if checkpoint:  # resuming reads all states; with ranks, rank 0 gathers and joins them to write
        training["checkpoint copies"] = (2 if ranks > 1 else 1) * z.states(z.n_train_all) + CHECKPOINT_WRITER
    phases["training"] = training

    c = z.chunk
    kept = {} if subset else {"training states": z.states(z.n_train)}  # reused as the chunks' states
    sums = _merger_sums(z, config.merge, moments, z.band, z.band_patches)
    e_step = _e_step_work(terms, c, H)
    posterior = (
        F8 * c * D * moments
        + (F8 * c * (H + 1) if terms.own_products else 0)  # the moments (and es3c's W^T Y)
        + F8 * c * D
        + 4 * F8 * c
        + c  # a chunk-sized temporary, the patch means and the mergers' temporaries (no NaN masks any more)
    )
    phases["inference"] = {
        "image": A,
        **kept,
        **sums,
        "chunk patches": F8 * c * (D + 1),
        "chunk states": z.states(c) if subset else 0,
        "chunk work": max(e_step, posterior),
        "parameters": _parameters(z, threads),
    }

    whole: dict[str, int] = {}
    if ranks > 1:  # rank 0: the whole image's sums, and two bands received at a time with their temporaries
        whole = {f"whole {name}": size for name, size in _merger_sums(z, config.merge, moments, A, z.n_all).items()}
        whole["received bands"] = 2 * sum(sums.values()) + 2 * z.band
    # median: result, counts, sorted rows; otherwise the result, a temporary and a mask
    median = config.merge == "median"
    denoised_map = 2 * A + 2 * F8 * MEDIAN_ROW_BLOCK * z.C * (z.P * z.P + 1) if median else 2 * A + A // 8
    estimate = _has_estimate_sums(config.merge, moments)
    phases["merge"] = {"image": A, **kept, **sums, **whole, "result maps": denoised_map if estimate else 0}
    if moments > 1:
        # The denoised image's sums are gone; the moments' result makes mean, variance, within, between and
        # the intermediate M - K (and third, skewness and their intermediates) with temporaries.
        moment = ("moment merger sums", "merger count")
        phases["moment maps"] = {
            "image": A,
            **kept,
            **{name: size for name, size in {**sums, **whole}.items() if name.endswith(moment)},
            "result maps": (A if estimate else 0) + (12 * A + A // 4 if moments == 3 else 6 * A + A // 8),
        }
    phases["result"] = {"image": A, "result maps": A * (1 + (0 if moments == 1 else 4 if moments == 2 else 6))}
    if z.slab:  # 3-D context: the slab's other slices beside the image, and the prepare's temporary of them all
        for phase_terms in phases.values():
            phase_terms["neighbouring slices"] = z.slab
        phases["prepare"]["temporary image"] += z.slab
    return phases


def estimate_memory(
    image_shape: Sequence[int],
    config: DenoiseConfig,
    *,
    moments: int = 1,
    ranks: int = 1,
    threads: int = 1,
    checkpoint: bool = False,
) -> MemoryEstimate:
    """An upper bound of the bytes `denoise(image, config=config, moments=moments)` allocates in one
    process (rank 0 of `ranks`), with `threads` OpenMP threads and a checkpoint or not. image_shape: (R, C)
    of one frame. config.patch_size None: the largest the automatic choice can pick."""
    shape = tuple(int(s) for s in image_shape)
    if len(shape) != 2 or min(shape) < 1:
        raise ValueError(f"image_shape must be (R, C) with R, C >= 1, got {tuple(image_shape)}")
    R, C = shape[0], shape[1]
    if moments not in (1, 2, 3):
        raise ValueError(f"moments must be 1, 2 or 3, got {moments!r}")
    for name, value in (("ranks", ranks), ("threads", threads)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if worst_patch_size(config, (R, C)) > min(R, C):
        raise ValueError(f"image of shape {(R, C)} is smaller than the patch size {config.patch_size}")
    z = _sizes((R, C), config, ranks)
    if z.n_train_all < ranks:
        raise ValueError(f"{z.n_train_all} training patches cannot be shared by {ranks} ranks")
    phases = _phases(z, config, moments, ranks, threads, checkpoint)
    for terms in phases.values():
        terms["small objects"] = SMALL_OBJECTS
    sums = {name: sum(terms.values()) for name, terms in phases.items()}
    peak = max(sums, key=lambda name: sums[name])
    terms = {**phases[peak], "runtime reserve": RUNTIME_RESERVE}
    return MemoryEstimate(total=sums[peak] + RUNTIME_RESERVE, phase=peak, terms=terms, phases=sums)


_TRAIN = "max_train_patches (--max-train-patches)"
_CHUNK = "chunk_patches (--chunk-patches)"
_MOMENTS = "moments (fewer posterior maps: no variance or skewness)"
# The settings that shrink each term.
_KNOBS: dict[str, tuple[str, ...]] = {
    "training indices": (_TRAIN,),
    "training patches": (_TRAIN,),
    "deviations": (_TRAIN,),
    "states": (_TRAIN, "n_states (--states)"),
    "W^T Y": (_TRAIN, "n_latents (--latents)"),
    "training states": (_TRAIN,),  # a subset frees its states before inference
    "checkpoint copies": (_TRAIN, "checkpoint (run without one)"),
    "parameters": ("n_latents (--latents)",),
    "extraction chunk": (_CHUNK,),
    "chunk patches": (_CHUNK,),
    "chunk states": (_CHUNK,),
    "chunk work": (_CHUNK,),
    "moment merger sums": (_MOMENTS,),
    "whole moment merger sums": (_MOMENTS,),
    "result maps": (_MOMENTS,),
    "neighbouring slices": ("context (--context)",),
}


def knobs_to_lower(estimate: MemoryEstimate, config: DenoiseConfig) -> list[str]:
    """The settings that shrink the largest terms of the peak, largest first."""
    knobs: list[str] = []
    for name, _ in sorted(estimate.terms.items(), key=lambda item: -item[1])[:4]:
        found = _KNOBS.get(name, ())
        if config.merge == "median" and "merger sums" in name and "moment" not in name:
            found = ("merge (--merge mean: the median keeps every estimate of every pixel)",)
        knobs += [knob for knob in found if knob not in knobs]
    return knobs
