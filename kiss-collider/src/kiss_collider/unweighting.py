"""Unweighting of weighted events: standard hit-or-miss and exactly unbiased two-stage unweighting with a surrogate.

Standard unweighting keeps an event of weight w with probability min(1, w / w_max). Two-stage
unweighting first keeps an event with probability min(1, s / s_max), where s is a cheap
surrogate of the weight, and evaluates the true weight w only for the kept events, which it
keeps with probability min(1, x / x_max), x = w / s. Events whose weight exceeds a (reduced)
maximum carry the weight max(1, s / s_max) * max(1, x / x_max), so that

    P(keep) * weight = (s / s_max) (x / x_max) = w / (s_max x_max)

for every event and the unweighted sample is exactly unbiased for any positive surrogate; a
poor surrogate costs efficiency, never correctness.

References:
    K. Danziger, T. Janßen, S. Schumann, F. Siegert, "Accelerating Monte Carlo event generation:
    rejection sampling using neural network event-weight estimates", SciPost Phys. 12 (2022) 164,
    arXiv:2109.11964.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import torch

from kiss_core.errors import KissError

__all__ = [
    "UnweightingResult",
    "check_weights",
    "effective_gain_factor",
    "kish_effective_sample_size",
    "reduced_maximum",
    "two_stage_maxima",
    "two_stage_unweight",
    "unweight",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class UnweightingResult:
    """Events kept by an unweighting, with what it cost.

    Arguments:
        indices: Indices (kept,) of the kept events in the input.
        weights: Weights (kept,) of the kept events in units of ``normalisation``; 1 except
            for overweighted events.
        normalisation: Weight of one unweighted event; the integral estimate is
            ``normalisation * weights.sum() / n_trials``.
        n_trials: Number of weighted events offered.
        n_true_evaluations: Number of true-weight evaluations (all events for standard
            unweighting, the first-stage survivors for two-stage unweighting).
        first_stage_efficiency: Fraction kept by the first stage (1 for standard unweighting).
        second_stage_efficiency: Fraction of first-stage survivors kept by the second stage.
    """

    indices: torch.Tensor
    weights: torch.Tensor
    normalisation: float
    n_trials: int
    n_true_evaluations: int
    first_stage_efficiency: float
    second_stage_efficiency: float

    @property
    def efficiency(self) -> float:
        """Fraction of offered events that are kept (product of the two stages)."""
        return len(self.indices) / self.n_trials

    @property
    def integral(self) -> float:
        """Integral (cross section) estimate, in the unit of the input weights."""
        return self.normalisation * float(self.weights.sum()) / self.n_trials

    @property
    def integral_error(self) -> float:
        """Statistical error of :attr:`integral` from the spread of the per-trial contributions."""
        contributions = self.normalisation * self.weights.double()
        mean = float(contributions.sum()) / self.n_trials
        mean_square = float((contributions**2).sum()) / self.n_trials
        return max(mean_square - mean**2, 0.0) ** 0.5 / self.n_trials**0.5

    @property
    def effective_sample_size(self) -> float:
        """Kish effective sample size of the kept events."""
        return kish_effective_sample_size(self.weights)


def check_weights(weights: torch.Tensor, where: str) -> None:
    """Raise KissError when weights contain NaN, infinite or negative values, with their counts."""
    n_nan = int(torch.isnan(weights).sum())
    n_infinite = int(torch.isinf(weights).sum())
    n_negative = int((weights < 0).sum())
    if n_nan or n_infinite or n_negative:
        raise KissError(
            "Invalid event weights",
            where=where,
            expected="finite, non-negative weights",
            got=f"{n_nan} NaN, {n_infinite} infinite and {n_negative} negative of {weights.numel()}",
            hint="apply generation cuts that keep the integrand away from soft and collinear poles",
        )


def kish_effective_sample_size(weights: torch.Tensor) -> float:
    """Return the Kish effective sample size (sum w)^2 / sum w^2 (0 for an empty sample)."""
    weights = weights.double()
    square_sum = float((weights**2).sum())
    return float(weights.sum()) ** 2 / square_sum if square_sum > 0 else 0.0


def reduced_maximum(weights: torch.Tensor, quantile: float = 0.999) -> float:
    """Return the ``quantile`` of the non-zero weights, used in place of the true maximum.

    A reduced maximum raises the unweighting efficiency at the price of a few overweighted
    events; ``quantile=1`` gives the plain maximum.
    """
    if not 0 < quantile <= 1:
        raise KissError("Invalid quantile for the reduced maximum", where="quantile", expected="0 < quantile <= 1",
                        got=repr(quantile))
    check_weights(weights, "weights")
    positive = weights[weights > 0].double()
    if positive.numel() == 0:
        raise KissError("Cannot determine a maximum weight", where="weights", expected="some weight > 0",
                        got=f"all {weights.numel()} weights are zero", hint="check the generation cuts")
    return float(torch.quantile(positive, quantile)) if quantile < 1 else float(positive.max())


def unweight(weights: torch.Tensor, maximum: float, *, generator: torch.Generator | None = None) -> UnweightingResult:
    """Keep each event with probability min(1, w / maximum); overweighted events keep w / maximum.

    Arguments:
        weights: Event weights (events,), non-negative.
        maximum: The (reduced) maximum weight, > 0.
        generator: Torch random generator.
    """
    check_weights(weights, "weights")
    _check_positive(maximum, "maximum")
    ratio = weights.double() / maximum
    kept = torch.rand(ratio.shape, generator=generator, dtype=torch.float64) < ratio
    indices = torch.nonzero(kept).squeeze(1)
    n_trials = weights.numel()
    return UnweightingResult(
        indices=indices,
        weights=torch.clamp(ratio[indices], min=1.0),
        normalisation=maximum,
        n_trials=n_trials,
        n_true_evaluations=n_trials,
        first_stage_efficiency=1.0,
        second_stage_efficiency=len(indices) / max(n_trials, 1),
    )


def two_stage_unweight(
    surrogate_weights: torch.Tensor,
    true_weight: Callable[[torch.Tensor], torch.Tensor],
    surrogate_maximum: float,
    ratio_maximum: float,
    *,
    generator: torch.Generator | None = None,
) -> UnweightingResult:
    """Unweight with a surrogate first and the true weight only for first-stage survivors.

    Arguments:
        surrogate_weights: Surrogate weights s (events,), strictly positive.
        true_weight: Function that returns the true weights w of the events with the given indices.
        surrogate_maximum: Reduced maximum s_max of the first stage.
        ratio_maximum: Reduced maximum x_max of x = w / s in the second stage.
        generator: Torch random generator.

    Returns:
        The kept events; their weights are max(1, s / s_max) * max(1, x / x_max), and the
        normalisation is s_max * x_max.
    """
    check_weights(surrogate_weights, "surrogate_weights")
    n_zero = int((surrogate_weights <= 0).sum())
    if n_zero:
        raise KissError("Invalid surrogate weights", where="surrogate_weights", expected="strictly positive values",
                        got=f"{n_zero} of {surrogate_weights.numel()} are zero",
                        hint="a zero surrogate weight would never let a true non-zero weight through (bias)")
    _check_positive(surrogate_maximum, "surrogate_maximum")
    _check_positive(ratio_maximum, "ratio_maximum")
    n_trials = surrogate_weights.numel()

    first_ratio = surrogate_weights.double() / surrogate_maximum
    first_kept = torch.rand(n_trials, generator=generator, dtype=torch.float64) < first_ratio
    first_indices = torch.nonzero(first_kept).squeeze(1)

    true = true_weight(first_indices).double()
    check_weights(true, "true weights of the first-stage survivors")
    second_ratio = true / surrogate_weights[first_indices].double() / ratio_maximum
    second_kept = torch.rand(len(first_indices), generator=generator, dtype=torch.float64) < second_ratio
    indices = first_indices[second_kept]
    weights = torch.clamp(first_ratio[indices], min=1.0) * torch.clamp(second_ratio[second_kept], min=1.0)

    n_first = len(first_indices)
    logger.debug("two-stage unweighting: %d trials, %d after stage 1, %d kept", n_trials, n_first, len(indices))
    return UnweightingResult(
        indices=indices,
        weights=weights,
        normalisation=surrogate_maximum * ratio_maximum,
        n_trials=n_trials,
        n_true_evaluations=n_first,
        first_stage_efficiency=n_first / max(n_trials, 1),
        second_stage_efficiency=len(indices) / max(n_first, 1),
    )


def two_stage_maxima(surrogate_weights: torch.Tensor, true_weights: torch.Tensor, *, quantile: float = 0.999,
                     generator: torch.Generator | None = None) -> tuple[float, float]:
    """Determine s_max and x_max for :func:`two_stage_unweight` from a calibration sample.

    s_max is the ``quantile`` of the surrogate weights. x_max is the ``quantile`` of x = w / s
    among the events that survive a first stage run with that s_max. Use a calibration sample
    independent of the events to unweight: maxima fitted on the same events bias the result
    at the level of the fraction of overweighted events.
    """
    surrogate_maximum = reduced_maximum(surrogate_weights, quantile)
    survives = torch.rand(surrogate_weights.shape, generator=generator, dtype=torch.float64) < (
        surrogate_weights.double() / surrogate_maximum
    )
    ratio = true_weights[survives].double() / surrogate_weights[survives].double()
    return surrogate_maximum, reduced_maximum(ratio, quantile)


def effective_gain_factor(
    standard: UnweightingResult,
    two_stage: UnweightingResult,
    *,
    seconds_per_true: float,
    seconds_per_surrogate: float,
    seconds_per_phase_space: float = 0.0,
) -> dict[str, float]:
    """Compare the cost per unweighted event of standard and two-stage unweighting.

    With t the time of one true weight, t_s that of one surrogate weight and t_ps that of one
    phase-space point, the times per unweighted event are

        T_standard = (t_ps + t) / eff_standard,
        T_two_stage = (t_ps + t_s + eff_1 t) / (eff_1 eff_2),

    the gain is f = T_standard / T_two_stage, and the effective gain divides each time by the
    Kish fraction alpha = N_eff / N of its kept events: f_eff = f alpha_two_stage / alpha_standard.
    This follows the cost model of Danziger et al. (arXiv:2109.11964); the Kish folding is this
    module's definition.

    Returns:
        ``gain``, ``effective_gain``, ``cost_ratio`` (t_s / t), and the two Kish fractions.
    """
    standard_efficiency = standard.efficiency
    time_standard = (seconds_per_phase_space + seconds_per_true) / max(standard_efficiency, 1e-300)
    first, second = two_stage.first_stage_efficiency, two_stage.second_stage_efficiency
    time_two_stage = (seconds_per_phase_space + seconds_per_surrogate + first * seconds_per_true) / max(
        first * second, 1e-300
    )
    alpha_standard = standard.effective_sample_size / max(len(standard.indices), 1)
    alpha_two_stage = two_stage.effective_sample_size / max(len(two_stage.indices), 1)
    gain = time_standard / time_two_stage
    return {
        "gain": gain,
        "effective_gain": gain * alpha_two_stage / max(alpha_standard, 1e-300),
        "cost_ratio": seconds_per_surrogate / seconds_per_true,
        "kish_fraction_standard": alpha_standard,
        "kish_fraction_two_stage": alpha_two_stage,
    }


def _check_positive(value: float, where: str) -> None:
    if not value > 0:
        raise KissError("Invalid maximum weight", where=where, expected="> 0", got=repr(value))
