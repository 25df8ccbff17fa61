"""Frozen, validated configurations."""

from __future__ import annotations

import functools
import numbers
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np

from zeroshot._core import MAX_EVO_CHILDREN
from zeroshot._core import EvoConfig as CoreEvoConfig
from zeroshot.models.family import FAMILIES, ModelFamily, family_named
from zeroshot.noise.kinds import NOISE_MODELS as NOISE_MODELS  # the noise option's values: the noise models' table
from zeroshot.noise.model import NoiseModel
from zeroshot.variational.evo import MAX_SEED as MAX_SEED  # seeds key the E-step's counter streams

_SELECTIONS = ("uniform", "fitness")
_MUTATIONS = ("none", "randflip", "sparseflip")
MERGE_METHODS = ("mean", "median", "gaussian")
# The model names: a view of zeroshot.models.family.FAMILIES, the one list of the models.
MODELS = FAMILIES.keys()
# After the model's posterior mean, for correlated noise: "wiener" (zeroshot.patches.wiener) or "none".
SECOND_PASSES = ("wiener", "none")
# max_train_patches "auto": this many training patches, and fewer where the Wiener pass follows the model
# (correlated noise): there the pass sharpens the posterior mean, and a model of 32768 patches does as well as
# one of all 257049 on the SARS-CoV-2 demo crop (region SNR 14.24 against 14.32 dB, bilayer dip 0.41 against
# 0.42) in a third of the time; on white noise it would cost 0.1-0.16 dB (σ 25, bench/RESULTS.md).
AUTO_TRAIN_PATCHES = 262144
WIENER_TRAIN_PATCHES = 32768
# DenoiseConfig fields that change only inference at fixed parameters (and no result at all for
# chunk_patches): a training checkpoint does not depend on them, so resuming may change them.
# structure_guard decides before training whether to train at all; the training itself does not depend on it.
# second_pass follows inference.
INFERENCE_ONLY_FIELDS = (
    "chunk_patches",
    "inference_epochs",
    "inference_stride",
    "inference_states",
    "merge",
    "structure_guard",
    "second_pass",
)
# inference_stride "auto": patches this many pixels apart where the Wiener pass follows the model (correlated
# noise) and no moment maps are asked for, else every patch. The pass takes its pilot's low frequencies, which a
# coarser grid keeps: on the SARS-CoV-2 demo crop, with BSC's 10 fresh states, region SNR 13.41 -> 13.42 dB and the
# bilayer's dip 0.45 -> 0.46 at 0.61 of BM3D-PSD's time instead of 0.89 (bench/real_em.py, bench/RESULTS.md).
# Without the pass the posterior mean is the result, and fewer patches averaged show in it and in the moment maps.
WIENER_INFERENCE_STRIDE = 3

# context: the slices a patch spans (P x P x d, d odd); at most this many (a patch of 15 slices of 8 x 8 already
# holds 960 values, and a volume's slices beyond a few voxels apart share little).
MAX_CONTEXT = 15


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


# E-steps of inference: 1 and 10 give the same result (bench/RESULTS.md); far more is a mistake (a model file's
# 10^7 would run for days without a word).
MAX_INFERENCE_EPOCHS = 100


def _positive_int(name: str, value: Any, minimum: int = 1) -> None:
    _require(
        isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)) and int(value) >= minimum,
        f"{name} must be an integer >= {minimum}, got {value!r}",
    )


def integer_at_least(name: str, value: Any, minimum: int) -> int:
    """`value` as a Python int when it is an integer (NumPy integers too, no bool) >= minimum, else a ValueError
    naming `name`."""
    _positive_int(name, value, minimum)
    return int(value)


def _as_python_ints(config: Any, *names: str) -> None:
    """Integer fields given as NumPy integers become Python ints (the core and JSON records want those)."""
    for name in names:
        value = getattr(config, name)
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            object.__setattr__(config, name, int(value))


@dataclass(frozen=True)
class EvoConfig:
    """The evolutionary E-step (Guiraud, Drefs & Lücke, GECCO 2018; Drefs et al., JMLR 2022).

    Per generation, ``n_parents`` parents are selected from K_n (first generation) or from the previous
    generation's children; each makes ``n_children`` mutants (or, with ``crossover``, one child per ordered
    parent pair, then mutated). ``bitflip_prob`` (sparseflip) is the per-bit flip rate; None means 1/H.
    From epoch ``single_latents_from`` on (None: never), each E-step also offers every patch the H
    single-latent states (those among the best S of K_n and all H of them join the first generation's
    candidates, and the best S of all stay): the pattern that fits a patch best, which random flips find
    among H only by chance, is then always among its states. Not from the first epoch: while the dictionary
    is still the data's mean patch plus noise, states fixed on single atoms learn a worse one (House σ 25
    31.39 against 31.60 dB from epoch 0, bench/RESULTS.md). Inference offers them from its first E-step.
    The children of one patch in one E-step (children per generation x ``n_generations``) may number at
    most ``MAX_EVO_CHILDREN`` (2**20): the E-step keeps them all in memory per thread.
    """

    n_parents: int = 5
    n_children: int = 4
    n_generations: int = 3
    selection: str = "fitness"
    mutation: str = "sparseflip"
    crossover: bool = False
    bitflip_prob: float | None = None
    single_latents_from: int | None = 3

    def __post_init__(self) -> None:
        _positive_int("n_parents", self.n_parents)
        _positive_int("n_children", self.n_children)
        _positive_int("n_generations", self.n_generations, minimum=0)
        _require(self.selection in _SELECTIONS, f"selection must be one of {_SELECTIONS}, got {self.selection!r}")
        _require(self.mutation in _MUTATIONS, f"mutation must be one of {_MUTATIONS}, got {self.mutation!r}")
        _require(isinstance(self.crossover, bool), f"crossover must be True or False, got {self.crossover!r}")
        _require(self.crossover or self.mutation != "none", "without crossover a mutation is needed")
        _require(not self.crossover or self.n_parents >= 2, "crossover needs n_parents >= 2")
        if self.bitflip_prob is not None:
            _require(
                isinstance(self.bitflip_prob, (int, float)) and 0.0 < self.bitflip_prob <= 1.0,
                f"bitflip_prob must lie in (0, 1], got {self.bitflip_prob!r}",
            )
        if self.single_latents_from is not None:
            _positive_int("single_latents_from", self.single_latents_from, minimum=0)
        kind = "n_parents * (n_parents - 1)" if self.crossover else "n_parents * n_children"
        _require(
            self.children_per_generation <= MAX_EVO_CHILDREN,
            f"children per generation ({kind} = {self.children_per_generation}) must be <= {MAX_EVO_CHILDREN}",
        )
        _require(
            self.children_per_epoch <= MAX_EVO_CHILDREN,
            f"children per E-step (children per generation * n_generations = {self.children_per_generation} * "
            f"{self.n_generations}) must be <= {MAX_EVO_CHILDREN}",
        )
        _core_evo_config(self)  # the compiled core's EvoConfig::validate checks once more; the result is cached

    @property
    def core(self) -> CoreEvoConfig:
        """The same settings as the compiled core's EvoConfig (made once per distinct configuration)."""
        return _core_evo_config(self)

    @property
    def children_per_generation(self) -> int:
        return self.n_parents * (self.n_parents - 1) if self.crossover else self.n_parents * self.n_children

    @property
    def children_per_epoch(self) -> int:
        return self.children_per_generation * self.n_generations


@functools.lru_cache(maxsize=64)
def _core_evo_config(config: EvoConfig) -> CoreEvoConfig:
    return CoreEvoConfig(
        n_parents=config.n_parents,
        n_children=config.n_children,
        n_generations=config.n_generations,
        selection=config.selection,
        mutation=config.mutation,
        crossover=config.crossover,
        bitflip_prob=None if config.bitflip_prob is None else float(config.bitflip_prob),
        single_latents_from=config.single_latents_from,
    )


@dataclass(frozen=True)
class DenoiseConfig:
    """Everything `zeroshot.denoise` needs besides the image.

    patch_size P (patches are P x P, D = P^2; None: from the noise level per model, see
    `zeroshot.noise.choose_patch_size`), n_latents H, n_states S, epochs of EM on the training
    patches, max_train_patches (a random subset for learning; None = all; "auto": see `training_patch_limit`),
    inference_epochs of E-steps
    at fixed parameters over all patches when learning used a subset, inference_stride (the pixels between the
    patches inference takes along rows and columns; "auto": `inference_stride`), inference_states (states per patch
    when inference starts every patch anew; "auto": `inference_states`), chunk_patches (memory bound of the
    inference), merge method of overlapping estimates, center_patches (model patches without their mean),
    bsc_pretrain_epochs (es3c only: that many BSC epochs first, then `epochs` of SSSC started from the BSC),
    noise: the noise model ("auto" decides from the image; "white", "poisson" or "correlated"; see
    `zeroshot.noise.decide`), structure_guard (off by default: it misjudges correlated noise, see
    `zeroshot.pipeline.structure_guard`): before training, check that the image holds structure a model learns
    beyond its noise, and return the smooth estimate when it clearly does not (the dictionary models only);
    second_pass: for correlated noise, "wiener" sharpens the posterior mean by a Wiener pass of 16 x 16 patches
    given the noise spectrum (`zeroshot.pipeline.second_pass`), "none" keeps the posterior mean.

    Model "pmm" (the Poisson mixture model) reads n_latents as its number of components C and n_states as
    the components S kept per patch (S <= C); it learns the counts on their own scale, so center_patches must
    be False, and it is the Poisson noise model itself, so noise must be "auto" or "poisson" (both mean: no
    transform); `DenoiseConfig.for_model("pmm")` sets its defaults.

    context d (odd, default 1): the slices of a volume a patch spans, for `zeroshot.denoise_volume` (3-D context,
    `zeroshot.pipeline.slab`): each patch is the P x P patches of slices z - d//2 .. z + d//2 at one position,
    D = d P^2, and the posterior moments of its centre slice are merged into slice z. 1: P x P patches of one
    image (bitwise the 2-D pipeline). A 2-D image cannot be denoised with d > 1; nor can the structure guard run.
    """

    model: str = "bsc"
    patch_size: int | None = None
    n_latents: int = 512
    n_states: int = 30
    epochs: int = 10
    evo: EvoConfig = field(default_factory=EvoConfig)
    max_train_patches: int | str | None = "auto"
    inference_epochs: int = 1
    inference_stride: int | str = "auto"
    inference_states: int | str = "auto"
    bsc_pretrain_epochs: int = 0
    chunk_patches: int = 65536
    merge: str = "mean"
    center_patches: bool = True
    shared_pi: bool = False
    seed: int = 0
    noise: str = "auto"
    structure_guard: bool = False
    second_pass: str = "wiener"
    context: int = 1

    def __post_init__(self) -> None:
        family = family_named(self.model)  # an unknown model is an error, never another model
        if self.patch_size is not None:
            _positive_int("patch_size", self.patch_size)
        _positive_int("n_latents", self.n_latents)
        _positive_int("n_states", self.n_states)
        _positive_int("epochs", self.epochs, minimum=0)
        _positive_int("inference_epochs", self.inference_epochs, minimum=0)
        _require(
            self.inference_epochs <= MAX_INFERENCE_EPOCHS,
            f"inference_epochs must be at most {MAX_INFERENCE_EPOCHS} (E-steps at fixed parameters; one is "
            f"usually enough), got {self.inference_epochs!r}",
        )
        if self.inference_stride != "auto":
            _positive_int("inference_stride", self.inference_stride)
        if self.inference_states != "auto":
            _positive_int("inference_states", self.inference_states)
        _positive_int("bsc_pretrain_epochs", self.bsc_pretrain_epochs, minimum=0)
        _positive_int("chunk_patches", self.chunk_patches)
        if self.max_train_patches not in (None, "auto"):
            _positive_int("max_train_patches", self.max_train_patches)
        _require(self.merge in MERGE_METHODS, f"merge must be one of {MERGE_METHODS}, got {self.merge!r}")
        _require(isinstance(self.evo, EvoConfig), "evo must be an EvoConfig")
        _require(
            isinstance(self.structure_guard, (bool, np.bool_)),
            f"structure_guard must be True or False, got {self.structure_guard!r}",
        )
        object.__setattr__(self, "structure_guard", bool(self.structure_guard))
        _require(
            self.second_pass in SECOND_PASSES,
            f"second_pass must be one of {SECOND_PASSES}, got {self.second_pass!r}",
        )
        _require(self.noise in NOISE_MODELS, f"noise must be one of {NOISE_MODELS}, got {self.noise!r}")
        _positive_int("seed", self.seed, minimum=0)
        _positive_int("context", self.context)
        _require(
            self.context % 2 == 1 and self.context <= MAX_CONTEXT,
            f"context (the slices a patch spans) must be odd, 1 to {MAX_CONTEXT} (1, 3, 5, ...: the slice itself "
            f"and as many on either side), got {self.context!r}",
        )
        _require(
            not (self.structure_guard and self.context > 1),
            "structure_guard judges one 2-D image: it cannot run with context > 1 (patches of several slices)",
        )
        _require(self.seed <= MAX_SEED, f"seed must be at most 2**63 - 1 = {MAX_SEED}, got {self.seed!r}")
        _as_python_ints(
            self,
            "patch_size",
            "n_latents",
            "n_states",
            "epochs",
            "inference_epochs",
            "inference_stride",
            "inference_states",
            "bsc_pretrain_epochs",
            "chunk_patches",
            "max_train_patches",
            "seed",
            "context",
        )
        problem = family.config_problem(self)
        _require(problem is None, str(problem))

    @property
    def family(self) -> ModelFamily:
        """The family of `model` (`zeroshot.models.family`): what the pipeline does for this model."""
        return family_named(self.model)

    @classmethod
    def for_model(cls, model: str = "bsc", **overrides: Any) -> DenoiseConfig:
        """The measured default configuration of `model` (its family's defaults, chosen by
        bench/denoise_quality.py and recorded in bench/RESULTS.md), with overrides."""
        return cls(model=model, **{**family_named(model).defaults, **overrides})


def resolve_config(config: DenoiseConfig | None, options: dict[str, Any]) -> DenoiseConfig:
    """`config` (default: the measured defaults of the model named in `options`, else bsc) with the `options`
    (DenoiseConfig fields) set; ValueError names unknown options."""
    unknown = sorted(set(options) - {f.name for f in fields(DenoiseConfig)})
    if unknown:
        raise ValueError(f"unknown option(s) {', '.join(unknown)}; see zeroshot.DenoiseConfig for the fields")
    if config is None:  # a model named in the options brings its own measured defaults
        config = DenoiseConfig.for_model(str(options.get("model", "bsc")))
    return replace(config, **options)


def training_patch_limit(config: DenoiseConfig, noise: NoiseModel | None) -> int | None:
    """The run's max_train_patches (None: all): as configured, or for "auto" AUTO_TRAIN_PATCHES, and
    WIENER_TRAIN_PATCHES when the Wiener pass follows the model (correlated noise). noise None (not decided yet,
    as for a memory bound made before the run) gives the larger."""
    limit = config.max_train_patches
    if limit != "auto":
        return None if limit is None else int(limit)
    if noise is not None and noise.wiener_pass and config.second_pass == "wiener":
        return WIENER_TRAIN_PATCHES
    return AUTO_TRAIN_PATCHES


def inference_stride(config: DenoiseConfig, wiener_follows: bool, moments: int) -> int:
    """The run's inference_stride for its patch size (set): as configured, or for "auto" WIENER_INFERENCE_STRIDE
    (at most P) where the Wiener pass follows the model and no moment maps are asked for (moments 1), else 1. A
    stride asked for beyond P is a ValueError: the pixels between the patches would get no estimate."""
    P = config.patch_size
    assert P is not None
    if config.inference_stride == "auto":
        return min(WIENER_INFERENCE_STRIDE, P) if wiener_follows and moments == 1 else 1
    stride = int(config.inference_stride)
    _require(
        stride <= P,
        f"inference_stride {stride} is larger than the patch size P = {P}: the pixels between the patches would "
        "get no estimate; take a stride of at most P",
    )
    return stride


def inference_states(config: DenoiseConfig, fresh: bool) -> int:
    """The states per patch of inference: as configured, or for "auto" the family's `fresh_inference_states` (at
    most n_states) when inference starts every patch from fresh states, else n_states."""
    if config.inference_states != "auto":
        return int(config.inference_states)
    fewer = config.family.fresh_inference_states
    return min(fewer, config.n_states) if fresh and fewer is not None else config.n_states


def total_epochs(config: DenoiseConfig) -> int:
    """Training epochs of a run, BSC pre-training included (for progress displays)."""
    return config.epochs + config.family.pretrain_epochs(config)
