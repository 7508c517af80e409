"""Every package nblib imports is declared in pyproject.toml, so a clean install can run it."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from pathlib import Path

import pytest

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parent.parent
OPTIONAL = ("ImportError", "ModuleNotFoundError")


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared() -> set[str]:
    """Distribution names in ``[project] dependencies`` and every optional extra."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"].values()
    requirements = [*project["dependencies"], *(r for extra in extras for r in extra)]
    return {_normalize(re.match(r"[A-Za-z0-9._-]+", r).group()) for r in requirements}


def _catches_import_error(node: ast.Try) -> bool:
    names = set()
    for handler in node.handlers:
        kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
        names |= {k.id for k in kinds if isinstance(k, ast.Name)}
    return bool(names & set(OPTIONAL))


def required_imports(source: str) -> set[str]:
    """Top-level names of the absolute imports in ``source``, leaving out those in a
    ``try`` that catches ``ImportError`` (optional: the code falls back without them).
    """
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.Try) and _catches_import_error(node):
            for child in [*node.handlers, *node.orelse, *node.finalbody]:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(source))
    return found


def third_party_imports() -> dict[str, str]:
    """Each third-party top-level module nblib imports → the first file that imports it."""
    seen: dict[str, str] = {}
    for path in sorted((ROOT / "nblib").rglob("*.py")):
        for name in required_imports(path.read_text()):
            if name not in sys.stdlib_module_names and name != "nblib":
                seen.setdefault(name, str(path.relative_to(ROOT)))
    return seen


def test_every_imported_package_is_declared():
    declared = _declared()
    distributions = importlib.metadata.packages_distributions()
    missing = []
    for module, where in sorted(third_party_imports().items()):
        candidates = {_normalize(d) for d in distributions.get(module, [module])}
        if not candidates & declared:
            missing.append(f"{module} (imported in {where}; installed as {', '.join(sorted(candidates))})")
    assert not missing, "imported but not in pyproject.toml [project] dependencies or an extra: " + "; ".join(missing)


def test_required_imports_leave_out_relative_and_optional_ones():
    source = "import a.b\nfrom c import d\nfrom . import e\ntry:\n    import f\nexcept ImportError:\n    f = None\n"
    source += "try:\n    import g\nexcept OSError:\n    pass\ndef h():\n    import i\n"
    assert required_imports(source) == {"a", "c", "g", "i"}


def test_the_scan_sees_the_imports_it_must():
    """The check above is not vacuous: it finds imports nblib is known to make."""
    found = third_party_imports()
    assert {"pandas", "sklearn", "papermill", "jinja2"} <= set(found)
    assert "psutil" not in found  # imported only inside try/except ImportError (engine/processes.py)
