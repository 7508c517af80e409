"""A content-addressed store of stage results, shared by every run under one reports folder.

A stage's **key** is a hash of its *parts*: the notebook's source (cells
without outputs), each params section it reads, each input artifact, the input
data, the package's source and the Python version. Any run whose stage has a key
the store already holds gets that stage's artifacts, figures, executed notebook
and HTML linked into its own folder instead of running it again — as long as the
distributions its kernel imported (recorded in the entry, see
:mod:`~nblib.engine.packages`) are still installed at the recorded versions; an
entry of older versions is a miss, replaced when the stage has run again.

Layout, under ``reports/.cache`` (git-ignored with the rest of ``reports/``)::

    <stage>/<key>/entry.json      parts, params values, output hashes, the run it came from
    <stage>/<key>/files/...       the files, paths relative to the run folder

Files are hard links when the store and the run folder share a file system
(nblib never rewrites an artifact in place: writes are new files renamed into
place), copies otherwise. Every file restored into a run is hashed again and
compared with the hash recorded when it was stored, so a damaged entry is a
miss (and is removed), never a wrong result.

When a stage does run, :func:`reasons` compares its parts with the stage's
latest entry of the same lineage (runs of the same params, else on the same data; or its
earlier record in the same folder) and says why in words:
``params.train.cv_folds changed (5 → 3)``, ``upstream features changed``,
``nblib source changed``, ``package versions changed: optuna 5.0.0 → 5.1.0``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nblib.common.locks import file_lock
from nblib.engine import artifacts as io
from nblib.engine import packages as pkgs

__all__ = ["StageCache", "Entry", "Claim", "key_of", "notebook_source_hash", "reasons", "parse_size", "human_size"]

ENTRY = "entry.json"


def key_of(parts: dict[str, Any]) -> str:
    """The cache key: a short hash of the parts (order-independent)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:20]


def notebook_source_hash(path: str | Path) -> str:
    """Hash of a notebook's cells (type and source only): outputs, ids and metadata do not count.

    So a notebook saved from JupyterLab with its outputs keys the same as the
    committed one without them.
    """
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    cells = [(c.get("cell_type"), _source(c.get("source", ""))) for c in nb.get("cells", [])]
    return hashlib.sha256(json.dumps(cells).encode()).hexdigest()


def values_hash(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass
class Entry:
    """One stored stage result."""

    path: Path
    data: dict[str, Any]

    @property
    def key(self) -> str:
        return self.data["key"]

    @property
    def run_id(self) -> str:
        return self.data.get("run_id", "?")

    @property
    def outputs(self) -> dict[str, str]:
        return self.data.get("outputs", {})

    @property
    def packages(self) -> dict[str, str] | None:
        """``{distribution: version}`` the stage's kernel imported (``None``: not recorded)."""
        found = self.data.get("packages")
        return found if isinstance(found, dict) else None

    def outdated(self) -> list[tuple[str, str, str | None]]:
        """The recorded distributions whose installed version differs now (:func:`~nblib.engine.packages.changed`)."""
        return pkgs.changed(self.packages)


class StageCache:
    """The store under ``root`` (``reports/.cache``).

    Parameters
    ----------
    root : Path
        Folder of the store; made on first write.
    """

    def __init__(self, root: str | Path):
        self.root = Path(root)

    # ------------------------------------------------------------------ lookup

    def get(self, stage: str, key: str, *, current: bool = True) -> Entry | None:
        """The entry for ``key``, or ``None``; an unreadable entry is removed and is a miss.

        With ``current`` (the default) an entry recorded with other versions of the
        distributions its stage imported than those installed now is a miss too (it stays,
        to say what changed, until the stage's new result replaces it)."""
        folder = self.root / stage / key
        try:
            data = json.loads((folder / ENTRY).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            self._discard(folder)
            return None
        if not isinstance(data, dict) or data.get("key") != key:
            self._discard(folder)
            return None
        entry = Entry(folder, data)
        if current and entry.outdated():
            return None
        return entry

    def latest(self, stage: str, *, lineage: str | None = None, data: str | None = None) -> Entry | None:
        """The stage's most recently stored or used entry (to explain a miss).

        With ``lineage`` (runs of the same params, e.g. their name) or ``data`` (the input
        data's fingerprint), only a related entry will do: the newest of the same lineage,
        else the newest on the same data, else ``None`` — a run of another dataset's params
        is no baseline for saying what changed.
        """
        related = lineage is not None or data is not None
        best: tuple[int, float, Path] | None = None
        for entry_file in (self.root / stage).glob(f"*/{ENTRY}"):
            try:
                mtime = entry_file.stat().st_mtime
                stored = json.loads(entry_file.read_text(encoding="utf-8")) if related else {}
            except (OSError, ValueError):
                continue
            stored = stored if isinstance(stored, dict) else {}
            if not related or lineage is not None and stored.get("lineage") == lineage:
                rank = 0
            elif data is not None and (stored.get("parts") or {}).get("data") == data:
                rank = 1
            else:
                continue
            if best is None or (rank, -mtime) < (best[0], -best[1]):
                best = (rank, mtime, entry_file.parent)
        if best is None:
            return None
        return self.get(stage, best[2].name, current=False)

    def could_hit(self, stage: str, parts: dict[str, Any]) -> bool:
        """Whether some entry matches ``parts`` in everything but the input artifacts.

        Inputs are known only once upstream stages are done; this tells early
        whether the stage will surely run (then its kernel can start now).
        """
        wanted = {k: v for k, v in parts.items() if k != "inputs"}
        for entry_file in (self.root / stage).glob(f"*/{ENTRY}"):
            try:
                data = json.loads(entry_file.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            stored = data.get("parts", {}) if isinstance(data, dict) else {}
            if {k: v for k, v in stored.items() if k != "inputs"} == wanted and not pkgs.changed(data.get("packages")):
                return True
        return False

    # ------------------------------------------------------------------ restore / store

    def restore(self, entry: Entry, run_dir: Path) -> list[str]:
        """Link (or copy) the entry's files into ``run_dir``; return problems (empty if all verified).

        On any problem the entry is removed from the store and the caller runs
        the stage instead (whatever was restored is then cleared by the runner).
        """
        files = entry.path / "files"
        recorded = {**entry.outputs, **entry.data.get("extras", {})}
        problems = []
        for rel, digest in recorded.items():
            src, dst = files / rel, Path(run_dir) / rel
            try:
                _place(src, dst)
            except OSError as exc:
                problems.append(f"{rel}: cannot restore ({exc.strerror or exc})")
                break
            if io.sha256_file(dst) != digest:
                problems.append(f"{rel} in the cache changed since it was stored")
                break
        if problems:
            self._discard(entry.path)
        else:
            _touch(entry.path / ENTRY)  # last used: prune keeps recently used entries
        return problems

    def store(
        self, stage: str, key: str, run_dir: Path, *, outputs: dict[str, str], extras: list[str], meta: dict[str, Any]
    ) -> Entry | None:
        """Put a successful stage's files into the store; ``None`` if that was not possible.

        ``outputs`` are the recorded artifact hashes (paths relative to
        ``run_dir``); ``extras`` more files to keep (the executed notebook and
        its HTML). The entry appears at once and whole (a folder renamed into
        place), or not at all; when two runs store the same key, the first wins. An entry
        of the same key recorded with distributions since upgraded is replaced.
        """
        final = self.root / stage / key
        existing = self.get(stage, key, current=False) if (final / ENTRY).exists() else None
        if existing is not None and not existing.outdated():
            return existing
        tmp = self.root / stage / f".tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            extra_hashes = {}
            for rel in [*outputs, *extras]:
                src = Path(run_dir) / rel
                if not src.is_file():
                    continue
                _place(src, tmp / "files" / rel)
                if rel not in outputs:
                    extra_hashes[rel] = io.sha256_file(src)
            data = {
                "key": key,
                **meta,
                "outputs": outputs,
                "extras": extra_hashes,
                "stored": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            }
            (tmp / ENTRY).write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
            if existing is not None:  # outdated: the new result takes its place
                self._discard(final)
            os.rename(tmp, final)
        except OSError:  # a full disk, a race with another run storing the same key: the run goes on
            shutil.rmtree(tmp, ignore_errors=True)
            return self.get(stage, key)
        return Entry(final, data)

    def claim(self, stage: str, key: str, on_wait: Any = None) -> Claim:
        """Hold the right to compute ``stage`` with ``key`` (runs of a sweep take turns).

        When another run is computing the same stage with the same inputs, wait
        for it (``on_wait()`` is called first): its result is then in the store.
        The claim ends with :meth:`Claim.release`, or when the process ends.
        """
        held = contextlib.ExitStack()  # a store we cannot write holds nothing: no turns to take
        held.enter_context(file_lock(self.root / stage / f".{key}.lock", on_wait=on_wait))
        return Claim(held)

    # ------------------------------------------------------------------ upkeep

    def entries(self) -> list[tuple[Path, float, int]]:
        """``(folder, last used, bytes)`` for every entry, least recently used first."""
        rows = []
        for entry_file in self.root.glob(f"*/*/{ENTRY}"):
            try:
                used = entry_file.stat().st_mtime
            except OSError:
                continue
            rows.append((entry_file.parent, used, _size(entry_file.parent)))
        return sorted(rows, key=lambda row: row[1])

    def prune(self, max_bytes: int) -> tuple[int, int, int]:
        """Remove least recently used entries until the store holds at most ``max_bytes``.

        Returns ``(entries removed, bytes freed, bytes left)``. Files still
        linked from run folders stay there: only the store's links go.
        """
        rows = self.entries()
        total = sum(size for _, _, size in rows)
        removed = freed = 0
        for folder, _, size in rows:
            if total <= max_bytes:
                break
            self._discard(folder)
            total -= size
            freed += size
            removed += 1
        for stray in [*self.root.glob("*/.tmp-*"), *self.root.glob("*/.*.lock")]:  # left by killed runs
            try:
                if time.time() - stray.stat().st_mtime > 3600:
                    shutil.rmtree(stray, ignore_errors=True) if stray.is_dir() else stray.unlink()
            except OSError:
                continue
        return removed, freed, total

    def _discard(self, folder: Path) -> None:
        """Remove an entry so that no reader sees half of it: rename away, then delete."""
        trash = folder.with_name(f".tmp-trash-{uuid.uuid4().hex[:8]}")
        try:
            os.rename(folder, trash)
        except OSError:
            return
        shutil.rmtree(trash, ignore_errors=True)


class Claim:
    """See :meth:`StageCache.claim`."""

    def __init__(self, held: contextlib.ExitStack | None = None):
        self._held = held

    def release(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            held.close()  # leaves the file lock


def reasons(
    parts: dict[str, Any],
    before: dict[str, Any] | None,
    *,
    notebook: str,
    values: dict[str, Any] | None = None,
    values_before: dict[str, Any] | None = None,
    packages_before: dict[str, str] | None = None,
) -> list[str]:
    """Why a stage with ``parts`` runs, compared with the parts it had ``before`` (and the
    distribution versions its kernel imported then, ``packages_before``, with those installed now).

    >>> old = {"notebook": "a", "params": {"train": "1"}, "inputs": {"features": "x"}, "code": "c"}
    >>> new = {"notebook": "a", "params": {"train": "2"}, "inputs": {"features": "y"}, "code": "d"}
    >>> reasons(new, old, notebook="04_train.ipynb")
    ['params.train changed', 'upstream features changed', 'nblib source changed']
    """
    if not before:
        return ["nothing cached for this stage yet"]
    why = []
    if parts.get("notebook") != before.get("notebook"):
        why.append(f"notebook {notebook} changed")
    old_params, new_params = before.get("params", {}), parts.get("params", {})
    for section in sorted(set(old_params) | set(new_params)):
        if old_params.get(section) != new_params.get(section):
            keys = _changed_keys((values_before or {}).get(section), (values or {}).get(section), section)
            why.extend(keys or [f"params.{section} changed"])
    old_inputs, new_inputs = before.get("inputs", {}), parts.get("inputs", {})
    for name in sorted(set(old_inputs) | set(new_inputs)):
        if old_inputs.get(name) != new_inputs.get(name):
            why.append(f"upstream {name} changed")
    for part, words in (
        ("data", "input data changed"),
        ("code", "nblib source changed"),
        ("versions", "package versions changed"),
    ):  # "versions": keys of older nblib
        if parts.get(part) != before.get(part):
            why.append(words)
    if "python" in before and parts.get("python") != before["python"]:
        why.append(f"Python changed ({before['python']} → {parts.get('python')})")
    outdated = pkgs.changed(packages_before)
    if outdated:
        why.append(pkgs.describe(outdated))
    return why or ["its cached result was missing or damaged"]


def parse_size(text: str) -> int:
    """Bytes from ``"500M"``, ``"2G"``, ``"1.5GB"``, ``"0"`` or ``"123456"``.

    >>> parse_size("1.5G"), parse_size("200MB"), parse_size("0")
    (1610612736, 209715200, 0)
    """
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*", str(text), re.IGNORECASE)
    if not match:
        raise ValueError(f"{text!r} is not a size; expected e.g. 500M, 2G or a number of bytes")
    factor = 1024 ** "bkmgt".index(match.group(2).lower() or "b")
    return int(float(match.group(1)) * factor)


def human_size(n: int) -> str:
    """``n`` bytes in B, KB, MB or GB (1024 each), one decimal above bytes.

    >>> human_size(1536)
    '1.5 KB'
    >>> human_size(512)
    '512 B'
    """
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"  # pragma: no cover


# --------------------------------------------------------------------------- helpers


def _source(source: Any) -> str:
    return "".join(source) if isinstance(source, list) else str(source)


def _changed_keys(old: Any, new: Any, prefix: str, limit: int = 4) -> list[str]:
    """``params.<prefix>.<key> changed (a → b)`` for each leaf that differs (at most ``limit``)."""
    if old is None or new is None:
        return []
    flat_old, flat_new = _flatten(old, prefix), _flatten(new, prefix)
    lines = [
        f"params.{k} changed ({_short(flat_old.get(k, '—'))} → {_short(flat_new.get(k, '—'))})"
        for k in sorted(set(flat_old) | set(flat_new))
        if flat_old.get(k, object()) != flat_new.get(k)
    ]
    if len(lines) > limit:
        lines = lines[:limit] + [f"and {len(lines) - limit} more params.{prefix} keys"]
    return lines


def _flatten(value: Any, prefix: str) -> dict[str, Any]:
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{prefix}.{k}"))
        return out
    return {prefix: value}


def _short(value: Any, limit: int = 30) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _place(src: Path, dst: Path) -> None:
    """``dst`` becomes a hard link to ``src`` (a copy across file systems), replacing what was there."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.{uuid.uuid4().hex[:8]}.link")
    try:
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copy2(src, tmp)
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)


def _touch(path: Path) -> None:
    try:
        os.utime(path)
    except OSError:
        pass


def _size(folder: Path) -> int:
    total = 0
    for f in folder.rglob("*"):
        try:
            if f.is_file():
                total += f.stat().st_size
        except OSError:
            continue
    return total
