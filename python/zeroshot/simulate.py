"""A simulated TEM-like micrograph of coronavirus particles, made in code, and TEM-like noise.

zeroshot ships no image files: examples, tests and benchmarks use ``simulated_micrograph`` as a
clean ground truth and ``add_tem_noise`` to make a noisy observation of it. The picture is
SIMULATED, NOT REAL DATA: it only imitates the look of a thin-section / negative-stain transmission
electron micrograph of coronavirus particles (dense membrane ring, granular interior, a corona of
club-shaped surface spikes, a cell membrane at one edge) so that denoisers meet structures at the
scales that matter, with a known clean image.

Physical picture: each structure adds projected mass density ``rho`` (arbitrary units) and the
transmitted intensity is ``I = I0 * exp(-rho)`` (Beer-Lambert), with a slowly varying
illumination ``I0`` near 0.9; the support film alone brings it down to about 0.75. Dense material
is dark on a light background.
The pixel size is about 2 nm: particles have radii of 15 to 24 px (60 to 100 nm diameter) and
spikes are about 10 px long, whatever the image size; a larger image shows more particles.
"""

from __future__ import annotations

import numbers
from typing import Callable

import numpy as np

# Scene constants (pixels at ~2 nm/px; densities in units of the Beer-Lambert exponent).
_ILLUMINATION = 0.9  # incident intensity (before the film absorbs ~15%)
_PARTICLES_PER_PIXEL = 8.0 / 256**2  # ~8 particles in a 256 x 256 field
_RADIUS_RANGE = (15.0, 24.0)
_SPIKE_LENGTH = (8.0, 11.0)
_SPIKE_SPACING = 4.3  # arc length between neighbouring spikes on the envelope
_MEMBRANE_RHO, _MEMBRANE_WIDTH = 1.1, 1.0
_INTERIOR_RHO = 0.35
_GRANULE_RHO = 0.55
_STALK_RHO, _KNOB_RHO = 0.18, 0.55

# Documented default noise: PSNR of add_tem_noise(simulated_micrograph()) is about 16 dB.
DEFAULT_DOSE = 50.0  # electrons per pixel for intensity 1
DEFAULT_READ_SIGMA = 2.0  # Gaussian readout noise, in electrons


def _check_int(value: object, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _check_real(value: object, name: str, positive: bool) -> float:
    """``value`` as a float; finite and > 0 (``positive``) or >= 0, else ValueError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    v = float(value)
    if not np.isfinite(v) or v < 0 or (positive and v == 0):
        raise ValueError(f"{name} must be finite and {'> 0' if positive else '>= 0'}, got {value!r}")
    return v


def _smooth_noise(rng: np.random.Generator, size: int, sigma: float) -> np.ndarray:
    """White noise low-pass filtered with a Gaussian of ``sigma`` px (periodic, via FFT),
    scaled to zero mean and unit standard deviation. (size, size)"""
    white = rng.standard_normal((size, size))
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.rfftfreq(size)[None, :]
    transfer = np.exp(-2.0 * (np.pi * sigma) ** 2 * (fx**2 + fy**2))
    out = np.fft.irfft2(np.fft.rfft2(white) * transfer, s=(size, size))
    out -= out.mean()
    std = out.std()
    return out / std if std > 0 else out


def _box(cy: float, cx: float, half: float, size: int) -> tuple[tuple[slice, slice], np.ndarray, np.ndarray] | None:
    """Slices and local coordinate grids of the square window of half-width ``half`` around
    (cy, cx), cut to the image; None when it misses the image."""
    y0, y1 = max(int(np.floor(cy - half)), 0), min(int(np.ceil(cy + half)) + 1, size)
    x0, x1 = max(int(np.floor(cx - half)), 0), min(int(np.ceil(cx + half)) + 1, size)
    if y0 >= y1 or x0 >= x1:
        return None
    dy = np.arange(y0, y1, dtype=np.float64)[:, None] - cy
    dx = np.arange(x0, x1, dtype=np.float64)[None, :] - cx
    return (slice(y0, y1), slice(x0, x1)), dy, dx


def _render_particle(
    rho: np.ndarray, texture: np.ndarray, rng: np.random.Generator, cy: float, cx: float, r0: float
) -> None:
    """Add one virus particle's projected density to ``rho`` (size, size) in place; ``texture``
    (size, size) is a smooth unit-variance field that modulates the interior."""
    size = rho.shape[0]
    spike_len = rng.uniform(*_SPIKE_LENGTH)
    win = _box(cy, cx, r0 * 1.2 + spike_len + 5.0, size)
    if win is None:
        return
    sl, dy, dx = win
    dist = np.hypot(dy, dx)
    phi = np.arctan2(dy, dx)

    # Pleomorphic outline: radius r(phi) = r0 * (1 + low harmonics).
    harm = rng.normal(0.0, [0.06, 0.025, 0.015])  # amplitudes of harmonics 2, 3, 4
    phase = rng.uniform(0.0, 2 * np.pi, 3)

    def radius(angle: np.ndarray) -> np.ndarray:
        k = np.arange(2, 5).reshape((3,) + (1,) * np.ndim(angle))
        h = harm.reshape(k.shape)
        p = phase.reshape(k.shape)
        r: np.ndarray = r0 * (1.0 + (h * np.cos(k * angle + p)).sum(axis=0))
        return r

    d = dist - radius(phi)  # approximately the signed distance to the membrane (inside < 0)
    local = np.zeros(dist.shape)
    # Interior: a soft-edged disk with fine texture.
    inside = 1.0 / (1.0 + np.exp(np.clip(d / 0.8, -50, 50)))
    local += _INTERIOR_RHO * inside * (1.0 + 0.3 * np.tanh(texture[sl]))
    # Membrane: a dense ring with a slightly lighter middle (a hint of the lipid bilayer).
    w = _MEMBRANE_WIDTH
    leaflets = np.exp(-((d + 0.9) ** 2) / (2 * w**2)) + np.exp(-((d - 0.9) ** 2) / (2 * w**2))
    local += 0.6 * _MEMBRANE_RHO * leaflets
    # Granules (ribonucleoprotein): dark dots scattered over the interior.
    n_gran = int(rng.integers(int(r0 * 0.6), int(r0 * 1.0) + 1))
    g_r = r0 * np.sqrt(rng.uniform(0.0, 1.0, n_gran)) * 0.78
    g_a = rng.uniform(0.0, 2 * np.pi, n_gran)
    g_s = rng.uniform(1.0, 1.8, n_gran)[:, None, None]
    gy = (g_r * np.sin(g_a))[:, None, None]
    gx = (g_r * np.cos(g_a))[:, None, None]
    g_rho = _GRANULE_RHO * rng.uniform(0.6, 1.2, n_gran)[:, None, None]
    local += (g_rho * np.exp(-((dy - gy) ** 2 + (dx - gx) ** 2) / (2 * g_s**2))).sum(axis=0)

    # Spikes: a thin stalk from the membrane and a club-shaped knob at its tip.
    n_spk = max(round(2 * np.pi * r0 / _SPIKE_SPACING), 6)
    ang = (np.arange(n_spk) + rng.uniform(-0.3, 0.3, n_spk)) * (2 * np.pi / n_spk) + rng.uniform(0.0, 2 * np.pi)
    keep = rng.uniform(size=n_spk) > 0.15  # some spikes missing, as on real virions
    ang = ang[keep]
    tilt = ang + rng.normal(0.0, 0.15, ang.size)
    length = spike_len * rng.uniform(0.85, 1.15, ang.size)
    base_r = radius(ang)
    by, bx = base_r * np.sin(ang), base_r * np.cos(ang)
    uy, ux = np.sin(tilt), np.cos(tilt)  # unit direction of each spike
    ty, tx = by + length * uy, bx + length * ux
    uy, ux, by, bx, ty, tx = (v[:, None, None] for v in (uy, ux, by, bx, ty, tx))
    L = length[:, None, None]
    # Distance from every pixel to each stalk segment (K, h, w).
    t = np.clip((dy - by) * uy + (dx - bx) * ux, 0.0, L)
    seg = (dy - by - t * uy) ** 2 + (dx - bx - t * ux) ** 2
    local += (_STALK_RHO * np.exp(-seg / (2 * 0.7**2))).sum(axis=0)
    # Knob: elongated across the spike axis (tangential sigma > radial sigma).
    ry = dy - ty
    rx = dx - tx
    along = ry * uy + rx * ux
    across = -ry * ux + rx * uy
    knob_amp = _KNOB_RHO * rng.uniform(0.75, 1.25, ang.size)[:, None, None]
    local += (knob_amp * np.exp(-(along**2) / (2 * 1.5**2) - across**2 / (2 * 2.1**2))).sum(axis=0)
    rho[sl] += local


def _place_particles(
    rng: np.random.Generator, size: int, cell_sd: Callable[[np.ndarray, np.ndarray], np.ndarray]
) -> list[tuple[float, float, float]]:
    """Centres and radii [(cy, cx, r)]: clustered, sometimes touching or next to the cell."""
    n_target = max(1, int(rng.poisson(_PARTICLES_PER_PIXEL * size * size)))
    placed: list[tuple[float, float, float]] = []
    for _ in range(60 * n_target):
        if len(placed) >= n_target:
            break
        r = rng.uniform(*_RADIUS_RANGE)
        if placed and rng.uniform() < 0.6:
            # Next to an existing particle: envelopes touching or slightly overlapping.
            py, px, pr = placed[int(rng.integers(len(placed)))]
            a = rng.uniform(0.0, 2 * np.pi)
            gap = pr + r + rng.uniform(0.0, 14.0)
            cy, cx = py + gap * np.sin(a), px + gap * np.cos(a)
        else:
            cy, cx = rng.uniform(0.0, size, 2)
        if not (0 <= cy < size and 0 <= cx < size):
            continue
        if cell_sd(cy, cx) > -(r + 3.0):  # centre inside, or too deep into, the cell
            continue
        if any(np.hypot(cy - py, cx - px) < 0.92 * (r + pr) for py, px, pr in placed):
            continue
        placed.append((cy, cx, r))
    return placed


def simulated_micrograph(size: int = 256, seed: int = 0) -> np.ndarray:
    """A SIMULATED (not real) TEM-like micrograph of coronavirus particles, (size, size) float64.

    Values lie in [0, 1]: empty background around 0.75-0.85, particle interiors around 0.5,
    membranes, granules and spike knobs down to about 0.15-0.35 (dark material on a light
    background). A curved cell membrane with granular cytoplasm runs along one edge. Deterministic
    for (size, seed); size must be >= 16. Pixel size ~2 nm, so a larger image shows more particles.
    """
    size = _check_int(size, "size", 16)
    seed = _check_int(seed, "seed", 0)
    rng = np.random.default_rng(seed)

    yy: np.ndarray = np.arange(size, dtype=np.float64)[:, None]
    xx: np.ndarray = np.arange(size, dtype=np.float64)[None, :]

    # Cell at one edge: a big circle whose centre lies outside the image; sd > 0 inside the cell.
    # Images under 128 px are too small for it next to particles: there it is left out.
    side = int(rng.integers(4))
    cell_r = size * rng.uniform(1.2, 2.5)
    depth = size * rng.uniform(0.10, 0.2)  # how far the cell reaches into the image
    along = size * rng.uniform(0.25, 0.75)
    centres = {
        0: (-cell_r + depth, along),  # top
        1: (size - 1 + cell_r - depth, along),  # bottom
        2: (along, -cell_r + depth),  # left
        3: (along, size - 1 + cell_r - depth),  # right
    }
    ccy, ccx = centres[side]

    def cell_sd(y: np.ndarray, x: np.ndarray) -> np.ndarray:
        if size < 128:
            return np.full(np.broadcast(y, x).shape, -np.inf)
        return cell_r - np.hypot(y - ccy, x - ccx)

    sd = cell_sd(yy, xx)
    rho = np.zeros((size, size))
    # Background: film/resin with fine grain and faint blotches; tanh keeps rho > 0, so the
    # brightest pixel stays below the illumination and nothing needs clipping.
    grain = 0.4 * _smooth_noise(rng, size, 0.7) + 0.3 * _smooth_noise(rng, size, 3.0)
    rho += 0.15 + 0.08 * np.tanh(grain)
    # Cytoplasm: denser, granular (ribosome-like dots), faded in across the membrane.
    cyto = 0.4 + 0.10 * _smooth_noise(rng, size, 1.2) + 0.08 * _smooth_noise(rng, size, 6.0)
    rho += cyto / (1.0 + np.exp(np.clip(-(sd - 2.0) / 1.0, -50, 50)))
    # Plasma membrane: two dense leaflets ~4 px apart.
    for off in (0.0, 3.5):
        rho += 0.75 * np.exp(-((sd - off) ** 2) / (2 * 0.9**2))

    texture = _smooth_noise(rng, size, 1.0)
    particles = _place_particles(rng, size, cell_sd)
    for cy, cx, r in particles:
        _render_particle(rho, texture, rng, cy, cx, r)

    illum = _ILLUMINATION * (1.0 + 0.04 * np.tanh(_smooth_noise(rng, size, size / 6.0)))
    image = illum * np.exp(-rho)
    clipped: np.ndarray = np.clip(image, 0.0, 1.0)
    return clipped


def add_tem_noise(
    clean: np.ndarray,
    seed: int = 0,
    dose: float = DEFAULT_DOSE,
    read_sigma: float = DEFAULT_READ_SIGMA,
) -> np.ndarray:
    """Low-dose TEM noise: counts = Poisson(dose * clean) + Normal(0, read_sigma), returned as
    counts / dose (the scale of ``clean``), float64 with clean's shape.

    ``dose`` is the expected number of electrons per pixel for intensity 1 (> 0); ``read_sigma`` is
    the detector readout noise in electrons (>= 0). The defaults (dose 50, read_sigma 2) give a
    PSNR of about 16 dB against ``simulated_micrograph()``: 15.4 dB for the default seeds, 15.4 to
    16.7 dB over image seeds 0-9 at size 256, 14.7 to 17.4 dB at sizes 128-512 (data_range =
    clean's range). Values are not clipped (readout noise can make them slightly negative).
    Deterministic for a seed.
    """
    arr = np.asarray(clean)
    if arr.dtype.kind not in "uif":
        raise ValueError(f"clean must hold real numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if arr.size and not np.isfinite(arr).all():
        raise ValueError("clean contains NaN or infinite values")
    if arr.size and arr.min() < 0:
        raise ValueError(f"clean must be >= 0 (it is an intensity), min is {arr.min():g}")
    dose = _check_real(dose, "dose", positive=True)
    read_sigma = _check_real(read_sigma, "read_sigma", positive=False)
    seed = _check_int(seed, "seed", 0)
    rng = np.random.default_rng(seed)
    counts = np.asarray(rng.poisson(arr * dose), dtype=np.float64)
    counts += read_sigma * rng.standard_normal(arr.shape)
    return counts / dose
