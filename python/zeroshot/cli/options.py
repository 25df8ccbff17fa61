"""The options of a `zeroshot denoise` or `zeroshot enhance` run, taken from the command line once."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

from zeroshot.config import DenoiseConfig
from zeroshot.enhance import DetailSettings, ReliefSettings, RenderSettings

# command-line option -> DenoiseConfig field
OPTION_FIELDS = {
    "patch_size": "patch_size",
    "chunk_patches": "chunk_patches",
    "latents": "n_latents",
    "states": "n_states",
    "epochs": "epochs",
    "inference_epochs": "inference_epochs",
    "merge": "merge",
    "seed": "seed",
    "noise": "noise",
}


def config_from_args(args: argparse.Namespace) -> DenoiseConfig:
    """The model's measured defaults with the options given on the command line."""
    given = {
        field: getattr(args, option) for option, field in OPTION_FIELDS.items() if getattr(args, option) is not None
    }
    if args.max_train_patches is not None:
        given["max_train_patches"] = args.max_train_patches or None
    if args.structure_guard:
        given["structure_guard"] = True
    return DenoiseConfig.for_model(args.model, **given)


@dataclass(frozen=True)
class RunOptions:
    """What a run of `zeroshot denoise` or `zeroshot enhance` does, checked as far as it can be without
    the files.

    command: "denoise" or "enhance"; inputs, output (as given: a file, or a folder), output_format (--format)
    and keep_dtype; config, threads, quiet, max_memory (bytes per process); checkpoint (None or the path),
    checkpoint_every and resume; report: None, "auto" (beside each output) or a path; also_variance
    (denoise); kind and render (the map of enhance and its settings; also those of the variance map).
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

    def __post_init__(self) -> None:
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

    @property
    def moments(self) -> int:
        """The posterior moments the run needs: 1 (the mean), 2 (+ variance) or 3 (+ third moment)."""
        if self.kind == "skewness":
            return 3
        return 2 if self.kind is not None or self.also_variance or self.report is not None else 1

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> RunOptions:
        """The options of a `denoise` or `enhance` command line (ValueError for a bad combination)."""
        enhance = args.command == "enhance"
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
            config=config_from_args(args),
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
        )
