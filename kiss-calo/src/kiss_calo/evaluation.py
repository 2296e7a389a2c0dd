"""The CaloChallenge evaluation of a candidate shower file against a reference file.

One pass over each file computes the high-level features of every shower, keeps a bounded
random subsample of normalised voxels for the low-level classifier, sums the average shower
and keeps a few single showers. Each metric is then computed twice at the same sample size:
candidate against the first half of the reference, and the second half of the reference
against the first half (the baseline a perfect candidate would reach).

Metrics: the separation power of every high-level feature histogram, a calibrated classifier
on low-level and on high-level inputs (AUC and JSD), and FPD and KPD on the high-level inputs.
Results go to ``metrics.json``, PNG plots and ``index.html`` in the output folder.

References:
    Krause et al., "CaloChallenge 2022: A Community Challenge for Fast Calorimeter
    Simulation" (2024), https://arxiv.org/abs/2410.21611
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import xarray as xr
from tqdm import tqdm

from kiss_calo.features import (
    classifier_high_level_inputs,
    classifier_low_level_inputs,
    high_level_features,
    histogram_edges,
    separation_power,
)
from kiss_calo.geometry import CaloChallengeGeometry
from kiss_calo.io import iter_calochallenge, read_incident_energies
from kiss_core.errors import KissError
from kiss_core.evaluation import Evaluation, EvaluationRow
from kiss_core.interfaces import MetricResult
from kiss_core.report import Histogram, write_report

__all__ = ["EvaluationConfig", "EvaluationResult", "evaluate_calochallenge"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvaluationConfig:
    """Options of the CaloChallenge evaluation.

    Arguments:
        threshold_mev: Voxel energy at or below which a voxel counts as empty (sparsity).
        n_bins: Histogram bins per feature between the reference's 0.1 and 99.9 % quantiles.
        classifier_memory_mb: Memory in MB for the float32 low-level classifier inputs of the
            three samples together. It bounds the classifier subsample: the default 512 MB
            allows about 1100 showers per sample for dataset 3 (40500 voxels). The classifier
            network trains in mini-batches, so it adds a copy of the subsample, the network with
            its optimiser state (about 330 MB for dataset 3) and one batch.
        max_classifier_showers: Largest classifier subsample per sample (low and high level).
        low_level_classifier: Train the classifier on voxels (a network trained in
            mini-batches, see :func:`kiss_core.metrics.classifier.train_mlp_classifier`).
        block_size: Showers read at once; ``None`` picks about 64 MB per block.
        max_showers: Use at most this many showers of each file.
        n_single_showers: Single showers drawn per sample.
        seed: Seed of the reference split, the subsamples and the classifiers.
        check_units: Reject files whose incident energies all lie below 1000 (probably GeV).
    """

    threshold_mev: float = 0.0
    n_bins: int = 50
    classifier_memory_mb: float = 512.0
    max_classifier_showers: int = 50_000
    low_level_classifier: bool = True
    block_size: int | None = None
    max_showers: int | None = None
    n_single_showers: int = 3
    seed: int = 0
    check_units: bool = True


@dataclass
class EvaluationResult:
    """The metrics of an evaluation and the files it wrote.

    Arguments:
        evaluation: One row per metric, candidate and baseline side by side.
        files: Every file written.
        sample_sizes: Showers in the reference halves, the candidate subsample and the
            classifier subsample.
    """

    evaluation: Evaluation
    files: list[Path] = field(default_factory=list)
    sample_sizes: dict[str, int] = field(default_factory=dict)

    def row(self, metric: str, label: str) -> EvaluationRow:
        """Return the row of one metric label, for example ``row("classifier_low_level", "AUC")``."""
        for row in self.evaluation.rows:
            if (row.metric, row.label) == (metric, label):
                return row
        raise KeyError(f"no row {metric}: {label}")


@dataclass
class _Scan:
    """The features, classifier rows and shower images kept from one pass over a file."""

    features: xr.DataArray
    incident_energy_mev: np.ndarray
    low_level: np.ndarray
    mean_shower_mev: np.ndarray
    single_showers_mev: np.ndarray


def _scan(
    path: Path,
    geometry: CaloChallengeGeometry,
    config: EvaluationConfig,
    low_level_rows: np.ndarray,
    single_rows: np.ndarray,
    progress: bool,
    label: str,
) -> _Scan:
    """Read a file once and keep features, the requested low-level rows and the mean shower."""
    blocks_features = []
    incident_parts = []
    low_level = np.zeros((len(low_level_rows), geometry.n_cells + 1), dtype=np.float32)
    order = np.argsort(low_level_rows)
    sorted_rows = low_level_rows[order]
    singles = np.zeros((len(single_rows), geometry.n_cells))
    shower_sum = np.zeros(geometry.n_cells)
    n_showers = 0

    blocks = iter_calochallenge(path, geometry, block_size=config.block_size, max_showers=config.max_showers,
                                check_units=config.check_units)
    with tqdm(desc=f"reading {label}", unit=" showers", disable=not progress) as bar:
        for block in blocks:
            stop = block.start + len(block.showers_mev)
            # float32 halves the memory of the features (about 1.4 kB per dataset 3 shower).
            features = high_level_features(block.showers_mev, block.incident_energy_mev, geometry,
                                           threshold_mev=config.threshold_mev)
            blocks_features.append(features.astype(np.float32))
            incident_parts.append(block.incident_energy_mev)
            shower_sum += block.showers_mev.sum(axis=0)
            n_showers = stop

            first, last = np.searchsorted(sorted_rows, [block.start, stop])
            if last > first:
                local = sorted_rows[first:last] - block.start
                low_level[order[first:last]] = classifier_low_level_inputs(
                    block.showers_mev[local], block.incident_energy_mev[local])
            wanted = (single_rows >= block.start) & (single_rows < stop)
            singles[wanted] = block.showers_mev[single_rows[wanted] - block.start]
            bar.update(len(block.showers_mev))

    return _Scan(
        features=xr.concat(blocks_features, dim="event"),
        incident_energy_mev=np.concatenate(incident_parts),
        low_level=low_level,
        mean_shower_mev=shower_sum / max(n_showers, 1),
        single_showers_mev=singles,
    )


def _split_reference(n_reference: int, n_candidate: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Split the reference into halves A and B and draw a candidate subsample as large as B."""
    if n_reference < 4 or n_candidate < 2:
        raise KissError("Too few showers to evaluate", expected="at least 4 reference and 2 candidate showers",
                        got=f"{n_reference} reference and {n_candidate} candidate showers")
    # The rows stay in random order, so the leading rows taken for the classifiers and the
    # single-shower images are random too, even in files sorted by incident energy.
    permutation = rng.permutation(n_reference)
    half = n_reference // 2
    half_a, half_b = permutation[:half], permutation[half : 2 * half]
    size = min(len(half_b), n_candidate)
    half_b = half_b[:size]
    candidate = rng.choice(n_candidate, size, replace=False)
    return half_a, half_b, candidate


def evaluate_calochallenge(
    reference_path: str | Path,
    candidate_path: str | Path,
    geometry: CaloChallengeGeometry,
    out_dir: str | Path,
    config: EvaluationConfig | None = None,
    *,
    title: str = "CaloChallenge evaluation",
    run_info: dict | None = None,
    progress: bool = False,
) -> EvaluationResult:
    """Evaluate a candidate CaloChallenge file against a reference file and write a report.

    Both files are checked (layout, voxel count, incident energies) before the long pass. The
    reference is split at random into two halves, and the candidate is subsampled to the size
    of a half, so candidate and baseline are compared with the first half at equal size.
    Features are computed block by block, so memory stays at the features (float32, about
    1.4 kB per shower for dataset 3) plus the classifier subsample bounded by
    ``config.classifier_memory_mb``.

    Arguments:
        reference_path: The reference (Geant4) CaloChallenge HDF5 file.
        candidate_path: The candidate (generated) file in the same layout.
        geometry: The binning both files use.
        out_dir: Folder for ``metrics.json``, ``index.html`` and PNG plots (created if missing).
        config: Evaluation options; ``None`` uses the defaults.
        title: Title of ``index.html``.
        run_info: Further facts listed in the report (command, timings).
        progress: Show progress bars.

    Returns:
        The metrics and the files written.

    Example:
        >>> result = evaluate_calochallenge("ref.h5", "gen.h5", CaloChallengeGeometry.official("ds2"), "eval/")
        >>> result.row("classifier_low_level", "AUC").value
    """
    config = config or EvaluationConfig()
    reference_path, candidate_path, out_dir = Path(reference_path), Path(candidate_path), Path(out_dir)
    started = time.perf_counter()

    n_reference = len(read_incident_energies(reference_path, geometry, max_showers=config.max_showers,
                                             check_units=config.check_units))
    n_candidate = len(read_incident_energies(candidate_path, geometry, max_showers=config.max_showers,
                                             check_units=config.check_units))
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(config.seed)
    half_a, half_b, candidate_rows = _split_reference(n_reference, n_candidate, rng)
    logger.info("evaluating %d candidate showers against reference halves of %d and %d showers (%s)",
                len(candidate_rows), len(half_a), len(half_b), geometry.describe())

    # The low-level inputs of three samples must fit in classifier_memory_mb as float32.
    budget_rows = int(config.classifier_memory_mb * 2**20 / (3 * 4 * (geometry.n_cells + 1)))
    n_low = max(0, min(len(half_b), config.max_classifier_showers, budget_rows))
    if not config.low_level_classifier:
        n_low = 0
    logger.info("classifiers use %d showers per sample", n_low)
    n_single = min(config.n_single_showers, len(half_b))

    reference_scan = _scan(reference_path, geometry, config,
                           np.concatenate([half_a[:n_low], half_b[:n_low]]), half_a[:n_single], progress, "reference")
    candidate_scan = _scan(candidate_path, geometry, config, candidate_rows[:n_low], candidate_rows[:n_single],
                           progress, "candidate")

    samples = {
        "reference": reference_scan.features[half_a],
        "baseline": reference_scan.features[half_b],
        "candidate": candidate_scan.features[candidate_rows],
    }
    incident = {
        "reference": reference_scan.incident_energy_mev[half_a],
        "baseline": reference_scan.incident_energy_mev[half_b],
        "candidate": candidate_scan.incident_energy_mev[candidate_rows],
    }
    low_level = {
        "reference": reference_scan.low_level[:n_low],
        "baseline": reference_scan.low_level[n_low:],
        "candidate": candidate_scan.low_level,
    }

    sample_sizes = {"reference_half": len(half_a), "baseline_half": len(half_b), "candidate": len(candidate_rows),
                    "classifier": n_low}
    rows = _compute_metrics(samples, incident, low_level if config.low_level_classifier else None,
                            seed=config.seed, n_bins=config.n_bins,
                            max_classifier_showers=config.max_classifier_showers, progress=progress)
    evaluation = Evaluation(rows=tuple(rows), n_events=len(half_b), n_reference=n_reference,
                            n_candidate=n_candidate, seed=config.seed)

    from kiss_calo import plotting

    # Drawing one panel per layer and feature takes tens of seconds for 45 layers.
    logger.info("drawing the feature histograms and shower images")
    files = plotting.plot_feature_histograms(samples, config.n_bins, out_dir)
    files += plotting.plot_showers(
        geometry,
        {"reference": reference_scan.mean_shower_mev, "candidate": candidate_scan.mean_shower_mev},
        out_dir / "average_showers.png", title="Average shower (MeV)")
    for index in range(n_single):
        files += plotting.plot_showers(
            geometry,
            {"reference": reference_scan.single_showers_mev[index],
             "candidate": candidate_scan.single_showers_mev[index]},
            out_dir / f"single_shower_{index}.png", title=f"Single showers, draw {index} (MeV)")

    # Per-layer energies are drawn in features_layer_energy.png; the report renders the two
    # shower-level distributions with its own ratio panels.
    histograms = [
        Histogram(name=f"histogram_{name}", label=f"{name} [MeV]" if name == "total_energy" else name,
                  reference=samples["reference"].sel(feature=name).values,
                  candidate=samples["candidate"].sel(feature=name).values)
        for name in ("total_energy", "energy_ratio")
    ]
    run_info = {
        **(run_info or {}),
        "reference": str(reference_path),
        "candidate": str(candidate_path),
        "geometry": geometry.describe(),
        "config": json.dumps(asdict(config)),
        "sample sizes": json.dumps(sample_sizes),
        "seconds": round(time.perf_counter() - started, 1),
    }
    # Shower images come first on the page: they show at a glance whether the candidate looks like showers.
    ordered = sorted(files, key=lambda path: path.stem.startswith("features_"))
    images = [(_image_caption(path), path) for path in ordered]
    index = write_report(out_dir, evaluation, histograms, title=title, run_info=run_info, images=images)
    files += [out_dir / f"{record.name}.png" for record in histograms] + [out_dir / "metrics.json", index]
    logger.info("evaluation finished in %.1f s, wrote %d files to %s",
                time.perf_counter() - started, len(files), out_dir)
    return EvaluationResult(evaluation=evaluation, files=files, sample_sizes=sample_sizes)


def _image_caption(path: Path) -> str:
    """Return the report caption of a plot written by :mod:`kiss_calo.plotting`."""
    if path.stem == "average_showers":
        return "Average shower per layer (MeV), reference above candidate"
    if path.stem.startswith("single_shower_"):
        return f"Single showers, random draw {path.stem.rsplit('_', 1)[1]} (MeV), reference above candidate"
    kind = path.stem.removeprefix("features_")
    return f"{kind} per layer: reference half A (filled), half B (dashed), candidate (orange)"


def _separation_powers(
    reference: np.ndarray, sample: np.ndarray, edges: np.ndarray, rng: np.random.Generator, n_bootstrap: int
) -> tuple[float, float]:
    """Return the separation power and its standard deviation over bootstrap resamples of both samples."""
    value = separation_power(reference, sample, edges)
    draws = [
        separation_power(reference[rng.integers(0, len(reference), len(reference))],
                         sample[rng.integers(0, len(sample), len(sample))], edges)
        for _ in range(n_bootstrap)
    ]
    return value, float(np.std(draws, ddof=1)) if n_bootstrap > 1 else float("nan")


def _separation_rows(samples: dict[str, xr.DataArray], n_bins: int, seed: int, n_bootstrap: int,
                     progress: bool) -> list[EvaluationRow]:
    """Compute one row per feature kind: the mean separation power over its features (layers).

    The per-feature values are in the row details. The uncertainty of the mean is the
    quadrature sum of the per-feature bootstrap spreads divided by the number of features.
    """
    rng = np.random.default_rng(seed)
    names = [str(name) for name in samples["reference"].feature.values]
    arrays = {label: samples[label].transpose("event", "feature").values for label in samples}
    per_kind: dict[str, dict[str, dict[str, tuple[float, float]]]] = {}
    for column, name in enumerate(tqdm(names, desc="separation power", disable=not progress)):
        kind = name.split(".")[0]
        reference_values = arrays["reference"][:, column]
        edges = histogram_edges(reference_values, n_bins)
        for label in ("candidate", "baseline"):
            values = arrays[label][:, column]
            per_kind.setdefault(kind, {}).setdefault(label, {})[str(name)] = _separation_powers(
                reference_values, values, edges, rng, n_bootstrap)

    rows = []
    for kind, results in per_kind.items():
        summary = {}
        for label, values in results.items():
            centres = np.array([value for value, _ in values.values()])
            spreads = np.array([spread for _, spread in values.values()])
            summary[label] = (float(centres.mean()), float(np.sqrt(np.sum(spreads**2)) / len(spreads)))
        rows.append(EvaluationRow(
            metric="separation_power", label=kind,
            value=summary["candidate"][0], uncertainty=summary["candidate"][1],
            baseline_value=summary["baseline"][0], baseline_uncertainty=summary["baseline"][1],
            n=len(samples["baseline"]),
            details={label: {name: value for name, (value, _) in values.items()} for label, values in results.items()},
        ))
    return rows


def _paired_rows(metric: str, function, inputs: dict[str, np.ndarray], labels: dict[str, str],
                 **options) -> list[EvaluationRow]:
    """Compute a two-sample metric for candidate and baseline against the reference half.

    Arguments:
        metric: Row metric name.
        function: ``function(reference, sample, **options) -> MetricResult``.
        inputs: Arrays under "reference", "baseline" and "candidate".
        labels: Row label per quantity: "value" for the metric value, or a details key.
    """
    results = {}
    for sample in ("candidate", "baseline"):
        try:
            results[sample] = function(inputs["reference"], inputs[sample], **options)
        except KissError as error:
            logger.warning("%s for the %s skipped: %s", metric, sample, error.message())
            results[sample] = None

    details = {sample: {name: value for name, value in result.details.items() if isinstance(value, (int, float, str))}
               for sample, result in results.items() if result is not None}
    rows = []
    for label, key in labels.items():
        candidate = _value_of(results["candidate"], key)
        baseline = _value_of(results["baseline"], key)
        rows.append(EvaluationRow(metric=metric, label=label, value=candidate[0], uncertainty=candidate[1],
                                  baseline_value=baseline[0], baseline_uncertainty=baseline[1],
                                  n=min(len(inputs["baseline"]), len(inputs["candidate"])), details=details))
    return rows


def _value_of(result: MetricResult | None, key: str) -> tuple[float, float]:
    """Return (value, uncertainty) of a result, or of one of its details (uncertainty NaN); NaN for a skipped metric."""
    if result is None:
        return float("nan"), float("nan")
    if key == "value":
        return float(result.value), float(result.uncertainty)
    return float(result.details[key]), float("nan")


def _compute_metrics(
    samples: dict[str, xr.DataArray],
    incident: dict[str, np.ndarray],
    low_level: dict[str, np.ndarray] | None,
    *,
    seed: int,
    n_bins: int,
    max_classifier_showers: int,
    progress: bool,
    n_bootstrap: int = 10,
) -> list[EvaluationRow]:
    """Compute every metric for the candidate and the baseline against the reference half."""
    from kiss_core.metrics import classifier_test, fpd, kpd

    rows = _separation_rows(samples, n_bins, seed, n_bootstrap, progress)

    high_level = {label: classifier_high_level_inputs(samples[label], incident[label]) for label in samples}
    # NOTE: neither classifier is the official network with its training schedule, so the AUC
    # and JSD are not directly comparable with the published CaloChallenge tables.
    # The voxel classifier is the mini-batched network: gradient-boosted trees keep histograms of
    # every feature for each open leaf, and on dataset 3 (40500 voxels) they grew past 7 GB for
    # 2200 showers per sample. The high-level classifier (under 400 features) uses the trees.
    classifier_labels = {"AUC": "value", "JSD [bits]": "jsd_bits"}
    classifier_inputs = [("classifier_high_level", high_level, {"model": "boosted_trees"})]
    if low_level is not None:
        classifier_inputs.insert(0, ("classifier_low_level", low_level, {"model": "mlp"}))
    for metric, inputs, options in classifier_inputs:
        logger.info("training the %s classifiers", metric.removeprefix("classifier_").replace("_", "-"))
        rows += _paired_rows(metric, classifier_test, inputs, classifier_labels, seed=seed,
                             max_events=max_classifier_showers, **options)
    rows += _paired_rows("fpd", fpd, high_level, {"FPD": "value"}, seed=seed)
    rows += _paired_rows("kpd", kpd, high_level, {"KPD": "value"}, seed=seed)
    return rows
