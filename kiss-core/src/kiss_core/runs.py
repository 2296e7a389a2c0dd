"""Run directories: ``run.json``, ``checkpoints/``, samples and ``report/`` of one piece of work."""

from __future__ import annotations

import logging
import platform
import shutil
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from kiss_core.errors import KissError
from kiss_core.io.files import read_json, write_json

__all__ = ["RunDirectory", "contains_working_directory", "package_versions"]

logger = logging.getLogger(__name__)

RUN_FILE = "run.json"


class RunDirectory:
    """A folder that contains one run and its record.

    ``run.json`` stores the resolved config, seed, package versions, command line and the
    status: "running" until the work ends, then "finished", "interrupted" (Ctrl-C; resumable)
    or "failed" (with the error).

    Arguments:
        path: The folder.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @property
    def record_path(self) -> Path:
        return self.path / RUN_FILE

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    def exists(self) -> bool:
        return self.record_path.is_file()

    def read(self) -> dict[str, Any]:
        """Return the run record; a folder without one is not a run."""
        if not self.exists():
            raise KissError(
                "Not a KISS run directory",
                where=str(self.path),
                expected=f"a folder with {RUN_FILE}, written by 'kiss train' or 'kiss demo'",
            )
        return read_json(self.record_path)

    def start(
        self, record: dict[str, Any], *, overwrite: bool = False, resume: bool = False, resumable: bool = True
    ) -> dict[str, Any]:
        """Create the run (or reopen it with ``resume``) and write its record with status "running".

        Raises:
            KissError: The folder contains a run and neither ``overwrite`` nor ``resume`` is
                set, or it contains files that are not a run.
        """
        if resume:
            previous = self.read()
            previous.setdefault("resumed_at", []).append(time.strftime("%Y-%m-%dT%H:%M:%S"))
            previous["status"] = "running"
            write_json(self.record_path, previous)
            return previous

        if self.path.exists() and any(self.path.iterdir()):
            self.check_output(overwrite, resumable=resumable)
            logger.info("Removing the previous run in %s (--overwrite)", self.path)
            shutil.rmtree(self.path)

        self.path.mkdir(parents=True, exist_ok=True)
        full_record = {
            "status": "running",
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "command_line": sys.argv,
            "python": platform.python_version(),
            "packages": package_versions(),
            **record,
        }
        write_json(self.record_path, full_record)
        return full_record

    def check_output(self, overwrite: bool, *, resumable: bool = True, keep: Path | None = None) -> None:
        """Raise unless the folder is new, empty, or a run that ``overwrite`` may delete.

        Only folders with a ``run.json`` are ever deleted, never the working directory or one
        of its parents, and never a folder that contains ``keep`` (the training data), so a
        mistyped ``--out`` cannot remove a user's files. Call it before long work starts.
        """
        if not self.path.exists() or not any(self.path.iterdir()):
            return
        resolved = self.path.resolve()
        if keep is not None and resolved in Path(keep).resolve().parents:
            raise KissError("Output folder contains the input data", where=str(self.path), got=str(keep),
                            hint="write the run to another --out")
        state = self.read().get("status", "unknown") if self.exists() else None
        hint = "choose another --out or an empty folder"
        if state is not None:
            resume_hint = ", add --resume to continue it," if resumable else ""
            hint = f"choose another --out{resume_hint} or add --overwrite to replace it"
        if not overwrite or state is None:
            raise KissError(
                "Output folder is not empty",
                where=str(self.path),
                expected="a new or empty folder" + (", or --overwrite for a KISS run" if state else ""),
                got=f"a KISS run (status: {state})" if state else "files that are not a KISS run",
                hint=hint,
            )
        if contains_working_directory(self.path):
            raise KissError(
                "Refusing to delete the working directory or one of its parents",
                where=str(self.path),
                hint="choose a subfolder as --out",
            )

    def update(self, **fields: Any) -> dict[str, Any]:
        """Merge fields into the run record."""
        record = self.read()
        record.update(fields)
        write_json(self.record_path, record)
        return record

    def finish(self, **fields: Any) -> dict[str, Any]:
        """Mark the run finished, adding any result fields."""
        return self.update(status="finished", finished_at=time.strftime("%Y-%m-%dT%H:%M:%S"), **fields)


def contains_working_directory(path: Path) -> bool:
    """Return whether ``path`` is the working directory or one of its parents, which are never deleted."""
    resolved = Path(path).resolve()
    working = Path.cwd().resolve()
    return resolved == working or resolved in working.parents


def package_versions() -> dict[str, str]:
    """Return the versions of KISS packages and the libraries results depend on."""
    versions = {}
    for distribution in metadata.distributions():
        name = distribution.metadata["Name"]
        if name and (name.startswith("kiss-") or name.lower() in _TRACKED):
            versions[name] = distribution.version
    return dict(sorted(versions.items()))


_TRACKED = {"torch", "numpy", "scipy", "xarray", "h5py", "zuko", "torchdiffeq", "pythia8mc", "fastjet", "energyflow"}
