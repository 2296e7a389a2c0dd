"""A neural surrogate of log |M|^2 with a calibrated per-event uncertainty, for g g -> (n - 2) g.

Inputs are the logarithms of the pair invariants s_ij / s of all gluons (the constant beam pair
left out). The outgoing gluons are first sorted by energy, so the prediction is exactly
symmetric under permutations of the identical final-state gluons. The network outputs a mean
and a log standard deviation and trains with the heteroscedastic Gaussian negative
log-likelihood, so its sigma estimates the error of each prediction.

References:
    K. Danziger, T. Janßen, S. Schumann, F. Siegert, arXiv:2109.11964 (surrogates of event
    weights for two-stage unweighting).
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import xarray as xr
from tqdm.auto import tqdm

from kiss_core.errors import KissError
from kiss_core.interfaces import Generator, Sampler

#: Registered name of the surrogate, stored in its checkpoints.
MODEL_NAME = "collider.me_surrogate"

__all__ = ["MatrixElementSurrogate", "MatrixElementSurrogateConfig", "invariant_features", "fit_surrogate"]

logger = logging.getLogger(__name__)

#: Lower bound on the predicted log standard deviation, exp(-7) ~ 1e-3 in log|M|^2, against a collapsing likelihood.
_MIN_LOG_SIGMA = -7.0


def invariant_features(momenta: torch.Tensor) -> torch.Tensor:
    """Return log(s_ij / s) for all gluon pairs except the beam pair, outgoing gluons sorted by energy.

    Arguments:
        momenta: (events, n, 4) in GeV, two incoming gluons first.

    Returns:
        (events, n (n - 1) / 2 - 1) features, invariant under permutations of the outgoing gluons.
    """
    incoming, outgoing = momenta[:, :2], momenta[:, 2:]
    order = torch.argsort(outgoing[..., 0], dim=1, descending=True)
    outgoing = torch.gather(outgoing, 1, order[..., None].expand(-1, -1, 4))
    ordered = torch.cat([incoming, outgoing], 1)
    metric = torch.tensor([1.0, -1.0, -1.0, -1.0], dtype=momenta.dtype, device=momenta.device)
    products = torch.einsum("eim,ejm,m->eij", ordered, ordered, metric)
    s = products[:, 0, 1] * 2
    n = momenta.shape[1]
    rows, columns = torch.triu_indices(n, n, offset=1)
    keep = ~((rows == 0) & (columns == 1))
    pair_invariants = 2 * products[:, rows[keep], columns[keep]].abs()
    return torch.log(pair_invariants / s[:, None])


@dataclass(frozen=True)
class MatrixElementSurrogateConfig:
    """Options of :class:`MatrixElementSurrogate`.

    Arguments:
        n_gluons: Total number of gluons n of the process the surrogate learns, 4..8.
        hidden_features: Widths of the hidden layers.
    """

    n_gluons: int = 5
    hidden_features: tuple[int, ...] = (128, 128, 128)


class MatrixElementSurrogate(Generator):
    """A network that predicts log |M|^2 and its standard deviation from the gluon momenta.

    Example:
        >>> surrogate = MatrixElementSurrogate(MatrixElementSurrogate.Config(n_gluons=4))
        >>> tensors = surrogate.prepare(data)      # data from GluonScatteringDataset
        >>> fit_surrogate(surrogate, tensors, epochs=20)
        >>> mean, sigma = surrogate.predict(momenta)
    """

    Config = MatrixElementSurrogateConfig

    def __init__(self, config: MatrixElementSurrogateConfig | None = None) -> None:
        super().__init__(config)
        n = self.config.n_gluons
        if not isinstance(n, int) or not 4 <= n <= 8:
            raise KissError("Unsupported gluon multiplicity", where="n_gluons", expected="an integer 4..8",
                            got=repr(n))
        n_features = n * (n - 1) // 2 - 1
        layers: list[torch.nn.Module] = []
        width = n_features
        for hidden in self.config.hidden_features:
            layers += [torch.nn.Linear(width, hidden), torch.nn.SiLU()]
            width = hidden
        layers.append(torch.nn.Linear(width, 2))
        self._network = torch.nn.Sequential(*layers)
        self.feature_mean = torch.zeros(n_features)
        self.feature_std = torch.ones(n_features)
        self.target_mean = 0.0
        self.target_std = 1.0
        self.sigma_scale = 1.0

    @property
    def network(self) -> torch.nn.Module:
        """The multilayer perceptron from standardised features to (mean, log sigma)."""
        return self._network

    def prepare(self, data: xr.Dataset) -> dict[str, torch.Tensor]:
        """Fit the standardisation on training data and return ``features`` and ``target`` tensors."""
        self._check_process(data)
        squared = torch.as_tensor(data["matrix_element_squared"].values, dtype=torch.float64)
        n_invalid = int((~(squared > 0) | ~torch.isfinite(squared)).sum())
        if n_invalid:
            raise KissError("Invalid matrix elements for training", where="matrix_element_squared",
                            expected="finite values > 0", got=f"{n_invalid} invalid of {squared.numel()}",
                            hint="sample inside cuts that regulate the soft and collinear poles")
        features = invariant_features(torch.as_tensor(data["momenta"].values, dtype=torch.float64))
        target = torch.log(squared)
        self.feature_mean = features.mean(0).float()
        self.feature_std = features.std(0).clamp(min=1e-6).float()
        self.target_mean = float(target.mean())
        self.target_std = max(float(target.std()), 1e-6)
        return {
            "features": ((features.float() - self.feature_mean) / self.feature_std),
            "target": ((target - self.target_mean) / self.target_std).float(),
        }

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Return the mean Gaussian negative log-likelihood of the standardised target."""
        output = self._network(batch["features"])
        mean, log_sigma = output[:, 0], output[:, 1].clamp(min=_MIN_LOG_SIGMA)
        return (0.5 * ((batch["target"] - mean) * torch.exp(-log_sigma)) ** 2 + log_sigma).mean()

    def conditions(self, data: xr.Dataset) -> xr.Dataset:
        """Return the momenta of ``data``, the input of :meth:`sample`."""
        self._check_process(data)
        return data[["momenta"]]

    @torch.no_grad()
    def predict(self, momenta: torch.Tensor, *, batch_size: int = 100_000) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the predicted log |M|^2 (natural log of GeV^(8 - 2n)) and its standard deviation.

        Arguments:
            momenta: (events, n, 4) in GeV, two incoming gluons first.
        """
        n = self.config.n_gluons
        if momenta.ndim != 3 or momenta.shape[1:] != (n, 4):
            raise KissError("Momenta do not match the surrogate's process", where="momenta",
                            expected=f"(events, {n}, 4) for g g -> {n - 2} g", got=f"shape {tuple(momenta.shape)}")
        parameter = next(self._network.parameters())
        means, sigmas = [], []
        for start in range(0, momenta.shape[0], batch_size):
            features = invariant_features(momenta[start:start + batch_size].double()).float()
            features = ((features - self.feature_mean) / self.feature_std).to(parameter.device)
            output = self._network(features).double().cpu()
            means.append(output[:, 0] * self.target_std + self.target_mean)
            sigmas.append(torch.exp(output[:, 1].clamp(min=_MIN_LOG_SIGMA)) * self.target_std * self.sigma_scale)
        return torch.cat(means), torch.cat(sigmas)

    @torch.no_grad()
    def calibrate(self, tensors: dict[str, torch.Tensor]) -> None:
        """Scale the predicted sigma so that the pulls of held-out events have unit width.

        The Gaussian likelihood fits sigma more slowly than the mean, so after a short training
        sigma overestimates the error by up to a factor of 2; the trainer calls this method
        with its validation events before it saves the model.
        """
        parameter = next(self._network.parameters())
        output = self._network(tensors["features"].to(parameter.device)).cpu()
        sigma = torch.exp(output[:, 1].clamp(min=_MIN_LOG_SIGMA))
        pulls = (tensors["target"] - output[:, 0]) / sigma
        self.sigma_scale = float(pulls.std())
        logger.info("Calibrated the surrogate's sigma on %d held-out events: scale %.3f", len(pulls),
                    self.sigma_scale)

    def sample(self, conditions: xr.Dataset, *, sampler: Sampler | None = None, batch_size: int = 1000,
               generator: torch.Generator | None = None, progress: bool = False) -> xr.Dataset:
        """Predict log |M|^2 and its standard deviation for every event of ``conditions``.

        The prediction is deterministic, so ``sampler`` and ``generator`` are unused.
        """
        self._check_process(conditions)
        momenta = torch.as_tensor(conditions["momenta"].values, dtype=torch.float64)
        means, sigmas = [], []
        for start in tqdm(range(0, momenta.shape[0], batch_size), desc="surrogate", disable=not progress):
            mean, sigma = self.predict(momenta[start:start + batch_size])
            means.append(mean)
            sigmas.append(sigma)
        return xr.Dataset(
            {
                "log_matrix_element_squared": (("event",), torch.cat(means).numpy()),
                "log_matrix_element_squared_sigma": (("event",), torch.cat(sigmas).numpy()),
            },
            attrs={"provenance": json.dumps({"generator": MODEL_NAME, "n_gluons": self.config.n_gluons})},
        )

    def extra_state(self) -> dict[str, Any]:
        """Return the process and the standardisation constants."""
        return {
            "n_gluons": self.config.n_gluons,
            "feature_mean": self.feature_mean.tolist(),
            "feature_std": self.feature_std.tolist(),
            "target_mean": self.target_mean,
            "target_std": self.target_std,
            "sigma_scale": self.sigma_scale,
        }

    def load_extra_state(self, state: dict[str, Any]) -> None:
        """Restore the standardisation; reject a state trained for another process."""
        if state.get("n_gluons") != self.config.n_gluons:
            raise KissError(
                "Surrogate was trained for another process",
                where="n_gluons",
                expected=f"g g -> {self.config.n_gluons - 2} g",
                got=f"a surrogate of {state.get('n_gluons')} gluons",
                hint="train a surrogate for this process or set n_gluons to match the checkpoint",
            )
        self.feature_mean = torch.tensor(state["feature_mean"], dtype=torch.float32)
        self.feature_std = torch.tensor(state["feature_std"], dtype=torch.float32)
        self.target_mean = float(state["target_mean"])
        self.target_std = float(state["target_std"])
        self.sigma_scale = float(state.get("sigma_scale", 1.0))

    def config_dict(self) -> dict[str, Any]:
        """Return the config with tuples as lists (JSON)."""
        return {"n_gluons": self.config.n_gluons, "hidden_features": list(self.config.hidden_features)}

    def _check_process(self, data: xr.Dataset) -> None:
        if "momenta" not in data:
            raise KissError("Missing momenta", where="data",
                            expected="a 'momenta' variable (event, particle, component)",
                            got=f"variables {sorted(data.data_vars)}")
        n_particles = data.sizes.get("particle")
        if n_particles != self.config.n_gluons:
            raise KissError("Data hold another process than the surrogate", where="momenta",
                            expected=f"{self.config.n_gluons} gluons", got=f"{n_particles} particles")


def fit_surrogate(surrogate: MatrixElementSurrogate, tensors: dict[str, torch.Tensor], *, epochs: int = 50,
                  batch_size: int = 256, learning_rate: float = 2e-3, seed: int = 0, progress: bool = False,
                  checkpoints: Path | None = None) -> dict[str, float]:
    """Train a prepared surrogate with the core trainer and return its final losses.

    ``kiss train me_surrogate`` does the same through a run directory; this function serves the
    ``kiss me unweight`` command and the benchmarks. Checkpoints go to ``checkpoints``, or to a
    temporary folder that is removed afterwards.

    Returns:
        ``training_loss`` and ``validation_loss`` of the last epoch.
    """
    from kiss_core.training import TrainConfig, train

    config = TrainConfig(epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, ema_decay=0.0)
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(checkpoints) if checkpoints is not None else Path(temporary)
        summary = train(surrogate, tensors, config, checkpoints=folder, generator_name=MODEL_NAME, seed=seed,
                        device=next(surrogate.network.parameters()).device, progress=progress)
    last = summary["history"][-1]
    return {"training_loss": last["train_loss"], "validation_loss": last["validation_loss"]}
