"""A SIMULATED cryo-electron tomogram of virions with its clean truth, made in code (numpy only).

    tomo = zeroshot.data.simulated_tomogram((64, 256, 256), seed=0)    # SIMULATED, NOT REAL DATA
    tomo.clean, tomo.noisy          # (Z, Y, X) float64 each: the truth and the noisy volume
    tomo.noise_psd()                # (Z, Y, X) E|fftn(noise)|²: the TRUE 3-D noise PSD (bm3d / bm4d convention)
    tomo.slice_psd()                # (Y, X) the true PSD of the noise of any one z-slice (bm3d convention)
    tomo.noise_acf(3)               # (3, 4) the exact noise autocorrelation along z, y, x at lags 0..3

What it is: a block of vitreous ice holding spherical enveloped virions and the edge of a cell, in the contrast of a
cryo-ET reconstruction (dense material dark on a lighter background). Each virion is a shell: a lipid bilayer drawn
as two dark leaflets 4 voxels apart, a denser interior with dark granules (ribonucleoprotein-like), and spikes on its
surface (a thin stalk and a club-shaped knob, pointing outwards). A cell's plasma membrane (also a bilayer) crosses
the volume as a large curved surface along one side, with a denser, granular cytoplasm (ribosome-like dots) and a
few filaments behind it. Voxels are nominally about 1 nm (virion radii 17 to 25 voxels, so that several fit whole
in a 64-voxel-thick slab: smaller than a real coronavirus); the scene's scale does not change with the shape: a
larger volume shows more virions. Values: ice 0.72, virion interiors about 0.67, leaflets down to about 0.52,
knobs, granules and ribosome-like dots between (clean = 0.72 · exp(−density / 2): a monotone map that keeps them
positive).

Noise: additive Gaussian, stationary and correlated along x, y and z, made on the volume's periodic grid by
filtering white noise with a separable spectrum S(kz, ky, kx) = Sz(kz) · Sy(ky) · Sx(kx), so its PSD (and ACF) is
known exactly. The in-plane spectra are fitted to the noise of the real slice that zeroshot ships
(``zeroshot.data.sarscov2()``, measured in its flat-ice box ``SARSCOV2_BACKGROUND`` after a plane fit, numpy only):

======  ==========================================  ==========================================
 lag     real slice, along x (a row) / along y       this volume, along x / along y (exact)
======  ==========================================  ==========================================
  1      0.876 / 0.942                                0.875 / 0.944
  2      0.570 / 0.795                                0.570 / 0.795
  3      0.204 / 0.602                                0.201 / 0.600
  6     −0.342 / 0.157                               −0.341 / 0.157
======  ==========================================  ==========================================

Along x (across the tilt axis) the real noise is band-pass (negative lobes from lag 4: the ramp filter of the
reconstruction): Sx(f) = |f|^1.31 · exp(−(f / 0.0736)²) plus a floor of 10⁻³ of its peak; along y (the tilt axis)
it is low-pass: Sy(f) = exp(−(f / 0.079)²) + 0.23 · exp(−(f / 0.026)²) (f in cycles per voxel). Along z nothing
real was measured (the package ships one slice); a reconstructed tomogram's noise is correlated between sections
too, and the z spectrum is a plausible choice, not a measurement: Sz(f) = exp(−(f / 0.27)²), a lag-1 correlation
of 0.50 (0.05 at lag 2, 0.005 at lag 3).

The noise σ is 0.05, so that the contrasts in noise units are the real slice's: a leaflet is about 4 σ darker than
the ice (real slice: 3.6 to 3.8 σ for the two clearest membrane boxes of bench/real_em_boxes.json, a 4-pixel box
over one dark line against empty ice) and a virion interior about 1 σ (real: 0.8 to 0.9 σ); the noisy volume's
PSNR against the clean one (data range = the clean range) is then about 17.6 dB.

wedge=True: the clean volume loses the frequencies of a missing wedge (tilt axis y, tilt range ±60°: the
frequencies (kz, kx) within 30° of the kz axis, with a soft 2° edge), which elongates structure along z and leaves
X-shaped streaks in xz sections; the clean truth is then that wedge-filtered volume (the best any denoiser of this
noise can return). The noise is the same either way.
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np

__all__ = ["TOMOGRAM_NOISE_SIGMA", "SimulatedTomogram", "simulated_tomogram", "tomogram_noise_spectra"]

TOMOGRAM_NOISE_SIGMA = 0.05
_ICE = 0.72  # clean value of empty ice (density 0)
_DENSITY_SCALE = 0.5  # clean = _ICE * exp(-_DENSITY_SCALE * density)

# Noise spectra (f in cycles per voxel), fitted to the real slice's flat-ice ACF (module docstring).
_SX_POWER, _SX_WIDTH, _SX_FLOOR = 1.31, 0.0736, 1e-3
_SY_WIDTH, _SY_TAIL, _SY_TAIL_WIDTH = 0.079, 0.23, 0.026
_SZ_WIDTH = 0.27

# Scene (voxels; densities in units of the exponent above).
_VIRIONS_PER_AREA = 6.0 / 256**2  # about 6 virions in a 256 x 256 field
_RADIUS_RANGE = (17.0, 25.0)
_LEAFLET_GAP, _LEAFLET_WIDTH, _LEAFLET_RHO = 4.0, 0.8, 0.65
_INTERIOR_RHO = 0.15
_GRANULE_RHO, _GRANULE_SIZE = 0.35, (1.0, 1.8)
_SPIKE_LENGTH = (8.0, 11.0)
_SPIKE_AREA = 65.0  # membrane area per spike (voxels²): about 77 spikes on a virion of radius 20
_STALK_RHO, _STALK_WIDTH = 0.3, 0.8
_KNOB_RHO, _KNOB_ALONG, _KNOB_ACROSS = 0.55, 1.6, 2.3
_CYTOPLASM_RHO, _RIBOSOME_RHO, _RIBOSOMES_PER_VOXEL = 0.15, 0.4, 1.0 / 900
_FILAMENT_RHO, _FILAMENT_WIDTH = 0.3, 1.3
_WEDGE_HALF_ANGLE, _WEDGE_EDGE = 30.0, 2.0  # degrees: missing directions within 30° of kz (tilts to ±60°)


def _check_shape(shape: object) -> tuple[int, int, int]:
    if not isinstance(shape, (tuple, list)) or len(shape) != 3:
        raise ValueError(f"shape must be a (Z, Y, X) tuple of three integers, got {shape!r}")
    out = []
    for n in shape:
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 8:
            raise ValueError(f"shape must hold integers >= 8, got {shape!r}")
        out.append(int(n))
    return out[0], out[1], out[2]


def tomogram_noise_spectra(shape: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(Sz, Sy, Sx): the 1-D noise spectra on the periodic grid of `shape` (Z, Y, X), each of length n in
    numpy's FFT order (np.fft.fftfreq(n)) and scaled to mean 1, so that noise of σ has the 3-D PSD
    σ² · Z Y X · Sz ⊗ Sy ⊗ Sx (E|fftn(noise)|²). The module docstring gives the formulas and their fit."""
    nz, ny, nx = _check_shape(shape)
    fz, fy, fx = (np.fft.fftfreq(n) for n in (nz, ny, nx))
    sx = np.abs(fx) ** _SX_POWER * np.exp(-((fx / _SX_WIDTH) ** 2))
    sx = sx + _SX_FLOOR * sx.max()
    sy = np.exp(-((fy / _SY_WIDTH) ** 2)) + _SY_TAIL * np.exp(-((fy / _SY_TAIL_WIDTH) ** 2))
    sz = np.exp(-((fz / _SZ_WIDTH) ** 2))
    return sz / sz.mean(), sy / sy.mean(), sx / sx.mean()


class SimulatedTomogram(NamedTuple):
    """A SIMULATED (not real) cryo-ET volume (zeroshot.data.tomogram): clean and noisy (Z, Y, X) float64,
    noise = noisy − clean Gaussian of std noise_sigma with the separable spectrum `spectra` (Sz, Sy, Sx; each 1-D,
    mean 1, numpy FFT order); virions (n, 4): each virion's centre (z, y, x) and radius in voxels (its envelope is
    within ±6 % of that sphere, the middle of its bilayer)."""

    clean: np.ndarray
    noisy: np.ndarray
    noise_sigma: float
    spectra: tuple[np.ndarray, np.ndarray, np.ndarray]
    virions: np.ndarray

    def noise_psd(self) -> np.ndarray:
        """(Z, Y, X): the true noise PSD E|fftn(noise)|² (unnormalised FFT; white noise of σ would be σ² Z Y X
        everywhere), the convention of bm4d's and bm3d's `sigma_psd`."""
        sz, sy, sx = self.spectra
        scale = self.noise_sigma**2 * sz.size * sy.size * sx.size
        psd: np.ndarray = scale * sz[:, None, None] * sy[None, :, None] * sx[None, None, :]
        return psd

    def slice_psd(self) -> np.ndarray:
        """(Y, X): the true PSD E|fft2(noise[z])|² of any one z-slice's noise (bm3d's `sigma_psd` convention)."""
        _, sy, sx = self.spectra
        psd: np.ndarray = self.noise_sigma**2 * sy.size * sx.size * np.outer(sy, sx)
        return psd

    def noise_acf(self, max_lag: int = 3) -> np.ndarray:
        """(3, max_lag + 1): the exact correlation of the noise at lags 0..max_lag along z, y and x (rows in that
        order; lag 0 is 1). Lags beyond an axis' length wrap around (the grid is periodic)."""
        rows = []
        for s in self.spectra:
            acf = np.fft.ifft(s).real
            rows.append(acf[np.arange(max_lag + 1) % s.size] / acf[0])
        return np.array(rows)


def _rng_unit_vectors(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.standard_normal((n, 3))
    out: np.ndarray = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out


def _window(
    shape: tuple[int, ...], centre: np.ndarray, half: float
) -> tuple[tuple[slice, slice, slice], np.ndarray, np.ndarray, np.ndarray] | None:
    """The slices of the cube of half-width `half` around `centre` (z, y, x) cut to the volume and its offset grids
    (broadcastable (dz, 1, 1), (1, dy, 1), (1, 1, dx)); None when it misses the volume."""
    sl = []
    grids = []
    for axis, (n, c) in enumerate(zip(shape, centre)):
        lo, hi = max(int(np.floor(c - half)), 0), min(int(np.ceil(c + half)) + 1, n)
        if lo >= hi:
            return None
        sl.append(slice(lo, hi))
        g = np.arange(lo, hi, dtype=np.float64) - c
        grids.append(g.reshape([-1 if a == axis else 1 for a in range(3)]))
    return (sl[0], sl[1], sl[2]), grids[0], grids[1], grids[2]


def _add_blob(rho: np.ndarray, centre: np.ndarray, sigma: float, amplitude: float) -> None:
    """A Gaussian blob of std `sigma` and peak `amplitude` added to rho in place (cut at 3 σ)."""
    win = _window(rho.shape, centre, 3.0 * sigma)
    if win is None:
        return
    sl, dz, dy, dx = win
    rho[sl] += amplitude * np.exp(-(dz**2 + dy**2 + dx**2) / (2.0 * sigma**2))


def _add_spike(rho: np.ndarray, base: np.ndarray, direction: np.ndarray, length: float, knob: float) -> None:
    """A stalk (segment from `base` along the unit `direction`, Gaussian profile) with a club-shaped knob at its
    tip (an oblate Gaussian: narrow along the spike, wide across it), added to rho in place."""
    tip = base + length * direction
    middle = 0.5 * (base + tip)
    win = _window(rho.shape, middle, 0.5 * length + 3.0 * _KNOB_ACROSS)
    if win is None:
        return
    sl, dz, dy, dx = win
    rz, ry, rx = dz + middle[0] - base[0], dy + middle[1] - base[1], dx + middle[2] - base[2]
    along_base = rz * direction[0] + ry * direction[1] + rx * direction[2]
    r2 = rz**2 + ry**2 + rx**2
    t = np.clip(along_base, 0.0, length)
    seg2 = r2 - 2.0 * t * along_base + t**2  # squared distance to the segment
    along_tip = along_base - length
    across2 = np.maximum(r2 - along_base**2, 0.0)
    rho[sl] += _STALK_RHO * np.exp(-seg2 / (2.0 * _STALK_WIDTH**2)) + knob * np.exp(
        -(along_tip**2) / (2.0 * _KNOB_ALONG**2) - across2 / (2.0 * _KNOB_ACROSS**2)
    )


def _bilayer(distance: np.ndarray) -> np.ndarray:
    """Two leaflets _LEAFLET_GAP apart centred on distance 0 (a signed distance to the membrane's middle)."""
    h = 0.5 * _LEAFLET_GAP
    w = 2.0 * _LEAFLET_WIDTH**2
    out: np.ndarray = _LEAFLET_RHO * (np.exp(-((distance - h) ** 2) / w) + np.exp(-((distance + h) ** 2) / w))
    return out


def _add_virion(rho: np.ndarray, rng: np.random.Generator, centre: np.ndarray, radius: float) -> None:
    """One virion's density added to rho in place: bilayer shell, interior with granules, spikes."""
    spike_len = rng.uniform(*_SPIKE_LENGTH)
    # A slightly ellipsoidal envelope: semi-axes radius * (1 ± 6 %) along a random orthonormal frame.
    frame, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    axes = radius * rng.uniform(0.94, 1.06, 3)
    win = _window(rho.shape, centre, 1.08 * radius + 4.0)
    if win is not None:
        sl, dz, dy, dx = win
        # the envelope's scaled radius |A⁻¹ Rᵀ r| · radius, minus radius: close to the signed distance
        u = [(frame[0, k] * dz + frame[1, k] * dy + frame[2, k] * dx) / axes[k] for k in range(3)]
        d = radius * (np.sqrt(u[0] ** 2 + u[1] ** 2 + u[2] ** 2) - 1.0)
        inside = 1.0 / (1.0 + np.exp(np.clip((d + _LEAFLET_GAP / 2) / 0.7, -50.0, 50.0)))
        rho[sl] += _INTERIOR_RHO * inside + _bilayer(d)
    # Granules scattered through the interior.
    n_granules = int(rng.integers(int(1.5 * radius), int(2.5 * radius) + 1))
    where = _rng_unit_vectors(rng, n_granules) * (0.8 * radius * rng.uniform(0.0, 1.0, (n_granules, 1)) ** (1 / 3))
    for offset in where:
        step = frame @ (offset * axes / radius)  # follow the envelope's shape
        _add_blob(rho, centre + step, rng.uniform(*_GRANULE_SIZE), _GRANULE_RHO * rng.uniform(0.6, 1.2))
    # Spikes: roughly even over the surface (a Fibonacci sphere, randomly rotated), some missing, tilted a little.
    n = max(round(4.0 * np.pi * radius**2 / _SPIKE_AREA), 8)
    k = np.arange(n) + 0.5
    polar, azimuth = np.arccos(1.0 - 2.0 * k / n), np.pi * (1.0 + 5.0**0.5) * k
    dirs = np.stack([np.cos(polar), np.sin(polar) * np.cos(azimuth), np.sin(polar) * np.sin(azimuth)], axis=1)
    rotation, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    dirs = dirs @ rotation.T
    keep = rng.uniform(size=n) > 0.2
    for unit in dirs[keep]:
        local = frame.T @ unit  # the envelope's surface point along `unit`
        surface = radius / float(np.linalg.norm(local * radius / axes))
        tilt = unit + rng.normal(0.0, 0.15, 3)
        tilt /= np.linalg.norm(tilt)
        base = centre + (surface + 0.5 * _LEAFLET_GAP) * unit
        _add_spike(rho, base, tilt, spike_len * rng.uniform(0.85, 1.15), _KNOB_RHO * rng.uniform(0.75, 1.25))


def _add_cell(rho: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The edge of a cell along one side (a big sphere whose centre lies outside the volume, in the xy plane's
    direction of one side): plasma membrane bilayer, denser cytoplasm with ribosome-like dots, a few filaments.
    Returns the signed distance to the membrane (> 0 inside the cell), (Z, Y, X) broadcastable."""
    nz, ny, nx = rho.shape
    side = int(rng.integers(4))
    big = max(ny, nx) * rng.uniform(1.5, 2.5)
    depth = min(ny, nx) * rng.uniform(0.12, 0.2)
    along = rng.uniform(0.3, 0.7)
    cz = nz * rng.uniform(0.3, 0.7)
    cy, cx = {
        0: (-big + depth, along * nx),
        1: (ny - 1 + big - depth, along * nx),
        2: (along * ny, -big + depth),
        3: (along * ny, nx - 1 + big - depth),
    }[side]
    z = np.arange(nz, dtype=np.float64)[:, None, None]
    y = np.arange(ny, dtype=np.float64)[None, :, None]
    x = np.arange(nx, dtype=np.float64)[None, None, :]
    sd: np.ndarray = big - np.sqrt((z - cz) ** 2 + (y - cy) ** 2 + (x - cx) ** 2)
    # only the voxels near or inside the cell are computed further
    near = sd > -3.0 * _LEAFLET_GAP
    rho[near] += _bilayer(sd[near]) + _CYTOPLASM_RHO / (1.0 + np.exp(np.clip(-(sd[near] - 3.0), -50.0, 50.0)))
    inside = np.flatnonzero(sd.ravel() > 2.0 * _LEAFLET_GAP)
    if inside.size:
        n_dots = int(rng.poisson(_RIBOSOMES_PER_VOXEL * inside.size))
        for flat in rng.choice(inside, size=n_dots):
            _add_blob(rho, np.array(np.unravel_index(flat, rho.shape), dtype=np.float64), rng.uniform(1.4, 2.2),
                      _RIBOSOME_RHO * rng.uniform(0.6, 1.1))  # fmt: skip
        # Filaments: straight rods through the cytoplasm, roughly parallel to the membrane.
        for _ in range(3):
            start = np.array(np.unravel_index(int(rng.choice(inside)), rho.shape), dtype=np.float64)
            normal = np.array([start[0] - cz, start[1] - cy, start[2] - cx])
            normal /= np.linalg.norm(normal)
            direction = np.cross(normal, rng.standard_normal(3))
            direction /= np.linalg.norm(direction)
            for t in np.arange(-60.0, 60.0, 1.0):
                point = start + t * direction
                if 0 <= point[0] < nz and 0 <= point[1] < ny and 0 <= point[2] < nx:
                    _add_blob(rho, point, _FILAMENT_WIDTH, 0.45 * _FILAMENT_RHO)
    return sd


def _place_virions(
    rng: np.random.Generator, shape: tuple[int, int, int], sd_cell: np.ndarray
) -> list[tuple[np.ndarray, float]]:
    """Centres and radii, not overlapping (spikes may interleave), clear of the cell, centred in the slab's depth
    when the slab is thick enough to hold them whole."""
    nz, ny, nx = shape
    target = max(1, int(rng.poisson(_VIRIONS_PER_AREA * ny * nx)))
    placed: list[tuple[np.ndarray, float]] = []
    for _ in range(80 * target):
        if len(placed) >= target:
            break
        r = rng.uniform(*_RADIUS_RANGE)
        lo, hi = (r + 2.0, nz - r - 3.0) if nz > 2 * r + 5 else (0.0, nz - 1.0)
        c = np.array([rng.uniform(lo, hi), rng.uniform(0.0, ny - 1.0), rng.uniform(0.0, nx - 1.0)])
        iz, iy, ix = (min(max(int(v), 0), n - 1) for v, n in zip(c, shape))
        if sd_cell[iz, iy, ix] > -(r + 6.0):
            continue
        if any(np.linalg.norm(c - p) < (r + q) * 0.98 + 2.0 for p, q in placed):
            continue
        placed.append((c, r))
    return placed


def _missing_wedge(volume: np.ndarray) -> np.ndarray:
    """`volume` without the frequencies of a missing wedge: tilt axis y, directions in the (kz, kx) plane within
    _WEDGE_HALF_ANGLE of kz removed with a soft (logistic, _WEDGE_EDGE degrees) edge; DC kept."""
    nz, _, nx = volume.shape
    kz = np.abs(np.fft.fftfreq(nz))[:, None, None]
    kx = np.abs(np.fft.rfftfreq(nx))[None, None, :]
    angle = np.degrees(np.arctan2(kz, kx))  # 90 along kz, 0 along kx and at DC
    keep = 1.0 / (1.0 + np.exp(np.clip((angle - (90.0 - _WEDGE_HALF_ANGLE)) / _WEDGE_EDGE, -50.0, 50.0)))
    out: np.ndarray = np.fft.irfftn(np.fft.rfftn(volume) * keep, s=volume.shape, axes=(0, 1, 2))
    return out


def simulated_tomogram(
    shape: tuple[int, int, int] = (64, 256, 256),
    seed: int = 0,
    wedge: bool = False,
    noise_sigma: float = TOMOGRAM_NOISE_SIGMA,
) -> SimulatedTomogram:
    """A SIMULATED (not real) cryo-ET volume of virions and a cell edge with its clean truth and correlated noise.

    shape (Z, Y, X), each >= 8 (default 64 × 256 × 256, under 2 s); seed: the scene (seed) and its noise (the same
    generator, drawn after the scene); wedge: remove a missing wedge's frequencies from the clean volume (tilt
    axis y, ±60°); noise_sigma: the noise std (default 0.05, the real slice's noise-to-contrast ratio). Returns
    SimulatedTomogram(clean, noisy, noise_sigma, spectra, virions), float64; `.noise_psd()` and `.slice_psd()` give the
    true PSDs for BM4D / BM3D. Deterministic for (shape, seed, wedge, noise_sigma). The module docstring
    (zeroshot.data.tomogram) describes the scene and the noise and how they were matched to the real slice.
    """
    nz, ny, nx = _check_shape(shape)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    if isinstance(noise_sigma, bool) or not isinstance(noise_sigma, numbers.Real) or not noise_sigma >= 0:
        raise ValueError(f"noise_sigma must be a real number >= 0, got {noise_sigma!r}")
    if not np.isfinite(noise_sigma):
        raise ValueError(f"noise_sigma must be finite, got {noise_sigma!r}")
    rng = np.random.default_rng(int(seed))
    rho = np.zeros((nz, ny, nx))
    sd_cell = _add_cell(rho, rng)
    placed = _place_virions(rng, (nz, ny, nx), sd_cell)
    for centre, radius in placed:
        _add_virion(rho, rng, centre, radius)
    virions = np.array([[*centre, radius] for centre, radius in placed], dtype=np.float64).reshape(-1, 4)
    clean: np.ndarray = _ICE * np.exp(-_DENSITY_SCALE * rho)
    if wedge:
        clean = _missing_wedge(clean)

    spectra = tomogram_noise_spectra((nz, ny, nx))
    sz, sy, sx = spectra
    amplitude = np.sqrt(sz[:, None, None] * sy[None, :, None] * sx[None, None, : nx // 2 + 1])
    white = np.fft.rfftn(rng.standard_normal((nz, ny, nx)))
    noise = np.fft.irfftn(white * amplitude, s=(nz, ny, nx), axes=(0, 1, 2))
    noisy: np.ndarray = clean + float(noise_sigma) * noise
    return SimulatedTomogram(clean, noisy, float(noise_sigma), spectra, virions)
