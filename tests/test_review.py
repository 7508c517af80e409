"""What a reviewer uses to tell runs apart: list, index.html, diff and compare, on two real smoke runs."""

from __future__ import annotations

import re
import shutil

import pandas as pd
import pytest
from conftest import run_cli, run_folders

pytestmark = pytest.mark.e2e


@pytest.fixture
def two_runs(reports):
    """Two smoke runs that differ only in ``train.cv_folds`` (the second reuses what it can from the cache)."""
    first = run_cli("run", "params/smoke.yaml", "--quiet", reports=reports)
    assert first.returncode == 0, first.stderr
    second = run_cli("run", "params/smoke.yaml", "-p", "train.cv_folds=3", "--quiet", reports=reports)
    assert second.returncode == 0, second.stderr
    a, b = sorted(run_folders(reports))
    return a, b


def test_list_diff_compare_and_index_tell_two_runs_apart(reports, two_runs, tmp_path):
    a, b = two_runs
    ids = [f"{r.parent.name}/{r.name}" for r in (a, b)]

    listed = run_cli("list", reports=reports)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["RUN", "LABEL", "STATUS", "CV", "TEST", "DURATION", "CACHED"]
    assert len(lines) == 3 and ids[1] in lines[1] and ids[0] in lines[2]  # newest first
    assert "smoke · train.cv_folds=3" in lines[1] and re.search(r"\bsmoke\s+succeeded", lines[2])
    assert len({line.index("succeeded") for line in lines[1:]}) == 1  # aligned columns

    diff = run_cli("diff", ids[0], ids[1], "--html", str(tmp_path / "diff.html"), reports=reports)
    assert diff.returncode == 0, diff.stderr
    out = diff.stdout
    params = out.split("params:\n", 1)[1].split("cv ", 1)[0].splitlines()
    assert params == ["  train.cv_folds: 2 -> 3"]  # exactly the one param that differs
    assert "data: same" in out
    cv_lines = out.split("(mean ± sd):\n", 1)[1].split("test (", 1)[0].splitlines()
    assert len(cv_lines) == 3  # every model family, A -> B with its delta
    assert any(re.search(r"\(([+-]0\.\d{4})\)$", line) and not line.endswith("(+0.0000)") for line in cv_lines)
    assert "shared test rows" in out and "DeLong" in out and "p=" in out  # same test rows: paired
    page = (tmp_path / "diff.html").read_text()
    assert "train.cv_folds" in page and "05_evaluate/roc.png" in page
    assert f'src="reports/{ids[0]}/artifacts/figures/05_evaluate/roc.png"' in page
    assert f'href="reports/{ids[1]}/summary.html"' in page

    # other test rows: no paired test, only the intervals
    other = b.parent / (b.name + "-rows")
    shutil.copytree(b, other)
    pred = pd.read_parquet(other / "artifacts" / "predictions.parquet")
    pred.index = pred.index + 100_000
    pred.to_parquet(other / "artifacts" / "predictions.parquet")
    unpaired = run_cli("diff", str(a), str(other), reports=reports)
    assert unpaired.returncode == 0 and "not paired: the test rows differ" in unpaired.stdout
    assert "DeLong" not in unpaired.stdout
    shutil.rmtree(other)

    compared = run_cli("compare", ids[0], str(b), reports=reports)
    assert compared.returncode == 0, compared.stderr
    page = (reports / "compare.html").read_text()
    assert page.count('<tr>') == 3 and "smoke · train.cv_folds=3" in page and "train.cv_folds" in page
    assert "data:image/png;base64," in page

    index = (reports / "index.html").read_text()
    for column in ("label", "started", "status", "CV mean", "test", "95% CI", "duration", "reports"):
        assert f"<th>{column}" in index
    for run_id in ids:
        assert f'href="{run_id}/summary.html"' in index and f'href="{run_id}/05_evaluate.html"' in index
