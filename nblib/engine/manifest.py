"""``manifest.json``: what a run folder says about itself, written so it stays honest.

:class:`ManifestWriter` owns the manifest of the run in progress. The run loop
and the heartbeat thread both save through it (one lock, atomic writes). A save
that fails (a full disk, a folder made read-only) does not stop the run: the
writer remembers the first failure, the runner reports it in one line, and
because the manifest on disk then still says ``running`` with the runner's pid,
``nblib list`` shows the run as ``abandoned`` once that runner is gone.
"""

from __future__ import annotations

import copy
import os
import platform
import subprocess
import threading
from importlib import metadata
from pathlib import Path
from typing import Any

from nblib.engine import artifacts as io
from nblib.engine.errors import NblibError
from nblib.engine.lock import now, runner_info

__all__ = ["ManifestWriter", "RecordNotWritten", "new_manifest", "read_manifest", "package_versions", "record_stage"]


class RecordNotWritten(NblibError):
    """The run's manifest could not be written (its stages may have succeeded)."""


def new_manifest(
    run_id: str,
    name: str,
    *,
    params_hash: str,
    data_sha256: str | None,
    code_root: Path,
    versioned: tuple[str, ...] = (),
) -> dict[str, Any]:
    """A fresh manifest for a run that starts now in this process; ``versions`` holds Python's version
    and those of the ``versioned`` distributions (what the application names; each stage's record
    adds the versions of what its kernel imported)."""
    return {
        "run_id": run_id,
        "name": name,
        "status": "running",
        "started": now(),
        "finished": None,
        "params_sha256": params_hash,
        "data_sha256": data_sha256,
        "git_commit": _git_commit(code_root),
        "versions": package_versions(versioned),
        "host": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "runner": runner_info(),
        "stages": [],
        "metrics": {},
    }


def package_versions(names: tuple[str, ...] = ()) -> dict[str, str]:
    """Python's version and those of the distributions ``names`` (each looked up once per process)."""
    for name in ("python", *names):
        if name not in _VERSIONS:
            _VERSIONS[name] = platform.python_version() if name == "python" else _version(name)
    return {name: _VERSIONS[name] for name in ("python", *names)}


_VERSIONS: dict[str, str] = {}


def read_manifest(run_dir: Path) -> dict[str, Any] | None:
    """The folder's manifest, or ``None`` when it is missing or unreadable."""
    try:
        data = io.read_json(Path(run_dir) / "manifest.json")
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def record_stage(run_dir: Path, record: dict[str, Any], order: list[str]) -> bool:
    """Put one stage's record into ``run_dir``'s manifest (made if missing), under the run lock.

    For a stage executed outside the runner (a notebook run in JupyterLab on the
    scratch run), so the next run reuses it. ``order`` is the pipeline's stage
    order. Returns ``False`` when a run holds the folder or it cannot be written.
    """
    from nblib.engine.lock import RunLock, RunLocked

    run_dir = Path(run_dir)
    try:
        with RunLock(run_dir):
            data = read_manifest(run_dir) or {
                "run_id": run_dir.name,
                "name": run_dir.name,
                "status": "lab",
                "started": now(),
                "finished": None,
                "stages": [],
                "metrics": {},
            }
            stages = {r.get("name"): r for r in data.get("stages", []) if isinstance(r, dict)}
            stages[record["name"]] = record
            data["stages"] = [stages[n] for n in order if n in stages]
            io.write_json(run_dir / "manifest.json", data)
    except (RunLocked, NblibError, OSError):
        return False
    return True


class ManifestWriter:
    """Saves one run's manifest; safe to call from the run loop and the heartbeat thread.

    Parameters
    ----------
    path : Path
        ``RUN/manifest.json``.
    data : dict
        The manifest; the caller keeps mutating it and calls :meth:`save`.

    Attributes
    ----------
    error : OSError or None
        The first failed save, if any.
    """

    def __init__(self, path: Path, data: dict[str, Any]):
        self.path = Path(path)
        self.data = data
        self.error: OSError | None = None
        self._lock = threading.Lock()

    def save(self) -> bool:
        """Write the manifest atomically; ``False`` (and :attr:`error` set) if that failed."""
        with self._lock:
            try:
                snapshot = copy.deepcopy(self.data)
            except RuntimeError:  # mutated while copied (heartbeat thread): the next save catches up
                return False
            try:
                io.write_json(self.path, snapshot)
            except OSError as exc:
                self.error = self.error or exc
                return False
            return True

    def beat(self) -> None:
        """Refresh the heartbeat and save (called from the heartbeat thread)."""
        runner = self.data.get("runner")
        if isinstance(runner, dict):
            runner["heartbeat"] = now()
        self.save()

    def describe_error(self) -> str:
        """One line for the user when a save failed."""
        reason = (self.error.strerror if self.error is not None else None) or "write failed"
        return f"{self.path}: cannot write ({reason}); the run's record is stale, nblib list will show it as abandoned"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _git_commit(root: Path) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        if out.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() + ("-dirty" if dirty else "")
