"""Evaluation of a candidate sample against a reference, beside a reference-versus-reference baseline.

A metric value means little on its own: even two samples of the same distribution differ by
statistical noise that depends on the sample size. :func:`evaluate` therefore splits the
reference into two disjoint random halves A and B of m events each, subsamples the candidate to
m events, and computes every metric for (A, candidate) and for (A, B). A candidate is
compatible with the reference when its value lies within a few uncertainties of the baseline.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm import tqdm

from kiss_core.errors import KissError

if TYPE_CHECKING:
    import xarray as xr

    from kiss_core.interfaces import Metric

__all__ = ["Evaluation", "EvaluationRow", "evaluate"]

logger = logging.getLogger(__name__)

#: Events per reference half below which evaluate() rejects the input, because any two-sample
#: statistic on fewer events is dominated by noise. The number is a chosen floor. Single metrics
#: may need more, for example FPD needs more events than features.
MIN_EVENTS_PER_HALF = 100

#: Events checked for NaN and infinity at once, to bound memory on large samples.
_EVENTS_PER_CHECK = 100_000


@dataclass(frozen=True)
class EvaluationRow:
    """One metric label compared for the candidate and for the baseline at equal sample size.

    Arguments:
        metric: Key of the metric in the ``metrics`` mapping given to :func:`evaluate`.
        label: Label the metric returned ("W1M", "W1P.ptrel").
        value: Candidate-versus-reference value.
        uncertainty: Its statistical uncertainty.
        baseline_value: Reference-versus-reference value.
        baseline_uncertainty: Its statistical uncertainty.
        n: Events per sample in both comparisons.
        lower_is_better: Whether smaller values mean a closer match.
        details: Candidate and baseline details returned by the metric.
    """

    metric: str
    label: str
    value: float
    uncertainty: float
    baseline_value: float
    baseline_uncertainty: float
    n: int
    lower_is_better: bool = True
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def pull(self) -> float:
        """Return (value - baseline) / sqrt(uncertainty^2 + baseline uncertainty^2), NaN if both are 0."""
        spread = math.hypot(self.uncertainty, self.baseline_uncertainty)
        return (self.value - self.baseline_value) / spread if spread > 0 else math.nan


@dataclass(frozen=True)
class Evaluation:
    """Results of :func:`evaluate`.

    Arguments:
        rows: One row per metric label.
        n_events: Events per sample m in every comparison.
        n_reference: Events in the whole reference sample.
        n_candidate: Events in the whole candidate sample.
        seed: Seed of the split and of the metrics.
    """

    rows: tuple[EvaluationRow, ...]
    n_events: int
    n_reference: int
    n_candidate: int
    seed: int

    def to_dict(self) -> dict[str, Any]:
        """Return the evaluation as JSON-serialisable data, with the pull of each row."""
        rows = []
        for row in self.rows:
            record = _jsonable(asdict(row))
            record["pull"] = _jsonable(row.pull)
            rows.append(record)
        return {
            "n_events": self.n_events,
            "n_reference": self.n_reference,
            "n_candidate": self.n_candidate,
            "seed": self.seed,
            "rows": rows,
        }

    def to_json(self) -> str:
        """Serialise :meth:`to_dict` as indented JSON (NaN and infinity become null)."""
        return json.dumps(self.to_dict(), indent=2, allow_nan=False)


def _jsonable(value: Any) -> Any:
    """Convert numpy scalars and arrays to Python types and non-finite floats to None."""
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _check_compatible(reference: xr.Dataset, candidate: xr.Dataset) -> None:
    """Raise KissError unless both datasets have the same variables with matching shapes."""
    for name, samples in (("reference", reference), ("candidate", candidate)):
        if "event" not in samples.dims:
            raise KissError("Samples without an event dimension", where=name,
                            expected="an xarray.Dataset with dimension 'event'", got=str(dict(samples.sizes)))

    missing = sorted(set(reference.data_vars) - set(candidate.data_vars))
    extra = sorted(set(candidate.data_vars) - set(reference.data_vars))
    if missing or extra:
        raise KissError(
            "Reference and candidate have different variables",
            where="candidate",
            expected=f"the reference variables: {', '.join(sorted(map(str, reference.data_vars)))}",
            got=f"missing {missing or 'none'}, extra {extra or 'none'}",
        )

    for name in reference.data_vars:
        shape_reference = {dim: size for dim, size in reference[name].sizes.items() if dim != "event"}
        shape_candidate = {dim: size for dim, size in candidate[name].sizes.items() if dim != "event"}
        if reference[name].dims != candidate[name].dims or shape_reference != shape_candidate:
            raise KissError(
                "Reference and candidate shapes differ",
                where=f"variable '{name}'",
                expected=f"dims {reference[name].dims} with sizes {shape_reference} besides 'event'",
                got=f"dims {candidate[name].dims} with sizes {shape_candidate}",
            )


def _check_finite(samples: xr.Dataset, which: str) -> None:
    """Raise KissError if any floating-point variable of ``samples`` contains NaN or infinity."""
    for name, variable in samples.data_vars.items():
        if not np.issubdtype(variable.dtype, np.floating) or "event" not in variable.dims:
            continue
        for start in range(0, samples.sizes["event"], _EVENTS_PER_CHECK):
            chunk = variable.isel(event=slice(start, start + _EVENTS_PER_CHECK)).values
            if not np.isfinite(chunk).all():
                bad = int((~np.isfinite(variable.values)).sum())
                raise KissError(
                    "Samples contain NaN or infinite values",
                    where=f"{which} variable '{name}'",
                    expected="finite numbers",
                    got=f"{bad} non-finite entries",
                    hint="remove or fix these events before evaluating",
                )


def _split(n_reference: int, n_candidate: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw disjoint reference halves A and B and a candidate subsample, all of equal size m."""
    m = min(n_reference // 2, n_candidate)
    rng = np.random.default_rng(seed)
    permutation = rng.permutation(n_reference)
    half_a = np.sort(permutation[:m])
    half_b = np.sort(permutation[m : 2 * m])
    candidate_rows = np.sort(rng.choice(n_candidate, m, replace=False))
    return half_a, half_b, candidate_rows


def evaluate(
    reference: xr.Dataset,
    candidate: xr.Dataset,
    metrics: dict[str, Metric],
    *,
    seed: int = 0,
    progress: bool = False,
) -> Evaluation:
    """Compute every metric for the candidate and for a reference-versus-reference baseline.

    Arguments:
        reference: Reference samples with dimension ``event``; needs at least twice
            :data:`MIN_EVENTS_PER_HALF` events.
        candidate: Candidate samples with the same variables and shapes.
        metrics: Metric components by name.
        seed: Seed of the split and of every metric.
        progress: Show a progress bar over the metric computations.

    Returns:
        An :class:`Evaluation` with one row per metric label, all at m = min(N_reference // 2,
        N_candidate) events per sample.

    Example:
        >>> evaluation = evaluate(reference, candidate, {"w1": FeatureW1(FeatureW1.Config(("energy",)))})
        >>> evaluation.rows[0].value, evaluation.rows[0].baseline_value
    """
    _check_compatible(reference, candidate)
    n_reference, n_candidate = reference.sizes["event"], candidate.sizes["event"]
    if n_reference < 2 * MIN_EVENTS_PER_HALF or n_candidate < MIN_EVENTS_PER_HALF:
        raise KissError(
            "Too few events to evaluate",
            where=f"reference has {n_reference}, candidate has {n_candidate}",
            expected=f"at least {2 * MIN_EVENTS_PER_HALF} reference events (two halves of "
            f"{MIN_EVENTS_PER_HALF}) and {MIN_EVENTS_PER_HALF} candidate events",
            got=f"{n_reference} reference and {n_candidate} candidate events",
            hint="simulate or generate more events",
        )
    _check_finite(reference, "reference")
    _check_finite(candidate, "candidate")

    half_a, half_b, candidate_rows = _split(n_reference, n_candidate, seed)
    m = len(half_a)
    logger.info("Evaluating %d metrics on %d events per sample (reference %d, candidate %d, seed %d)",
                len(metrics), m, n_reference, n_candidate, seed)
    reference_a = reference.isel(event=half_a)
    reference_b = reference.isel(event=half_b)
    candidate_m = candidate.isel(event=candidate_rows)

    rows = []
    bar = tqdm(total=2 * len(metrics), desc="metrics", disable=not progress)
    for name, metric in metrics.items():
        started = time.perf_counter()
        results = metric.compute(reference_a, candidate_m, seed=seed)
        bar.update()
        baseline = metric.compute(reference_a, reference_b, seed=seed)
        bar.update()
        logger.info("Metric %s took %.1f s", name, time.perf_counter() - started)

        for label, result in results.items():
            base = baseline[label]
            rows.append(
                EvaluationRow(
                    metric=name,
                    label=label,
                    value=float(result.value),
                    uncertainty=float(result.uncertainty),
                    baseline_value=float(base.value),
                    baseline_uncertainty=float(base.uncertainty),
                    n=m,
                    lower_is_better=type(metric).lower_is_better,
                    details={"candidate": result.details, "baseline": base.details},
                )
            )
    bar.close()
    return Evaluation(rows=tuple(rows), n_events=m, n_reference=n_reference, n_candidate=n_candidate, seed=seed)
