"""nbdime, configured by nbdime_config.json, ignores execution counts and volatile metadata."""

import copy
import subprocess
import sys
from pathlib import Path

import nbformat
from conftest import ROOT


def nbdiff(a, b) -> str:
    nbdiff_cli = str(Path(sys.executable).parent / "nbdiff")  # the command git's driver uses too
    out = subprocess.run([nbdiff_cli, "--no-color", str(a), str(b)],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_volatile_changes_are_ignored_but_source_changes_are_not(tmp_path):
    nb = nbformat.read(ROOT / "notebooks" / "01_eda.ipynb", as_version=4)
    executed = copy.deepcopy(nb)
    code = next(c for c in executed.cells if c.cell_type == "code")
    code.execution_count = 3
    code.metadata["papermill"] = {"duration": 1.5}
    code.metadata["execution"] = {"iopub.status.busy": "2026-01-01T00:00:00"}
    executed.metadata["papermill"] = {"duration": 9.9}
    nbformat.write(nb, tmp_path / "a.ipynb")
    nbformat.write(executed, tmp_path / "b.ipynb")
    assert nbdiff(tmp_path / "a.ipynb", tmp_path / "b.ipynb") == ""

    code.source += "\nprint('changed')"
    nbformat.write(executed, tmp_path / "c.ipynb")
    assert "changed" in nbdiff(tmp_path / "a.ipynb", tmp_path / "c.ipynb")


def test_git_attributes_route_notebooks_to_nbdime():
    attrs = (ROOT / ".gitattributes").read_text()
    assert "*.ipynb\tdiff=jupyternotebook" in attrs and "*.ipynb\tmerge=jupyternotebook" in attrs
