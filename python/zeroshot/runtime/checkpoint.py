"""Training checkpoints: the parameters, the truncated states of the training patches (K, lpj), the
number of epochs done and their history, written atomically (a temporary file, then a rename).

The random streams are keyed by (seed, epoch, patch) and the training subset by the seed, so the
seed in the configuration and the epoch fix every random number of the rest of the run: resuming
gives bitwise the result of an uninterrupted run. A checkpoint records the configuration and a hash of
the input image and is refused for another configuration or image.

File: a NumPy .npz archive (no pickles) with `meta` (JSON text), the parameters (W, pi, sigma2 and for
es3c mu, psi) and the states K (N, S, words) uint64, lpj (N, S) float64 of all training patches in
their global order (one file also for an MPI run: rank 0 gathers the states and writes it).
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zeroshot.config import DenoiseConfig
from zeroshot.io.atomic import atomic_output
from zeroshot.models import BSC, SSSC, BSCParams, SSSCParams
from zeroshot.models.base import Model
from zeroshot.variational.em import EpochLog

FORMAT = "zeroshot-checkpoint"
VERSION = 1


@dataclass(frozen=True)
class Checkpoint:
    """epoch: training epochs done (BSC pre-training included); model: the parameters after them;
    K (N, S, words), lpj (N, S): the states of all N training patches; history: one EpochLog per epoch
    done; config: `config_record` of the run's configuration; input_hash: `image_hash` of its image."""

    epoch: int
    model: Model
    K: np.ndarray
    lpj: np.ndarray
    history: list[EpochLog]
    config: dict[str, Any]
    input_hash: str


def config_record(config: DenoiseConfig) -> dict[str, Any]:
    """The configuration as plain JSON values (what a checkpoint stores and compares)."""
    return json.loads(json.dumps(asdict(config), sort_keys=True))


def image_hash(values: np.ndarray) -> str:
    """SHA-256 of the image's shape, dtype and values."""
    array = np.ascontiguousarray(values)
    digest = hashlib.sha256(f"{array.shape} {array.dtype.str}".encode())
    digest.update(array.data.cast("B"))
    return digest.hexdigest()


def _model_arrays(model: Model) -> dict[str, np.ndarray]:
    if isinstance(model, SSSC):
        p = model.params
        return {"W": p.W, "pi": p.pi, "mu": p.mu, "psi": p.psi, "sigma2": np.array(p.sigma2)}
    if isinstance(model, BSC):
        return {"W": model.W, "pi": model.pi, "sigma2": np.array(model.sigma2)}
    raise TypeError(f"cannot checkpoint a model of type {type(model).__name__}")


def _model_from(kind: str, shared_pi: bool, arrays: dict[str, np.ndarray]) -> Model:
    sigma2 = float(arrays["sigma2"])
    if kind == "es3c":
        return SSSC(SSSCParams(arrays["W"], arrays["pi"], arrays["mu"], arrays["psi"], sigma2), shared_pi)
    if kind == "bsc":
        return BSC(BSCParams(arrays["W"], arrays["pi"], sigma2), shared_pi)
    raise ValueError(f"unknown model {kind!r}")


def save_checkpoint(path: str | Path, checkpoint: Checkpoint) -> None:
    """Writes `checkpoint` to `path` atomically: the file is complete under its name, or (on any error)
    whatever was there before is left as it was."""
    model = checkpoint.model
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "epoch": checkpoint.epoch,
        "model": "es3c" if isinstance(model, SSSC) else "bsc",
        "shared_pi": bool(getattr(model, "shared_pi", False)),
        "history": [asdict(log) for log in checkpoint.history],
        "config": checkpoint.config,
        "input_hash": checkpoint.input_hash,
    }
    arrays: dict[str, Any] = {**_model_arrays(model), "K": checkpoint.K, "lpj": checkpoint.lpj}
    with atomic_output(Path(path)) as tmp, open(tmp, "wb") as fh:  # a file object: np.savez would append .npz
        np.savez(fh, meta=np.array(json.dumps(meta, allow_nan=False)), **arrays)


def load_checkpoint(path: str | Path, config: DenoiseConfig, input_hash: str) -> Checkpoint:
    """The checkpoint at `path`, or a ValueError saying why it cannot continue this run (missing,
    not a checkpoint, made with another configuration or for another image)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"cannot resume: no checkpoint at {path}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
        meta = json.loads(str(arrays.pop("meta")))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
        raise ValueError(f"{path} is not a zeroshot checkpoint ({error})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{path} is not a zeroshot checkpoint")
    if meta.get("version") != VERSION:
        raise ValueError(f"{path}: checkpoint version {meta.get('version')} (this zeroshot reads {VERSION})")
    expected = config_record(config)
    if meta["config"] != expected:
        raise ValueError(
            f"cannot resume from {path}: it was made with another configuration ("
            + "; ".join(_differences(meta["config"], expected))
            + "); run with the checkpoint's settings, or start afresh without --resume"
        )
    if meta["input_hash"] != input_hash:
        raise ValueError(
            f"cannot resume from {path}: it was made for another input image (hash "
            f"{meta['input_hash'][:12]}..., this image {input_hash[:12]}...)"
        )
    try:
        model = _model_from(meta["model"], meta["shared_pi"], arrays)
        history = [EpochLog(**log) for log in meta["history"]]
        K, lpj = arrays["K"], arrays["lpj"]
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{path}: damaged checkpoint ({error})") from None
    if K.dtype != np.uint64 or K.ndim != 3 or lpj.shape != K.shape[:2] or len(history) != meta["epoch"]:
        raise ValueError(f"{path}: damaged checkpoint (states {K.dtype} {K.shape}, lpj {lpj.shape})")
    return Checkpoint(int(meta["epoch"]), model, K, lpj, history, expected, input_hash)


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
