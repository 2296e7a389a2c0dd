"""Jets of about 1 TeV from Pythia 8 and FastJet, simulated as the JetNet dataset was made.

Each jet class has its own hard process in 13 TeV proton-proton collisions:

=====  =========================================  ==============================================
class  hard process (Pythia 8)                    jet kept
=====  =========================================  ==============================================
g      q qbar -> Z g, Z -> neutrinos              the gluon jet, the only visible hard object
q      q g -> Z q, Z -> neutrinos, q in u, d, s   the quark jet, the only visible hard object
t      g g, q qbar -> t tbar, W -> quarks         the leading jet matched to a top quark
w      q qbar -> W g, q g -> W q, W -> quarks     the jet matched to the W boson
z      q qbar -> Z g, q g -> Z q, Z -> quarks     the jet matched to the Z boson
=====  =========================================  ==============================================

An invisible Z recoiling against a single parton gives gluon and light-quark jets without a
second hard jet to confuse the matching. The pT of the hard 2 -> 2 process (``pTHat``) is
generated in a narrow window around 1 TeV. Stable visible particles (everything final except
neutrinos) are clustered with anti-kT, R = 0.8. Per event the highest-pT jet within
Delta R < 0.8 of a hard-process particle of the class is kept, if it has |eta| < 2.5 and a pT
inside the jet pT window. Its 30 highest-pT constituents are stored relative to the jet:
``etarel = eta - eta_jet`` (pseudorapidity), ``phirel = phi - phi_jet`` wrapped to (-pi, pi]
and ``ptrel = pt / pt_jet``. Jet pT, pseudorapidity and mass are those of the whole jet.

Pythia runs with its defaults otherwise: the Monash 2013 tune with NNPDF2.3 QCD+QED LO parton
densities, multiparton interactions (underlying event) and hadronisation on, no pileup and no
detector simulation. JetNet used the same tune with Pythia 8.212, but its hard process came from
MadGraph5_aMC@NLO 2.3.1 and its jets passed a simplified detector. These jets therefore follow
the JetNet recipe without reproducing its files.

Events are generated in chunks of a fixed number of jets, each with its own Pythia instance
and a seed derived from (seed, jet class, chunk index). The output therefore depends on the
seed and the chunk size but not on the number of worker processes.

References:
    R. Kansal et al., "Particle Cloud Generation with Message Passing Generative Adversarial
    Networks", NeurIPS 2021, https://arxiv.org/abs/2106.11535 (JetNet).
    R. Kansal, PhD thesis, section 9.2 (JetNet simulation details),
    https://rkansal47.github.io/dissertation/JetNet.html
    C. Bierlich et al., "A comprehensive guide to the physics and usage of PYTHIA 8.3",
    https://arxiv.org/abs/2203.11601
    M. Cacciari, G. P. Salam and G. Soyez, "The anti-k_t jet clustering algorithm",
    https://arxiv.org/abs/0802.1189
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
import math
import multiprocessing
import os
import time
from dataclasses import dataclass

import numpy as np
import xarray as xr
from tqdm.auto import tqdm

from kiss_core.errors import KissError, UnknownNameError

__all__ = [
    "CENTER_OF_MASS_ENERGY_GEV",
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_JET_PT_WINDOW_GEV",
    "DEFAULT_MAX_ABS_ETA",
    "DEFAULT_PT_HAT_WINDOW_GEV",
    "FEATURES",
    "JET_CLASSES",
    "JET_RADIUS",
    "JetProcess",
    "pythia_settings",
    "simulate_jets",
]

logger = logging.getLogger(__name__)

#: LHC Run 2 proton-proton centre-of-mass energy, as in JetNet.
CENTER_OF_MASS_ENERGY_GEV = 13000.0
#: Anti-kT distance parameter of JetNet; also the Delta R used to match a jet to a hard particle.
JET_RADIUS = 0.8
#: JetNet generated partons with Delta pT / pT = 0.01 around 1 TeV; this is that 1 % band.
DEFAULT_PT_HAT_WINDOW_GEV = (995.0, 1005.0)
#: Jet pT window. JetNet removes jets far from 1 TeV after showering (Kansal thesis, sec. 9.2).
# NOTE: 0.8-1.6 TeV is the window of the hls4ml jet dataset that JetNet derives from. The JetNet
# description that was read states that a window exists, but its values were not confirmed.
DEFAULT_JET_PT_WINDOW_GEV = (800.0, 1600.0)
#: Central jets only: the tracker acceptance of ATLAS and CMS ends near |eta| = 2.5.
DEFAULT_MAX_ABS_ETA = 2.5
#: Jets per chunk. Pythia initialisation takes about 0.4 s and an event about 10 ms, so 500
#: jets keep the initialisation below a tenth of the run time.
DEFAULT_CHUNK_SIZE = 500
#: Constituent features, in JetNet order.
FEATURES = ("etarel", "phirel", "ptrel")

# Pythia accepts Random:seed from 1 to 900 000 000 (0 means "seed from the clock").
_PYTHIA_MAX_SEED = 900_000_000
_NEUTRINO_IDS = (12, 14, 16)
# In Pythia's event record, entries 5 and 6 are the two outgoing particles of the hard process.
_HARD_OUTGOING = slice(5, 7)
# Events generated per nextBatch call at most; larger batches only waste events at chunk end.
_MAX_BATCH_EVENTS = 100
# A chunk that keeps fewer jets than this fraction of its events has a broken selection.
_MIN_ACCEPTANCE = 0.01

_COMMON_SETTINGS = (
    f"Beams:eCM = {CENTER_OF_MASS_ENERGY_GEV:g}",
    "Print:quiet = on",
    "Print:errors = off",
    "Random:setSeed = on",
)
# Z only, without the photon (gamma*/Z interference is negligible at the Z pole anyway).
_Z_ONLY = "WeakZ0:gmZmode = 2"


@dataclass(frozen=True)
class JetProcess:
    """The hard process and jet matching of one jet class.

    Arguments:
        description: One line naming the process.
        settings: Pythia settings strings that select the process and decays.
        matched_ids: Absolute PDG ids of hard-process particles a kept jet must lie within
            ``JET_RADIUS`` of.
        light_quark_only: Reject events whose outgoing quark is c or b, so q means u, d, s.
    """

    description: str
    settings: tuple[str, ...]
    matched_ids: tuple[int, ...]
    light_quark_only: bool = False


#: Jet classes in JetNet order; the order fixes the derived seeds, so only append to it.
JET_CLASSES: dict[str, JetProcess] = {
    "g": JetProcess(
        "q qbar -> Z g with Z -> neutrinos: gluon jets",
        ("WeakBosonAndParton:qqbar2gmZg = on", _Z_ONLY, "23:onMode = off", "23:onIfAny = 12 14 16"),
        matched_ids=(21,),
    ),
    "q": JetProcess(
        "q g -> Z q with Z -> neutrinos: light-quark (u, d, s) jets",
        ("WeakBosonAndParton:qg2gmZq = on", _Z_ONLY, "23:onMode = off", "23:onIfAny = 12 14 16"),
        matched_ids=(1, 2, 3),
        light_quark_only=True,
    ),
    "t": JetProcess(
        "t tbar with hadronic W decays: top jets",
        ("Top:gg2ttbar = on", "Top:qqbar2ttbar = on", "24:onMode = off", "24:onIfAny = 1 2 3 4 5"),
        matched_ids=(6,),
    ),
    "w": JetProcess(
        "W + parton with W -> quarks: W jets",
        (
            "WeakBosonAndParton:qqbar2Wg = on",
            "WeakBosonAndParton:qg2Wq = on",
            "24:onMode = off",
            "24:onIfAny = 1 2 3 4 5",
        ),
        matched_ids=(24,),
    ),
    "z": JetProcess(
        "Z + parton with Z -> quarks: Z jets",
        (
            "WeakBosonAndParton:qqbar2gmZg = on",
            "WeakBosonAndParton:qg2gmZq = on",
            _Z_ONLY,
            "23:onMode = off",
            "23:onIfAny = 1 2 3 4 5",
        ),
        matched_ids=(23,),
    ),
}


@dataclass(frozen=True)
class _ChunkTask:
    jet_class: str
    n_jets: int
    pythia_seed: int
    n_particles: int
    pt_hat_window_gev: tuple[float, float]
    jet_pt_window_gev: tuple[float, float]
    max_abs_eta: float


def pythia_settings(
    jet_class: str, pt_hat_window_gev: tuple[float, float] = DEFAULT_PT_HAT_WINDOW_GEV
) -> list[str]:
    """Return the Pythia settings strings for one jet class, without the seed.

    Example:
        >>> "Top:gg2ttbar = on" in pythia_settings("t")
        True
    """
    process = _process(jet_class)
    window = (
        f"PhaseSpace:pTHatMin = {pt_hat_window_gev[0]:g}",
        f"PhaseSpace:pTHatMax = {pt_hat_window_gev[1]:g}",
    )
    return [*_COMMON_SETTINGS, *process.settings, *window]


def simulate_jets(
    n_jets: int,
    jet_class: str,
    *,
    seed: int,
    workers: int | None = None,
    n_particles: int = 30,
    progress: bool = False,
    pt_hat_window_gev: tuple[float, float] = DEFAULT_PT_HAT_WINDOW_GEV,
    jet_pt_window_gev: tuple[float, float] = DEFAULT_JET_PT_WINDOW_GEV,
    max_abs_eta: float = DEFAULT_MAX_ABS_ETA,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> xr.Dataset:
    """Simulate ``n_jets`` jets of one class with Pythia 8 and cluster them with FastJet.

    Arguments:
        n_jets: Number of jets to return (one per accepted event).
        jet_class: One of ``JET_CLASSES`` ("g", "q", "t", "w", "z").
        seed: Seed from which every chunk's Pythia seed is derived.
        workers: Worker processes; ``None`` uses every core available to this process.
            Workers are spawned, so a calling script needs an ``if __name__ == "__main__":``
            guard when ``workers`` > 1.
        n_particles: Constituents kept per jet (highest pT first), zero-padded.
        progress: Show a progress bar counting jets.
        pt_hat_window_gev: Range of the hard-process pT in GeV.
        jet_pt_window_gev: Range of the kept jet's pT in GeV.
        max_abs_eta: Largest kept jet |pseudorapidity|.
        chunk_size: Jets per chunk; the result depends on it, not on ``workers``.

    Returns:
        A dataset in the KISS jet layout. ``constituents`` (event, particle, feature) is
        float32 with features etarel, phirel, ptrel, and ``mask`` (event, particle) is bool.
        Per event it has ``jet_pt`` and ``jet_mass`` in GeV, ``jet_eta``, ``num_particles``
        (constituents kept), ``num_constituents`` (all constituents of the jet) and
        ``jet_class`` codes with ``attrs["classes"]``. Provenance JSON is in
        ``attrs["provenance"]``.

    Example:
        >>> jets = simulate_jets(100, "t", seed=1, workers=1)
        >>> float(jets.jet_mass.median()) > 120.0
        True
    """
    process_index = _validate_request(
        n_jets, jet_class, seed, workers, n_particles, pt_hat_window_gev,
        jet_pt_window_gev, max_abs_eta, chunk_size,
    )
    workers = _available_cores() if workers is None else workers

    n_chunks = math.ceil(n_jets / chunk_size)
    tasks = [
        _ChunkTask(
            jet_class=jet_class,
            n_jets=min(chunk_size, n_jets - index * chunk_size),
            pythia_seed=_derive_pythia_seed(seed, process_index, index),
            n_particles=n_particles,
            pt_hat_window_gev=tuple(float(value) for value in pt_hat_window_gev),
            jet_pt_window_gev=tuple(float(value) for value in jet_pt_window_gev),
            max_abs_eta=float(max_abs_eta),
        )
        for index in range(n_chunks)
    ]
    workers = min(workers, n_chunks)
    logger.info(
        "Simulating %d %s jets with Pythia 8 in %d chunks on %d workers (seed %d)",
        n_jets, jet_class, n_chunks, workers, seed,
    )

    start = time.perf_counter()
    chunks = _run_chunks(tasks, workers, progress)
    seconds = time.perf_counter() - start
    n_events = sum(chunk["n_events"] for chunk in chunks)
    logger.info(
        "Simulated %d %s jets from %d events in %.1f s (%.1f jets/s)",
        n_jets, jet_class, n_events, seconds, n_jets / seconds,
    )

    provenance = {
        "generator": "Pythia",
        "generator_version": _pythia_version(),
        "clustering": f"FastJet {_fastjet_version()}, anti-kT, R = {JET_RADIUS}",
        "seed": seed,
        "chunk_size": chunk_size,
        "jet_class": jet_class,
        "process": JET_CLASSES[jet_class].description,
        "settings": pythia_settings(jet_class, pt_hat_window_gev),
        "selection": {
            "matched_ids": list(JET_CLASSES[jet_class].matched_ids),
            "match_delta_r": JET_RADIUS,
            "jet_pt_window_gev": list(jet_pt_window_gev),
            "max_abs_eta": max_abs_eta,
            "n_particles": n_particles,
        },
        "n_events_generated": n_events,
        "seconds": round(seconds, 2),
        "workers": workers,
    }
    return _to_dataset(chunks, jet_class, provenance)


def _process(jet_class: str) -> JetProcess:
    if jet_class not in JET_CLASSES:
        raise UnknownNameError("jet class", jet_class, list(JET_CLASSES))
    return JET_CLASSES[jet_class]


def _validate_request(
    n_jets, jet_class, seed, workers, n_particles, pt_hat_window_gev,
    jet_pt_window_gev, max_abs_eta, chunk_size,
) -> int:
    """Check every argument before any Pythia work and return the class index."""
    _process(jet_class)
    whole_numbers = {"n_jets": n_jets, "n_particles": n_particles, "chunk_size": chunk_size}
    if workers is not None:
        whole_numbers["workers"] = workers
    for name, value in whole_numbers.items():
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise KissError(f"Invalid {name}", where=name, expected="an integer >= 1", got=repr(value))
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise KissError("Invalid seed", where="seed", expected="an integer >= 0", got=repr(seed))
    for name, window in (("pt_hat_window_gev", pt_hat_window_gev), ("jet_pt_window_gev", jet_pt_window_gev)):
        if len(window) != 2 or not 0.0 < window[0] < window[1] or not math.isfinite(window[1]):
            raise KissError(
                f"Invalid {name}", where=name, expected="(low, high) in GeV with 0 < low < high",
                got=repr(tuple(window)),
            )
    if not max_abs_eta > 0.0:
        raise KissError("Invalid max_abs_eta", where="max_abs_eta", expected="a number > 0", got=repr(max_abs_eta))
    return list(JET_CLASSES).index(jet_class)


def _available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no sched_getaffinity
        return os.cpu_count() or 1


def _derive_pythia_seed(seed: int, class_index: int, chunk_index: int) -> int:
    """Map (seed, class, chunk) to a Pythia seed in 1..900 000 000, independently per chunk."""
    sequence = np.random.SeedSequence(int(seed), spawn_key=(class_index, chunk_index))
    return int(sequence.generate_state(1, dtype=np.uint64)[0] % _PYTHIA_MAX_SEED) + 1


def _run_chunks(tasks: list[_ChunkTask], workers: int, progress: bool) -> list[dict]:
    total = sum(task.n_jets for task in tasks)
    with tqdm(total=total, unit="jet", desc=f"Pythia {tasks[0].jet_class} jets", disable=not progress) as bar:
        if workers == 1:
            results = []
            for task in tasks:
                results.append(_simulate_chunk(task))
                bar.update(task.n_jets)
            return results

        # "spawn" starts clean interpreters: forking a parent that already runs threads
        # (torch, tqdm's monitor) can deadlock.
        context = multiprocessing.get_context("spawn")
        results: list[dict | None] = [None] * len(tasks)
        try:
            with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
                futures = {pool.submit(_simulate_chunk, task): index for index, task in enumerate(tasks)}
                for future in concurrent.futures.as_completed(futures):
                    index = futures[future]
                    results[index] = future.result()
                    bar.update(tasks[index].n_jets)
        except concurrent.futures.process.BrokenProcessPool as error:
            raise KissError(
                "Pythia worker processes failed", where=f"workers={workers}",
                expected="worker processes that start and finish", got=str(error),
                hint="a script that calls this must run under `if __name__ == \"__main__\":` "
                "because workers are spawned and re-import it; workers=1 avoids subprocesses",
            ) from error
        return results


def _silence_fastjet_banner() -> None:
    # FastJet prints its banner to stdout at the first clustering. Its stream setter is only
    # in the SWIG layer of the fastjet package (checked with fastjet 3.5.2); None disables it.
    from fastjet import _swig

    _swig.ClusterSequence.set_fastjet_banner_stream(None)


def _simulate_chunk(task: _ChunkTask) -> dict:
    """Generate events with one Pythia instance until ``task.n_jets`` jets pass the selection."""
    import pythia8mc

    _silence_fastjet_banner()
    pythia = pythia8mc.Pythia("", False)
    for setting in [*pythia_settings(task.jet_class, task.pt_hat_window_gev), f"Random:seed = {task.pythia_seed}"]:
        if not pythia.readString(setting):
            raise RuntimeError(f"Pythia rejected the setting {setting!r}")
    if not pythia.init():
        raise RuntimeError(f"Pythia initialisation failed for jet class {task.jet_class!r}")

    kept: list[dict] = []
    n_events = 0
    while len(kept) < task.n_jets:
        # Jets are taken in event order and the batch size only changes how many trailing
        # events are thrown away, so the kept jets depend on the seed alone.
        n_batch = min(_MAX_BATCH_EVENTS, 2 * (task.n_jets - len(kept)) + 4)
        batch = pythia.nextBatch(n_batch, "skip")
        n_events += n_batch
        kept.extend(_select_jets(batch, task))
        if n_events >= 200 and len(kept) < _MIN_ACCEPTANCE * n_events:
            raise KissError(
                "Jet selection keeps almost no events",
                where=f"jet class {task.jet_class!r}",
                expected=f"at least {_MIN_ACCEPTANCE:.0%} of events kept",
                got=f"{len(kept)} jets from {n_events} events",
                hint="check that jet_pt_window_gev contains pt_hat_window_gev",
            )
    kept = kept[: task.n_jets]

    return {
        "constituents": np.stack([jet["constituents"] for jet in kept]),
        "mask": np.stack([jet["mask"] for jet in kept]),
        **{
            name: np.array([jet[name] for jet in kept])
            for name in ("jet_pt", "jet_eta", "jet_mass", "num_particles", "num_constituents")
        },
        "n_events": n_events,
    }


def _select_jets(batch, task: _ChunkTask) -> list[dict]:
    """Cluster each event of a Pythia batch and return the jet kept per event, if any."""
    import awkward as ak
    import fastjet

    process = JET_CLASSES[task.jet_class]
    particles = batch.prt

    hard = particles[:, _HARD_OUTGOING]
    hard_id = np.abs(ak.to_numpy(hard.id))
    hard_eta, hard_phi = _eta_phi(*(ak.to_numpy(getattr(hard.p, axis)) for axis in ("px", "py", "pz")))

    is_neutrino = np.abs(particles.id) == _NEUTRINO_IDS[0]
    for neutrino in _NEUTRINO_IDS[1:]:
        is_neutrino = is_neutrino | (np.abs(particles.id) == neutrino)
    visible = particles[(particles.status > 0) & ~is_neutrino]
    momenta = ak.zip({"px": visible.p.px, "py": visible.p.py, "pz": visible.p.pz, "E": visible.p.e})

    definition = fastjet.JetDefinition(fastjet.antikt_algorithm, JET_RADIUS)
    sequence = fastjet.ClusterSequence(momenta, definition)
    min_pt = task.jet_pt_window_gev[0]
    jets = sequence.inclusive_jets(min_pt=min_pt)
    constituents = sequence.constituents(min_pt=min_pt)

    jets_per_event = ak.to_numpy(ak.num(jets))
    jet_offsets = np.concatenate([[0], np.cumsum(jets_per_event)])
    jet_momenta = np.stack([ak.to_numpy(ak.flatten(jets[axis])) for axis in ("px", "py", "pz", "E")], axis=1)
    constituents_per_jet = ak.to_numpy(ak.flatten(ak.num(constituents, axis=2)))
    constituent_offsets = np.concatenate([[0], np.cumsum(constituents_per_jet)])
    flat_constituents = ak.flatten(constituents, axis=2)
    constituent_momenta = np.stack(
        [ak.to_numpy(ak.flatten(flat_constituents[axis])) for axis in ("px", "py", "pz")], axis=1
    )

    kept = []
    for event in range(len(jets_per_event)):
        if process.light_quark_only and np.any((hard_id[event] == 4) | (hard_id[event] == 5)):
            continue
        first, last = jet_offsets[event], jet_offsets[event + 1]
        jet_index = _matched_jet(
            jet_momenta[first:last], hard_id[event], hard_eta[event], hard_phi[event], process.matched_ids
        )
        if jet_index is None:
            continue
        jet_index += first
        jet = _jet_record(
            jet_momenta[jet_index],
            constituent_momenta[constituent_offsets[jet_index] : constituent_offsets[jet_index + 1]],
            task,
        )
        if jet is not None:
            kept.append(jet)
    return kept


def _eta_phi(px: np.ndarray, py: np.ndarray, pz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return pseudorapidity and azimuth; pT = 0 gives eta = +-inf, which never matches."""
    pt = np.hypot(px, py)
    with np.errstate(divide="ignore"):
        eta = np.arcsinh(pz / pt)
    return eta, np.arctan2(py, px)


def _wrap_phi(delta_phi: np.ndarray) -> np.ndarray:
    """Wrap azimuth differences to (-pi, pi]."""
    return np.pi - np.mod(np.pi - delta_phi, 2.0 * np.pi)


def _matched_jet(jet_momenta, hard_id, hard_eta, hard_phi, matched_ids) -> int | None:
    """Return the index of the highest-pT jet within JET_RADIUS of a hard particle of the class."""
    if len(jet_momenta) == 0:
        return None
    targets = np.isin(hard_id, matched_ids)
    if not targets.any():
        return None
    jet_eta, jet_phi = _eta_phi(jet_momenta[:, 0], jet_momenta[:, 1], jet_momenta[:, 2])
    delta_eta = jet_eta[:, None] - hard_eta[None, targets]
    delta_phi = _wrap_phi(jet_phi[:, None] - hard_phi[None, targets])
    matched = np.any(np.hypot(delta_eta, delta_phi) < JET_RADIUS, axis=1)
    if not matched.any():
        return None
    jet_pt = np.hypot(jet_momenta[:, 0], jet_momenta[:, 1])
    return int(np.argmax(np.where(matched, jet_pt, -1.0)))


def _jet_record(jet_momentum: np.ndarray, constituent_momenta: np.ndarray, task: _ChunkTask) -> dict | None:
    """Apply the jet pT and eta cuts and express the leading constituents relative to the jet."""
    px, py, pz, energy = jet_momentum
    jet_pt = math.hypot(px, py)
    jet_eta = math.asinh(pz / jet_pt)
    jet_phi = math.atan2(py, px)
    if not task.jet_pt_window_gev[0] <= jet_pt <= task.jet_pt_window_gev[1] or abs(jet_eta) > task.max_abs_eta:
        return None

    pt = np.hypot(constituent_momenta[:, 0], constituent_momenta[:, 1])
    order = np.argsort(-pt, kind="stable")[: task.n_particles]
    eta, phi = _eta_phi(*constituent_momenta[order].T)
    n_kept = len(order)

    constituents = np.zeros((task.n_particles, len(FEATURES)), dtype=np.float32)
    constituents[:n_kept, 0] = eta - jet_eta
    constituents[:n_kept, 1] = _wrap_phi(phi - jet_phi)
    constituents[:n_kept, 2] = pt[order] / jet_pt
    mask = np.zeros(task.n_particles, dtype=bool)
    mask[:n_kept] = True

    mass_squared = energy**2 - px**2 - py**2 - pz**2
    return {
        "constituents": constituents,
        "mask": mask,
        "jet_pt": jet_pt,
        "jet_eta": jet_eta,
        "jet_mass": math.sqrt(max(mass_squared, 0.0)),
        "num_particles": n_kept,
        "num_constituents": len(constituent_momenta),
    }


def _to_dataset(chunks: list[dict], jet_class: str, provenance: dict) -> xr.Dataset:
    def joined(name: str) -> np.ndarray:
        return np.concatenate([chunk[name] for chunk in chunks])

    n_jets = sum(len(chunk["jet_pt"]) for chunk in chunks)
    dataset = xr.Dataset(
        {
            "constituents": (("event", "particle", "feature"), joined("constituents")),
            "mask": (("event", "particle"), joined("mask")),
            "jet_pt": ("event", joined("jet_pt").astype(np.float32)),
            "jet_eta": ("event", joined("jet_eta").astype(np.float32)),
            "jet_mass": ("event", joined("jet_mass").astype(np.float32)),
            "num_particles": ("event", joined("num_particles").astype(np.int64)),
            "num_constituents": ("event", joined("num_constituents").astype(np.int64)),
            "jet_class": ("event", np.zeros(n_jets, dtype=np.int64)),
        },
        coords={"feature": list(FEATURES)},
        attrs={"provenance": json.dumps(provenance)},
    )
    dataset["jet_class"].attrs["classes"] = [jet_class]
    dataset["jet_pt"].attrs["units"] = "GeV"
    dataset["jet_mass"].attrs["units"] = "GeV"
    dataset["jet_eta"].attrs["long_name"] = "jet pseudorapidity"
    dataset["num_constituents"].attrs["long_name"] = "constituents of the whole jet, before keeping n_particles"
    return dataset


def _pythia_version() -> str:
    from importlib.metadata import version

    return version("pythia8mc")


def _fastjet_version() -> str:
    import fastjet

    return fastjet.__version__
