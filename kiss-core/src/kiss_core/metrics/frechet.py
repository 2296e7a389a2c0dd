"""Fréchet distance between Gaussian fits of two samples, and its extrapolation to infinite size (FPD).

For Gaussians N(mu_1, C_1) and N(mu_2, C_2) the squared Fréchet (2-Wasserstein) distance is

    d^2 = |mu_1 - mu_2|^2 + Tr(C_1 + C_2 - 2 (C_1^(1/2) C_2 C_1^(1/2))^(1/2)).

Like FID, "Fréchet distance" here means this squared distance.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from kiss_core.errors import KissError
from kiss_core.interfaces import MetricResult

__all__ = ["as_feature_matrix", "fpd", "frechet_distance", "gaussian_moments", "max_abs_scale"]

logger = logging.getLogger(__name__)

#: Rows accumulated at once when computing means and covariances, to bound memory.
_ROWS_PER_CHUNK = 65536


def as_feature_matrix(samples: np.ndarray | torch.Tensor, device: str | torch.device | None = None) -> torch.Tensor:
    """Return ``samples`` as an (N, D) float64 tensor on ``device`` (default: where a tensor already is, else CPU).

    The torch metrics of :mod:`kiss_core.metrics` accept numpy arrays and tensors alike and
    compute on this device, so CUDA tensors, or ``device="cuda"``, keep the work on the GPU.
    """
    if device is None:
        device = samples.device if isinstance(samples, torch.Tensor) else "cpu"
    return torch.as_tensor(samples).to(device=device, dtype=torch.float64).reshape(len(samples), -1)


def gaussian_moments(samples: np.ndarray | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Compute the mean and the unbiased covariance of (N, D) samples in float64, in row chunks.

    Runs on the device of ``samples`` when it is a tensor.

    Returns:
        The mean of shape (D,) and the covariance of shape (D, D), float64 tensors.
    """
    samples = torch.as_tensor(samples).reshape(len(samples), -1)
    n, n_features = samples.shape
    if n < 2:
        raise ValueError(f"a covariance needs at least 2 samples, got {n}")

    # A shift by the first row keeps the sums of squares small, which avoids cancellation.
    shift = samples[0].to(torch.float64)
    total = torch.zeros(n_features, dtype=torch.float64, device=samples.device)
    outer = torch.zeros((n_features, n_features), dtype=torch.float64, device=samples.device)
    for start in range(0, n, _ROWS_PER_CHUNK):
        chunk = samples[start : start + _ROWS_PER_CHUNK].to(torch.float64) - shift
        total += chunk.sum(dim=0)
        outer += chunk.T @ chunk

    mean_shifted = total / n
    covariance = (outer - n * torch.outer(mean_shifted, mean_shifted)) / (n - 1)
    return mean_shifted + shift, covariance


def _trace_sqrt_product(covariance_1: torch.Tensor, covariance_2: torch.Tensor) -> float:
    """Return Tr((C1 C2)^(1/2)) through the symmetric form C1^(1/2) C2 C1^(1/2).

    The symmetric form has real, non-negative eigenvalues in exact arithmetic, so eigh avoids
    the spurious imaginary parts that a general matrix square root (scipy.linalg.sqrtm) of the
    non-symmetric product C1 C2 produces. Eigenvalues that rounding makes slightly negative are
    clipped to zero.
    """
    eigenvalues_1, eigenvectors_1 = torch.linalg.eigh(covariance_1)
    sqrt_1 = (eigenvectors_1 * eigenvalues_1.clamp(min=0.0).sqrt()) @ eigenvectors_1.T
    middle = sqrt_1 @ covariance_2 @ sqrt_1
    eigenvalues = torch.linalg.eigvalsh((middle + middle.T) / 2)
    return float(eigenvalues.clamp(min=0.0).sqrt().sum())


def _frechet_from_moments(mean_1, covariance_1, mean_2, covariance_2) -> float:
    difference = mean_1 - mean_2
    trace_term = float(torch.trace(covariance_1) + torch.trace(covariance_2))
    return float(difference @ difference) + trace_term - 2.0 * _trace_sqrt_product(covariance_1, covariance_2)


def frechet_distance(
    reference: np.ndarray | torch.Tensor,
    candidate: np.ndarray | torch.Tensor,
    *,
    device: str | torch.device | None = None,
) -> float:
    """Compute the squared Fréchet distance between Gaussian fits of two (N, D) samples.

    Arguments:
        reference: Samples of shape (N, D) or (N,), a numpy array or a tensor.
        candidate: Samples of shape (M, D) or (M,), with the same D.
        device: Torch device of the computation; default: the reference's device (CPU for arrays).

    Returns:
        d^2 = |mu_r - mu_c|^2 + Tr(C_r + C_c - 2 (C_r C_c)^(1/2)), in the squared units of the features.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> round(frechet_distance(rng.normal(size=(100000, 2)), rng.normal(1.0, size=(100000, 2))), 1)
        2.0

    References:
        Dowson and Landau, "The Fréchet distance between multivariate normal distributions",
        J. Multivariate Anal. 12 (1982) 450, https://doi.org/10.1016/0047-259X(82)90077-X.
    """
    reference = as_feature_matrix(reference, device)
    candidate = as_feature_matrix(candidate, reference.device)
    if reference.shape[1] != candidate.shape[1]:
        raise ValueError(f"reference has {reference.shape[1]} features but candidate has {candidate.shape[1]}")
    return _frechet_from_moments(*gaussian_moments(reference), *gaussian_moments(candidate))


def _fpd_sample_sizes(
    n_reference: int, n_candidate: int, min_samples: int, max_samples: int, n_points: int
) -> np.ndarray:
    """Choose sample sizes evenly spaced in 1/N, capped at the data sizes."""
    largest = min(max_samples, n_reference, n_candidate)
    smallest = min(min_samples, largest // 2)
    if smallest != min_samples or largest != max_samples:
        logger.info("FPD uses sample sizes %d to %d because the data hold %d and %d rows",
                    smallest, largest, n_reference, n_candidate)
    return (1.0 / np.linspace(1.0 / smallest, 1.0 / largest, n_points)).astype(np.int64)


def max_abs_scale(reference: torch.Tensor) -> torch.Tensor:
    """Return the per-feature maximum of |reference| of an (N, D) tensor, with 1 for features that are all zero."""
    scale = reference.abs().amax(dim=0)
    return torch.where(scale == 0, torch.ones_like(scale), scale)


def fpd(
    reference: np.ndarray | torch.Tensor,
    candidate: np.ndarray | torch.Tensor,
    *,
    min_samples: int = 5000,
    max_samples: int = 50000,
    n_points: int = 10,
    n_batches: int = 10,
    seed: int = 0,
    normalise: bool = True,
    device: str | torch.device | None = None,
) -> MetricResult:
    """Compute the Fréchet physics distance: the Fréchet distance extrapolated to infinite size.

    The Fréchet distance of finite samples is biased upwards by a term that falls like 1/N. For
    ``n_points`` sizes N evenly spaced in 1/N, the mean over ``n_batches`` bootstrap draws is
    fitted by a straight line in 1/N, and the intercept (N -> infinity) is the value.

    Arguments:
        reference: Features of shape (N, D).
        candidate: Features of shape (M, D).
        min_samples: Smallest sample size of the fit; lowered to half the largest size when the
            data are small.
        max_samples: Largest sample size, capped at min(N, M).
        n_points: Number of sample sizes (at least 3, so that the fit has a residual).
        n_batches: Bootstrap draws per sample size.
        seed: Seed of the draws.
        normalise: Divide every feature of both samples by its maximum |value| in the
            reference, as JetNet does, so features of different scales weigh alike.
        device: Torch device of the computation; default: the reference's device (CPU for
            arrays). The draws do not depend on it, so CPU and GPU agree to rounding.

    Returns:
        value = the fitted intercept (it may come out slightly negative for matching
        distributions), uncertainty = its standard error from the fit; details hold the sizes
        and the mean distance at each size.

    References:
        Kansal et al., "Evaluating generative models in high energy physics",
        Phys. Rev. D 107 (2023) 076017, arXiv:2211.10295.
        Chong and Forsyth, "Effectively Unbiased FID and Inception Score and where to find
        them", CVPR 2020, arXiv:1911.07023 (the extrapolation in 1/N).
    """
    reference = as_feature_matrix(reference, device)
    candidate = as_feature_matrix(candidate, reference.device)
    if n_points < 3:
        raise ValueError(f"n_points must be at least 3 for a fit with an error, got {n_points}")
    if normalise:
        scale = max_abs_scale(reference)
        reference, candidate = reference / scale, candidate / scale

    sizes = _fpd_sample_sizes(len(reference), len(candidate), min_samples, max_samples, n_points)
    if sizes.min() <= reference.shape[1]:
        raise KissError(
            "Too few events for FPD",
            where=f"{len(reference)} reference and {len(candidate)} candidate events",
            expected=f"more than {2 * reference.shape[1]} events, twice the {reference.shape[1]} features",
            got=f"smallest fit size {sizes.min()}",
            hint="evaluate on more events or on fewer features",
        )

    rng = np.random.default_rng(seed)

    def draw(sample: torch.Tensor, size: int) -> torch.Tensor:
        return sample[torch.as_tensor(rng.integers(0, len(sample), size), device=sample.device)]

    mean_distances = np.empty(len(sizes))
    for index, size in enumerate(sizes):
        draws = [frechet_distance(draw(reference, size), draw(candidate, size)) for _ in range(n_batches)]
        mean_distances[index] = np.mean(draws)

    intercept, intercept_error, slope = _fit_line(1.0 / sizes, mean_distances)
    return MetricResult(
        value=intercept,
        uncertainty=intercept_error,
        details={"sample_sizes": sizes.tolist(), "mean_distance": mean_distances.tolist(), "slope": slope},
    )


def _fit_line(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Fit y = a + b x by least squares; return a, the standard error of a, and b."""
    design = np.column_stack([np.ones_like(x), x])
    coefficients, _, _, _ = np.linalg.lstsq(design, y, rcond=None)
    residuals = y - design @ coefficients
    residual_variance = residuals @ residuals / (len(x) - 2)
    covariance = residual_variance * np.linalg.inv(design.T @ design)
    return float(coefficients[0]), float(np.sqrt(covariance[0, 0])), float(coefficients[1])
