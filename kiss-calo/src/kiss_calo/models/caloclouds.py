"""CaloClouds II: point-cloud diffusion with EDM preconditioning and consistency distillation.

A shower is a set of points (x, y, z, energy) with the shower axis along y (the layer
coordinate), as in the CaloClouds files. Two networks make it:

* a conditional normalising flow (zuko neural spline flow) for the shower-level variables,
  given the incident energy: the number of points, the visible energy and the centre of
  gravity in x and z;
* a per-point denoiser D(x; sigma) in the EDM parametrisation, conditioned on the incident
  energy and the number of points. Points are denoised independently, as in CaloClouds II.

Generation draws the shower-level variables from the flow, then that many points with the
denoiser ("edm_heun", 13 steps = 25 NFE, as in CaloClouds II), rescales the point energies to
the visible energy and shifts the points to the centre of gravity. A consistency model
distilled from the diffusion model gives samples in one step (NFE = 1).

References:
    E. Buhmann et al., "CaloClouds II: Ultra-Fast Geometry-Independent Highly-Granular
    Calorimeter Simulation", arXiv:2309.05704 (https://arxiv.org/abs/2309.05704).
    T. Karras et al., "Elucidating the Design Space of Diffusion-Based Generative Models",
    arXiv:2206.00364 (https://arxiv.org/abs/2206.00364), Table 1 (preconditioning, loss weight).
    Y. Song et al., "Consistency Models", arXiv:2303.01469 (https://arxiv.org/abs/2303.01469).
"""

from __future__ import annotations

import copy
import json
import logging
import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import xarray as xr
import zuko
from torch import nn
from tqdm.auto import tqdm

from kiss_calo.models.checks import check_incident_energy, check_non_negative, require_variables
from kiss_core.errors import KissError
from kiss_core.interfaces import Generator, Sampler
from kiss_core.sampling import karras_sigmas, make_sampler, require_parametrisation

__all__ = ["CPU_POINTS_PER_CHUNK", "CaloClouds2", "PointDenoiser", "consistency_scalings", "edm_scalings"]

logger = logging.getLogger(__name__)

POINT_FEATURES = ("x", "y", "z", "energy")
#: Shower-level variables of the flow: ln(points), ln(visible / incident energy), x and z centre of gravity (mm).
SHOWER_FEATURES = 4
#: Points per denoiser call when sampling on CPU. Larger calls are limited by memory bandwidth,
#: because their hidden activations (131 floats per point at width 128) no longer fit in cache.
#: Measured with the default network on a 2-core AMD EPYC (1 MiB L2 cache per core) and one thread,
#: a network evaluation took 1.0 us per point in chunks of 2048 to 4096 points. It took 1.4 us in
#: chunks of 16384 points and 4.3 us for 200000 points in one call.
CPU_POINTS_PER_CHUNK = 4096


def edm_scalings(
    sigma: torch.Tensor, sigma_data: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return the EDM preconditioning (c_skip, c_out, c_in, c_noise) at noise level ``sigma``.

    c_skip = sd^2 / (sigma^2 + sd^2), c_out = sigma sd / sqrt(sigma^2 + sd^2),
    c_in = 1 / sqrt(sigma^2 + sd^2), c_noise = ln(sigma) / 4 (Karras et al. 2022, Table 1),
    so that D(x; sigma) = c_skip x + c_out F(c_in x; c_noise) has unit-variance input and target.
    """
    total = sigma**2 + sigma_data**2
    return sigma_data**2 / total, sigma * sigma_data / total.sqrt(), 1.0 / total.sqrt(), sigma.log() / 4.0


def consistency_scalings(sigma: torch.Tensor, sigma_data: float, sigma_min: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (c_skip, c_out) of a consistency function, which is the identity at ``sigma_min``.

    c_skip = sd^2 / ((sigma - sigma_min)^2 + sd^2), c_out = sd (sigma - sigma_min) / sqrt(sigma^2 + sd^2)
    (Song et al. 2023, Appendix C).
    """
    shifted = sigma - sigma_min
    return sigma_data**2 / (shifted**2 + sigma_data**2), sigma_data * shifted / (sigma**2 + sigma_data**2).sqrt()


class PointDenoiser(nn.Module):
    """Per-point network F(x, c_noise, conditions): an MLP whose every layer sees the conditions.

    Arguments:
        features: Point features (4: x, y, z, energy).
        conditions: Per-event conditions (2: incident energy, number of points, both normalised).
        hidden: Width of the hidden layers.
        depth: Number of hidden layers.
    """

    def __init__(self, features: int = 4, conditions: int = 2, hidden: int = 128, depth: int = 3) -> None:
        super().__init__()
        context = conditions + 1
        self.inputs = nn.Linear(features + context, hidden)
        self.hidden = nn.ModuleList(nn.Linear(hidden + context, hidden) for _ in range(depth - 1))
        self.outputs = nn.Linear(hidden + context, features)

    def forward(self, x: torch.Tensor, noise_level: torch.Tensor, conditions: torch.Tensor) -> torch.Tensor:
        """Map points (n, features) with per-point noise levels (n, 1) and conditions (n, c)."""
        context = torch.cat([noise_level, conditions], dim=-1)
        h = nn.functional.silu(self.inputs(torch.cat([x, context], dim=-1)))
        for layer in self.hidden:
            h = nn.functional.silu(layer(torch.cat([h, context], dim=-1))) + h
        return self.outputs(torch.cat([h, context], dim=-1))


class CaloClouds2(Generator):
    """CaloClouds II point-cloud generator: shower flow plus EDM point diffusion or its consistency model.

    Train in two stages. Stage "diffusion" fits the flow and the denoiser. Stage
    "consistency" starts from a trained diffusion model (:meth:`distill_from`) and fits a
    one-step consistency model by consistency distillation with the teacher's Heun steps.

    Example:
        >>> teacher = CaloClouds2()
        >>> tensors = teacher.prepare(clouds)            # clouds: xr.Dataset (event, point)
        >>> loss = teacher.loss({k: v[:32] for k, v in tensors.items()})
        >>> student = CaloClouds2.distill_from(teacher)  # stage "consistency"
        >>> samples = student.sample(teacher.conditions(clouds))
    """

    @dataclass(frozen=True)
    class Config:
        """Options of :class:`CaloClouds2`.

        Arguments:
            stage: "diffusion" (EDM denoiser) or "consistency" (distilled one-step model).
            n_layers: Number of calorimeter layers; generated y lies in [0, n_layers).
            max_points: Largest number of points per generated shower.
            hidden: Width of the per-point network.
            depth: Hidden layers of the per-point network.
            flow_transforms: Spline transforms of the shower flow.
            flow_hidden: Hidden width of the shower flow.
            sigma_data: Standard deviation of the normalised data (EDM sigma_data, 0.5).
            sigma_min: Lowest noise level (EDM: 0.002).
            sigma_max: Highest noise level (EDM: 80).
            p_mean: Mean of ln(sigma) during diffusion training (EDM: -1.2).
            p_std: Standard deviation of ln(sigma) during diffusion training (EDM: 1.2).
            heun_steps: Noise levels of the default Heun sampler (CaloClouds II: 13, NFE 25).
            distillation_steps: Noise levels of the distillation grid (Song et al. 2023 use 18 for CIFAR-10).
            target_decay: EMA decay of the consistency target network (Song et al. 2023: 0.95 for CD).
        """

        stage: str = "diffusion"
        n_layers: int = 30
        max_points: int = 6000
        hidden: int = 128
        depth: int = 3
        flow_transforms: int = 3
        flow_hidden: int = 64
        sigma_data: float = 0.5
        sigma_min: float = 0.002
        sigma_max: float = 80.0
        p_mean: float = -1.2
        p_std: float = 1.2
        heun_steps: int = 13
        distillation_steps: int = 18
        target_decay: float = 0.95

        def __post_init__(self) -> None:
            if self.stage not in ("diffusion", "consistency"):
                raise KissError(
                    "Invalid stage", where="stage", expected="'diffusion' or 'consistency'", got=repr(self.stage)
                )
            if not 0 < self.sigma_min < self.sigma_max or self.sigma_data <= 0:
                raise KissError(
                    "Invalid noise levels",
                    where="sigma_min, sigma_max, sigma_data",
                    expected="0 < sigma_min < sigma_max and sigma_data > 0",
                    got=f"{self.sigma_min}, {self.sigma_max}, {self.sigma_data}",
                )

    def __init__(self, config: Config | None = None) -> None:
        super().__init__(config)
        c = self.config
        self._network = nn.ModuleDict(
            {
                "denoiser": PointDenoiser(len(POINT_FEATURES), 2, c.hidden, c.depth),
                "flow": zuko.flows.NSF(
                    SHOWER_FEATURES,
                    context=1,
                    transforms=c.flow_transforms,
                    hidden_features=(c.flow_hidden, c.flow_hidden),
                ),
            }
        )
        self.scales: dict[str, list[float]] = {}
        self.teacher: nn.Module | None = None
        self.target: nn.Module | None = None

    @property
    def network(self) -> nn.Module:
        """The flow and the per-point network (the student in stage "consistency")."""
        return self._network

    # -- data ---------------------------------------------------------------------------

    def _arrays(self, data: xr.Dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        require_variables(data, (*POINT_FEATURES, "incident_energy"), "point-cloud samples")
        incident = check_incident_energy(data["incident_energy"].values, "incident_energy")
        energy = check_non_negative(data["energy"].transpose("event", "point").values, "energy")
        mask = data["mask"].transpose("event", "point").values.astype(bool) if "mask" in data else energy > 0
        mask &= energy > 0
        points = np.stack([data[name].transpose("event", "point").values for name in POINT_FEATURES], axis=-1)
        if not np.all(np.isfinite(points[mask])):
            raise KissError(
                "Invalid point coordinates", where="x, y, z", expected="finite values", got="NaN or infinity"
            )
        if np.any(mask.sum(axis=1) == 0):
            raise KissError(
                "Empty shower",
                where="energy",
                expected="at least one point with energy > 0 per event",
                got=f"{int(np.sum(mask.sum(axis=1) == 0))} empty events",
            )
        return incident, points, mask

    @staticmethod
    def _shower_variables(incident: np.ndarray, points: np.ndarray, mask: np.ndarray) -> np.ndarray:
        energy = np.where(mask, points[..., 3], 0.0)
        visible = energy.sum(axis=1)
        centre_x = (energy * points[..., 0]).sum(axis=1) / visible
        centre_z = (energy * points[..., 2]).sum(axis=1) / visible
        return np.stack([np.log(mask.sum(axis=1)), np.log(visible / incident), centre_x, centre_z], axis=1)

    def prepare(self, data: xr.Dataset) -> dict[str, torch.Tensor]:
        """Fit the normalisation on training clouds and return padded training tensors.

        Point features are normalised to zero mean and standard deviation ``sigma_data``:
        x and z around the shower's centre of gravity, y as is, and ln(energy).
        """
        incident, points, mask = self._arrays(data)
        shower = self._shower_variables(incident, points, mask)
        local = points.copy()
        local[..., 0] -= shower[:, 2:3]
        local[..., 2] -= shower[:, 3:4]
        local[..., 3] = np.log(np.where(mask, points[..., 3], 1.0))
        real = local[mask]
        self.scales = {
            "point_mean": real.mean(axis=0).tolist(),
            "point_std": (real.std(axis=0) + 1e-6).tolist(),
            "shower_mean": shower.mean(axis=0).tolist(),
            "shower_std": (shower.std(axis=0) + 1e-6).tolist(),
            "log_energy_mean": float(np.log(incident).mean()),
            "log_energy_std": float(np.log(incident).std() + 1e-6),
        }
        normalised = (local - self.scales["point_mean"]) / self.scales["point_std"] * self.config.sigma_data
        normalised[~mask] = 0.0
        logger.info("Prepared %d point clouds with up to %d points", len(incident), points.shape[1])
        return {
            "points": torch.as_tensor(normalised, dtype=torch.float32),
            "mask": torch.as_tensor(mask),
            "conditions": self._condition_tensor(incident, mask.sum(axis=1)),
            "shower": torch.as_tensor(
                (shower - self.scales["shower_mean"]) / self.scales["shower_std"], dtype=torch.float32
            ),
        }

    def _require_prepared(self) -> None:
        if not self.scales:
            raise KissError(
                "Model is not prepared",
                where="CaloClouds2",
                hint="call prepare() on training data or load a trained checkpoint first",
            )

    def _log_energy(self, incident: np.ndarray) -> np.ndarray:
        return (np.log(incident) - self.scales["log_energy_mean"]) / self.scales["log_energy_std"]

    def _condition_tensor(self, incident: np.ndarray, n_points: np.ndarray) -> torch.Tensor:
        log_n = (np.log(n_points) - self.scales["shower_mean"][0]) / self.scales["shower_std"][0]
        return torch.as_tensor(np.stack([self._log_energy(incident), log_n], axis=1), dtype=torch.float32)

    def conditions(self, data: xr.Dataset) -> xr.Dataset:
        """Return the incident energy (MeV) of each event."""
        require_variables(data, ("incident_energy",), "samples")
        return xr.Dataset(
            {"incident_energy": ("event", check_incident_energy(data["incident_energy"].values, "incident_energy"))}
        )

    # -- denoiser -----------------------------------------------------------------------

    def _apply(
        self, module: nn.Module, sigma: torch.Tensor, x: torch.Tensor, conditions: torch.Tensor, stage: str
    ) -> torch.Tensor:
        """Evaluate D(x; sigma) (stage "diffusion") or f(x, sigma) (stage "consistency") on flat points.

        ``sigma`` is one level for all points (sampling) or one level per point (training).
        """
        sigma = sigma.reshape(-1, 1)
        c_skip, c_out, c_in, c_noise = edm_scalings(sigma, self.config.sigma_data)
        if stage == "consistency":
            c_skip, c_out = consistency_scalings(sigma, self.config.sigma_data, self.config.sigma_min)
        return c_skip * x + c_out * module(c_in * x, c_noise.expand(len(x), 1), conditions)

    def denoise(self, sigma: torch.Tensor, x: torch.Tensor, conditions: torch.Tensor) -> torch.Tensor:
        """Return this model's clean-point estimate for flat points ``x`` (n, 4) at noise level ``sigma``."""
        return self._apply(self._network["denoiser"], sigma, x, conditions, self.config.stage)

    def _denoise_in_chunks(
        self, sigma: torch.Tensor, x: torch.Tensor, conditions: torch.Tensor, points_per_chunk: int | None
    ) -> torch.Tensor:
        """Apply :meth:`denoise` to consecutive chunks of ``points_per_chunk`` points (all at once if None)."""
        if points_per_chunk is None or len(x) <= points_per_chunk:
            return self.denoise(sigma, x, conditions)
        denoised = torch.empty_like(x)
        for start in range(0, len(x), points_per_chunk):
            chunk = slice(start, start + points_per_chunk)
            denoised[chunk] = self.denoise(sigma, x[chunk], conditions[chunk])
        return denoised

    # -- training -----------------------------------------------------------------------

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Return the flow's negative log-likelihood plus the denoising or distillation loss."""
        mask = batch["mask"]
        points = batch["points"][mask]
        conditions = batch["conditions"].unsqueeze(1).expand(-1, mask.shape[1], -1)[mask]
        if self.config.stage == "consistency":
            return self._distillation_loss(points, conditions)

        log_energy = batch["conditions"][:, :1]
        flow_loss = -self._network["flow"](log_energy).log_prob(batch["shower"]).mean()

        # EDM training: ln(sigma) ~ N(p_mean, p_std^2), loss weight (sigma^2 + sd^2) / (sigma sd)^2.
        c = self.config
        sigma = (torch.randn(len(points), 1, device=points.device) * c.p_std + c.p_mean).exp()
        noisy = points + sigma * torch.randn_like(points)
        denoised = self._apply(self._network["denoiser"], sigma, noisy, conditions, "diffusion")
        weight = (sigma**2 + c.sigma_data**2) / (sigma * c.sigma_data) ** 2
        return flow_loss + (weight * (denoised - points) ** 2).mean()

    @classmethod
    def distill_from(cls, teacher: CaloClouds2, **options: Any) -> CaloClouds2:
        """Build a consistency-stage student from a trained diffusion model.

        The student copies the teacher's normalisation, shower flow and per-point network
        (the initialisation of Song et al. 2023); the teacher is kept frozen for the loss.
        """
        if teacher.config.stage != "diffusion":
            raise KissError(
                "Invalid teacher",
                where="distill_from",
                expected="a model of stage 'diffusion'",
                got=f"stage {teacher.config.stage!r}",
            )
        teacher._require_prepared()
        config = cls.Config(**{**asdict(teacher.config), **options, "stage": "consistency"})
        student = cls(config)
        student._network.load_state_dict(teacher._network.state_dict())
        student.scales = copy.deepcopy(teacher.scales)
        student.teacher = copy.deepcopy(teacher._network["denoiser"]).requires_grad_(False)
        return student

    def _distillation_loss(self, points: torch.Tensor, conditions: torch.Tensor) -> torch.Tensor:
        if self.teacher is None:
            raise KissError(
                "No teacher for consistency distillation",
                where="CaloClouds2(stage='consistency')",
                hint="build the student with CaloClouds2.distill_from(trained_diffusion_model)",
            )
        c = self.config
        student = self._network["denoiser"]
        if self.target is None:
            self.target = copy.deepcopy(student).requires_grad_(False)
        elif torch.is_grad_enabled():
            # The target follows the student with an exponential moving average (Song et al. 2023, Algorithm 2).
            with torch.no_grad():
                for target, online in zip(self.target.parameters(), student.parameters(), strict=True):
                    target.lerp_(online, 1.0 - c.target_decay)
        self.teacher.to(points.device)
        self.target.to(points.device)

        # Adjacent levels sigma_{n+1} > sigma_n of the Karras grid; one teacher Heun step between them.
        sigmas = karras_sigmas(c.distillation_steps, c.sigma_min, c.sigma_max).to(points)[:-1]
        index = torch.randint(0, len(sigmas) - 1, (len(points), 1), device=points.device)
        sigma_high, sigma_low = sigmas[index], sigmas[index + 1]
        noisy = points + sigma_high * torch.randn_like(points)
        with torch.no_grad():
            slope = (noisy - self._apply(self.teacher, sigma_high, noisy, conditions, "diffusion")) / sigma_high
            euler = noisy + (sigma_low - sigma_high) * slope
            slope_low = (euler - self._apply(self.teacher, sigma_low, euler, conditions, "diffusion")) / sigma_low
            previous = noisy + (sigma_low - sigma_high) * 0.5 * (slope + slope_low)
            target = self._apply(self.target, sigma_low, previous, conditions, "consistency")
        prediction = self._apply(student, sigma_high, noisy, conditions, "consistency")
        return ((prediction - target) ** 2).mean() / c.sigma_data**2

    # -- sampling -----------------------------------------------------------------------

    def default_sampler(self) -> Sampler:
        """Return "edm_heun" with ``heun_steps`` levels (stage "diffusion") or one-step "consistency"."""
        c = self.config
        if c.stage == "diffusion":
            return make_sampler("edm_heun", steps=c.heun_steps, sigma_min=c.sigma_min, sigma_max=c.sigma_max)
        return make_sampler("consistency", sigma_min=c.sigma_min, sigma_max=c.sigma_max)

    def sample(
        self,
        conditions: xr.Dataset,
        *,
        sampler: Sampler | None = None,
        batch_size: int = 1000,
        generator: torch.Generator | None = None,
        progress: bool = False,
        points_per_chunk: int | None = None,
    ) -> xr.Dataset:
        """Generate one point cloud per incident energy in ``conditions``.

        Arguments:
            conditions: Incident energies (MeV) as variable ``incident_energy`` (event).
            sampler: A "denoiser" sampler; default :meth:`default_sampler`.
            batch_size: Showers whose points are denoised together.
            generator: Random number generator of the initial noise (default: seed 0).
            progress: Show a progress bar over the batches.
            points_per_chunk: Points per network call inside a batch. The default ``None``
                uses :data:`CPU_POINTS_PER_CHUNK` on CPU and all points of the batch at once
                on other devices. Results do not depend on it beyond float rounding.

        Returns:
            A dataset with dims (event, point): x, z (mm), y (layer coordinate), energy (MeV),
            mask, plus incident_energy (MeV); ``attrs["nfe"]`` is the number of network
            evaluations per shower and ``attrs["provenance"]`` a JSON string.
        """
        self._require_prepared()
        incident = self.conditions(conditions)["incident_energy"].values
        sampler = sampler or self.default_sampler()
        require_parametrisation(sampler, "denoiser")
        device = next(self._network.parameters()).device
        generator = generator or torch.Generator(device=device).manual_seed(0)
        if points_per_chunk is None:
            points_per_chunk = CPU_POINTS_PER_CHUNK if device.type == "cpu" else None
        elif isinstance(points_per_chunk, bool) or not isinstance(points_per_chunk, int) or points_per_chunk < 1:
            raise KissError(
                "Invalid chunk size", where="points_per_chunk", expected="an integer >= 1 or None",
                got=repr(points_per_chunk),
            )

        blocks, nfe = [], 0
        was_training = self._network.training
        self._network.eval()
        with torch.no_grad():
            for start in tqdm(
                range(0, len(incident), batch_size), desc="CaloClouds II", unit="batch", disable=not progress
            ):
                block, nfe = self._sample_block(
                    incident[start : start + batch_size], sampler, generator, device, points_per_chunk
                )
                blocks.append(block)
        self._network.train(was_training)

        width = max(block.shape[1] for block in blocks)
        points = np.concatenate([np.pad(block, ((0, 0), (0, width - block.shape[1]), (0, 0))) for block in blocks])
        mask = points[..., 3] > 0
        provenance = {
            "generator": "calo.caloclouds2",
            "config": asdict(self.config),
            "sampler": getattr(sampler, "name", type(sampler).__name__),
            "nfe": nfe,
        }
        return xr.Dataset(
            {name: (("event", "point"), points[..., i]) for i, name in enumerate(POINT_FEATURES)}
            | {"mask": (("event", "point"), mask), "incident_energy": ("event", incident, {"units": "MeV"})},
            attrs={"provenance": json.dumps(provenance), "nfe": nfe},
        )

    def _sample_block(
        self,
        incident: np.ndarray,
        sampler: Sampler,
        generator: torch.Generator,
        device: torch.device,
        points_per_chunk: int | None,
    ) -> tuple[np.ndarray, int]:
        c = self.config
        log_energy = torch.as_tensor(self._log_energy(incident), dtype=torch.float32, device=device).unsqueeze(1)
        shower = self._network["flow"](log_energy).sample().cpu().numpy().astype(np.float64)
        shower = shower * self.scales["shower_std"] + self.scales["shower_mean"]
        n_points = np.clip(np.round(np.exp(shower[:, 0])), 1, c.max_points).astype(np.int64)

        # Points of all showers in the block form one flat batch for the sampler.
        # The network evaluates that batch in chunks (see CPU_POINTS_PER_CHUNK).
        event = np.repeat(np.arange(len(incident)), n_points)
        per_point = self._condition_tensor(incident, n_points).to(device)[torch.as_tensor(event, device=device)]
        noise = torch.randn(len(event), len(POINT_FEATURES), generator=generator, device=device) * c.sigma_max
        result = sampler.sample(
            lambda sigma, x: self._denoise_in_chunks(sigma, x, per_point, points_per_chunk), noise
        )
        local = (
            result.samples.cpu().numpy().astype(np.float64) / c.sigma_data * self.scales["point_std"]
            + self.scales["point_mean"]
        )

        points = np.zeros((len(incident), int(n_points.max()), len(POINT_FEATURES)))
        slot = np.arange(len(event)) - np.repeat(np.cumsum(n_points) - n_points, n_points)
        energy = np.exp(np.clip(local[:, 3], -50.0, 50.0))
        visible = np.exp(shower[:, 1]) * incident
        energy *= (visible / np.bincount(event, energy, minlength=len(incident)))[event]
        points[event, slot, 0] = local[:, 0] + shower[event, 2]
        # NOTE: points generated outside [0, n_layers) are clipped into the first or last layer. A model
        # trained for 10 minutes on a CPU put 0.4 % of the energy of 10-90 GeV showers below layer 0,
        # about half of its excess there. Dropping such points before the energy rescaling may be better.
        points[event, slot, 1] = np.clip(local[:, 1], 0.0, math.nextafter(c.n_layers, 0.0))
        points[event, slot, 2] = local[:, 2] + shower[event, 3]
        points[event, slot, 3] = energy
        return points, result.nfe

    # -- projection and state -----------------------------------------------------------

    @staticmethod
    def to_cells(samples: xr.Dataset, geometry) -> np.ndarray:
        """Project generated point clouds onto the cells of ``geometry``; returns (event, cell) energies in MeV."""
        from kiss_calo.geometry import project_point_clouds

        energy = samples["energy"].values * samples["mask"].values if "mask" in samples else samples["energy"].values
        points = np.stack([samples["x"].values, samples["y"].values, samples["z"].values, energy], axis=1)
        return project_point_clouds(points, geometry)

    def extra_state(self) -> dict[str, Any]:
        """Return the normalisation constants (lists and floats)."""
        return {"scales": copy.deepcopy(self.scales)}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        """Restore the normalisation constants."""
        self.scales = copy.deepcopy(state["scales"])
