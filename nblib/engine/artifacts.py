"""Artifact I/O: atomic writes, hashing, and readers/writers for each artifact kind.

Every writer goes through :func:`atomic_path`: the data is written to a hidden
temporary file beside the target and renamed over it only when complete, so a
killed stage never leaves a half-written file that looks finished.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "atomic_path",
    "write_text",
    "write_json",
    "read_json",
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


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path; on success it is renamed to ``path``, on error removed.

    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "x.txt"
    >>> with atomic_path(target) as tmp:
    ...     _ = tmp.write_text("done")
    >>> target.read_text()
    'done'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
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
    return write_text(path, json.dumps(data, indent=2, default=_json_default) + "\n")


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write_frame(path: str | Path, frame: Any) -> Path:
    """Write a DataFrame to Parquet, index included (rows stay traceable)."""
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=True)
    return Path(path)


def read_frame(path: str | Path) -> Any:
    import pandas as pd

    return pd.read_parquet(path)


def write_model(path: str | Path, estimator: Any) -> Path:
    """Persist an estimator with skops (no pickle)."""
    import skops.io as sio

    with atomic_path(path) as tmp:
        sio.dump(estimator, tmp)
    return Path(path)


def read_model(path: str | Path, trusted: Iterable[str]) -> Any:
    """Load a skops file, refusing any type that is neither skops-trusted nor in ``trusted``."""
    import skops.io as sio

    trusted = set(trusted)
    untrusted = [t for t in sio.get_untrusted_types(file=path) if t not in trusted]
    if untrusted:
        raise ValueError(f"{path}: refusing to load untrusted types {untrusted}")
    return sio.load(path, trusted=sorted(trusted))


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


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return value.as_posix()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")
