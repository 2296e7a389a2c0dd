"""Input checks shared by every metric: shapes, finite values, weights, Kish effective sample size."""

from __future__ import annotations

import torch

from kiss_core.errors import KissError

__all__ = ["check_samples", "check_weights", "kish_effective_sample_size", "normalised_weights"]


def check_samples(points: torch.Tensor, where: str, dimension: int | None = None) -> None:
    """Raise a KissError unless ``points`` is a finite, non-constant (n, d) sample with n >= 2.

    Arguments:
        points: Sample, shape (n, d).
        where: Name of the sample for the message ("candidate", "samples.csv").
        dimension: Expected d; None accepts any.
    """
    if points.ndim != 2:
        raise KissError(
            "Invalid sample shape",
            where=where,
            expected="a 2-D array (n_points, n_dimensions)",
            got=f"shape {tuple(points.shape)}",
        )
    if points.shape[0] == 0:
        raise KissError("Empty sample", where=where, expected="at least 2 points", got="0 points")
    if dimension is not None and points.shape[1] != dimension:
        raise KissError(
            "Sample dimension does not match the target",
            where=where,
            expected=f"{dimension} dimensions",
            got=f"{points.shape[1]} dimensions",
            hint="check that the file columns match the target's coordinates",
        )
    if points.shape[0] < 2:
        raise KissError("Sample too small", where=where, expected="at least 2 points", got=f"{points.shape[0]} point")
    finite = torch.isfinite(points)
    if not bool(finite.all()):
        bad = (~finite).any(dim=1)
        first = int(torch.nonzero(bad)[0, 0])
        raise KissError(
            "Sample contains NaN or infinite values",
            where=where,
            expected="finite values only",
            got=f"{int(bad.sum())} of {points.shape[0]} points non-finite, the first at index {first} (from 0)",
            hint="drop or repair those rows before benchmarking",
        )
    if bool((points == points[:1]).all()):
        raise KissError(
            "Constant sample",
            where=where,
            expected="points that are not all identical",
            got=f"{points.shape[0]} copies of one point",
            hint="a stuck sampler or a broken file produces this; inspect the sample",
        )


def check_weights(weights: torch.Tensor | None, n_points: int, where: str) -> None:
    """Raise a KissError unless ``weights`` is None or n finite, non-negative values, not all zero."""
    if weights is None:
        return
    if weights.shape != (n_points,):
        raise KissError(
            "Invalid weight shape",
            where=where,
            expected=f"({n_points},), one weight per point",
            got=f"shape {tuple(weights.shape)}",
        )
    if not bool(torch.isfinite(weights).all()):
        raise KissError(
            "Weights contain NaN or infinite values",
            where=where,
            expected="finite weights",
            got=f"{int((~torch.isfinite(weights)).sum())} non-finite weights",
        )
    if bool((weights < 0).any()):
        raise KissError(
            "Negative weights",
            where=where,
            expected="weights >= 0",
            got=f"{int((weights < 0).sum())} negative weights, minimum {float(weights.min()):.4g}",
            hint="unweight samples with negative weights before benchmarking",
        )
    if not bool((weights > 0).any()):
        raise KissError("All weights are zero", where=where, expected="at least one positive weight", got="all zero")


def normalised_weights(weights: torch.Tensor | None, n_points: int, like: torch.Tensor) -> torch.Tensor:
    """Return weights that sum to 1 (uniform when ``weights`` is None) as float64 on ``like``'s device."""
    if weights is None:
        return torch.full((n_points,), 1.0 / n_points, dtype=torch.float64, device=like.device)
    weights = weights.to(dtype=torch.float64, device=like.device)
    return weights / weights.sum()


def kish_effective_sample_size(weights: torch.Tensor | None, n_points: int) -> float:
    """Return Kish's effective sample size (sum w)^2 / sum w^2; n for unweighted samples.

    References:
        L. Kish, Survey Sampling (Wiley, 1965), section 11.7.
    """
    if weights is None:
        return float(n_points)
    weights = weights.to(torch.float64)
    return float(weights.sum() ** 2 / (weights**2).sum())
