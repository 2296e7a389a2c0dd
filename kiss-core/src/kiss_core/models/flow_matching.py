"""Conditional flow matching for tabular samples (one vector per event)."""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import xarray as xr
from torch import nn

from kiss_core.errors import KissError
from kiss_core.interfaces import Generator, Sampler

__all__ = ["TabularFlowMatching"]

MODEL_NAME = "core.flow_matching"


class _VelocityNetwork(nn.Module):
    """An MLP v(t, x) with the time appended to the input."""

    def __init__(self, dimension: int, hidden: int, layers: int) -> None:
        super().__init__()
        sizes = [dimension + 1] + [hidden] * layers
        blocks: list[nn.Module] = []
        for size_in, size_out in zip(sizes[:-1], sizes[1:], strict=True):
            blocks += [nn.Linear(size_in, size_out), nn.SiLU()]
        blocks.append(nn.Linear(sizes[-1], dimension))
        self.net = nn.Sequential(*blocks)

    def forward(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        time = t.expand(x.shape[0]) if t.dim() == 0 else t
        return self.net(torch.cat([x, time[:, None].to(x.dtype)], dim=1))


class TabularFlowMatching(Generator):
    """Flow matching for samples stored as a variable ``x`` with dims (event, feature).

    Trains a velocity field on the linear interpolant x_t = (1 - t) x0 + t x1 between Gaussian
    noise x0 and standardised data x1 (Lipman et al., "Flow Matching for Generative Modeling",
    ICLR 2023, arXiv:2210.02747) and samples by integrating dx/dt = v(t, x) from t = 0 to 1.

    Arguments:
        config: :class:`TabularFlowMatching.Config`.

    Example:
        >>> generator = TabularFlowMatching()
        >>> tensors = generator.prepare(samples)  # samples["x"] has dims (event, feature)
    """

    @dataclass(frozen=True)
    class Config:
        """Options of :class:`TabularFlowMatching`.

        Arguments:
            variable: Name of the data variable to model.
            hidden: Width of the hidden layers.
            layers: Number of hidden layers.
            solver: Default sampler name.
            steps: Default number of solver steps.
        """

        variable: str = "x"
        hidden: int = 64
        layers: int = 3
        solver: str = "midpoint"
        steps: int = 20

    def __init__(self, config: Config | None = None) -> None:
        super().__init__(config)
        self._default_sampler()  # rejects an unknown solver before any training
        self._network: _VelocityNetwork | None = None
        self._mean: torch.Tensor | None = None
        self._scale: torch.Tensor | None = None
        self._features: list[str] = []

    @property
    def network(self) -> nn.Module:
        if self._network is None:
            raise RuntimeError("the network is built by prepare() or load_extra_state()")
        return self._network

    def prepare(self, data: xr.Dataset) -> dict[str, torch.Tensor]:
        values = self._values(data)
        self._mean = torch.as_tensor(values.mean(axis=0), dtype=torch.float32)
        self._scale = torch.as_tensor(values.std(axis=0), dtype=torch.float32).clamp_min(1e-8)
        variable = data[self.config.variable]
        if "feature" in variable.coords:
            self._features = [str(feature) for feature in variable["feature"].values]
        else:
            self._features = [str(index) for index in range(values.shape[1])]
        self._build(values.shape[1])
        standardised = (torch.as_tensor(values, dtype=torch.float32) - self._mean) / self._scale
        return {"x": standardised}

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        data = batch["x"]
        noise = torch.randn_like(data)
        t = torch.rand(data.shape[0], device=data.device, dtype=data.dtype)
        x_t = (1 - t[:, None]) * noise + t[:, None] * data
        return ((self.network(t, x_t) - (data - noise)) ** 2).mean()

    def conditions(self, data: xr.Dataset) -> xr.Dataset:
        return xr.Dataset(coords={"event": np.arange(data.sizes["event"])})

    @torch.no_grad()
    def sample(
        self,
        conditions: xr.Dataset,
        *,
        sampler: Sampler | None = None,
        batch_size: int = 1000,
        generator: torch.Generator | None = None,
        progress: bool = False,
    ) -> xr.Dataset:
        from kiss_core.sampling import require_parametrisation, sample_in_batches

        sampler = sampler or self._default_sampler()
        require_parametrisation(sampler, "velocity")
        network = self.network.eval()
        device = next(network.parameters()).device
        # All noise is drawn up front, so the samples do not depend on the batch size.
        noise = torch.randn(conditions.sizes["event"], self._mean.numel(), generator=generator, device=device)
        result = sample_in_batches(sampler, network, noise, batch_size, generator=generator, progress=progress)
        values = (result.samples.cpu() * self._scale + self._mean).numpy()
        samples = xr.Dataset({self.config.variable: (("event", "feature"), values)}, coords={"feature": self._features})
        samples.attrs["provenance"] = json.dumps(
            {"generator": MODEL_NAME, "sampler": type(sampler).__name__, "nfe": result.nfe}
        )
        return samples

    def _default_sampler(self) -> Sampler:
        from kiss_core.sampling import SAMPLERS, make_sampler

        if self.config.solver not in SAMPLERS:
            return make_sampler(self.config.solver)  # raises, listing the known samplers
        accepts_steps = "steps" in inspect.signature(SAMPLERS[self.config.solver]).parameters
        return make_sampler(self.config.solver, **({"steps": self.config.steps} if accepts_steps else {}))

    def extra_state(self) -> dict[str, Any]:
        return {"model": MODEL_NAME, "mean": self._mean, "scale": self._scale, "features": self._features}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        if state.get("model") != MODEL_NAME:
            raise KissError("Checkpoint belongs to another model", expected=MODEL_NAME, got=str(state.get("model")))
        self._mean, self._scale, self._features = state["mean"], state["scale"], list(state["features"])
        self._build(self._mean.numel())

    def _build(self, dimension: int) -> None:
        self._network = _VelocityNetwork(dimension, self.config.hidden, self.config.layers)

    def _values(self, data: xr.Dataset) -> np.ndarray:
        name = self.config.variable
        if name not in data:
            raise KissError(
                "Missing variable",
                where=name,
                expected=f"a variable '{name}' with dims (event, feature)",
                got=", ".join(map(str, data.data_vars)) or "no variables",
            )
        variable = data[name]
        if variable.dims != ("event", "feature"):
            raise KissError("Wrong dimensions", where=name, expected="(event, feature)", got=str(variable.dims))
        values = np.asarray(variable.values, dtype=np.float64)
        if not np.isfinite(values).all():
            raise KissError("Non-finite values", where=name, expected="finite numbers", got="NaN or inf")
        return values
