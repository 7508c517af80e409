"""What 04_train shows of a training result (nblib.ml.training.views): names, tables, lines."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from nblib.ml.training import views
from nblib.ml.training.curves import iteration_curves, learning_curve_frame
from nblib.ml.training.search import SearchResult
from nblib.ml.training.threshold import choose_threshold


def _search(family: str, means: list[float]) -> SearchResult:
    n = len(means)
    trials = pd.DataFrame(
        {
            "trial": range(n),
            "C": np.logspace(-2, 1, n),
            "mean": means,
            "std": [0.01] * n,
            "fit_seconds": [0.1] * n,
            "elapsed_s": np.arange(1, n + 1) * 0.1,
            "state": ["complete"] * n,
        }
    )
    best = int(np.argmax(means))
    return SearchResult(family, "random", {"C": float(trials["C"][best])}, means[best], 0.01, trials, scoring="roc_auc")


def test_search_figures_name_each_family_then_the_time_plot():
    searches = {
        "logistic_regression": _search("logistic_regression", [0.7, 0.8, 0.75, 0.6]),
        "random_forest": _search("random_forest", [0.65, 0.7, 0.9, 0.8]),
    }
    figures = views.search_figures(searches)
    assert list(figures) == [
        "search_history_logistic_regression",
        "search_importance_logistic_regression",
        "search_history_random_forest",
        "search_importance_random_forest",
        "search_score_vs_time",
    ]
    assert all(isinstance(f, Figure) for f in figures.values())
    assert views.search_figures({}) == {}


def test_search_tables_are_the_best_trials_of_each_search():
    searches = {"a": _search("a", [0.7, 0.8, 0.75, 0.6]), "b": _search("b", [0.65, 0.9])}
    tables = views.search_tables(searches, rows=3)
    assert [len(t) for t in tables] == [3, 2]
    assert tables[0]["mean"].iloc[0] == 0.8 and tables[1]["mean"].iloc[0] == 0.9  # best first
    assert views.search_tables({}) == []


def test_comparison_tables_hold_only_what_was_tried():
    ensemble_table, imbalance = pd.DataFrame({"candidate": ["voting"]}), pd.DataFrame({"strategy": ["smote"]})
    ensemble = SimpleNamespace(shown_table=lambda: ensemble_table)
    assert views.comparison_tables(None, None) == []
    assert views.comparison_tables(ensemble, None) == [ensemble_table]
    assert views.comparison_tables(None, imbalance) == [imbalance]
    assert views.comparison_tables(ensemble, imbalance) == [ensemble_table, imbalance]


def test_threshold_figure_and_line_only_with_a_choice():
    choice = choose_threshold([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    assert list(views.threshold_figures(choice)) == ["threshold"]
    (line,) = views.threshold_lines(choice)
    assert line.startswith("threshold 0.225 (f1, on out-of-fold training predictions)")
    assert views.threshold_figures(None) == {} and views.threshold_lines(None) == []


@pytest.fixture(scope="module")
def small():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(120, 3)), columns=["a", "b", "c"])
    return X, pd.Series((X["a"] + rng.normal(size=120) > 0).astype(int))


def test_curve_figures_show_the_curves_that_were_computed(small):
    X, y = small
    boost = HistGradientBoostingClassifier(max_iter=10, early_stopping=True, random_state=0)
    curves = iteration_curves(boost.fit(X, y))
    learning = learning_curve_frame(
        LogisticRegression(), X, y, cv=StratifiedKFold(2), scoring="roc_auc", train_sizes=(0.5, 1.0)
    )
    assert list(views.curve_figures(curves, "hist_gradient_boosting", learning)) == [
        "iteration_curves",
        "learning_curve",
    ]
    assert list(views.curve_figures(None, "x", learning)) == ["learning_curve"]
    assert list(views.curve_figures(curves, "x", None)) == ["iteration_curves"]
    assert views.curve_figures(None, "x", None) == {}


def test_chosen_lines_say_model_cv_and_times():
    chosen = SimpleNamespace(label="random_forest", shown_cv_mean=0.81234, cv_std=0.0123, cv_note="plain CV")
    assert views.chosen_lines(chosen, 1.26, 42.4) == [
        "chosen: random_forest, CV 0.8123 ± 0.0123 (plain CV)",
        "refit in 1.3s, training took 42s",
    ]
