"""The house (DESIGN.md) is kept, not described: the import contract holds, the engine knows no ML
file, and every module is where the README's layout section says it is."""

import re
import subprocess
import sys
from pathlib import Path

import nblib
from nblib.factory.pipeline import PIPELINE

ROOT = Path(nblib.__file__).parent


def test_the_import_contract_holds():
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint)], capture_output=True, text=True, cwd=ROOT.parent)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "BROKEN" not in done.stdout and done.stdout.count("KEPT") >= 3


def test_no_engine_module_names_an_artifact_of_the_pipeline():
    files = {name for stage in PIPELINE for name in [*stage.inputs.values(), *stage.outputs.values()]}
    assert "metrics.json" in files and "model.skops" in files
    for module in sorted((ROOT / "engine").rglob("*.py")):
        text = module.read_text()
        named = sorted(f for f in files if f in text)
        assert not named, f"{module.relative_to(ROOT.parent)} names {named}: the engine knows no ML file"


def test_the_readme_lists_every_module():
    readme = (ROOT.parent / "README.md").read_text()
    layout = readme[readme.index("## Layout") :]
    layout = layout[layout.index("```") + 3 :]
    layout = layout[: layout.index("```")]
    listed, folder = set(), None
    for line in layout.splitlines():
        if line.startswith("nblib/"):
            folder = line.split()[0]
        if folder:
            found = re.match(r"\s*(?:nblib/[\w/]*\s+)?(\w+\.py)\b", line)
            if found:
                listed.add(folder + found.group(1))
    modules = {p.relative_to(ROOT.parent).as_posix() for p in ROOT.rglob("*.py") if p.name != "__init__.py"}
    assert not sorted(modules - listed), f"README's layout section misses {sorted(modules - listed)}"
    assert not sorted(listed - modules), (
        f"README's layout section lists modules that are gone: {sorted(listed - modules)}"
    )


def test_no_module_imports_itself_through_others():
    import grimp

    graph = grimp.build_graph("nblib")
    for module in sorted(graph.modules):
        for imported in graph.find_modules_directly_imported_by(module):
            back = graph.find_shortest_chain(importer=imported, imported=module)
            assert back is None, f"import cycle: {module} → {' → '.join(back)}"
