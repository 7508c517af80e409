"""MLflow tracking, the registry and champion/challenger, read back from the store with MlflowClient.

One module-scoped sequence of smoke runs in one reports folder (so one store):

1. a ``dummy`` model, no promotion asked: the first registered version is champion by itself;
2. the default families with ``evaluate.promote``: significantly better on the same test rows, promoted;
3. ``dummy`` again with ``evaluate.require_promotion``: not better, the champion stays, exit 3 (gated).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import run_cli, run_folders

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("tracking"), pytest.mark.timeout(900)]  # 3 runs in setup

MODEL = "nblib-smoke"
DUMMY = ["-p", "train.models={dummy: {}}"]
PROMOTE = ["-p", "evaluate.promote=true"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """``(reports, [run folders], [CompletedProcess])`` of the three runs above."""
    reports = tmp_path_factory.mktemp("reports")
    done = []
    for extra in (DUMMY, PROMOTE, DUMMY + PROMOTE + ["-p", "evaluate.require_promotion=true"]):
        done.append(run_cli("run", "params/smoke.yaml", "--quiet", *extra, reports=reports))
    assert [d.returncode for d in done] == [0, 0, 3], [d.stderr[-2000:] for d in done]
    folders = run_folders(reports)
    assert len(folders) == 3
    return reports, folders, done


@pytest.fixture(scope="module")
def client(runs):
    from mlflow import MlflowClient

    uri = f"sqlite:///{runs[0] / '.mlflow' / 'mlflow.db'}"
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


def test_each_run_is_one_mlflow_run_with_params_metrics_steps_children_artifacts_and_tags(runs, client):
    reports, folders, done = runs
    for folder, proc, promote in zip(folders[:2], done[:2], ("false", "true"), strict=False):
        manifest = _manifest(folder)
        record = manifest["tracking"]
        assert "error" not in record
        assert f"mlflow: run {record['run_id'][:12]}" in proc.stdout
        run = client.get_run(record["run_id"])
        assert run.info.status == "FINISHED"
        # params: the resolved params, flattened
        assert run.data.params["train.cv_folds"] == "2" and run.data.params["data.target"] == "is_hit"
        assert run.data.params["evaluate.promote"] == promote
        # metrics: the test metrics of the run with their interval, CV per family
        metrics = json.loads((folder / "artifacts" / "metrics.json").read_text())
        assert run.data.metrics["test.roc_auc"] == pytest.approx(manifest["metrics"]["roc_auc"])
        low, high = metrics["test_ci"]["roc_auc"]
        assert run.data.metrics["test.roc_auc.ci_low"] == pytest.approx(low)
        assert run.data.metrics["test.roc_auc.ci_high"] == pytest.approx(high)
        for family, score in metrics["cv"].items():
            assert run.data.metrics[f"cv.{family}.mean"] == pytest.approx(score["mean"])
        # step metrics: the learning curve by training-set size
        curve = client.get_metric_history(record["run_id"], "learning_curve.valid_score")
        assert len(curve) >= 2 and len({m.step for m in curve}) == len(curve)
        # tags
        tags = run.data.tags
        assert tags["nblib.run_id"] == manifest["run_id"] and tags["nblib.status"] == "succeeded"
        assert tags["nblib.data_sha256"] == manifest["data_sha256"]
        assert tags["mlflow.source.git.commit"] == manifest["git_commit"]
        assert tags["mlflow.runName"] == manifest["label"]
        # child runs: one per CV candidate, its fold scores as steps
        children = client.search_runs(
            [run.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{record['run_id']}'"
        )
        cv = json.loads((folder / "artifacts" / "cv_results.json").read_text())
        candidates = {*metrics["cv"], *((cv["ensemble"] or {}).get("candidates") or {})}  # families, ensembles
        assert sorted(c.info.run_name for c in children) == sorted(candidates)
        folds = client.get_metric_history(children[0].info.run_id, "cv.fold_score")
        assert [m.step for m in folds] == [0, 1]
        # artifacts: the pages, figures, records and test predictions
        names = {a.path for a in client.list_artifacts(record["run_id"])}
        assert {
            "summary.html",
            "model_card.md",
            "model_card.html",
            "05_evaluate.html",
            "params.yaml",
            "figures",
            "artifacts",
        } <= names
        assert "figures/05_evaluate" in {a.path for a in client.list_artifacts(record["run_id"], "figures")}
        inner = {a.path for a in client.list_artifacts(record["run_id"], "artifacts")}
        assert {"artifacts/predictions.parquet", "artifacts/metrics.json", "artifacts/promotion.json"} <= inner
        # the summary and the model card say where the run is
        assert record["run_id"] in (folder / "summary.html").read_text()
        assert f"{MODEL}, version {record['model']['version']}" in (folder / "model_card.md").read_text()


def test_champion_moves_only_for_a_significantly_better_model_on_the_same_rows(runs, client):
    reports, (first, second, third), done = runs
    records = [_manifest(f)["tracking"] for f in (first, second, third)]
    evidence = [json.loads((f / "artifacts" / "promotion.json").read_text()) for f in (first, second, third)]

    # no promotion asked: the first registered version is @champion all the same (issue 14)
    assert not evidence[0]["asked"] and "promotion" not in records[0]
    assert records[0]["model"]["champion"] == "first" and "@champion (the first version)" in done[0].stdout

    assert evidence[1]["decision"] == "promote" and evidence[1]["champion"]["version"] == records[0]["model"]["version"]
    test = evidence[1]["test"]
    assert test["test"] == "DeLong" and test["diff"] > 0.1 and test["p_value"] < 0.05 and test["lo"] > 0
    assert records[1]["promotion"]["promoted"] is True

    # the third run (dummy again) loses to the second: the champion stays, and the required promotion gates it
    assert evidence[2]["decision"] == "keep" and evidence[2]["champion"]["version"] == records[1]["model"]["version"]
    assert evidence[2]["test"]["diff"] < 0
    assert _manifest(third)["status"] == "gated" and "require_promotion" in done[2].stderr
    assert "model" not in records[2]  # a gated run's model is not registered
    gated = client.get_run(records[2]["run_id"])
    assert gated.info.status == "FAILED" and gated.data.tags["nblib.status"] == "gated"

    champion = client.get_model_version_by_alias(MODEL, "champion")
    assert int(champion.version) == records[1]["model"]["version"]
    assert champion.run_id == records[1]["run_id"]
    assert champion.tags["nblib.data_sha256"] == _manifest(second)["data_sha256"]
    assert int(client.get_model_version(MODEL, str(records[0]["model"]["version"])).version) == 1

    # the evidence is on the summary page and in the notebook's conclusion either way
    page = (third / "summary.html").read_text()
    assert "The champion stays." in page and "DeLong" in page
    conclusion = (third / "05_evaluate.ipynb").read_text()
    assert "**Champion:** keep the champion: not better" in conclusion


def test_the_registered_model_loads_without_pickle_and_scores_raw_rows_like_nblib_predict(runs, tmp_path, monkeypatch):
    import mlflow

    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    from nblib.engine import artifacts as io
    from nblib.ml.data.datasets import make_product_launches
    from nblib.ml.predict import predict_frame
    from nblib.ml.saved import TRUSTED_TYPES

    reports, (_, second, _), _ = runs
    uri = f"sqlite:///{reports / '.mlflow' / 'mlflow.db'}"
    before = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        local = Path(mlflow.artifacts.download_artifacts(f"models:/{MODEL}@champion", dst_path=str(tmp_path)))
        assert not list(local.rglob("*.pkl")), "a models-from-code pyfunc holds no pickle"
        assert "model_code_path" in (local / "MLmodel").read_text()
        model = mlflow.pyfunc.load_model(f"models:/{MODEL}@champion")
        raw = make_product_launches(60, random_state=11).frame.drop(columns=["is_hit", "revenue_k"])
        raw.loc[raw.index[:3], "description"] = None  # raw rows, missing text included
        scored = model.predict(raw)
    finally:
        mlflow.set_tracking_uri(before[0])
        mlflow.set_registry_uri(before[1])
    art = second / "artifacts"
    expected = predict_frame(
        io.read_model(art / "model.skops", TRUSTED_TYPES), raw, io.read_json(art / "columns.json")
    )  # the threshold is the model's own
    pd.testing.assert_frame_equal(scored, expected)
    assert {"proba", "prediction"} <= set(scored.columns)


def test_a_champion_on_other_test_rows_is_refused_with_the_reason(runs, monkeypatch):
    from nblib.factory.app import data_fingerprint, load
    from nblib.tracking import challenge as _challenge

    def challenge(params, predictions, metrics):
        return _challenge(params, predictions, metrics, data_sha256=data_fingerprint(params), reports_dir=reports)

    reports, (_, second, _), _ = runs
    monkeypatch.setenv("NBLIB_REPORTS", str(reports))
    params = load(["params/smoke.yaml"], ["evaluate.promote=true"])
    predictions = pd.read_parquet(second / "artifacts" / "predictions.parquet")
    metrics = json.loads((second / "artifacts" / "metrics.json").read_text())
    same = challenge(params, predictions, metrics)
    assert same["decision"] == "keep" and same["test"]["diff"] == pytest.approx(0)  # the champion itself
    other = challenge(params, predictions.iloc[1:], metrics)
    assert other["decision"] == "refused" and "other test rows" in other["reason"]
    elsewhere = challenge(load(["params/smoke.yaml"], ["evaluate.promote=true", "seed=8"]), predictions, metrics)
    assert elsewhere["decision"] == "refused" and "other data" in elsewhere["reason"]
    # a scheduled retrain on new data: given the test rows, the champion's registered model scores them
    test = pd.read_parquet(second / "artifacts" / "test.parquet")
    params = load(["params/smoke.yaml"], ["evaluate.promote=true", "seed=8"])
    rescored = _challenge(
        params, predictions, metrics, data_sha256=data_fingerprint(params), reports_dir=reports, rows=test
    )
    assert rescored["champion"]["scored_here"] and rescored["decision"] == "keep", rescored
    assert rescored["test"]["diff"] == pytest.approx(0, abs=1e-12)  # the champion is this model: same scores
    assert "the champion's model scored this run's test rows" in rescored["reason"]
    cannot = _challenge(
        params, predictions, metrics, data_sha256="x", reports_dir=reports, rows=test.drop(columns=["price"])
    )
    assert cannot["decision"] == "refused" and "cannot score this run's test rows" in cannot["reason"], cannot


def test_an_unreachable_store_is_a_warning_never_a_lost_run(runs):
    reports, _, _ = runs
    done = run_cli("run", "params/smoke.yaml", "--quiet", "-p", "tracking.uri=http://127.0.0.1:9", reports=reports)
    assert done.returncode == 0, done.stderr
    assert "warning: tracking:" in done.stderr and "the run itself is complete" in done.stderr
    folder = run_folders(reports)[-1]
    manifest = _manifest(folder)
    assert manifest["status"] == "succeeded" and manifest["tracking"]["error"]
    assert [s["status"] for s in manifest["stages"]] == ["cached"] * 4 + ["succeeded"]
    why = manifest["stages"][-1]["why"]
    assert "params.evaluate.promote changed (true → false)" in why and not any("uri" in w for w in why)
    assert "Not in MLflow" in (folder / "summary.html").read_text()
    # the last step of a scheduled run asks for it: then an unlogged run is a failure a scheduler retries
    strict = run_cli("run", "params/smoke.yaml", "--quiet", "--run-dir", str(folder), "--require-tracking",
                     "-p", "tracking.uri=http://127.0.0.1:9", reports=reports)  # fmt: skip
    assert strict.returncode == 1, strict.stderr
    (line,) = [x for x in strict.stderr.splitlines() if x.startswith("nblib: error:")]
    assert line.startswith("nblib: error: --require-tracking: ") and str(folder) in line
