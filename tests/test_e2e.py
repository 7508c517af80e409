"""End-to-end: the whole pipeline through the CLI on tiny params."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import nbformat
import pandas as pd
import pytest
from conftest import ROOT, run_cli, run_folders

pytestmark = pytest.mark.e2e

STAGES = ["01_eda", "02_preprocess", "03_features", "04_train", "05_evaluate"]


@pytest.mark.timeout(900)  # one run, four reruns from the cache, a sweep, predict, a gate, diff
def test_smoke_run_produces_the_run_folder(reports, tmp_path):
    result = run_cli("run", "params/smoke.yaml", reports=reports)
    assert result.returncode == 0, result.stderr
    (run,) = run_folders(reports)
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", run.parent.name)
    assert re.fullmatch(r"\d{6}-smoke", run.name)
    for stage in STAGES:
        assert (run / f"{stage}.ipynb").exists() and (run / f"{stage}.html").exists()
        executed = nbformat.read(run / f"{stage}.ipynb", as_version=4)
        assert any(c.get("outputs") for c in executed.cells if c.cell_type == "code")
    for name in ("manifest.json", "params.yaml", "summary.html"):
        assert (run / name).exists()
    assert (reports / "index.html").read_text().count("smoke") >= 1

    manifest = json.loads((run / "manifest.json").read_text())
    for key in (
        "run_id",
        "status",
        "started",
        "finished",
        "params_sha256",
        "data_sha256",
        "git_commit",
        "versions",
        "stages",
        "metrics",
    ):
        assert key in manifest
    assert manifest["status"] == "succeeded"
    assert [s["name"] for s in manifest["stages"]] == STAGES
    assert all(s["status"] == "succeeded" and s["seconds"] > 0 and s["cache_key"] for s in manifest["stages"])
    assert 0.5 < manifest["metrics"]["roc_auc"] <= 1

    metrics = json.loads((run / "artifacts" / "metrics.json").read_text())
    assert metrics["task"] == "classification" and metrics["primary_metric"] == "roc_auc"
    assert {"roc_auc", "pr_auc", "f1", "balanced_accuracy"} <= set(metrics["test"])
    assert set(metrics["cv"]) == {"logistic_regression", "random_forest", "hist_gradient_boosting"}
    chosen = metrics["chosen"]  # a family, or the selection ensemble of families (the default)
    assert metrics["best_model"] == chosen["name"] and "oracle" in metrics
    members = set(chosen["members"] or [chosen["name"]])
    assert members <= set(metrics["cv"]) and chosen["kind"] in ("single", "selection")
    for fig in ("roc", "pr", "confusion_matrix"):
        assert (run / "artifacts" / "figures" / "05_evaluate" / f"{fig}.png").exists()
    assert not list(run.rglob("*.tmp")), "no temporary files may be left behind"

    # the same params give the same metrics: a re-run in place reuses every stage
    again = run_cli("run", "params/smoke.yaml", "--run-dir", str(run), reports=reports)
    assert again.returncode == 0, again.stderr
    manifest2 = json.loads((run / "manifest.json").read_text())
    assert [s["status"] for s in manifest2["stages"]] == ["cached"] * 5
    assert manifest2["metrics"] == manifest["metrics"]

    # a new run of the same params reuses every stage from the cache, into its own folder
    second = run_cli("run", "params/smoke.yaml", reports=reports)
    assert second.returncode == 0, second.stderr
    (run2,) = [f for f in run_folders(reports) if f != run]
    cached = json.loads((run2 / "manifest.json").read_text())
    assert [s["status"] for s in cached["stages"]] == ["cached"] * 5
    assert {s["cached_from"] for s in cached["stages"]} == {manifest["run_id"]}
    assert cached["metrics"] == manifest["metrics"] and (run2 / "05_evaluate.html").exists()
    assert not (run2 / "kernels.log").exists(), "nothing ran: no kernel was started"

    # a sweep over an evaluate.* key, two runs at a time: only 05_evaluate runs, in each
    sweep = run_cli("run", "params/smoke.yaml", "--sweep", "evaluate.bootstrap=40,60", "--jobs", "2", reports=reports)
    assert sweep.returncode == 0, sweep.stdout + sweep.stderr
    swept = [json.loads((f / "manifest.json").read_text()) for f in run_folders(reports) if f not in (run, run2)]
    assert sorted(m["label"] for m in swept) == ["smoke · evaluate.bootstrap=40", "smoke · evaluate.bootstrap=60"]
    for m in swept:
        assert [s["status"] for s in m["stages"]] == ["cached"] * 4 + ["succeeded"]
        value = m["label"].rsplit("=", 1)[1]
        assert m["stages"][-1]["why"] == [f"params.evaluate.bootstrap changed (50 → {value})"]
    (page,) = reports.glob("sweeps/*/index.html")
    assert page.read_text().count("evaluate.bootstrap=") >= 2 and (page.parent / "sweep.json").exists()
    info = run_cli("cache", "info", reports=reports)
    assert info.returncode == 0 and "05_evaluate" in info.stdout and "7 cached stage results" in info.stdout
    assert "removed 7 cached stage results" in run_cli("cache", "prune", "--max-size", "0", reports=reports).stdout

    # any single notebook runs with the plain papermill CLI given the run folder
    out = tmp_path / "evaluate.ipynb"
    pm = subprocess.run(
        [
            sys.executable,
            "-m",
            "papermill",
            str(ROOT / "notebooks/05_evaluate.ipynb"),
            str(out),
            "-p",
            "run_dir",
            str(run),
            "--cwd",
            str(ROOT / "notebooks"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert pm.returncode == 0, pm.stderr[-2000:]
    assert json.loads((run / "artifacts" / "metrics.json").read_text())["test"] == metrics["test"]

    # predict on new rows with the run's model
    from nblib.ml.data.datasets import make_product_launches

    new = tmp_path / "new.csv"
    make_product_launches(60, random_state=99).frame.drop(columns=["is_hit"]).to_csv(new, index=False)
    scored = tmp_path / "scored.csv"
    res = run_cli("predict", str(run), str(new), "-o", str(scored), reports=reports)
    assert res.returncode == 0, res.stderr
    table = pd.read_csv(scored)
    assert len(table) == 60 and table["proba"].between(0, 1).all()
    bad = tmp_path / "bad.csv"
    pd.read_csv(new).drop(columns=["price"]).to_csv(bad, index=False)
    res = run_cli("predict", str(run), str(bad), "-o", str(tmp_path / "x.csv"), reports=reports)
    assert res.returncode == 2 and "price" in res.stderr and not (tmp_path / "x.csv").exists()

    # a gate that the model misses: only 05 re-runs (upstream reused), exit 3, status gated
    gated = run_cli(
        "run",
        "params/smoke.yaml",
        "--run-dir",
        str(run),
        "--stages",
        "05_evaluate",
        "-p",
        "evaluate.gates={roc_auc: 0.99}",
        reports=reports,
    )
    assert gated.returncode == 3, gated.stderr
    assert "gate 0.9900" in gated.stderr
    manifest3 = json.loads((run / "manifest.json").read_text())
    assert manifest3["status"] == "gated"
    assert [s["status"] for s in manifest3["stages"]] == ["cached"] * 4 + ["failed"]
    assert (run / "artifacts" / "metrics.json").exists() and manifest3["metrics"] == manifest["metrics"]

    # list and diff
    listed = run_cli("list", reports=reports)
    assert manifest["run_id"] in listed.stdout
    by_id = run_cli("predict", manifest["run_id"], str(new), "-o", str(tmp_path / "by_id.csv"), reports=reports)
    assert by_id.returncode == 2 and "this run's status is gated" in by_id.stderr  # the gate said no: refused
    by_id = run_cli(
        "predict",
        manifest["run_id"],
        str(new),
        "-o",
        str(tmp_path / "by_id.csv"),
        "--allow-unfinished",
        reports=reports,
    )
    assert by_id.returncode == 0, by_id.stderr  # the ids `list` prints are accepted too
    other = run.parent / (run.name + "-copy")
    shutil.copytree(run, other)
    (other / "params.yaml").write_text((run / "params.yaml").read_text().replace("cv_folds: 2", "cv_folds: 3"))
    diff = run_cli("diff", str(run), str(other), "--html", str(tmp_path / "diff.html"), reports=reports)
    assert diff.returncode == 0 and "train.cv_folds: 2 -> 3" in diff.stdout
    assert (tmp_path / "diff.html").exists()


def test_failing_stage_keeps_its_report_and_stops(reports):
    # settings scikit-learn accepts one by one but not together: 04_train raises while fitting
    result = run_cli(
        "run",
        "params/smoke.yaml",
        "-p",
        "data.n_rows=300",
        "-p",
        "train.models={logistic_regression: {l1_ratio: 1.0}}",
        reports=reports,
    )
    assert result.returncode == 1
    assert "stage 04_train failed" in result.stderr and "penalt" in result.stderr
    (run,) = run_folders(reports)
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "failed" and "04_train" in manifest["error"]
    statuses = {s["name"]: s["status"] for s in manifest["stages"]}
    assert statuses == {
        "01_eda": "succeeded",
        "02_preprocess": "succeeded",
        "03_features": "succeeded",
        "04_train": "failed",
        "05_evaluate": "skipped",
    }
    failed = next(s for s in manifest["stages"] if s["name"] == "04_train")
    assert "penalt" in failed["error"] and "\n" not in failed["error"]
    assert "penalt" in (run / "04_train.html").read_text()
    assert not (run / "05_evaluate.ipynb").exists()
    assert not (run / "artifacts" / "model.skops").exists()
    assert manifest["metrics"] == {}
    assert "failed" in (run / "summary.html").read_text()


@pytest.mark.parametrize(
    "args, message",
    [
        (["params/smoke.yaml", "-p", "train.cv_fold=3"], "train.cv_fold: unknown key (did you mean 'cv_folds'?)"),
        (["params/smoke.yaml", "-p", "data.target=hit"], "data.target: column 'hit' not in the generated dataset"),
        (["params/missing.yaml"], "params file not found"),
        (["params/smoke.yaml", "--stages", "04_trian"], "did you mean '04_train'"),
        (["params/smoke.yaml", "-p", "train.models.random_forest.n_estimator=5"], "did you mean 'n_estimators'"),
    ],
)
def test_rejected_params_exit_2_and_make_no_run_folder(reports, args, message):
    result = run_cli("run", *args, reports=reports)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]
    assert run_folders(reports) == []


def test_regression_on_a_user_csv(reports, tmp_path):
    from nblib.ml.data.datasets import make_product_launches

    csv = tmp_path / "launches.csv"
    make_product_launches(500, random_state=1).frame.to_csv(csv, index=False)
    params = tmp_path / "revenue.yaml"
    params.write_text(
        f"data: {{source: {csv}, target: revenue_k, task: regression, drop_columns: [is_hit]}}\n"
        "preprocess: {stratify: false}\nfeatures: {text: {max_features: 100, svd_components: 5}}\n"
        "train: {cv_folds: 2, models: {ridge: {}, random_forest: {n_estimators: 10},"
        " hist_gradient_boosting: {max_iter: 20}}}\nevaluate: {bootstrap: 20}\ncompute: {n_jobs: 1}\n"
    )
    result = run_cli("run", str(params), reports=reports)
    assert result.returncode == 0, result.stderr
    (run,) = run_folders(reports)
    assert run.name.endswith("-revenue")
    metrics = json.loads((run / "artifacts" / "metrics.json").read_text())
    assert metrics["task"] == "regression" and metrics["primary_metric"] == "rmse"
    assert {"rmse", "mae", "r2"} <= set(metrics["test"]) and "oracle" not in metrics
    assert metrics["test"]["r2"] > 0.1  # better than predicting the mean


@pytest.mark.timeout(900)  # 01 on the default 20,000 rows, then 02-04
def test_notebook_defaults_run_as_a_scratch_run(reports, tmp_path):
    """What a data scientist gets in JupyterLab: empty run_dir → scratch run, upstream stages run first."""
    import os

    env = {**os.environ, "NBLIB_REPORTS": str(reports)}
    # 1. exactly as committed: no parameters at all (params/default.yaml, scratch run)
    pm = subprocess.run(
        [
            sys.executable,
            "-m",
            "papermill",
            str(ROOT / "notebooks/01_eda.ipynb"),
            str(tmp_path / "01.ipynb"),
            "--cwd",
            str(ROOT / "notebooks"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert pm.returncode == 0, pm.stderr[-2000:]
    assert len(pd.read_parquet(reports / "scratch" / "artifacts" / "raw.parquet")) == 20_000
    # 2. a later stage with other params: its upstream stages run first
    out = tmp_path / "03.ipynb"
    pm = subprocess.run(
        [
            sys.executable,
            "-m",
            "papermill",
            str(ROOT / "notebooks/03_features.ipynb"),
            str(out),
            "-p",
            "params_path",
            str(ROOT / "params/smoke.yaml"),
            "--cwd",
            str(ROOT / "notebooks"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert pm.returncode == 0, pm.stderr[-2000:]
    scratch = reports / "scratch"
    assert (scratch / "artifacts" / "features.skops").exists()
    manifest = json.loads((scratch / "manifest.json").read_text())
    assert [s["name"] for s in manifest["stages"]] == ["01_eda", "02_preprocess", "03_features"]
    assert manifest["stages"][2]["executed_in"] == "JupyterLab" and manifest["stages"][2]["status"] == "succeeded"
    # 3. the next notebook reuses the stage run "in Lab" instead of running it again
    pm = subprocess.run(
        [
            sys.executable,
            "-m",
            "papermill",
            str(ROOT / "notebooks/04_train.ipynb"),
            str(tmp_path / "04.ipynb"),
            "-p",
            "params_path",
            str(ROOT / "params/smoke.yaml"),
            "--cwd",
            str(ROOT / "notebooks"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert pm.returncode == 0, pm.stderr[-2000:]
    manifest = json.loads((scratch / "manifest.json").read_text())
    assert [s["status"] for s in manifest["stages"]] == ["cached", "cached", "cached", "succeeded"]
    assert manifest["stages"][2]["executed_in"] == "JupyterLab"


def test_sigterm_marks_the_run_interrupted(reports):
    import os
    import signal
    import time

    env = {**os.environ, "NBLIB_REPORTS": str(reports)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "nblib", "run", "params/smoke.yaml"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 120
    while time.time() < deadline:
        manifests = list(reports.glob("*/*/manifest.json"))
        if manifests and any(s["status"] == "running" for s in json.loads(manifests[0].read_text())["stages"]):
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 143 and "interrupted by SIGTERM" in stderr
    manifest = json.loads(manifests[0].read_text())
    assert manifest["status"] == "interrupted" and manifest["finished"]
    assert "running" not in {s["status"] for s in manifest["stages"]}


@pytest.mark.timeout(900)  # a search, ensembles and the neural net
def test_training_options_end_to_end(reports, tmp_path):
    """Search, in-fold resampling, ensembles, the neural net and a cost threshold, through the notebooks."""
    result = run_cli(
        "run",
        "params/smoke.yaml",
        "-p",
        "train.search.method=halving",
        "-p",
        "train.search.n_trials=4",
        "-p",
        "train.ensemble=both",
        "-p",
        "imbalance.strategy=smote",
        "-p",
        "evaluate.threshold_by=cost",
        "-p",
        "evaluate.cost={fp: 1, fn: 4}",
        "-p",
        "train.models={logistic_regression: {}, hist_gradient_boosting: {max_iter: 30}, mlp: {max_epochs: 4}}",
        reports=reports,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (run,) = run_folders(reports)
    cv = json.loads((run / "artifacts" / "cv_results.json").read_text())
    assert set(cv["search"]) == {"logistic_regression", "hist_gradient_boosting", "mlp"}
    assert all(r["method"] == "halving" and r["trials"] for r in cv["search"].values())
    assert {"voting", "stacking"} <= set(cv["ensemble"]["candidates"])
    # searched families are scored by nested CV, and the page says so
    assert all(r["cv_note"].startswith("nested CV: the halving search") for r in cv["models"].values())
    chosen = cv["chosen"]
    assert chosen["name"] == cv["ensemble"]["winner"] == cv["best_model"] and chosen["searched"]
    assert cv["threshold"]["by"] == "cost" and 0 < cv["threshold"]["threshold"] < 1
    metrics = json.loads((run / "artifacts" / "metrics.json").read_text())
    assert metrics["threshold"] == cv["threshold"]["threshold"] and "at_threshold_0.5" in metrics
    figures = {p.stem for p in (run / "artifacts" / "figures" / "04_train").glob("*.png")}
    assert {"cv_comparison", "threshold", "learning_curve", "search_score_vs_time"} <= figures
    summary = (run / "summary.html").read_text()
    assert "Hyperparameter search" in summary and "Ensembles" in summary and "At the usual 0.5 threshold" in summary
    assert "nested CV: the halving search" in summary and metrics["chosen"] == chosen
    from nblib.ml.data.datasets import make_product_launches

    new = tmp_path / "new.csv"
    make_product_launches(60, random_state=5).frame.drop(columns=["is_hit"]).to_csv(new, index=False)
    scored = tmp_path / "scored.csv"
    res = run_cli("predict", str(run), str(new), "-o", str(scored), reports=reports)
    assert res.returncode == 0, res.stderr
    table = pd.read_csv(scored)
    assert ((table["proba"] >= metrics["threshold"]) == (table["prediction"] == 1)).all()
