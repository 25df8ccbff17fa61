"""A large tomogram through the command line in bounded memory: a float32 MRC volume of 1024 x 1024 x Z (Z = 300
in issue 19's target; fewer for a shorter run), made from the bundled SARS-CoV-2 slice (padded by reflection to
1024 x 1024, shifted a little from frame to frame, with noise of sigma 2 added that is correlated like a
tomogram's: white noise blurred by a Gaussian of 1 px; white noise of sigma 2 made `auto` take the stack for white
noise, unlike the slice itself and real tomograms), denoised by `zeroshot denoise` at the defaults in its own
process. Prints the wall time, the time per frame, the peak resident memory
(the child's ru_maxrss) and checks the output: its shape, its voxel size and a finite result.

    python bench/volume_memory.py --frames 16 --threads 2 [--keep DIR]

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="make the files in this folder and keep them")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="zeroshot_volume_"))
    folder.mkdir(parents=True, exist_ok=True)
    source, target = folder / "tomogram.mrc", folder / "tomogram_denoised.mrc"
    make_volume(source, args.frames)
    command = [sys.executable, "-m", "zeroshot.cli", "denoise", str(source), "-o", str(target)]
    command += ["--threads", str(args.threads), "-q"]
    start = time.perf_counter()
    run = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    if run.returncode != 0:
        print(run.stderr, file=sys.stderr)
        return 1
    import mrcfile

    with mrcfile.mmap(target, mode="r") as mrc:
        assert mrc.data.shape == (args.frames, SIDE, SIDE), mrc.data.shape
        assert tuple(float(v) for v in mrc.voxel_size.item()) == (8.0, 8.0, 8.0)
        assert all(np.isfinite(mrc.data[z]).all() for z in range(args.frames))
    figures = {
        "frames": args.frames,
        "side": SIDE,
        "threads": args.threads,
        "input_bytes": source.stat().st_size,
        "wall_s": round(wall, 1),
        "per_frame_s": round(wall / args.frames, 2),
        "peak_rss_bytes": peak,
        "peak_rss_GiB": round(peak / 2**30, 3),
        "summary": run.stdout.strip(),
    }
    print(json.dumps(figures, indent=1))
    if args.keep is None:
        for path in folder.iterdir():
            path.unlink()
        folder.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())
