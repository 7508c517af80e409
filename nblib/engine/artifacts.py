"""Artifact I/O: atomic writes, hashing, and readers/writers for each artifact kind.

Every writer goes through :func:`atomic_path`: the data is written to a hidden
temporary file beside the target and renamed over it only when complete, so a
killed stage never leaves a half-written file that looks finished. Every reader
turns a file it cannot read (empty, truncated, not the format its name says)
into one :class:`UnreadableArtifact` line naming the file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from nblib.common.jsonsafe import json_default
from nblib.common.text import one_line
from nblib.engine.errors import NblibError

__all__ = [
    "UnreadableArtifact",
    "NotWritable",
    "check_writable",
    "atomic_path",
    "write_text",
    "write_json",
    "read_json",
    "read_json_or_none",
    "write_frame",
    "read_frame",
    "write_model",
    "read_model",
    "write_figure",
    "sha256_file",
    "sha256_paths",
]


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


class UnreadableArtifact(NblibError, ValueError):
    """An artifact that exists but cannot be read: one line naming the file."""

    exit_code = 2


class NotWritable(NblibError):
    """A folder nblib must write into refuses writes (permissions, read-only, full)."""

    exit_code = 2


def check_writable(folder: str | Path) -> Path:
    """Make ``folder`` if needed and prove a file can be created in it.

    Raises
    ------
    NotWritable
        One line naming the folder and the reason, e.g.
        ``reports: cannot write here (Permission denied)``.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(prefix=".nblib-write-test.", dir=folder):
            pass
    except OSError as exc:
        raise NotWritable(
            f"{folder}: cannot write here ({exc.strerror or type(exc).__name__}); choose a writable folder"
        ) from None
    return folder


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path; on success it is renamed to ``path``, on error removed.

    ``suffix`` ends the temporary file's name (a tool that picks its format
    from the name, like Papermill, may need e.g. ``".tmp.ipynb"``).

    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "x.txt"
    >>> with atomic_path(target) as tmp:
    ...     _ = tmp.write_text("done")
    >>> target.read_text()
    'done'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    os.chmod(tmp_name, 0o666 & ~_UMASK)  # mkstemp makes 0600; reports are meant to be shared
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: str | Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: str | Path, data: Any) -> Path:
    """Write JSON (sorted keys are not forced: order is meaningful to readers)."""
    return write_text(path, json.dumps(data, indent=2, default=json_default) + "\n")


def read_json(path: str | Path) -> Any:
    """Read a JSON file; a file that is not UTF-8 JSON is an :class:`UnreadableArtifact`."""
    _check_readable(path)
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise UnreadableArtifact(f"{path}: not a readable JSON file ({_first_line(exc)})") from None


def read_json_or_none(path: str | Path) -> Any:
    """:func:`read_json`, or None for a file that is missing or unreadable (pages that show what exists)."""
    try:
        return read_json(path)
    except (OSError, ValueError):
        return None


def write_frame(path: str | Path, frame: Any) -> Path:
    """Write a DataFrame to Parquet, index included (rows stay traceable). A dask DataFrame (a table
    bigger than memory) becomes a folder of that name, one Parquet file per partition, written by
    the workers into a hidden folder that is renamed into place once every partition is in it."""
    if _is_dask(frame):
        return _write_partitions(Path(path), frame)
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=True)
    return Path(path)


def _is_dask(frame: Any) -> bool:
    return type(frame).__module__.startswith(("dask.", "dask_expr"))


def _write_partitions(path: Path, frame: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        frame.to_parquet(
            tmp, write_index=True, write_metadata_file=False, name_function=lambda i: f"part-{i:05d}.parquet"
        )
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path


def read_frame(path: str | Path) -> Any:
    """Read a Parquet file; an empty, truncated or foreign file is an :class:`UnreadableArtifact`.
    A folder written by :func:`write_frame` from a dask DataFrame is read back as one, partition by
    partition."""
    import pandas as pd

    if Path(path).is_dir():
        import dask.dataframe as dd

        return dd.read_parquet(path, split_row_groups=False)
    _check_readable(path)
    try:
        return pd.read_parquet(path)
    except FileNotFoundError:
        raise
    except Exception as exc:  # noqa: BLE001 - pyarrow raises ArrowInvalid, ArrowTypeError, ...
        raise UnreadableArtifact(f"{path}: not a readable Parquet file ({_first_line(exc)})") from None


def write_model(path: str | Path, estimator: Any) -> Path:
    """Persist an estimator with skops (no pickle)."""
    import skops.io as sio

    with atomic_path(path) as tmp:
        sio.dump(estimator, tmp)
    return Path(path)


def read_model(path: str | Path, trusted: Iterable[str]) -> Any:
    """Load a skops file, refusing any type that is neither skops-trusted nor in ``trusted``.

    Raises
    ------
    UnreadableArtifact
        The file names an untrusted type, or is not a complete skops file
        (empty, truncated, a pickle under a ``.skops`` name, ...).
    """
    import skops.io as sio

    _check_readable(path)
    trusted = set(trusted)
    try:
        named = sio.get_untrusted_types(file=path)
    except Exception as exc:  # noqa: BLE001 - BadZipFile, KeyError, JSONDecodeError, EOFError, ...
        raise UnreadableArtifact(f"{path}: not a readable skops file ({_first_line(exc)})") from None
    untrusted = [t for t in named if t not in trusted]
    if untrusted:
        raise UnreadableArtifact(f"{path}: refusing to load untrusted types {untrusted}")
    try:
        return sio.load(path, trusted=sorted(trusted))
    except Exception as exc:  # noqa: BLE001 - a truncated member fails only when it is read
        raise UnreadableArtifact(f"{path}: not a readable skops file ({_first_line(exc)})") from None


def write_figure(path: str | Path, figure: Any, *, dpi: int = 110) -> Path:
    """Save a matplotlib figure as PNG."""
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
    return Path(path)


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def sha256_paths(paths: Iterable[str | Path]) -> str:
    """One hash over several files (name and content), folders walked in order."""
    digest = hashlib.sha256()
    for path in sorted(Path(p) for p in paths):
        files = sorted(f for f in path.rglob("*") if f.is_file()) if path.is_dir() else [path]
        for f in files:
            if f.exists():
                digest.update(f.name.encode())
                digest.update(sha256_file(f).encode())
    return digest.hexdigest()


def _check_readable(path: str | Path) -> None:
    """A missing file stays ``FileNotFoundError``; an empty one is unreadable, whatever its kind."""
    if Path(path).is_file() and Path(path).stat().st_size == 0:
        raise UnreadableArtifact(f"{path}: empty file (0 bytes)")


def _first_line(exc: BaseException) -> str:
    return one_line(exc, 200, first=True)
