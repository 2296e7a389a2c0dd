"""EPiC flow matching: a permutation-equivariant continuous normalising flow for jet constituents.

The generator learns a velocity field ``v(x_t, t | c)`` that carries Gaussian noise ``x_0`` at
``t = 0`` to preprocessed jet constituents ``x_1`` at ``t = 1``. It is trained with conditional
flow matching on the linear interpolant

    x_t = (1 - t) x_0 + t x_1,    target velocity  u_t = x_1 - x_0,

and sampled by integrating ``dx/dt = v(x, t | c)`` from noise with an ODE solver of
:mod:`kiss_core.sampling`. The network is a stack of EPiC layers, so permuting the input
particles permutes the output velocities in the same way.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import xarray as xr
from torch import nn

from kiss_core.errors import KissError, UnknownNameError
from kiss_core.interfaces import Generator, Sampler
from kiss_core.sampling import make_sampler, require_parametrisation, sample_in_batches

__all__ = [
    "CONDITION_NAMES",
    "FEATURE_NAMES",
    "EPiCFlowMatching",
    "EPiCFlowMatchingConfig",
    "EPiCLayer",
    "EPiCNetwork",
]

logger = logging.getLogger(__name__)

#: Constituent features in the order of the network inputs: pseudorapidity and azimuth
#: relative to the jet axis, and transverse momentum as a fraction of the jet pt.
FEATURE_NAMES = ("etarel", "phirel", "ptrel")
#: Jet-level variables the network may be conditioned on.
CONDITION_NAMES = ("jet_class", "jet_pt", "jet_mass", "num_particles")
#: Jet-level variables that :meth:`EPiCFlowMatching.sample` copies from its conditions.
_COPIED_JET_VARIABLES = ("jet_class", "jet_pt", "jet_eta", "jet_mass")
_MODEL_NAME = "epic_fm"
_FACTORY = "kiss_collider.models.epic:EPiCFlowMatching"
_STATE_VERSION = 1


@dataclass(frozen=True)
class EPiCFlowMatchingConfig:
    """Options of :class:`EPiCFlowMatching`.

    The network defaults are chosen small, so that sampling at 10 to 20 ODE steps stays fast
    on a CPU, and are not tuned on JetNet. Raise ``hidden_dim`` and ``n_layers`` when training
    on a GPU for production.

    Arguments:
        n_particles: Number of particle slots P per jet. 30 is the JetNet30 convention (the
            30 highest-pt constituents, Kansal et al., arXiv:2106.11535).
        hidden_dim: Width of the per-particle features and of every hidden layer.
        global_dim: Width of the global (per-jet) vector that EPiC layers pass along.
        n_layers: Number of EPiC layers.
        conditions: Jet-level variables the network is conditioned on, chosen from
            :data:`CONDITION_NAMES`. ``jet_pt`` and ``jet_mass`` are in GeV.
        n_jet_classes: Number of jet classes the one-hot ``jet_class`` encoding has room for;
            5 fits JetNet (gluon, light quark, top, W, Z).
        negative_slope: Slope of the LeakyReLU activations for negative inputs.
        solver: Name of the :mod:`kiss_core.sampling` solver used when ``sample`` gets none.
        steps: Number of solver steps used when ``sample`` gets no sampler.
    """

    n_particles: int = 30
    hidden_dim: int = 64
    global_dim: int = 16
    n_layers: int = 4
    conditions: tuple[str, ...] = ("jet_class", "num_particles")
    n_jet_classes: int = 5
    negative_slope: float = 0.01
    solver: str = "midpoint"
    steps: int = 20

    def __post_init__(self) -> None:
        # Configs read from TOML or JSON carry lists, but the frozen record keeps a tuple.
        object.__setattr__(self, "conditions", tuple(self.conditions))

        for name in (
            "n_particles",
            "hidden_dim",
            "global_dim",
            "n_layers",
            "n_jet_classes",
            "steps",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise KissError(
                    "Invalid EPiC flow-matching option",
                    where=f"EPiCFlowMatchingConfig.{name}",
                    expected="an integer >= 1",
                    got=repr(value),
                )

        for name in self.conditions:
            if name not in CONDITION_NAMES:
                raise UnknownNameError("condition", name, CONDITION_NAMES)
        if len(set(self.conditions)) != len(self.conditions):
            raise KissError(
                "Repeated condition",
                where="EPiCFlowMatchingConfig.conditions",
                expected="each condition at most once",
                got=repr(self.conditions),
            )

    @property
    def condition_dim(self) -> int:
        """Length of the encoded condition vector (one-hot jet class plus one per scalar)."""
        return sum(self.n_jet_classes if name == "jet_class" else 1 for name in self.conditions)


def _masked_pools(particles: torch.Tensor, weights: torch.Tensor, n_particles: int) -> torch.Tensor:
    """Pool particle features over the real particles into ``[mean, sum / n_particles]``.

    The sum is divided by the fixed slot count rather than the multiplicity, so it stays of
    order one and still carries the multiplicity that the mean discards.
    """
    summed = (particles * weights).sum(dim=1)
    count = weights.sum(dim=1).clamp_min(1.0)
    return torch.cat([summed / count, summed / n_particles], dim=-1)


class EPiCLayer(nn.Module):
    """One EPiC layer: update the global vector from pooled particles, then every particle.

    With particle features ``p_i``, global vector ``g`` and context ``c`` (time and
    conditions), the layer computes

        g' = g + phi_g([mean_i p_i, sum_i p_i / P, g, c])
        p_i' = p_i + phi_p([p_i, g', c])

    where the pools run over real particles only and ``phi_g``, ``phi_p`` are two-layer MLPs.
    Every particle is updated by the same function of itself and of permutation-invariant
    pools, so the layer is permutation equivariant.

    References:
        | EPiC-GAN: Equivariant Point Cloud Generation for Particle Jets
        | (Buhmann, Kasieczka, Thaler, SciPost Phys. 15 (2023) 130)
        | https://arxiv.org/abs/2301.08128

    Arguments:
        hidden_dim: Width of the particle features.
        global_dim: Width of the global vector.
        context_dim: Width of the context vector.
        n_particles: Number of particle slots P, which scales the sum pool.
        negative_slope: LeakyReLU slope for negative inputs.
    """

    def __init__(
        self,
        hidden_dim: int,
        global_dim: int,
        context_dim: int,
        n_particles: int,
        negative_slope: float = 0.01,
    ) -> None:
        super().__init__()
        self.n_particles = n_particles
        self.activation = nn.LeakyReLU(negative_slope)
        self.global_hidden = nn.Linear(2 * hidden_dim + global_dim + context_dim, hidden_dim)
        self.global_output = nn.Linear(hidden_dim, global_dim)
        # Splitting the first particle layer into a per-particle and a per-jet part computes
        # the jet part once per jet instead of once per particle.
        self.particle_hidden = nn.Linear(hidden_dim, hidden_dim)
        self.jet_hidden = nn.Linear(global_dim + context_dim, hidden_dim, bias=False)
        self.particle_output = nn.Linear(hidden_dim, hidden_dim)

    def forward(
        self,
        particles: torch.Tensor,
        global_vector: torch.Tensor,
        context: torch.Tensor,
        weights: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Update ``particles`` (B, P, hidden) and ``global_vector`` (B, global).

        ``weights`` (B, P, 1) is 1 for real particles and 0 for padding. Padded particle
        features come back as zero.
        """
        pooled = _masked_pools(particles, weights, self.n_particles)
        global_input = torch.cat([pooled, global_vector, context], dim=-1)
        global_vector = global_vector + self.global_output(
            self.activation(self.global_hidden(global_input))
        )

        jet_part = self.jet_hidden(torch.cat([global_vector, context], dim=-1))
        hidden = self.activation(self.particle_hidden(particles) + jet_part[:, None, :])
        particles = (particles + self.particle_output(hidden)) * weights
        return particles, global_vector


class EPiCNetwork(nn.Module):
    """The velocity field of EPiC flow matching: a stack of :class:`EPiCLayer`.

    Padded particles neither receive nor pass on information: their inputs are replaced by
    zero before use, the pools skip them, and their output velocities are exactly zero.

    Arguments:
        n_features: Number of features per particle.
        condition_dim: Width of the encoded conditions (without time).
        n_particles: Number of particle slots P.
        hidden_dim: Width of the particle features.
        global_dim: Width of the global vector.
        n_layers: Number of EPiC layers.
        negative_slope: LeakyReLU slope for negative inputs.

    Example:
        >>> network = EPiCNetwork(n_features=3, condition_dim=6, n_particles=30)
        >>> x, mask = torch.randn(8, 30, 3), torch.ones(8, 30, dtype=torch.bool)
        >>> network(x, torch.rand(8), torch.zeros(8, 6), mask).shape
        torch.Size([8, 30, 3])
    """

    def __init__(
        self,
        n_features: int,
        condition_dim: int,
        n_particles: int,
        hidden_dim: int = 64,
        global_dim: int = 16,
        n_layers: int = 4,
        negative_slope: float = 0.01,
    ) -> None:
        super().__init__()
        context_dim = condition_dim + 1
        self.n_particles = n_particles
        self.activation = nn.LeakyReLU(negative_slope)
        self.particle_embedding = nn.Linear(n_features, hidden_dim)
        self.context_embedding = nn.Linear(context_dim, hidden_dim, bias=False)
        self.global_embedding = nn.Linear(2 * hidden_dim + context_dim, global_dim)
        self.layers = nn.ModuleList(
            EPiCLayer(hidden_dim, global_dim, context_dim, n_particles, negative_slope)
            for _ in range(n_layers)
        )
        self.output = nn.Linear(hidden_dim, n_features)

    def forward(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        condition: torch.Tensor,
        mask: torch.Tensor,
    ) -> torch.Tensor:
        """Return the velocity (B, P, features) at states ``x`` (B, P, features).

        ``t`` (B,) contains the times, ``condition`` (B, condition_dim) the encoded
        conditions, and ``mask`` (B, P) is True for real particles.
        """
        real = mask[..., None]
        weights = real.to(x.dtype)
        # torch.where, unlike multiplying by the mask, also stops NaN or inf in padded slots.
        x = torch.where(real, x, torch.zeros((), dtype=x.dtype, device=x.device))
        context = torch.cat([t.to(x.dtype)[:, None], condition], dim=-1)

        particles = self.particle_embedding(x) + self.context_embedding(context)[:, None, :]
        particles = self.activation(particles) * weights
        global_input = torch.cat(
            [_masked_pools(particles, weights, self.n_particles), context], dim=-1
        )
        global_vector = self.activation(self.global_embedding(global_input))

        for layer in self.layers:
            particles, global_vector = layer(particles, global_vector, context, weights)

        velocity = self.output(particles)
        return torch.where(real, velocity, torch.zeros((), dtype=x.dtype, device=x.device))


def _require_variable(
    data: xr.Dataset, name: str, dims: tuple[str, ...], role: str
) -> xr.DataArray:
    """Return ``data[name]`` after checking that it exists with dimensions ``dims``."""
    if name not in data.data_vars:
        raise KissError(
            f"Missing variable '{name}'",
            where=role,
            expected=f"a data variable '{name}' with dims {dims}",
            got=f"data variables {sorted(map(str, data.data_vars))}",
        )
    variable = data[name]
    if variable.dims != dims:
        raise KissError(
            "Invalid dimensions",
            where=f"{role}['{name}']",
            expected=str(dims),
            got=str(variable.dims),
        )
    return variable


def _require_finite(values: np.ndarray, where: str) -> None:
    if not np.all(np.isfinite(values)):
        n_bad = int(np.size(values) - np.count_nonzero(np.isfinite(values)))
        raise KissError(
            "Non-finite values",
            where=where,
            expected="finite numbers",
            got=f"{n_bad} NaN or inf entries",
        )


def _read_constituents(
    data: xr.Dataset, n_particles: int, role: str
) -> tuple[np.ndarray, np.ndarray]:
    """Validate and return the constituents (N, P, 3), features ordered as
    :data:`FEATURE_NAMES`, and the mask (N, P).

    A particle axis shorter than P is padded. A longer one is cut to P when no real particle
    sits beyond slot P.
    """
    constituents = _require_variable(data, "constituents", ("event", "particle", "feature"), role)
    mask = _require_variable(data, "mask", ("event", "particle"), role)

    feature_names = (
        [str(name) for name in constituents.coords["feature"].values]
        if "feature" in constituents.coords
        else []
    )
    missing = [name for name in FEATURE_NAMES if name not in feature_names]
    if missing:
        raise KissError(
            "Missing constituent features",
            where=f"{role}['constituents'].feature",
            expected=f"a 'feature' coordinate containing {list(FEATURE_NAMES)}",
            got=f"{feature_names}",
        )
    if mask.dtype != bool:
        raise KissError(
            "Invalid mask type", where=f"{role}['mask']", expected="bool", got=str(mask.dtype)
        )

    values = np.asarray(constituents.sel(feature=list(FEATURE_NAMES)).values, dtype=np.float32)
    real = np.asarray(mask.values, dtype=bool)
    _require_finite(values, f"{role}['constituents']")

    ptrel = values[..., 2][real]
    if np.any(ptrel <= 0):
        raise KissError(
            "Non-positive constituent ptrel",
            where=f"{role}['constituents'].sel(feature='ptrel')",
            expected="ptrel > 0 for every real particle (mask True), as the model uses log(ptrel)",
            got=f"{np.count_nonzero(ptrel <= 0)} with ptrel <= 0, min {ptrel.min():.3g}",
        )

    size = values.shape[1]
    if size > n_particles:
        if real[:, n_particles:].any():
            raise KissError(
                "Too many particles per jet",
                where=f"{role}['mask']",
                expected=f"no real particle beyond slot {n_particles} (config n_particles)",
                got=f"real particles up to slot {int(np.nonzero(real.any(axis=0))[0].max()) + 1}",
                hint="raise n_particles in the config or keep only the leading particles",
            )
        values, real = values[:, :n_particles], real[:, :n_particles]
    elif size < n_particles:
        values = np.pad(values, ((0, 0), (0, n_particles - size), (0, 0)))
        real = np.pad(real, ((0, 0), (0, n_particles - size)))
    return np.where(real[..., None], values, np.float32(0.0)), real


def _read_jet_variables(
    data: xr.Dataset, required: tuple[str, ...], n_particles: int, role: str
) -> dict[str, np.ndarray]:
    """Validate and return ``num_particles``, the ``required`` conditions and whichever of
    :data:`_COPIED_JET_VARIABLES` ``data`` has, each as an array over events."""
    names = ["num_particles", *required]
    names += [
        name for name in _COPIED_JET_VARIABLES if name in data.data_vars and name not in names
    ]

    values: dict[str, np.ndarray] = {}
    for name in names:
        variable = _require_variable(data, name, ("event",), role)
        where = f"{role}['{name}']"
        array = np.asarray(variable.values)
        if name in ("num_particles", "jet_class"):
            if not np.issubdtype(array.dtype, np.integer):
                raise KissError(
                    "Invalid variable type", where=where, expected="integers", got=str(array.dtype)
                )
        else:
            array = array.astype(np.float64)
            _require_finite(array, where)
        values[name] = array

    multiplicity = values["num_particles"]
    if multiplicity.size and (multiplicity.min() < 0 or multiplicity.max() > n_particles):
        raise KissError(
            "Invalid number of particles",
            where=f"{role}['num_particles']",
            expected=f"0 <= num_particles <= {n_particles} (config n_particles)",
            got=f"values from {multiplicity.min()} to {multiplicity.max()}",
            hint="raise n_particles in the config or keep only the leading particles",
        )
    if "jet_pt" in values and np.any(values["jet_pt"] <= 0):
        raise KissError(
            "Non-positive jet pt",
            where=f"{role}['jet_pt']",
            expected="jet_pt > 0 GeV",
            got=f"min {values['jet_pt'].min():.3g}",
        )
    if "jet_mass" in values and np.any(values["jet_mass"] < 0):
        raise KissError(
            "Negative jet mass",
            where=f"{role}['jet_mass']",
            expected="jet_mass >= 0 GeV",
            got=f"min {values['jet_mass'].min():.3g}",
        )
    return values


def _class_names(variable: xr.DataArray) -> tuple[str, ...] | None:
    names = variable.attrs.get("classes")
    return None if names is None else tuple(str(name) for name in np.atleast_1d(names))


def _mean_and_std(values: np.ndarray, where: str) -> tuple[float, float]:
    """Return the mean and standard deviation of ``values``, rejecting a constant one."""
    if values.size < 2 or float(np.std(values)) == 0.0:
        raise KissError(
            "Cannot standardise a constant variable",
            where=where,
            expected="at least two different values in the training data",
            got=f"{values.size} values, all {values.flat[0] if values.size else 'absent'}",
            hint="add more training events or drop this variable from the conditions",
        )
    return float(np.mean(values)), float(np.std(values))


@dataclass(frozen=True)
class _Preprocessing:
    """Statistics fitted on training data, with features (etarel, phirel, log ptrel)."""

    feature_mean: tuple[float, ...]
    feature_std: tuple[float, ...]
    log_jet_pt_mean: float | None = None
    log_jet_pt_std: float | None = None
    jet_mass_mean_gev: float | None = None
    jet_mass_std_gev: float | None = None
    jet_classes: tuple[str, ...] | None = None


class EPiCFlowMatching(Generator):
    """EPiC flow matching (EPiC-FM): jets as point clouds from a conditional continuous flow.

    Each particle carries (etarel, phirel, ptrel). Training maps them to (etarel, phirel,
    log ptrel) and standardises each feature over the real particles of the training data.
    Sampling draws the multiplicity from the conditions, integrates the learned velocity field
    from Gaussian noise on the real slots, undoes the preprocessing (so ptrel > 0), zeroes the
    padded slots and sorts particles by ptrel, descending.

    The jet-level variables of the samples (``jet_class``, ``jet_pt``, ``jet_eta``,
    ``jet_mass``, ``num_particles``) are copied from the conditions: they are the values the
    jets were generated for, not recomputed from the generated constituents.

    References:
        | EPiC-GAN: Equivariant Point Cloud Generation for Particle Jets
        | (Buhmann, Kasieczka, Thaler, SciPost Phys. 15 (2023) 130)
        | https://arxiv.org/abs/2301.08128

        | EPiC-ly Fast Particle Cloud Generation with Flow-Matching and Diffusion
        | (Buhmann et al., 2023)
        | https://arxiv.org/abs/2310.00049

        | Flow Matching Beyond Kinematics: Generating Jets with Particle-ID and Trajectory
        | Displacement Information (Birk, Buhmann, Ewen, Kasieczka, Shih, 2023)
        | https://arxiv.org/abs/2312.00123

    Arguments:
        config: An :class:`EPiCFlowMatchingConfig`; ``None`` uses the defaults.

    Example:
        >>> model = EPiCFlowMatching(EPiCFlowMatchingConfig(n_particles=30))
        >>> batch = model.prepare(train_jets)          # xarray.Dataset in the jet layout
        >>> model.loss({k: v[:128] for k, v in batch.items()}).backward()
        >>> jets = model.sample(model.conditions(test_jets), batch_size=1000)
    """

    Config = EPiCFlowMatchingConfig

    def __init__(self, config: EPiCFlowMatchingConfig | None = None) -> None:
        super().__init__(config)
        self._network = EPiCNetwork(
            n_features=len(FEATURE_NAMES),
            condition_dim=self.config.condition_dim,
            n_particles=self.config.n_particles,
            hidden_dim=self.config.hidden_dim,
            global_dim=self.config.global_dim,
            n_layers=self.config.n_layers,
            negative_slope=self.config.negative_slope,
        )
        self._preprocessing: _Preprocessing | None = None

    @property
    def network(self) -> EPiCNetwork:
        """The velocity-field network that the trainer optimises and averages."""
        return self._network

    # Preprocessing -------------------------------------------------------------------------

    def prepare(self, data: xr.Dataset) -> dict[str, torch.Tensor]:
        """Fit the preprocessing on training jets and return the training tensors.

        Arguments:
            data: Training jets in the jet layout (``constituents``, ``mask``,
                ``num_particles`` and the configured conditions).

        Returns:
            ``constituents`` (N, P, 3) float32 preprocessed and zero on padded slots,
            ``mask`` (N, P) bool, and ``condition`` (N, condition_dim) float32.
        """
        role = "training data"
        constituents, mask = _read_constituents(data, self.config.n_particles, role)
        jet_variables = _read_jet_variables(
            data, self.config.conditions, self.config.n_particles, role
        )
        if not np.array_equal(mask.sum(axis=1), jet_variables["num_particles"]):
            n_bad = int(np.count_nonzero(mask.sum(axis=1) != jet_variables["num_particles"]))
            raise KissError(
                "Inconsistent particle count",
                where=f"{role}['num_particles']",
                expected="num_particles equal to the number of True entries of mask in each jet",
                got=f"{n_bad} jets that differ",
            )
        self._check_jet_class_codes(jet_variables, role)

        self._preprocessing = self._fit_preprocessing(data, constituents, mask, jet_variables)
        logger.info(
            "Prepared %d training jets with %d real particles, conditioned on %s",
            mask.shape[0],
            int(mask.sum()),
            list(self.config.conditions),
        )

        real = torch.from_numpy(mask)
        return {
            "constituents": self.transform_constituents(torch.from_numpy(constituents), real),
            "mask": real,
            "condition": self._encode_conditions(jet_variables),
        }

    def _fit_preprocessing(
        self,
        data: xr.Dataset,
        constituents: np.ndarray,
        mask: np.ndarray,
        jet_variables: dict[str, np.ndarray],
    ) -> _Preprocessing:
        real = constituents[mask].astype(np.float64)
        real[:, 2] = np.log(real[:, 2])
        moments = [
            _mean_and_std(real[:, i], f"training data feature '{name}'")
            for i, name in enumerate(FEATURE_NAMES)
        ]
        statistics: dict[str, Any] = {
            "feature_mean": tuple(mean for mean, _ in moments),
            "feature_std": tuple(std for _, std in moments),
        }
        if "jet_pt" in self.config.conditions:
            mean, std = _mean_and_std(np.log(jet_variables["jet_pt"]), "training data['jet_pt']")
            statistics.update(log_jet_pt_mean=mean, log_jet_pt_std=std)
        if "jet_mass" in self.config.conditions:
            mean, std = _mean_and_std(jet_variables["jet_mass"], "training data['jet_mass']")
            statistics.update(jet_mass_mean_gev=mean, jet_mass_std_gev=std)
        if "jet_class" in data.data_vars:
            statistics["jet_classes"] = _class_names(data["jet_class"])
        return _Preprocessing(**statistics)

    def _require_preprocessing(self, action: str) -> _Preprocessing:
        if self._preprocessing is None:
            raise KissError(
                f"Cannot {action} with an unfitted EPiC flow-matching model",
                expected="preprocessing fitted by prepare() or restored by load_extra_state()",
                got="no preprocessing",
                hint="train the model first, or load it from a checkpoint",
            )
        return self._preprocessing

    def transform_constituents(
        self, constituents: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        """Map (etarel, phirel, ptrel) to standardised (etarel, phirel, log ptrel), zero on padding.

        Arguments:
            constituents: (N, P, 3) with ptrel > 0 on real particles.
            mask: (N, P), True for real particles.
        """
        preprocessing = self._require_preprocessing("transform constituents")
        mean = torch.tensor(
            preprocessing.feature_mean, dtype=constituents.dtype, device=constituents.device
        )
        std = torch.tensor(
            preprocessing.feature_std, dtype=constituents.dtype, device=constituents.device
        )
        real = mask[..., None]
        # Padded slots get ptrel 1 before the log, so they never produce -inf.
        ptrel = torch.where(
            mask,
            constituents[..., 2],
            torch.ones((), dtype=constituents.dtype, device=constituents.device),
        )
        features = torch.stack(
            [constituents[..., 0], constituents[..., 1], torch.log(ptrel)], dim=-1
        )
        return torch.where(real, (features - mean) / std, torch.zeros_like(features))

    def inverse_transform_constituents(
        self, features: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        """Map standardised features back to (etarel, phirel, ptrel), zero on padding.

        This inverts :meth:`transform_constituents`, so ptrel comes back positive.
        NOTE: Nothing constrains the ptrel of a generated jet to sum to at most 1, as it does
        in training jets. The sum is only as close as the model has learned.
        """
        preprocessing = self._require_preprocessing("inverse-transform constituents")
        mean = torch.tensor(
            preprocessing.feature_mean, dtype=features.dtype, device=features.device
        )
        std = torch.tensor(preprocessing.feature_std, dtype=features.dtype, device=features.device)
        physical = features * std + mean
        constituents = torch.stack(
            [physical[..., 0], physical[..., 1], torch.exp(physical[..., 2])], dim=-1
        )
        return torch.where(mask[..., None], constituents, torch.zeros_like(constituents))

    def _check_jet_class_codes(self, jet_variables: dict[str, np.ndarray], role: str) -> None:
        if "jet_class" not in self.config.conditions:
            return
        codes = jet_variables["jet_class"]
        if codes.size and (codes.min() < 0 or codes.max() >= self.config.n_jet_classes):
            raise KissError(
                "Jet class code out of range",
                where=f"{role}['jet_class']",
                expected=f"codes 0 to {self.config.n_jet_classes - 1} (config n_jet_classes)",
                got=f"codes from {codes.min()} to {codes.max()}",
                hint="raise n_jet_classes in the config",
            )

    def _encode_conditions(self, jet_variables: dict[str, np.ndarray]) -> torch.Tensor:
        """Encode the configured conditions as a (N, condition_dim) float32 tensor."""
        preprocessing = self._require_preprocessing("encode conditions")
        n_events = len(jet_variables["num_particles"])
        columns = []
        for name in self.config.conditions:
            values = jet_variables[name]
            if name == "jet_class":
                codes = torch.as_tensor(values, dtype=torch.long)
                columns.append(nn.functional.one_hot(codes, self.config.n_jet_classes).float())
                continue
            if name == "num_particles":
                scaled = values / self.config.n_particles
            elif name == "jet_pt":
                scaled = (
                    np.log(values) - preprocessing.log_jet_pt_mean
                ) / preprocessing.log_jet_pt_std
            else:
                scaled = (values - preprocessing.jet_mass_mean_gev) / preprocessing.jet_mass_std_gev
            columns.append(torch.as_tensor(scaled, dtype=torch.float32)[:, None])
        if not columns:
            return torch.zeros(n_events, 0)
        return torch.cat(columns, dim=1)

    # Training ------------------------------------------------------------------------------

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Return the conditional flow-matching loss of one batch.

        Draws ``t ~ U(0, 1)`` per jet and noise ``x_0 ~ N(0, I)``, forms
        ``x_t = (1 - t) x_0 + t x_1`` and returns the mean squared difference between the
        predicted velocity and ``x_1 - x_0`` over the features of the real particles.

        Arguments:
            batch: Rows of the tensors that :meth:`prepare` returned.
        """
        data = batch["constituents"]
        mask = batch["mask"]
        noise = torch.randn_like(data)
        times = torch.rand(data.shape[0], dtype=data.dtype, device=data.device)

        interpolated = (1 - times[:, None, None]) * noise + times[:, None, None] * data
        prediction = self._network(interpolated, times, batch["condition"], mask)

        squared_error = (prediction - (data - noise)).square().sum(dim=-1)
        weights = mask.to(data.dtype)
        return (squared_error * weights).sum() / (weights.sum().clamp_min(1.0) * data.shape[-1])

    # Sampling ------------------------------------------------------------------------------

    def conditions(self, data: xr.Dataset) -> xr.Dataset:
        """Return the per-jet variables to sample with: ``num_particles``, the configured
        conditions, and whichever of ``jet_class``, ``jet_pt``, ``jet_eta``, ``jet_mass``
        ``data`` has (so that samples can carry them)."""
        jet_variables = _read_jet_variables(
            data, self.config.conditions, self.config.n_particles, "jet data"
        )
        # Selecting from the dataset keeps each variable's dtype, attributes and coordinates.
        result = data[list(jet_variables)]
        result.attrs = {}
        return result

    def sample(
        self,
        conditions: xr.Dataset,
        *,
        sampler: Sampler | None = None,
        batch_size: int = 1000,
        generator: torch.Generator | None = None,
        progress: bool = False,
    ) -> xr.Dataset:
        """Generate one jet per entry of ``conditions``.

        The initial noise of all jets is drawn before integration starts, so the samples do
        not depend on ``batch_size`` beyond floating-point rounding.

        Arguments:
            conditions: Per-jet variables, as returned by :meth:`conditions`.
            sampler: A velocity-field sampler from :mod:`kiss_core.sampling`; ``None`` builds
                ``config.solver`` with ``config.steps`` steps.
            batch_size: Jets integrated together.
            generator: Random-number generator for the initial noise (and for the noise of
                stochastic samplers, which need it on the network's device).
            progress: Whether to show a progress bar over batches.

        Returns:
            Jets in the jet layout with ``attrs["provenance"]`` as JSON (model, config,
            solver, steps, the largest NFE of any batch).
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise KissError(
                "Invalid batch size",
                where="batch_size",
                expected="an integer >= 1",
                got=repr(batch_size),
            )
        self._require_preprocessing("sample")
        if sampler is None:
            sampler = make_sampler(self.config.solver, steps=self.config.steps)
        require_parametrisation(sampler, "velocity")
        jet_variables = _read_jet_variables(
            conditions, self.config.conditions, self.config.n_particles, "conditions"
        )
        class_names = self._align_class_names(conditions, jet_variables)
        self._check_jet_class_codes(jet_variables, "conditions")

        multiplicity = torch.as_tensor(jet_variables["num_particles"], dtype=torch.long)
        encoded = self._encode_conditions(jet_variables)
        constituents, nfe = self._integrate(
            encoded, multiplicity, sampler, batch_size, generator, progress
        )
        return self._to_dataset(
            constituents, multiplicity, jet_variables, class_names, conditions, sampler, nfe
        )

    def _align_class_names(self, conditions: xr.Dataset, jet_variables: dict[str, np.ndarray]) -> tuple[str, ...] | None:
        """Return the training class names, recoding ``jet_class`` of conditions that name a subset of them.

        A file with only top jets stores code 0 for "t"; the model has "t" under its training
        code, so conditions are recoded by name before sampling.
        """
        trained = self._require_preprocessing("sample").jet_classes
        if "jet_class" not in conditions.data_vars:
            return trained
        requested = _class_names(conditions["jet_class"])
        if trained is None or requested is None or requested == trained:
            return trained if trained is not None else requested
        unknown = [name for name in requested if name not in trained]
        if unknown:
            raise KissError(
                "Jet classes unknown to the model",
                where="conditions['jet_class'].attrs['classes']",
                expected=f"a subset of the training classes {list(trained)}",
                got=str(list(requested)),
            )
        if "jet_class" in jet_variables:
            recode = np.array([trained.index(name) for name in requested])
            jet_variables["jet_class"] = recode[np.asarray(jet_variables["jet_class"], dtype=int)]
        return trained

    def _integrate(
        self,
        encoded: torch.Tensor,
        multiplicity: torch.Tensor,
        sampler: Sampler,
        batch_size: int,
        generator: torch.Generator | None,
        progress: bool,
    ) -> tuple[torch.Tensor, int]:
        """Integrate noise to constituents on the network's device.

        Returns the constituents on the CPU and the largest NFE of any batch.
        """
        network = self._network
        device = next(network.parameters()).device
        noise_device = generator.device if generator is not None else device
        shape = (len(multiplicity), self.config.n_particles, len(FEATURE_NAMES))

        mask = (torch.arange(self.config.n_particles)[None, :] < multiplicity[:, None]).to(device)
        noise = torch.randn(shape, generator=generator, device=noise_device).to(device)
        initial = torch.where(mask[..., None], noise, torch.zeros((), device=device))

        def velocity(
            t: torch.Tensor, x: torch.Tensor, batch: dict[str, torch.Tensor]
        ) -> torch.Tensor:
            times = t.reshape(1).expand(x.shape[0])
            return network(x, times, batch["condition"], batch["mask"])

        was_training = network.training
        network.eval()
        try:
            result = sample_in_batches(
                sampler,
                velocity,
                initial,
                batch_size,
                conditions={"condition": encoded.to(device), "mask": mask},
                generator=generator,
                progress=progress,
            )
        finally:
            network.train(was_training)

        with torch.no_grad():
            jets = self.inverse_transform_constituents(result.samples, mask)
            jets = _sort_by_ptrel(jets, mask)
        return jets.cpu(), result.nfe

    def _to_dataset(
        self,
        constituents: torch.Tensor,
        multiplicity: torch.Tensor,
        jet_variables: dict[str, np.ndarray],
        class_names: tuple[str, ...] | None,
        conditions: xr.Dataset,
        sampler: Sampler,
        nfe: int,
    ) -> xr.Dataset:
        mask = torch.arange(self.config.n_particles)[None, :] < multiplicity[:, None]
        samples = xr.Dataset(
            {
                "constituents": (
                    ("event", "particle", "feature"),
                    constituents.numpy().astype(np.float32),
                ),
                "mask": (("event", "particle"), mask.numpy()),
                "num_particles": ("event", jet_variables["num_particles"]),
            },
            coords={"feature": list(FEATURE_NAMES)},
        )
        for name in _COPIED_JET_VARIABLES:
            if name in jet_variables:
                # jet_class comes from jet_variables, whose codes follow the training classes.
                values = jet_variables[name] if name == "jet_class" else conditions[name].values
                samples[name] = ("event", np.asarray(values, dtype=conditions[name].dtype))
                samples[name].attrs = dict(conditions[name].attrs)
        if "jet_class" in samples.data_vars and class_names is not None:
            samples["jet_class"].attrs["classes"] = list(class_names)
        if "event" in conditions.coords:
            samples = samples.assign_coords(event=conditions.coords["event"].values)

        provenance = {
            "model": _MODEL_NAME,
            "factory": _FACTORY,
            "config": self.config_dict(),
            "solver": getattr(sampler, "name", type(sampler).__name__),
            "steps": getattr(sampler, "steps", None),
            "sampler_options": getattr(sampler, "options", {}),
            # The largest count of any batch. Fixed-step solvers use the same count in every batch.
            "nfe": nfe,
            "jet_variables": "copied from the conditions, not recomputed from the constituents",
        }
        samples.attrs["provenance"] = json.dumps(provenance)
        logger.info(
            "Generated %d jets with %s (%s NFE per batch)",
            samples.sizes["event"],
            provenance["solver"],
            provenance["nfe"],
        )
        return samples

    # Checkpoint state ----------------------------------------------------------------------

    def extra_state(self) -> dict[str, Any]:
        """Return the model name, the settings that fix the network's inputs, and the fitted
        preprocessing (``None`` before :meth:`prepare`), as plain numbers, strings and lists."""
        preprocessing = None
        if self._preprocessing is not None:
            preprocessing = {
                key: list(value) if isinstance(value, tuple) else value
                for key, value in asdict(self._preprocessing).items()
            }
        return {
            "model": _MODEL_NAME,
            "state_version": _STATE_VERSION,
            "n_particles": self.config.n_particles,
            "conditions": list(self.config.conditions),
            "features": list(FEATURE_NAMES),
            "preprocessing": preprocessing,
        }

    def load_extra_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`extra_state` returned, rejecting state of another model or config."""
        model = state.get("model") if isinstance(state, dict) else None
        if model != _MODEL_NAME:
            raise KissError(
                "Checkpoint belongs to another model",
                where="checkpoint extra state 'model'",
                expected=repr(_MODEL_NAME),
                got=repr(model),
                hint="load the checkpoint with the generator that wrote it",
            )
        expected = {
            "state_version": _STATE_VERSION,
            "n_particles": self.config.n_particles,
            "conditions": list(self.config.conditions),
            "features": list(FEATURE_NAMES),
        }
        for key, value in expected.items():
            if state.get(key) != value:
                raise KissError(
                    "Checkpoint does not match this configuration",
                    where=f"checkpoint extra state '{key}'",
                    expected=repr(value),
                    got=repr(state.get(key)),
                    hint="build the generator with the config stored beside the checkpoint",
                )

        stored = state.get("preprocessing")
        if stored is None:
            self._preprocessing = None
            return
        self._preprocessing = _Preprocessing(
            **{
                key: tuple(value) if isinstance(value, list) else value
                for key, value in stored.items()
            }
        )


def _sort_by_ptrel(constituents: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Sort the real particles of each jet by ptrel, descending, keeping padding at the end."""
    key = torch.where(
        mask, constituents[..., 2], torch.full((), -math.inf, device=constituents.device)
    )
    order = torch.sort(key, dim=1, descending=True, stable=True).indices
    return torch.gather(constituents, 1, order[..., None].expand_as(constituents))
