"""nbdime, configured by nbdime_config.json, ignores execution counts and volatile metadata."""

import copy
import json
import subprocess
import sys
from pathlib import Path

import nbformat
from conftest import ROOT


def nbdiff(a, b) -> str:
    nbdiff_cli = str(Path(sys.executable).parent / "nbdiff")  # the command git's driver uses too
    out = subprocess.run(
        [nbdiff_cli, "--no-color", str(a), str(b)], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
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


def test_cell_ids_and_output_execution_counts_are_ignored(tmp_path):
    nb = nbformat.read(ROOT / "notebooks" / "04_train.ipynb", as_version=4)
    nb.cells[1].outputs = [nbformat.v4.new_output("execute_result", {"text/plain": "42"}, execution_count=1)]
    other = copy.deepcopy(nb)
    other.cells[1].id = "a-new-random-id"
    other.cells[1].outputs[0].execution_count = 7
    nbformat.write(nb, tmp_path / "a.ipynb")
    nbformat.write(other, tmp_path / "b.ipynb")
    assert nbdiff(tmp_path / "a.ipynb", tmp_path / "b.ipynb") == ""

    other.cells[1].outputs[0].data["text/plain"] = "43"
    nbformat.write(other, tmp_path / "c.ipynb")
    assert "43" in nbdiff(tmp_path / "a.ipynb", tmp_path / "c.ipynb")


# ---- stabilize: what the runner applies to each executed notebook -------------------------------


def _executed(run: str) -> dict:
    """04_train as papermill leaves it: injected cell with a random id, timestamps, outputs, error cells."""
    nb = nbformat.read(ROOT / "notebooks" / "04_train.ipynb", as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])) + 1
    injected = nbformat.v4.new_code_cell(f'# Parameters\nrun_dir = "{run}"\n')
    injected.metadata["tags"] = ["injected-parameters"]
    nb.cells.insert(at, injected)
    error = nbformat.v4.new_markdown_cell('<span style="color:red">An Exception was encountered</span>')
    anchor = nbformat.v4.new_markdown_cell('<span id="papermill-error-cell" style="color:red">Execution</span>')
    for cell in (error, anchor):
        cell.metadata["tags"] = ["papermill-error-cell-tag"]
    nb.cells.insert(0, error)
    nb.cells.insert(at + 2, anchor)
    for n, cell in enumerate(nb.cells):
        cell.metadata.setdefault("tags", [])
        cell.metadata["papermill"] = {
            "duration": 0.5,
            "status": "completed",
            "exception": False,
            "start_time": run,
            "end_time": run,
        }
        if cell.cell_type == "code":
            cell.metadata["execution"] = {"iopub.status.busy": run, "shell.execute_reply": run}
            cell.execution_count = n
            cell.outputs = [
                nbformat.v4.new_output("stream", name="stdout", text=f"cell {n} in {run}\n"),
                nbformat.v4.new_output("display_data", {"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"}),
            ]
    nb.metadata["papermill"] = {"duration": 9.9, "output_path": f"{run}/04_train.ipynb", "parameters": {"run_dir": run}}
    return json.loads(nbformat.writes(nb))


def test_stabilize_fixes_papermill_cell_ids_and_drops_kernel_timestamps():
    from nblib.engine.notebooks import ERROR_ANCHOR_ID, ERROR_ID, INJECTED_ID, stabilize

    nb = _executed("/runs/a")
    before = json.dumps(nb)
    out = stabilize(nb)
    assert json.dumps(nb) == before  # pure: the argument is left alone
    ids = {c["id"]: c for c in out["cells"]}
    assert ids[INJECTED_ID]["metadata"]["tags"] == ["injected-parameters"]
    assert ERROR_ID in ids and "papermill-error-cell" in "".join(ids[ERROR_ANCHOR_ID]["source"])
    assert len(ids) == len(out["cells"])  # unique
    assert all("execution" not in c["metadata"] for c in out["cells"])
    assert all(c["metadata"].get("tags") != [] for c in out["cells"])
    # kept: outputs, execution counts, papermill's records (the HTML and papermill read them)
    for a, b in zip(nb["cells"], out["cells"], strict=False):
        assert a.get("outputs") == b.get("outputs") and a.get("execution_count") == b.get("execution_count")
        assert a["metadata"]["papermill"] == b["metadata"]["papermill"]
    assert out["metadata"] == nb["metadata"]
    nbformat.validate(nbformat.from_dict(out))


def test_stabilize_is_idempotent_and_two_runs_get_the_same_ids():
    from nblib.engine.notebooks import stabilize

    a, b = stabilize(_executed("/runs/a")), stabilize(_executed("/runs/b"))
    assert stabilize(a) == a
    assert [c["id"] for c in a["cells"]] == [c["id"] for c in b["cells"]]


def test_stabilize_keeps_ids_unique_and_leaves_old_notebooks_without_ids():
    from nblib.engine.notebooks import INJECTED_ID, stabilize

    nb = _executed("/runs/a")
    nb["cells"][0]["id"] = INJECTED_ID  # a notebook cell that already uses the name
    out = stabilize(nb)
    assert len({c["id"] for c in out["cells"]}) == len(out["cells"])
    nbformat.validate(nbformat.from_dict(out))

    old = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    old.nbformat_minor = 4
    del old.cells[0]["id"]
    old.cells[0].metadata["tags"] = ["injected-parameters"]
    out = stabilize(json.loads(nbformat.writes(old)))
    assert "id" not in out["cells"][0]
    nbformat.validate(nbformat.from_dict(out))


def test_stabilized_runs_diff_only_where_outputs_differ(tmp_path):
    from nblib.engine.notebooks import stabilize

    for name in "ab":
        (tmp_path / f"{name}.ipynb").write_text(json.dumps(stabilize(_executed(f"/runs/{name}"))))
    diff = nbdiff(tmp_path / "a.ipynb", tmp_path / "b.ipynb")
    headers = [line for line in diff.splitlines() if line.startswith("## ")]
    assert headers and all(h.endswith(("/source:", "/text:")) for h in headers), headers


def test_memory_addresses_in_outputs_are_made_stable():
    from nblib.engine.notebooks import stabilize

    html = "&lt;function as_str at 0x7f3a1c2b4d60&gt;"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("pipe")])
    nb.cells[0].outputs = [
        nbformat.v4.new_output(
            "execute_result", execution_count=1, data={"text/html": html, "text/plain": ["<f at 0xdeadbeef12>"]}
        ),
        nbformat.v4.new_output("stream", name="stdout", text="obj at 0x7ffe00112233\n"),
    ]
    out = stabilize(nb)["cells"][0]["outputs"]
    assert out[0]["data"]["text/html"] == "&lt;function as_str at 0x…&gt;"
    assert out[0]["data"]["text/plain"] == ["<f at 0x…>"] and out[1]["text"] == "obj at 0x…\n"
    assert stabilize(stabilize(nb)) == stabilize(nb)
