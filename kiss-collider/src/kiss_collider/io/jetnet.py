"""Read and write jets in the JetNet HDF5 layout (``particle_features`` + ``jet_features``).

A JetNet file (Zenodo records 6975118 for 30 particles and 6975117 for 150) contains one jet
class and two datasets:

- ``particle_features`` (N, P, 4): etarel, phirel, ptrel, mask per particle, highest pT first,
  padded with zeros; the mask is stored as float 0.0 / 1.0.
- ``jet_features`` (N, 4): jet pT in GeV, jet pseudorapidity, jet mass in GeV, and the number
  of particles of the jet.

The last column counts every constituent of the jet, not only the P stored: the JetNet
package caps it at the number of particles it loads (``np.minimum(jf[:, 3:], num_particles)``
in ``jetnet/datasets/jetnet.py``). So reading stores it as ``num_constituents``, and
``num_particles`` becomes the number of stored particles, the sum of the mask. Writing stores
``num_constituents`` when the samples have it and ``num_particles`` otherwise.

The jet class is not stored in JetNet files; it is named by the file ("g.hdf5", "t150.hdf5").
Files written here add a ``jet_class`` dataset of integer codes with the class names in its
``classes`` attribute, and the provenance JSON as a file attribute. The JetNet package reads
only the two datasets by name, so it ignores both.

References:
    R. Kansal et al., "Particle Cloud Generation with Message Passing Generative Adversarial
    Networks", NeurIPS 2021, https://arxiv.org/abs/2106.11535 (JetNet, section 2).
    JetNet on Zenodo: https://zenodo.org/records/6975118
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path

import numpy as np
import xarray as xr

from kiss_core.errors import KissError
from kiss_core.io.files import atomic_path

__all__ = ["JETNET_CLASSES", "read_jetnet", "write_jetnet"]

logger = logging.getLogger(__name__)

#: Jet classes that JetNet ships, in the order of the JetNet package.
JETNET_CLASSES = ("g", "q", "t", "w", "z")

_PARTICLE_KEY = "particle_features"
_JET_KEY = "jet_features"
_CLASS_KEY = "jet_class"
_PARTICLE_COLUMNS = ("etarel", "phirel", "ptrel", "mask")
_JET_COLUMNS = ("pt", "eta", "mass", "num_particles")
_FEATURES = ("etarel", "phirel", "ptrel")
# Jets per read or written slice: 100 000 jets of 30 particles are 48 MB as float32.
_CHUNK_JETS = 100_000


def read_jetnet(
    path: str | os.PathLike[str],
    *,
    start: int = 0,
    stop: int | None = None,
    jet_class: str | None = None,
) -> xr.Dataset:
    """Read jets ``start:stop`` of a JetNet HDF5 file, validating every value.

    Arguments:
        path: The HDF5 file.
        start: First jet to read.
        stop: One past the last jet to read; ``None`` reads to the end.
        jet_class: Class name for a file without a ``jet_class`` dataset; ``None`` takes it
            from the file name ("g150.hdf5" gives "g"), or "unknown".

    Returns:
        A dataset with ``constituents`` (event, particle, feature) float32, ``mask`` (event,
        particle) bool, ``jet_pt``, ``jet_eta``, ``jet_mass`` float32, ``num_particles`` (mask
        sum) and ``num_constituents`` (the file's count) int64, ``jet_class`` codes with
        ``attrs["classes"]``, and ``attrs["provenance"]``.

    Raises:
        KissError: If the file is missing or not HDF5, a key is missing, a shape or type is
            wrong, or a value is NaN, infinite, a mask not 0 or 1, or a negative pT.

    Example:
        >>> jets = read_jetnet("g150.hdf5", stop=1000)
        >>> jets.sizes["particle"]
        150
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        raise KissError("JetNet file not found", where=str(path), expected="an existing HDF5 file", got="no such file")
    try:
        handle = h5py.File(path, "r")
    except OSError as error:
        raise KissError(
            "Invalid JetNet file", where=str(path), expected="a readable HDF5 file", got=f"unreadable ({error})"
        ) from None

    with handle:
        particles, jets = _checked_layout(handle, path)
        n_jets = particles.shape[0]
        stop = n_jets if stop is None else stop
        if not (isinstance(start, int) and isinstance(stop, int) and 0 <= start <= stop <= n_jets):
            raise KissError(
                "Invalid jet range", where=f"{path}[{start}:{stop}]",
                expected=f"0 <= start <= stop <= {n_jets}", got=f"start={start}, stop={stop}",
            )
        classes, codes = _read_classes(handle, path, start, stop, jet_class)
        provenance = handle.attrs.get("provenance")

        particle_chunks, jet_chunks = [], []
        for first in range(start, stop, _CHUNK_JETS):
            last = min(first + _CHUNK_JETS, stop)
            particle_block, jet_block = _read_block(particles, jets, first, last, path)
            particle_chunks.append(particle_block)
            jet_chunks.append(jet_block)

    n_particles = particles.shape[1]
    particle_array = np.concatenate(particle_chunks) if particle_chunks else np.zeros((0, n_particles, 4), np.float32)
    jet_array = np.concatenate(jet_chunks) if jet_chunks else np.zeros((0, 4), np.float32)
    if isinstance(provenance, bytes):
        provenance = provenance.decode()
    if provenance is None:
        provenance = json.dumps({"source": "JetNet HDF5 file", "path": str(path), "start": start, "stop": stop})
    logger.info("Read %d jets of %d particles from %s", stop - start, n_particles, path)
    return _to_dataset(particle_array, jet_array, codes, classes, provenance)


def write_jetnet(samples: xr.Dataset, path: str | os.PathLike[str]) -> None:
    """Write jets in the JetNet layout with gzip compression, atomically.

    The file gains a ``jet_class`` dataset (codes, names in its ``classes`` attribute) when
    ``samples`` has ``jet_class``, and a ``provenance`` attribute when it has provenance.
    An existing file at ``path`` is replaced only after the new one is complete.

    Arguments:
        samples: Jets in the KISS jet layout (see :func:`read_jetnet`).
        path: The HDF5 file to write.

    Raises:
        KissError: If a variable is missing or has the wrong dimensions, or if a value is
            NaN, infinite or a negative pT.

    Example:
        >>> write_jetnet(jets, "jets.hdf5")
    """
    import h5py

    path = Path(path)
    particle_array, jet_array = _to_jetnet_arrays(samples)
    where = f"samples for {path}"
    _check_values(particle_array, jet_array, where, first_jet=0)

    if path.exists():
        logger.warning("Replacing existing file %s", path)
    n_jets, n_particles = particle_array.shape[:2]
    with atomic_path(path) as temporary:
        with h5py.File(temporary, "w") as handle:
            rows = max(1, min(n_jets, 1000))
            particle_set = handle.create_dataset(
                _PARTICLE_KEY, shape=particle_array.shape, dtype=np.float32,
                chunks=(rows, n_particles, 4), compression="gzip",
            )
            jet_set = handle.create_dataset(
                _JET_KEY, shape=jet_array.shape, dtype=np.float32, chunks=(rows, 4), compression="gzip"
            )
            for first in range(0, n_jets, _CHUNK_JETS):
                last = min(first + _CHUNK_JETS, n_jets)
                particle_set[first:last] = particle_array[first:last]
                jet_set[first:last] = jet_array[first:last]
            if _CLASS_KEY in samples:
                classes = [str(name) for name in samples[_CLASS_KEY].attrs.get("classes", [])]
                class_set = handle.create_dataset(
                    _CLASS_KEY, data=samples[_CLASS_KEY].values.astype(np.int64), compression="gzip"
                )
                class_set.attrs["classes"] = classes
            if "provenance" in samples.attrs:
                handle.attrs["provenance"] = str(samples.attrs["provenance"])
    logger.info("Wrote %d jets of %d particles to %s", n_jets, n_particles, path)


def _checked_layout(handle, path: Path):
    """Return the two JetNet datasets after checking keys, ranks, last dims, types and N."""
    import h5py

    datasets = {}
    for key, columns in ((_PARTICLE_KEY, _PARTICLE_COLUMNS), (_JET_KEY, _JET_COLUMNS)):
        rank = 3 if key == _PARTICLE_KEY else 2
        shape_text = "(N, P, 4)" if rank == 3 else "(N, 4)"
        if key not in handle or not isinstance(handle[key], h5py.Dataset):
            raise KissError(
                "Invalid JetNet file: missing dataset", where=f"{path}:{key}",
                expected=f"a dataset '{key}' of shape {shape_text}", got=f"keys {sorted(handle.keys())}",
            )
        dataset = handle[key]
        if dataset.ndim != rank or dataset.shape[-1] != len(columns):
            raise KissError(
                "Invalid JetNet file: wrong shape", where=f"{path}:{key}",
                expected=f"{shape_text} with columns {', '.join(columns)}", got=str(dataset.shape),
            )
        if dataset.dtype.kind != "f":
            raise KissError(
                "Invalid JetNet file: wrong data type", where=f"{path}:{key}",
                expected="float32 or float64", got=str(dataset.dtype),
            )
        datasets[key] = dataset

    particles, jets = datasets[_PARTICLE_KEY], datasets[_JET_KEY]
    if particles.shape[0] != jets.shape[0]:
        raise KissError(
            "Invalid JetNet file: different numbers of jets", where=f"{path}:{_JET_KEY}",
            expected=f"{particles.shape[0]} jets, as in {_PARTICLE_KEY}", got=f"{jets.shape[0]} jets",
        )
    return particles, jets


def _read_block(particles, jets, first: int, last: int, path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        particle_block = np.asarray(particles[first:last])
        jet_block = np.asarray(jets[first:last])
    except OSError as error:
        raise KissError(
            "Invalid JetNet file: data cannot be read", where=f"{path}[{first}:{last}]",
            expected="complete HDF5 data", got=f"read error ({error})", hint="the file may be truncated or corrupt",
        ) from None
    _check_values(particle_block, jet_block, str(path), first_jet=first)
    return particle_block, jet_block


def _check_values(particle_array: np.ndarray, jet_array: np.ndarray, where: str, first_jet: int) -> None:
    """Reject NaN or infinite values, masks other than 0 and 1, and negative pT or counts."""
    checks = (
        (_PARTICLE_KEY, particle_array, ~np.isfinite(particle_array), "finite values", "NaN or infinite value"),
        (_JET_KEY, jet_array, ~np.isfinite(jet_array), "finite values", "NaN or infinite value"),
        (_PARTICLE_KEY, particle_array[..., 3], (particle_array[..., 3] != 0) & (particle_array[..., 3] != 1),
         "mask (column 3) equal to 0 or 1", "mask value"),
        (_PARTICLE_KEY, particle_array[..., 2], particle_array[..., 2] < 0, "ptrel (column 2) >= 0", "ptrel"),
        (_JET_KEY, jet_array[:, 0], jet_array[:, 0] < 0, "jet pt (column 0) >= 0", "jet pt"),
        (_JET_KEY, jet_array[:, 3], (jet_array[:, 3] < 0) | (jet_array[:, 3] != np.round(jet_array[:, 3])),
         "num_particles (column 3) a whole number >= 0", "num_particles"),
    )
    for key, values, bad, expected, label in checks:
        if bad.any():
            index = np.argwhere(bad)[0]
            jet = first_jet + int(index[0])
            raise KissError(
                f"Invalid JetNet data: {label}", where=f"{where}:{key}, jet {jet}",
                expected=expected, got=f"{values[tuple(index)]!r} ({int(bad.sum())} bad entries in this block)",
            )


def _read_classes(handle, path: Path, start: int, stop: int, jet_class: str | None) -> tuple[list[str], np.ndarray]:
    """Return class names and the code of each jet: from the file, the argument or the file name."""
    n_jets = stop - start
    if _CLASS_KEY not in handle:
        if jet_class is None:
            stem = re.sub(r"\d+$", "", path.stem)
            jet_class = stem if stem in JETNET_CLASSES else "unknown"
        return [jet_class], np.zeros(n_jets, dtype=np.int64)

    dataset = handle[_CLASS_KEY]
    classes = [name.decode() if isinstance(name, bytes) else str(name) for name in dataset.attrs.get("classes", [])]
    if dataset.shape != (handle[_PARTICLE_KEY].shape[0],) or dataset.dtype.kind not in "iu" or not classes:
        raise KissError(
            "Invalid JetNet file: bad jet_class dataset", where=f"{path}:{_CLASS_KEY}",
            expected="integer codes of shape (N,) with a 'classes' attribute listing the names",
            got=f"shape {dataset.shape}, type {dataset.dtype}, classes {classes}",
        )
    codes = np.asarray(dataset[start:stop]).astype(np.int64)
    if codes.size and (codes.min() < 0 or codes.max() >= len(classes)):
        raise KissError(
            "Invalid JetNet file: jet_class code out of range", where=f"{path}:{_CLASS_KEY}",
            expected=f"codes 0..{len(classes) - 1} for classes {classes}", got=f"{codes.min()}..{codes.max()}",
        )
    return classes, codes


def _to_dataset(particle_array, jet_array, codes, classes, provenance: str) -> xr.Dataset:
    mask = particle_array[..., 3] == 1
    # Padded entries are zero by the layout; clearing them also removes stray values.
    constituents = np.where(mask[..., None], particle_array[..., :3], 0.0).astype(np.float32)
    dataset = xr.Dataset(
        {
            "constituents": (("event", "particle", "feature"), constituents),
            "mask": (("event", "particle"), mask),
            "jet_pt": ("event", jet_array[:, 0].astype(np.float32)),
            "jet_eta": ("event", jet_array[:, 1].astype(np.float32)),
            "jet_mass": ("event", jet_array[:, 2].astype(np.float32)),
            "num_particles": ("event", mask.sum(axis=1).astype(np.int64)),
            "num_constituents": ("event", jet_array[:, 3].astype(np.int64)),
            "jet_class": ("event", codes),
        },
        coords={"feature": list(_FEATURES)},
        attrs={"provenance": provenance},
    )
    dataset["jet_class"].attrs["classes"] = list(classes)
    dataset["jet_pt"].attrs["units"] = "GeV"
    dataset["jet_mass"].attrs["units"] = "GeV"
    return dataset


def _to_jetnet_arrays(samples: xr.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Build ``particle_features`` and ``jet_features`` arrays after checking names and dims."""
    required = {
        "constituents": ("event", "particle", "feature"),
        "mask": ("event", "particle"),
        "jet_pt": ("event",),
        "jet_eta": ("event",),
        "jet_mass": ("event",),
        "num_particles": ("event",),
    }
    for name, dims in required.items():
        if name not in samples:
            raise KissError(
                "Jets cannot be written: missing variable", where=name,
                expected=f"variables {', '.join(required)}", got=f"variables {', '.join(map(str, samples.data_vars))}",
            )
        if samples[name].dims != dims:
            raise KissError(
                "Jets cannot be written: wrong dimensions", where=name, expected=str(dims), got=str(samples[name].dims)
            )
    features = [str(name) for name in samples["feature"].values] if "feature" in samples.coords else None
    if features != list(_FEATURES):
        raise KissError(
            "Jets cannot be written: wrong features", where="constituents.feature",
            expected=str(list(_FEATURES)), got=str(features),
        )

    mask = samples["mask"].values.astype(bool)
    constituents = np.where(mask[..., None], samples["constituents"].values, 0.0)
    particle_array = np.concatenate([constituents, mask[..., None]], axis=-1).astype(np.float32)
    count = samples["num_constituents"] if "num_constituents" in samples else samples["num_particles"]
    jet_array = np.stack(
        [samples["jet_pt"].values, samples["jet_eta"].values, samples["jet_mass"].values, count.values], axis=1
    ).astype(np.float32)
    return particle_array, jet_array
