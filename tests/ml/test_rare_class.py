"""A rare class (11 rows, 2 in the test split) must not crash any metric, importance, slice,
bootstrap or paired test when a sample or a resample has none of its rows.

The table is real: scikit-learn's wine data (three cultivars), with one cultivar cut to 11 rows,
as the wildlife-strike table of issue 14 had one species with 11 rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from nblib.ml.evaluation import compare, explain
from nblib.ml.evaluation import metrics as evaluate

RARE = 2


@pytest.fixture(scope="module")
def wine():
    """``(model, X_test, y_test, proba)``: a model fit on the training split, scores of the test split."""
    frame = load_wine(as_frame=True).frame
    rng = np.random.default_rng(0)
    rare = rng.choice(frame.index[frame["target"] == RARE], 11, replace=False)
    frame = frame.loc[sorted(frame.index[frame["target"] != RARE].tolist() + rare.tolist())]
    X, y = frame.drop(columns="target"), frame["target"]
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, stratify=y, random_state=0)
    assert (y_test == RARE).sum() == 2
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.05, max_iter=500)).fit(X_train, y_train)
    return model, X_test, y_test, model.predict_proba(X_test)


def _without_rare(X, y, proba=None):
    keep = (y != RARE).to_numpy()
    return (X[keep], y[keep]) if proba is None else (X[keep], y[keep], proba[keep])


def test_importance_on_rows_without_the_rare_class(wine):
    model, X_test, y_test, _ = wine
    X, y = _without_rare(X_test, y_test)
    importance = explain.grouped_permutation_importance(
        model, X, y, scoring=explain.scoring_for("classification", 3), n_repeats=2
    )
    assert len(importance) == X.shape[1] and np.isfinite(importance["mean"]).all()
    assert importance.attrs["scoring"] == "roc_auc_ovr"
    # the same score as the headline metric on the same rows
    from sklearn.inspection import permutation_importance

    direct = permutation_importance(
        model, X, y.to_numpy(), scoring=explain._present_classes_auc, n_repeats=2, random_state=0
    )
    assert np.allclose(sorted(direct.importances_mean, reverse=True)[:5], importance["mean"].head(5))
    assert explain._present_classes_auc(model, X, y) == evaluate.ovr_roc_auc(y, model.predict_proba(X))


def test_a_stratified_sample_keeps_every_class_in_proportion(wine):
    _, X_test, y_test, _ = wine
    for seed in range(20):  # a plain sample of 10 of these 29 rows drops the 2 rare rows about a third of the time
        X, y = explain.sample_rows(X_test, y_test, 10, seed, stratify=True)
        assert len(X) == 10 and (y == RARE).sum() == 1 and X.index.equals(y.index)
        assert abs((y == 0).sum() - 10 * (y_test == 0).mean()) <= 1
    many = pd.Series(np.arange(5000) % 7)
    X, y = explain.sample_rows(pd.DataFrame({"x": range(5000)}), many, 2000, 3, stratify=True)
    assert len(X) == 2000 and y.value_counts().between(285, 286).all() and X.index.is_monotonic_increasing
    tiny = pd.Series([0] * 50 + [1, 2, 3])
    assert set(explain.sample_rows(pd.DataFrame({"x": range(53)}), tiny, 4, 0, stratify=True)[1]) == {0, 1, 2, 3}


def test_metrics_and_report_on_a_test_split_without_the_rare_class(wine):
    _, X_test, y_test, proba = wine
    _, y, p = _without_rare(X_test, y_test, proba)
    metrics = evaluate.classification_metrics(y, p)
    assert 0.5 < metrics["roc_auc"] <= 1 and np.isfinite(list(metrics.values())).all()
    report = evaluate.evaluation_report(
        y, p, task="classification", best_model="lr", cv={}, classes=["a", "b", "rare"], n_boot=30
    )
    assert set(report["test_ci"]) == set(metrics)
    assert any("'rare' has no row in the test split" in w for w in report["warnings"])
    assert np.array(report["confusion_matrix"]).shape == (3, 3)
    table = evaluate.per_class_metrics(y, p, ["a", "b", "rare"])
    assert table.loc["rare", "support"] == 0 and np.isnan(table.loc["rare", "roc_auc_ovr"])
    with pytest.raises(ValueError, match="one class only"):
        evaluate.ovr_roc_auc([0, 0], p[:2])


def test_bootstrap_with_two_rare_rows_is_finite(wine):
    _, _, y_test, proba = wine
    report = evaluate.evaluation_report(
        y_test, proba, task="classification", best_model="lr", cv={}, classes=["a", "b", "rare"], n_boot=100
    )
    assert not report["warnings"]
    for name, (low, high) in report["test_ci"].items():
        assert low <= report["test"][name] + 1e-9 or name == "brier", name
        assert np.isfinite([low, high]).all()


def test_slices_where_a_segment_lacks_the_rare_class(wine):
    _, X_test, y_test, proba = wine
    segments = pd.Series(np.where(X_test["alcohol"].to_numpy() > X_test["alcohol"].median(), "high", "low"))
    table = explain.slice_metrics(
        y_test, proba, segments, task="classification", column="alcohol", n_boot=30, min_rows=5
    )
    assert len(table) == 2 and table["roc_auc"].notna().all() and (table["note"] == "").all()


def test_paired_tests_when_the_test_split_lacks_a_class(wine):
    _, X_test, y_test, proba = wine
    _, y, p = _without_rare(X_test, y_test, proba)
    names = ["a", "b", "rare"]
    truth = np.asarray(names, dtype=object)[y.to_numpy()]
    frames = [
        pd.DataFrame({"cultivar": truth, **{f"proba_{c}": q[:, j] for j, c in enumerate(names)}}, index=y.index)
        for q in (p, np.roll(p, 1, axis=1) * 0.5 + p * 0.5)
    ]
    record = {"task": "classification"}
    out = compare.paired_comparison(frames[0], frames[1], record, record, n=50)
    assert out["paired"], out["note"]
    assert out["tests"]["roc_auc"]["diff"] == pytest.approx(
        evaluate.ovr_roc_auc(y, frames[1].iloc[:, 1:].to_numpy()) - evaluate.ovr_roc_auc(y, p)
    )
    assert set(out["tests"]) == {"roc_auc", "f1", "balanced_accuracy"}
