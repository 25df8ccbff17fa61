"""The evolutionary E-step (EVO) as a strategy of its own: it updates the truncated states of any model
whose compiled parameters `model.core` the core's `evo_step` takes, and owns the workspace of dense
products that the model's statistics and posterior moments then reuse."""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from zeroshot._core import DenseProducts, evo_step
from zeroshot._core import EvoConfig as CoreEvoConfig
from zeroshot.models.base import Model
from zeroshot.models.products import rows_times
from zeroshot.variational.states import TruncatedStates

if TYPE_CHECKING:  # the configuration imports the model families, and they this E-step
    from zeroshot.config import EvoConfig

# Seeds key 64-bit counter streams, and inference draws its states from seed + 1.
MAX_SEED = 2**63 - 1


class Workspace:
    """The dense products of one patch set Y (N, D) with a model's W, made once per (model, Y): the E-step
    makes them, and the statistics and posterior moments of the same model and Y reuse them.

    ||y_n||^2 depends only on Y and is made once per Y (held through a weak reference, so a workspace never
    keeps patches alive); the (N, H) buffer of Y W is kept between models (allocating it anew costs as
    much as the product: page faults). `clear()` frees everything.
    """

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self._Y: weakref.ref[np.ndarray] | None = None
        self._y2: np.ndarray | None = None
        self._WtY: np.ndarray | None = None
        self._W: np.ndarray | None = None
        self._products: DenseProducts | None = None

    def products(self, model: Model, Y: np.ndarray) -> DenseProducts:
        if self._y2 is None or self._Y is None or self._Y() is not Y:
            self._Y = weakref.ref(Y)
            self._y2 = np.einsum("nd,nd->n", Y, Y)
            self._products = None
        if self._products is None or self._W is not model.W:
            shape = (Y.shape[0], model.H)
            if self._WtY is None or self._WtY.shape != shape:
                self._WtY = np.empty(shape)
            rows_times(Y, model.W, out=self._WtY)
            self._products = DenseProducts(self._WtY, self._y2, model.W.T @ model.W)
            self._W = model.W
        return self._products


class ProductsCache(Protocol):
    """What the EM trainer asks of an E-step's workspace: the products the model's statistics reuse."""

    def products(self, model: Any, Y: np.ndarray) -> Any: ...

    def clear(self) -> None: ...


class EStep(Protocol):
    """Updates the states of the patches Y in place (the model's own states type: `TruncatedStates` for the
    dictionary models, `ComponentStates` for the PMM); returns the number of replaced states."""

    @property
    def workspace(self) -> ProductsCache: ...

    def update(self, model: Any, Y: np.ndarray, states: Any, epoch: int) -> int: ...


class EvoEStep:
    """EVO (Guiraud, Drefs & Lücke, GECCO 2018; Drefs et al., JMLR 2022): per patch, generations of children of
    parents selected from K_n, keeping the best S states. Random streams are keyed by (seed, epoch, global patch
    index), so results depend neither on the thread count nor on how patches are split over ranks or chunks."""

    def __init__(self, config: EvoConfig, seed: int = 0) -> None:
        if not isinstance(getattr(config, "core", None), CoreEvoConfig):
            raise ValueError(f"config must be an EvoConfig, got {config!r}")
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or not 0 <= seed <= MAX_SEED:
            raise ValueError(f"seed must be an integer in [0, 2**63 - 1], got {seed!r}")
        self.config = config
        self.seed = int(seed)
        self.workspace = Workspace()

    def update(self, model: Model, Y: np.ndarray, states: TruncatedStates, epoch: int) -> int:
        products = self.workspace.products(model, Y)
        return evo_step(
            model.core, products, states.K, states.lpj, self.config.core, self.seed, epoch, states.first_index
        )
