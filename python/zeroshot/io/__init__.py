"""Reading and writing EM images: MRC, TIFF, PNG and .npy, and (read-only, with the optional extra
em extra, ``pip install ".[em]"``) DigitalMicrograph .dm3/.dm4, TIA .ser/.emi and .emd, with the pixel size.

    image = read_em("noisy.mrc")       # EMImage: data (R, C) or (F, R, C), pixel_size (nm) or None
    write_em("out.tif", result, pixel_size=image.pixel_size, dtype=np.float32)

``read_image`` / ``write_image`` are the 2-D-only forms without a pixel size.
"""

from zeroshot.io.api import (
    EMImage,
    check_format,
    check_writable,
    read_em,
    read_image,
    write_em,
    write_image,
)
from zeroshot.io.dtypes import stretch_to_dtype, to_dtype_like
from zeroshot.io.formats import FORMATS, READ_SUFFIXES, WRITE_SUFFIXES, format_of
from zeroshot.io.mrc import MrcHeader
from zeroshot.io.pixelsize import PixelSize, nm_per_unit, pixel_size_from

__all__ = [
    "FORMATS",
    "READ_SUFFIXES",
    "WRITE_SUFFIXES",
    "EMImage",
    "MrcHeader",
    "PixelSize",
    "check_format",
    "check_writable",
    "format_of",
    "nm_per_unit",
    "pixel_size_from",
    "read_em",
    "read_image",
    "stretch_to_dtype",
    "to_dtype_like",
    "write_em",
    "write_image",
]
