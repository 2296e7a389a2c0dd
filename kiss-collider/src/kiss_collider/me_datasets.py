"""The partonic process g g -> (n - 2) g at fixed centre-of-mass energy, and a dataset of its matrix elements.

A sample is an :class:`xarray.Dataset` with

- ``momenta`` (event, particle, component): two incoming gluons, then the outgoing ones,
  components (E, px, py, pz) in GeV;
- ``matrix_element_squared`` (event): spin- and colour-averaged |M|^2 in GeV^(8 - 2n);

and the process (n_gluons, sqrt_s_gev, cuts, alpha_s) in ``attrs["provenance"]``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import xarray as xr
from tqdm.auto import tqdm

from kiss_collider.amplitudes.berends_giele import GluonMatrixElement
from kiss_collider.phasespace import Cuts, PhaseSpace, incoming_momenta
from kiss_core.errors import KissError
from kiss_core.interfaces import Dataset

__all__ = ["GEV_MINUS2_TO_PB", "GluonProcess", "GluonScatteringDataset"]

#: Conversion of GeV^-2 to pb, (hbar c)^2 = 0.3893793721 GeV^2 mb (PDG 2022, physical constants).
GEV_MINUS2_TO_PB = 0.3893793721e9

COMPONENTS = ("E", "px", "py", "pz")


class GluonProcess:
    """The partonic cross section of g g -> (n - 2) g as an integrand on the unit hypercube.

    sigma = 1 / (2 s) * 1 / (n - 2)! * int dPhi_(n-2) |M|^2 inside the cuts, in pb. Points
    outside the cuts get weight zero without evaluating the matrix element, because the tree
    amplitudes diverge in the soft and collinear limits that the cuts remove.

    Arguments:
        n_gluons: Total number of gluons n, 4..8.
        sqrt_s_gev: Partonic centre-of-mass energy in GeV.
        cuts: Generation cuts on the outgoing gluons; they must exclude soft and collinear regions.
        alpha_s: Strong coupling (fixed, no running).
    """

    def __init__(self, n_gluons: int, sqrt_s_gev: float = 1000.0, cuts: Cuts | None = None,
                 alpha_s: float = 0.118) -> None:
        cuts = Cuts(pt_min_gev=50.0, max_abs_rapidity=2.5, min_delta_r=0.4) if cuts is None else cuts
        if cuts.pt_min_gev <= 0 or cuts.min_delta_r <= 0:
            raise KissError(
                "Cuts do not regulate the soft and collinear poles",
                where="cuts",
                expected="pt_min_gev > 0 and min_delta_r > 0",
                got=repr(cuts),
                hint="tree-level gluon matrix elements are infinite without a pt and a Delta R cut",
            )
        self.matrix_element = GluonMatrixElement(n_gluons, alpha_s)
        self.phase_space = PhaseSpace(n_gluons - 2, sqrt_s_gev, cuts)
        self.n_gluons = n_gluons
        self.sqrt_s_gev = float(sqrt_s_gev)
        self.cuts = cuts
        self.alpha_s = float(alpha_s)

    @property
    def dimension(self) -> int:
        """Number of hypercube dimensions, 3 (n - 2) - 4."""
        return self.phase_space.dimension

    @property
    def weight_per_matrix_element(self) -> float:
        """Factor from |M|^2 to the event weight in pb: flux, symmetry factor and the constant phase-space weight."""
        return self._flux_symmetry_pb * self.phase_space.volume

    @property
    def _flux_symmetry_pb(self) -> float:
        flux = 1 / (2 * self.sqrt_s_gev**2)
        return flux * self.matrix_element.symmetry_factor * GEV_MINUS2_TO_PB

    def provenance(self) -> dict:
        """Return the process definition as JSON-serialisable data."""
        return {
            "process": f"g g -> {self.n_gluons - 2} g",
            "n_gluons": self.n_gluons,
            "sqrt_s_gev": self.sqrt_s_gev,
            # JSON has no infinity, so an absent cut is stored as null.
            "cuts": {k: (None if math.isinf(v) else v) for k, v in dataclasses.asdict(self.cuts).items()},
            "alpha_s": self.alpha_s,
            "colour": "leading colour" if self.n_gluons > 5 else "full colour (leading colour is exact)",
        }

    def full_momenta(self, outgoing: torch.Tensor) -> torch.Tensor:
        """Prepend the incoming beams to outgoing momenta (events, n - 2, 4)."""
        beams = incoming_momenta(self.sqrt_s_gev, outgoing.shape[0], dtype=outgoing.dtype)
        return torch.cat([beams, outgoing], 1)

    def __call__(self, r: torch.Tensor) -> torch.Tensor:
        """Return the cross-section weight in pb (events,) of hypercube points (events, dimension)."""
        outgoing, phase_space_weight = self.phase_space.map(r)
        passes = self.phase_space.cuts.passes(outgoing)
        weight = torch.zeros(r.shape[0], dtype=torch.float64)
        if passes.any():
            squared = self.matrix_element(self.full_momenta(outgoing[passes]))
            weight[passes] = squared * phase_space_weight[passes] * self._flux_symmetry_pb
        return weight


@dataclass(frozen=True)
class GluonScatteringConfig:
    """Options of :class:`GluonScatteringDataset`.

    Arguments:
        n_gluons: Total number of gluons n, 4..8.
        sqrt_s_gev: Partonic centre-of-mass energy in GeV.
        pt_min_gev: Minimum transverse momentum of each outgoing gluon in GeV.
        max_abs_rapidity: Maximum absolute rapidity of each outgoing gluon.
        min_delta_r: Minimum Delta R between two outgoing gluons.
        alpha_s: Strong coupling.
    """

    n_gluons: int = 5
    sqrt_s_gev: float = 1000.0
    pt_min_gev: float = 50.0
    max_abs_rapidity: float = 2.5
    min_delta_r: float = 0.4
    alpha_s: float = 0.118


class GluonScatteringDataset(Dataset):
    """Phase-space points of g g -> (n - 2) g, uniform inside the cuts, with their exact |M|^2.

    Example:
        >>> data = GluonScatteringDataset(GluonScatteringDataset.Config(n_gluons=4)).load(1000, seed=1)
        >>> data["matrix_element_squared"].mean()
    """

    Config = GluonScatteringConfig

    def process(self) -> GluonProcess:
        """Build the process this dataset samples."""
        c = self.config
        cuts = Cuts(pt_min_gev=c.pt_min_gev, max_abs_rapidity=c.max_abs_rapidity, min_delta_r=c.min_delta_r)
        return GluonProcess(c.n_gluons, c.sqrt_s_gev, cuts, c.alpha_s)

    def load(self, n_events: int, *, seed: int, progress: bool = False, chunk_size: int = 1000) -> xr.Dataset:
        """Draw ``n_events`` points uniformly inside the cuts and evaluate |M|^2 for each."""
        process = self.process()
        generator = torch.Generator().manual_seed(seed)
        outgoing, _, cut_fraction = process.phase_space.sample(n_events, generator=generator)
        momenta = process.full_momenta(outgoing)
        squared = torch.empty(n_events, dtype=torch.float64)
        for start in tqdm(range(0, n_events, chunk_size), desc="matrix elements", disable=not progress):
            squared[start:start + chunk_size] = process.matrix_element(momenta[start:start + chunk_size])
        provenance = process.provenance() | {"seed": seed, "cut_fraction": cut_fraction,
                                             "phase_space_volume": process.phase_space.volume}
        return _to_dataset(momenta.numpy(), squared.numpy(), provenance)

    def read(self, path: Path) -> xr.Dataset:
        """Read a netCDF file written by :meth:`write` and validate it."""
        path = Path(path)
        if not path.is_file():
            raise KissError("Matrix-element file not found", where=str(path), hint="check the path")
        with xr.open_dataset(path, engine="h5netcdf") as opened:
            data = opened.load()
        n = self.config.n_gluons
        for name, dims in (("momenta", ("event", "particle", "component")), ("matrix_element_squared", ("event",))):
            if name not in data or data[name].dims != dims:
                raise KissError("Invalid matrix-element file", where=f"{path}:{name}",
                                expected=f"variable with dims {dims}",
                                got=repr(data[name].dims) if name in data else "missing")
        if data.sizes["particle"] != n:
            raise KissError("Matrix-element file contains another process", where=str(path),
                            expected=f"{n} gluons", got=f"{data.sizes['particle']} particles",
                            hint="set n_gluons to the process of the file")
        squared = data["matrix_element_squared"].values
        n_bad = int((~np.isfinite(squared)).sum() + (squared < 0).sum())
        if n_bad:
            raise KissError("Invalid matrix elements", where=f"{path}:matrix_element_squared",
                            expected="finite values >= 0", got=f"{n_bad} invalid of {squared.size}")
        return data

    def write(self, samples: xr.Dataset, path: Path) -> None:
        """Write samples as netCDF4 to ``path`` atomically."""
        write_netcdf_atomically(samples, Path(path))


def write_netcdf_atomically(samples: xr.Dataset, path: Path) -> None:
    """Write a dataset to a temporary file in the target folder, then rename it to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        samples.to_netcdf(temporary, engine="h5netcdf")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _to_dataset(momenta: np.ndarray, squared: np.ndarray, provenance: dict) -> xr.Dataset:
    n_gluons = momenta.shape[1]
    return xr.Dataset(
        {
            "momenta": (("event", "particle", "component"), momenta, {"units": "GeV"}),
            "matrix_element_squared": (("event",), squared, {"units": f"GeV^{8 - 2 * n_gluons}"}),
        },
        coords={"component": list(COMPONENTS)},
        attrs={"provenance": json.dumps(provenance)},
    )
