"""Parts every sampler shares: the base class, option checks and the evaluation counter."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar

import torch

from kiss_core.errors import KissError
from kiss_core.interfaces import Sampler, SamplingResult

__all__ = [
    "BaseSampler",
    "CountingField",
    "Field",
    "check_choice",
    "check_count",
    "check_real",
]

#: A learned field: ``field(t, x)`` with ``t`` a 0-dim tensor on the device and dtype of ``x``.
Field = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class CountingField:
    """Wraps a field so that every call is counted and time arrives as a 0-dim tensor.

    The time or noise level is converted to a 0-dim tensor on the device and dtype of the
    state, whatever the integrator passes (a Python float, or a float64 tensor from
    torchdiffeq's adaptive solvers).

    Arguments:
        field: The model's field, ``field(t, x) -> tensor shaped like x``.
    """

    def __init__(self, field: Field) -> None:
        self.field = field
        self.calls = 0

    def __call__(self, t: torch.Tensor | float, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device).reshape(())
        return self.field(t, x)


class BaseSampler(Sampler):
    """A sampler with a registry name, a field parametrisation and validated options.

    Subclasses validate their options in ``__init__`` and record them with
    :meth:`_record_options`, so that :attr:`options` can go into provenance.
    """

    #: Key of this sampler in :data:`kiss_core.sampling.SAMPLERS`.
    name: ClassVar[str]
    #: Kind of field the sampler integrates: ``"velocity"`` (dx/dt) or ``"denoiser"`` (D(x; sigma)).
    parametrisation: ClassVar[str]
    #: Whether :meth:`sample` draws random numbers (and so uses its ``generator``).
    stochastic: ClassVar[bool] = False

    @property
    def label(self) -> str:
        """The sampler as error messages name it ("sampler 'euler'")."""
        return f"sampler '{self.name}'"

    def _record_options(self, **options: Any) -> None:
        self._options = dict(options)

    @property
    def options(self) -> dict[str, Any]:
        """The options this sampler was built with, as JSON-serialisable values."""
        return dict(self._options)

    def __repr__(self) -> str:
        arguments = ", ".join(f"{key}={value!r}" for key, value in self._options.items())
        return f"{type(self).__name__}({arguments})"

    def sample(
        self, field: Field, x: torch.Tensor, *, generator: torch.Generator | None = None
    ) -> SamplingResult:
        """Integrate from the initial state ``x`` and return the final state with its NFE.

        Arguments:
            field: The model's field in this sampler's :attr:`parametrisation`.
            x: Initial state, event first. Its device and dtype are kept.
            generator: Random number generator on the device of ``x`` for stochastic
                samplers. Deterministic samplers ignore it.
        """
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            got = (
                type(x).__name__
                if not isinstance(x, torch.Tensor)
                else f"tensor of dtype {x.dtype}"
            )
            raise KissError(
                "Invalid initial state",
                where=self.label,
                expected="a floating-point tensor",
                got=got,
            )
        counted = CountingField(field)
        samples = self._integrate(counted, x, generator)
        return SamplingResult(samples=samples, nfe=counted.calls)

    def _integrate(
        self, field: CountingField, x: torch.Tensor, generator: torch.Generator | None
    ) -> torch.Tensor:
        raise NotImplementedError


def _invalid_option(owner: str, option: str, expected: str, got: Any) -> KissError:
    return KissError(
        "Invalid sampler option",
        where=f"option '{option}' of {owner}",
        expected=expected,
        got=repr(got),
    )


def check_count(owner: str, option: str, value: Any, minimum: int = 1) -> int:
    """Return ``value`` if it is an integer of at least ``minimum``, else raise KissError.

    ``owner`` names what the option belongs to in the message ("sampler 'euler'").
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _invalid_option(owner, option, f"an integer >= {minimum}", value)
    return value


def check_real(
    owner: str,
    option: str,
    value: Any,
    *,
    minimum: float = 0.0,
    strict: bool = False,
    allow_infinite: bool = False,
) -> float:
    """Return ``value`` as a float if it is a real number above ``minimum``, else raise KissError.

    Arguments:
        owner: What the option belongs to, for the message ("sampler 'dopri5'").
        option: Option name, for the message.
        value: The value to check.
        minimum: Lowest allowed value.
        strict: Whether ``minimum`` itself is excluded.
        allow_infinite: Whether positive infinity is allowed.
    """
    relation = ">" if strict else ">="
    expected = f"a real number {relation} {minimum:g}" + (
        " (inf allowed)" if allow_infinite else ""
    )
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _invalid_option(owner, option, expected, value)
    value = float(value)
    if math.isnan(value) or (math.isinf(value) and not allow_infinite):
        raise _invalid_option(owner, option, expected, value)
    if value < minimum or (strict and value == minimum):
        raise _invalid_option(owner, option, expected, value)
    return value


def check_choice(owner: str, option: str, value: Any, choices: tuple[str, ...]) -> str:
    """Return ``value`` if it is one of ``choices``, else raise KissError."""
    if value not in choices:
        raise _invalid_option(owner, option, "one of: " + ", ".join(choices), value)
    return value
