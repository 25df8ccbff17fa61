"""The model families: all that the pipeline does differently for each model, in one table.

A family names its model's measured defaults, how training starts (from the data, or after another family's
pretraining), its states and E-step, the values it learns (the scaled image, or counts on their own scale), its
patch-size rule, its memory terms, and its parameters as the arrays of model files and checkpoints. `FAMILIES` is
the one list of the models: `DenoiseConfig.model` and the command line's --model take its names, and the pipeline
asks a run's family (`DenoiseConfig.family`) instead of comparing names. Adding a model: CONTRIBUTING.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from zeroshot.models.arrays import arrays_problem, dictionary_problem, rates_problem
from zeroshot.models.base import Model, PatchModel
from zeroshot.models.bsc import BSC
from zeroshot.models.pmm import PMM
from zeroshot.models.sssc import SSSC
from zeroshot.noise.native import NATIVE_NOISE_OPTIONS
from zeroshot.noise.patch_size import ES3C_P_RANGE, LARGE_PATCH, PatchRule, bsc_patch_size, es3c_patch_size
from zeroshot.runtime.comm import Comm
from zeroshot.variational.components import ComponentStates
from zeroshot.variational.evo import EStep, EvoEStep
from zeroshot.variational.states import StatesType, TruncatedStates
from zeroshot.variational.topk import BLOCK_ROWS, TopKEStep

if TYPE_CHECKING:  # the configuration imports this table
    from zeroshot.config import DenoiseConfig, EvoConfig

# A family's parameter arrays read from a file: what is wrong with them beyond a missing array or a dtype, for
# n_latents (H, or C components) and P x P patches (P None: any); None if nothing.
ParametersProblem = Callable[[Mapping[str, np.ndarray], int, "int | None", int], "str | None"]


@dataclass(frozen=True)
class MemoryTerms:
    """A family's arrays as `zeroshot.runtime.memory` bounds them, beyond the patches and the states.
    e_step_block_rows: the E-step's log-joints come a block of this many rows at a time, (rows, H) (None: the
    E-step's W^T Y holds every row, (rows, H + 1)); own_products: the statistics and the posterior moments make
    their own W^T Y; start_gathers_patches: the start from the data gathers every rank's patches on rank 0."""

    e_step_block_rows: int | None = None
    own_products: bool = False
    start_gathers_patches: bool = False


@dataclass(frozen=True, eq=False)
class Pretraining:
    """Training from the data starts with epochs(config) epochs of the `first` family's model (by this family's
    E-step, so both must share its states), then goes on with this family's model made from it (`convert`)."""

    first: ModelFamily
    epochs: Callable[[DenoiseConfig], int]
    convert: Callable[[Any], PatchModel]


@dataclass(frozen=True, eq=False)
class ModelFamily:
    """One model family.

    name: the model's name in configurations; description: a line for the command line's help; defaults: the
    DenoiseConfig fields where its measured defaults differ from the field defaults; parameter_arrays: the names of
    its parameter arrays; initial(Y, config, comm): the model training starts from, made from this rank's
    training patches Y (N, D) (with comm: from every rank's, the same on each); from_arrays(arrays, shared_pi): the
    model of stored arrays; parameters_problem: see ParametersProblem; states: its states class; e_step(evo, seed):
    its E-step; config_problem(config): what is wrong with a configuration of it, or None; patch_rule: its patch
    size from the relative noise, largest_patch the largest that rule picks for the memory bound; memory: its
    MemoryTerms; counts: it learns Poisson counts on their own scale (no noise transform, no value scaling, no
    negative values, no structure guard) instead of the scaled image; exact_e_step: one E-step from fresh states
    is exact for its truncation, so inference neither reuses the training states nor repeats it; latent_noun: what
    its n_latents count; pretraining: how training from the data starts, when not from this family's own model;
    fresh_inference_states: the states per patch of an inference from fresh states for inference_states "auto"
    (None: n_states).
    """

    name: str
    description: str
    defaults: Mapping[str, Any]
    parameter_arrays: tuple[str, ...]
    initial: Callable[[np.ndarray, DenoiseConfig, Comm], PatchModel]
    from_arrays: Callable[[Mapping[str, np.ndarray], bool], PatchModel]
    parameters_problem: ParametersProblem
    states: StatesType
    e_step: Callable[[EvoConfig, int], EStep]
    config_problem: Callable[[DenoiseConfig], str | None]
    patch_rule: PatchRule
    largest_patch: int
    memory: MemoryTerms
    counts: bool = False
    exact_e_step: bool = False
    latent_noun: str = "latents"
    pretraining: Pretraining | None = None
    fresh_inference_states: int | None = None

    def pretrain_epochs(self, config: DenoiseConfig) -> int:
        """The epochs of pretraining before this family's own (0 without pretraining)."""
        return 0 if self.pretraining is None else self.pretraining.epochs(config)

    def starting_family(self, config: DenoiseConfig) -> ModelFamily:
        """The family whose model training from the data starts with: the pretraining's when it has epochs."""
        if self.pretraining is not None and self.pretraining.epochs(config) > 0:
            return self.pretraining.first
        return self

    def adopt(self, model: PatchModel) -> PatchModel:
        """`model` as this family's: a model of the pretraining family converted, this family's own unchanged."""
        if self.pretraining is not None and model.name == self.pretraining.first.name:
            return self.pretraining.convert(model)
        return model

    def parameter_problem(
        self, arrays: Mapping[str, np.ndarray], n_latents: int, patch_size: int | None, context: int = 1
    ) -> str | None:
        """What is wrong with stored parameter arrays of this family: a missing one, a dtype that is no real
        number, a shape or value the model cannot have; None if nothing."""
        return arrays_problem(self.parameter_arrays, arrays) or self.parameters_problem(
            arrays, n_latents, patch_size, context
        )


class DictionaryClass(Protocol):
    """The class of a dictionary model (`zeroshot.models.dictionary.DictionaryModel` with a `from_data`)."""

    @property
    def name(self) -> str: ...

    def parameter_names(self) -> tuple[str, ...]: ...

    def from_data(self, Y: np.ndarray, H: int, seed: int, shared_pi: bool = False, comm: Comm | None = None) -> Model:
        """The model's start from the patches Y (N, D)."""
        ...

    def from_arrays(self, arrays: Mapping[str, np.ndarray], shared_pi: bool = False) -> Model: ...


def evo_e_step(evo: EvoConfig, seed: int) -> EStep:
    return EvoEStep(evo, seed=seed)


def top_s_e_step(evo: EvoConfig, seed: int) -> EStep:
    """The mixture's exact E-step: it has no settings and draws no random numbers."""
    return TopKEStep()


def binary_states_problem(config: DenoiseConfig) -> str | None:
    """More states per patch than the 2^H distinct binary states of H latents."""
    H, S = config.n_latents, config.n_states
    if H < 62 and S > 2**H:
        return f"n_states S = {S} exceeds the 2^H = {2**H} distinct states of n_latents H = {H}"
    return None


def dictionary_family(
    model: DictionaryClass,
    description: str,
    *,
    defaults: Mapping[str, Any] | None = None,
    patch_rule: PatchRule = bsc_patch_size,
    largest_patch: int = LARGE_PATCH,
    memory: MemoryTerms | None = None,
    pretraining: Pretraining | None = None,
    fresh_inference_states: int | None = None,
) -> ModelFamily:
    """The family of a dictionary model (y = W x + eps): EVO on truncated binary states, learned from the patches
    of the scaled image, started from the data by the class's `from_data`. By default with BSC's patch rule."""

    def initial(Y: np.ndarray, config: DenoiseConfig, comm: Comm) -> PatchModel:
        return model.from_data(Y, config.n_latents, config.seed, shared_pi=config.shared_pi, comm=comm)

    return ModelFamily(
        name=model.name,
        description=description,
        defaults=MappingProxyType(dict(defaults or {})),
        parameter_arrays=model.parameter_names(),
        initial=initial,
        from_arrays=model.from_arrays,
        parameters_problem=dictionary_problem,
        states=TruncatedStates,
        e_step=evo_e_step,
        config_problem=binary_states_problem,
        patch_rule=patch_rule,
        largest_patch=largest_patch,
        memory=memory if memory is not None else MemoryTerms(),
        pretraining=pretraining,
        fresh_inference_states=fresh_inference_states,
    )


def _pmm_start(Y: np.ndarray, config: DenoiseConfig, comm: Comm) -> PatchModel:
    return PMM.from_data(Y, config.n_latents, config.seed, comm=comm)


def _pmm_config_problem(config: DenoiseConfig) -> str | None:
    if config.n_states > config.n_latents:
        return (
            f"model pmm keeps n_states S = {config.n_states} of its n_latents C = {config.n_latents} components "
            "per patch: S must be at most C"
        )
    if config.center_patches:
        return (
            "model pmm learns counts on their own scale: center_patches must be False "
            "(DenoiseConfig.for_model('pmm') sets it)"
        )
    if config.noise not in NATIVE_NOISE_OPTIONS:
        return f"model pmm is the Poisson noise model itself: noise must be 'auto' or 'poisson', got {config.noise!r}"
    return None


def _bsc_pretrain_epochs(config: DenoiseConfig) -> int:
    return config.bsc_pretrain_epochs


# From fresh states (a model learned on a subset, or applied from a file) 10 states per patch give BSC's inference the
# figures of 30 on the demo crop (bench/real_em.py, bench/RESULTS.md "Inference stride"); ES3C's unmeasured.
_BSC = dictionary_family(BSC, "binary sparse coding (faster)", fresh_inference_states=10)
_ES3C = dictionary_family(
    SSSC,
    "spike-and-slab (better)",
    # ES3C's continuous amplitudes keep learning longer: at 10 epochs Cameraman σ 15 / 25 lost 0.25 / 0.12 dB
    # against 60 epochs, at 20 epochs 0.10 / 0.05 (bench/RESULTS.md).
    defaults={"epochs": 20},
    patch_rule=es3c_patch_size,
    largest_patch=ES3C_P_RANGE[1],
    memory=MemoryTerms(own_products=True),  # its statistics and slab posteriors make their own W^T Y
    # BSC first (binary amplitudes are quicker to settle), then SSSC from it on the same states.
    pretraining=Pretraining(_BSC, _bsc_pretrain_epochs, SSSC.from_bsc),
)
_PMM = ModelFamily(
    name=PMM.name,
    description="Poisson mixture model (non-negative counts on their own scale; --latents is its number of "
    "components, --states the components kept per patch)",
    # The published SARS-CoV-2 runs (salwig/pmm): 6 x 6 patches, C = 1000... see bench/RESULTS.md; one E-step
    # of the PMM is exact for its truncation, so inference needs one.
    defaults=MappingProxyType(
        {
            "patch_size": 6,
            "n_latents": 1000,
            "n_states": 10,
            "epochs": 50,
            "inference_epochs": 1,
            "center_patches": False,
            "merge": "median",
        }
    ),
    parameter_arrays=PMM.parameter_names(),
    initial=_pmm_start,  # k-means++; the first E-step fills the states
    from_arrays=PMM.from_arrays,
    parameters_problem=rates_problem,
    states=ComponentStates,
    e_step=top_s_e_step,
    config_problem=_pmm_config_problem,
    patch_rule=bsc_patch_size,
    largest_patch=LARGE_PATCH,
    memory=MemoryTerms(e_step_block_rows=BLOCK_ROWS, start_gathers_patches=True),
    counts=True,
    exact_e_step=True,
    latent_noun="components",
)

# The model families by name: the one list of the models (a new dictionary model: one dictionary_family line).
FAMILIES: dict[str, ModelFamily] = {
    family.name: family
    for family in (
        _BSC,
        _ES3C,
        _PMM,
    )
}


def family_named(name: object) -> ModelFamily:
    """The family of the model `name`, or a ValueError naming the models there are."""
    family = FAMILIES.get(name) if isinstance(name, str) else None
    if family is None:
        raise ValueError(f"model must be one of {tuple(FAMILIES)}, got {name!r}")
    return family


def parameter_names() -> frozenset[str]:
    """The names of the parameter arrays of every family (the members a model file or checkpoint may hold)."""
    return frozenset(name for family in FAMILIES.values() for name in family.parameter_arrays)
