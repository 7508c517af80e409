"""The DAG of ``nblib export airflow`` in real Apache Airflow (``.venv-airflow``, made by ``make airflow``).

Airflow runs in its own interpreter, as a deployment's would, with a private ``AIRFLOW_HOME`` (SQLite)
and reports folder per module. ``airflow dags test`` runs a DAG run in one process: each task starts the
``nblib`` command, as a worker would. The smoke DAG run is shared by the tests that read it; a DAG run with
an impossible gate reuses its stages 01–04 from nblib's cache.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import ROOT, run_cli

from nblib.factory.airflow import FINAL_TASK
from nblib.factory.pipeline import PIPELINE

pytestmark = [pytest.mark.xdist_group("airflow"), pytest.mark.e2e, pytest.mark.timeout(900)]

AIRFLOW_BIN = ROOT / ".venv-airflow" / "bin"
DAG_ID = "nblib_smoke"

#: Run in Airflow's interpreter: what its DagBag makes of the dags folder, as JSON.
LOAD = """
import importlib.util, json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
dag = bag.dags.get(sys.argv[2])
task = dag.get_task("01_eda") if dag else None
print(json.dumps({
    "import_errors": {str(k): str(v) for k, v in bag.import_errors.items()},
    "dags": sorted(bag.dags),
    "tasks": {t.task_id: sorted(t.upstream_task_ids) for t in dag.tasks} if dag else {},
    "retries": task.retries if task else None,
    "retry_delay_s": task.retry_delay.total_seconds() if task else None,
    "catchup": dag.catchup if dag else None,
    "max_active_runs": dag.max_active_runs if dag else None,
    "nblib_imported": "nblib" in sys.modules,
    "nblib_installed": importlib.util.find_spec("nblib") is not None,
}))
"""


@pytest.fixture(scope="module")
def airflow(tmp_path_factory) -> SimpleNamespace:
    """A private Airflow (home, SQLite database, dags folder) and reports folder, with the smoke DAG exported
    into it: one retry, no delay (so that a retry would show within the test)."""
    if not (AIRFLOW_BIN / "airflow").exists():
        pytest.fail(f"{AIRFLOW_BIN / 'airflow'}: not installed; run make airflow", pytrace=False)
    base = tmp_path_factory.mktemp("airflow")
    home, dags, reports = base / "home", base / "dags", base / "reports"
    reports.mkdir()
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "NBLIB_REPORTS": str(reports),
        "PYTHONWARNINGS": "ignore",
    }
    exported = run_cli(
        "export", "airflow", "params/smoke.yaml", "-o", str(dags), "-p", "schedule.retries=1",
        "-p", "schedule.retry_delay_s=0", reports=reports,
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    migrated = subprocess.run(
        [str(AIRFLOW_BIN / "airflow"), "db", "migrate"], cwd=base, env=env, capture_output=True, text=True, timeout=300
    )
    assert migrated.returncode == 0, migrated.stdout[-3000:] + migrated.stderr[-3000:]
    return SimpleNamespace(env=env, base=base, dags=dags, reports=reports, dag_file=dags / f"{DAG_ID}.py")


def dags_test(airflow: SimpleNamespace, conf: dict | None = None, **env: str) -> SimpleNamespace:
    """``airflow dags test`` of the smoke DAG: its output (the task logs are in it), the run folder its tasks
    named, and how many times each task started."""
    argv = [str(AIRFLOW_BIN / "airflow"), "dags", "test", DAG_ID, "-f", str(airflow.dag_file)]
    if conf is not None:
        argv += ["-c", json.dumps(conf)]
    result = subprocess.run(
        argv, cwd=airflow.base, env={**airflow.env, **env}, capture_output=True, text=True, timeout=850
    )
    out = result.stdout + result.stderr
    folders = set(re.findall(r"run folder: (\S+)", out))
    assert len(folders) <= 1, folders  # every task of a DAG run works in one folder
    tries: dict[str, int] = {}
    for task in re.findall(r"\[DAG TEST\] starting task_id=(\S+)", out):
        tries[task] = tries.get(task, 0) + 1
    return SimpleNamespace(
        returncode=result.returncode, out=out, folder=Path(folders.pop()) if folders else None, tries=tries
    )


@pytest.fixture(scope="module")
def smoke_run(airflow) -> SimpleNamespace:
    run = dags_test(airflow)
    assert run.returncode == 0, run.out[-6000:]
    return run


def mlflow_runs(reports: Path) -> list[tuple[str, str, str]]:
    """``(run id, status, nblib.run_dir tag)`` of every MLflow run in the reports folder's default store."""
    with sqlite3.connect(reports / ".mlflow" / "mlflow.db") as db:
        return db.execute(
            "SELECT r.run_uuid, r.status, t.value FROM runs r JOIN tags t ON t.run_uuid = r.run_uuid "
            "AND t.key = 'nblib.run_dir' WHERE r.lifecycle_stage = 'active'"
        ).fetchall()


def test_the_dagbag_loads_the_file_without_nblib_and_has_the_pipelines_tasks(airflow):
    result = subprocess.run(
        [str(AIRFLOW_BIN / "python"), "-c", LOAD, str(airflow.dags), DAG_ID],
        cwd=airflow.base,  # not the checkout: its nblib/ folder would be importable from there
        env=airflow.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    bag = json.loads(result.stdout.strip().splitlines()[-1])
    assert bag["import_errors"] == {} and bag["dags"] == [DAG_ID]
    last = sorted(s.name for s in PIPELINE if not PIPELINE.downstream(s.name))
    assert bag["tasks"] == {
        **{s.name: sorted(PIPELINE.dependencies(s.name)) for s in PIPELINE},
        FINAL_TASK: last,
    }
    assert (bag["retries"], bag["retry_delay_s"], bag["catchup"], bag["max_active_runs"]) == (1, 0, False, 1)
    assert not bag["nblib_imported"] and not bag["nblib_installed"]  # parsed by Airflow alone


def test_dags_test_runs_the_smoke_params_to_a_complete_run_logged_once(airflow, smoke_run):
    folder = smoke_run.folder
    assert folder.parent.parent == airflow.reports and re.fullmatch(r"\d{6}-smoke-[0-9a-f]{6}", folder.name)
    assert smoke_run.tries == {name: 1 for name in [*PIPELINE.names(), FINAL_TASK]}
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["status"] == "succeeded"
    assert [s["name"] for s in manifest["stages"]] == PIPELINE.names()
    assert all(s["status"] in ("succeeded", "cached") for s in manifest["stages"])
    assert manifest["metrics"]["roc_auc"] > 0.5
    assert (folder / "summary.html").exists() and folder.name in (airflow.reports / "index.html").read_text()
    verified = run_cli("verify", str(folder), reports=airflow.reports)
    assert verified.returncode == 0, verified.stderr
    # the stage tasks deferred MLflow to the last task: one MLflow run for the DAG run, one model version
    tracking = manifest["tracking"]
    assert mlflow_runs(airflow.reports) == [(tracking["run_id"], "FINISHED", str(folder))]
    assert tracking["model"]["version"] == 1 and tracking["model"]["champion"] == "first"
    assert "mlflow: not logged yet (--defer-tracking)" in smoke_run.out
    listed = run_cli("list", reports=airflow.reports)
    assert manifest["run_id"] in listed.stdout


def test_an_impossible_gate_fails_05_evaluate_with_its_reason_and_no_retry(airflow, smoke_run):
    run = dags_test(airflow, conf={"evaluate.gates.roc_auc": 0.999})  # params at trigger time
    assert run.returncode != 0
    assert run.folder != smoke_run.folder
    assert run.tries == {name: 1 for name in PIPELINE.names()}  # 05 once (exit 3: not retried); promote never
    assert re.search(r"nblib run exited with 3: .*gate 0\.9990.*a gate said no: not retried", run.out), run.out[-4000:]
    manifest = json.loads((run.folder / "manifest.json").read_text())
    assert manifest["status"] == "gated" and manifest["label"] == "smoke · evaluate.gates.roc_auc=0.999"
    assert [s["status"] for s in manifest["stages"]][-1] == "failed"
    assert all(s["status"] in ("cached", "succeeded") for s in manifest["stages"][:4])  # cached unless nblib changed
    assert (str(run.folder), "FAILED") in {(d, s) for _, s, d in mlflow_runs(airflow.reports)}  # logged at once


def test_bad_params_at_trigger_time_fail_the_first_task_once_with_nblibs_line(airflow, smoke_run):
    before = sorted(airflow.reports.glob("*/*/manifest.json"))
    run = dags_test(airflow, conf={"train": {"cv_folds": "many"}})
    assert run.returncode != 0
    assert run.tries == {"01_eda": 1}  # exit 2: not retried, nothing after it
    assert re.search(r"nblib run exited with 2: .*train\.cv_folds: .*'many'.*not retried", run.out), run.out[-4000:]
    assert sorted(airflow.reports.glob("*/*/manifest.json")) == before  # nothing run


def test_a_failure_that_may_pass_next_time_is_retried(airflow, tmp_path):
    fake = tmp_path / "nblib"
    fake.write_text('#!/bin/sh\necho "nblib: error: 01_eda: the kernel died"\nexit 1\n')
    fake.chmod(0o755)
    run = dags_test(airflow, NBLIB_EXECUTABLE=str(fake))
    assert run.returncode != 0
    assert run.tries == {"01_eda": 2}  # schedule.retries: 1
    assert "nblib run exited with 1: 01_eda: the kernel died" in run.out
