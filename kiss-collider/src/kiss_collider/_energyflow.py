"""Import of the ``energyflow`` package that survives its broken optional dependency.

energyflow 1.4 imports ``wasserstein`` at start-up for its EMD module. With NumPy 2, pip
resolves ``wasserstein`` to 1.0.1, whose compiled extension was built against NumPy 1 and fails
to import, and 1.1.0 declares ``numpy<2``. KISS uses energyflow only for energy-flow
polynomials, which never touch ``wasserstein``, so a placeholder module replaces it when
the real one cannot be imported; any use of the EMD functions then raises ImportError.
"""

from __future__ import annotations

import contextlib
import io
import logging
import sys
import types
from typing import Any

__all__ = ["import_energyflow"]

logger = logging.getLogger(__name__)


def _placeholder_wasserstein(reason: str) -> types.ModuleType:
    module = types.ModuleType("wasserstein")

    def __getattr__(name: str) -> Any:
        raise ImportError(f"the 'wasserstein' package cannot be imported ({reason}); energyflow's EMD is unavailable")

    module.__getattr__ = __getattr__  # type: ignore[method-assign]
    return module


def import_energyflow() -> types.ModuleType:
    """Return the ``energyflow`` module, standing in for ``wasserstein`` when it fails to import."""
    if "energyflow" not in sys.modules and not _wasserstein_importable():
        sys.modules["wasserstein"] = _placeholder_wasserstein("its compiled extension failed to import")
    import energyflow

    return energyflow


def _wasserstein_importable() -> bool:
    # NumPy prints a long warning to stderr when a NumPy 1 extension is imported; KISS handles
    # that case, so the warning is captured and logged at debug level instead.
    captured = io.StringIO()
    with contextlib.redirect_stderr(captured):
        try:
            import wasserstein  # noqa: F401
        except ImportError as error:
            for name in [name for name in sys.modules if name.split(".")[0] == "wasserstein"]:
                del sys.modules[name]
            logger.debug("Importing energyflow without its EMD dependency: %s\n%s", error, captured.getvalue())
            return False
    return True
