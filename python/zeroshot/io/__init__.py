"""Reading and writing EM images: MRC, TIFF, PNG and .npy, and (read-only, with the optional extra
em extra, ``pip install ".[em]"``) DigitalMicrograph .dm3/.dm4, TIA .ser/.emi and .emd, with the pixel size.

    image = read_em("noisy.mrc")       # EMImage: data (R, C) or (F, R, C), pixel_size (nm) or None
    write_em("out.tif", result, pixel_size=image.pixel_size, dtype=np.float32)

``read_image`` / ``write_image`` are the 2-D-only forms without a pixel size. Volumes (Z, Y, X) too large to
hold at once are read and written slab by slab:

    with open_volume("tomo.mrc") as volume, create_volume_output("out.mrc", volume.shape,
            voxel_size=volume.voxel_size, header=volume.header, resume=key) as sink:
        for z0, z1 in sink.missing():
            sink.write(z0, work(volume.slab(z0, z1)))
        sink.commit()
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
from zeroshot.io.volume import VolumeSource, VoxelSize, open_volume
from zeroshot.io.volume_sink import VolumeSink, VolumeStatistics, create_volume_output

__all__ = [
    "FORMATS",
    "READ_SUFFIXES",
    "WRITE_SUFFIXES",
    "EMImage",
    "MrcHeader",
    "PixelSize",
    "VolumeSink",
    "VolumeSource",
    "VolumeStatistics",
    "VoxelSize",
    "check_format",
    "check_writable",
    "create_volume_output",
    "format_of",
    "nm_per_unit",
    "open_volume",
    "pixel_size_from",
    "read_em",
    "read_image",
    "stretch_to_dtype",
    "to_dtype_like",
    "write_em",
    "write_image",
]
