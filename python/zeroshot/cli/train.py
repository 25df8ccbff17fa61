"""`zeroshot train IN... -o model.npz`: one model from the patches of all the inputs (every frame of a stack an
image), data-parallel over MPI ranks as `denoise`; rank 0 writes the model file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from zeroshot.cli.budget import InputBudget
from zeroshot.cli.errors import AgreedError, agreed
from zeroshot.cli.files import Written, check_distinct, check_folder
from zeroshot.cli.options import config_from_args
from zeroshot.cli.progress import RunDisplay, sigma_text
from zeroshot.denoise import check_threads
from zeroshot.io import read_em
from zeroshot.runtime.available_memory import memory_limit
from zeroshot.runtime.comm import Comm
from zeroshot.train import train


def run_train(args: argparse.Namespace, comm: Comm) -> int:
    """Checks the options and the output, reads every input (each checked against the memory before it is
    decoded), learns the model and writes its file; a problem before any learning is an AgreedError (every
    rank raises it: reported once)."""
    config, threads = agreed(comm, lambda: (config_from_args(args), check_threads(args.threads)))
    inputs = [Path(name) for name in args.inputs]
    output = Path(args.output)
    checkpoint = None if args.checkpoint is None else Path(args.checkpoint)
    if args.resume and checkpoint is None:
        raise AgreedError("--resume needs --checkpoint PATH, the checkpoint to continue from")
    if output.suffix.lower() != ".npz":
        raise AgreedError(f"-o {output}: a model file is a NumPy .npz archive; name it *.npz")
    written = [Written(output, "the model file", inputs[0])]
    if checkpoint is not None:
        written.append(Written(checkpoint, "the checkpoint", inputs[0]))
    budget = InputBudget(
        memory_limit(args.max_memory),
        config,
        moments=1,
        threads=threads,
        checkpoint=checkpoint is not None,
        ranks=comm.size,
    )
    frames, names = agreed(comm, lambda: _checked_inputs(inputs, written, budget))
    loud = comm.rank == 0 and not args.quiet
    if loud:
        print(f"learning from {len(frames)} image(s) of {len(inputs)} file(s)", file=sys.stderr)
    # The noise model in plain words before the first epoch, then the epochs with the sigma the model file records.
    display = RunDisplay(sys.stderr, verbose=args.verbose, note=f" (decided on {names[0]})") if loud else None
    model = train(
        frames,
        config=config,
        threads=threads,
        progress=display,
        comm=comm,
        checkpoint=checkpoint,
        checkpoint_every=args.checkpoint_every,
        resume=args.resume,
        max_memory=args.max_memory,
        names=names,
    )
    del frames
    problem = None
    if comm.rank == 0:
        try:
            output.parent.mkdir(parents=True, exist_ok=True)
            model.save(output)
        except OSError as error:
            problem = f"cannot write the model file {output}: {error}"
    problem = comm.bcast(problem)
    if problem is not None:
        raise AgreedError(problem)
    if comm.rank == 0:
        sigma = sigma_text(model.noise_sigma, model.noise.transforms)
        print(f"{output}: {model.describe()}; learned noise sigma {sigma}")
    return 0


def _checked_inputs(
    inputs: list[Path], written: list[Written], budget: InputBudget
) -> tuple[list[np.ndarray], list[str]]:
    """(the frames of the inputs, their names for messages), after the files written are checked (none an input,
    their folders there or, for the model file, to be made); every input checked against the memory before it is
    decoded."""
    check_distinct(inputs, written)
    for item in written:  # the model file's folder is made when missing, as denoise's -o; the checkpoint's is not
        check_folder(item.path.parent, may_create=item.path == written[0].path, what=item.what)
    frames: list[np.ndarray] = []
    names: list[str] = []
    for source in inputs:
        image = read_em(source, check=budget.check(source))
        frames += image.frames
        count = len(image.frames)
        names += [f"{source} (frame {k})" if image.is_stack else str(source) for k in range(1, count + 1)]
        del image
    return frames, names
