"""Jet metrics of the JetNet benchmark: W1M, W1P, W1EFP, FPD and KPD, and the jet histograms.

All metrics read jet samples in the KISS layout: ``constituents`` (event, particle, feature)
with feature = (etarel, phirel, ptrel), and ``mask`` (event, particle), True for real particles.
Values are stored unscaled. JetNet tables print W1M x 1e3, W1P x 1e3 and W1EFP x 1e5
(:data:`DISPLAY_SCALES`); apply those only when displaying.

References:
    Kansal et al., "Particle Cloud Generation with Message Passing Generative Adversarial
    Networks", NeurIPS 2021, arXiv:2106.11535 (W1M, W1P, W1EFP).
    Kansal et al., "Evaluating generative models in high energy physics", Phys. Rev. D 107
    (2023) 076017, arXiv:2211.10295 (FPD and KPD on energy-flow polynomials).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from kiss_collider._energyflow import import_energyflow
from kiss_collider.kinematics import CONSTITUENT_FEATURES, relative_jet_mass, relative_jet_pt
from kiss_core.errors import KissError
from kiss_core.interfaces import Metric, MetricResult
from kiss_core.metrics import fpd, kpd, w1_per_feature
from kiss_core.report.plots import Histogram

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["DISPLAY_SCALES", "JetEFPMetrics", "W1M", "W1P", "energy_flow_polynomials", "jet_histograms"]

#: Factors by which JetNet result tables multiply each W1 metric for display.
DISPLAY_SCALES = {"W1M": 1e3, "W1P": 1e3, "W1EFP": 1e5}

#: EFPSet selection of the W1EFP metric: the five prime EFPs with n = 4 vertices and d = 4 edges.
W1EFP_SELECTION = (("n==", 4), ("d==", 4), ("p==", 1))

#: EFPSet selection of the FPD and KPD jet features: all 36 EFPs with at most 4 edges, which
#: contains the W1EFP set.
FPD_KPD_SELECTION = (("d<=", 4),)


def _check_jets(samples: xr.Dataset, which: str) -> None:
    for name in ("constituents", "mask"):
        if name not in samples.data_vars:
            raise KissError("Jet sample without a required variable", where=f"{which}: {name}",
                            expected="variables 'constituents' (event, particle, feature) and 'mask' (event, particle)",
                            got=", ".join(map(str, samples.data_vars)))
    coordinate = samples["constituents"].coords.get("feature")
    features = [] if coordinate is None else [str(value) for value in coordinate.values]
    missing = [name for name in CONSTITUENT_FEATURES if name not in features]
    if missing:
        raise KissError("Jet constituents without the JetNet features", where=f"{which}: constituents",
                        expected=f"feature coordinate with {', '.join(CONSTITUENT_FEATURES)}",
                        got=", ".join(features) or "no feature coordinate")


def _constituents(samples: xr.Dataset) -> tuple[np.ndarray, np.ndarray]:
    values = samples["constituents"].sel(feature=list(CONSTITUENT_FEATURES)).transpose("event", "particle", "feature")
    return np.asarray(values.values, dtype=np.float64), np.asarray(samples["mask"].values, dtype=bool)


def energy_flow_polynomials(
    samples: xr.Dataset, selection: tuple[tuple[str, int], ...] = FPD_KPD_SELECTION, *, n_jobs: int | None = 1
) -> np.ndarray:
    """Compute energy-flow polynomials of every jet with the ``energyflow`` package.

    The hadronic measure with beta = 1 and unnormalised energies is used, as in JetNet:
    z_i = ptrel_i and theta_ij = sqrt(detarel^2 + dphirel^2) (energyflow 1.4 "hadr" measure,
    normed=False), so an EFP of graph G is sum over vertices of prod z_i prod over edges theta.

    Arguments:
        samples: Jet sample in the KISS layout.
        selection: EFPSet selection arguments, such as ``(("d<=", 4),)``.
        n_jobs: Worker processes of ``EFPSet.batch_compute``; None uses every CPU.

    Returns:
        Array of shape (event, number of EFPs) in the EFPSet's graph order.

    References:
        Komiske, Metodiev and Thaler, "Energy Flow Polynomials", JHEP 04 (2018) 013,
        arXiv:1712.07124.
    """
    energyflow = import_energyflow()

    constituents, mask = _constituents(samples)
    efp_set = energyflow.EFPSet(*selection, measure="hadr", beta=1, normed=False, coords="ptyphim")
    # energyflow expects (pt, y, phi) rows; with massless particles pseudorapidity equals rapidity.
    jets = [constituents[event][mask[event]][:, [2, 0, 1]] for event in range(len(constituents))]
    return np.asarray(efp_set.batch_compute(jets, n_jobs=n_jobs), dtype=np.float64)


class W1M(Metric):
    """W1 distance of the relative jet mass m_jet / pt_jet, mean and spread over bootstrap batches."""

    @dataclass(frozen=True)
    class Config:
        """Arguments: n_batches: bootstrap batches (JetNet uses 5)."""

        n_batches: int = 5

    def compute(self, reference: xr.Dataset, candidate: xr.Dataset, *, seed: int = 0) -> dict[str, MetricResult]:
        _check_jets(reference, "reference")
        _check_jets(candidate, "candidate")
        mass_reference = relative_jet_mass(*_constituents(reference))
        mass_candidate = relative_jet_mass(*_constituents(candidate))
        (result,) = w1_per_feature(mass_reference, mass_candidate, n_batches=self.config.n_batches, seed=seed)
        return {"W1M": result}


class W1P(Metric):
    """W1 distance of each constituent feature over real particles, and their mean ("W1P").

    Each bootstrap batch draws jets with replacement and pools their real particles.
    """

    @dataclass(frozen=True)
    class Config:
        """Arguments: n_batches: bootstrap batches (JetNet uses 5)."""

        n_batches: int = 5

    def compute(self, reference: xr.Dataset, candidate: xr.Dataset, *, seed: int = 0) -> dict[str, MetricResult]:
        from kiss_core.metrics import wasserstein1

        _check_jets(reference, "reference")
        _check_jets(candidate, "candidate")
        constituents_reference, mask_reference = _constituents(reference)
        constituents_candidate, mask_candidate = _constituents(candidate)
        size = min(len(mask_reference), len(mask_candidate))

        rng = np.random.default_rng(seed)
        per_batch = []
        for _ in range(self.config.n_batches):
            rows_reference = rng.integers(0, len(mask_reference), size)
            rows_candidate = rng.integers(0, len(mask_candidate), size)
            particles_reference = constituents_reference[rows_reference][mask_reference[rows_reference]]
            particles_candidate = constituents_candidate[rows_candidate][mask_candidate[rows_candidate]]
            per_batch.append(wasserstein1(particles_reference, particles_candidate))
        values = np.stack(per_batch)

        results = {
            f"W1P.{name}": _batch_result(values[:, column], size) for column, name in enumerate(CONSTITUENT_FEATURES)
        }
        results["W1P"] = _batch_result(values.mean(axis=1), size)
        return results


def _batch_result(per_batch: np.ndarray, batch_size: int) -> MetricResult:
    return MetricResult(
        value=float(per_batch.mean()),
        uncertainty=float(per_batch.std()),
        details={"per_batch": per_batch.tolist(), "batch_size": batch_size},
    )


class JetEFPMetrics(Metric):
    """W1EFP, FPD and KPD from one computation of the energy-flow polynomials per sample.

    W1EFP is the W1 distance per EFP of the n = 4, d = 4 prime set, averaged over the five EFPs
    in every bootstrap batch. FPD and KPD compare all 36 EFPs with d <= 4, each normalised by
    its maximum |value| in the reference.
    """

    @dataclass(frozen=True)
    class Config:
        """Settings of the EFP metrics.

        Arguments:
            n_batches: Bootstrap batches of W1EFP (JetNet uses 5).
            fpd_min_samples: Smallest FPD fit size (lowered when the data are small).
            fpd_max_samples: Largest FPD fit size (capped at the data size).
            kpd_batch_size: Rows per KPD batch.
            n_jobs: Worker processes for the EFP computation; None uses every CPU.
        """

        n_batches: int = 5
        fpd_min_samples: int = 5000
        fpd_max_samples: int = 50000
        kpd_batch_size: int = 5000
        n_jobs: int | None = None

    def compute(self, reference: xr.Dataset, candidate: xr.Dataset, *, seed: int = 0) -> dict[str, MetricResult]:
        energyflow = import_energyflow()

        _check_jets(reference, "reference")
        _check_jets(candidate, "candidate")
        efp_reference = energy_flow_polynomials(reference, FPD_KPD_SELECTION, n_jobs=self.config.n_jobs)
        efp_candidate = energy_flow_polynomials(candidate, FPD_KPD_SELECTION, n_jobs=self.config.n_jobs)
        w1_columns = energyflow.EFPSet(*FPD_KPD_SELECTION).sel(*W1EFP_SELECTION)

        per_efp = w1_per_feature(efp_reference[:, w1_columns], efp_candidate[:, w1_columns],
                                 n_batches=self.config.n_batches, seed=seed)
        per_batch = np.mean([result.details["per_batch"] for result in per_efp], axis=0)
        w1efp = _batch_result(per_batch, per_efp[0].details["batch_size"])
        w1efp.details["per_efp"] = [result.value for result in per_efp]

        return {
            "W1EFP": w1efp,
            "FPD": fpd(efp_reference, efp_candidate, min_samples=self.config.fpd_min_samples,
                       max_samples=self.config.fpd_max_samples, seed=seed),
            "KPD": kpd(efp_reference, efp_candidate, batch_size=self.config.kpd_batch_size, seed=seed),
        }


def jet_histograms(reference: xr.Dataset, candidate: xr.Dataset) -> list[Histogram]:
    """Return the distributions a jet physicist checks first, for :func:`kiss_core.report.write_report`.

    These are the relative jet mass, each constituent feature over real particles, the number
    of real particles, and the pT of the constituent sum in GeV (relative pT times ``jet_pt``
    when the sample has it, else relative).
    """
    _check_jets(reference, "reference")
    _check_jets(candidate, "candidate")
    constituents_reference, mask_reference = _constituents(reference)
    constituents_candidate, mask_candidate = _constituents(candidate)

    histograms = [
        Histogram("relative_jet_mass", "Jet mass / jet pT",
                  relative_jet_mass(constituents_reference, mask_reference),
                  relative_jet_mass(constituents_candidate, mask_candidate)),
    ]
    labels = {"etarel": "Constituent eta - jet eta", "phirel": "Constituent phi - jet phi [rad]",
              "ptrel": "Constituent pT / jet pT"}
    for column, name in enumerate(CONSTITUENT_FEATURES):
        histograms.append(
            Histogram(f"constituent_{name}", labels[name], constituents_reference[..., column][mask_reference],
                      constituents_candidate[..., column][mask_candidate], log=name == "ptrel")
        )

    multiplicity_reference = mask_reference.sum(axis=1)
    multiplicity_candidate = mask_candidate.sum(axis=1)
    largest = int(max(multiplicity_reference.max(), multiplicity_candidate.max()))
    histograms.append(Histogram("multiplicity", "Number of constituents", multiplicity_reference,
                                multiplicity_candidate, bins=np.arange(-0.5, largest + 1.5)))

    pt_reference = relative_jet_pt(constituents_reference, mask_reference)
    pt_candidate = relative_jet_pt(constituents_candidate, mask_candidate)
    if "jet_pt" in reference.data_vars and "jet_pt" in candidate.data_vars:
        pt_reference = pt_reference * reference["jet_pt"].values
        pt_candidate = pt_candidate * candidate["jet_pt"].values
        histograms.append(Histogram("constituent_sum_pt", "pT of the constituent sum [GeV]", pt_reference, pt_candidate))
    else:
        histograms.append(Histogram("constituent_sum_pt", "pT of the constituent sum / jet pT", pt_reference,
                                    pt_candidate))
    return histograms
