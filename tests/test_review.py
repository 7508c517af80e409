"""What a reviewer uses to tell runs apart: list, index.html, diff and compare, on two real smoke runs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import ROOT, run_cli, run_folders

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("review"), pytest.mark.timeout(600)]  # 2 runs, on 1 worker


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """Two smoke runs that differ only in ``train.cv_folds`` (the second reuses 01–03 from the cache),
    made once for this module: ``(reports, a, b)``."""
    reports = tmp_path_factory.mktemp("reports")
    first = run_cli("run", "params/smoke.yaml", "--quiet", reports=reports)
    assert first.returncode == 0, first.stderr
    second = run_cli("run", "params/smoke.yaml", "-p", "train.cv_folds=3", "--quiet", reports=reports)
    assert second.returncode == 0, second.stderr
    a, b = sorted(run_folders(reports))
    return reports, a, b


def test_nbdiff_of_two_runs_shows_the_changed_cv_table_in_a_few_hundred_lines(pair):
    """The runner stabilizes executed notebooks; nbdime's config (nbdime_config.json) does the rest."""
    _, a, b = pair
    nbdiff = str(Path(sys.executable).parent / "nbdiff")
    out = subprocess.run(
        [nbdiff, "--no-color", str(a / "04_train.ipynb"), str(b / "04_train.ipynb")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) < 400, f"{len(lines)} lines:\n" + "\n".join(lines[:80])
    assert "<th>fold_2</th>" in out.stdout  # the CV table gained a third fold column
    headers = [line for line in lines if line.startswith("## ")]
    assert not [h for h in headers if h.endswith(("/id:", "/execution_count:")) or "/metadata" in h], headers
    assert "iopub" not in out.stdout and "start_time" not in out.stdout
    assert all(len(line) < 500 for line in lines)  # image/png is snipped to a hash, never printed


def test_list_diff_compare_and_index_tell_two_runs_apart(pair, tmp_path):
    reports, a, b = pair
    ids = [f"{r.parent.name}/{r.name}" for r in (a, b)]

    listed = run_cli("list", reports=reports)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["RUN", "LABEL", "STATUS", "MODEL", "CV", "TEST", "DURATION", "CACHED"]
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
    assert len(cv_lines) == 4  # every model family and the selection ensemble, A -> B with its delta
    assert any(re.search(r"\(([+-]0\.\d{4})\)$", line) and not line.endswith("(+0.0000)") for line in cv_lines)
    assert "shared test rows" in out and "DeLong" in out and "p=" in out  # same test rows: paired
    page = (tmp_path / "diff.html").read_text()
    assert "train.cv_folds" in page and "05_evaluate/roc.png" in page
    rel = Path(os.path.relpath(reports, tmp_path)).as_posix()  # links are relative to the page
    assert f'src="{rel}/{ids[0]}/artifacts/figures/05_evaluate/roc.png"' in page
    assert f'href="{rel}/{ids[1]}/summary.html"' in page

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
    assert page.count("<tr>") == 3 and "smoke · train.cv_folds=3" in page and "train.cv_folds" in page
    assert "data:image/png;base64," in page

    index = (reports / "index.html").read_text()
    for column in ("label", "started", "status", "CV mean", "test", "95% CI", "duration", "reports"):
        assert f"<th>{column}" in index
    for run_id in ids:
        assert f'href="{run_id}/summary.html"' in index and f'href="{run_id}/05_evaluate.html"' in index
