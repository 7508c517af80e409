"""The examples in docstrings run: every nblib module that has one, found on disk (none listed by hand)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "nblib"
#: Top-level packages of the ``nn`` extra: a module that needs one is skipped only where the extra is missing.
EXTRAS = {"torch", "skorch", "tensorboard"}


def walk(folder: Path = PACKAGE, prefix: str = "nblib") -> list[tuple[str, Path]]:
    """``(module name, file)`` for every module under ``folder``, read from disk without importing anything."""
    found = [(prefix, folder / "__init__.py")] if (folder / "__init__.py").exists() else []
    for info in pkgutil.iter_modules([str(folder)]):
        name = f"{prefix}.{info.name}"
        if info.ispkg:
            found += walk(folder / info.name, name)
        elif info.name != "__main__":  # running it is running the CLI
            found.append((name, folder / f"{info.name}.py"))
    return found


MODULES = [name for name, path in walk() if ">>>" in path.read_text()]


def test_the_walk_finds_every_module():
    names = {name for name, _ in walk()}
    assert len(names) == len(list(PACKAGE.rglob("*.py"))) - len(list(PACKAGE.rglob("__main__.py")))
    assert {"nblib.engine.cache", "nblib.ml.data.datasets", "nblib.cli.main"} <= names
    assert {"nblib.engine.cache", "nblib.engine.artifacts", "nblib.ml.data.datasets"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] in EXTRAS:
            pytest.skip(f"{name} needs {exc.name} (pip install -e '.[nn]')")
        raise
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, report=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} failed (printed above)"
    assert result.attempted > 0
