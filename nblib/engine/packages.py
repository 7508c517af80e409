"""The installed distributions a stage's result depends on: those its kernel imported.

When a stage's notebook has run, the runner asks its kernel which top-level modules
are in ``sys.modules`` (:func:`~nblib.engine.kernels.imported_modules`) and maps them
here to distributions and their installed versions (:func:`distribution_versions`),
e.g. ``{"scikit-learn": "1.5.2", "pyyaml": "6.0.2", ...}``. The stage's cache entry
and manifest record keep that map; an entry whose recorded versions are no longer
those installed is a miss (:func:`changed`), and the stage's why-line says which
changed (:func:`describe`): ``package versions changed: optuna 5.0.0 → 5.1.0``.

Left out: modules without a distribution (the standard library, local modules),
distributions providing source the key already hashes (modules under the runner's
``code_paths``), and :data:`KERNEL_RUNTIME`, which every kernel imports to be a
kernel, whatever its notebook does.

Installed versions are looked up once per process (:func:`installed_version`).
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable, Mapping
from importlib import metadata

__all__ = [
    "KERNEL_RUNTIME",
    "canonical",
    "installed_version",
    "distribution_versions",
    "all_installed",
    "changed",
    "describe",
]

#: Distributions a bare ipykernel imports to talk to its client: their versions change how
#: a kernel runs cells, not what the cells compute. (``packaging``, ``python-dateutil``, ``six``
#: and ``typing-extensions`` are imported too, but data libraries use them: they stay in.)
KERNEL_RUNTIME = frozenset(
    {
        "ipykernel",
        "ipython",
        "jupyter-client",
        "jupyter-core",
        "traitlets",
        "tornado",
        "pyzmq",
        "comm",
        "debugpy",
        "pygments",
        "colorama",
        "matplotlib-inline",
        "nest-asyncio",
        "prompt-toolkit",
        "jedi",
        "parso",
        "pexpect",
        "ptyprocess",
        "wcwidth",
        "stack-data",
        "executing",
        "asttokens",
        "pure-eval",
        "decorator",
        "appnope",
        "platformdirs",
        "psutil",
        "setuptools",
    }
)


def canonical(name: str) -> str:
    """A distribution's name as PEP 503 compares them: ``PyYAML`` → ``pyyaml``, ``scikit_learn`` → ``scikit-learn``.

    >>> canonical("PyYAML"), canonical("scikit_learn")
    ('pyyaml', 'scikit-learn')
    """
    return re.sub(r"[-_.]+", "-", name).lower()


@functools.cache
def installed_version(dist: str) -> str | None:
    """The version of distribution ``dist`` installed now (``None`` if none is); looked up once per process."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None
    except Exception:  # noqa: BLE001 - damaged metadata: as good as not installed
        return None


@functools.lru_cache(maxsize=1)
def _providers() -> dict[str, tuple[str, ...]]:
    """Top-level module name → the distributions that provide it (one scan of the environment)."""
    return {
        module: tuple(sorted({canonical(d) for d in dists}))
        for module, dists in metadata.packages_distributions().items()
    }


def distribution_versions(
    modules: Mapping[str, str | None], exclude_paths: Iterable[os.PathLike | str] = ()
) -> dict[str, str]:
    """``{distribution: installed version}`` for the top-level ``modules`` (name → file or ``None``).

    A distribution that provides a module found under one of ``exclude_paths`` is left
    out (its source is hashed with the key), as are :data:`KERNEL_RUNTIME` and modules
    no installed distribution provides.
    """
    roots = [os.path.realpath(p) for p in exclude_paths]
    providers = _providers()
    excluded = set(KERNEL_RUNTIME)
    wanted: set[str] = set()
    for name, file in modules.items():
        dists = providers.get(name, ())
        if file and roots and any(_under(os.path.realpath(file), root) for root in roots):
            excluded.update(dists)
        else:
            wanted.update(dists)
    versions = {dist: installed_version(dist) for dist in sorted(wanted - excluded)}
    return {dist: version for dist, version in versions.items() if version is not None}


def all_installed() -> dict[str, str]:
    """Every installed distribution but :data:`KERNEL_RUNTIME` (when a kernel could not say what it imported)."""
    found: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata.get("Name") if dist.metadata else None
        if name and canonical(name) not in KERNEL_RUNTIME:
            found.setdefault(canonical(name), dist.version)
    return dict(sorted(found.items()))


def changed(recorded: Mapping[str, str] | None) -> list[tuple[str, str, str | None]]:
    """``(distribution, recorded version, installed version)`` for each that differs now (``None``: uninstalled)."""
    if not isinstance(recorded, Mapping):
        return []
    out = []
    for dist, version in sorted(recorded.items()):
        now = installed_version(dist)
        if now != version:
            out.append((dist, version, now))
    return out


def describe(changes: list[tuple[str, str, str | None]], limit: int = 3) -> str:
    """The why-line for ``changes`` (see :func:`changed`): the first ``limit``, then a count.

    >>> describe([("optuna", "5.0.0", "5.1.0")])
    'package versions changed: optuna 5.0.0 → 5.1.0'
    """
    words = [f"{dist} {old} → {new if new is not None else 'not installed'}" for dist, old, new in changes[:limit]]
    more = f" and {len(changes) - limit} more" if len(changes) > limit else ""
    return f"package versions changed: {', '.join(words)}{more}"


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)
