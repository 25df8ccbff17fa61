"""Image files of the command-line tools, for every subcommand that turns input images into output
images: the file arguments, which output each input goes to, every check before any work starts,
and writing a result with its JSON sidecar.

Output dtype: float32 for MRC, TIFF and .npy, or with ``--keep-dtype`` the input's dtype (rounded
and clipped). PNG stores 8 and 16 bits only: an 8- or 16-bit unsigned input keeps its dtype; any
other input is stretched linearly so that the result's minimum becomes 0 and its maximum 65535
(16-bit), and the sidecar records that minimum and maximum.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from zeroshot.cli.sidecar import write_sidecar
from zeroshot.io import (
    READ_SUFFIXES,
    EMImage,
    PixelSize,
    check_format,
    format_of,
    read_em,
    stretch_to_dtype,
    write_em,
)

OUTPUT_FORMATS = {"mrc": ".mrc", "tif": ".tif", "png": ".png", "npy": ".npy"}
DEFAULT_DTYPE = np.dtype(np.float32)
STRETCH_DTYPE = np.dtype(np.uint16)
_PNG_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16))


@dataclass(frozen=True)
class FileJob:
    """One input file and the output file its result goes to.

    shape and source_dtype: of the input as read ((R, C) or (F, R, C)); output_dtype: the dtype
    written, or None when the result is stretched onto 16 bits (PNG output of another dtype).
    """

    source: Path
    target: Path
    shape: tuple[int, ...]
    source_dtype: np.dtype
    output_dtype: np.dtype | None


def add_file_arguments(parser: argparse.ArgumentParser, verb: str, keep_dtype: bool = True) -> None:
    """The input files, -o, --format and (keep_dtype) --keep-dtype of a subcommand that `verb`s images."""
    parser.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help=f"image(s) to {verb}: "
        + ", ".join(READ_SUFFIXES)
        + " (.dm3/.dm4/.ser/.emi/.emd need `pip install zeroshot[em]`)",
    )
    parser.add_argument(
        "-o",
        "--output",
        required=True,
        help="output file (one input), or a folder (several inputs, an existing folder, or a name "
        "ending in /): each output there keeps its input's name with the suffix of --format or of "
        "the input",
    )
    parser.add_argument(
        "--format",
        choices=sorted(OUTPUT_FORMATS),
        help="output format for a folder output (default: the input's own); must match -o's suffix for a file output",
    )
    if not keep_dtype:
        parser.set_defaults(keep_dtype=False)
        return
    parser.add_argument(
        "--keep-dtype",
        action="store_true",
        help="write the input's dtype (rounded and clipped) instead of float32; PNG always keeps "
        "8/16-bit inputs and stretches others to 16 bits",
    )


# ------------------------------------------------------------------------------------- planning


def prepare_jobs(
    inputs: Sequence[str],
    output: str,
    output_format: str | None = None,
    keep_dtype: bool = False,
    min_side: int = 1,
) -> list[FileJob]:
    """Checks everything that can be checked before any work (each input is read in full; each
    output has a writable format and dtype, a distinct name that is no input, and a writable
    folder), creates a missing output folder, and returns one job per input. Raises ValueError
    naming the file at the first problem; nothing is written then."""
    sources = [Path(name) for name in inputs]
    out = Path(output)
    to_folder = len(sources) > 1 or output.endswith(("/", os.sep)) or out.is_dir()
    targets = _folder_targets(sources, out, output_format) if to_folder else [_file_target(out, output_format)]
    jobs = [_job(source, target, keep_dtype, min_side) for source, target in zip(sources, targets)]
    _check_distinct(jobs)
    # An output folder is made when missing; a file output goes into an existing folder.
    folder = out if to_folder else out.parent
    _check_folder(folder, jobs, may_create=to_folder)
    folder.mkdir(parents=True, exist_ok=True)
    return jobs


def float_or_png_job(job: FileJob, target: Path | None = None) -> FileJob:
    """`job` (or the same input to `target`) writing maps that are no image of the input's values:
    float32 in MRC, TIFF and .npy, an 8-bit rendering in PNG. Checked like prepare_jobs' outputs."""
    target = job.target if target is None else target
    dtype = np.dtype(np.uint8) if target.suffix.lower() == ".png" else DEFAULT_DTYPE
    check_format(target, dtype, len(job.shape))
    if target.resolve() == job.source.resolve():
        raise ValueError(f"{target}: the output would overwrite the input {job.source}")
    if target.is_dir():
        raise ValueError(f"{target}: is a folder, not an output file")
    return FileJob(job.source, target, job.shape, job.source_dtype, dtype)


def derived_job(job: FileJob, tag: str) -> FileJob:
    """A second output of `job`'s input beside its output: NAME_tag.SUFFIX (e.g. the variance map)."""
    return float_or_png_job(job, job.target.with_name(f"{job.target.stem}_{tag}{job.target.suffix}"))


def _file_target(out: Path, output_format: str | None) -> Path:
    if output_format is not None and out.suffix.lower() not in _suffixes_of(output_format):
        raise ValueError(
            f"{out}: the suffix {out.suffix!r} does not match --format {output_format}; give one "
            "of them, or name a folder (ending in /) as the output"
        )
    return out


def _folder_targets(sources: list[Path], out: Path, output_format: str | None) -> list[Path]:
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out}: is a file, but {len(sources)} inputs need an output folder")
    suffix = OUTPUT_FORMATS[output_format] if output_format else None
    return [out / (source.stem + (suffix or source.suffix)) for source in sources]


def _suffixes_of(output_format: str) -> tuple[str, ...]:
    return format_of(Path("x" + OUTPUT_FORMATS[output_format])).suffixes


def _job(source: Path, target: Path, keep_dtype: bool, min_side: int) -> FileJob:
    image = read_em(source)
    rows, cols = image.data.shape[-2:]
    if min(rows, cols) < min_side:
        raise ValueError(
            f"{source}: {'frames' if image.is_stack else 'image'} of shape {(rows, cols)} "
            f"smaller than the patch size {min_side}"
        )
    fmt = format_of(target)
    if fmt.write is None:
        raise ValueError(
            f"{target}: zeroshot cannot write {fmt.name} files; write "
            f"{', '.join(OUTPUT_FORMATS.values())} (--format for a folder output)"
        )
    dtype = _output_dtype(target, image.dtype, keep_dtype)
    check_format(target, STRETCH_DTYPE if dtype is None else dtype, image.data.ndim)
    return FileJob(source, target, image.data.shape, image.dtype, dtype)


def _output_dtype(target: Path, source_dtype: np.dtype, keep_dtype: bool) -> np.dtype | None:
    """The dtype to write (see the module's docstring); None: stretched onto STRETCH_DTYPE."""
    if format_of(target).stores(DEFAULT_DTYPE):
        return source_dtype if keep_dtype else DEFAULT_DTYPE
    if source_dtype in _PNG_DTYPES:
        return source_dtype
    if keep_dtype:
        raise ValueError(
            f"{target}: cannot keep the input's dtype {source_dtype} (--keep-dtype) in "
            f"{format_of(target).name}, which stores {' and '.join(str(d) for d in _PNG_DTYPES)}; "
            "write .tif/.mrc/.npy, or leave out --keep-dtype to stretch the result onto 16 bits"
        )
    return None


def _check_distinct(jobs: list[FileJob]) -> None:
    sources = {job.source.resolve(): job.source for job in jobs}
    seen: dict[Path, Path] = {}
    for job in jobs:
        key = job.target.resolve()
        if key in sources:
            raise ValueError(f"{job.target}: the output would overwrite the input {sources[key]}")
        if key in seen:
            raise ValueError(
                f"{job.target}: is the output of both {seen[key]} and {job.source}; give the "
                "inputs different names or write them to different folders"
            )
        seen[key] = job.source


def _check_folder(folder: Path, jobs: list[FileJob], may_create: bool) -> None:
    """`folder` is a writable folder, or (`may_create`) can be made inside one; no target in it is
    a folder itself."""
    existing = folder
    while may_create and not existing.exists() and existing != existing.parent:
        existing = existing.parent
    problem = None
    if not existing.exists():
        problem = "it does not exist"
    elif not existing.is_dir():
        problem = f"{existing} is not a folder"
    elif not os.access(existing, os.W_OK | os.X_OK):
        problem = f"no permission to write in {existing}"
    if problem:
        raise ValueError(f"{folder}: cannot write the output(s) there: {problem}")
    for job in jobs:
        if job.target.is_dir():
            raise ValueError(f"{job.target}: is a folder, not an output file")


# -------------------------------------------------------------------------------------- writing

T = TypeVar("T")


def join_frames(frames: list[np.ndarray], image: EMImage) -> np.ndarray:
    """The per-frame results (R, C) as one array of `image`'s shape: (F, R, C) for a stack."""
    return np.stack(frames) if image.is_stack else frames[0]


def per_frame(values: list[T], image: EMImage) -> Any:
    """For a sidecar: the list of per-frame values for a stack, the single value for an image."""
    return values if image.is_stack else values[0]


def write_result(
    job: FileJob,
    result: np.ndarray,
    pixel_size: PixelSize | None,
    command: str,
    record: dict[str, Any],
) -> Path:
    """Writes `result` (the input's shape, any real dtype) to job.target in the job's output dtype
    with `pixel_size`, then the sidecar: the command, the input and output files' facts, the pixel
    size, and `record` (e.g. settings and results). Returns the sidecar's path."""
    mapping: dict[str, Any] | None = None
    if job.output_dtype is None:
        values, (low, high) = stretch_to_dtype(result, STRETCH_DTYPE)
        top = int(np.iinfo(STRETCH_DTYPE).max)
        mapping = {
            "rule": f"stored = round((value - min) / (max - min) * {top}); a constant result is 0",
            "min": low,
            "max": high,
            "stored_max": top,
        }
        write_em(job.target, values, pixel_size)
        written = STRETCH_DTYPE
    else:
        write_em(job.target, result, pixel_size, dtype=job.output_dtype)
        written = job.output_dtype
    files = {
        "command": command,
        "input": {
            "path": str(job.source.resolve()),
            "format": format_of(job.source).name,
            "shape": list(job.shape),
            "dtype": str(job.source_dtype),
        },
        "output": {
            "path": str(job.target.resolve()),
            "format": format_of(job.target).name,
            "shape": list(np.shape(result)),
            "dtype": str(written),
            "value_mapping": mapping,
        },
        "pixel_size": None if pixel_size is None else pixel_size.to_json(),
    }
    return write_sidecar(job.target, {**files, **record})
