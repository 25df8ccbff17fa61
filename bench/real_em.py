"""Real-data benchmark: zeroshot against BM3D given an estimated noise PSD, a Gaussian blur and (when installed)
Topaz-Denoise on real cryo-EM images, measured as in the review /work/shared/reviews/real_em_turn3.md.

Images (``--images``, all by default):

- virus: rows 100:612, columns 400:912 (512²) of the SARS-CoV-2 cryo-ET slice zeroshot ships
  (``zeroshot.data.sarscov2()``, the same pixels as ../shared/data/em/sarscov2_cryoet_TS_001.133.tif). The crop,
  the five region-SNR box pairs, the flat-ice box, the doublet columns and the whole slice's background box are
  in bench/real_em_boxes.json (picked by eye in the review). Unless ``--skip-maps``, also the structure maps.
- slice: the whole 928 × 960 slice (background box rows 80:280, columns 500:800).
- ribosome: the 512² centre crop of ../shared/data/em/cryoem_80S_ribosome_EMPIAR-10028_065.png (no boxes).

Methods, all on the same float64 input, timed in the same run (wall seconds on this machine):

- zeroshot: ``zeroshot.denoise.denoise(image, config=..., threads=--threads)`` with the package defaults of
  ``--model`` (seed 0, noise "auto") and the ``--zeroshot key=value`` overrides (``evo.<field>`` for the nested
  EVO config; bench/denoise_quality.model_config).
- bm3d-psd: ``bm3d.bm3d(image, sigma_psd=PSD, profile="np")`` (bench/noise_quality.run_bm3d, which aliases
  np.trapz for numpy 2.4) with PSD estimated from the image itself (below); its time includes the estimate.
- gauss2: ``scipy.ndimage.gaussian_filter(image, 2)`` (reflect borders): the trivial reference.
- topaz: only when the ``topaz`` package is importable: ``topaz denoise IN.tif -o DIR --format tiff -d -1 -m
  unet -j THREADS`` (its default pretrained 2-D U-net, CPU), time including the process start; skipped with a
  note otherwise.

**Noise PSD estimate (minimum statistics; ``estimate_psd``).** Hann-windowed (periodic Hann, 64 × 64)
periodograms of 64 × 64 windows every 16 px, each window's mean removed first, |fft2(x w)|² / Σw². Per
frequency the 30th percentile over the windows divided by −ln 0.7: the mean of an exponential variable whose 30th
percentile that is, so structure that raises a minority of the windows is ignored. DC := the mean of its 8
neighbours (circularly). That 64² PSD goes to the image's grid through its autocovariance (inverse FFT): the lags
|Δr|, |Δc| < 32 times a separable raised-cosine taper ½(1 + cos(π Δ / 32)), placed on the image's periodic grid
and Fourier transformed, then clipped below at 1 % of its median. Scaled to bm3d's convention PSD = E|fft2(noise)|²
with the unnormalised FFT (white noise of σ: σ² R C everywhere; see bench/noise_quality.py's docstring). Printed:
the σ it implies, sqrt(mean(PSD) / (R C)), and its ACF at lags 1-3 along rows (horizontal) and columns (vertical).

**Measures** (residual = input − output):

- region SNR: Topaz-Denoise (Bepler et al. 2020) Eq. 4, 10 log10((mean S − mean B)² / var B), S the signal box
  and B its empty-ice background box, averaged over the 5 pairs, the 3 membrane pairs and the 2 interior pairs.
- step / doublet kept (virus): the column profile of the mean over rows 336:384 across virion 1's membrane;
  dip = mean of the light gap (columns 75, 76, 77) − mean of the two dark leaflets (columns 72, 73, 80, 81)
  (input: +7.4 grey levels); step = the profile's range over columns 66:92; both as output / input.
- flat ice: output std / input std in the flat-ice box (virus crop rows 0:180, columns 100:400); on the slice the
  background box; on the ribosome the flattest 64² window (the lowest std of the 2-px-blurred input among windows
  every 16 px).
- LP4: RMS(G4 ∗ out − G4 ∗ in) / std(in), G4 a Gaussian of σ 4 px (noise_quality.virus_measures, reflect borders):
  what a method moved at low frequencies ("nothing washed out").
- residual lag-1: its correlation at lag 1 along rows / columns (mean removed), beside the noise's lag 1 measured
  in the input's flat box and from the PSD estimate.
- residual structure: (a) the region SNR of the residual over the 3 membrane pairs (a noise-like residual has no
  contrast there: low or negative dB); (b) edge/flat: the RMS of the residual on the 10 % of pixels with the
  largest |∇(G2 ∗ input)| (the edges: membranes, gold, the cell edge) over its RMS in the flat box. 1 for a
  residual that is as strong on the edges as in empty ice (1.01 for Gaussian blurs of σ 1-3 of noise drawn with
  the crop's estimated PSD); above 1 where a method takes structure out with the noise, below 1 where it removes
  less at edges. Tried and not kept: the mean over 16 × 16 tiles of the Pearson correlation of the residual with the
  output, and of the residual's local energy with the output's gradient magnitude: under this strongly correlated
  noise both are dominated by the noise the two share (0.5-0.7 and 0.2-0.3 in the flat ice too) and did not rank
  Gaussian blurs of σ 1, 2, 3 by how much structure they remove.
- structure maps (virus crop): one ``zeroshot.enhance.enhance(crop, "skewness", config, threads)`` run (posterior
  moments up to 3) rendered by ``render_kind`` into variance V, √V, relief, detail and skewness (raw values),
  against a trivial edge map |∇(G2 ∗ input)| (np.gradient of the 2-px Gaussian blur) and the input itself: region
  SNR over the 3 membrane pairs (the sign of a map's contrast does not matter).

Targets of the issue, printed as MET / missed beside zeroshot's figures (a missed target does not fail the run):
region SNR ≥ BM3D-PSD's on the all-five and membrane means, doublet kept ≥ 0.39, flat ice ≤ 0.55, LP4 ≤ 0.075,
the slice's background ≤ 0.55; maps: √V and relief above the edge map on the membrane pairs. The run fails
(exit 1) only on a wrong result: an output not finite or of the wrong shape, the PSD estimate's σ more than
25 % from the flat box's std (virus crop and slice), or zeroshot's git checkout (editable install) at another
commit after the run than before it.

Panels (8-bit grey PNGs under --figures, shrunk until under 450 KB): real_em_<image>.png (input | zeroshot |
bm3d-psd | gauss2 (| topaz) on the input's 0.5/99.5 % stretch; second row the residuals on one common symmetric
stretch), real_em_<image>_zoom.png (virus: the zoom box of the JSON; ribosome: a central 192² window; at 2×),
real_em_virus_maps.png (each map on its own 0.5/99.5 % stretch).

    pip install bm3d scipy matplotlib      # benchmark-only dependencies
    python bench/real_em.py [--images virus ribosome slice] [--threads N] [--model bsc] [--zeroshot key=value ...]
                            [--skip-maps] [--no-bm3d] [--out-json PATH] [--figures DIR] [--markdown]
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import io
import json
import math
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
from scipy.ndimage import gaussian_filter
from scipy.signal.windows import hann

from common import SHARED_DATA, commit, machine, package_commit
from denoise_quality import model_config, print_table
from noise_quality import acf_from_psd, acf_lags, check_output, noise_decision, read_real, run_bm3d, virus_measures
from zeroshot.config import MODELS, DenoiseConfig

BENCH = Path(__file__).resolve().parent
BOXES_FILE = BENCH / "real_em_boxes.json"
IMAGES = ("virus", "ribosome", "slice")
RIBOSOME = "em/cryoem_80S_ribosome_EMPIAR-10028_065.png"
CROP = 512
# minimum-statistics PSD estimate
WINDOW, STEP, QUANTILE, MAX_LAG, PSD_FLOOR = 64, 16, 0.30, 32, 0.01
GAUSS_SIGMA, EDGE_SIGMA, EDGE_TOP = 2.0, 2.0, 0.10
SIGMA_TOLERANCE = 0.25  # the PSD's σ against the flat box's std: beyond this the estimate is wrong
PNG_LIMIT = 450_000  # bytes
LINE_STYLES = ("k-o", "k--s", "k:^", "k-.v", "k-x")  # the panels are grey: lines told apart by style
TARGETS = {"doublet": 0.39, "flat": 0.55, "lp4": 0.075, "slice": 0.55}
MAP_KINDS = ("variance", "sqrt_variance", "relief", "detail", "skewness")


# ------------------------------------------------------------------------------------------------- boxes
Box = tuple[slice, slice]


def box(b: list[int]) -> Box:
    """[r0, r1, c0, c1] (half-open) as a (rows, columns) pair of slices."""
    return slice(b[0], b[1]), slice(b[2], b[3])


@dataclasses.dataclass(frozen=True)
class Pair:
    name: str
    kind: str  # membrane | interior
    signal: Box
    background: Box


def load_boxes(path: Path = BOXES_FILE) -> dict[str, Any]:
    raw = json.loads(path.read_text(encoding="utf-8"))
    pairs = [Pair(p["name"], p["kind"], box(p["signal"]), box(p["background"])) for p in raw["pairs"]]
    return {**raw, "pairs": pairs, "crop": box(raw["crop"]), "flat_ice": box(raw["flat_ice"]),
            "zoom": box(raw["zoom"]), "slice_background": box(raw["slice_background"])}  # fmt: skip


# -------------------------------------------------------------------------------------------------- images
def load_slice(failures: list[str]) -> np.ndarray:
    """The bundled SARS-CoV-2 slice (928, 960) as float64, checked against ../shared's TIFF when present."""
    from zeroshot.data import sarscov2

    data = sarscov2().data.astype(np.float64)
    shared = read_real("sarscov2", "em/sarscov2_cryoet_TS_001.133.tif") if SHARED_DATA.is_dir() else None
    if shared is not None and not np.array_equal(shared[0], data):
        failures.append("the bundled zeroshot.data.sarscov2() differs from ../shared's slice")
    return data


def centre_crop(image: np.ndarray, size: int = CROP) -> tuple[np.ndarray, Box]:
    r0, c0 = (max((n - size) // 2, 0) for n in image.shape)
    window = (slice(r0, r0 + min(size, image.shape[0])), slice(c0, c0 + min(size, image.shape[1])))
    return image[window], window


# ---------------------------------------------------------------------------------------- PSD estimate
def periodograms(image: np.ndarray, size: int = WINDOW, step: int = STEP) -> np.ndarray:
    """(windows, size, size): |fft2((x − mean x) w)|² / Σw² of the size² windows every `step` px, w the 2-D
    periodic Hann window; each has the per-pixel variance as its mean over the frequencies."""
    w = np.outer(hann(size, sym=False), hann(size, sym=False))
    view = np.lib.stride_tricks.sliding_window_view(image, (size, size))[::step, ::step]
    x = view.reshape(-1, size, size)
    x = (x - x.mean(axis=(1, 2), keepdims=True)) * w
    return np.abs(np.fft.fft2(x)) ** 2 / float(np.sum(w * w))


def minimum_statistics(spectra: np.ndarray, quantile: float = QUANTILE) -> np.ndarray:
    """Per frequency the `quantile` over the windows / −ln(1 − quantile) (exponential mean); DC from its 8
    neighbours."""
    psd = np.quantile(spectra, quantile, axis=0) / -math.log(1.0 - quantile)
    ring = [np.roll(psd, (dr, dc), axis=(0, 1))[0, 0] for dr in (-1, 0, 1) for dc in (-1, 0, 1) if dr or dc]
    psd[0, 0] = float(np.mean(ring))
    return np.asarray(psd)


def raised_cosine(lag: np.ndarray, max_lag: int) -> np.ndarray:
    return np.where(np.abs(lag) < max_lag, 0.5 * (1.0 + np.cos(np.pi * lag / max_lag)), 0.0)


def psd_on_grid(small: np.ndarray, shape: tuple[int, int], max_lag: int = MAX_LAG) -> np.ndarray:
    """The per-pixel PSD `small` (n × n) on the periodic grid of `shape` through its autocovariance at lags
    below max_lag (raised-cosine taper), clipped at PSD_FLOOR of its median; bm3d's convention (× R C)."""
    n = small.shape[0]
    acf = np.real(np.fft.ifft2(small))
    lags = np.rint(np.fft.fftfreq(n, 1.0 / n)).astype(int)
    taper = raised_cosine(lags, max_lag)
    keep = np.abs(lags) < max_lag
    grid = np.zeros(shape)
    rows, cols = np.ix_(lags[keep] % shape[0], lags[keep] % shape[1])
    grid[rows, cols] = (acf * np.outer(taper, taper))[np.ix_(keep, keep)]
    psd = np.real(np.fft.fft2(grid))
    psd = np.maximum(psd, PSD_FLOOR * float(np.median(psd)))
    return np.asarray(psd * shape[0] * shape[1])


def estimate_psd(image: np.ndarray) -> np.ndarray:
    """The noise PSD of `image` from the image itself (minimum statistics; module docstring), bm3d's convention."""
    return psd_on_grid(minimum_statistics(periodograms(np.asarray(image, dtype=np.float64))), image.shape)


def psd_summary(psd: np.ndarray) -> tuple[float, list[float], list[float]]:
    """(σ, ACF lags 1-3 along rows, along columns) of noise with this PSD."""
    acf = acf_from_psd(psd)
    var = float(acf[0, 0])
    return math.sqrt(var), [float(acf[0, d] / var) for d in (1, 2, 3)], [float(acf[d, 0] / var) for d in (1, 2, 3)]


# ------------------------------------------------------------------------------------------------- methods
@dataclasses.dataclass
class Output:
    out: np.ndarray
    seconds: float
    note: str = ""


def run_zeroshot(image: np.ndarray, config: DenoiseConfig, threads: int | None) -> Output:
    from zeroshot.denoise import denoise

    start = time.perf_counter()
    result = denoise(image, config=config, threads=threads)
    seconds = time.perf_counter() - start
    print(f"  zeroshot noise model: {noise_decision(result)}", file=sys.stderr)
    kind = getattr(result.noise, "kind", "-")
    note = f"noise {kind}, σ̂ {result.noise_sigma:.2f}, patch {result.config.patch_size}"
    return Output(result.denoised, seconds, note)


def run_bm3d_psd(image: np.ndarray) -> Output:
    start = time.perf_counter()
    psd = estimate_psd(image)
    estimated = time.perf_counter() - start
    out = run_bm3d(image, psd)
    sigma, _, _ = psd_summary(psd)
    return Output(out, time.perf_counter() - start, f"PSD σ {sigma:.2f} (estimate {estimated:.1f} s)")


def run_gauss(image: np.ndarray) -> Output:
    start = time.perf_counter()
    out = gaussian_filter(image, GAUSS_SIGMA)
    return Output(np.asarray(out, dtype=np.float64), time.perf_counter() - start)


def topaz_available() -> bool:
    return importlib.util.find_spec("topaz") is not None


def run_topaz(image: np.ndarray, threads: int | None) -> Output:
    """The topaz CLI (default pretrained unet, CPU) on a float32 TIFF of the image; time includes its start."""
    import tifffile

    exe = shutil.which("topaz") or str(Path(sys.executable).with_name("topaz"))
    with tempfile.TemporaryDirectory() as tmp:
        source, target = Path(tmp) / "in.tif", Path(tmp) / "out"
        tifffile.imwrite(source, image.astype(np.float32))
        command = [exe, "denoise", str(source), "-o", str(target), "--format", "tiff", "-d", "-1", "-m", "unet"]
        start = time.perf_counter()
        subprocess.run([*command, "-j", str(threads or 1)], check=True, capture_output=True)
        seconds = time.perf_counter() - start
        out = tifffile.imread(next(target.glob("*.tif*"))).astype(np.float64)
    return Output(out, seconds, "topaz unet (pretrained 2-D)")


def run_methods(image: np.ndarray, args: argparse.Namespace, label: str, methods: tuple[str, ...]) -> dict[str, Output]:
    """Every method of `methods` that this run has, in order, on `image`."""
    runners: dict[str, Callable[[], Output]] = {
        "zeroshot": lambda: run_zeroshot(image, args.config, args.threads),
        "bm3d-psd": lambda: run_bm3d_psd(image),
        "gauss2": lambda: run_gauss(image),
        "topaz": lambda: run_topaz(image, args.threads),
    }
    outputs = {}
    for method in methods:
        if (method == "bm3d-psd" and args.no_bm3d) or (method == "topaz" and not topaz_available()):
            continue
        outputs[method] = runners[method]()
        print(f"  {label} {method}: {outputs[method].seconds:.1f} s {outputs[method].note}", file=sys.stderr)
    return outputs


def print_notes(outputs: dict[str, Output]) -> None:
    for method, o in outputs.items():
        if o.note:
            print(f"  {method}: {o.note}")


def checked(outputs: dict[str, Output], shape: tuple[int, ...], label: str, failures: list[str]) -> dict[str, Output]:
    """The outputs that are finite and of the input's shape (the others become failures)."""
    return {m: o for m, o in outputs.items() if check_output(failures, f"{label} {m}", o.out, shape)}


# ------------------------------------------------------------------------------------------------ measures
def region_snr(image: np.ndarray, signal: Box, background: Box) -> float:
    """Topaz-Denoise Eq. 4: 10 log10((mean S − mean B)² / var B)."""
    s, b = image[signal], image[background]
    return 10.0 * math.log10((float(s.mean()) - float(b.mean())) ** 2 / float(b.var()))


def mean_snr(image: np.ndarray, pairs: list[Pair]) -> float:
    return float(np.mean([region_snr(image, p.signal, p.background) for p in pairs]))


def snr_means(image: np.ndarray, pairs: list[Pair]) -> dict[str, float]:
    """Region SNR averaged over all pairs, the membrane pairs and the interior pairs."""
    kinds = {"all": pairs, **{k: [p for p in pairs if p.kind == k] for k in ("membrane", "interior")}}
    return {k: mean_snr(image, group) for k, group in kinds.items() if group}


def doublet(image: np.ndarray, spec: dict[str, Any]) -> tuple[float, float]:
    """(dip, step) of the row-averaged column profile across virion 1's membrane (module docstring)."""
    profile = image[spec["rows"][0] : spec["rows"][1]].mean(axis=0)
    dip = float(profile[spec["gap_cols"]].mean() - profile[spec["dark_cols"]].mean())
    step = float(np.ptp(profile[spec["step_cols"][0] : spec["step_cols"][1]]))
    return dip, step


def edge_ratio(noisy: np.ndarray, residual: np.ndarray, flat: Box, top: float = EDGE_TOP) -> float:
    """RMS of the residual on the `top` fraction of pixels with the largest |∇(G2 ∗ noisy)| / its RMS in `flat`."""
    edges = edge_map(noisy)
    mask = edges >= np.quantile(edges, 1.0 - top)
    return float(np.sqrt(np.mean(residual[mask] ** 2)) / np.sqrt(np.mean(residual[flat] ** 2)))


def edge_map(image: np.ndarray) -> np.ndarray:
    """|∇(G2 ∗ image)|: the trivial structure map (np.gradient of the 2-px Gaussian blur)."""
    gr, gc = np.gradient(gaussian_filter(image, EDGE_SIGMA))
    return np.asarray(np.hypot(gr, gc))


def flattest_box(image: np.ndarray, size: int = WINDOW, step: int = STEP) -> Box:
    """The size² window (every `step` px) where the 2-px-blurred image varies least."""
    view = np.lib.stride_tricks.sliding_window_view(gaussian_filter(image, 2.0), (size, size))[::step, ::step]
    r, c = np.unravel_index(int(np.argmin(view.std(axis=(2, 3)))), view.shape[:2])
    return slice(r * step, r * step + size), slice(c * step, c * step + size)


def residual_figures(noisy: np.ndarray, out: np.ndarray, flat: Box, pairs: list[Pair] | None) -> dict[str, Any]:
    """Flat box ratio, LP4, residual std and lag-1, edge/flat residual RMS, residual membrane SNR."""
    ratio, lp4 = virus_measures(noisy, out, flat)
    residual = noisy - out
    std, rows, cols = acf_lags(residual, 1)
    figures = {"flat_ratio": ratio, "lp4": lp4, "resid_std": std, "resid_lag1": [rows[0], cols[0]],
               "edge_ratio": edge_ratio(noisy, residual, flat)}  # fmt: skip
    if pairs is not None:
        figures["resid_snr_membrane"] = mean_snr(residual, [p for p in pairs if p.kind == "membrane"])
    return figures


def virus_figures(noisy: np.ndarray, out: np.ndarray, boxes: dict[str, Any]) -> dict[str, Any]:
    dip0, step0 = doublet(noisy, boxes["doublet"])
    dip, step = doublet(out, boxes["doublet"])
    figures = {f"snr_{k}": v for k, v in snr_means(out, boxes["pairs"]).items()}
    figures.update(doublet_kept=dip / dip0, step_kept=step / step0)
    return figures


# ------------------------------------------------------------------------------------------------- output
def f2(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, (list, tuple)):
        return "/".join(f"{v:.{digits}f}" for v in value)
    return f"{value:.{digits}f}"


def seconds_text(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}" if value < 100 else f"{value:.0f}"


def verdict(ok: bool) -> str:
    return "MET" if ok else "missed"


class Recorder:
    """The JSON lines of --out-json: one record per measured thing, with the run's context."""

    def __init__(self, context: dict[str, Any]) -> None:
        self.context = context
        self.records: list[dict[str, Any]] = []

    def add(self, section: str, what: str, figures: dict[str, Any]) -> None:
        self.records.append({"section": section, "what": what, **figures})

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as f:
            for record in self.records:
                f.write(json.dumps({**self.context, **record}, default=float) + "\n")


def psd_report(label: str, noisy: np.ndarray, flat: Box, flat_name: str, failures: list[str]) -> dict[str, Any]:
    """Prints the PSD estimate's σ and ACF beside the flat box's; the σ check."""
    psd = estimate_psd(noisy)
    sigma, rows, cols = psd_summary(psd)
    std, flat_rows, flat_cols = acf_lags(noisy[flat])
    print(f"{label}: noise PSD estimate (minimum statistics) σ {sigma:.2f}, ACF lags 1-3 horizontal "
          f"{f2(rows)}, vertical {f2(cols)}; {flat_name} std {std:.2f}, horizontal {f2(flat_rows)}, "
          f"vertical {f2(flat_cols)}")  # fmt: skip
    if label != "ribosome" and abs(sigma / std - 1.0) > SIGMA_TOLERANCE:
        failures.append(f"{label}: the PSD estimate's σ {sigma:.2f} is more than 25 % from the flat box std {std:.2f}")
    return {"psd_sigma": sigma, "psd_acf_h": rows, "psd_acf_v": cols, "flat_std": std, "flat_acf_h": flat_rows,
            "flat_acf_v": flat_cols}  # fmt: skip


# ----------------------------------------------------------------------------------------------- sections
def section_virus(args: argparse.Namespace, boxes: dict[str, Any], rec: Recorder, failures: list[str]) -> dict:
    crop = load_slice(failures)[boxes["crop"]]
    rows, cols = boxes["crop"]
    print(f"\n## virus: SARS-CoV-2 slice rows {rows.start}:{rows.stop}, columns {cols.start}:{cols.stop}")
    flat = boxes["flat_ice"]
    psd = psd_report("virus crop", crop, flat, "flat-ice box", failures)
    rec.add("virus", "psd", psd)
    dip, step = doublet(crop, boxes["doublet"])
    print(f"input doublet dip {dip:.2f} grey levels (gap − leaflets), step {step:.2f}")
    outputs = checked(run_methods(crop, args, "virus", ("zeroshot", "bm3d-psd", "gauss2", "topaz")),
                      crop.shape, "virus", failures)  # fmt: skip
    results = {"input": {f"snr_{k}": v for k, v in snr_means(crop, boxes["pairs"]).items()}}
    for method, o in outputs.items():
        results[method] = {**virus_figures(crop, o.out, boxes), **residual_figures(crop, o.out, flat, boxes["pairs"])}
        results[method]["seconds"] = o.seconds
        rec.add("virus", method, {**results[method], "note": o.note})
    virus_tables(args, results, psd)
    print_notes(outputs)
    virus_targets(args, results)
    return {"image": crop, "outputs": outputs, "zoom": boxes["zoom"], "doublet": boxes["doublet"]}


def virus_tables(args: argparse.Namespace, results: dict[str, dict[str, Any]], psd: dict[str, Any]) -> None:
    head = ["method", "s", "SNR all", "membr.", "inter.", "step kept", "doublet kept"]
    rows = [[m, seconds_text(r.get("seconds")), f2(r["snr_all"]), f2(r["snr_membrane"]), f2(r["snr_interior"]),
             f2(r.get("step_kept", 1.0)), f2(r.get("doublet_kept", 1.0))] for m, r in results.items()]  # fmt: skip
    print_table(head, rows, args.markdown)
    print()
    noise = f"{f2(psd['flat_acf_h'][0])}/{f2(psd['flat_acf_v'][0])}"
    head = ["method", "flat ice", "LP4", "resid. std", "resid. lag-1 (noise " + noise + ")", "resid. SNR membr.",
            "resid. edge/flat"]  # fmt: skip
    rows = [[m, f2(r["flat_ratio"], 3), f2(r["lp4"], 3), f2(r["resid_std"]), f2(r["resid_lag1"]),
             f2(r["resid_snr_membrane"]), f2(r["edge_ratio"])]
            for m, r in results.items() if m != "input"]  # fmt: skip
    print_table(head, rows, args.markdown)
    if "zeroshot" in results and "bm3d-psd" in results:
        ratio = results["zeroshot"]["seconds"] / results["bm3d-psd"]["seconds"]
        print(f"time zeroshot / bm3d-psd: {ratio:.2f}")


def virus_targets(args: argparse.Namespace, results: dict[str, dict[str, Any]]) -> None:
    ours, bm3d = results.get("zeroshot"), results.get("bm3d-psd")
    if ours is None:
        return
    rows = []
    for key, label in (("snr_all", "region SNR, all five"), ("snr_membrane", "region SNR, membranes")):
        if bm3d is not None:
            rows.append([label, f"≥ bm3d-psd {bm3d[key]:.2f}", f2(ours[key]), verdict(ours[key] >= bm3d[key])])
    rows += [
        ["doublet kept", f"≥ {TARGETS['doublet']}", f2(ours["doublet_kept"]),
         verdict(ours["doublet_kept"] >= TARGETS["doublet"])],
        ["flat ice", f"≤ {TARGETS['flat']}", f2(ours["flat_ratio"], 3), verdict(ours["flat_ratio"] <= TARGETS["flat"])],
        ["LP4", f"≤ {TARGETS['lp4']}", f2(ours["lp4"], 3), verdict(ours["lp4"] <= TARGETS["lp4"])],
    ]  # fmt: skip
    print("\nvirus crop: zeroshot against the issue's targets")
    print_table(["target", "wanted", "zeroshot", ""], rows, args.markdown)


def section_slice(args: argparse.Namespace, boxes: dict[str, Any], rec: Recorder, failures: list[str]) -> dict:
    noisy = load_slice(failures)
    background = boxes["slice_background"]
    r, c = background
    print(f"\n## slice: the whole SARS-CoV-2 slice {noisy.shape[0]}x{noisy.shape[1]}, background box rows "
          f"{r.start}:{r.stop}, columns {c.start}:{c.stop}")  # fmt: skip
    rec.add("slice", "psd", psd_report("slice", noisy, background, "background box", failures))
    outputs = checked(run_methods(noisy, args, "slice", ("zeroshot", "bm3d-psd", "gauss2")), noisy.shape, "slice",
                      failures)  # fmt: skip
    rows = []
    for method, o in outputs.items():
        ratio, lp4 = virus_measures(noisy, o.out, background)
        rec.add("slice", method, {"background_ratio": ratio, "lp4": lp4, "seconds": o.seconds, "note": o.note})
        rows.append([method, f2(ratio, 3), f2(lp4, 3), seconds_text(o.seconds)])
    print_table(["method", "background std ratio", "LP4", "s"], rows, args.markdown)
    print_notes(outputs)
    if "zeroshot" in outputs:
        ratio, _ = virus_measures(noisy, outputs["zeroshot"].out, background)
        wanted = TARGETS["slice"]
        print(f"target: zeroshot background ratio ≤ {wanted}: {ratio:.3f} {verdict(ratio <= wanted)}")
    if "zeroshot" in outputs and "bm3d-psd" in outputs:
        print(f"time zeroshot / bm3d-psd: {outputs['zeroshot'].seconds / outputs['bm3d-psd'].seconds:.2f}")
    return {"image": noisy, "outputs": outputs, "zoom": None}


def section_ribosome(args: argparse.Namespace, rec: Recorder, failures: list[str]) -> dict | None:
    read = read_real("ribosome", RIBOSOME)
    if read is None:
        return None
    image, window = centre_crop(read[0])
    print(f"\n## ribosome: {read[1]}, rows {window[0].start}:{window[0].stop}, columns "
          f"{window[1].start}:{window[1].stop}")  # fmt: skip
    flat = flattest_box(image)
    psd = psd_report("ribosome", image, flat, f"flattest 64² window (rows {flat[0].start}, cols {flat[1].start})",
                     failures)  # fmt: skip
    rec.add("ribosome", "psd", psd)
    outputs = checked(run_methods(image, args, "ribosome", ("zeroshot", "bm3d-psd", "gauss2", "topaz")),
                      image.shape, "ribosome", failures)  # fmt: skip
    noise = f"{f2([psd['flat_acf_h'][0], psd['flat_acf_v'][0]])}; PSD {f2([psd['psd_acf_h'][0], psd['psd_acf_v'][0]])}"
    head = ["method", "s", "LP4", "flat box", "resid. std", f"resid. lag-1 (noise: flat {noise})",
            "resid. edge/flat"]  # fmt: skip
    rows = []
    for method, o in outputs.items():
        r = residual_figures(image, o.out, flat, None)
        rec.add("ribosome", method, {**r, "seconds": o.seconds, "note": o.note})
        rows.append([method, seconds_text(o.seconds), f2(r["lp4"], 3), f2(r["flat_ratio"], 3), f2(r["resid_std"]),
                     f2(r["resid_lag1"]), f2(r["edge_ratio"])])  # fmt: skip
    print_table(head, rows, args.markdown)
    print_notes(outputs)
    if "zeroshot" in outputs and "bm3d-psd" in outputs:
        print(f"time zeroshot / bm3d-psd: {outputs['zeroshot'].seconds / outputs['bm3d-psd'].seconds:.2f}")
    centre = image.shape[0] // 2 - 96, image.shape[1] // 2 - 96
    zoom = (slice(centre[0], centre[0] + 192), slice(centre[1], centre[1] + 192))
    return {"image": image, "outputs": outputs, "zoom": zoom}


def posterior_maps(crop: np.ndarray, args: argparse.Namespace) -> tuple[dict[str, np.ndarray], float, np.ndarray]:
    """({kind: raw map}, seconds, denoised) from one enhance run with moments up to 3."""
    from zeroshot.enhance import enhance, render_kind

    start = time.perf_counter()
    result = enhance(crop, "skewness", config=args.config, threads=args.threads)
    seconds = time.perf_counter() - start
    variance = result.run.moments.variance
    maps = {"variance": variance, "sqrt_variance": np.sqrt(variance)}
    for kind in ("relief", "detail"):
        maps[kind] = render_kind(result.run, kind)[0]
    maps["skewness"] = result.values
    return maps, seconds, result.run.denoised


def section_maps(args: argparse.Namespace, boxes: dict[str, Any], virus: dict, rec: Recorder) -> dict[str, Any]:
    crop = virus["image"]
    print("\n## structure maps on the virus crop: region SNR over the 3 membrane pairs")
    maps, seconds, denoised = posterior_maps(crop, args)
    print(f"enhance run (moments 3, all maps): {seconds:.1f} s", file=sys.stderr)
    plain = virus["outputs"].get("zeroshot")
    if plain is not None:
        same = np.array_equal(plain.out, denoised)
        print(f"its denoised image equals the plain zeroshot run's bit for bit: {'yes' if same else 'NO'}"
              f"{'' if same else f' (max |diff| {np.abs(plain.out - denoised).max():.3g})'}")  # fmt: skip
    candidates = {**maps, "edge |∇G2∗in|": edge_map(crop), "input": crop, "zeroshot denoised": denoised}
    membranes = [p for p in boxes["pairs"] if p.kind == "membrane"]
    rows, snr = [], {}
    for name, image in candidates.items():
        values = [region_snr(image, p.signal, p.background) for p in membranes]
        snr[name] = float(np.mean(values))
        rows.append([name, f2(snr[name]), *(f2(v) for v in values)])
    print_table(["map", "membrane mean", *(p.name for p in membranes)], rows, args.markdown)
    rec.add("maps", "region_snr_membrane", {**snr, "seconds": seconds})
    edge = snr["edge |∇G2∗in|"]
    for kind in ("sqrt_variance", "relief"):
        print(f"target: {kind} above the edge map ({edge:.2f} dB): {snr[kind]:.2f} {verdict(snr[kind] > edge)}")
    print(f"enhance run: {seconds:.1f} s")
    return {"maps": maps, "edge": candidates["edge |∇G2∗in|"], "denoised": denoised}


# -------------------------------------------------------------------------------------------------- panels
def save_small(fig: Any, path: Path, dpi: float) -> int:
    """Saves the figure as an 8-bit grey PNG, lowering the resolution until it is under PNG_LIMIT bytes."""
    from PIL import Image

    while True:
        buffer = io.BytesIO()
        fig.savefig(buffer, dpi=dpi, format="png")
        buffer.seek(0)
        with Image.open(buffer) as im:
            im.convert("L").save(path, optimize=True)
        size = path.stat().st_size
        if size < PNG_LIMIT or dpi < 40:
            return size
        dpi *= 0.85


def residual_limit(image: np.ndarray, outputs: dict[str, Output]) -> float:
    pooled = np.concatenate([(image - o.out).ravel() for o in outputs.values()])
    return float(np.percentile(np.abs(pooled), 99.5))


def comparison_panel(label: str, data: dict, args: argparse.Namespace, zoom: Box | None = None) -> Path:
    import matplotlib.pyplot as plt

    image, outputs = data["image"], data["outputs"]
    window = zoom or (slice(None), slice(None))
    low, high = np.percentile(image, [0.5, 99.5])
    limit = residual_limit(image, outputs)
    columns = 1 + len(outputs)
    fig, axes = plt.subplots(2, columns, figsize=(2.6 * columns, 5.6), squeeze=False, layout="constrained")
    tiles = [("input", image, low, high)] + [(m, o.out, low, high) for m, o in outputs.items()]
    tiles += [(None, None, 0, 0)] + [(f"residual {m}", image - o.out, -limit, limit) for m, o in outputs.items()]
    for ax, (title, values, vmin, vmax) in zip(axes.ravel(), tiles):
        ax.set_axis_off()
        if values is not None:
            # zooms at 2x pixel for pixel; whole images shrink, with antialiasing (no aliasing of the grain)
            smooth = "nearest" if zoom else "antialiased"
            ax.imshow(values[window], cmap="gray", vmin=vmin, vmax=vmax, interpolation=smooth)
            ax.set_title(title, fontsize=8)
    side_plot(axes[1, 0], data)
    where = "" if zoom is None else f", zoom rows {zoom[0].start}:{zoom[0].stop} cols {zoom[1].start}:{zoom[1].stop}"
    fig.suptitle(f"{label}{where}: row 1 input's 0.5/99.5 % stretch; row 2 residuals on ±{limit:.1f}", fontsize=9)
    path = args.figures / f"real_em_{label}{'_zoom' if zoom else ''}.png"
    pixels = max(s.stop - s.start for s in zoom) * 2 if zoom else min(max(image.shape), 512)
    save_small(fig, path, dpi=pixels / 2.6 * 1.05)
    plt.close(fig)
    return path


def side_plot(ax: Any, data: dict) -> None:
    """Virus: the doublet profile of the input and every output; otherwise the residuals' ACF beside the PSD's."""
    ax.set_axis_on()
    ax.tick_params(labelsize=6)
    image, outputs = data["image"], data["outputs"]
    if "doublet" in data:
        spec = data["doublet"]
        rows, (c0, c1) = slice(*spec["rows"]), spec["step_cols"]
        columns = np.arange(c0, c1)
        curves = {"input": image, **{m: o.out for m, o in outputs.items()}}
        for (name, values), style in zip(curves.items(), LINE_STYLES):
            ax.plot(columns, values[rows, c0:c1].mean(axis=0), style, label=name, linewidth=1, markersize=2)
        ax.set_title(f"profile, rows {spec['rows'][0]}:{spec['rows'][1]}", fontsize=7)
        ax.set_xlabel("column", fontsize=6)
    else:
        lags = np.arange(7)
        acf = acf_from_psd(estimate_psd(image))
        noise = (acf[0, :7] + acf[:7, 0]) / (2 * acf[0, 0])
        ax.plot(lags, noise, LINE_STYLES[0], label="noise (PSD estimate)", linewidth=1, markersize=3)
        for (m, o), style in zip(outputs.items(), LINE_STYLES[1:]):
            rho = np.mean(acf_lags(image - o.out, 6)[1:], axis=0)
            ax.plot(lags, [1.0, *rho], style, label=f"residual {m}", linewidth=1, markersize=2)
        ax.set_title("ACF, mean of rows and columns", fontsize=7)
        ax.set_xlabel("lag (px)", fontsize=6)
    ax.legend(fontsize=5)


def maps_panel(virus: dict, maps: dict[str, Any], args: argparse.Namespace) -> Path:
    import matplotlib.pyplot as plt

    tiles = {"input": virus["image"], "zeroshot": maps["denoised"], **maps["maps"], "edge |∇G2∗in|": maps["edge"]}
    fig, axes = plt.subplots(2, 4, figsize=(10.4, 5.6), layout="constrained")
    for ax, (name, values) in zip(axes.ravel(), tiles.items()):
        low, high = np.percentile(values, [0.5, 99.5])
        ax.imshow(values, cmap="gray", vmin=low, vmax=high, interpolation="antialiased")
        ax.set_title(name, fontsize=8)
        ax.set_axis_off()
    fig.suptitle("virus crop: zeroshot's posterior maps and an edge map, each on its own 0.5/99.5 % stretch", size=9)
    path = args.figures / "real_em_virus_maps.png"
    save_small(fig, path, dpi=512 / 2.6)
    plt.close(fig)
    return path


def write_panels(args: argparse.Namespace, shown: dict[str, dict], maps: dict[str, Any] | None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    args.figures.mkdir(parents=True, exist_ok=True)
    written = []
    for label, data in shown.items():
        if not data["outputs"]:
            continue
        written.append(comparison_panel(label, data, args))
        if data["zoom"] is not None:
            written.append(comparison_panel(label, data, args, data["zoom"]))
    if maps is not None and "virus" in shown:
        written.append(maps_panel(shown["virus"], maps, args))
    if written:
        print("\nfigures: " + ", ".join(f"{p} ({p.stat().st_size // 1000} KB)" for p in written))


# ---------------------------------------------------------------------------------------------------- main
def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", nargs="+", default=list(IMAGES), choices=IMAGES)
    parser.add_argument("--threads", type=int, default=None, help="zeroshot threads (default: zeroshot's default)")
    parser.add_argument("--model", default=DenoiseConfig().model, choices=MODELS, help="zeroshot's model")
    parser.add_argument("--zeroshot", nargs="*", default=[], metavar="KEY=VALUE", help="DenoiseConfig overrides")
    parser.add_argument("--skip-maps", action="store_true", help="no structure-map section")
    parser.add_argument("--no-bm3d", action="store_true", help="skip BM3D-PSD")
    parser.add_argument("--out-json", type=Path, default=None, help="write every figure as JSON lines here")
    parser.add_argument("--figures", type=Path, default=BENCH / "figures")
    parser.add_argument("--no-figures", action="store_true")
    parser.add_argument("--markdown", action="store_true", help="print the tables as markdown")
    args = parser.parse_args()
    args.config = model_config(args.model, args.zeroshot, "--zeroshot")
    if not args.no_bm3d and importlib.util.find_spec("bm3d") is None:
        raise SystemExit("BM3D-PSD needs `pip install bm3d` (benchmark-only dependency), or pass --no-bm3d")
    return args


def main() -> None:
    started = time.perf_counter()
    args = parse_args()
    import zeroshot

    context = {"bench_commit": commit(), "zeroshot_commit": package_commit(), "machine": machine(),
               "model": args.model, "overrides": args.zeroshot, "threads": args.threads}  # fmt: skip
    print(f"machine: {context['machine']}; bench commit {context['bench_commit']}; zeroshot {zeroshot.__version__} "
          f"from {Path(zeroshot.__file__).parent} at commit {context['zeroshot_commit']}")  # fmt: skip
    print(f"zeroshot: {args.config}; threads={args.threads}")
    print(f"topaz: {'installed' if topaz_available() else 'not installed: its rows are skipped'}")
    boxes, rec, failures = load_boxes(), Recorder(context), []
    shown: dict[str, dict] = {}
    maps = None
    if "virus" in args.images:
        shown["virus"] = section_virus(args, boxes, rec, failures)
        if not args.skip_maps:
            maps = section_maps(args, boxes, shown["virus"], rec)
    if "slice" in args.images:
        shown["slice"] = section_slice(args, boxes, rec, failures)
    if "ribosome" in args.images and (ribosome := section_ribosome(args, rec, failures)) is not None:
        shown["ribosome"] = ribosome
    if not args.no_figures:
        write_panels(args, shown, maps)
    if args.out_json is not None:
        rec.write(args.out_json)
        print(f"figures as JSON lines: {args.out_json}")
    print(f"\nwhole run: {time.perf_counter() - started:.0f} s")
    if package_commit() != context["zeroshot_commit"]:
        failures.append(f"zeroshot's checkout changed during the run ({context['zeroshot_commit']} -> "
                        f"{package_commit()}): the code measured is not known")  # fmt: skip
    if failures:
        raise SystemExit("check FAILED:\n  " + "\n  ".join(failures))
    print("check: outputs finite and of the input's shape, PSD σ within 25 % of the flat box std: OK")


if __name__ == "__main__":
    main()
