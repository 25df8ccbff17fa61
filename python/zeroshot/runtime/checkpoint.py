"""Training checkpoints: the parameters, the truncated states of the training patches (K, lpj), the
number of epochs done and their history, written atomically (a temporary file, then a rename).

The random streams are keyed by (seed, epoch, patch) and the training subset by the seed, so the
seed in the configuration and the epoch fix every random number of the rest of the run: resuming
gives bitwise the result of an uninterrupted run. A checkpoint records the configuration and a hash of
the input image and is refused for another configuration or image.

File: a NumPy .npz archive (no pickles) with `meta` (JSON text), the parameters (W, pi, sigma2 and for
es3c mu, psi; Lambda, pi for pmm) and the states K (N, S, words) uint64 (pmm: K (N, S) int32 component
indices), lpj (N, S) float64 of all training patches in their global order (one file also for an MPI run:
rank 0 gathers the states and writes it).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zeroshot.config import INFERENCE_ONLY_FIELDS, DenoiseConfig
from zeroshot.models.arrays import arrays_problem
from zeroshot.models.base import PatchModel
from zeroshot.models.family import FAMILIES, parameter_names
from zeroshot.runtime.archive import check_meta_types, damaged, parse_meta, read_archive, write_archive
from zeroshot.runtime.available_memory import memory_limit
from zeroshot.variational.em import EpochLog

FORMAT = "zeroshot-checkpoint"
VERSION = 1


@dataclass(frozen=True)
class Checkpoint:
    """epoch: training epochs done (BSC pre-training included); model: the parameters after them;
    K (N, S, words), lpj (N, S): the states of all N training patches; history: one EpochLog per epoch
    done; config: `config_record` of the run's configuration; input_hash: `image_hash` of its image."""

    epoch: int
    model: PatchModel
    K: np.ndarray
    lpj: np.ndarray
    history: list[EpochLog]
    config: dict[str, Any]
    input_hash: str


def config_record(config: DenoiseConfig) -> dict[str, Any]:
    """The configuration as plain JSON values (what a checkpoint stores and compares). context (the slices a
    patch spans) is recorded only when it is not 1: the records of 2-D runs, and the files made before it
    existed, are unchanged (a record without it reads back as 1)."""
    record: dict[str, Any] = json.loads(json.dumps(asdict(config), sort_keys=True))
    if record.get("context") == 1:
        del record["context"]
    return record


def image_hash(values: np.ndarray) -> str:
    """SHA-256 of the image's shape, dtype and values."""
    array = np.ascontiguousarray(values)
    digest = hashlib.sha256(f"{array.shape} {array.dtype.str}".encode())
    digest.update(array.data.cast("B"))
    return digest.hexdigest()


def save_checkpoint(path: str | Path, checkpoint: Checkpoint) -> None:
    """Writes `checkpoint` to `path` atomically: the file is complete under its name, or (on any error)
    whatever was there before is left as it was."""
    model = checkpoint.model
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "epoch": checkpoint.epoch,
        "model": model.name,
        "shared_pi": bool(model.shared_pi),
        "history": [asdict(log) for log in checkpoint.history],
        "config": checkpoint.config,
        "input_hash": checkpoint.input_hash,
    }
    arrays = {**model.arrays(), "K": checkpoint.K, "lpj": checkpoint.lpj}
    write_archive(Path(path), json.dumps(meta, allow_nan=False), arrays)


# What the meta record holds: name -> (the JSON types it may have, what it must be).
_META_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "epoch": ((int,), "an integer"),
    "model": ((str,), "a model name"),
    "shared_pi": ((bool,), "true or false"),
    "history": ((list,), "a list of epochs"),
    "config": ((dict,), "a configuration"),
    "input_hash": ((str,), "a hash"),
}
NOUN = "checkpoint"
# The arrays a checkpoint holds besides its meta record and its model's parameters.
MEMBERS = frozenset({"K", "lpj"})


def _damaged(path: Path, problem: str) -> ValueError:
    return damaged(path, NOUN, problem)


def _check_meta(path: Path, meta: dict[str, Any]) -> None:
    check_meta_types(path, NOUN, meta, _META_TYPES)
    if meta["model"] not in FAMILIES:
        raise _damaged(path, f"unknown model {meta['model']!r}")
    if meta["epoch"] < 0 or len(meta["history"]) != meta["epoch"]:
        raise _damaged(path, f"epoch {meta['epoch']} with {len(meta['history'])} epochs in the history")


def _check_arrays(path: Path, meta: dict[str, Any], arrays: dict[str, np.ndarray], config: DenoiseConfig) -> None:
    """The arrays of the model and the states fit the run: names, dtypes, shapes, and the states of the model's
    family (`StatesType.stored_problem`: e.g. no state held twice by a patch)."""
    family = FAMILIES[meta["model"]]
    problem = (
        family.parameter_problem(arrays, config.n_latents, config.patch_size, config.context)
        or arrays_problem(("K", "lpj"), arrays)
        or family.states.stored_problem(arrays["K"], arrays["lpj"], config.n_latents, config.n_states)
    )
    if problem is not None:
        raise _damaged(path, problem)


def load_checkpoint(path: str | Path, config: DenoiseConfig, input_hash: str) -> Checkpoint:
    """The checkpoint at `path`, or a ValueError naming the file and saying why it cannot continue this run
    (missing, not a checkpoint, damaged, made with another configuration or for another image). Nothing is
    unpickled, and no array is read before its header is checked against the archive member's size."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"cannot resume: no checkpoint at {path}")
    text, arrays = read_archive(path, NOUN, MEMBERS | parameter_names(), memory_limit(None))
    meta = parse_meta(path, NOUN, text, FORMAT)
    if meta.get("version") != VERSION:
        raise ValueError(f"{path}: checkpoint version {meta.get('version')} (this zeroshot reads {VERSION})")
    _check_meta(path, meta)
    expected = config_record(config)
    saved, now = _training_fields(meta["config"]), _training_fields(expected)
    if saved != now:
        raise ValueError(
            f"cannot resume from {path}: it was made with another configuration ("
            + "; ".join(_differences(saved, now))
            + "); run with the checkpoint's settings, or start afresh without --resume"
        )
    if meta["input_hash"] != input_hash:
        raise ValueError(
            f"cannot resume from {path}: it was made for another input image (hash "
            f"{meta['input_hash'][:12]}..., this image {input_hash[:12]}...)"
        )
    _check_arrays(path, meta, arrays, config)
    try:
        model = FAMILIES[meta["model"]].from_arrays(arrays, meta["shared_pi"])
        history = [EpochLog(**log) for log in meta["history"]]
    except (KeyError, TypeError, ValueError) as error:
        raise _damaged(path, str(error)) from None
    return Checkpoint(int(meta["epoch"]), model, arrays["K"], arrays["lpj"], history, expected, input_hash)


def _training_fields(record: dict[str, Any]) -> dict[str, Any]:
    """The fields of a configuration record that training depends on."""
    return {key: value for key, value in record.items() if key not in INFERENCE_ONLY_FIELDS}


def _differences(saved: dict[str, Any], now: dict[str, Any], prefix: str = "") -> list[str]:
    """'name: saved (checkpoint) vs now' for every field that differs (nested fields as evo.name)."""
    out: list[str] = []
    for key in sorted(set(saved) | set(now)):
        a, b = saved.get(key), now.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _differences(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}: {a!r} in the checkpoint, {b!r} now")
    return out
