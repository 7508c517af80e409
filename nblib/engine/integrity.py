"""Artifacts are what the manifest says they are: hashes recorded, checked before reuse.

When a stage succeeds, the runner records the sha256 of every file it wrote
under ``artifacts/`` (its declared outputs and its figures) in the stage's
manifest entry, as ``outputs: {"artifacts/summary.json": "<sha256>", ...}``.
Before a stage is reused, before ``nblib predict`` loads a model and in
``nblib verify``, those files are hashed again: a changed or missing file is
one line, e.g. ``artifacts/summary.json changed since it was written``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from nblib.engine import artifacts as io
from nblib.engine.dag import Stage
from nblib.engine.errors import NblibError

__all__ = ["ArtifactChanged", "hash_outputs", "changed_outputs", "verify_run", "check_recorded"]


class ArtifactChanged(NblibError):
    """An artifact no longer matches the hash its run recorded."""

    exit_code = 2


def hash_outputs(stage: Stage, run_dir: Path) -> dict[str, str]:
    """``{"artifacts/<file>": sha256}`` for each output (each file of a folder output) and figure
    ``stage`` left in ``run_dir``."""
    art = Path(run_dir) / "artifacts"
    files = []
    for rel in stage.outputs.values():
        path = art / rel
        if rel.endswith("/"):
            continue
        if path.is_dir():  # a partitioned table (written by dask): every partition
            files += sorted(f for f in path.rglob("*") if f.is_file() and not f.name.startswith("."))
        else:
            files.append(path)
    for folder in stage.output_folders:  # folder outputs and figures: every file in them
        if (art / folder).is_dir():
            files += sorted(f for f in (art / folder).rglob("*") if f.is_file() and not f.name.startswith("."))
    return {f.relative_to(run_dir).as_posix(): io.sha256_file(f) for f in files if f.is_file()}


def changed_outputs(outputs: dict[str, str], run_dir: Path) -> list[str]:
    """One line per recorded file that is missing or whose content changed; empty if all match."""
    problems = []
    for rel, digest in outputs.items():
        path = Path(run_dir) / rel
        if not path.is_file():
            problems.append(f"{rel} is missing (it was written by the run)")
        elif io.sha256_file(path) != digest:
            problems.append(f"{rel} changed since it was written")
    return problems


def verify_run(run_dir: Path, manifest: dict[str, Any]) -> tuple[int, list[str]]:
    """Check every recorded artifact of a run; return (files checked, problems).

    Stages that succeeded or were reused but recorded no hashes (runs made
    before hashes were recorded) are reported, since nothing vouches for them.
    """
    checked, problems = 0, []
    for record in manifest.get("stages", []):
        outputs = record.get("outputs")
        if outputs is None:
            if record.get("status") in ("succeeded", "cached"):
                problems.append(f"stage {record.get('name')}: no artifact hashes recorded (re-run it to record them)")
            continue
        checked += len(outputs)
        problems += [f"{line} (stage {record.get('name')})" for line in changed_outputs(outputs, run_dir)]
    return checked, problems


def check_recorded(run_dir: Path, manifest: dict[str, Any], files: Iterable[str]) -> None:
    """Refuse to use ``files`` (paths relative to ``run_dir``) that differ from their recorded hash.

    Files the manifest records no hash for are not checked.

    Raises
    ------
    ArtifactChanged
        One line naming the first file that changed.
    """
    recorded = {
        rel: digest for record in manifest.get("stages", []) for rel, digest in (record.get("outputs") or {}).items()
    }
    for rel in files:
        if rel in recorded and changed_outputs({rel: recorded[rel]}, run_dir):
            path = Path(run_dir) / rel
            what = "is missing" if not path.is_file() else "changed since the run wrote it"
            raise ArtifactChanged(f"{path}: {what} (its sha256 differs from manifest.json); refusing to use it")
