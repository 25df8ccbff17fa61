"""A trained model: what denoising another image of the same kind needs besides that image, and its file.

A model learned from some images (`zeroshot.train`) denoises others (`zeroshot.denoise(image, model=...)`,
`zeroshot denoise --model-file`) by E-steps at fixed parameters Θ, optionally after a few fine-tuning epochs.
Θ is learned in the domain the training images were taken to: the noise model's transform (the generalized
Anscombe transform for Poisson noise, with its gain and read noise), the value scaling, and for correlated
noise the whitening of the patches. A new image is taken to the same domain by the same transforms, those of
the training images (never re-estimated from the new image), so that Θ fits it as it fitted them.

File: a NumPy .npz archive (no pickles; `zeroshot.runtime.archive`) with a JSON `meta` record (format and
format version, the zeroshot version, the configuration, the noise model, the value scaling, the training
history), the parameters (W, pi, sigma2 and for es3c mu, psi; Lambda, pi for pmm), the noise ACF and the
whitening's Cholesky factor where there are such, and `checksum`: SHA-256 of the canonical meta record and
every array. Refused with a ValueError naming the file: not a zeroshot model file, another file format
version, a zeroshot of another major.minor release, damaged (a checksum that does not match, a member that
does not fit).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from zeroshot.config import DenoiseConfig, EvoConfig, integer_at_least
from zeroshot.models.base import PatchModel
from zeroshot.models.family import FAMILIES, parameter_names
from zeroshot.noise.kinds import noise_from_stored, stored_array_names
from zeroshot.noise.model import NoiseModel
from zeroshot.noise.whitening import PatchWhitening
from zeroshot.pipeline.scaling import ImageScaling
from zeroshot.runtime.archive import (
    MetaTypes,
    check_meta_types,
    damaged,
    parse_meta,
    read_archive,
    write_archive,
)
from zeroshot.runtime.available_memory import memory_limit
from zeroshot.runtime.checkpoint import FORMAT as CHECKPOINT_FORMAT
from zeroshot.runtime.checkpoint import config_record
from zeroshot.runtime.memory_check import MaxMemory, check_max_memory
from zeroshot.variational.em import EpochLog
from zeroshot.version import package_version, release

FORMAT = "zeroshot-model"
FORMAT_VERSION = 1
NOUN = "model file"
# The DenoiseConfig fields a trained model fixes: asked for with another value next to a model, refused.
MODEL_FIELDS = ("model", "patch_size", "n_latents", "center_patches", "shared_pi", "noise", "context")
# Fields of learning from scratch: with a model, fine-tuning (finetune=K, --finetune K) takes their place.
LEARNING_FIELDS = ("epochs", "bsc_pretrain_epochs")
# The states per patch of fine-tuning epochs (--finetune) unless n_states is given: ES3C's fine-tuning from a few-shot
# model recovered as much of the gap to a model per image with 10 as with its 30, in about half the time
# (bench/RESULTS.md, "Few-shot fine-tuning", session 14).
FINETUNE_STATES = 10
# The arrays a model file holds besides its meta record, its model's parameters and its noise model's
# (`zeroshot.noise.kinds.stored_array_names`).
MEMBERS = frozenset({"checksum"})
# What a model file is not, by the format its meta record names.
OTHER_FORMATS = {CHECKPOINT_FORMAT: "it is a training checkpoint; `zeroshot train -o` writes model files"}

# 1 with the rounding of a mean or deviation of values in [-1, 1].
_UNIT = 1 + 1e-12
# An image whose own noise sigma or value scale differs from a trained model's by more than this factor (either
# way) is denoised with a warning: the model's parameters describe another noise level or contrast (reliability
# review R1: an image of the training images' kind ÷100 came out twice as far from the truth as denoised alone;
# a Poisson or correlated-noise model on white noise, worse than a white model).
FIT_FACTOR = 3.0


class ModelMismatchWarning(UserWarning):
    """An image denoised with a trained model is far from the model's training images in noise or value scale."""


@dataclass(frozen=True)
class ModelFit:
    """An image against a trained model, in the model's noise domain (after its noise transform: for Poisson
    noise the Anscombe-transformed domain, `transformed`) on the input's value scale: noise_sigma, the image's
    own noise estimate (white: from its finest detail; correlated: from its noise ACF; None when the image is too
    small), against model_sigma, the model's learned noise sigma; scale, the image's standard deviation, against
    model_scale, that of the model's (first) training image."""

    noise_sigma: float | None
    model_sigma: float
    scale: float
    model_scale: float
    transformed: bool = False

    def problem(self) -> str | None:
        """The mismatch in words, naming both figures of each that differs by more than FIT_FACTOR; None."""
        parts = []
        if self.noise_sigma is not None and not _within(self.noise_sigma, self.model_sigma):
            parts.append(f"its noise sigma {self.noise_sigma:.4g} against the model's {self.model_sigma:.4g}")
        if not _within(self.scale, self.model_scale):
            parts.append(
                f"its value scale (standard deviation) {self.scale:.4g} against the {self.model_scale:.4g} of the "
                "model's training images"
            )
        if not parts:
            return None
        domain = " (in the Anscombe-transformed domain)" if self.transformed else ""
        return (
            f"the image is far from the images the model was learned from: {' and '.join(parts)}{domain}, more "
            f"than a factor {FIT_FACTOR:g} apart; the model may denoise it badly: learn a model from images like "
            "it, or denoise it on its own (without the model)"
        )


def _within(value: float, reference: float) -> bool:
    """value and reference at most FIT_FACTOR apart (both 0 agree; 0 and not 0 do not)."""
    if value <= 0 or reference <= 0:
        return value == reference
    return 1 / FIT_FACTOR <= value / reference <= FIT_FACTOR


_META_TYPES: MetaTypes = {
    "zeroshot_version": ((str,), "a version"),
    "model": ((str,), "a model name"),
    "shared_pi": ((bool,), "true or false"),
    "config": ((dict,), "a configuration"),
    "noise": ((dict,), "a noise model"),
    "scaling": ((dict,), "a value scaling"),
    "history": ((list,), "a list of epochs"),
    "images": ((int,), "an integer"),
    "n_train": ((int,), "an integer"),
}


@dataclass(frozen=True, eq=False)
class TrainedModel:
    """config: the configuration it was learned with (patch size chosen); model: Θ; noise: the noise model of
    the training images (decided on the first one and fitted to its patches: for correlated noise with the
    whitening from its noise); scaling: their value scaling (the first one's); history: one EpochLog per training
    epoch; images: how many images (frames) it learned from; n_train: from how many patches; version: the zeroshot
    that learned it (default: this one); checksum: SHA-256 of all of it (as its file holds it)."""

    config: DenoiseConfig
    model: PatchModel
    noise: NoiseModel
    scaling: ImageScaling
    history: tuple[EpochLog, ...] = ()
    images: int = 1
    n_train: int = 0
    version: str = ""
    checksum: str = field(init=False)

    def __post_init__(self) -> None:
        if self.config.patch_size is None:
            raise ValueError("a trained model's configuration must name its patch size")
        if self.model.name != self.config.model:
            raise ValueError(f"a {self.model.name} model with a configuration of model {self.config.model}")
        if self.noise.correlated and self.noise.whitening is None:
            raise ValueError("a trained model of correlated noise needs the whitening of its patches")
        object.__setattr__(self, "history", tuple(self.history))
        if not self.version:
            object.__setattr__(self, "version", package_version())
        meta, arrays = self._contents()
        object.__setattr__(self, "checksum", _digest(meta, arrays))

    @property
    def patch_size(self) -> int:
        assert self.config.patch_size is not None  # checked on construction
        return self.config.patch_size

    @property
    def whitening(self) -> PatchWhitening | None:
        """The whitening of the patches (correlated noise), from the first training image's noise."""
        return self.noise.whitening

    @property
    def noise_sigma(self) -> float:
        """The learned noise level of one pixel on the training images' value scale."""
        return pixel_noise_sigma(self.model.sigma2, self.config, self.whitening, self.scaling)

    def describe(self) -> str:
        P, c = self.patch_size, self.config
        patches = f"{P}x{P} patches" if c.context == 1 else f"{P}x{P} patches of {c.context} slices (3-D context)"
        return (
            f"{c.model}, {patches}, {c.n_latents} {c.family.latent_noun}, noise {self.noise.kind}, learned from "
            f"{self.images} image(s) ({self.n_train} patches, {len(self.history)} epochs) by zeroshot {self.version}"
        )

    # ------------------------------------------------------------------------------ using it

    def fit_of(self, scaled: np.ndarray) -> ModelFit | None:
        """How an image compares with this model's training images (`ModelFit`); scaled: the image taken through
        the model's transforms (noise model, value scaling: `pipeline.run.prepare`). None for a model of counts
        (pmm), which have no such scale."""
        if self.config.family.counts:
            return None
        unit = self.scaling.scale
        try:
            own = self.noise.sigma_of(scaled)
        except ValueError:  # an image too small to estimate it
            own = None
        return ModelFit(
            noise_sigma=None if own is None else own * unit,
            model_sigma=self.noise_sigma,
            scale=float(np.std(scaled)) * unit,
            model_scale=unit,
            transformed=self.noise.transforms,
        )

    def config_for(self, options: Mapping[str, object], finetune: int = 0, source: str = "the model") -> DenoiseConfig:
        """The configuration of denoising an image with this model: the model's, with the options given (the
        inference settings: merge, chunk_patches, inference_epochs, seed, n_states, evo, max_train_patches),
        epochs = `finetune` (training epochs on the new image, from Θ, with FINETUNE_STATES states per patch unless
        n_states is given) and no BSC pre-training. An option that
        the model fixes (MODEL_FIELDS) given with another value, or a learning option (epochs), is refused
        with a ValueError naming `source`; given with the model's own value it is accepted."""
        finetune = integer_at_least("finetune", finetune, minimum=0)
        known = {f.name for f in fields(DenoiseConfig)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ValueError(f"unknown option(s) {', '.join(unknown)}; see zeroshot.DenoiseConfig for the fields")
        for name, value in options.items():
            if name in LEARNING_FIELDS:
                raise ValueError(
                    f"{name} = {value!r} with {source}: a trained model is not learned again; give finetune=K "
                    "(--finetune K) for K epochs on the new image starting from the model"
                )
            if name in MODEL_FIELDS and not self._fixes(name, value):
                mine = self.noise.kind if name == "noise" else getattr(self.config, name)
                raise ValueError(
                    f"{source} was learned with {name} = {mine!r}, but {name} = {value!r} was asked; a model "
                    f"fixes {', '.join(MODEL_FIELDS)}: leave them out, or learn another model"
                )
        kept = {name: value for name, value in options.items() if name not in MODEL_FIELDS}
        if finetune and "n_states" not in options:
            kept["n_states"] = min(FINETUNE_STATES, self.config.n_states)
        return replace(self.config, **kept, epochs=finetune, bsc_pretrain_epochs=0)  # type: ignore[arg-type]

    def _fixes(self, name: str, value: object) -> bool:
        """Whether `value` of the model-fixed field `name` agrees with the model."""
        if name == "noise":
            return isinstance(value, str) and self.noise.agrees_with(value)
        if name == "patch_size" and value is None:  # None: "choose it", and the model has chosen
            return True
        return bool(value == getattr(self.config, name))

    # ------------------------------------------------------------------------------ the file

    def save(self, path: str | os.PathLike[str]) -> None:
        """Writes the model file atomically (complete under its name, or on any error the old file left)."""
        meta, arrays = self._contents()
        write_archive(Path(path), meta, {**arrays, "checksum": np.array(self.checksum)})

    @classmethod
    def load(cls, path: str | os.PathLike[str], max_memory: MaxMemory = None) -> TrainedModel:
        """The model in the file at `path`, or a ValueError naming the file and why it cannot be used. Its
        arrays may take max_memory (bytes, or a size such as '8G'; default: the memory available)."""
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"no model file at {path}" + (" (it is a folder)" if path.is_dir() else ""))
        members = MEMBERS | stored_array_names() | parameter_names()
        text, arrays = read_archive(path, NOUN, members, memory_limit(check_max_memory(max_memory)))
        meta = parse_meta(path, NOUN, text, FORMAT, OTHER_FORMATS)
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"{path}: model file format version {meta.get('format_version')!r} (this zeroshot reads "
                f"{FORMAT_VERSION}); learn the model again with this zeroshot (zeroshot train)"
            )
        made_by, this = meta.get("zeroshot_version"), package_version()
        if not isinstance(made_by, str) or release(made_by) != release(this):
            raise ValueError(
                f"{path}: a model file of zeroshot {made_by}, but this is zeroshot {this}; model files are read "
                f"by the release that made them (major.minor {release(str(made_by))}); learn the model again "
                "with this zeroshot (zeroshot train)"
            )
        check_meta_types(path, NOUN, meta, _META_TYPES)
        stored = arrays.pop("checksum", None)
        if stored is None or stored.dtype.kind != "U" or stored.ndim != 0:
            raise damaged(path, NOUN, "no checksum")
        try:
            trained = cls._from_contents(path, meta, arrays)
        except (KeyError, TypeError, ValueError) as error:
            raise damaged(path, NOUN, str(error)) from None
        if trained.checksum != str(stored):
            raise damaged(path, NOUN, "its checksum does not match its contents: the file was changed or damaged")
        return trained

    def _contents(self) -> tuple[str, dict[str, np.ndarray]]:
        """(the canonical meta record as JSON text, the arrays) as the file holds them."""
        noise, noise_arrays = self.noise.stored()
        meta = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "zeroshot_version": self.version,
            "model": self.model.name,
            "shared_pi": bool(self.model.shared_pi),
            "config": config_record(self.config),
            "noise": noise,
            "scaling": asdict(self.scaling),
            "history": [asdict(log) for log in self.history],
            "images": self.images,
            "n_train": self.n_train,
        }
        arrays = {**self.model.arrays(), **noise_arrays}
        return json.dumps(meta, sort_keys=True, allow_nan=False), arrays

    @classmethod
    def _from_contents(cls, path: Path, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> TrainedModel:
        kind = meta["model"]
        if kind not in FAMILIES:
            raise ValueError(f"unknown model {kind!r}")
        family = FAMILIES[kind]
        record = dict(meta["config"])
        config = DenoiseConfig(**{**record, "evo": EvoConfig(**record["evo"])})
        if config.model != kind:
            raise ValueError(f"a {kind} model with a configuration of model {config.model}")
        problem = family.parameter_problem(arrays, config.n_latents, config.patch_size, config.context)
        if problem is not None or config.patch_size is None:
            raise ValueError(problem or "its configuration names no patch size")
        noise = noise_from_stored(meta["noise"], arrays)
        if noise.acf is not None and not np.all(np.isfinite(noise.acf.cov)):
            raise ValueError("the noise ACF holds NaN or Inf")
        D = config.context * config.patch_size**2
        if noise.whitening is not None and noise.whitening.L.shape != (D, D):
            raise ValueError(f"whitening_L has shape {noise.whitening.L.shape}, expected ({D},) * 2")
        return cls(
            config=config,
            model=family.from_arrays(arrays, meta["shared_pi"]),
            noise=noise,
            scaling=_scaling_from(meta["scaling"]),
            history=tuple(EpochLog(**log) for log in meta["history"]),
            images=meta["images"],
            n_train=meta["n_train"],
            version=meta["zeroshot_version"],
        )


def pixel_noise_sigma(
    sigma2: float, config: DenoiseConfig, whitening: PatchWhitening | None, scaling: ImageScaling
) -> float:
    """The learned noise level (of one pixel) on the input's scale. Centred patches keep D - 1 of the D noise
    dimensions: that shrinkage of the estimate is undone. With whitened patches σ² is in units of the noise
    covariance, whose pixel variance takes it back."""
    P = config.patch_size or 1
    D = config.context * P * P  # patches of `context` slices (3-D context): all their values are centred
    correction = D / (D - 1) if config.center_patches and D > 1 else 1.0
    unit = 1.0 if whitening is None else whitening.pixel_variance
    return float(np.sqrt(sigma2 * correction * unit) * scaling.scale)


def _scaling_from(record: dict[str, Any]) -> ImageScaling:
    """The value scaling of the record, as `ImageScaling.normalise` makes it: the values over their largest
    magnitude `peak` lie in [-1, 1], so their mean `offset_unit` too, and their deviation `scale_unit` in (0, 1]
    (within rounding)."""
    scaling = ImageScaling(**record)
    values = (scaling.peak, scaling.offset_unit, scaling.scale_unit)
    if not all(isinstance(v, float) and np.isfinite(v) for v in values) or scaling.peak <= 0:
        raise ValueError(f"the value scaling {record} is not finite with a positive peak")
    if abs(scaling.offset_unit) > _UNIT:
        raise ValueError(f"the value scaling's offset_unit {scaling.offset_unit!r} is outside [-1, 1]")
    if not 0 < scaling.scale_unit <= _UNIT:
        raise ValueError(f"the value scaling's scale_unit {scaling.scale_unit!r} is outside (0, 1]")
    return scaling


def _digest(meta: str, arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 of the meta record's text and of every array (name, dtype, shape and bytes, by name)."""
    digest = hashlib.sha256(meta.encode())
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"\n{name} {array.dtype.str} {array.shape}\n".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()
