"""The environment of a run: where and how it works, apart from what it computes (`RunEnv`: the ranks, the threads,
the memory, the checkpoints), and the plan of its checkpoints. `zeroshot.denoise` and `zeroshot.train` take its
fields as keywords and build it; the pipeline passes it down whole."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from zeroshot.config import DenoiseConfig
from zeroshot.runtime.checkpoint import config_record
from zeroshot.runtime.comm import Comm, SerialComm, any_rank
from zeroshot.runtime.memory_check import MaxMemory

__all__ = ["CheckpointPlan", "RunEnv"]


@dataclass(frozen=True)
class CheckpointPlan:
    """Checkpoints of a run: written to `path` every `every` epochs, at the end of training and when
    stopped by a signal; `resume` continues from the one at `path`. input_hash: `image_hash` of the input."""

    path: Path
    every: int
    resume: bool
    input_hash: str


@dataclass(frozen=True)
class RunEnv:
    """comm: the ranks (`SerialComm`: one process); threads: the OpenMP threads of the core (None: all); max_memory:
    what each process may use (bytes, or a size such as '8G'; None: what is available); checkpoint: the file the
    training state is saved to every `checkpoint_every` epochs (None: no checkpoints), resume: continue from it. As
    the keywords of `zeroshot.denoise` of those names."""

    comm: Comm = field(default_factory=SerialComm)
    threads: int | None = None
    max_memory: MaxMemory = None
    checkpoint: str | os.PathLike[str] | None = None
    checkpoint_every: int = 10
    resume: bool = False

    def keywords(self) -> dict[str, Any]:
        """The keywords of `zeroshot.denoise` and `zeroshot.train` that give this environment."""
        return {item.name: getattr(self, item.name) for item in fields(self)}

    def agreed_plan(self, input_hash: str, config: DenoiseConfig, *decisions: object) -> CheckpointPlan | None:
        """The checkpoints of the run (None without a checkpoint file), once every rank has agreed that it runs the
        same input (`input_hash`), configuration, `decisions` and checkpoints: all that decides which collectives a
        rank takes part in. A collective; ValueError on every rank where they differ, for a bad interval, resume
        without a file, or a path that cannot be written (checked on rank 0)."""
        comm = self.comm
        if comm.size > 1:
            record = [config_record(config), *decisions, str(self.checkpoint), self.checkpoint_every, self.resume]
            fingerprint = input_hash + json.dumps(record, sort_keys=True, default=repr)
            if any_rank(comm, comm.bcast(fingerprint) != fingerprint):
                raise ValueError(
                    f"the {comm.size} ranks were given different images or options; every rank must call "
                    "denoise with the same image and options (for one image per process, leave comm out)"
                )
        every = self.checkpoint_every
        if not isinstance(every, int) or isinstance(every, bool) or every < 1:
            raise ValueError(f"checkpoint_every must be a positive integer, got {every!r}")
        if self.checkpoint is None:
            if self.resume:
                raise ValueError("resume needs the checkpoint to resume from (checkpoint=PATH, --checkpoint PATH)")
            return None
        path = Path(self.checkpoint)
        problem = None  # rank 0 alone writes (and reads) the checkpoint; the other ranks learn of a problem
        if comm.rank == 0:
            if path.is_dir():
                problem = f"checkpoint {path} is a folder; name a file"
            elif not path.parent.is_dir():
                problem = f"checkpoint {path}: the folder {path.parent} does not exist"
            elif not os.access(path.parent, os.W_OK | os.X_OK):
                problem = f"checkpoint {path}: no permission to write in {path.parent}"
        problem = comm.bcast(problem)
        if problem is not None:
            raise ValueError(problem)
        return CheckpointPlan(path, every, self.resume, input_hash)
