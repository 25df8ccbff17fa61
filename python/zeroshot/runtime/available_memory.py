"""How much memory this process may still use: MemAvailable of /proc/meminfo, the room left under the
memory limits of its cgroup and the cgroup's ancestors (v1 and v2), and the room left in its address space
under `ulimit -v` (RLIMIT_AS, which batch systems such as SGE's h_vmem set). Linux only; elsewhere None."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

try:
    import resource
except ImportError:  # pragma: no cover - Windows
    resource = None  # type: ignore[assignment]

from zeroshot.runtime.memory import format_bytes

# cgroup v1 writes "no limit" as a page-rounded 2^63 - 1; anything above 2^60 bytes is no limit.
_NO_LIMIT = 2**60


@dataclass(frozen=True)
class MemoryLimit:
    """bytes: what may still be allocated; source: where that figure comes from (for messages)."""

    bytes: int
    source: str


def _address_space_limit() -> int | None:
    """The soft RLIMIT_AS in bytes, or None when there is none."""
    if resource is None:  # pragma: no cover - Windows
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    return None if soft == resource.RLIM_INFINITY or soft < 0 else int(soft)


def available_memory(
    proc: Path = Path("/proc"),
    cgroups: Path = Path("/sys/fs/cgroup"),
    address_space_limit: Callable[[], int | None] = _address_space_limit,
) -> MemoryLimit | None:
    """The smallest of MemAvailable, every cgroup limit's room (limit - (usage - inactive file cache),
    which the kernel can reclaim) and the room under RLIMIT_AS (the limit less the process's VmSize in
    proc/self/status), or None where none of them can be read."""
    limits: list[MemoryLimit] = []
    meminfo = _read_fields(proc / "meminfo")
    if "MemAvailable" in meminfo:  # in kB
        limits.append(MemoryLimit(meminfo["MemAvailable"] * 1024, f"MemAvailable in {proc / 'meminfo'}"))
    limits += _cgroup_rooms(proc / "self" / "cgroup", cgroups)
    rlimit = address_space_limit()
    if rlimit is not None:
        used = _read_fields(proc / "self" / "status").get("VmSize", 0) * 1024  # in kB
        limits.append(
            MemoryLimit(
                max(rlimit - used, 0),
                f"the address-space limit (ulimit -v, RLIMIT_AS) of {format_bytes(rlimit)}, "
                f"{format_bytes(used)} of it in use",
            )
        )
    return min(limits, key=lambda limit: limit.bytes) if limits else None


def memory_limit(max_memory: int | None) -> MemoryLimit | None:
    """max_memory (bytes), or the memory available to this process (None where it cannot be read)."""
    return MemoryLimit(max_memory, "max_memory") if max_memory is not None else available_memory()


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError):
        return None


def _read_int(path: Path) -> int | None:
    text = _read_text(path)
    try:
        return None if text is None else int(text.strip())
    except ValueError:
        return None  # e.g. "max": no limit


def _read_fields(path: Path) -> dict[str, int]:
    """'name value [unit]' or 'name: value' lines (meminfo, memory.stat) as {name: value}."""
    fields: dict[str, int] = {}
    for line in (_read_text(path) or "").splitlines():
        parts = line.replace(":", " ").split()
        if len(parts) >= 2 and parts[1].isdigit():
            fields[parts[0]] = int(parts[1])
    return fields


def _cgroup_dirs(cgroup_file: Path, cgroups: Path) -> Iterator[tuple[str, Path, Path]]:
    """(version, the process's memory cgroup folder, the hierarchy's root) for each hierarchy that has
    a memory controller. In a container the cgroup's path is often not visible: then the mounted root
    is the container's own cgroup."""
    for line in (_read_text(cgroup_file) or "").splitlines():
        parts = line.strip().split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if controllers == "":
            version, root = "v2", cgroups
        elif "memory" in controllers.split(","):
            version, root = "v1", cgroups / "memory"
        else:
            continue
        folder = root / path.lstrip("/")
        yield version, folder if folder.is_dir() else root, root


def _cgroup_rooms(cgroup_file: Path, cgroups: Path) -> list[MemoryLimit]:
    """The room under the limit of the process's cgroup and of each ancestor up to the root."""
    rooms = []
    for version, folder, root in _cgroup_dirs(cgroup_file, cgroups):
        names = (
            ("memory.max", "memory.current", "inactive_file")
            if version == "v2"
            else ("memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file")
        )
        level = folder
        while True:
            limit, usage = _read_int(level / names[0]), _read_int(level / names[1])
            if limit is not None and limit < _NO_LIMIT and usage is not None:
                cache = _read_fields(level / "memory.stat").get(names[2], 0)
                room = max(limit - max(usage - cache, 0), 0)
                rooms.append(MemoryLimit(room, f"the cgroup {version} limit of {format_bytes(limit)} in {level}"))
            if level == root or root not in level.parents:
                break
            level = level.parent
    return rooms
