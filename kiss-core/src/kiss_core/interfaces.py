"""The component interfaces every plugin implements: Dataset, Generator, Sampler, Metric, Geometry.

Samples travel between components as :class:`xarray.Dataset` objects with named dimensions
(``event``, ``particle``, ``feature``, ...), conditions as data variables and provenance as a
JSON string in ``attrs["provenance"]``. Torch tensors exist only inside generators and samplers.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import torch
    import xarray as xr

__all__ = [
    "Dataset",
    "Generator",
    "Geometry",
    "Metric",
    "MetricResult",
    "Sampler",
    "SamplingResult",
]


@dataclass(frozen=True)
class _NoOptions:
    """Config of a component that takes no options."""


class Dataset(ABC):
    """A named source of reference samples: a file reader or a classical simulator.

    Arguments:
        config: An instance of the class attribute ``Config`` (a frozen dataclass whose
            defaults are the documented defaults); ``None`` uses the defaults.
    """

    Config: ClassVar[type] = _NoOptions
    #: Registered metric names that ``kiss evaluate`` uses when none are given.
    default_metrics: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: Any = None) -> None:
        self.config = self.Config() if config is None else config

    def histograms(self, reference: xr.Dataset, candidate: xr.Dataset) -> list[Any]:
        """Return the :class:`kiss_core.report.Histogram` records a report of this data shows."""
        return []

    @abstractmethod
    def load(self, n_events: int, *, seed: int, progress: bool = False) -> xr.Dataset:
        """Produce ``n_events`` reference events (simulate them, or read them from the configured file)."""

    @abstractmethod
    def read(self, path: Path) -> xr.Dataset:
        """Read samples from a file in this dataset's on-disk layout, validating it fully."""

    @abstractmethod
    def write(self, samples: xr.Dataset, path: Path) -> None:
        """Write samples to ``path`` in this dataset's on-disk layout, atomically."""


class Generator(ABC):
    """A trainable surrogate.

    The core trainer (:mod:`kiss_core.training`) owns the optimiser, EMA weights, checkpoints
    and resuming; a generator supplies the network, the data preparation and the loss.

    Life cycle: for training, :meth:`prepare` is called first (it may build the network,
    whose shape can depend on the data), then :attr:`network` and :meth:`loss`. For loading a
    trained model, :meth:`load_extra_state` is called first (it must rebuild the network from
    the stored state), then the weights are loaded into :attr:`network`.

    Arguments:
        config: An instance of the class attribute ``Config``; ``None`` uses the defaults.
    """

    Config: ClassVar[type] = _NoOptions

    def __init__(self, config: Any = None) -> None:
        self.config = self.Config() if config is None else config

    @property
    @abstractmethod
    def network(self) -> torch.nn.Module:
        """Module whose parameters are trained and averaged (EMA)."""

    @abstractmethod
    def prepare(self, data: xr.Dataset) -> dict[str, torch.Tensor]:
        """Fit the preprocessing on training data and return training tensors.

        Every tensor has the event as its first axis; the trainer batches along it.
        """

    @abstractmethod
    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Return the scalar training loss of one batch (already on the network's device)."""

    @abstractmethod
    def conditions(self, data: xr.Dataset) -> xr.Dataset:
        """Return the conditioning variables of ``data`` (one entry per event) to sample with."""

    @abstractmethod
    def sample(
        self,
        conditions: xr.Dataset,
        *,
        sampler: Sampler | None = None,
        batch_size: int = 1000,
        generator: torch.Generator | None = None,
        progress: bool = False,
    ) -> xr.Dataset:
        """Draw one event per entry of ``conditions`` and return them in the dataset's layout."""

    # A generator may also define ``calibrate(tensors)``. The trainer then calls it once after
    # the last epoch, with the held-out validation tensors and the weights that are saved, and
    # stores what it changes through :meth:`extra_state`. The matrix-element surrogate rescales
    # its predicted uncertainty this way.

    def extra_state(self) -> dict[str, Any]:
        """Return preprocessing state to checkpoint beside the weights (tensors, numbers, lists)."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`extra_state` returned."""

    def config_dict(self) -> dict[str, Any]:
        """Return the config as JSON-serialisable data."""
        return dataclasses.asdict(self.config)


@dataclass(frozen=True)
class SamplingResult:
    """Samples and the cost of producing them.

    Arguments:
        samples: The final state, shaped like the initial state.
        nfe: Number of function evaluations of the model per sample batch.
    """

    samples: torch.Tensor
    nfe: int


class Sampler(ABC):
    """An algorithm that transports noise to samples through a learned field.

    ``field(t, x)`` returns the velocity (ODE samplers) or the denoised estimate (EDM-style
    samplers) for the current state ``x`` at time or noise level ``t``.
    """

    #: Quantity that ``field`` returns: "velocity" (dx/dt, noise at t = 0, data at t = 1) or
    #: "denoiser" (the clean-data estimate D(x; sigma)).
    parametrisation: ClassVar[str]

    @abstractmethod
    def sample(
        self,
        field: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        x: torch.Tensor,
        *,
        generator: torch.Generator | None = None,
    ) -> SamplingResult:
        """Integrate from the initial state ``x`` and return the final state with its NFE.

        ``generator`` seeds the noise of stochastic samplers; deterministic ones ignore it.
        """


@dataclass(frozen=True)
class MetricResult:
    """One metric value with its uncertainty.

    Arguments:
        value: The central value (mean or median over batches, or the point estimate).
        uncertainty: Its statistical uncertainty (standard deviation over batches, or the
            16-84 % half-width where the metric defines it so).
        details: Anything else worth reporting (per-batch values, sample sizes).
    """

    value: float
    uncertainty: float
    details: dict[str, Any] = field(default_factory=dict)


class Metric(ABC):
    """A comparison of candidate samples with reference samples.

    Arguments:
        config: An instance of the class attribute ``Config``; ``None`` uses the defaults.
    """

    Config: ClassVar[type] = _NoOptions
    #: Whether smaller values mean a closer match.
    lower_is_better: ClassVar[bool] = True

    def __init__(self, config: Any = None) -> None:
        self.config = self.Config() if config is None else config

    @abstractmethod
    def compute(self, reference: xr.Dataset, candidate: xr.Dataset, *, seed: int = 0) -> dict[str, MetricResult]:
        """Compare the samples and return results keyed by label ("W1M", "W1P.ptrel")."""


class Geometry(ABC):
    """Segmentation of a detector into cells, with the position of each cell."""

    @property
    @abstractmethod
    def n_cells(self) -> int:
        """Number of cells (voxels)."""

    @abstractmethod
    def cell_coordinates(self) -> xr.Dataset:
        """Return per-cell coordinates as data variables along a ``cell`` dimension."""


