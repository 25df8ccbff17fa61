"""A large tomogram through the command line in bounded memory: a float32 MRC volume of 1024 x 1024 x Z (Z = 300
in issue 19's target; fewer for a shorter run), made from the bundled SARS-CoV-2 slice (padded by reflection to
1024 x 1024, shifted a little from frame to frame, with noise of sigma 2 added that is correlated like a
tomogram's: white noise blurred by a Gaussian of 1 px; white noise of sigma 2 made `auto` take the stack for white
noise, unlike the slice itself and real tomograms), denoised by `zeroshot denoise` at the defaults in its own
process. Prints the wall time, the time per frame, the peak resident memory
(the child's ru_maxrss) and checks the output: its shape, its voxel size and a finite result.

    python bench/volume_memory.py --frames 12 36 --threads 2 [--keep DIR]

The volume is streamed (read and written a frame at a time): the peak memory is that of training the volume's
model (from 8 frames) and of one frame's inference, whatever Z is; the time grows with Z.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SIDE = 1024


def make_volume(path: Path, frames: int) -> None:
    from scipy.ndimage import gaussian_filter

    from zeroshot.data import sarscov2
    from zeroshot.io.volume import VoxelSize
    from zeroshot.io.volume_sink import create_volume_output

    image = sarscov2().data.astype(np.float32)
    tile = np.pad(image, ((0, SIDE - image.shape[0]), (0, SIDE - image.shape[1])), mode="reflect")
    rng = np.random.default_rng(0)
    with create_volume_output(path, (frames, SIDE, SIDE), np.float32, voxel_size=VoxelSize(8.0, 8.0, 8.0)) as sink:
        for z in range(frames):
            noise = gaussian_filter(rng.standard_normal((SIDE, SIDE), dtype=np.float32), 1.0)
            noise *= 2 / noise.std()
            sink.write(z, np.roll(tile, (z // 3, z // 5), axis=(0, 1)) + noise)
        sink.commit()


def run_once(folder: Path, frames: int, threads: int) -> dict[str, object] | None:
    """Makes a volume of `frames` frames, denoises it in a child process, checks the output; its figures (None if
    the run failed)."""
    source, target = folder / f"tomogram_{frames}.mrc", folder / f"tomogram_{frames}_denoised.mrc"
    make_volume(source, frames)
    command = [sys.executable, "-m", "zeroshot.cli", "denoise", str(source), "-o", str(target)]
    command += ["--threads", str(threads), "-q"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    run = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if run.returncode != 0:
        print(run.stderr, file=sys.stderr)
        return None
    import mrcfile

    with mrcfile.mmap(target, mode="r") as mrc:
        assert mrc.data.shape == (frames, SIDE, SIDE), mrc.data.shape
        assert tuple(float(v) for v in mrc.voxel_size.item()) == (8.0, 8.0, 8.0)
        assert all(np.isfinite(mrc.data[z]).all() for z in range(frames))
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return {
        "frames": frames,
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "input_bytes": source.stat().st_size,
        "peak_rss_GiB": round(after.ru_maxrss * 1024 / 2**30, 3),  # the largest child's so far
        "summary": run.stdout.strip(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--frames",
        type=int,
        nargs="+",
        default=[16],
        help="one run per count; two or more: the "
        "time per frame from their difference, and the time of --target-frames frames",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--target-frames", type=int, default=300)
    parser.add_argument("--keep", type=Path, help="make the files in this folder and keep them")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="zeroshot_volume_"))
    folder.mkdir(parents=True, exist_ok=True)
    runs = []
    for frames in args.frames:
        figures = run_once(folder, frames, args.threads)
        if figures is None:
            return 1
        print(json.dumps(figures), flush=True)
        runs.append(figures)
    if len(runs) > 1:
        counts = np.array([r["frames"] for r in runs], float)
        for key in ("wall_s", "cpu_s"):
            per_frame, start = np.polyfit(counts, np.array([r[key] for r in runs], float), 1)
            total = start + per_frame * args.target_frames
            print(
                f"{key}: {per_frame:.2f} s per {SIDE}² frame + {start:.1f} s (start, training): "
                f"{args.target_frames} frames in {total:.0f} s ({total / 60:.1f} min)"
            )
    print(f"peak RSS {max(r['peak_rss_GiB'] for r in runs)} GiB (target <= 2)")
    if args.keep is None:
        for path in folder.iterdir():
            path.unlink()
        folder.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())
