import numpy as np
import pandas as pd
import pytest

from nblib.ml.evaluation.metrics import (
    bootstrap_intervals,
    classification_metrics,
    evaluation_report,
    metrics_table,
    regression_metrics,
)


def test_classification_metrics_known_values():
    y = np.array([0, 0, 1, 1])
    m = classification_metrics(y, [0.1, 0.4, 0.35, 0.8])
    assert m["roc_auc"] == pytest.approx(0.75)
    assert m["f1"] == pytest.approx(2 / 3)
    assert m["balanced_accuracy"] == pytest.approx(0.75)


def test_regression_metrics_known_values():
    m = regression_metrics([1.0, 2.0, 3.0], [1.0, 2.0, 5.0])
    assert m["mae"] == pytest.approx(2 / 3)
    assert m["rmse"] == pytest.approx(np.sqrt(4 / 3))


def test_bootstrap_interval_contains_point_and_is_seeded():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    s = (y * 0.5 + rng.random(400)) / 1.5
    ci = bootstrap_intervals(y, s, "classification", n_boot=200, random_state=1)
    point = classification_metrics(y, s)["roc_auc"]
    assert ci["roc_auc"][0] < point < ci["roc_auc"][1]
    assert ci == bootstrap_intervals(y, s, "classification", n_boot=200, random_state=1, n_jobs=2)
    assert bootstrap_intervals(y, s, "classification", n_boot=0) == {}


def test_report_has_design_keys_and_oracle():
    rng = np.random.default_rng(1)
    truth = rng.random(500)
    y = pd.Series((rng.random(500) < truth).astype(int))
    scores = np.clip(truth + rng.normal(0, 0.5, 500), 0, 1)
    cv = {"scoring": "roc_auc", "models": {"m": {"mean": 0.7, "std": 0.01}}}
    report = evaluation_report(
        y, scores, task="classification", best_model="m", cv=cv, oracle_proba=pd.Series(truth), n_boot=50
    )
    for key in ("task", "primary_metric", "test", "cv", "best_model"):
        assert key in report
    assert report["oracle"]["roc_auc"] > report["test"]["roc_auc"]
    assert report["warnings"] and "oracle" in report["warnings"][0]
    assert np.array(report["confusion_matrix"]).sum() == 500
    table = metrics_table(report)
    assert {"test", "ci_low", "ci_high", "oracle"} <= set(table.columns)


def test_regression_report_without_oracle():
    report = evaluation_report(
        pd.Series([1.0, 2.0, 3.0, 4.0]),
        np.array([1.0, 2.5, 2.5, 4.0]),
        task="regression",
        best_model="ridge",
        cv={"scoring": "neg_root_mean_squared_error", "models": {"ridge": {"mean": -0.5, "std": 0.1}}},
        n_boot=20,
    )
    assert report["primary_metric"] == "rmse" and "oracle" not in report
    assert report["cv_vs_test"]["cv"] == 0.5


def test_gates():
    from nblib.ml.evaluation.metrics import GateFailed, check_gates

    check_gates({"roc_auc": 0.9, "rmse": 1.0}, {"roc_auc": 0.85, "rmse": 2.0})
    with pytest.raises(GateFailed, match="test roc_auc 0.8000 < gate 0.8500"):
        check_gates({"roc_auc": 0.8}, {"roc_auc": 0.85})
    with pytest.raises(GateFailed, match="brier"):
        check_gates({"brier": 0.2}, {"brier": 0.1})


def test_cv_vs_test_only_for_the_same_metric():
    report = evaluation_report(
        pd.Series([0, 1] * 20),
        np.linspace(0, 1, 40),
        task="classification",
        best_model="m",
        cv={"scoring": "f1", "models": {"m": {"mean": 0.5, "std": 0}}},
        n_boot=0,
    )
    assert "cv_vs_test" not in report


def test_multiclass_metrics_and_report():
    from nblib.ml.evaluation.metrics import per_class_metrics, predictions_frame

    rng = np.random.default_rng(0)
    y = pd.Series(rng.integers(0, 3, 300))
    proba = rng.dirichlet([1, 1, 1], 300)
    proba[np.arange(300), y] += 1.0
    proba /= proba.sum(axis=1, keepdims=True)
    m = classification_metrics(y, proba)
    assert set(m) == {"roc_auc", "pr_auc", "f1", "balanced_accuracy", "brier"} and m["roc_auc"] > 0.8
    report = evaluation_report(
        y, proba, task="classification", best_model="m", cv={}, classes=["a", "b", "c"], n_boot=20
    )
    assert np.array(report["confusion_matrix"]).shape == (3, 3) and "threshold" not in report
    assert report["classes"] == ["a", "b", "c"] and report["test_ci"]["roc_auc"][0] < m["roc_auc"]
    table = per_class_metrics(y, proba, ["a", "b", "c"])
    assert list(table.index) == ["a", "b", "c"] and table["support"].sum() == 300
    frame = predictions_frame(pd.DataFrame({"t": y}), "t", proba, ["a", "b", "c"])
    assert list(frame.columns) == ["t", "proba_a", "proba_b", "proba_c"] and set(frame["t"]) == {"a", "b", "c"}


def test_cv_vs_test_says_when_the_gap_is_beyond_noise():
    from nblib.ml.evaluation.metrics import cv_vs_test

    near = cv_vs_test(0.85, 0.01, 5, 0.86, (0.84, 0.88), "roc_auc")
    assert not near["far"] and "within noise" in near["explanation"]
    far = cv_vs_test(0.80, 0.005, 5, 0.86, (0.85, 0.87), "roc_auc", {"test": 0.90, "train": 0.87})
    assert far["far"] and "better than the CV mean" in far["explanation"]
    assert "easier by 0.0300" in far["explanation"] and "50% of the gap" in far["explanation"]
    worse = cv_vs_test(3.0, 0.05, 5, 3.5, (3.4, 3.6), "rmse")
    assert worse["far"] and "worse than the CV mean" in worse["explanation"]


def test_the_report_names_the_chosen_ensemble_and_checks_its_own_cv():
    """An ensemble was saved: metrics.json names it and compares the test score with its CV, not the best single's."""
    rng = np.random.default_rng(2)
    y = pd.Series(rng.integers(0, 2, 400))
    scores = np.clip(y * 0.3 + rng.random(400) * 0.7, 0, 1)
    chosen = {
        "name": "voting",
        "kind": "voting",
        "label": "voting of m, n",
        "cv_mean": 0.91,
        "cv_std": 0.004,
        "cv_scores": [0.907, 0.913],
        "members": ["m", "n"],
        "searched": False,
        "cv_note": "2-fold CV on the same folds as the families",
        "scoring": "roc_auc",
        "folds": 2,
    }
    cv = {
        "scoring": "roc_auc",
        "folds": 2,
        "best_model": "voting",
        "best_single": "m",
        "chosen": chosen,
        "models": {"m": {"mean": 0.60, "std": 0.004}, "n": {"mean": 0.58, "std": 0.01}},
    }
    report = evaluation_report(y, scores, task="classification", best_model="m", cv=cv, n_boot=30)
    assert report["best_model"] == "voting" and report["chosen"] == chosen
    assert report["cv_vs_test"]["cv"] == 0.91 and report["cv_vs_test"]["model"] == "voting"
    assert report["cv_vs_test"]["cv_note"] == chosen["cv_note"]
    assert set(report["cv"]) == {"m", "n"}  # the per-family table stays as it was


def test_the_conclusion_names_the_chosen_ensemble_and_which_cv():
    from nblib.ml.evaluation.explain import conclusion

    chosen = {
        "name": "voting",
        "kind": "voting",
        "label": "voting of m, n",
        "cv_mean": 0.91,
        "cv_std": 0.004,
        "cv_note": "2-fold CV on the same folds as the families",
        "scoring": "roc_auc",
    }
    text = conclusion(
        {"best_model": "voting", "chosen": chosen, "primary_metric": "roc_auc", "test": {"roc_auc": 0.9}, "n_test": 10}
    )
    assert "**Model:** voting of m, n, chosen by cross-validation (roc\\_auc 0.9100 ± 0.0040; 2-fold CV" in text
