"""Atomic file writing: a file is either complete or absent, never half-written."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kiss_core.errors import KissError

__all__ = ["atomic_path", "read_json", "write_json"]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` and move it onto ``path`` when the block succeeds.

    If the block raises, the temporary file is removed and an existing ``path`` is untouched.

    Example:
        >>> with atomic_path("out.h5") as temporary:
        ...     write_everything(temporary)
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        yield temporary
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def write_json(path: str | os.PathLike[str], data: Any) -> None:
    """Write ``data`` as indented JSON, atomically."""
    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file, with a clear error when it is missing or invalid."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise KissError("File not found", where=str(path)) from None
    except json.JSONDecodeError as error:
        raise KissError("Invalid JSON file", where=str(path), got=str(error)) from None
