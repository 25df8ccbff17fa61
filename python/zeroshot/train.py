"""Few-shot learning: one model from the patches of one or several images, to denoise others with
(`zeroshot.denoise(image, model=...)`) or to save (`TrainedModel.save`, `zeroshot train -o model.npz`)."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from zeroshot.config import DenoiseConfig, resolve_config
from zeroshot.pipeline.dataset import as_image_list, prepare_training
from zeroshot.pipeline.env import RunEnv
from zeroshot.pipeline.progress import RunProgress, epoch_reports
from zeroshot.pipeline.trained import TrainedModel
from zeroshot.pipeline.training import train as learn
from zeroshot.runtime.comm import Comm, SerialComm
from zeroshot.runtime.memory_check import MaxMemory
from zeroshot.runtime.threads import thread_count
from zeroshot.variational.em import Callback

__all__ = ["TrainedModel", "train"]


def train(
    images: np.ndarray | Sequence[np.ndarray],
    *,
    config: DenoiseConfig | None = None,
    threads: int | None = None,
    callback: Callback | None = None,
    comm: Comm | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    checkpoint_every: int = 10,
    resume: bool = False,
    max_memory: MaxMemory = None,
    names: Sequence[str] | None = None,
    progress: RunProgress | None = None,
    **options: object,
) -> TrainedModel:
    """Learn one model from the patches of `images`: a 2-D image, a stack (F, R, C) or a list of 2-D images
    of one specimen on one instrument (any real dtypes and shapes, each at least the patch size). With context d > 1
    (3-D context, `zeroshot.pipeline.slab`): slabs (d, R, C) of a volume instead, each the slices around a training
    slice (`zeroshot.denoise_volume` makes them), or a 4-D array (F, d, R, C) of them; a 2-D image is refused.

    Options and config as for `zeroshot.denoise` (the DenoiseConfig fields). The first image decides the noise
    model (noise="auto"), its parameters, the patch size (when not given) and the value scaling, and every image
    is taken through those same transforms (see `zeroshot.pipeline.dataset`); max_train_patches counts the
    patches of all images. comm, checkpoint, checkpoint_every, resume, max_memory and callback as for
    `denoise` (the checkpoint records a hash of all the images). names: how error messages name the images
    (e.g. their files; default "image 0", "image 1", ...). progress: told of the noise model once decided and
    of every training epoch, as by `zeroshot.denoise` (`zeroshot.pipeline.progress`). Returns the
    `TrainedModel`: `.save(path)` writes its file, `denoise(image, model=...)` uses it.
    """
    config = resolve_config(config, dict(options))
    env = RunEnv(comm if comm is not None else SerialComm(), threads, max_memory, checkpoint, checkpoint_every, resume)
    training, Y = prepare_training(as_image_list(images, config.context), config, env, names)
    if progress is not None:
        progress.noise_decided(training.noise, None)
    with thread_count(training.threads):
        model, _, history = learn(
            training, Y, epoch_reports(training.config, training.whitening, training.scaling, callback, progress)
        )
    del Y
    return TrainedModel(
        config=training.config,
        model=model,
        noise=training.noise,
        scaling=training.scaling,
        history=tuple(history),
        images=training.images,
        n_train=training.n_train,
    )
