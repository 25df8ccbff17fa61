"""The command line: `zeroshot denoise | enhance | demo`."""

from zeroshot.cli.main import main

__all__ = ["main"]
