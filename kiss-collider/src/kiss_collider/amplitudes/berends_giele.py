"""Tree-level multi-gluon amplitudes from the Berends-Giele recursion, and the gg -> (n-2) g matrix element.

Colour decomposition with generators normalised to Tr(T^a T^b) = delta^ab:

    M(1..n) = g_s^(n-2) sum_{sigma in S_(n-1)} Tr(T^a1 T^a_sigma2 ... T^a_sigman) A(1, sigma2, ..., sigman).

The colour-ordered amplitudes A are computed with the off-shell currents

    J(i..j) = 1 / P_ij^2 [ sum_k V3(J(i..k), J(k+1..j)) / sqrt(2) + sum_{k<l} V4(J(i..k), J(k+1..l), J(l+1..j)) / 2 ],

whose vertices are the colour-ordered Feynman rules in Feynman gauge (Dixon, arXiv:hep-ph/9601359)
with the factors of i absorbed. The matrix element is summed over colours at leading colour,

    sum |M|^2 = g_s^(2n-4) N^(n-2) (N^2 - 1) sum_{sigma in S_(n-1)} sum_h |A(1, sigma)|^2 (1 + O(1/N^2)),

which is exact for n = 4 and n = 5, where the subleading colour terms cancel, and drops terms of
relative order 1/N^2 from n = 6 on. The test against the textbook g g -> g g result pins n = 4.

References:
    F. A. Berends, W. T. Giele, "Recursive calculations for processes with n gluons",
    Nucl. Phys. B306 (1988) 759.
    L. J. Dixon, "Calculating scattering amplitudes efficiently", arXiv:hep-ph/9601359.
"""

from __future__ import annotations

import itertools
import math

import torch

from kiss_collider.amplitudes.spinors import polarisation_vector
from kiss_core.errors import KissError

__all__ = ["GluonMatrixElement", "colour_ordered_amplitude", "helicity_configurations", "colour_orderings"]

#: Number of colours of QCD.
N_COLOURS = 3


def colour_ordered_amplitude(momenta: torch.Tensor, polarisations: torch.Tensor) -> torch.Tensor:
    """Compute the colour-ordered tree amplitude A(1..n) of n gluons with couplings stripped.

    Arguments:
        momenta: All-outgoing momenta (batch, n, 4) in GeV in the colour order; incoming gluons
            carry minus their physical momentum.
        polarisations: Complex polarisation vectors (batch, n, 4) of the same gluons.

    Returns:
        Complex amplitudes (batch,) in GeV^(4 - n). With the polarisations of
        :func:`polarisation_vector`, the MHV amplitudes have |A(..i-..j-..)| =
        |<ij>|^4 / |<12><23>...<n1>| (Parke-Taylor).
    """
    n = momenta.shape[1]
    # Component-major layout (gluon, component, batch) keeps every component contiguous in memory.
    complex_momenta = momenta.to(polarisations.dtype).permute(1, 2, 0).contiguous()
    polarisations = polarisations.permute(1, 2, 0).contiguous()
    currents: dict[tuple[int, int], torch.Tensor] = {}
    summed: dict[tuple[int, int], torch.Tensor] = {}
    for i in range(n - 1):
        currents[i, i] = polarisations[i]
        summed[i, i] = complex_momenta[i]
    for length in range(2, n):
        for i in range(0, n - length):
            j = i + length - 1
            summed[i, j] = summed[i, j - 1] + complex_momenta[j]
            vertex = _vertex_sum(currents, summed, i, j)
            if length == n - 1:
                # The last current is amputated and contracted with the polarisation of gluon n.
                return 1j * _dot(vertex, polarisations[n - 1])
            currents[i, j] = vertex / _dot(summed[i, j], summed[i, j])
    raise KissError("Too few gluons for an amplitude", where="momenta", expected="n >= 3", got=f"n = {n}")


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Return the Minkowski product of component-major vectors (4, batch)."""
    product = a * b
    return product[0] - product[1] - product[2] - product[3]


def _vertex_sum(currents, summed, i: int, j: int) -> torch.Tensor:
    """Sum the three- and four-gluon vertices that join sub-currents of gluons i..j."""
    total = torch.zeros_like(currents[i, i])
    for k in range(i, j):
        total += _three_vertex(summed[i, k], currents[i, k], summed[k + 1, j], currents[k + 1, j])
    total *= 1 / math.sqrt(2)
    for k in range(i, j - 1):
        for m in range(k + 1, j):
            total += 0.5 * _four_vertex(currents[i, k], currents[k + 1, m], currents[m + 1, j])
    return total


def _three_vertex(p: torch.Tensor, a: torch.Tensor, q: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Return the colour-ordered three-gluon vertex contracted with currents a (momentum p) and b (momentum q)."""
    return _dot(a, b) * (p - q) + _dot(2 * q + p, a) * b - _dot(2 * p + q, b) * a


def _four_vertex(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """Return the colour-ordered four-gluon vertex contracted with three currents in order."""
    return 2 * _dot(a, c) * b - _dot(b, c) * a - _dot(a, b) * c


def colour_orderings(n: int) -> torch.Tensor:
    """Return the (n - 1)! / 2 orderings (1, sigma) of n gluons that differ beyond reflection.

    An ordering and its reflection have amplitudes of equal magnitude, |A(n..1)| = |A(1..n)|,
    so keeping those with sigma_first < sigma_last and doubling covers all of S_(n-1).
    """
    orders = [(0, *perm) for perm in itertools.permutations(range(1, n)) if perm[0] < perm[-1]]
    return torch.tensor(orders, dtype=torch.long)


def helicity_configurations(n: int) -> torch.Tensor:
    """Return the helicity configurations (+1/-1) of n gluons with non-zero tree amplitudes, gluon 1 negative.

    Amplitudes with fewer than two negative or two positive helicities vanish at tree level, and
    flipping every helicity conjugates the amplitude for real momenta, so the configurations with
    gluon 1 negative, counted twice, cover the full helicity sum.
    """
    configurations = []
    for signs in itertools.product((-1, 1), repeat=n - 1):
        helicities = (-1, *signs)
        n_negative = helicities.count(-1)
        if 2 <= n_negative <= n - 2:
            configurations.append(helicities)
    return torch.tensor(configurations, dtype=torch.long)


class GluonMatrixElement:
    """Spin- and colour-averaged squared matrix element of g g -> (n - 2) g at tree level.

    The result averages over the initial helicities (1/4) and colours (1/64) and sums over the
    final ones. It leaves out the symmetry factor 1 / (n - 2)! of identical final gluons, which
    :attr:`symmetry_factor` provides for cross sections. Colours are summed at
    leading colour (exact for n <= 5).

    Arguments:
        n_gluons: Total number of gluons n, 4 <= n <= 8.
        alpha_s: Strong coupling; g_s = sqrt(4 pi alpha_s).
        max_batch: Maximum number of colour-ordered amplitudes evaluated at once (memory).

    Example:
        >>> me = GluonMatrixElement(4, alpha_s=0.118)
        >>> squared = me(momenta)   # momenta (events, 4, 4): two incoming, then outgoing, in GeV

    References:
        F. A. Berends, W. T. Giele, Nucl. Phys. B306 (1988) 759.
    """

    def __init__(self, n_gluons: int, alpha_s: float = 0.118, *, max_batch: int = 16_000) -> None:
        if not isinstance(n_gluons, int) or not 4 <= n_gluons <= 8:
            raise KissError("Unsupported gluon multiplicity", where="n_gluons", expected="an integer 4..8",
                            got=repr(n_gluons))
        if not alpha_s > 0:
            raise KissError("Invalid strong coupling", where="alpha_s", expected="> 0", got=repr(alpha_s))
        self.n_gluons = n_gluons
        self.alpha_s = float(alpha_s)
        self.max_batch = max_batch
        self.orderings = colour_orderings(n_gluons)
        self.helicities = helicity_configurations(n_gluons)

    @property
    def coupling(self) -> float:
        """Strong coupling constant g_s = sqrt(4 pi alpha_s)."""
        return math.sqrt(4 * math.pi * self.alpha_s)

    @property
    def symmetry_factor(self) -> float:
        """Symmetry factor 1 / (n - 2)! of the identical final-state gluons."""
        return 1 / math.factorial(self.n_gluons - 2)

    @property
    def colour_factor(self) -> float:
        """Factor of the leading-colour sum.

        It contains the initial-state average 1 / (4 * 64) and a factor 2 each for reflections
        and parity.
        """
        n = self.n_gluons
        averaging = 1 / (4 * (N_COLOURS**2 - 1) ** 2)
        return self.coupling ** (2 * n - 4) * N_COLOURS ** (n - 2) * (N_COLOURS**2 - 1) * averaging * 4

    def __call__(self, momenta: torch.Tensor, references: torch.Tensor | None = None) -> torch.Tensor:
        """Return the averaged |M|^2 (events,) in GeV^(8 - 2n) for momenta (events, n, 4) in GeV.

        Arguments:
            momenta: Two incoming momenta (positive energy) followed by the outgoing ones.
            references: Reference momenta (events, n, 4) of the polarisation vectors; by
                default gluon i uses the momentum of gluon i + 1 (cyclically).
        """
        n = self.n_gluons
        if momenta.ndim != 3 or momenta.shape[1:] != (n, 4):
            raise KissError("Invalid momenta", where="momenta", expected=f"shape (events, {n}, 4) in GeV",
                            got=f"shape {tuple(momenta.shape)}")
        outgoing = momenta.clone()
        outgoing[:, :2] = -outgoing[:, :2]
        if references is None:
            references = torch.roll(momenta, shifts=-1, dims=1)

        # Polarisation vectors per gluon and helicity: index 0 for -, 1 for +.
        n_events = momenta.shape[0]
        minus = polarisation_vector(outgoing, references, -torch.ones(n_events, n, dtype=torch.long))
        plus = polarisation_vector(outgoing, references, torch.ones(n_events, n, dtype=torch.long))
        polarisations = torch.stack([minus, plus], 2)

        total = torch.zeros(n_events, dtype=momenta.dtype, device=momenta.device)
        pairs = [(o, h) for o in range(len(self.orderings)) for h in range(len(self.helicities))]
        per_event = len(pairs)
        events_per_chunk = max(1, self.max_batch // per_event)
        order_index = torch.tensor([o for o, _ in pairs])
        helicity_index = torch.tensor([h for _, h in pairs])
        for start in range(0, n_events, events_per_chunk):
            stop = min(start + events_per_chunk, n_events)
            total[start:stop] = self._sum_amplitudes(
                outgoing[start:stop], polarisations[start:stop], order_index, helicity_index
            )
        return self.colour_factor * total

    def _sum_amplitudes(self, outgoing, polarisations, order_index, helicity_index) -> torch.Tensor:
        """Sum |A|^2 over the orderings and helicity configurations of a chunk of events."""
        n_events, n = outgoing.shape[:2]
        orders = self.orderings[order_index]  # (pairs, n)
        helicity_choice = (self.helicities[helicity_index] > 0).long()  # (pairs, n) in gluon labels
        ordered_momenta = outgoing[:, orders]  # (events, pairs, n, 4)
        helicity_in_order = torch.gather(helicity_choice, 1, orders)
        gluon_index = orders[None, :, :].expand(n_events, -1, -1)
        chosen = polarisations[torch.arange(n_events)[:, None, None], gluon_index, helicity_in_order[None]]
        amplitudes = colour_ordered_amplitude(ordered_momenta.reshape(-1, n, 4), chosen.reshape(-1, n, 4))
        return (amplitudes.abs() ** 2).reshape(n_events, -1).sum(1)
