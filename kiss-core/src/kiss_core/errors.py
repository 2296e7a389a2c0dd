"""Errors a user can cause and fix, with messages that give what, where, expected and got."""

from __future__ import annotations

__all__ = ["KissError", "UnknownNameError"]


class KissError(Exception):
    """An error caused by input the user controls: a file, an option, a name.

    The CLI prints it as one message and exits with status 2; other exceptions are bugs and
    keep their traceback.

    Arguments:
        what: What failed, as a short sentence ("Invalid JetNet file").
        where: The file, option or variable concerned.
        expected: What a valid input looks like.
        got: What was found instead.
        hint: What the user can do next.

    Example:
        >>> raise KissError("Invalid shape", where="jets.h5:particle_features",
        ...                 expected="(N, P, 4)", got="(100, 30, 3)")
    """

    def __init__(
        self,
        what: str,
        *,
        where: str | None = None,
        expected: str | None = None,
        got: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.what = what
        self.where = where
        self.expected = expected
        self.got = got
        self.hint = hint
        super().__init__(self.message())

    def message(self) -> str:
        """Format the error as one line per known part."""
        lines = [self.what if self.where is None else f"{self.what}: {self.where}"]
        if self.expected is not None:
            lines.append(f"  expected: {self.expected}")
        if self.got is not None:
            lines.append(f"  got:      {self.got}")
        if self.hint is not None:
            lines.append(f"  hint:     {self.hint}")
        return "\n".join(lines)


class UnknownNameError(KissError):
    """A name (plugin, dataset, generator, solver, metric) that nothing registers."""

    def __init__(self, kind: str, name: str, known: list[str] | tuple[str, ...]) -> None:
        listing = ", ".join(sorted(known)) if known else "none"
        super().__init__(
            f"Unknown {kind} '{name}'",
            expected=f"one of: {listing}",
            got=repr(name),
            hint="run 'kiss list-plugins' to see every registered name",
        )
