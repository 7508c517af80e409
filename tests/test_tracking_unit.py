"""nblib.tracking without a pipeline: a run folder written by hand, logged in this process."""

from __future__ import annotations

import json
import math

import pytest

from nblib import tracking


def _run_folder(tmp_path, status="succeeded"):
    run = tmp_path / "2026-01-01" / "120000-demo"
    art = run / "artifacts"
    (art / "figures" / "04_train").mkdir(parents=True)
    (art / "figures" / "04_train" / "history.png").write_bytes(b"\x89PNG fake")
    (run / "summary.html").write_text("<p>summary</p>")
    (run / "params.yaml").write_text("name: demo\n")
    cv = {
        "best_model": "random_forest",
        "folds": 2,
        "models": {
            "random_forest": {"mean": 0.8, "std": 0.01, "scores": [0.79, 0.81], "fit_seconds": 0.2},
            "logistic_regression": {"mean": 0.7, "std": 0.02, "scores": [0.68, 0.72], "fit_seconds": 0.1},
        },
        "search": {
            "random_forest": {
                "method": "bayes",
                "best_params": {"max_depth": 7},
                "trials": [
                    {
                        "trial": 0,
                        "max_depth": 3,
                        "mean": 0.75,
                        "std": 0.02,
                        "fit_seconds": 0.3,
                        "elapsed_s": 0.4,
                        "state": "complete",
                    },
                    {
                        "trial": 1,
                        "max_depth": 7,
                        "mean": 0.8,
                        "std": 0.01,
                        "fit_seconds": 0.3,
                        "elapsed_s": 0.8,
                        "state": "pruned",
                    },
                ],
            }
        },
        "ensemble": {
            "winner": "voting",
            "candidates": {
                "voting": {
                    "kind": "voting",
                    "mean": 0.82,
                    "std": 0.01,
                    "scores": [0.81, 0.83],
                    "gain": 0.02,
                    "noise": 0.01,
                    "winner": True,
                    "verdict": "kept: beats the best single model",
                }
            },
        },
        "curves": [
            {
                "model": "random_forest",
                "unit": "iteration",
                "iteration": i,
                "train_loss": 1 / (i + 1),
                "valid_loss": 1.5 / (i + 1),
                "train_score": None,
                "valid_score": math.nan,
            }
            for i in range(4)
        ],
        "learning_curve": [
            {"train_size": n, "fold": f, "train_score": 0.9, "valid_score": 0.6 + n / 1000}
            for n in (50, 100)
            for f in (0, 1)
        ],
    }
    metrics = {
        "task": "classification",
        "primary_metric": "roc_auc",
        "best_model": "random_forest",
        "test": {"roc_auc": 0.81, "f1": 0.4},
        "test_ci": {"roc_auc": [0.75, 0.86]},
        "cv": {k: {"mean": v["mean"], "std": v["std"]} for k, v in cv["models"].items()},
        "threshold": 0.3,
    }
    (art / "cv_results.json").write_text(json.dumps(cv))
    (art / "metrics.json").write_text(json.dumps(metrics))
    manifest = {
        "run_id": "2026-01-01/120000-demo",
        "name": "demo",
        "label": "demo · train.cv_folds=2",
        "status": status,
        "started": "2026-01-01T12:00:00+00:00",
        "finished": "2026-01-01T12:01:00+00:00",
        "data_sha256": "d" * 64,
        "params_sha256": "p" * 64,
        "git_commit": "c" * 40,
        "stages": [{"name": "04_train", "seconds": 12.5}],
    }
    params = {
        "name": "demo",
        "seed": 1,
        "train": {"cv_folds": 2, "models": {"random_forest": {"n_estimators": 50}}},
        "data": {"drop_columns": ["a", "b"]},
        "tracking": {"experiment": "unit"},
    }
    return run, manifest, params


def test_a_run_folder_is_logged_with_trials_as_grandchildren_and_curves_as_steps(tmp_path):
    from mlflow import MlflowClient

    run, manifest, params = _run_folder(tmp_path, status="failed")
    conf = tracking.settings(params, tmp_path)
    record = tracking.log(run, manifest, params, conf)
    tracking.finish(run, "failed")
    client = MlflowClient(tracking_uri=conf["uri"])
    logged = client.get_run(record["run_id"])
    assert logged.info.status == "FAILED" and logged.data.tags["nblib.status"] == "failed"
    assert "model" not in record  # only a succeeded run's pipeline is registered
    assert logged.data.params["data.drop_columns"] == '["a", "b"]'
    assert logged.data.params["train.models.random_forest.n_estimators"] == "50"
    assert logged.data.metrics["seconds.04_train"] == 12.5 and logged.data.metrics["threshold"] == 0.3
    valid = client.get_metric_history(record["run_id"], "curve.random_forest.valid_loss")
    assert [(m.step, m.value) for m in valid] == [(i, pytest.approx(1.5 / (i + 1))) for i in range(4)]
    assert not client.get_metric_history(record["run_id"], "curve.random_forest.valid_score")  # NaN is left out
    sizes = client.get_metric_history(record["run_id"], "learning_curve.valid_score")
    assert [(m.step, round(m.value, 3)) for m in sizes] == [(50, 0.65), (100, 0.7)]

    experiment = logged.info.experiment_id
    children = client.search_runs([experiment], f"tags.mlflow.parentRunId = '{record['run_id']}'")
    assert sorted(c.info.run_name for c in children) == ["logistic_regression", "random_forest", "voting"]
    voting = next(c for c in children if c.info.run_name == "voting")
    assert voting.data.tags["nblib.kind"] == "ensemble" and voting.data.tags["nblib.best"] == "true"
    assert voting.data.metrics["cv.mean"] == 0.82 and voting.data.params["kind"] == "voting"
    forest = next(c for c in children if c.info.run_name == "random_forest")
    assert forest.data.params["model.max_depth"] == "7" and forest.data.tags["nblib.best"] == "true"
    trials = client.search_runs(
        [experiment], f"tags.mlflow.parentRunId = '{forest.info.run_id}'", order_by=["attributes.run_name"]
    )
    assert [t.info.run_name for t in trials] == ["random_forest trial 0", "random_forest trial 1"]
    assert [t.info.status for t in trials] == ["FINISHED", "KILLED"]  # the pruned trial
    assert trials[0].data.metrics["cv.mean"] == 0.75 and trials[0].data.params["model.max_depth"] == "3"
    assert record["children"] == 5
    figures = {a.path for a in client.list_artifacts(record["run_id"], "figures/04_train")}
    assert figures == {"figures/04_train/history.png"}


def test_settings_default_to_a_store_in_the_reports_folder(tmp_path):
    conf = tracking.settings({"name": "a b/c", "tracking": {"uri": "http://u:secret@host:5000"}}, tmp_path)
    assert conf["model_name"] == "nblib-a-b-c" and conf["artifact_location"] is None
    assert tracking.shown_uri(conf["uri"]) == "http://u:***@host:5000"
    assert tracking.settings({}, tmp_path)["uri"] == f"sqlite:///{tmp_path / '.mlflow' / 'mlflow.db'}"


def test_decide_refuses_without_a_paired_test_and_reads_lower_is_better_metrics():
    refused = tracking.decide({"version": 2, "data_sha256": "a"}, None, "roc_auc", 0.05, {"data_sha256": "b"})
    assert refused["decision"] == "refused" and "other data" in refused["reason"]
    split = tracking.decide({"version": 2, "data_sha256": "a"}, None, "roc_auc", 0.05, {"data_sha256": "a"})
    assert "other test rows" in split["reason"]
    better_rmse = {"diff": -1.5, "lo": -2.0, "hi": -1.0, "p_value": 0.001, "test": "paired bootstrap"}
    assert tracking.decide({"version": 2}, better_rmse, "rmse", 0.05)["decision"] == "promote"
    assert tracking.decide({"version": 2}, {**better_rmse, "p_value": None}, "rmse", 0.05)["decision"] == "keep"


def test_the_require_promotion_gate_exits_3_unless_promoted():
    from nblib.ml.evaluation.metrics import GateFailed

    tracking.check_promotion({"decision": "keep", "reason": "not better"}, False)
    tracking.check_promotion({"decision": "promote"}, True)
    with pytest.raises(GateFailed, match="require_promotion.*not better"):
        tracking.check_promotion({"decision": "keep", "reason": "not better"}, True)


def test_params_refuse_promotion_without_tracking(tmp_path):
    from nblib.engine.errors import ParamsError
    from nblib.factory.params import load_params

    with pytest.raises(ParamsError, match="evaluate.promote"):
        load_params(["params/smoke.yaml"], ["evaluate.promote=true", "tracking.enabled=false"])
    with pytest.raises(ParamsError, match="require_promotion"):
        load_params(["params/smoke.yaml"], ["evaluate.require_promotion=true"])


def test_a_challenger_that_lost_the_race_is_not_promoted_and_a_required_promotion_gates_it(tmp_path):
    """Another run took the champion while this one compared with the old one: no alias move; with
    ``evaluate.require_promotion`` the version is withdrawn and the run is gated."""

    class Client:
        def __init__(self):
            self.deleted, self.aliases = [], []

        def get_model_version_by_alias(self, name, alias):
            return type("Version", (), {"version": "3", "run_id": "r3"})()

        def delete_model_version(self, name, version):
            self.deleted.append((name, version))

        def set_registered_model_alias(self, *args):
            self.aliases.append(args)

    run, manifest, params = _run_folder(tmp_path)
    (run / "artifacts" / "promotion.json").write_text(
        json.dumps({"asked": True, "decision": "promote", "reason": "promote: ...", "champion": {"version": 2}})
    )
    for required in (False, True):
        session = tracking.Session(
            run, manifest, {**params, "evaluate": {"require_promotion": required}}, tracking.settings(params, tmp_path)
        )
        session.client = Client()
        session.record["model"] = {"name": "nblib-demo", "version": 4}
        out = session.promote()
        assert out["promoted"] is False and out["gated"] is required
        assert "champion changed (now version 3) while this run was being compared with version 2" in out["reason"]
        assert not session.client.aliases
        assert session.client.deleted == ([("nblib-demo", "4")] if required else [])
        assert ("model" in session.record) is not required


def test_the_first_registered_version_becomes_champion_unless_it_keeps_a_likely_leak(tmp_path):
    """Issue 14: ``models:/NAME@champion`` must resolve after the first run; later versions only by promotion,
    and a version built on a kept likely leak never (the next clean one is the first champion instead)."""
    from mlflow import MlflowClient

    run, manifest, params = _run_folder(tmp_path)
    conf = tracking.settings(params, tmp_path)
    client = MlflowClient(tracking_uri=conf["uri"], registry_uri=conf["uri"])
    name = "nblib-demo"
    client.create_registered_model(name)

    def register(leaks=None):
        (run / "artifacts" / "leaks.json").write_text(json.dumps({"policy": "warn", "suspects": leaks or []}))
        version = client.create_model_version(name, "file:///nowhere", tags={"nblib.model_sha256": "x"})
        session = tracking.Session(run, manifest, params, conf)
        session.client = client
        session.record["model"] = {"name": name, "version": int(version.version)}
        session._first_champion()
        return session.record

    leak = [{"columns": ["refund_total"], "confidence": "likely", "action": "kept"}]
    first = register(leaks=leak)  # version 1 keeps a likely leak: not champion
    assert "champion" not in first["model"]
    with pytest.raises(Exception, match="alias"):
        client.get_model_version_by_alias(name, tracking.CHAMPION)
    possible = [{"columns": ["x"], "confidence": "possible", "action": "kept"}]
    second = register(leaks=possible)  # version 2: the first clean one (a possible suspect is no bar)
    assert second["model"]["champion"] == "first"
    assert str(client.get_model_version_by_alias(name, tracking.CHAMPION).version) == "2"
    assert tracking.describe({**second, "run_id": "r" * 16}).endswith(
        "· model nblib-demo version 2 · @champion (the first version)"
    )
    third = register()  # version 3: only a promotion moves the champion now
    assert "champion" not in third["model"]
    assert str(client.get_model_version_by_alias(name, tracking.CHAMPION).version) == "2"
    client.delete_registered_model_alias(name, tracking.CHAMPION)  # removed on purpose: not set again by itself
    assert "champion" not in register()["model"]


def test_tags_metrics_and_requirements_read_the_chosen_model():
    """A stacking with an mlp member was saved: the MLflow records name it, its CV, and torch is required."""
    from nblib.tracking.records import _chosen
    from nblib.tracking.registry import _requirements
    from nblib.tracking.runs import run_metrics

    chosen = {
        "name": "stacking",
        "kind": "stacking",
        "label": "stacking of mlp, lr",
        "cv_mean": 0.83,
        "cv_std": 0.01,
        "members": ["mlp", "lr"],
    }
    metrics = {
        "best_model": "stacking",
        "chosen": chosen,
        "test": {"roc_auc": 0.8},
        "cv": {"mlp": {"mean": 0.8, "std": 0.02}},
    }
    cv = {"best_model": "stacking", "best_single": "mlp", "models": {"mlp": {"mean": 0.8, "std": 0.02}}}
    assert _chosen(metrics, cv)["name"] == "stacking" and _chosen(metrics, cv)["members"] == ["mlp", "lr"]
    logged = {key: value for key, value, _ in run_metrics({}, metrics, cv)}
    assert logged["cv.best.mean"] == 0.83 and logged["cv.best.std"] == 0.01
    names = [line.split("==")[0] for line in _requirements(metrics)]
    assert "torch" in names or "skorch" in names or not _installed("torch")
    old = _chosen({"best_model": "mlp"}, cv)  # a run from before the record: the family and its CV
    assert (old["name"], old["kind"], old["cv_mean"]) == ("mlp", "single", 0.8)


def _installed(name):
    from importlib.util import find_spec

    return find_spec(name) is not None


# ----------------------------------------------------------------------------- requirements (issue 15, bug 4)

_NN = ("torch", "skorch")
needs_nn = pytest.mark.skipif(not all(map(_installed, _NN)), reason="the nn extra (torch, skorch) is not installed")


def _names(lines):
    return {line.split("==")[0] for line in lines}


def _saved(tmp_path, estimator):
    import skops.io as sio

    path = tmp_path / "model.skops"
    sio.dump(estimator, path)
    return path


def _ensembles():
    from imblearn.over_sampling import RandomOverSampler
    from imblearn.pipeline import Pipeline
    from sklearn.ensemble import RandomForestClassifier, StackingClassifier, VotingClassifier
    from sklearn.linear_model import LogisticRegression

    from nblib.ml.training.nn import MLPClassifier

    voting = VotingClassifier([("mlp", MLPClassifier()), ("logistic_regression", LogisticRegression())], voting="soft")
    stacking = StackingClassifier(
        [("mlp", MLPClassifier()), ("random_forest", RandomForestClassifier())], final_estimator=LogisticRegression()
    )
    return {"voting": Pipeline([("sampler", RandomOverSampler()), ("model", voting)]), "stacking": stacking}


@needs_nn
@pytest.mark.parametrize("kind", ["voting", "stacking"])
def test_an_ensemble_with_an_mlp_member_requires_torch_and_skorch(tmp_path, kind):
    """Bug 4. By the chosen record (passed before this change: the record names the members), and by the
    model file itself, whatever the record says (an older ``metrics.json`` without ``chosen``)."""
    from nblib.tracking.registry import _requirements

    chosen = {"name": kind, "kind": kind, "members": ["mlp", "logistic_regression"]}
    assert set(_NN) <= _names(_requirements({"chosen": chosen}))
    model = _saved(tmp_path, _ensembles()[kind])
    assert set(_NN) <= _names(_requirements({"best_model": "logistic_regression"}, model))
    assert {"scikit-learn", "imbalanced-learn", "skops", "mlflow"} <= _names(_requirements({}, model))


@needs_nn
def test_a_model_saved_before_the_house_move_requires_torch_by_its_old_class_paths():
    from pathlib import Path

    from nblib.tracking.registry import _requirements

    old = Path(__file__).parent / "data" / "model_before_house.skops"  # names nblib.ml.nn.MLPClassifier
    assert set(_NN) <= _names(_requirements({}, old))


def test_the_class_paths_read_from_a_model_file_are_those_skops_names(tmp_path):
    """Requirements read the file's ``schema.json`` (no skops, scikit-learn or torch import when logging):
    every type skops itself would ask to trust is among them."""
    import skops.io as sio

    from nblib.tracking.registry import _model_types

    for kind, model in _ensembles().items():
        (tmp_path / kind).mkdir()
        path = _saved(tmp_path / kind, model)
        named = _model_types(path)
        assert set(sio.get_untrusted_types(file=path)) <= named
        assert {"nblib.ml.training.nn.MLPClassifier", f"sklearn.ensemble._{kind}.{kind.title()}Classifier"} <= named


def test_a_plain_logistic_model_requires_neither_torch_nor_skorch(tmp_path):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    from nblib.tracking.registry import _requirements

    model = _saved(tmp_path, Pipeline([("model", LogisticRegression())]))
    names = _names(_requirements({"chosen": {"name": "logistic_regression", "kind": "single"}}, model))
    assert not names & set(_NN)
    assert {"mlflow", "scikit-learn", "skops", "pandas", "numpy"} <= names
    assert "imbalanced-learn" in names  # every pipeline may be an imblearn one: always listed, as before


def test_an_unreadable_model_file_leaves_the_requirements_to_the_record(tmp_path):
    from nblib.tracking.registry import _requirements

    broken = tmp_path / "model.skops"
    broken.write_bytes(b"not a zip")
    assert _requirements({}, broken) == _requirements({})


# ----------------------------------------------------------------------------- the package and its helper process


def test_the_package_re_exports_what_notebooks_factory_cli_and_tests_call():
    used = [
        "check_promotion",
        "challenge",
        "champion_key",
        "settings",
        "prestart",
        "open_store",
        "stop_helper",
        "finish",
        "log",
        "describe",
        "shown_uri",
        "TrackingError",
        "Session",
        "decide",
        "CHAMPION",
    ]
    assert set(used) <= set(tracking.__all__)
    for name in tracking.__all__:
        defined = getattr(tracking, name)
        assert getattr(defined, "__module__", "nblib.tracking.x") != "nblib.tracking", f"{name} is defined in __init__"


def test_the_helper_process_starts_and_serves_the_requests_the_modules_registered():
    """``python -m nblib.tracking`` is the helper :func:`prestart` starts; after the move into a package it
    had no ``__main__`` and died at once (every run logged in its own process, MLflow's import on the
    critical path)."""
    from nblib.tracking.session import _OPS, _Helper

    assert set(_OPS) == {"open", "log", "finish", "champion_key"}
    helper = _Helper()
    try:
        assert helper.call("finish", run_dir="/no/such/run", status="failed") is None  # nothing held: nothing to do
        with pytest.raises(tracking.TrackingError, match="unknown request 'nonsense'"):
            helper.call("nonsense")
        assert helper.alive()
    finally:
        helper.close()
