"""Two runs that differ in one param: the nbdiff of their 04_train notebooks shows what changed, briefly."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, run_cli, run_folders

from nblib.engine.notebooks import stabilize

pytestmark = pytest.mark.e2e


def _stabilized(src: Path, dst: Path) -> Path:
    """What the runner does after papermill: rewrite the executed notebook through ``stabilize``."""
    nb = stabilize(json.loads(src.read_text(encoding="utf-8")))
    dst.write_text(json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    return dst


def test_nbdiff_of_two_runs_shows_the_changed_cv_table_in_a_few_hundred_lines(reports, tmp_path):
    first = run_cli("run", "params/smoke.yaml", reports=reports)
    assert first.returncode == 0, first.stderr[-2000:]
    second = run_cli("run", "params/smoke.yaml", "-p", "train.cv_folds=3", reports=reports)
    assert second.returncode == 0, second.stderr[-2000:]
    a_dir, b_dir = run_folders(reports)[-2:]
    a = _stabilized(a_dir / "04_train.ipynb", tmp_path / "a.ipynb")
    b = _stabilized(b_dir / "04_train.ipynb", tmp_path / "b.ipynb")

    nbdiff = str(Path(sys.executable).parent / "nbdiff")
    out = subprocess.run([nbdiff, "--no-color", str(a), str(b)], cwd=ROOT, capture_output=True, text=True, check=False,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) < 300, f"{len(lines)} lines:\n" + "\n".join(lines[:80])
    text = out.stdout
    assert "fold_2" in text  # the CV table gained a third fold column
    assert "<th>fold_2</th>" in text
    # what a reviewer does not need: ids, execution counts, metadata, timestamps, image bytes
    headers = [line for line in lines if line.startswith("## ")]
    assert not [h for h in headers if h.endswith(("/id:", "/execution_count:")) or "/metadata" in h], headers
    assert "iopub" not in text and "start_time" not in text and "duration" not in text
    assert all(len(line) < 500 for line in lines)  # image/png is snipped to a hash, never printed
