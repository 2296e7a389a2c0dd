"""One-sample metrics: per-dimension errors of moments and modes against the target's exact values."""

from __future__ import annotations

import math

import numpy as np
import torch

from kiss_bench.metrics.validation import normalised_weights

__all__ = ["half_sample_mode", "weighted_standard_moments"]


def weighted_standard_moments(points: torch.Tensor, weights: torch.Tensor | None = None) -> dict[str, np.ndarray]:
    """Estimate the mean, variance, skewness and excess kurtosis of every dimension.

    The estimators are the plug-in (weighted) moments: mean sum w x, central moments
    m_k = sum w (x - mean)^k with sum w = 1, skewness m_3 / m_2^(3/2), kurtosis m_4 / m_2^2 - 3.

    Arguments:
        points: Sample, shape (n, d).
        weights: Optional non-negative weights, shape (n,).

    Returns:
        Arrays of shape (d,) keyed "mean", "variance", "skewness", "kurtosis".
    """
    w = normalised_weights(weights, points.shape[0], points)[:, None]
    x = points.to(torch.float64)
    mean = (w * x).sum(0)
    centred = x - mean
    m2 = (w * centred**2).sum(0)
    m3 = (w * centred**3).sum(0)
    m4 = (w * centred**4).sum(0)
    return {
        "mean": mean.cpu().numpy(),
        "variance": m2.cpu().numpy(),
        "skewness": (m3 / m2**1.5).cpu().numpy(),
        "kurtosis": (m4 / m2**2 - 3).cpu().numpy(),
    }


def half_sample_mode(points: torch.Tensor) -> np.ndarray:
    """Estimate the mode of every dimension with the half-sample mode.

    The estimator repeatedly keeps the contiguous half of the sorted values with the smallest
    range until at most three remain, then averages the closest pair. It needs no bandwidth and
    costs O(n log n).

    References:
        D. R. Bickel, R. Fruehwirth, "On a fast, robust estimator of the mode", Comput. Stat.
        Data Anal. 50 (2006) 3500. https://doi.org/10.1016/j.csda.2005.07.011
    """
    values = torch.sort(points.to(torch.float64), dim=0).values
    n = values.shape[0]
    columns = torch.arange(values.shape[1], device=values.device)
    start = torch.zeros(values.shape[1], dtype=torch.long, device=values.device)
    length = n
    while length > 3:
        half = math.ceil(length / 2)
        offsets = torch.arange(length - half + 1, device=values.device)
        lower = values[start[None, :] + offsets[:, None], columns]
        upper = values[start[None, :] + offsets[:, None] + half - 1, columns]
        start = start + torch.argmin(upper - lower, dim=0)
        length = half
    window = values[start[None, :] + torch.arange(length, device=values.device)[:, None], columns]
    if length == 3:
        left_gap = window[1] - window[0]
        right_gap = window[2] - window[1]
        pair = torch.where(left_gap < right_gap, (window[0] + window[1]) / 2, (window[1] + window[2]) / 2)
        pair = torch.where(left_gap == right_gap, window[1], pair)
        return pair.cpu().numpy()
    return window.mean(0).cpu().numpy()
