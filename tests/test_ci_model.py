"""``make ci-model``: what the workflow of ``nblib export ci`` runs, run here on smoke.yaml.

The main branch's step first (``CI_PROMOTE=1``: the first model becomes ``@champion``), then a pull
request's with an impossible gate: the gate fails the target, the run folder is complete, and the
summary compares the new run with the champion's through ``nblib diff`` (paired test on shared rows).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("ci-model"), pytest.mark.timeout(900)]


def _make(reports: Path, *args: str) -> subprocess.CompletedProcess:
    # -o: the venv this test runs in is the installed one (a pyproject.toml newer than its stamp would
    # otherwise make make reinstall it in the middle of the suite)
    return subprocess.run(
        ["make", "--no-print-directory", "-o", ".venv/.installed", "ci-model", "CI_PARAMS=params/smoke.yaml", *args],
        cwd=ROOT,
        env={**os.environ, "NBLIB_REPORTS": str(reports), "PYTHONWARNINGS": "ignore"},
        capture_output=True,
        text=True,
        timeout=840,
    )


def _run_folder(out: Path) -> Path:
    (found,) = [p.parent for p in out.glob("*/manifest.json")]
    return found


def test_ci_model_promotes_on_main_then_gates_and_diffs_a_pull_request(tmp_path):
    reports = tmp_path / "reports"
    main_out, main_summary = reports / "ci-main", tmp_path / "main.md"
    done = _make(reports, "CI_PROMOTE=1", f"CI_OUT={main_out}", f"CI_SUMMARY={main_summary}")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    champion = _run_folder(main_out)
    manifest = json.loads((champion / "manifest.json").read_text())
    assert manifest["status"] == "succeeded" and manifest["run_id"] == f"ci-main/{champion.name}"
    assert manifest["tracking"]["promotion"]["promoted"] is True
    text = main_summary.read_text()
    assert "— succeeded (exit 0)" in text and "champion before this run: none" in text
    assert "**promoted**, now @champion" in text

    pr_out, pr_summary = reports / "ci-pr", tmp_path / "pr.md"
    pr_summary.write_text("# earlier steps' summary\n")  # $GITHUB_STEP_SUMMARY is appended to, not replaced
    done = _make(reports, f"CI_OUT={pr_out}", f"CI_SUMMARY={pr_summary}", "CI_ARGS=-p 'evaluate.gates={roc_auc: 0.99}'")
    assert done.returncode != 0  # the gate fails the job (make says 2; the summary keeps nblib's 3)
    run = _run_folder(pr_out)
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "gated"
    assert all((run / f"{s['name']}.html").is_file() for s in manifest["stages"])  # complete, for the artifact
    text = pr_summary.read_text()
    assert text.startswith("# earlier steps' summary\n")
    assert "— gated (exit 3)" in text and "test roc_auc" in text and "< gate 0.9900" in text
    assert f"version 1 (run `ci-main/{champion.name}`)" in text
    assert "promotion: not asked (a pull request compares only" in text
    assert "nblib diff champion → this run" in text and "DeLong" in text and "shared test rows" in text
    assert (pr_out / f"diff-{run.name}.html").is_file()
    assert not list(ROOT.glob("reports/ci-*"))  # NBLIB_REPORTS: nothing written into the repository
