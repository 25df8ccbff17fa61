"""MPI data parallelism over patches with mpi4py (the optional mpi extra, ``pip install ".[mpi]"``).

    from zeroshot.runtime.mpi import MPIComm
    result = zeroshot.denoise(image, comm=MPIComm())   # in a script started by `mpiexec -n 4 python ...`

Every rank passes the same image and options; each learns from and infers its own contiguous block of
the patches, and every rank returns the same result. mpi4py is imported only here, and only when an
`MPIComm` is made (importing mpi4py starts MPI).
"""

from __future__ import annotations

import os
import sys
from typing import Any, NoReturn, TypeVar

import numpy as np

from zeroshot.extras import install_hint
from zeroshot.runtime.comm import Arrays, Comm, SerialComm

T = TypeVar("T")

# Bytes per message: large arrays go in pieces below the 2^31 count limit of MPI before version 4.
_PIECE_BYTES = 1 << 30
_TAG = 7301
_OBJECT_TAG = 7302  # send_object / recv_object: matched from any rank, apart from the arrays' messages


def _pieces(array: np.ndarray) -> list[np.ndarray]:
    """Byte views of `array` (C-contiguous, of any shape, 0-d too), each at most _PIECE_BYTES long."""
    flat = array.reshape(-1).view(np.uint8)
    return [flat[i : i + _PIECE_BYTES] for i in range(0, flat.size, _PIECE_BYTES)] or [flat]


class MPIComm:
    """The `Comm` of the processes of an MPI communicator (default: MPI.COMM_WORLD)."""

    def __init__(self, comm: Any | None = None) -> None:
        try:
            from mpi4py import MPI
        except ImportError as error:
            raise ImportError(f"MPI needs mpi4py and an MPI runtime: {install_hint('mpi')}") from error
        self._MPI = MPI
        self.comm = MPI.COMM_WORLD if comm is None else comm
        self.rank: int = self.comm.Get_rank()
        self.size: int = self.comm.Get_size()

    def allreduce(self, buffer: np.ndarray) -> np.ndarray:
        send = np.ascontiguousarray(buffer, dtype=np.float64)
        total = np.empty_like(send)
        self.comm.Allreduce(send, total, op=self._MPI.SUM)
        return total

    def bcast(self, obj: T) -> T:
        value: T = self.comm.bcast(obj, root=0)  # typed here: mpi4py's stubs say Any
        return value

    def gather(self, obj: Any) -> list[Any] | None:
        gathered: list[Any] | None = self.comm.gather(obj, root=0)
        return gathered

    def send_arrays(self, arrays: Arrays, dest: int) -> None:
        contiguous = {name: np.asarray(a, order="C") for name, a in arrays.items()}
        self.comm.send([(name, a.shape, a.dtype.str) for name, a in contiguous.items()], dest=dest, tag=_TAG)
        for array in contiguous.values():
            for piece in _pieces(array):
                self.comm.Send(piece, dest=dest, tag=_TAG)

    def recv_arrays(self, source: int) -> Arrays:
        header = self.comm.recv(source=source, tag=_TAG)
        arrays = {name: np.empty(shape, dtype=np.dtype(dtype)) for name, shape, dtype in header}
        for array in arrays.values():
            for piece in _pieces(array):
                self.comm.Recv(piece, source=source, tag=_TAG)
        return arrays

    def bcast_arrays(self, arrays: Arrays | None) -> Arrays:
        if self.rank == 0:
            if arrays is None:
                raise ValueError("rank 0 must give the arrays to broadcast")
            arrays = {name: np.asarray(a, order="C") for name, a in arrays.items()}
            header = self.comm.bcast([(name, a.shape, a.dtype.str) for name, a in arrays.items()], root=0)
        else:
            header = self.comm.bcast(None, root=0)
            arrays = {name: np.empty(shape, dtype=np.dtype(dtype)) for name, shape, dtype in header}
        for array in arrays.values():
            for piece in _pieces(array):
                self.comm.Bcast(piece, root=0)
        return arrays

    def send_object(self, obj: Any, dest: int) -> None:
        self.comm.send(obj, dest=dest, tag=_OBJECT_TAG)

    def recv_object(self, wait: bool) -> Any | None:
        if not wait and not self.comm.iprobe(source=self._MPI.ANY_SOURCE, tag=_OBJECT_TAG):
            return None
        return self.comm.recv(source=self._MPI.ANY_SOURCE, tag=_OBJECT_TAG)

    def abort(self, code: int) -> NoReturn:
        """Ends every process of the job (a failed rank must not leave the others waiting)."""
        sys.stdout.flush()
        sys.stderr.flush()
        self.comm.Abort(code)
        os._exit(code)  # MPI_Abort may return (MPICH does) before the launcher ends this process


def launcher_size() -> int:
    """The number of processes an MPI launcher started, from its environment (MPICH/Hydra, Intel MPI,
    Slurm PMI: PMI_SIZE; Open MPI: OMPI_COMM_WORLD_SIZE); 1 without one."""
    for name in ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE"):
        value = os.environ.get(name, "")
        if value.isdigit():
            return int(value)
    return 1


def world_comm() -> Comm:
    """An `MPIComm` over COMM_WORLD when this process is one of several MPI ranks (started by mpiexec,
    or with mpi4py already imported, as by `python -m mpi4py`), else a `SerialComm` (mpi4py is not
    imported then). ImportError when a launcher started several processes but mpi4py is missing."""
    n = launcher_size()
    if "mpi4py.MPI" not in sys.modules and n <= 1:
        return SerialComm()
    try:
        comm = MPIComm()
    except ImportError as error:
        raise ImportError(
            f"this is one of {n} processes started by an MPI launcher, but mpi4py is not installed: "
            + install_hint("mpi")
        ) from error
    return comm if comm.size > 1 else SerialComm()
