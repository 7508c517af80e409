"""Common checks over every notebook in notebooks/: a new notebook is covered without anyone remembering."""

import ast
import re
from pathlib import Path

import nbformat
import pytest

from nblib.factory.pipeline import PIPELINE

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
MAX_CELL_LINES = 12


def test_every_stage_has_a_notebook_and_back():
    assert sorted(p.stem for p in NOTEBOOKS) == sorted(PIPELINE.names())


@pytest.fixture(params=NOTEBOOKS, ids=lambda p: p.stem)
def notebook(request):
    return request.param, nbformat.read(request.param, as_version=4)


def code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def test_committed_without_outputs(notebook):
    _, nb = notebook
    for cell in code_cells(nb):
        assert cell.outputs == [] and cell.execution_count is None


def test_one_parameters_cell_with_run_dir_and_params_path(notebook):
    _, nb = notebook
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    names = {
        t.id for node in ast.walk(ast.parse(tagged[0].source)) if isinstance(node, ast.Assign) for t in node.targets
    }
    assert {"run_dir", "params_path"} <= names


def test_narrative_and_short_calls(notebook):
    _, nb = notebook
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    assert sum(c.cell_type == "markdown" for c in nb.cells) >= 3
    for cell in code_cells(nb):
        tree = ast.parse(cell.source)
        defs = [
            n
            for n in ast.walk(tree)
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda))
        ]
        assert not defs, f"logic belongs in nblib, not in a notebook cell:\n{cell.source}"
        assert len(cell.source.splitlines()) <= MAX_CELL_LINES, f"cell too long:\n{cell.source}"


def test_reads_and_writes_only_declared_artifacts(notebook):
    path, nb = notebook
    stage = PIPELINE[path.stem]
    source = "\n".join(c.source for c in code_cells(nb))
    assert f'stage.start("{stage.name}"' in source
    reads = set(re.findall(r'ctx\.(?:read|has)\("(\w+)"\)', source))
    writes = set(re.findall(r'ctx\.write\("(\w+)"', source))
    writes |= {n for n in re.findall(r'ctx\.path\("(\w+)"\)', source) if stage.outputs.get(n, "").endswith("/")}
    assert reads <= set(stage.inputs), reads - set(stage.inputs)
    assert writes == set(stage.outputs), writes ^ set(stage.outputs)


def test_showing_a_figure_echoes_no_path(tmp_path):
    """A cell ending with ``ctx.show(...)`` (04's CV comparison) shows the figure, not ``PosixPath(...)``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from nblib.factory.params import load_params
    from nblib.factory.stage import StageContext

    ctx = StageContext(PIPELINE["04_train"], tmp_path, load_params(ROOT / "params" / "smoke.yaml"))
    fig, _ = plt.subplots()
    assert ctx.show("cv comparison", fig) is None
    assert list((tmp_path / "artifacts" / "figures").glob("*/*.png"))


def test_no_cell_ends_by_echoing_an_artifact_path(notebook):
    """``ctx.write``/``ctx.path`` return a Path: as a cell's last expression it would print ``PosixPath(...)``."""
    _, nb = notebook
    for cell in code_cells(nb):
        body = ast.parse(cell.source).body
        last = body[-1] if body else None
        if isinstance(last, ast.Expr) and isinstance(last.value, ast.Call):
            func = last.value.func
            assert not (
                isinstance(func, ast.Attribute)
                and func.attr in ("write", "path")
                and isinstance(func.value, ast.Name)
                and func.value.id == "ctx"
            ), cell.source
