"""The options of a `zeroshot denoise` or `zeroshot enhance` run, taken from the command line once."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zeroshot.cli.errors import AgreedError
from zeroshot.config import DenoiseConfig
from zeroshot.enhance import DetailSettings, ReliefSettings, RenderSettings
from zeroshot.pipeline.trained import TrainedModel
from zeroshot.runtime.comm import Comm

# command-line option -> DenoiseConfig field
OPTION_FIELDS = {
    "patch_size": "patch_size",
    "chunk_patches": "chunk_patches",
    "latents": "n_latents",
    "states": "n_states",
    "epochs": "epochs",
    "inference_epochs": "inference_epochs",
    "inference_stride": "inference_stride",
    "inference_states": "inference_states",
    "merge": "merge",
    "seed": "seed",
    "noise": "noise",
    "second_pass": "second_pass",
    "context": "context",
}


def explicit_options(args: argparse.Namespace) -> dict[str, Any]:
    """The DenoiseConfig fields given on the command line (--model included), and nothing else."""
    given = {
        field: getattr(args, option)
        for option, field in OPTION_FIELDS.items()
        if getattr(args, option, None) is not None  # --context: denoise and enhance only
    }
    if args.max_train_patches is not None:
        given["max_train_patches"] = args.max_train_patches or None
    if args.structure_guard:
        given["structure_guard"] = True
    if args.model is not None:
        given["model"] = args.model
    return given


def config_from_args(args: argparse.Namespace) -> DenoiseConfig:
    """The model's measured defaults (bsc's without --model) with the options given on the command line."""
    given = explicit_options(args)
    return DenoiseConfig.for_model(given.pop("model", "bsc"), **given)


def read_model_file(path: Path, comm: Comm, max_memory: int | None = None) -> TrainedModel:
    """The model in the file at `path` (its arrays within max_memory bytes, default: the memory available),
    read by rank 0 and sent to the others; a problem is an AgreedError on every rank."""
    model, problem = None, None
    if comm.rank == 0:
        try:
            model = TrainedModel.load(path, max_memory)
        except ValueError as error:
            problem = f"--model-file: {error}"
    model, problem = comm.bcast((model, problem))
    if problem is not None or model is None:
        raise AgreedError(problem or f"--model-file {path}: not received from rank 0")
    return model


@dataclass(frozen=True)
class RunOptions:
    """What a run of `zeroshot denoise` or `zeroshot enhance` does, checked as far as it can be without
    the files.

    command: "denoise" or "enhance"; inputs, output (as given: a file, or a folder), output_format (--format),
    suffix (--suffix: after each input's name in a folder output) and keep_dtype; config, threads, quiet,
    max_memory (bytes per process); checkpoint (None or the path), checkpoint_every and resume; report: None,
    "auto" (beside each output) or a path; also_variance (denoise); kind and render (the map of enhance and its
    settings; also those of the variance map); parallel: "files", "patches" or "auto" (how MPI ranks share the
    inputs); model_file and trained: the trained model to denoise with (--model-file), finetune its epochs on
    each image, overrides the options given beside it (config is then the model's with them,
    `TrainedModel.config_for`); verbose (-v): the internal figures too in the progress display; per_slice
    (--per-slice): a stack's frames each with its own model, instead of one model for the volume.
    """

    command: str
    inputs: tuple[Path, ...]
    output: str
    output_format: str | None
    keep_dtype: bool
    config: DenoiseConfig
    threads: int | None
    quiet: bool
    max_memory: int | None
    checkpoint: Path | None
    checkpoint_every: int
    resume: bool
    report: str | None
    also_variance: bool = False
    kind: str | None = None
    render: RenderSettings = field(default_factory=RenderSettings)
    parallel: str = "auto"
    model_file: Path | None = None
    trained: TrainedModel | None = None
    finetune: int = 0
    verbose: bool = False
    overrides: dict[str, Any] = field(default_factory=dict)
    suffix: str = ""
    per_slice: bool = False

    def __post_init__(self) -> None:
        if self.trained is not None and self.checkpoint is not None:
            raise ValueError(
                "--checkpoint with --model-file: fine-tuning keeps no checkpoints (they are for learning a model: "
                "zeroshot train --checkpoint)"
            )
        if self.checkpoint is not None and len(self.inputs) > 1:
            raise ValueError(
                f"--checkpoint {self.checkpoint}: one checkpoint file for {len(self.inputs)} inputs; "
                "checkpoint one input at a time"
            )
        if self.resume and self.checkpoint is None:
            raise ValueError("--resume needs --checkpoint PATH, the checkpoint to continue from")
        if self.checkpoint_every < 1:
            raise ValueError(f"--checkpoint-every must be at least 1, got {self.checkpoint_every}")
        if self.report is not None and self.report != "auto" and len(self.inputs) > 1:
            raise ValueError(
                f"--report {self.report}: one report file for {len(self.inputs)} inputs; give --report "
                "without a path to write one beside each output"
            )

    def one_model(self, frames: int) -> bool:
        """Whether `frames` frames (> 1: a volume or stack) are denoised with one model learned from them."""
        return frames > 1 and not self.per_slice and self.trained is None

    @property
    def moments(self) -> int:
        """The posterior moments the run needs: 1 (the mean), 2 (+ variance) or 3 (+ third moment)."""
        if self.kind == "skewness":
            return 3
        return 2 if self.kind is not None or self.also_variance or self.report is not None else 1

    @classmethod
    def from_args(cls, args: argparse.Namespace, trained: TrainedModel | None = None) -> RunOptions:
        """The options of a `denoise` or `enhance` command line (ValueError for a bad combination); trained: the
        model of --model-file (`read_model_file`)."""
        enhance = args.command == "enhance"
        overrides = explicit_options(args)
        if args.finetune is not None and trained is None:
            raise ValueError("--finetune needs --model-file, the trained model to fine-tune")
        finetune = 0 if args.finetune is None else args.finetune
        if finetune < 0:
            raise ValueError(f"--finetune must be at least 0, got {finetune}")
        if trained is not None:
            config = trained.config_for(overrides, finetune, f"--model-file {args.model_file}")
        else:
            config = config_from_args(args)
        render = (
            RenderSettings(
                relief=ReliefSettings(args.azimuth, args.elevation, args.z_factor, args.smoothing),
                detail=DetailSettings(args.amount, args.radius, args.std_factor),
            )
            if enhance
            else RenderSettings()
        )
        return cls(
            command=args.command,
            inputs=tuple(Path(name) for name in args.inputs),
            output=args.output,
            output_format=args.format,
            keep_dtype=args.keep_dtype,
            config=config,
            threads=args.threads,
            quiet=args.quiet,
            max_memory=args.max_memory,
            checkpoint=None if args.checkpoint is None else Path(args.checkpoint),
            checkpoint_every=args.checkpoint_every,
            resume=args.resume,
            report=args.report,
            also_variance=getattr(args, "also_variance", False),
            kind=args.kind if enhance else None,
            render=render,
            parallel=args.parallel,
            model_file=None if args.model_file is None else Path(args.model_file),
            trained=trained,
            finetune=finetune,
            overrides=overrides,
            suffix=args.suffix,
            verbose=getattr(args, "verbose", False),
            per_slice=args.per_slice,
        )
