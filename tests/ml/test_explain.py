"""nblib.ml.evaluation.explain on a small fitted pipeline with numeric, categorical, boolean, text and date columns."""

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from nblib.ml.data.datasets import make_product_launches
from nblib.ml.evaluation import explain, plots

NUMERIC = ["price", "marketing_budget", "n_competitors", "rating_preview"]


def _month(frame):
    return frame.apply(lambda c: pd.to_datetime(c, errors="coerce", format="mixed").dt.month.fillna(0)).to_numpy()


@pytest.fixture(scope="module")
def fitted():
    frame = make_product_launches(600, random_state=1).frame
    X = frame[NUMERIC + ["category", "description", "release_date"]].copy()
    X["category"] = X["category"].astype(str)
    X["description"] = X["description"].fillna("").astype(str)
    y = frame["is_hit"].astype(int)
    pre = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), NUMERIC),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["category"]),
            ("txt", TfidfVectorizer(max_features=100), "description"),
            ("date", FunctionTransformer(_month), ["release_date"]),
        ]
    )
    model = make_pipeline(pre, LogisticRegression(max_iter=500)).fit(X.iloc[:400], y.iloc[:400])
    return model, X.iloc[400:], y.iloc[400:]


def test_importance_permutes_raw_columns_and_is_seeded(fitted):
    model, X, y = fitted
    imp = explain.grouped_permutation_importance(model, X, y, scoring="roc_auc", n_repeats=3, random_state=0)
    assert set(imp.index) == set(X.columns)  # one row per raw column, text and date included
    assert list(imp["mean"]) == sorted(imp["mean"], reverse=True)
    assert imp.attrs["n_rows"] == len(X) and imp.attrs["n_repeats"] == 3
    again = explain.grouped_permutation_importance(model, X, y, scoring="roc_auc", n_repeats=3, random_state=0)
    pd.testing.assert_frame_equal(imp, again)
    assert explain.grouped_permutation_importance(model, X, y, scoring="roc_auc", n_repeats=0).empty
    assert isinstance(plots.importance_bars(imp), Figure)


def test_partial_dependence_skips_non_numeric_and_respects_limit(fitted):
    model, X, _ = fitted
    curves = explain.partial_dependence_curves(
        model, X, ["category", "description", "price", "n_competitors", "rating_preview"], limit=2
    )
    assert [c["column"] for c in curves] == ["price", "n_competitors"]  # integer column converted, not refused
    assert all(len(c["grid"]) == len(c["average"][0]) >= 2 for c in curves)
    assert isinstance(plots.partial_dependence_grid(curves), Figure)


def test_segments_top_values_other_and_quartiles():
    cat = pd.Series(list("aaabbc") + [None])
    assert explain.segments(cat, top=2).tolist() == ["a", "a", "a", "b", "b", "other", "missing"]
    num = pd.Series(np.arange(100, dtype=float))
    assert explain.segments(num).nunique() == 4


def test_slice_metrics_intervals_and_notes(fitted):
    model, X, y = fitted
    proba = model.predict_proba(X)[:, 1]
    labels = pd.Series(np.where(np.arange(len(y)) < 150, "big", "small"))
    labels[(y.to_numpy() == 0) & (np.arange(len(y)) >= 150)] = "negatives <script>|"
    table = explain.slice_metrics(y, proba, labels, task="classification", column="grp", n_boot=30, min_rows=20)
    big = table.set_index("segment").loc["big"]
    assert big["n"] == 150 and big["roc_auc_low"] <= big["roc_auc"] <= big["roc_auc_high"]
    assert set(table["note"]) - {""}, "a small or one-class segment says why it has no number"
    assert table.loc[table["note"] != "", "roc_auc"].isna().all()
    fig = plots.slice_metric_plot(table, "roc_auc")
    assert isinstance(fig, Figure)


def test_slice_tables_one_per_column_the_frame_holds(fitted):
    model, X, y = fitted
    proba = model.predict_proba(X)[:, 1]
    tables = explain.slice_tables(
        X, y, proba, ["category", "absent", "price"], task="classification", n_boot=20, random_state=3
    )
    assert [t["slice"].iloc[0] for t in tables] == ["category", "price"]
    direct = explain.slice_metrics(
        y, proba, explain.segments(X["price"]), task="classification", column="price", n_boot=20, random_state=3
    )
    pd.testing.assert_frame_equal(tables[1], direct)


def test_lift_table_and_gain_curve():
    y = np.r_[np.ones(10), np.zeros(90)]
    perfect = explain.lift_table(y, np.linspace(1, 0, 100))
    assert perfect["share_positives"].iloc[0] == 1 and perfect["lift"].iloc[0] == pytest.approx(10)
    assert perfect["share_rows"].iloc[-1] == 1 and perfect["lift"].iloc[-1] == 1
    assert isinstance(plots.gain_curve(perfect), Figure)


def test_record_is_json_ready_and_conclusion_escapes(fitted):
    import json

    model, X, y = fitted
    imp = explain.grouped_permutation_importance(model, X, y, scoring="roc_auc", n_repeats=1)
    imp.index = ["<script>x</script>|a"] + list(imp.index[1:])
    slices = explain.slice_metrics(
        y,
        model.predict_proba(X)[:, 1],
        explain.segments(X["category"]),
        task="classification",
        column="category",
        n_boot=10,
    )
    record = explain.explain_record(imp, [], [slices], explain.lift_table(y, model.predict_proba(X)[:, 1]))
    json.dumps(record, allow_nan=False)
    metrics = {
        "primary_metric": "roc_auc",
        "best_model": "m",
        "test": {"roc_auc": 0.8},
        "n_test": 200,
        "test_ci": {"roc_auc": [0.75, 0.85]},
        "threshold": 0.3,
        "threshold_by": "f1",
    }
    text = explain.conclusion(metrics, imp, explain.gate_outcome(metrics["test"], {"roc_auc": 0.9}))
    assert "<script>" not in text and "&lt;script&gt;" in text and "\\|" in text
    assert "0.7500–0.8500" in text and "FAILED" in text and "0.300" in text


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_slice_intervals_match_evaluate_bootstrap(task):
    from nblib.ml.evaluation.metrics import bootstrap_intervals

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300) if task == "classification" else rng.normal(size=300)
    s = np.clip(y * 0.3 + rng.random(300) * 0.7, 0, 1)
    names = explain.SLICE_METRICS[task]
    fast = explain._slice_intervals(y, s, task, names, 120, 0.9, 0.4, 3)
    slow = bootstrap_intervals(y, s, task, n_boot=120, confidence=0.9, threshold=0.4, random_state=3)
    for name in names:
        assert fast[name] == pytest.approx(slow[name], abs=1e-12)
