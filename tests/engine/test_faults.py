"""A cell that runs too long and a kernel that dies each fail their stage in one line that says where."""

from __future__ import annotations

import nbformat

from nblib.engine.dag import Pipeline, Stage
from nblib.engine.runner import Runner

PIPELINE = Pipeline([Stage("s", outputs={"s": "s.json"})])


def _runner(tmp_path, code: str, **kwargs) -> Runner:
    folder = tmp_path / "notebooks"
    folder.mkdir()
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("run_dir = ''\nparams_path = ''")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [
        params,
        nbformat.v4.new_markdown_cell("## The hard part\nIt takes a while."),
        nbformat.v4.new_code_cell(code),
    ]
    for i, cell in enumerate(nb.cells):
        cell.id = f"s-{i}"
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, folder / "s.ipynb")
    return Runner(
        PIPELINE,
        notebooks_dir=folder,
        reports_dir=tmp_path / "reports",
        progress=False,
        warmup_code="import json",
        **kwargs,
    )


def _run(runner: Runner, tmp_path):
    return runner.run(
        tmp_path / "reports" / "day" / "run", "seed: 1\n", params_hash="h", sections=lambda names: {}, force=True
    )


def test_a_cell_past_the_timeout_fails_its_stage_naming_the_cell(tmp_path):
    result = _run(_runner(tmp_path, "import time\ntime.sleep(120)", cell_timeout_s=2), tmp_path)
    assert result.exit_code == 1 and result.status == "failed"
    message = str(result.error)
    assert message.startswith('stage s failed: cell 3 (under "The hard part") ran past compute.cell_timeout_s (2 s)')
    assert "\n" not in message
    record = result.manifest["stages"][0]
    assert record["status"] == "failed" and record["seconds"] < 30


def test_a_dying_kernel_fails_its_stage_saying_how_it_died(tmp_path):
    result = _run(_runner(tmp_path, "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"), tmp_path)
    assert result.exit_code == 1 and result.status == "failed"
    assert str(result.error) == (
        'stage s failed: the kernel died in cell 3 (under "The hard part"): '
        "killed by SIGKILL (the system may have run out of memory)"
    )
