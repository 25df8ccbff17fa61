"""Pinned results: the denoised image, variance and third-moment maps of small fixed problems. A refactoring must
leave them unchanged; a change that is meant to alter results updates the pins in the same commit and says why
(last: issue 19, the E-step's and the whitening's products row by row alike for any chunk, `rows_times`).

Each map is pinned by a fingerprint (its mean, standard deviation and two fixed random projections) to 1e-9 of its
scale, not by a hash of its bytes: numpy's OpenBLAS picks its kernels by the CPU at run time, and AVX-512 and AVX2
kernels round the matrix products differently (the maps then differ by about 1e-14 of their scale; a change of the
method moves them by far more). On one machine, one thread and two give bitwise the same maps.
Print the pins of the code at hand: `python tests/api/test_golden.py`."""

from __future__ import annotations

import numpy as np
import pytest

import zeroshot


def _image() -> np.ndarray:
    y, x = np.mgrid[:40, :44]
    clean = 40.0 + 80.0 * ((x // 11) % 2) + 60.0 * ((y // 13) % 2)
    return clean + 20.0 * np.random.default_rng(7).standard_normal(clean.shape)


CASES = {
    "bsc_all": {
        "model": "bsc",
        "patch_size": 5,
        "n_latents": 12,
        "n_states": 8,
        "epochs": 6,
        "max_train_patches": None,
    },
    "bsc_subset": {
        "model": "bsc",
        "patch_size": 4,
        "n_latents": 10,
        "n_states": 6,
        "epochs": 5,
        "max_train_patches": 300,
        "inference_epochs": 3,
        "chunk_patches": 257,
    },
    "es3c_all": {
        "model": "es3c",
        "patch_size": 5,
        "n_latents": 10,
        "n_states": 6,
        "epochs": 5,
        "max_train_patches": None,
    },
    "es3c_subset_pretrain": {
        "model": "es3c",
        "patch_size": 4,
        "n_latents": 8,
        "n_states": 6,
        "epochs": 4,
        "bsc_pretrain_epochs": 2,
        "max_train_patches": 400,
        "inference_epochs": 2,
    },
    "bsc_median": {"model": "bsc", "patch_size": 4, "n_latents": 8, "n_states": 6, "epochs": 3, "merge": "median"},
    "bsc_gaussian": {"model": "bsc", "patch_size": 4, "n_latents": 8, "n_states": 6, "epochs": 3, "merge": "gaussian"},
}
PINS: dict[str, list[list[float]]] = {
    "bsc_all": [
        [100.01339509219353, 48.117074488495135, -1.4688408029608004, 3.3401520535744567],
        [60.193770658020014, 79.61424551439681, 0.47851479486357884, 1.52935613288256],
        [-162.26265135080592, 1467.804441160102, 14.93909788369059, -7.76004072769323],
    ],
    "bsc_subset": [
        [99.89310633137326, 48.22148251144744, -1.3045964729095374, 3.4394875135585683],
        [69.08473196155086, 93.52698436586279, 3.0147092279797096, 1.4094366607915705],
        [-78.27771324201862, 1673.0540932656866, -17.76661545341829, 73.30973452073633],
    ],
    "es3c_all": [
        [99.9705136314791, 48.80969383169309, -1.472863669537871, 3.449473567524987],
        [47.83217539664999, 53.33598002061751, 1.3513733811608426, 1.5569946200334621],
        [-76.78865499769572, 921.128677275317, -21.4587238100069, -6.720742066645033],
    ],
    "es3c_subset_pretrain": [
        [99.84740828727267, 47.99937638189363, -1.3418498858123515, 3.422046516189623],
        [86.39898967702253, 93.5097707272017, 4.009486241395654, 0.9830021950016384],
        [134.45045875850408, 1310.7846849625892, 7.21772341839811, -5.13816204383797],
    ],
    "bsc_median": [
        [99.84002093156171, 47.306830704351135, -1.2640453368550946, 3.368149181533334],
        [86.50195688511567, 88.71200359015523, 3.026085841496525, 2.005934055232775],
        [59.44688654356484, 946.9075377314242, -27.113387802010163, 4.7879616844995],
    ],
    "bsc_gaussian": [
        [100.0121317989161, 47.05041497760894, -1.2705441570035811, 3.3844012003710087],
        [86.50195688511567, 88.71200359015523, 3.026085841496525, 2.005934055232775],
        [59.44688654356484, 946.9075377314242, -27.113387802010163, 4.7879616844995],
    ],
}


def _maps(name: str, threads: int) -> list[np.ndarray]:
    result = zeroshot.denoise(_image(), threads=threads, moments=3, seed=3, **CASES[name])
    assert result.moments is not None and result.moments.third is not None
    return [result.denoised, result.moments.variance, result.moments.third]


def fingerprint(values: np.ndarray) -> list[float]:
    """Mean, standard deviation and two fixed random projections of a map."""
    weights = np.random.default_rng(11).standard_normal((2, *values.shape))
    return [float(values.mean()), float(values.std()), *(float(np.mean(w * values)) for w in weights)]


def pins(name: str) -> list[list[float]]:
    return [fingerprint(values) for values in _maps(name, threads=1)]


@pytest.mark.parametrize("name", sorted(CASES))
def test_results_are_pinned(name: str) -> None:
    one, two = _maps(name, threads=1), _maps(name, threads=2)
    for a, b in zip(one, two):
        assert np.array_equal(a, b), f"{name}: one thread and two differ"
    for kind, values, pinned in zip(("denoised", "variance", "third"), one, PINS[name]):
        scale = abs(pinned[0]) + pinned[1]
        got = fingerprint(values)
        assert np.allclose(got, pinned, rtol=0, atol=1e-9 * scale), f"{name} {kind}: fingerprint {got} != {pinned}"


if __name__ == "__main__":
    print("PINS = {")
    for case in CASES:
        print(f"    {case!r}: {pins(case)!r},")
    print("}")
