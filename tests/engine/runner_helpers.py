"""A tiny two-stage pipeline of plain notebooks, to test the engine without the ML stages.

Stage ``a`` writes ``artifacts/a.json``; stage ``b`` reads it and writes
``artifacts/b.json``. With ``slow=True`` stage ``b`` starts two joblib/loky
workers, writes their pids (and its own) to ``RUN/children.json`` and sleeps a
minute: a long cell to interrupt.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

from nblib.engine.dag import Pipeline, Stage
from nblib.engine.runner import Runner

PIPELINE = Pipeline(
    [
        Stage("a", outputs={"a": "a.json"}),
        Stage("b", inputs={"a": "a.json"}, outputs={"b": "b.json"}),
    ]
)

_WRITE_A = """import json, pathlib
art = pathlib.Path(run_dir) / "artifacts"
(art / "a.json").write_text(json.dumps({"value": 1}))"""

_WRITE_B = """import json, pathlib
art = pathlib.Path(run_dir) / "artifacts"
value = json.loads((art / "a.json").read_text())["value"]
(art / "b.json").write_text(json.dumps({"value": value + 1}))"""

_SLOW = """import json, os, pathlib, time
from joblib import Parallel, delayed
Parallel(n_jobs=2, backend="loky")(delayed(os.getpid)() for _ in range(4))
import psutil
pids = [p.pid for p in psutil.Process().children(recursive=True)]
(pathlib.Path(run_dir) / "children.json").write_text(json.dumps({"kernel": os.getpid(), "children": pids}))
time.sleep(60)"""


def write_notebooks(folder: Path, *, slow: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, code in (("a", _WRITE_A), ("b", (_SLOW + "\n" if slow else "") + _WRITE_B)):
        nb = nbformat.v4.new_notebook()
        params = nbformat.v4.new_code_cell("run_dir = ''\nparams_path = ''")
        params.metadata["tags"] = ["parameters"]
        nb.cells = [params, nbformat.v4.new_code_cell(code)]
        for i, cell in enumerate(nb.cells):  # fixed ids: the same notebook hashes the same (cache keys)
            cell.id = f"{name}-{i}"
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, folder / f"{name}.ipynb")
    return folder


def make_runner(root: Path, *, slow: bool = False) -> Runner:
    return Runner(
        PIPELINE,
        notebooks_dir=write_notebooks(root / "notebooks", slow=slow),
        reports_dir=root / "reports",
        progress=False,
        warmup_code="import json",
    )


def run(runner: Runner, run_dir: Path, *, force: bool = True, stages=None):
    return runner.run(run_dir, "seed: 1\n", params_hash="h", sections=lambda names: {}, force=force, stages=stages)


SCRIPT = f"""
import sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
from pathlib import Path
import runner_helpers as h
root = Path(sys.argv[1])
result = h.run(h.make_runner(root, slow=True), root / "reports" / "day" / "run")
if result.error is not None:
    print(f"nblib: error: {{result.error}}", file=sys.stderr)
sys.exit(result.exit_code)
"""


def runner_command(root: Path) -> list[str]:
    """A command that runs the slow pipeline into ``root/reports/day/run``."""
    script = root / "run_slow.py"
    script.write_text(SCRIPT)
    return [sys.executable, str(script), str(root)]
