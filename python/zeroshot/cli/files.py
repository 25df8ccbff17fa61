"""Image files of the command-line tools, for every subcommand that turns input images into output
images: the file arguments, which output each input goes to, the checks of the output paths (no two
outputs the same, none an input) and folders, and writing a result with its JSON sidecar.

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

from zeroshot.cli.sidecar import sidecar_path, stage_pair
from zeroshot.io import READ_SUFFIXES, EMImage, MrcHeader, check_format, format_of, stretch_to_dtype
from zeroshot.io.api import stage_em
from zeroshot.io.atomic import StagedFile
from zeroshot.version import package_version

OUTPUT_FORMATS = {"mrc": ".mrc", "tif": ".tif", "png": ".png", "npy": ".npy"}
DEFAULT_DTYPE = np.dtype(np.float32)
STRETCH_DTYPE = np.dtype(np.uint16)
_PNG_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16))


@dataclass(frozen=True)
class Written:
    """A file a run writes: path, what it is (e.g. "the variance map") and of which input."""

    path: Path
    what: str
    source: Path

    def describe(self) -> str:
        return f"{self.what} of {self.source}"


def add_file_arguments(parser: argparse.ArgumentParser, verb: str, keep_dtype: bool = True) -> None:
    """The input files, -o, --format and (keep_dtype) --keep-dtype of a subcommand that `verb`s images."""
    parser.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help=f"image(s) to {verb}: "
        + ", ".join(READ_SUFFIXES)
        + ' (.dm3/.dm4/.ser/.emi/.emd need the em extra: pip install ".[em]")',
    )
    parser.add_argument(
        "-o",
        "--output",
        required=True,
        help="output file (one input), or a folder (several inputs, an existing folder, or a name "
        "ending in /): each output there keeps its input's name (followed by --suffix) with the extension "
        "of --format or of the input; a missing folder is made",
    )
    parser.add_argument(
        "--format",
        choices=sorted(OUTPUT_FORMATS),
        help="output format for a folder output (default: the input's own); must match -o's suffix for a file output",
    )
    parser.add_argument(
        "--suffix",
        default="",
        metavar="TEXT",
        help="for a folder output: TEXT after each input's name (a.mrc -> OUTDIR/a_denoised.mrc with --suffix "
        "_denoised; default: the input's name unchanged)",
    )
    parser.add_argument(
        "--per-slice",
        action="store_true",
        help="a 3-D input (a tomogram, an MRC stack): learn a model for each slice, the noise model decided on "
        "the first (default: one model for the whole volume, learned from up to 8 slices spread over it and "
        "applied to every slice: several times faster)",
    )
    parser.add_argument(
        "--context",
        type=int,
        metavar="D",
        help="a 3-D input: patches span D slices (odd: the slice and D // 2 on either side, mirrored at the ends), "
        "so that each slice is denoised with its neighbours; correlated noise is then whitened by a noise "
        "covariance that spans the slices too (default: 3 where neighbouring frames share their structure, as "
        "in a tomogram, else 1; 1 with --per-slice)",
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


def output_targets(
    sources: Sequence[Path], output: str, output_format: str | None, suffix: str = ""
) -> tuple[list[Path], Path]:
    """(the output file of each input, the folder they go to): one input to a file, or several (or -o an
    existing folder, or ending in /) into a folder, named by the input's stem followed by `suffix` (--suffix,
    for a folder output only)."""
    out = Path(output)
    to_folder = len(sources) > 1 or output.endswith(("/", os.sep)) or out.is_dir()
    if any(sep and sep in suffix for sep in ("/", os.sep, os.altsep, "\0")):
        raise ValueError(f"--suffix {suffix!r}: it is added to file names and must not hold a folder separator")
    if to_folder:
        if out.exists() and not out.is_dir():
            raise ValueError(f"{out}: is a file, but {len(sources)} inputs need an output folder")
        extension = OUTPUT_FORMATS[output_format] if output_format else None
        return [out / (source.stem + suffix + (extension or source.suffix)) for source in sources], out
    if suffix:
        raise ValueError(
            f"--suffix {suffix!r} names the outputs in a folder, but -o {out} is the output file itself; leave "
            "out --suffix, or name a folder (ending in /) as the output"
        )
    if output_format is not None and out.suffix.lower() not in _suffixes_of(output_format):
        raise ValueError(
            f"{out}: the suffix {out.suffix!r} does not match --format {output_format}; give one "
            "of them, or name a folder (ending in /) as the output"
        )
    return [out], out.parent


def _suffixes_of(output_format: str) -> tuple[str, ...]:
    return format_of(Path("x" + OUTPUT_FORMATS[output_format])).suffixes


def check_writable_format(target: Path) -> None:
    fmt = format_of(target)
    if fmt.write is None:
        raise ValueError(
            f"{target}: zeroshot cannot write {fmt.name} files; write "
            f"{', '.join(OUTPUT_FORMATS.values())} (--format for a folder output)"
        )


def output_dtype(target: Path, source_dtype: np.dtype, keep_dtype: bool, ndim: int) -> np.dtype | None:
    """The dtype an image of the input's values is written in (see the module's docstring), checked
    against the format; None: stretched onto STRETCH_DTYPE."""
    check_writable_format(target)
    dtype: np.dtype | None
    if format_of(target).stores(DEFAULT_DTYPE):
        dtype = source_dtype if keep_dtype else DEFAULT_DTYPE
    elif source_dtype in _PNG_DTYPES:
        dtype = source_dtype
    elif keep_dtype:
        raise ValueError(
            f"{target}: cannot keep the input's dtype {source_dtype} (--keep-dtype) in "
            f"{format_of(target).name}, which stores {' and '.join(str(d) for d in _PNG_DTYPES)}; "
            "write .tif/.mrc/.npy, or leave out --keep-dtype to stretch the result onto 16 bits"
        )
    else:
        dtype = None
    check_format(target, STRETCH_DTYPE if dtype is None else dtype, ndim)
    return dtype


def map_dtype(target: Path, ndim: int) -> np.dtype:
    """The dtype of a map that is no image of the input's values: float32 in MRC, TIFF and .npy, an 8-bit
    rendering in PNG; checked against the format."""
    check_writable_format(target)
    dtype = np.dtype(np.uint8) if target.suffix.lower() == ".png" else DEFAULT_DTYPE
    check_format(target, dtype, ndim)
    return dtype


def beside(target: Path, tag: str, suffix: str | None = None) -> Path:
    """NAME_tag.SUFFIX beside `target` (e.g. the variance map or the report)."""
    return target.with_name(f"{target.stem}_{tag}{target.suffix if suffix is None else suffix}")


def check_folder(folder: Path, may_create: bool, what: str = "the output(s)") -> None:
    """`folder` is a writable folder, or (`may_create`) can be made inside one."""
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
        raise ValueError(f"{folder}: cannot write {what} there: {problem}")


def _identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of an existing file (hard links share it), else None."""
    try:
        status = path.stat()
    except OSError:
        return None
    return status.st_dev, status.st_ino


def check_distinct(inputs: Sequence[Path], written: Sequence[Written]) -> None:
    """No file the run writes is an input (by resolved path, or a hard link to it) or a folder, and no two
    are the same file; ValueError naming both at the first clash."""
    by_path: dict[Path, Path] = {}
    by_inode: dict[tuple[int, int], Path] = {}
    for source in inputs:
        by_path.setdefault(source.resolve(), source)
        identity = _identity(source)
        if identity is not None:
            by_inode.setdefault(identity, source)
    seen: dict[Path, Written] = {}
    seen_inode: dict[tuple[int, int], Written] = {}
    for item in written:
        key, identity = item.path.resolve(), _identity(item.path)
        clash = by_path.get(key) or (by_inode.get(identity) if identity is not None else None)
        if clash is not None:
            raise ValueError(f"{item.path}: {item.what} would overwrite the input {clash}")
        if item.path.is_dir():
            raise ValueError(f"{item.path}: is a folder, not an output file")
        other = seen.get(key) or (seen_inode.get(identity) if identity is not None else None)
        if other is not None:
            if other.what == item.what == "the output":
                raise ValueError(
                    f"{item.path}: is the output of both {other.source} and {item.source}; give the "
                    "inputs different names or write them to different folders"
                )
            raise ValueError(
                f"{item.path}: would be written twice, as {other.describe()} and as {item.describe()}; "
                "give the inputs or the outputs different names"
            )
        seen[key] = item
        if identity is not None:
            seen_inode[identity] = item


# -------------------------------------------------------------------------------------- writing

T = TypeVar("T")


def join_frames(frames: list[np.ndarray], image: EMImage) -> np.ndarray:
    """The per-frame results (R, C) as one array of `image`'s shape: (F, R, C) for a stack."""
    return np.stack(frames) if image.is_stack else frames[0]


def per_frame(values: list[T], image: EMImage) -> Any:
    """For a sidecar: the list of per-frame values for a stack, the single value for an image."""
    return values if image.is_stack else values[0]


def stage_result(
    target: Path,
    dtype: np.dtype | None,
    source: Path,
    image: EMImage,
    result: np.ndarray,
    command: str,
    record: dict[str, Any],
) -> list[StagedFile]:
    """`result` (the input's shape, any real dtype) in `dtype` (None: stretched onto 16 bits) with the
    input's pixel size (and an MRC input's header fields, `mrc_header`) for `target`, and its sidecar (the
    command, the input and output files' facts, the pixel size, and `record`, e.g. settings and results),
    staged in temporary files: the caller replaces them (`atomic.replace_together`) or discards them."""
    mapping: dict[str, Any] | None = None
    if dtype is None:
        values, (low, high) = stretch_to_dtype(result, STRETCH_DTYPE)
        top = int(np.iinfo(STRETCH_DTYPE).max)
        mapping = {
            "rule": f"stored = round((value - min) / (max - min) * {top}); a constant result is 0",
            "min": low,
            "max": high,
            "stored_max": top,
        }
        written = STRETCH_DTYPE
    else:
        values, written = result, dtype
    files = {
        "command": command,
        "input": {
            "path": str(source.resolve()),
            "format": format_of(source).name,
            "shape": list(image.data.shape),
            "dtype": str(image.dtype),
        },
        "output": {
            "path": str(target.resolve()),
            "format": format_of(target).name,
            "shape": list(np.shape(result)),
            "dtype": str(written),
            "value_mapping": mapping,
        },
        "pixel_size": None if image.pixel_size is None else image.pixel_size.to_json(),
    }
    header = mrc_header(image, target, command)
    return stage_pair(
        target, lambda: stage_em(target, values, image.pixel_size, dtype=written, header=header), {**files, **record}
    )


def mrc_header(image: EMImage, target: Path, command: str) -> MrcHeader:
    """The MRC header fields of a result of `image` written to `target`: the input's own (an MRC input's labels,
    origin, start indices, volume or stack; none for other formats) and a label naming zeroshot, the command
    and the sidecar with the settings (used when `target` is an MRC file)."""
    made = f"zeroshot {package_version()} {command}"
    label = f"{made}; settings in {sidecar_path(target).name}"
    if len(label) > 80:
        label = f"{made}; settings in the .json sidecar"
    return (image.header or MrcHeader()).with_label(label)
