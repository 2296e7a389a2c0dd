"""Calorimeter geometries: CaloChallenge cylindrical binning and planar square-cell layers.

Both geometries number their cells (voxels) from 0 to ``n_cells - 1``, give per-cell coordinates
as an :class:`xarray.Dataset` along a ``cell`` dimension, and fill cells from energy deposits
with :meth:`deposit`, which the classical simulators and the point-cloud projection share.

Coordinates are transverse to the shower axis, in mm, with the axis at ``x = y = 0``.
"""

from __future__ import annotations

import logging
import math
import xml.etree.ElementTree as ElementTree
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import xarray as xr

from kiss_core.errors import KissError, UnknownNameError
from kiss_core.interfaces import Geometry

__all__ = [
    "CALOCLOUDS_CELL_SIZE_MM",
    "CALOCLOUDS_LAYER_DEPTHS_MM",
    "OFFICIAL_GEOMETRIES",
    "CaloChallengeGeometry",
    "CaloChallengeLayer",
    "PlanarGeometry",
    "dataset_1_photons",
    "dataset_1_pions",
    "dataset_2",
    "dataset_3",
    "load_geometry",
    "project_point_clouds",
]

logger = logging.getLogger(__name__)

#: Short names of the shipped CaloChallenge binnings: (XML file in kiss_calo/data, particle name).
OFFICIAL_GEOMETRIES: dict[str, tuple[str, str]] = {
    "ds1-photons": ("binning_dataset_1_photons.xml", "photon"),
    "ds1-pions": ("binning_dataset_1_pions.xml", "pion"),
    "ds2": ("binning_dataset_2.xml", "electron"),
    "ds3": ("binning_dataset_3.xml", "electron"),
}

#: Cell pitch of the ILD-like Si-W ECAL used by CaloClouds and CaloClouds II, in mm
#: (``half_cell_size * 2`` in utils/plotting.py of github.com/FLC-QU-hep/CaloClouds-2).
CALOCLOUDS_CELL_SIZE_MM = 5.0883331298828125

#: Depth of the bottom of each of the 30 sensitive layers, in mm, relative to the first one.
#: Computed from ``layer_bottom_pos`` (ILD global y, first value 1811.34 mm) in
#: utils/plotting.py of github.com/FLC-QU-hep/CaloClouds-2. The uneven spacing is the ILD ECAL
#: stack: 20 layers behind thin tungsten absorbers, then 10 behind thick ones.
CALOCLOUDS_LAYER_DEPTHS_MM: tuple[float, ...] = tuple(
    round(position - 1811.34020996, 5)
    for position in (
        1811.34020996, 1814.46508789, 1823.81005859, 1826.93505859, 1836.2800293,
        1839.4050293, 1848.75, 1851.875, 1861.2199707, 1864.3449707,
        1873.68994141, 1876.81494141, 1886.16003418, 1889.28503418, 1898.63000488,
        1901.75500488, 1911.09997559, 1914.22497559, 1923.56994629, 1926.69494629,
        1938.14001465, 1943.36499023, 1954.81005859, 1960.03503418, 1971.47998047,
        1976.70495605, 1988.15002441, 1993.375, 2004.81994629, 2010.04504395,
    )
)


@dataclass(frozen=True)
class CaloChallengeLayer:
    """The binning of one CaloChallenge layer.

    Arguments:
        r_edges_mm: Radial bin edges in mm, increasing from 0; ``(0.0,)`` marks an empty layer.
        n_alpha: Number of equal angular bins over the full circle.
    """

    r_edges_mm: tuple[float, ...]
    n_alpha: int

    @property
    def n_r(self) -> int:
        """Number of radial bins (0 for an empty layer)."""
        return len(self.r_edges_mm) - 1

    @property
    def n_voxels(self) -> int:
        """Number of voxels in the layer."""
        return self.n_r * self.n_alpha

    @property
    def r_centres_mm(self) -> np.ndarray:
        """Radial bin centres in mm."""
        edges = np.asarray(self.r_edges_mm)
        return 0.5 * (edges[:-1] + edges[1:])

    @property
    def alpha_centres(self) -> np.ndarray:
        """Angular bin centres in radians.

        The bins split [-pi, pi] into ``n_alpha`` equal parts, as ``XMLHandler.py`` of the
        official CaloChallenge evaluation code does, so a layer with one angular bin has its
        centre at alpha = 0 (eta = r, phi = 0).
        """
        edges = np.linspace(-math.pi, math.pi, self.n_alpha + 1)
        return 0.5 * (edges[:-1] + edges[1:])


class _DepositingGeometry(Geometry):
    """Shared code of geometries that bin (layer, x, y) deposits into cells."""

    def _cell_index(self, layer: np.ndarray, x_mm: np.ndarray, y_mm: np.ndarray) -> np.ndarray:
        """Return the cell of each deposit, or -1 where it falls outside the grid."""
        raise NotImplementedError

    def deposit(
        self,
        event: np.ndarray,
        layer: np.ndarray,
        x_mm: np.ndarray,
        y_mm: np.ndarray,
        energy_mev: np.ndarray,
        n_events: int,
        *,
        return_dropped: bool = False,
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Sum energy deposits into cells.

        Deposits outside the grid (beyond the last radial edge, in an empty layer, in a layer
        index outside ``0 .. n_layers - 1``) are dropped. Their total is logged at DEBUG level
        and, with ``return_dropped``, returned per event.

        Arguments:
            event: Event index of each deposit, integers in ``0 .. n_events - 1``.
            layer: Layer index of each deposit (integers).
            x_mm: First transverse coordinate in mm, shower axis at 0.
            y_mm: Second transverse coordinate in mm, shower axis at 0.
            energy_mev: Deposited energy in MeV.
            n_events: Number of events (rows of the result).
            return_dropped: Also return the energy dropped per event.

        Returns:
            The cell energies in MeV, shape ``(n_events, n_cells)``, float64; with
            ``return_dropped`` also the dropped energy per event in MeV, shape ``(n_events,)``.

        Example:
            >>> geometry = CaloChallengeGeometry.official("ds2")
            >>> cells = geometry.deposit(np.array([0]), np.array([3]), np.array([1.0]),
            ...                          np.array([0.5]), np.array([10.0]), n_events=1)
            >>> float(cells.sum())
            10.0
        """
        event = np.asarray(event).astype(np.int64, copy=False).ravel()
        layer = np.asarray(layer).astype(np.int64, copy=False).ravel()
        x_mm = np.asarray(x_mm, dtype=np.float64).ravel()
        y_mm = np.asarray(y_mm, dtype=np.float64).ravel()
        energy_mev = np.asarray(energy_mev, dtype=np.float64).ravel()
        lengths = {len(event), len(layer), len(x_mm), len(y_mm), len(energy_mev)}
        if len(lengths) != 1:
            raise ValueError(f"deposit arrays must have equal lengths, got lengths {sorted(lengths)}")
        if len(event) and (event.min() < 0 or event.max() >= n_events):
            raise ValueError(f"event indices must lie in 0 .. {n_events - 1}, got {event.min()} .. {event.max()}")

        cell = self._cell_index(layer, x_mm, y_mm)
        inside = cell >= 0
        flat = event[inside] * self.n_cells + cell[inside]
        cells = np.bincount(flat, weights=energy_mev[inside], minlength=n_events * self.n_cells)
        cells = cells.reshape(n_events, self.n_cells)

        dropped = np.bincount(event[~inside], weights=energy_mev[~inside], minlength=n_events)
        if len(event):
            logger.debug(
                "deposited %.6g MeV into cells, dropped %.6g MeV outside the grid (%d of %d deposits)",
                cells.sum(), dropped.sum(), int((~inside).sum()), len(event),
            )
        if return_dropped:
            return cells, dropped
        return cells


class CaloChallengeGeometry(_DepositingGeometry):
    """The cylindrical voxel binning of the Fast Calorimeter Simulation Challenge 2022.

    Each layer is split into radial bins (edges from the binning XML) and equal angular bins.
    Voxels are ordered with the radial bin fastest, then the angular bin, then the layer, which
    is the column order of ``showers`` in the CaloChallenge HDF5 files. Each voxel has the
    coordinates of ``XMLHandler.py`` of the official evaluation code: its layer, the centre of
    its radial bin ``r`` (mm) and of its angular bin ``alpha`` (radians, bins over [-pi, pi]),
    ``eta = r cos(alpha)`` and ``phi = r sin(alpha)``. Despite their names, eta and phi are
    transverse positions in mm, not pseudorapidity and azimuth.

    References:
        Krause et al., "CaloChallenge 2022: A Community Challenge for Fast Calorimeter
        Simulation" (2024), https://arxiv.org/abs/2410.21611 ; binning files and evaluation
        code at https://github.com/CaloChallenge/homepage

    Arguments:
        layers: The binning of each layer, in layer order.
        particle: Particle name of the ``Bin`` element ("photon", "pion", "electron").
        pid: PDG id of the particle, when the XML gives one.
        source: Where the binning came from (file path), for messages and provenance.

    Example:
        >>> geometry = CaloChallengeGeometry.official("ds2")
        >>> geometry.n_cells
        6480
    """

    def __init__(
        self,
        layers: Sequence[CaloChallengeLayer],
        *,
        particle: str,
        pid: int | None = None,
        source: str = "",
    ) -> None:
        self.layers = tuple(layers)
        self.particle = particle
        self.pid = pid
        self.source = source
        sizes = np.array([layer.n_voxels for layer in self.layers], dtype=np.int64)
        #: First voxel of each layer, followed by the total (length ``n_layers + 1``).
        self.layer_offsets = np.concatenate([[0], np.cumsum(sizes)])
        self._build_radial_lookup()

    # -- construction -------------------------------------------------------------------

    @classmethod
    def from_xml(cls, path: str | Path, particle: str | None = None) -> CaloChallengeGeometry:
        """Read a CaloChallenge binning XML file.

        Arguments:
            path: The XML file (``<Bins><Bin name= pid=><Layer id= r_edges= n_bin_alpha=/>``).
            particle: The ``name`` or ``pid`` of the ``Bin`` to use; ``None`` takes the only one.

        Raises:
            KissError: When the file is missing or malformed, or has no ``Bin`` for ``particle``.
        """
        path = Path(path)
        try:
            root = ElementTree.parse(path).getroot()
        except FileNotFoundError:
            raise KissError("Binning file not found", where=str(path),
                            hint="pass an existing CaloChallenge binning XML file") from None
        except ElementTree.ParseError as error:
            raise KissError("Invalid binning XML", where=str(path), expected="well-formed XML",
                            got=str(error)) from None

        bins = root.findall("Bin")
        names = [f"{element.get('name')} (pid {element.get('pid')})" for element in bins]
        if particle is None and len(bins) == 1:
            chosen = bins[0]
        else:
            matches = [e for e in bins if particle is not None and particle in (e.get("name"), e.get("pid"))]
            if len(matches) != 1:
                raise KissError(
                    "Particle not found in binning file" if not matches else "Particle is ambiguous in binning file",
                    where=str(path),
                    expected=f"one of: {', '.join(names) or 'no <Bin> elements'}",
                    got=repr(particle),
                    hint="append ':NAME' to the file name to pick a particle",
                )
            chosen = matches[0]

        layers = [_parse_layer(element, index, path) for index, element in enumerate(chosen.findall("Layer"))]
        if not layers:
            raise KissError("Binning has no layers", where=f"{path}: Bin {chosen.get('name')}",
                            expected="at least one <Layer> element", got="none")
        pid_text = chosen.get("pid")
        return cls(layers, particle=chosen.get("name") or "", pid=int(pid_text) if pid_text else None,
                   source=str(path))

    @classmethod
    def official(cls, name: str) -> CaloChallengeGeometry:
        """Load a binning shipped with KISS: ``ds1-photons``, ``ds1-pions``, ``ds2`` or ``ds3``."""
        if name not in OFFICIAL_GEOMETRIES:
            raise UnknownNameError("CaloChallenge geometry", name, list(OFFICIAL_GEOMETRIES))
        file_name, particle = OFFICIAL_GEOMETRIES[name]
        with resources.as_file(resources.files("kiss_calo") / "data" / file_name) as path:
            return cls.from_xml(path, particle)

    # -- sizes --------------------------------------------------------------------------

    @property
    def n_cells(self) -> int:
        """Number of voxels."""
        return int(self.layer_offsets[-1])

    @property
    def n_layers(self) -> int:
        """Number of layers, empty ones included."""
        return len(self.layers)

    @property
    def non_empty_layers(self) -> list[int]:
        """Indices of the layers that have voxels."""
        return [index for index, layer in enumerate(self.layers) if layer.n_voxels > 0]

    @property
    def is_regular(self) -> bool:
        """Whether every layer has the same radial and angular binning (datasets 2 and 3)."""
        return len(set(self.layers)) == 1

    def layer_slice(self, layer: int) -> slice:
        """Return the slice of voxel columns that belong to ``layer``."""
        return slice(int(self.layer_offsets[layer]), int(self.layer_offsets[layer + 1]))

    # -- coordinates --------------------------------------------------------------------

    def cell_coordinates(self) -> xr.Dataset:
        """Return per-voxel layer, r_index, alpha_index, r (mm), alpha (rad), eta and phi (mm)."""
        parts: dict[str, list[np.ndarray]] = {name: [] for name in
                                              ("layer", "r_index", "alpha_index", "r", "alpha")}
        for index, layer in enumerate(self.layers):
            if layer.n_voxels == 0:
                continue
            alpha_index, r_index = np.divmod(np.arange(layer.n_voxels), layer.n_r)
            parts["layer"].append(np.full(layer.n_voxels, index))
            parts["r_index"].append(r_index)
            parts["alpha_index"].append(alpha_index)
            parts["r"].append(layer.r_centres_mm[r_index])
            parts["alpha"].append(layer.alpha_centres[alpha_index])
        values = {name: np.concatenate(chunks) for name, chunks in parts.items()}
        values["eta"] = values["r"] * np.cos(values["alpha"])
        values["phi"] = values["r"] * np.sin(values["alpha"])

        units = {"r": "mm", "alpha": "rad", "eta": "mm", "phi": "mm"}
        return xr.Dataset(
            {name: ("cell", array, {"units": units[name]} if name in units else {})
             for name, array in values.items()},
            attrs={"geometry": self.describe()},
        )

    def describe(self) -> str:
        """Return a one-line description for logs and provenance."""
        return f"CaloChallenge {self.particle} binning, {self.n_layers} layers, {self.n_cells} voxels ({self.source})"

    # -- deposits -----------------------------------------------------------------------

    def _build_radial_lookup(self) -> None:
        # All layers' radial edges go into one sorted array, layer l shifted by l * span, so
        # one np.searchsorted bins every deposit whatever its layer.
        self._outer_radius_mm = np.array([layer.r_edges_mm[-1] for layer in self.layers])
        self._span_mm = 2.0 * max(float(self._outer_radius_mm.max()), 1.0)
        shifted = [np.asarray(layer.r_edges_mm) + index * self._span_mm for index, layer in enumerate(self.layers)]
        self._shifted_edges = np.concatenate(shifted)
        self._edge_starts = np.concatenate([[0], np.cumsum([len(layer.r_edges_mm) for layer in self.layers])])
        self._n_r = np.array([layer.n_r for layer in self.layers])
        self._n_alpha = np.array([layer.n_alpha for layer in self.layers])

    def _cell_index(self, layer: np.ndarray, x_mm: np.ndarray, y_mm: np.ndarray) -> np.ndarray:
        radius = np.hypot(x_mm, y_mm)
        inside = (layer >= 0) & (layer < self.n_layers)
        layer_safe = np.where(inside, layer, 0)
        inside &= radius < self._outer_radius_mm[layer_safe]

        key = layer_safe * self._span_mm + np.where(inside, radius, 0.0)
        r_index = np.searchsorted(self._shifted_edges, key, side="right") - 1 - self._edge_starts[layer_safe]
        n_alpha = self._n_alpha[layer_safe]
        # arctan2 returns (-pi, pi]; alpha = pi belongs to the last bin, as in the official binning.
        alpha = np.arctan2(y_mm, x_mm)
        alpha_index = np.minimum(np.floor((alpha + math.pi) * n_alpha / (2 * math.pi)).astype(np.int64), n_alpha - 1)

        cell = self.layer_offsets[layer_safe] + alpha_index * self._n_r[layer_safe] + r_index
        return np.where(inside, cell, -1)


def _parse_layer(element: ElementTree.Element, index: int, path: Path) -> CaloChallengeLayer:
    where = f"{path}: Layer {element.get('id')}"
    if element.get("id") is not None and element.get("id").strip() != str(index):
        raise KissError("Layer ids out of order", where=where, expected=f"id='{index}'",
                        got=f"id='{element.get('id')}'", hint="number layers 0, 1, 2, ... in file order")
    try:
        edges = tuple(float(value) for value in element.get("r_edges", "").split(","))
        n_alpha = int(element.get("n_bin_alpha", ""))
    except ValueError:
        raise KissError("Invalid layer binning", where=where,
                        expected="r_edges='0,r1,r2,...' (mm) and an integer n_bin_alpha",
                        got=f"r_edges={element.get('r_edges')!r}, n_bin_alpha={element.get('n_bin_alpha')!r}") from None
    if edges[0] != 0.0 or np.any(np.diff(edges) <= 0) or n_alpha < 1:
        raise KissError("Invalid layer binning", where=where,
                        expected="r_edges increasing from 0 and n_bin_alpha >= 1",
                        got=f"r_edges={edges}, n_bin_alpha={n_alpha}")
    return CaloChallengeLayer(edges, n_alpha)


class PlanarGeometry(_DepositingGeometry):
    """Planar layers of square cells on a regular grid centred on the shower axis.

    Cells are ordered with y fastest, then x, then the layer. The default is the ILD-like
    Si-W ECAL of CaloClouds: 30 layers of 5.088 mm cells. The grid of 78 x 78 cells
    (396.9 mm wide) covers the transverse window of the CaloClouds II point clouds (x from
    -200 to 200 mm); the layer depths are those of the ILD ECAL sensitive layers
    (:data:`CALOCLOUDS_LAYER_DEPTHS_MM`).

    References:
        Buhmann et al., "CaloClouds: Fast Geometry-Independent Highly-Granular Calorimeter
        Simulation" (2023), https://arxiv.org/abs/2305.04847 ;
        Buhmann et al., "CaloClouds II: Ultra-Fast Geometry-Independent Highly-Granular
        Calorimeter Simulation" (2023), https://arxiv.org/abs/2309.05704

    Arguments:
        n_layers: Number of layers.
        n_x: Number of cells along x.
        n_y: Number of cells along y.
        cell_size_mm: Cell pitch in mm, the same along x and y.
        layer_depths_mm: Depth of each layer along the shower axis in mm. ``None`` uses the
            ILD values when ``n_layers`` is 30 and an even 1 mm pitch otherwise.

    Example:
        >>> PlanarGeometry().n_cells
        182520
    """

    def __init__(
        self,
        n_layers: int = 30,
        n_x: int = 78,
        n_y: int = 78,
        cell_size_mm: float = CALOCLOUDS_CELL_SIZE_MM,
        layer_depths_mm: Sequence[float] | None = None,
    ) -> None:
        if min(n_layers, n_x, n_y) < 1 or cell_size_mm <= 0:
            raise KissError("Invalid planar geometry", expected="positive layer and cell counts and cell size",
                            got=f"n_layers={n_layers}, n_x={n_x}, n_y={n_y}, cell_size_mm={cell_size_mm}")
        if layer_depths_mm is None:
            layer_depths_mm = CALOCLOUDS_LAYER_DEPTHS_MM if n_layers == 30 else tuple(float(i) for i in range(n_layers))
        if len(layer_depths_mm) != n_layers:
            raise KissError("Invalid planar geometry", where="layer_depths_mm",
                            expected=f"{n_layers} depths", got=f"{len(layer_depths_mm)}")
        self.n_layers = n_layers
        self.n_x = n_x
        self.n_y = n_y
        self.cell_size_mm = float(cell_size_mm)
        self.layer_depths_mm = tuple(float(depth) for depth in layer_depths_mm)

    @property
    def n_cells(self) -> int:
        """Number of cells."""
        return self.n_layers * self.n_x * self.n_y

    @property
    def x_edges_mm(self) -> np.ndarray:
        """Cell edges along x in mm."""
        return (np.arange(self.n_x + 1) - self.n_x / 2) * self.cell_size_mm

    @property
    def y_edges_mm(self) -> np.ndarray:
        """Cell edges along y in mm."""
        return (np.arange(self.n_y + 1) - self.n_y / 2) * self.cell_size_mm

    def cell_coordinates(self) -> xr.Dataset:
        """Return per-cell layer, x_index, y_index, x, y (cell centres, mm) and depth (mm)."""
        layer, x_index, y_index = np.unravel_index(np.arange(self.n_cells), (self.n_layers, self.n_x, self.n_y))
        x_centres = 0.5 * (self.x_edges_mm[:-1] + self.x_edges_mm[1:])
        y_centres = 0.5 * (self.y_edges_mm[:-1] + self.y_edges_mm[1:])
        return xr.Dataset(
            {
                "layer": ("cell", layer),
                "x_index": ("cell", x_index),
                "y_index": ("cell", y_index),
                "x": ("cell", x_centres[x_index], {"units": "mm"}),
                "y": ("cell", y_centres[y_index], {"units": "mm"}),
                "depth": ("cell", np.asarray(self.layer_depths_mm)[layer], {"units": "mm"}),
            },
            attrs={"geometry": self.describe()},
        )

    def describe(self) -> str:
        """Return a one-line description for logs and provenance."""
        return f"planar, {self.n_layers} layers of {self.n_x} x {self.n_y} cells of {self.cell_size_mm:.4f} mm"

    def _cell_index(self, layer: np.ndarray, x_mm: np.ndarray, y_mm: np.ndarray) -> np.ndarray:
        x_index = np.floor(x_mm / self.cell_size_mm + self.n_x / 2).astype(np.int64)
        y_index = np.floor(y_mm / self.cell_size_mm + self.n_y / 2).astype(np.int64)
        inside = ((layer >= 0) & (layer < self.n_layers) & (x_index >= 0) & (x_index < self.n_x)
                  & (y_index >= 0) & (y_index < self.n_y))
        cell = (layer * self.n_x + x_index) * self.n_y + y_index
        return np.where(inside, cell, -1)


def load_geometry(name: str) -> CaloChallengeGeometry:
    """Load a CaloChallenge geometry from a short name or ``FILE.xml[:particle]``.

    Arguments:
        name: ``ds1-photons``, ``ds1-pions``, ``ds2``, ``ds3``, or a path to a binning XML file,
            optionally followed by ``:`` and the particle name or PDG id.

    Example:
        >>> load_geometry("ds3").n_cells
        40500
    """
    if name in OFFICIAL_GEOMETRIES:
        return CaloChallengeGeometry.official(name)
    path, separator, particle = name.rpartition(":")
    if not separator or not path.lower().endswith(".xml"):
        path, particle = name, ""
    if not path.lower().endswith(".xml"):
        raise UnknownNameError("CaloChallenge geometry", name, [*OFFICIAL_GEOMETRIES, "FILE.xml[:particle]"])
    return CaloChallengeGeometry.from_xml(path, particle or None)


def project_point_clouds(
    points: np.ndarray,
    geometry: _DepositingGeometry,
    *,
    axis_mm: tuple[float, float] = (0.0, 0.0),
    return_dropped: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Project CaloClouds point clouds onto the cells of a planar or CaloChallenge geometry.

    The CaloClouds layout puts the shower axis along y. Each point has transverse positions
    x and z in mm and its energy in MeV. The integer part of y is the layer index, as in the
    CaloClouds II training files, whose y runs from 0 to 30. Padding points have zero energy
    and add nothing.

    Arguments:
        points: Array ``(n_events, 4, n_points)`` with rows x, y, z, energy (MeV).
        geometry: The target geometry; its layer ``i`` receives the points of layer ``i``.
        axis_mm: Position (x, z) of the shower axis in the point-cloud frame, in mm.
        return_dropped: Also return the energy per event that fell outside the grid.

    Returns:
        Cell energies in MeV, shape ``(n_events, n_cells)`` (and the dropped energy per event).
    """
    points = np.asarray(points)
    if points.ndim != 3 or points.shape[1] != 4:
        raise KissError("Invalid point-cloud array", where="points", expected="shape (N, 4, P) with rows x, y, z, e",
                        got=f"shape {points.shape}")
    n_events, _, n_points = points.shape
    has_energy = points[:, 3, :] != 0
    event = np.broadcast_to(np.arange(n_events)[:, None], (n_events, n_points))[has_energy]
    layer = np.floor(points[:, 1, :][has_energy]).astype(np.int64)
    x_mm = points[:, 0, :][has_energy] - axis_mm[0]
    y_mm = points[:, 2, :][has_energy] - axis_mm[1]
    return geometry.deposit(event, layer, x_mm, y_mm, points[:, 3, :][has_energy], n_events,
                            return_dropped=return_dropped)


def dataset_1_photons() -> CaloChallengeGeometry:
    """Load the CaloChallenge dataset 1 photon binning (368 voxels in 5 non-empty layers)."""
    return CaloChallengeGeometry.official("ds1-photons")


def dataset_1_pions() -> CaloChallengeGeometry:
    """Load the CaloChallenge dataset 1 pion binning (533 voxels in 7 non-empty layers)."""
    return CaloChallengeGeometry.official("ds1-pions")


def dataset_2() -> CaloChallengeGeometry:
    """Load the CaloChallenge dataset 2 binning (45 layers x 16 angles x 9 radii = 6480 voxels)."""
    return CaloChallengeGeometry.official("ds2")


def dataset_3() -> CaloChallengeGeometry:
    """Load the CaloChallenge dataset 3 binning (45 layers x 50 angles x 18 radii = 40500 voxels)."""
    return CaloChallengeGeometry.official("ds3")
