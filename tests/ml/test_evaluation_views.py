"""What 05_evaluate (and 03_features) show: figure dicts in plots, the choices in explain and
evaluation.views. Each function leaves out what does not apply, so the notebooks never branch."""

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from sklearn.compose import ColumnTransformer

from nblib.ml import features
from nblib.ml.data.preprocess import ColumnRoles
from nblib.ml.evaluation import explain, plots, views


@pytest.fixture(scope="module")
def binary():
    rng = np.random.default_rng(0)
    y = pd.Series(rng.integers(0, 2, 200))
    return y, np.clip(0.3 * y + rng.uniform(0, 0.7, 200), 0, 1)


def test_evaluation_figures_of_two_classes(binary):
    y, proba = binary
    figures = plots.evaluation_figures(
        "classification",
        y,
        proba,
        classes=["no", "yes"],
        oracle_proba=proba,
        confusion=[[80, 20], [30, 70]],
        threshold=0.4,
    )
    assert list(figures) == ["roc", "confusion_matrix", "pr", "calibration"]
    assert figures["confusion_matrix"].axes[0].get_title() == "Confusion matrix (threshold 0.400)"
    assert len(figures["roc"].axes[0].get_lines()) == 3  # model, oracle, diagonal


def test_evaluation_figures_of_three_classes_and_of_regression():
    rng = np.random.default_rng(1)
    y = np.repeat([0, 1, 2], 30)
    proba = rng.dirichlet([1, 1, 1], size=90)
    multi = plots.evaluation_figures(
        "classification", y, proba, classes=["a", "b", "c"], confusion=np.eye(3, dtype=int) * 30
    )
    assert list(multi) == ["roc", "confusion_matrix"]
    reg = plots.evaluation_figures("regression", rng.normal(size=50), rng.normal(size=50))
    assert list(reg) == ["predicted_vs_actual", "residuals"]


def test_term_figures_one_per_text_column_and_none_without_a_positive_class():
    train = pd.DataFrame(
        {"x": range(40), "t": ["great fun toy"] * 20 + ["dull grey box"] * 20, "u": ["red"] * 10 + ["blue"] * 30}
    )
    y = pd.Series([1] * 20 + [0] * 20)
    transformer = features.make_feature_transformer(
        ColumnTransformer([("num", "passthrough", ["x"])]),
        ColumnRoles(numeric=["x"], text=["t", "u"]),
        text=features.make_text_vectorizer(min_df=1),
    )
    fitted, Xt = features.fit_describe(transformer, train, y)
    figures = plots.term_figures(fitted, Xt, y, ["t", "u"], positive_class=1)
    assert list(figures) == ["terms_t", "terms_u"]
    assert figures["terms_t"].axes[0].get_title() == "Terms of t by class (training data)"
    assert plots.term_figures(fitted, Xt, y, ["t", "u"], positive_class=None) == {}


def test_target_rate_figures_each_date_and_the_first_categories():
    frame = pd.DataFrame(
        {"d": pd.date_range("2024-01-01", periods=60, freq="W"), **{c: list("xyz") * 20 for c in "abcd"}}
    )
    rate = pd.Series(np.tile([0.0, 1.0], 30), name="hit")
    figures = plots.target_rate_figures(frame, rate, dates=["d"], categories=["a", "b", "c", "d"])
    assert list(figures) == ["by_month_d", "by_a", "by_b", "by_c"]
    assert list(plots.target_rate_figures(frame, rate, categories=["a", "b"], max_categories=1)) == ["by_a"]


def test_slice_figures_name_each_slice_and_show_the_primary_metric(binary):
    y, proba = binary
    frame = pd.DataFrame({"region": np.where(np.arange(200) % 2, "north", "south")})
    slices = explain.slice_tables(frame, y, proba, ["region", "absent"], task="classification", n_boot=10)
    figures = plots.slice_figures(slices, "classification")
    assert list(figures) == ["slice_region"]
    assert figures["slice_region"].axes[0].get_title() == "roc_auc by region"
    assert plots.slice_figures([], "classification") == {}


def test_partial_dependence_and_gain_figures_only_when_there_is_something(binary):
    y, proba = binary
    curve = {"column": "x", "grid": [0.0, 1.0], "average": [[0.2, 0.4]], "outputs": ["prediction"]}
    assert list(plots.partial_dependence_figures([curve])) == ["partial_dependence"]
    assert plots.partial_dependence_figures([]) == {}
    assert isinstance(plots.gain_figures(explain.lift_table(y, proba))["gain"], Figure)
    assert plots.gain_figures(None) == {}


def test_importance_sample_is_stratified_for_classification_only():
    X = pd.DataFrame({"x": range(1000)})
    y = pd.Series([1] * 3 + [0] * 997)
    _, kept = explain.importance_sample(X, y, "classification", random_state=0, max_rows=50)
    assert len(kept) == 50 and kept.sum() >= 1
    Xr, yr = explain.importance_sample(X, y.astype(float), "regression", random_state=0, max_rows=50)
    assert len(Xr) == 50
    small, _ = explain.importance_sample(X.head(10), y.head(10), "classification")
    assert len(small) == 10


def test_task_scoring_follows_task_and_classes():
    assert explain.task_scoring("classification", [0, 1]) == "roc_auc"
    assert explain.task_scoring("classification", ["a", "b", "c"]) == "roc_auc_ovr"
    assert explain.task_scoring("regression", None) == "neg_root_mean_squared_error"


def test_columns_by_importance_ranks_then_keeps_the_rest_in_order():
    importance = pd.DataFrame({"mean": [0.3, 0.1]}, index=pd.Index(["price", "text"], name="column"))
    assert explain.columns_by_importance(importance, ["date", "text", "brand", "price"]) == [
        "price",
        "text",
        "date",
        "brand",
    ]
    assert explain.columns_by_importance(importance.iloc[:0], ["a", "b"]) == ["a", "b"]


def test_notes_thresholds_frames_and_lift_choices(binary):
    y, proba = binary
    assert explain.partial_dependence_note([{}, {}]) == "2 numeric column(s) shown"
    assert explain.decision_threshold({"threshold": 0.31}) == 0.31
    assert explain.decision_threshold({}) == 0.5
    assert explain.slices_note([]).startswith("no slices: set evaluate.slices")
    assert explain.slices_note(["region"]) is None
    tables = [pd.DataFrame({"slice": ["a"], "n": [1]}), pd.DataFrame({"slice": ["b"], "n": [2]})]
    assert explain.slices_frame(tables)["slice"].tolist() == ["a", "b"]
    assert explain.slices_frame([]) is None
    assert len(explain.lift_for("classification", [0, 1], y, proba)) == 10
    assert explain.lift_for("classification", ["a", "b", "c"], y, proba) is None
    assert explain.lift_for("regression", None, y, proba) is None


def test_oracle_parts_follow_the_rows():
    oracle = pd.DataFrame({"true_proba": [0.1, 0.2, 0.3, 0.4]}, index=[10, 11, 12, 13])
    train_y = pd.Series([0, 1], index=[13, 10])
    test, (y, train) = views.oracle_parts(oracle, pd.Index([12, 11]), train_y)
    assert test.tolist() == [0.3, 0.2] and train.tolist() == [0.4, 0.1] and y is train_y
    assert views.oracle_parts(None, pd.Index([12]), train_y) == (None, None)


def test_chosen_threshold_prefers_the_trained_choice():
    chosen = {"threshold": 0.27, "by": "cost", "at_threshold": {"f1": 0.5}}
    assert views.chosen_threshold({"threshold": chosen}, 0.5) is chosen
    assert views.chosen_threshold({"threshold": None}, 0.6) == {"threshold": 0.6, "by": "fixed"}
    assert views.chosen_threshold({}, None) == {"threshold": None, "by": "fixed"}


def test_per_class_table_only_for_three_or_more_classes(binary):
    y, proba = binary
    rng = np.random.default_rng(2)
    y3 = np.repeat([0, 1, 2], 20)
    table = views.per_class_table(y3, rng.dirichlet([1, 1, 1], size=60), "classification", ["a", "b", "c"])
    assert len(table) == 3
    assert views.per_class_table(y, proba, "classification", [0, 1]) is None
    assert views.per_class_table(y, proba, "regression", None) is None


def test_report_lines_warn_then_compare_cv_with_test():
    report = {"warnings": ["only 12 positives", "oracle missing"], "cv_vs_test": {"explanation": "within noise"}}
    assert views.report_lines(report) == ["WARNING: only 12 positives", "WARNING: oracle missing", "within noise"]
    assert views.report_lines({"warnings": []}) == []
