"""Jet datasets: Pythia 8 + FastJet jets made with the JetNet recipe, and JetNet HDF5 files.

Both read and write the JetNet HDF5 layout (see :mod:`kiss_collider.io.jetnet`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from kiss_collider.io.jetnet import read_jetnet, write_jetnet
from kiss_collider.simulators.pythia_jets import (
    DEFAULT_CHUNK_SIZE,
    DEFAULT_JET_PT_WINDOW_GEV,
    DEFAULT_MAX_ABS_ETA,
    DEFAULT_PT_HAT_WINDOW_GEV,
    JET_CLASSES,
    simulate_jets,
)
from kiss_core.errors import KissError
from kiss_core.interfaces import Dataset

__all__ = ["JetNetFile", "PythiaJets", "concatenate_jet_classes"]


class _JetNetLayout(Dataset):
    """Jets stored in the JetNet HDF5 layout, evaluated with the JetNet metrics."""

    default_metrics = ("collider.w1m", "collider.w1p", "collider.efp")

    def read(self, path: Path) -> xr.Dataset:
        """Read jets from a JetNet HDF5 file."""
        return read_jetnet(path)

    def write(self, samples: xr.Dataset, path: Path) -> None:
        """Write jets to a JetNet HDF5 file, atomically."""
        write_jetnet(samples, path)

    def histograms(self, reference: xr.Dataset, candidate: xr.Dataset) -> list:
        """Return relative mass, constituent features, multiplicity and constituent-sum pT histograms."""
        from kiss_collider.metrics.jets import jet_histograms

        return jet_histograms(reference, candidate)


class PythiaJets(_JetNetLayout):
    """Jets of about 1 TeV simulated with Pythia 8 and clustered with FastJet (JetNet recipe).

    The hard process, jet selection and constituent features are described in
    :mod:`kiss_collider.simulators.pythia_jets`.

    Arguments:
        config: A :class:`PythiaJets.Config`; ``None`` uses the defaults.

    Example:
        >>> jets = PythiaJets(PythiaJets.Config(jet_classes=("g", "t"), workers=2)).load(1000, seed=7)
        >>> jets.jet_class.attrs["classes"]
        ['g', 't']

    References:
        R. Kansal et al., NeurIPS 2021, https://arxiv.org/abs/2106.11535 (JetNet).
    """

    @dataclass(frozen=True)
    class Config:
        """Options of :class:`PythiaJets`.

        Arguments:
            jet_classes: Classes to simulate, out of "g", "q", "t", "w", "z".
            n_particles: Constituents kept per jet, highest pT first (JetNet keeps 30).
            workers: Worker processes; ``None`` uses every available core.
            pt_hat_window_gev: Range of the hard-process pT in GeV.
            jet_pt_window_gev: Range of the kept jet's pT in GeV.
            max_abs_eta: Largest kept jet |pseudorapidity|.
            chunk_size: Jets per independently seeded chunk.
        """

        jet_classes: tuple[str, ...] = ("g", "q", "t")
        n_particles: int = 30
        workers: int | None = None
        pt_hat_window_gev: tuple[float, float] = DEFAULT_PT_HAT_WINDOW_GEV
        jet_pt_window_gev: tuple[float, float] = DEFAULT_JET_PT_WINDOW_GEV
        max_abs_eta: float = DEFAULT_MAX_ABS_ETA
        chunk_size: int = DEFAULT_CHUNK_SIZE

    def load(self, n_events: int, *, seed: int, progress: bool = False) -> xr.Dataset:
        """Simulate ``n_events`` jets split evenly across the configured classes.

        The first ``n_events % len(jet_classes)`` classes get one jet more. Each class draws
        from its own seeds, so adding a class does not change the jets of the others.
        """
        classes = tuple(self.config.jet_classes)
        if not classes or len(set(classes)) != len(classes):
            raise KissError(
                "Invalid jet_classes", where="PythiaJets.Config.jet_classes",
                expected=f"distinct names out of {', '.join(JET_CLASSES)}", got=repr(classes),
            )
        if isinstance(n_events, bool) or not isinstance(n_events, int) or n_events < len(classes):
            raise KissError(
                "Invalid number of events", where="n_events",
                expected=f"an integer >= {len(classes)} (one jet per class)", got=repr(n_events),
            )

        counts = [n_events // len(classes) + (index < n_events % len(classes)) for index in range(len(classes))]
        parts = [
            simulate_jets(
                count,
                jet_class,
                seed=seed,
                workers=self.config.workers,
                n_particles=self.config.n_particles,
                progress=progress,
                pt_hat_window_gev=self.config.pt_hat_window_gev,
                jet_pt_window_gev=self.config.jet_pt_window_gev,
                max_abs_eta=self.config.max_abs_eta,
                chunk_size=self.config.chunk_size,
            )
            for jet_class, count in zip(classes, counts, strict=True)
        ]
        jets = concatenate_jet_classes(parts)
        jets.attrs["provenance"] = json.dumps(
            {
                "dataset": "PythiaJets",
                "config": asdict(self.config),
                "seed": seed,
                "classes": [json.loads(part.attrs["provenance"]) for part in parts],
            }
        )
        return jets



class JetNetFile(_JetNetLayout):
    """Jets read from a JetNet HDF5 file, such as g.hdf5 or t150.hdf5 from Zenodo.

    Arguments:
        config: A :class:`JetNetFile.Config` naming the file.

    Example:
        >>> jets = JetNetFile(JetNetFile.Config(path="g.hdf5")).load(10_000, seed=0)

    References:
        JetNet on Zenodo: https://zenodo.org/records/6975118 (30 particles) and
        https://zenodo.org/records/6975117 (150 particles).
    """

    @dataclass(frozen=True)
    class Config:
        """Options of :class:`JetNetFile`.

        Arguments:
            path: The JetNet HDF5 file.
            jet_class: Class name for a file without a ``jet_class`` dataset; ``None`` takes
                it from the file name.
        """

        path: str | None = None
        jet_class: str | None = None

    def load(self, n_events: int, *, seed: int, progress: bool = False) -> xr.Dataset:
        """Read the first ``n_events`` jets of the configured file.

        The jets are taken in file order, so ``seed`` changes nothing; it exists for the
        common dataset interface.
        """
        if self.config.path is None:
            raise KissError(
                "No JetNet file configured", where="JetNetFile.Config.path",
                expected="the path of a JetNet HDF5 file", got="None",
            )
        if isinstance(n_events, bool) or not isinstance(n_events, int) or n_events < 1:
            raise KissError("Invalid number of events", where="n_events", expected="an integer >= 1", got=repr(n_events))
        return read_jetnet(self.config.path, stop=n_events, jet_class=self.config.jet_class)

    def read(self, path: Path) -> xr.Dataset:
        """Read jets from a JetNet HDF5 file."""
        return read_jetnet(path, jet_class=self.config.jet_class)


def concatenate_jet_classes(parts: list[xr.Dataset]) -> xr.Dataset:
    """Join jet samples along ``event``, recoding ``jet_class`` to the union of their classes.

    The class list keeps the order of first appearance. Provenance is taken from the first
    part; callers that join different sources should set their own.
    """
    classes: list[str] = []
    for part in parts:
        for name in part["jet_class"].attrs["classes"]:
            if name not in classes:
                classes.append(name)

    recoded = []
    for part in parts:
        lookup = np.array([classes.index(name) for name in part["jet_class"].attrs["classes"]], dtype=np.int64)
        part = part.copy()
        part["jet_class"] = ("event", lookup[part["jet_class"].values])
        recoded.append(part)

    joined = xr.concat(recoded, dim="event", data_vars="all", combine_attrs="override")
    joined["jet_class"].attrs["classes"] = classes
    return joined
